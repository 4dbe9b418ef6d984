"""Benchmark the nightly import and the outbound sync against the sandbox, per office size.

For each size: seed a world, start a private sandbox with a realistic latency per request, and
run the jobs as an office would (`meltano run` in a private system database, the plugins pointed
at the sandbox through their setting variables). For each run it records the wall time, records
per second, requests per endpoint against the minimum the job needs (`minimum.py`), the peak
memory of every process, and the achieved request rate against the connector's budget. On the
same data it then times the relations extraction by tap-adminpulse, by the generic
tap-rest-api-msdk and by a bare `requests` loop.

    .venv/bin/python benchmarks/run.py --sizes 1000,5000 [--scale 5000=4] [--latency-ms 30]

Prints a table per size and writes every figure to benchmarks/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import minimum
from amlsync_sandbox.generator import generate_world
from amlsync_sandbox.identifiers import nrn_match_key, vat_match_key
from amlsync_sandbox.testing import SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MELTANO = Path(sys.executable).parent / "meltano"
MSDK_VENV = ROOT / "benchmarks" / ".venv-msdk"
# Pinned so that the comparison is repeatable.
MSDK_REQUIREMENT = "tap-rest-api-msdk==1.4.2"
TAP_ADMINPULSE = ROOT / ".meltano" / "extractors" / "tap-adminpulse" / "venv" / "bin"
TAP_AMLCARE = ROOT / ".meltano" / "extractors" / "tap-amlcare" / "venv" / "bin"
# As meltano.yml configures tap-amlcare: the cards the import brought are read without files.
SKIPPED_CONTENT_ORIGINS = ["adminpulse_import"]
# The full AMLCare read lists everything but downloads no file unless asked (--amlcare-files):
# tap-amlcare downloads one file at a time, so at 50,000 clients (some 40,000 versions of
# AMLCare's own documents) the latency alone would add half an hour to the run.

# The documented limits: AdminPulse 480 calls a minute per token, of which 50 uploads; AMLCare
# 1200 (our spec).
ADMINPULSE_LIMIT = 480
ADMINPULSE_UPLOAD_LIMIT = 50
AMLCARE_LIMIT = 1200
# target-adminpulse never paces its calls above AdminPulse's documented limit, whatever it is
# told (uploads it paces as told): with scaled limits, that is its budget.
TARGET_ADMINPULSE_MOST_PER_MINUTE = ADMINPULSE_LIMIT
# Sizes of the issue, and the sandbox rate scale each runs at by default: the documented limits
# where a run fits in minutes, scaled (with the connectors' budgets) where it would take hours.
# The connectors' budgets, as a share of each service's limit. A pace of exactly the limit gets
# 429s: the services count arrivals in a sliding minute, and network jitter lets the 481st call
# arrive a hair less than a minute after the first. 5 % leaves seconds of slack a minute.
BUDGET_SHARE = 0.95
DEFAULT_SIZES = (1000, 5000, 10000, 50000)
DEFAULT_SCALES = {1000: 1.0, 5000: 4.0, 10000: 8.0, 50000: 10.0}
CONNECTORS = ("tap-adminpulse", "target-amlcare", "tap-amlcare", "target-adminpulse")
# The outbound run with work, as after a busy stretch in AMLCare: a tenth of the clients (at
# most 1,000) get a CAP decision, and a tenth of those an identification form that is created,
# submitted and signed, as when a CAP ends in a signed form.
CAP_DECISIONS_SHARE = 0.1
MAX_CAP_DECISIONS = 1000
FORMS_PER_DECISION = 0.1
POLL_SECONDS = 0.1
# A budget no relations read comes near: the pace out of the way, to compare like with like.
UNPACED_BUDGET = 1_000_000
MIB = 1024 * 1024


class ProcessWatch:
    """Polls a process tree for the peak memory and lifetime of every process in it."""

    def __init__(self, root: psutil.Process) -> None:
        self.root = root
        self.peaks: dict[str, float] = defaultdict(float)
        self.lifetimes: dict[str, list[float]] = {}
        # The last CPU time (user + system) seen of each process, by role and pid.
        self._cpu: dict[str, dict[int, float]] = defaultdict(dict)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            now = time.monotonic()
            for process in processes:
                try:
                    cmdline = process.cmdline()
                    if not cmdline:
                        continue  # a zombie, or a process that has not exec'd yet
                    role = role_of(cmdline)
                    rss = process.memory_info().rss
                    times = process.cpu_times()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                self.peaks[role] = max(self.peaks[role], rss / MIB)
                self._cpu[role][process.pid] = times.user + times.system
                span = self.lifetimes.setdefault(role, [now, now])
                span[1] = now
            self._stop.wait(POLL_SECONDS)

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used by each role's processes (as last seen, up to 0.1 s before their end)."""
        return {role: round(sum(by_pid.values()), 1) for role, by_pid in sorted(self._cpu.items())}


