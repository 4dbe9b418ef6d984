"""Running the two jobs for the guarantee tests: private projects, killable runs, log scans.

Each office under test gets its own sandbox, Meltano system database and report folders, so the
runs of one test never see another's state or reports. Nothing here imitates a connector: every
run is `meltano run` (or the connector's own command) against the sandbox over HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from amlsync_sandbox.testing import SandboxProcess

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MELTANO = BIN / "meltano"
IMPORT_JOB = "nightly-import"
OUTBOUND_JOB = "outbound-sync"
IMPORT_STATE_ID = "sandbox:tap-adminpulse-to-target-amlcare"
OUTBOUND_STATE_ID = "sandbox:tap-amlcare-to-target-adminpulse"
# A run against the sandbox ends in seconds to minutes; this only stops a hung test.
RUN_TIMEOUT_SECONDS = 1800
# Budgets lifted far above the sandbox's scaled limits where a test is not about pace.
# target-adminpulse never exceeds AdminPulse's real 480 calls a minute, whatever it is given.
FAST_BUDGETS = {
    "TAP_ADMINPULSE_REQUESTS_PER_MINUTE": "30000",
    "TARGET_AMLCARE_REQUESTS_PER_MINUTE": "30000",
    "TAP_AMLCARE_REQUESTS_PER_MINUTE": "30000",
    "TARGET_ADMINPULSE_REQUESTS_PER_MINUTE": "30000",
    "TARGET_ADMINPULSE_UPLOADS_PER_MINUTE": "30000",
}
FAST_RATE_SCALE = 100
# The parts of Meltano's system directory a run only reads: the plugins' installations.
INSTALLED_PLUGINS = ("extractors", "loaders", "utilities")


@dataclass
class Office:
    """One office's private project: its sandbox, state database, reports and settings."""

    sandbox: SandboxProcess
    folder: Path
    env: dict[str, str]
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    @property
    def import_reports(self) -> Path:
        """Where target-amlcare writes its reports and rejects file."""
        return self.folder / "reports" / "target-amlcare"

    @property
    def outbound_reports(self) -> Path:
        """Where target-adminpulse writes its reports and rejects file."""
        return self.folder / "reports" / "target-adminpulse"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`meltano --environment=sandbox <args>`; fails the test on an error when `check`."""
        completed = subprocess.run(
            [str(MELTANO), "--environment=sandbox", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
        self.runs.append(completed)
        if check and completed.returncode != 0:
            pytest.fail(
                f"meltano {' '.join(args)} exited {completed.returncode}\n"
                f"--- stderr (last 4000 chars) ---\n{completed.stderr[-4000:]}"
            )
        return completed

    def start(self, *args: str, **env: str) -> RunningJob:
        """Start `meltano --environment=sandbox <args>` in the background."""
        number = len(list(self.folder.glob("background-*.log")))
        log = self.folder / f"background-{number}.log"
        handle = log.open("w")
        process = subprocess.Popen(
            [str(MELTANO), "--environment=sandbox", *args],
            cwd=PROJECT_ROOT,
            env={**self.env, **env},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        return RunningJob(process, log)

    def state(self, state_id: str) -> dict[str, Any] | None:
        """The bookmarks Meltano holds for a pipeline, or None when it holds none."""
        completed = self.run("state", "get", state_id, check=False)
        if completed.returncode != 0 or not completed.stdout.strip():
            return None
        state = json.loads(completed.stdout)
        return state or None

    def put_state(self, state_id: str, state: dict[str, Any] | None) -> None:
        """Set (or, with None, clear) the bookmarks Meltano holds for a pipeline."""
        if state is None:
            self.run("state", "clear", "--force", state_id)
        else:
            self.run("state", "set", "--force", state_id, json.dumps(state))


def new_office(
    sandbox: SandboxProcess, folder: Path, rate_scale: float = FAST_RATE_SCALE, **env: str
) -> Office:
    """A private project for `sandbox`, with fast budgets unless `env` says otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    reports = folder / "reports"
    system_dir = private_system_dir(folder / "meltano-system")
    sandbox.faults(rate_scale=rate_scale)
    settings = {
        **os.environ,
        **FAST_BUDGETS,
        "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",
        "MELTANO_SYS_DIR_ROOT": str(system_dir),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
        "TAP_ADMINPULSE_BASE_URL": sandbox.adminpulse_url,
        "TARGET_ADMINPULSE_BASE_URL": sandbox.adminpulse_url,
        "TAP_AMLCARE_BASE_URL": sandbox.amlcare_url,
        "TARGET_AMLCARE_BASE_URL": sandbox.amlcare_url,
        "TARGET_AMLCARE_REPORT_DIR": str(reports / "target-amlcare"),
        "TARGET_ADMINPULSE_REPORT_DIR": str(reports / "target-adminpulse"),
        **env,
    }
    return Office(sandbox=sandbox, folder=folder, env=settings)


def private_system_dir(path: Path) -> Path:
    """A Meltano system directory of this office's own that uses the project's installed plugins.

    Meltano writes each run's catalog and config files under `<system dir>/run/<plugin>/`, one
    path per plugin: two runs of one plugin at the same time (two offices, a test beside a
    benchmark) would read each other's half-written catalog. Only `run/` and `logs/` are written.
    """
    path.mkdir(parents=True, exist_ok=True)
    for name in INSTALLED_PLUGINS:
        link = path / name
        if not link.exists():
            link.symlink_to(PROJECT_ROOT / ".meltano" / name, target_is_directory=True)
    return path


@dataclass
class RunningJob:
    """A `meltano run` in the background, in its own process group."""

    process: subprocess.Popen[bytes]
    log: Path

    def connector_pid(self, executable: str) -> int | None:
        """The pid of one connector (`tap-adminpulse`, ...) among this run's processes."""
        for pid in descendants(self.process.pid):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(Path(part.decode(errors="replace")).name == executable for part in command):
                return pid
        return None

    def kill_connector(self, executable: str) -> bool:
        """SIGKILL one connector process, as the kernel's OOM killer would; False if it ended."""
        pid = self.connector_pid(executable)
        if pid is None:
            return False
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout: float = RUN_TIMEOUT_SECONDS) -> int:
        """Wait for Meltano to end; its exit code."""
        return self.process.wait(timeout=timeout)

    def kill_all(self) -> None:
        """SIGKILL Meltano and both connectors at once."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.process.wait(timeout=60)

    def output(self) -> str:
        """What Meltano and the connectors wrote to stdout and stderr."""
        return self.log.read_text(errors="replace")


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, found through /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def wait_for(condition: Callable[[], bool], job: RunningJob, what: str) -> None:
    """Poll until `condition` holds; fail if the run ends first or it takes absurdly long."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while not condition():
        if job.process.poll() is not None:
            pytest.fail(f"the run ended before {what}:\n{job.output()[-3000:]}")
        if time.monotonic() > deadline:
            job.kill_all()
            pytest.fail(f"waited too long for {what}")
        time.sleep(0.02)
