"""Peak resident memory of target-adminpulse writing N client records to a generated office.

Usage: `python benchmarks/peak_memory.py RECORDS [RATE_SCALE]`, from target-adminpulse/, with
the project's virtualenv (psutil, the sandbox package and the target installed).

A private sandbox is loaded with `generate_world(RECORDS, 1)`; the target gets one record per
AdminPulse relation with a valid KBO or national register number (at most RECORDS), each with
CAP dates and a risk level the relation lacks, so every record costs a lookup and an update.
The sandbox's limits are multiplied by RATE_SCALE (default 40) and the target's cap of 480
calls a minute is lifted to the same scale, so 50,000 records take minutes rather than hours.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from amlsync_sandbox.generator import generate_world
from amlsync_sandbox.testing import SandboxProcess
from stdnum.be import nn, vat

# How often the target's memory is read.
POLL_SECONDS = 0.1
# A bookmark after this many records, as a tap would send them.
STATE_EVERY = 1000
# The share of the sandbox's scaled limit the target may use.
BUDGET_SHARE = 0.95
CLIENT_SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}}}


def client_key(relation: dict) -> tuple[str, str] | None:
    """The AMLCare type and key of a relation, or None when its number is missing or invalid."""
    if relation.get("type") == "company" and relation.get("vatNumber"):
        number = vat.compact(relation["vatNumber"]).removeprefix("BE")
        return ("company", number) if vat.is_valid(number) else None
    if relation.get("nationalRegisterNumber"):
        number = nn.compact(relation["nationalRegisterNumber"])
        return ("person", number) if nn.is_valid(number) else None
    return None


def singer_input(world: dict, records: int) -> str:
    """A clients stream: one record per relation with a usable number, bookmarks in between."""
    lines = [
        {"type": "SCHEMA", "stream": "clients", "schema": CLIENT_SCHEMA, "key_properties": ["id"]}
    ]
    written = 0
    for relation in world["adminpulse"]["relations"]:
        found = client_key(relation)
        if found is None or written == records:
            continue
        written += 1
        record = {
            "id": f"cl_{written}",
            "type": found[0],
            "key": found[1],
            "cap": {"acceptance_date": f"2026-02-{1 + written % 28:02d}", "next_review_date": None},
            "risk_level": "standard",
            "updated_at": "2026-03-01T10:00:00.000000Z",
        }
        lines.append({"type": "RECORD", "stream": "clients", "record": record})
        if written % STATE_EVERY == 0:
            lines.append({"type": "STATE", "value": {"bookmarks": {"clients": written}}})
    lines.append({"type": "STATE", "value": {"bookmarks": {"clients": written}}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def peak_rss(command: list[str], stdin: Path, stderr: Path) -> tuple[int, int]:
    """Run `command` and return its exit code and its peak resident memory in bytes."""
    with stdin.open("rb") as source, stderr.open("wb") as log:
        # The command is this interpreter with a fixed launcher, never outside input.
        process = subprocess.Popen(  # noqa: S603
            command, stdin=source, stdout=subprocess.DEVNULL, stderr=log
        )
        watched = psutil.Process(process.pid)
        peak = 0
        while process.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(POLL_SECONDS)
    return process.returncode, peak


def main(records: int, rate_scale: float) -> None:
    """Measure one run and print the figures as one JSON line."""
    work = Path(tempfile.mkdtemp(prefix="target-adminpulse-memory-"))
    world = generate_world(records, 1)
    (work / "world.json").write_text(json.dumps(world))
    (work / "input.singer").write_text(singer_input(world, records))
    del world

    budget = int(480 * rate_scale * BUDGET_SHARE)
    launcher = (
        "import target_adminpulse.adminpulse_api as api; "
        f"api.CALLS_PER_MINUTE_LIMIT = {budget}; "
        "from target_adminpulse.target import TargetAdminPulse; TargetAdminPulse.cli()"
    )
    with SandboxProcess(work / "sandbox.db", rate_scale=rate_scale) as sandbox:
        sandbox.command("load", str(work / "world.json"))
        config = {
            "base_url": sandbox.adminpulse_url,
            "api_key": sandbox.adminpulse_token,
            "requests_per_minute": budget,
            "report_dir": str(work / "reports"),
        }
        (work / "config.json").write_text(json.dumps(config))
        started = time.monotonic()
        command = [sys.executable, "-c", launcher, "--config", str(work / "config.json")]
        code, peak = peak_rss(command, work / "input.singer", work / "target.log")
    result = {
        "records": records,
        "exit_code": code,
        "wall_seconds": round(time.monotonic() - started, 1),
        "peak_mib": round(peak / 2**20, 1),
        "work": str(work),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 40.0)