def cpu_seconds_of(process: psutil.Process | None) -> float:
    """CPU time (user + system) a process has used so far; 0 when it is gone."""
    if process is None:
        return 0.0
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


def sandbox_server(db: Path) -> psutil.Process | None:
    """The sandbox's serving process for a database, to count the CPU time it spends."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if str(db) in cmdline and "start" in cmdline:
            return process
    return None


def role_of(cmdline: list[str]) -> str:
    """Which program a process runs: a connector's name, meltano, or its executable."""
    for arg in cmdline[:3]:
        name = Path(arg).name
        if name in CONNECTORS or name == "meltano":
            return name
    return Path(cmdline[0]).name if cmdline else "?"


def private_sys_dir(work: Path) -> Path:
    """A `.meltano` folder of our own that shares the installed plugins.

    Meltano writes each run's config and catalog under `.meltano/run/<plugin>/`; a run of the
    tests in the same checkout would overwrite them under our feet.
    """
    sys_dir = work / "meltano-sys"
    sys_dir.mkdir()
    for kind in ("extractors", "loaders", "utilities"):
        shared = ROOT / ".meltano" / kind
        if shared.exists():
            (sys_dir / kind).symlink_to(shared)
    return sys_dir


class Bench:
    """One size: its world, its sandbox, its Meltano system database."""

    def __init__(self, size: int, seed: int, scale: float, latency_ms: float, work: Path) -> None:
        self.size = size
        self.seed = seed
        self.scale = scale
        self.latency_ms = latency_ms
        self.work = work
        self.world = generate_world(size, seed)
        self.sys_dir = private_sys_dir(work)
        self.sandbox = SandboxProcess(work / "sandbox.db", rate_scale=scale if scale != 1 else None)
        self.limits = {
            "tap-adminpulse": ADMINPULSE_LIMIT * scale,
            "target-amlcare": AMLCARE_LIMIT * scale,
            "tap-amlcare": AMLCARE_LIMIT * scale,
            "target-adminpulse": ADMINPULSE_LIMIT * scale,
        }
        self.budgets = {name: int(limit * BUDGET_SHARE) for name, limit in self.limits.items()}
        self.budgets["target-adminpulse"] = min(
            self.budgets["target-adminpulse"], TARGET_ADMINPULSE_MOST_PER_MINUTE
        )
        self.upload_budget = int(ADMINPULSE_UPLOAD_LIMIT * scale * BUDGET_SHARE)

    def env(self) -> dict[str, str]:
        """Meltano's environment: a private system database, plugins pointed at the sandbox."""
        box = self.sandbox
        return {
            **os.environ,
            "MELTANO_DATABASE_URI": f"sqlite:///{self.work / 'meltano.db'}",
            "MELTANO_SYS_DIR_ROOT": str(self.sys_dir),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
            "TAP_ADMINPULSE_BASE_URL": box.adminpulse_url,
            "TAP_ADMINPULSE_REQUESTS_PER_MINUTE": str(self.budgets["tap-adminpulse"]),
            "TARGET_AMLCARE_BASE_URL": box.amlcare_url,
            "TARGET_AMLCARE_REQUESTS_PER_MINUTE": str(self.budgets["target-amlcare"]),
            "TARGET_AMLCARE_REPORT_DIR": str(self.work / "reports" / "target-amlcare"),
            "TAP_AMLCARE_BASE_URL": box.amlcare_url,
            "TAP_AMLCARE_REQUESTS_PER_MINUTE": str(self.budgets["tap-amlcare"]),
            "TARGET_ADMINPULSE_BASE_URL": box.adminpulse_url,
            "TARGET_ADMINPULSE_REQUESTS_PER_MINUTE": str(self.budgets["target-adminpulse"]),
            "TARGET_ADMINPULSE_UPLOADS_PER_MINUTE": str(self.upload_budget),
            "TARGET_ADMINPULSE_REPORT_DIR": str(self.work / "reports" / "target-adminpulse"),
        }

    def start(self) -> None:
        """Load the world and start the sandbox with the latency."""
        world_file = self.work / "world.json"
        world_file.write_text(json.dumps(self.world))
        self.sandbox.command("load", str(world_file))
        world_file.unlink()
        self.sandbox.start()
        self.sandbox.faults(latency_ms=self.latency_ms)

    def requests_by_endpoint(self) -> dict[str, dict[str, int]]:
        """Requests per service and `METHOD endpoint`, with 429 answers counted apart."""
        counts: dict[str, dict[str, int]] = {}
        for service in ("adminpulse", "amlcare"):
            rows: dict[str, int] = defaultdict(int)
            for row in self.sandbox.requests(service):
                rows[f"{row['method']} {row['endpoint']}"] += row["count"]
                if row["status"] == 429:
                    rows["429"] += row["count"]
            counts[service] = dict(rows)
        return counts

    def meltano_run(self, job: str, *extra_env: tuple[str, str]) -> dict[str, Any]:
        """Run one Meltano job; return its wall time, memory peaks, CPU, requests and rates."""
        self.sandbox.reset_requests()
        server = sandbox_server(self.work / "sandbox.db")
        server_cpu = cpu_seconds_of(server)
        env = {**self.env(), **dict(extra_env)}
        log = self.work / f"{job}-{time.strftime('%H%M%S')}.log"
        started = time.monotonic()
        with log.open("w") as output:
            process = subprocess.Popen(  # noqa: S603 - our own executables
                [str(MELTANO), "--environment=sandbox", "run", job],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            watch = ProcessWatch(psutil.Process(process.pid))
            returncode = process.wait()
            wall = time.monotonic() - started
            watch.stop()
        cpu = watch.cpu_seconds()
        cpu["sandbox"] = round(cpu_seconds_of(server) - server_cpu, 1)
        if returncode != 0:
            msg = f"meltano run {job} exited {returncode}; see {log}"
            raise RuntimeError(msg)
        counts = self.requests_by_endpoint()
        return {
            "job": job,
            "wall_seconds": round(wall, 2),
            "peak_rss_mib": {role: round(peak, 1) for role, peak in sorted(watch.peaks.items())},
            "cpu_seconds": cpu,
            "process_seconds": {
                role: round(span[1] - span[0], 2) for role, span in watch.lifetimes.items()
            },
            "requests": counts,
            "log": str(log),
        }

    def amlcare_lists(self) -> dict[str, list[dict[str, Any]]]:
        """AMLCare's users, clients, relations and documents, read through its API."""
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.sandbox.amlcare_key}"
        lists: dict[str, list[dict[str, Any]]] = {}
        for name in ("users", "clients", "relations", "documents"):
            items: list[dict[str, Any]] = []
            params: dict[str, Any] = {"limit": minimum.AMLCARE_LIST_LIMIT}
            while True:
                body = session.get(f"{self.sandbox.amlcare_url}/{name}", params=params, timeout=60)
                body.raise_for_status()
                page = body.json()
                items.extend(page["items"])
                if not page.get("next_cursor"):
                    break
                params["cursor"] = page["next_cursor"]
            lists[name] = items
        return lists

    def stop(self) -> None:
        """Stop the sandbox."""
        self.sandbox.stop()


