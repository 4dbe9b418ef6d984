"""The Dagster example: the project's jobs and schedules become Dagster jobs per office.

Dagster lives in a virtualenv of its own (`orchestrate/.venv`, made by `make orchestrator`, which
`make test` runs), so it never touches the project's. The probe loads the definitions there
without any Dagster server, evaluates the schedules against a throwaway instance, and runs one
office's preflight job in its own process against a sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from amlsync_sandbox.testing import SandboxProcess
from test_many_offices import project_copy

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ORCHESTRATOR_PYTHON = PROJECT_ROOT / "orchestrate" / ".venv" / "bin" / "python"
MELTANO = PROJECT_ROOT / ".venv" / "bin" / "meltano"
PROBE = Path(__file__).resolve().parent / "orchestrate_probe.py"
MELTANO_JOBS = {
    "nightly_import": "tap_adminpulse_target_amlcare",
    "outbound_sync": "tap_amlcare_target_adminpulse",
    "preflight": "tap_adminpulse__preflight_target_amlcare__preflight",
}


@pytest.fixture(scope="module")
def probed(tmp_path_factory) -> Iterator[tuple[dict, Path, SandboxProcess]]:
    """The probe's report on the definitions, with office A's preflight run against a sandbox."""
    if not ORCHESTRATOR_PYTHON.exists():
        pytest.fail("No orchestrator virtualenv: run `make orchestrator` (make test does).")
    folder = tmp_path_factory.mktemp("orchestrate")
    project = project_copy(folder / "project")
    with SandboxProcess(folder / "world.db", rate_scale=50) as sandbox:
        sandbox.seed(20, seed=3)
        yield probe(folder, project, sandbox), project, sandbox


def probe(folder: Path, project: Path, sandbox: SandboxProcess) -> dict:
    """Run the probe in the orchestrator's virtualenv, office A's credentials in its environment."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_"))},
        "AMLSYNC_PROJECT_ROOT": str(project),
        "AMLSYNC_MELTANO_BIN": str(MELTANO),
        "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
        "OFFICE_A_ADMINPULSE_READ_KEY": sandbox.adminpulse_token,
        "OFFICE_A_AMLCARE_URL": sandbox.amlcare_url,
        "OFFICE_A_AMLCARE_KEY": sandbox.amlcare_key,
        "TAP_ADMINPULSE_BASE_URL": sandbox.adminpulse_url,
        "TAP_ADMINPULSE_REQUESTS_PER_MINUTE": "20000",
        "TARGET_AMLCARE_REQUESTS_PER_MINUTE": "20000",
    }
    completed = subprocess.run(
        [str(ORCHESTRATOR_PYTHON), str(PROBE), "office_a__preflight"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.splitlines()[-1])


def test_every_meltano_job_is_a_dagster_job_for_every_office(probed):
    report, _, _ = probed

    assert set(report["jobs"]) == {
        f"{office}__{job}" for office in ("office_a", "office_b") for job in MELTANO_JOBS
    }
    for office, environment in (("office_a", "office-a"), ("office_b", "office-b")):
        for job, op in MELTANO_JOBS.items():
            found = report["jobs"][f"{office}__{job}"]
            assert list(found["ops"]) == [op]
            assert found["ops"][op]["config"]["env"]["MELTANO_ENVIRONMENT"] == environment
            assert int(found["ops"][op]["config"]["env"]["MELTANO_RUN_TIMEOUT"]) > 0
            assert found["tags"] == {"amlsync/pipeline": f"{environment}:{job.replace('_', '-')}"}


def test_the_run_queue_runs_one_run_at_a_time_per_office_pipeline(probed):
    report, _, _ = probed

    assert report["run_queue_limits"] == [
        {"key": "amlsync/pipeline", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]


def test_every_meltano_schedule_is_a_schedule_per_office_that_skips_while_its_job_runs(probed):
    report, _, _ = probed

    assert report["schedules"] == {
        f"{office}__{schedule}_schedule": {
            "cron": cron,
            "job": f"{office}__{schedule}",
            "timezone": "Europe/Brussels",
            "tick": "runs: 1",
        }
        for office in ("office_a", "office_b")
        for schedule, cron in (("nightly_import", "0 2 * * *"), ("outbound_sync", "* * * * *"))
    }
    ((name, answer),) = report["tick_while_running"].items()
    assert answer.startswith(f"skip: {report['schedules'][name]['job']} is still running")


def test_an_office_job_runs_meltano_in_that_offices_environment(probed):
    report, project, sandbox = probed

    assert report["executed"] == {"office_a__preflight": True}
    preflight = list((project / "output/reports/office-a/target-amlcare").glob("preflight-*.json"))
    assert len(preflight) == 1
    counts = json.loads(preflight[0].read_text())["counts"]
    assert counts["created"] > 0  # what the import would create: nothing is written
    writes = [
        row
        for row in sandbox.requests("amlcare")
        if row["method"] in ("POST", "PUT", "PATCH", "DELETE")
        and not row["endpoint"].endswith("/clients/lookup")  # a read, sent as POST
    ]
    assert writes == []
