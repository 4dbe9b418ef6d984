"""Fixtures for the end-to-end tests: a Meltano project pointed at a private sandbox.

Every test gets its own sandbox (its own SQLite world, free ports), its own Meltano system
database (so state bookmarks never leak between tests) and its own report folders. The `sandbox`
fixture comes from the sandbox package's pytest plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Opt-in to the long forms of the guarantee tests, besides `pytest --long`.
LONG_TESTS_VARIABLE = "AMLSYNC_LONG_TESTS"
MELTANO = Path(sys.executable).parent / "meltano"
# A Meltano run against the sandbox finishes in seconds; this only stops a hung test.
RUN_TIMEOUT_SECONDS = 600


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--long`: also run the tests marked long (the long forms of the guarantee tests)."""
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help=f"also run the long forms of the guarantee tests (or set {LONG_TESTS_VARIABLE}=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the `long` marker."""
    config.addinivalue_line(
        "markers", f"long: a long form, run only with --long or {LONG_TESTS_VARIABLE}=1"
    )


def long_form(config: pytest.Config) -> bool:
    """Whether the long forms run in this session."""
    return bool(config.getoption("--long", default=False)) or os.environ.get(
        LONG_TESTS_VARIABLE, ""
    ) not in {"", "0"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the long forms unless they were asked for."""
    if long_form(config):
        return
    skip = pytest.mark.skip(reason=f"long form: run with --long or {LONG_TESTS_VARIABLE}=1")
    for item in items:
        if item.get_closest_marker("long") is not None:
            item.add_marker(skip)


@dataclass
class MeltanoProject:
    """The project's meltano.yml, run in the sandbox environment with test-local overrides."""

    env: dict[str, str]
    reports: Path
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `meltano --environment=sandbox <args>` and return the finished process."""
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

    def state(self, state_id: str) -> dict:
        """Return the bookmark state Meltano holds for one pipeline."""
        completed = self.run("state", "get", state_id)
        return json.loads(completed.stdout)

    def report_files(self, target: str, suffix: str = ".json") -> list[Path]:
        """Return the report files one target wrote, oldest first."""
        folder = self.reports / target
        return sorted(folder.glob(f"*{suffix}"), key=lambda path: path.stat().st_mtime)


@pytest.fixture
def meltano(sandbox, tmp_path: Path) -> MeltanoProject:
    """A Meltano project whose four connectors talk to this test's sandbox."""
    reports = tmp_path / "reports"
    env = {
        **os.environ,
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
        "TAP_ADMINPULSE_BASE_URL": sandbox.adminpulse_url,
        "TARGET_ADMINPULSE_BASE_URL": sandbox.adminpulse_url,
        "TAP_AMLCARE_BASE_URL": sandbox.amlcare_url,
        "TARGET_AMLCARE_BASE_URL": sandbox.amlcare_url,
        "TARGET_AMLCARE_REPORT_DIR": str(reports / "target-amlcare"),
        "TARGET_ADMINPULSE_REPORT_DIR": str(reports / "target-adminpulse"),
    }
    return MeltanoProject(env=env, reports=reports)