def save_compliance_work(bench: Bench, amlcare: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """CAP decisions and signed forms saved in AMLCare over its API, as the office's users would.

    Only clients whose number belongs to exactly one AdminPulse relation without today's
    acceptance date are chosen, so that each decision costs one search and one relation update
    and none is rejected for a number two relations share. Returns what was saved, for the
    minimum of the outbound run that carries it.
    """
    relations = bench.world["adminpulse"]["relations"]
    by_key: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
    for relation in relations:
        by_key["company", vat_match_key(relation.get("vatNumber"))].append(relation)
        by_key["person", nrn_match_key(relation.get("nationalRegisterNumber"))].append(relation)
    accepted = date.today()

    def decidable(client: dict[str, Any]) -> bool:
        found = by_key.get((client["type"], client.get("key")), [])
        if len(found) != 1:
            return False
        aml = found[0].get("aml") or {}
        return aml.get("clientAcceptanceDate") != accepted.isoformat()

    candidates = sorted((c for c in amlcare["clients"] if decidable(c)), key=lambda c: c["id"])
    wanted = min(MAX_CAP_DECISIONS, int(bench.size * CAP_DECISIONS_SHARE), len(candidates))
    decided = random.Random(bench.seed).sample(candidates, wanted)  # noqa: S311 - a fair sample, no secret

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {bench.sandbox.amlcare_key}"

    def call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = session.request(method, bench.sandbox.amlcare_url + path, timeout=60, **kwargs)
        answer.raise_for_status()
        return answer.json()

    cap = {
        "status": "accepted",
        "acceptance_date": accepted.isoformat(),
        "next_review_date": (accepted + timedelta(days=365)).isoformat(),
    }
    for client in decided:
        risk = "standard" if client.get("risk_level") == "high" else "high"
        call("PATCH", f"/clients/{client['id']}", json={"cap": cap, "risk_level": risk})
    forms = []
    for client in decided[: int(len(decided) * FORMS_PER_DECISION)]:
        form = call(
            "POST",
            f"/clients/{client['id']}/documents",
            data={
                "kind": "identification_form",
                "file_name": "identification-form.pdf",
                "origin": "amlcare",
            },
            files={"file": ("identification-form.pdf", b"%PDF-1.4 identification form")},
        )
        call("POST", f"/documents/{form['id']}/submit")
        forms.append(call("POST", f"/documents/{form['id']}/sign"))
    return {"cap_decisions": len(decided), "documents": forms}


def total(counts: dict[str, int]) -> int:
    """Requests answered, 429s included, without the 429 tally itself."""
    return sum(n for endpoint, n in counts.items() if endpoint != "429")


def judge(
    run: dict[str, Any],
    needed: dict[str, Any],
    bench: Bench,
    connectors: dict[str, str],
) -> None:
    """Add to a run its requests against the minimum, and each connector's achieved rate."""
    run["minimum"] = needed
    run["request_ratio"] = {}
    run["achieved_per_minute"] = {}
    for service, connector in connectors.items():
        made = total(run["requests"].get(service, {}))
        least = sum(needed.get(service, {}).values())
        run["request_ratio"][service] = round(made / least, 3) if least else None
        seconds = run["process_seconds"].get(connector) or run["wall_seconds"]
        rate = made / seconds * 60 if seconds else 0.0
        run["achieved_per_minute"][connector] = {
            "rate": round(rate, 1),
            "budget": bench.budgets[connector],
            "share_of_budget": round(rate / bench.budgets[connector], 3),
            "share_of_limit": round(rate / bench.limits[connector], 3),
        }


def records_of(path: Path) -> int:
    """RECORD messages in a Singer output file."""
    with path.open("rb") as output:
        return sum(
            1
            for line in output
            if line.startswith(b'{"type":"RECORD"') or b'"type": "RECORD"' in line[:40]
        )


def timed(command: list[str], env: dict[str, str], output: Path) -> tuple[float, float]:
    """Run a command to completion; its wall time and peak memory (MiB)."""
    started = time.monotonic()
    with output.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, env=env)  # noqa: S603 - our own executables
        watch = ProcessWatch(psutil.Process(process.pid))
        if process.wait() != 0:
            msg = f"{command[0]} exited {process.returncode}"
            raise RuntimeError(msg)
        watch.stop()
    return time.monotonic() - started, max(watch.peaks.values(), default=0.0)


def ensure_msdk() -> Path:
    """tap-rest-api-msdk in its own virtualenv, so its dependencies never touch ours."""
    executable = MSDK_VENV / "bin" / "tap-rest-api-msdk"
    if not executable.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MSDK_VENV)], check=True)  # noqa: S603 - our own executables
        subprocess.run(  # noqa: S603 - our own executables
            [str(MSDK_VENV / "bin" / "pip"), "install", "--quiet", MSDK_REQUIREMENT], check=True
        )
    return executable


def compare_relations(bench: Bench) -> dict[str, Any]:
    """Full reads of `GET /relations` by the three extractors, on the same data."""
    box = bench.sandbox
    folder = bench.work / "relations"
    folder.mkdir(exist_ok=True)
    results: dict[str, Any] = {}

    # tap-adminpulse, only its relations stream selected, with the benchmark's budget; and
    # again with a budget that never binds, as tap-rest-api-msdk knows none.
    config = {
        "base_url": box.adminpulse_url,
        "api_key": box.adminpulse_token,
        "requests_per_minute": bench.budgets["tap-adminpulse"],
    }
    (folder / "tap-adminpulse.json").write_text(json.dumps(config))
    unpaced = {**config, "requests_per_minute": UNPACED_BUDGET}
    (folder / "tap-adminpulse-unpaced.json").write_text(json.dumps(unpaced))
    catalog = json.loads(
        subprocess.run(  # noqa: S603 - our own executables
            [
                str(TAP_ADMINPULSE / "tap-adminpulse"),
                "--config",
                str(folder / "tap-adminpulse.json"),
                "--discover",
            ],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] == "relations"
    (folder / "catalog.json").write_text(json.dumps(catalog))
    schema = next(s["schema"] for s in catalog["streams"] if s["tap_stream_id"] == "relations")
    (folder / "relation-schema.json").write_text(json.dumps(schema))
    runs = {
        name: [
            str(TAP_ADMINPULSE / "tap-adminpulse"),
            "--config",
            str(folder / f"{name}.json"),
            "--catalog",
            str(folder / "catalog.json"),
        ]
        for name in ("tap-adminpulse", "tap-adminpulse-unpaced")
    }

    # tap-rest-api-msdk: page numbers from 0, 400 a page, bearer token, our schema (so that it
    # spends no request inferring one). It cannot read `pageCount`: it stops at the first empty
    # page (`next_page_token_path` points at the first row), one request more than needed.
    msdk = {
        "api_url": box.adminpulse_url,
        "auth_method": "bearer_token",
        "bearer_token": box.adminpulse_token,
        "pagination_request_style": "page_number_paginator",
        "pagination_response_style": "default",
        "pagination_initial_offset": 0,
        "next_page_token_path": "$.results[0].id",
        "streams": [
            {
                "name": "relations",
                "path": "/relations",
                "params": {"pageSize": minimum.ADMINPULSE_PAGE_SIZE},
                "primary_keys": ["id"],
                "records_path": "$.results[*]",
                "schema": str(folder / "relation-schema.json"),
            }
        ],
    }
    (folder / "msdk.json").write_text(json.dumps(msdk))
    runs["tap-rest-api-msdk"] = [str(ensure_msdk()), "--config", str(folder / "msdk.json")]
    runs["requests loop"] = [
        sys.executable,
        str(Path(__file__).resolve()),
        "relations-loop",
        box.adminpulse_url,
        box.adminpulse_token,
    ]

    for name, command in runs.items():
        box.reset_requests()
        output = folder / f"{name.replace(' ', '-')}.singer"
        wall, peak = timed(command, {**os.environ}, output)
        counts = bench.requests_by_endpoint()["adminpulse"]
        records = records_of(output) if name != "requests loop" else int(output.read_text() or 0)
        results[name] = {
            "wall_seconds": round(wall, 2),
            "records": records,
            "records_per_second": round(records / wall, 1),
            "requests": counts.get("GET /relations", 0),
            "requests_429": counts.get("429", 0),
            "peak_rss_mib": round(peak, 1),
        }
    base = results["tap-adminpulse"]["wall_seconds"]
    for result in results.values():
        result["time_vs_tap_adminpulse"] = round(result["wall_seconds"] / base, 2)
    results["minimum_requests"] = minimum.relations_extraction(bench.world)
    return results


def read_all_of_amlcare(bench: Bench, *, files: bool) -> dict[str, Any]:
    """tap-amlcare reading everything AMLCare holds after the import, as a first outbound run.

    The outbound connectors' memory at the office's size: the idle runs read one page each.
    The tap writes to a file (the upload side is bound by AdminPulse's 50 uploads a minute, not
    by what is measured here); with `files`, it downloads them as the project configures it.
    """
    box = bench.sandbox
    folder = bench.work / "amlcare-read"
    folder.mkdir(exist_ok=True)
    config = {
        "base_url": box.amlcare_url,
        "api_key": box.amlcare_key,
        "requests_per_minute": bench.budgets["tap-amlcare"],
        "skip_content_origins": SKIPPED_CONTENT_ORIGINS,
        "include_document_content": files,
    }
    (folder / "tap-amlcare.json").write_text(json.dumps(config))
    command = [str(TAP_AMLCARE / "tap-amlcare"), "--config", str(folder / "tap-amlcare.json")]
    box.reset_requests()
    output = folder / "tap-amlcare.singer"
    wall, peak = timed(command, {**os.environ}, output)
    counts = bench.requests_by_endpoint()["amlcare"]
    needed = minimum.full_amlcare_read(
        bench.amlcare_lists(), SKIPPED_CONTENT_ORIGINS if files else None
    )
    made = total(counts)
    records = records_of(output)
    return {
        "files": files,
        "wall_seconds": round(wall, 2),
        "records": records,
        "records_per_second": round(records / wall, 1),
        "requests": counts,
        "minimum": needed,
        "request_ratio": round(made / sum(needed.values()), 3),
        "achieved_per_minute": round(made / wall * 60, 1),
        "budget": bench.budgets["tap-amlcare"],
        "peak_rss_mib": round(peak, 1),
    }


def relations_loop(base_url: str, token: str) -> None:
    """The bare loop: page after page until the announced last one; prints the row count."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    page, rows = 0, 0
    while True:
        answer = session.get(
            f"{base_url}/relations", params={"page": page, "pageSize": 400}, timeout=60
        )
        answer.raise_for_status()
        body = answer.json()
        rows += len(body["results"])
        page += 1
        if page >= body["pageCount"]:
            break
    print(rows)


def bench_size(
    size: int, seed: int, scale: float, latency_ms: float, *, amlcare_files: bool
) -> dict[str, Any]:
    """Every job on one office size."""
    work = Path(tempfile.mkdtemp(prefix=f"amlsync-bench-{size}-"))
    bench = Bench(size, seed, scale, latency_ms, work)
    result: dict[str, Any] = {
        "size": size,
        "relations": len(bench.world["adminpulse"]["relations"]),
        "rate_scale": scale,
        "latency_ms": latency_ms,
        "budgets_per_minute": bench.budgets,
        "upload_budget_per_minute": bench.upload_budget,
        "limits_per_minute": bench.limits,
        "work": str(work),
    }
    print(
        f"[{size}] world {result['relations']} relations; sandbox x{scale}, {latency_ms} ms",
        flush=True,
    )
    bench.start()
    try:
        first = bench.meltano_run("nightly-import")
        amlcare_after = bench.amlcare_lists()
        judge(
            first,
            minimum.first_import(bench.world, amlcare_after),
            bench,
            {"adminpulse": "tap-adminpulse", "amlcare": "target-amlcare"},
        )
        first["records"] = (
            len(bench.world["adminpulse"]["relations"])
            + first["minimum"]["adminpulse"]["GET /documents/{id}/content"]
        )
        first["records_per_second"] = round(first["records"] / first["wall_seconds"], 1)
        result["first_import"] = first
        print(f"[{size}] first import {first['wall_seconds']} s", flush=True)

        again = bench.meltano_run("nightly-import")
        judge(
            again,
            minimum.unchanged_import(bench.world),
            bench,
            {"adminpulse": "tap-adminpulse", "amlcare": "target-amlcare"},
        )
        result["unchanged_import"] = again
        print(f"[{size}] unchanged import {again['wall_seconds']} s", flush=True)

        # Nothing to do outbound: everything in AMLCare predates the start date.
        now = datetime.now().astimezone().isoformat(timespec="seconds")
        idle = [
            bench.meltano_run("outbound-sync", ("TAP_AMLCARE_START_DATE", now)) for _ in range(2)
        ]
        for run in idle:
            judge(
                run,
                minimum.idle_outbound(),
                bench,
                {"amlcare": "tap-amlcare", "adminpulse": "target-adminpulse"},
            )
        result["idle_outbound"] = idle[-1]
        result["idle_outbound_first"] = idle[0]
        print(f"[{size}] idle outbound {[run['wall_seconds'] for run in idle]} s", flush=True)

        saved = save_compliance_work(bench, amlcare_after)
        busy = bench.meltano_run("outbound-sync", ("TAP_AMLCARE_START_DATE", now))
        needed = minimum.busy_outbound(saved["cap_decisions"], saved["documents"])
        judge(busy, needed, bench, {"amlcare": "tap-amlcare", "adminpulse": "target-adminpulse"})
        busy["records"] = saved["cap_decisions"] + sum(
            len(document["versions"]) for document in saved["documents"]
        )
        busy["records_per_second"] = round(busy["records"] / busy["wall_seconds"], 1)
        uploads = busy["requests"]["adminpulse"].get("POST /documents/add", 0)
        seconds = busy["process_seconds"].get("target-adminpulse") or busy["wall_seconds"]
        busy["uploads_per_minute"] = {
            "rate": round(uploads / seconds * 60, 1),
            "budget": bench.upload_budget,
            "share_of_budget": round(uploads / seconds * 60 / bench.upload_budget, 3),
        }
        result["busy_outbound"] = busy
        print(
            f"[{size}] outbound with {saved['cap_decisions']} CAP decisions and "
            f"{len(saved['documents'])} signed forms {busy['wall_seconds']} s",
            flush=True,
        )

        result["relations_extraction"] = compare_relations(bench)
        result["amlcare_extraction"] = read_all_of_amlcare(bench, files=amlcare_files)
        print(
            f"[{size}] AMLCare read in full {result['amlcare_extraction']['wall_seconds']} s",
            flush=True,
        )
    finally:
        bench.stop()
    return result


def print_size(result: dict[str, Any]) -> None:
    """The figures of one size, for people."""
    print(
        f"\n== {result['size']} clients ({result['relations']} relations), sandbox limits "
        f"x{result['rate_scale']}, latency {result['latency_ms']} ms; budgets/min "
        f"{result['budgets_per_minute']}"
    )
    for key in ("first_import", "unchanged_import", "idle_outbound", "busy_outbound"):
        run = result[key]
        print(f"-- {key}: {run['wall_seconds']} s wall, peak MiB {run['peak_rss_mib']}")
        print(f"   CPU seconds {run['cpu_seconds']}")
        if "records_per_second" in run:
            print(f"   records/s {run['records_per_second']}")
        for service, counts in run["requests"].items():
            needed = run["minimum"].get(service, {})
            print(
                f"   {service}: {total(counts)} requests (minimum {sum(needed.values())}, "
                f"ratio {run['request_ratio'].get(service)}), 429: {counts.get('429', 0)}"
            )
            for endpoint, n in sorted(counts.items()):
                if endpoint != "429":
                    print(f"      {endpoint:40} {n:7} (minimum {needed.get(endpoint, 0)})")
        for connector, rate in run["achieved_per_minute"].items():
            print(
                f"   {connector}: {rate['rate']}/min of {rate['budget']} "
                f"({rate['share_of_budget']:.0%})"
            )
        if "uploads_per_minute" in run:
            uploads = run["uploads_per_minute"]
            print(
                f"   target-adminpulse uploads: {uploads['rate']}/min of {uploads['budget']} "
                f"({uploads['share_of_budget']:.0%})"
            )
    print("-- relations extraction (GET /relations, full read)")
    extraction = result["relations_extraction"]
    for name, figures in extraction.items():
        if name != "minimum_requests":
            print(
                f"   {name:18} {figures['wall_seconds']:7} s "
                f"{figures['records_per_second']:9} rec/s "
                f"{figures['requests']:4} requests (minimum {extraction['minimum_requests']}) "
                f"x{figures['time_vs_tap_adminpulse']} time, peak {figures['peak_rss_mib']} MiB"
            )

    read = result["amlcare_extraction"]
    print(
        f"-- AMLCare read in full by tap-amlcare (files: {read['files']}): "
        f"{read['wall_seconds']} s, "
        f"{read['records']} records, {total(read['requests'])} requests (minimum "
        f"{sum(read['minimum'].values())}, ratio {read['request_ratio']}), "
        f"{read['achieved_per_minute']}/min of {read['budget']}, peak {read['peak_rss_mib']} MiB"
    )


def parse_scales(values: list[str]) -> dict[int, float]:
    """`SIZE=SCALE` pairs over the defaults."""
    scales = dict(DEFAULT_SCALES)
    for value in values:
        size, scale = value.split("=")
        scales[int(size)] = float(scale)
    return scales


def main() -> None:
    """Run the sizes asked for; print and save the figures."""
    if len(sys.argv) > 1 and sys.argv[1] == "relations-loop":
        relations_loop(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument(
        "--scale",
        action="append",
        default=[],
        metavar="SIZE=SCALE",
        help="sandbox rate scale (and connector budgets) for a size",
    )
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--amlcare-files",
        action="store_true",
        help="download the files in the full AMLCare read (one request per version)",
    )
    args = parser.parse_args()
    scales = parse_scales(args.scale)
    RESULTS.mkdir(parents=True, exist_ok=True)
    output = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    results: list[dict[str, Any]] = []
    for size in (int(s) for s in args.sizes.split(",")):
        results.append(
            bench_size(
                size,
                args.seed,
                scales.get(size, 1.0),
                args.latency_ms,
                amlcare_files=args.amlcare_files,
            )
        )
        print_size(results[-1])
        output.write_text(json.dumps({"results": results}, indent=2))
    print(f"\nFigures written to {output}")


if __name__ == "__main__":
    main()
