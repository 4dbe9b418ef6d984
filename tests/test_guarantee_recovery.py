"""Nothing lost, nothing duplicated: both jobs under faults, and killed at many points.

Every test here compares with one clean run of the same seeded office: the nightly import, then
the outbound sync, with no fault and no crash. A run under faults, or a run killed with SIGKILL
and run again, must leave both services in the same final state (`final_state.py` says exactly
what the comparison sets aside: generated ids and write times) and the same records waiting in
the rejects files.

The CI form kills each job at three points; `--long` (or AMLSYNC_LONG_TESTS=1) kills each at
ten, and runs the faults on a larger office.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from final_state import assert_same_final_state, final_state
from guarantee_runs import (
    IMPORT_JOB,
    IMPORT_STATE_ID,
    OUTBOUND_JOB,
    OUTBOUND_STATE_ID,
    Office,
    RunningJob,
    new_office,
    wait_for,
)

if TYPE_CHECKING:
    from amlsync_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.e2e

SEED = 0
CLIENTS = 25
LONG_CLIENTS = 250
# Small pages, so that both taps read several pages and checkpoint on the way.
SMALL_PAGES = {"TAP_ADMINPULSE_PAGE_SIZE": "25", "TAP_AMLCARE_PAGE_SIZE": "10"}
# Budgets for a run that is to be killed: slow enough that a kill lands inside the phase it aims
# at, since the sandbox's counts are polled.
KILLABLE_PACE = {
    "TAP_ADMINPULSE_REQUESTS_PER_MINUTE": "3000",
    "TARGET_AMLCARE_REQUESTS_PER_MINUTE": "3000",
    "TAP_AMLCARE_REQUESTS_PER_MINUTE": "3000",
    "TARGET_ADMINPULSE_UPLOADS_PER_MINUTE": "240",
}
# The faults both jobs must ride out: 10 % 5xx, 5 % 429 (half with Retry-After), 2 % dropped
# connections and some slow answers.
FAULTS = {
    "error_rate": 0.10,
    "rate_429": 0.05,
    "retry_after_share": 0.5,
    "drop_rate": 0.02,
    "slow_rate": 0.03,
    "slow_ms": 800,
}
# A run that gives up after all its retries fails loudly and is run again, as its schedule would.
# With about 17 % of calls failing and six tries a call (the outbound connectors), a call fails
# for good once in 40,000: fewer than one run in a hundred.
ATTEMPTS_UNDER_FAULTS = 3
LONG = pytest.mark.long
STATE_IDS = {IMPORT_JOB: IMPORT_STATE_ID, OUTBOUND_JOB: OUTBOUND_STATE_ID}


@dataclass
class CleanRun:
    """One clean run of both jobs on a seeded office, and what it left behind."""

    seed: dict[str, Any]  # the world before the import: the generated office, and one stranger
    after_import_world: dict[str, Any]  # the world between the two jobs
    after_import: dict[str, list[str]]  # final_state() between the two jobs
    final: dict[str, list[str]]  # final_state() after both jobs
    rejects: dict[str, list[str]]  # target → the records waiting in its rejects file
    calls: dict[str, dict[tuple[str, str, str], int]]  # job → (service, method, endpoint) → n


def calls_of(sandbox: SandboxProcess) -> dict[tuple[str, str, str], int]:
    """Answered calls per service, method and endpoint, as the sandbox counted them."""
    counted: dict[tuple[str, str, str], int] = {}
    for service in ("adminpulse", "amlcare"):
        for row in sandbox.requests(service):
            if row["status"] in {200, 201}:
                key = (service, row["method"], row["endpoint"])
                counted[key] = counted.get(key, 0) + row["count"]
    return counted


def count(sandbox: SandboxProcess, service: str, method: str, endpoint: str) -> int:
    """Answered calls so far matching a method and an endpoint (or its ending)."""
    return sum(
        row["count"]
        for row in sandbox.requests(service)
        if row["method"] == method
        and row["endpoint"].endswith(endpoint)
        and row["status"] in {200, 201}
    )


def rejects(office: Office) -> dict[str, list[str]]:
    """The records waiting in each target's rejects file, with their reasons."""
    waiting: dict[str, list[str]] = {}
    for folder in (office.import_reports, office.outbound_reports):
        path = folder / "rejects.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        entries = [json.loads(line) for line in lines if line.strip()]
        waiting[folder.name] = sorted(
            f"{entry['stream']} {reject_name(entry)}: {entry['reason']}" for entry in entries
        )
    return waiting


def reject_name(entry: dict[str, Any]) -> str:
    """What a rejects entry is about: its key, or its record's identifier."""
    record = entry["record"]
    return str(entry.get("key") or record.get("uniqueIdentifier") or record.get("id"))


def office_for(sandbox_factory, folder: Path, world: dict[str, Any]) -> Office:
    """A new sandbox holding `world`, and a private project for it."""
    sandbox = sandbox_factory(name=folder.name)
    sandbox.load(world)
    return new_office(sandbox, folder, **SMALL_PAGES)


def add_client_unknown_to_adminpulse(sandbox: SandboxProcess) -> None:
    """A person entered by hand in AMLCare, with a CAP and a signed form, whom AdminPulse lacks.

    The outbound sync can write neither, so both wait in target-adminpulse's rejects file.
    """
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sandbox.amlcare_key}"
    birth, counter = "790314", 101
    key = birth + f"{counter:03d}" + f"{97 - int(birth + f'{counter:03d}') % 97:02d}"
    created = session.post(
        f"{sandbox.amlcare_url}/clients",
        json={
            "type": "person",
            "key": key,
            "first_name": "Wim",
            "last_name": "Onbekend",
            "name": "Wim Onbekend",
            "risk_level": "high",
            "cap": {
                "status": "accepted",
                "acceptance_date": "2026-10-01",
                "next_review_date": "2027-10-01",
            },
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    client_id = created.json()["id"]
    form = session.post(
        f"{sandbox.amlcare_url}/clients/{client_id}/documents",
        data={"kind": "identification_form", "file_name": "form.pdf", "origin": "amlcare"},
        files={"file": ("form.pdf", b"%PDF-1.4 identification form of a stranger")},
        timeout=30,
    )
    assert form.status_code == 201, form.text
    submitted = session.post(f"{sandbox.amlcare_url}/documents/{form.json()['id']}/submit")
    assert submitted.status_code == 200, submitted.text


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> CleanRun:
    """The clean run every test of this module compares with."""
    return clean_run(tmp_path_factory.mktemp("clean"), CLIENTS)


def clean_run(folder: Path, clients: int) -> CleanRun:
    from amlsync_sandbox.testing import SandboxProcess

    with SandboxProcess(folder / "world.db") as sandbox:
        sandbox.seed(clients, seed=SEED)
        add_client_unknown_to_adminpulse(sandbox)
        office = new_office(sandbox, folder / "project", **SMALL_PAGES)
        seed = sandbox.dump()
        sandbox.reset_requests()
        office.run("run", IMPORT_JOB)
        import_calls = calls_of(sandbox)
        after_import = sandbox.dump()
        sandbox.reset_requests()
        office.run("run", OUTBOUND_JOB)
        return CleanRun(
            seed=seed,
            after_import_world=after_import,
            after_import=final_state(after_import, seed),
            final=final_state(sandbox.dump(), seed),
            rejects=rejects(office),
            calls={IMPORT_JOB: import_calls, OUTBOUND_JOB: calls_of(sandbox)},
        )


def test_the_clean_run_has_work_in_every_phase_the_crashes_aim_at(clean):
    """Guards the kill points below: each phase they interrupt really happens."""
    for job, points in KILL_POINTS_BY_JOB.items():
        for point in points:
            for phase in (point, point.again):
                if phase is not None:
                    assert phase.calls_in(clean.calls[job]) >= 2, (job, phase.name)
    assert all(clean.rejects.values()), "the seeded office has records each target rejects"


# Faults.


def run_under_faults(office: Office, job: str) -> int:
    """Run a job until it succeeds; every failed attempt must have failed loudly."""
    for attempt in range(1, ATTEMPTS_UNDER_FAULTS + 1):
        completed = office.run("run", "--force", job, check=False)
        if completed.returncode == 0:
            return attempt
        assert "Traceback" not in completed.stderr, completed.stderr[-3000:]
        assert "failed" in completed.stderr.lower(), completed.stderr[-3000:]
    pytest.fail(f"{job} failed {ATTEMPTS_UNDER_FAULTS} times in a row under faults")


def check_faults(office: Office, seed: dict[str, Any], expected: CleanRun) -> None:
    office.sandbox.faults(**FAULTS)

    run_under_faults(office, IMPORT_JOB)
    run_under_faults(office, OUTBOUND_JOB)

    answered = office.sandbox.requests("adminpulse") + office.sandbox.requests("amlcare")
    statuses = {row["status"] for row in answered}
    assert {0, 429, 500, 503} <= statuses, "every kind of fault was met"
    office.sandbox.faults(clear=True)
    assert_same_final_state(expected.final, final_state(office.sandbox.dump(), seed))
    assert rejects(office) == expected.rejects


def test_under_faults_both_jobs_end_in_the_state_of_a_clean_run(clean, sandbox_factory, tmp_path):
    office = office_for(sandbox_factory, tmp_path / "faults", clean.seed)
    check_faults(office, clean.seed, clean)


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_under_faults_a_larger_office_ends_in_the_state_of_a_clean_run(sandbox_factory, tmp_path):
    expected = clean_run(tmp_path / "clean", LONG_CLIENTS)
    office = office_for(sandbox_factory, tmp_path / "faults-large", expected.seed)
    check_faults(office, expected.seed, expected)


# Crashes.


@dataclass(frozen=True)
class Phase:
    """A moment in a run: once `share` of the clean run's calls to one endpoint are answered."""

    name: str
    victim: str  # the process killed: a connector's executable, or "meltano" for all at once
    service: str
    method: str
    endpoint: str  # matched on its ending, so `/content` covers every file route
    share: float

    def calls_in(self, calls: dict[tuple[str, str, str], int]) -> int:
        return sum(
            n
            for (service, method, endpoint), n in calls.items()
            if (service, method) == (self.service, self.method) and endpoint.endswith(self.endpoint)
        )

    def threshold(self, calls: dict[tuple[str, str, str], int]) -> int:
        return max(1, math.ceil(self.share * self.calls_in(calls)))


@dataclass(frozen=True)
class KillPoint(Phase):
    """Where a job is killed; `again` kills the rerun too; `last_write` lands after every write."""

    ci: bool = False
    again: Phase | None = None
    last_write: bool = False


IMPORT_POINTS = [
    KillPoint("tap after its first relations page", "tap-adminpulse",
              "adminpulse", "GET", "/relations", 0),
    KillPoint("tap while downloading identity cards", "tap-adminpulse",
              "adminpulse", "GET", "/content", 0.5, ci=True),
    KillPoint("target after its first create", "target-amlcare",
              "amlcare", "POST", "/v1/clients", 0),
    KillPoint("target half-way through the creates", "target-amlcare",
              "amlcare", "POST", "/v1/clients", 0.5, ci=True),
    KillPoint("target while linking UBOs and directors", "target-amlcare",
              "amlcare", "POST", "/v1/relations", 0.5),
    KillPoint("target while uploading identity cards", "target-amlcare",
              "amlcare", "POST", "/v1/clients/{id}/documents", 0.5),
    KillPoint("target while marking clients complete", "target-amlcare",
              "amlcare", "PATCH", "/v1/clients/{id}", 0.5),
    KillPoint("target after its last write, before state is saved", "target-amlcare",
              "amlcare", "PATCH", "/v1/clients/{id}", 1.0, ci=True, last_write=True),
    KillPoint("everything at once (power cut) during the creates", "meltano",
              "amlcare", "POST", "/v1/clients", 0.3),
    KillPoint("target during the creates, then again during the rerun's card uploads",
              "target-amlcare", "amlcare", "POST", "/v1/clients", 0.3,
              again=Phase("rerun's card uploads", "target-amlcare",
                          "amlcare", "POST", "/v1/clients/{id}/documents", 0.5)),
]  # fmt: skip
OUTBOUND_POINTS = [
    KillPoint("tap after its first clients page", "tap-amlcare",
              "amlcare", "GET", "/v1/clients", 0),
    KillPoint("tap while downloading document files", "tap-amlcare",
              "amlcare", "GET", "/content", 0.5),
    KillPoint("target after its first relation update", "target-adminpulse",
              "adminpulse", "PUT", "/relations/{id}", 0),
    KillPoint("target half-way through the relation updates", "target-adminpulse",
              "adminpulse", "PUT", "/relations/{id}", 0.5, ci=True),
    KillPoint("target during its first upload", "target-adminpulse",
              "adminpulse", "POST", "/documents/add", 0),
    KillPoint("target half-way through the uploads", "target-adminpulse",
              "adminpulse", "POST", "/documents/add", 0.5, ci=True),
    KillPoint("target while looking for earlier uploads", "target-adminpulse",
              "adminpulse", "GET", "/documents", 0.7),
    KillPoint("target after its last write, before state is saved", "target-adminpulse",
              "adminpulse", "POST", "/documents/add", 1.0, ci=True, last_write=True),
    KillPoint("everything at once (power cut) during the uploads", "meltano",
              "adminpulse", "POST", "/documents/add", 0.4),
    KillPoint("target during the relation updates, then again during the rerun's uploads",
              "target-adminpulse", "adminpulse", "PUT", "/relations/{id}", 0.5,
              again=Phase("rerun's uploads", "target-adminpulse",
                          "adminpulse", "POST", "/documents/add", 0.5)),
]  # fmt: skip
KILL_POINTS_BY_JOB = {IMPORT_JOB: IMPORT_POINTS, OUTBOUND_JOB: OUTBOUND_POINTS}


def kill_at(office: Office, job: RunningJob, phase: Phase, threshold: int) -> bool:
    """Wait for the phase, then SIGKILL its victim; False if the victim had already ended."""
    sandbox = office.sandbox
    wait_for(
        lambda: count(sandbox, phase.service, phase.method, phase.endpoint) >= threshold,
        job,
        phase.name,
    )
    if phase.victim == "meltano":
        job.kill_all()
        return True
    return job.kill_connector(phase.victim)


def crash_and_rerun(office: Office, point: KillPoint, clean: CleanRun, job_name: str) -> None:
    """Kill the job at `point`, check it failed loudly, and run it again until it succeeds."""
    state_id = STATE_IDS[job_name]
    state_before = office.state(state_id) if point.last_write else None
    office.sandbox.reset_requests()
    job = office.start("run", job_name, **KILLABLE_PACE)
    killed = kill_at(office, job, point, point.threshold(clean.calls[job_name]))
    code = job.wait()
    assert killed or point.last_write, f"{point.victim} ended before it could be killed"
    if killed:
        assert code != 0, f"a run whose {point.victim} was killed reported success"
    if point.last_write:
        # Whichever side of the save the kill landed on, put the bookmark back: the rerun then
        # meets the worst case, every write done and no bookmark saved.
        office.put_state(state_id, state_before)

    if point.again is not None:
        office.sandbox.reset_requests()
        rerun = office.start("run", "--force", job_name, **KILLABLE_PACE)
        assert kill_at(office, rerun, point.again, point.again.threshold(clean.calls[job_name]))
        assert rerun.wait() != 0

    # Meltano holds a killed run's state id as running for a few minutes: --force, as an
    # operator who knows the run died would.
    office.run("run", "--force", job_name)


def params(points: list[KillPoint]) -> list[Any]:
    return [
        pytest.param(point, id=point.name.replace(" ", "-"), marks=[] if point.ci else [LONG])
        for point in points
    ]


@pytest.mark.parametrize("point", params(IMPORT_POINTS))
def test_an_import_killed_then_run_again_ends_as_a_clean_run(
    point, clean, sandbox_factory, tmp_path
):
    office = office_for(sandbox_factory, tmp_path / "import", clean.seed)

    crash_and_rerun(office, point, clean, IMPORT_JOB)

    assert_same_final_state(clean.after_import, final_state(office.sandbox.dump(), clean.seed))
    assert rejects(office)["target-amlcare"] == clean.rejects["target-amlcare"]


@pytest.mark.parametrize("point", params(OUTBOUND_POINTS))
def test_an_outbound_sync_killed_then_run_again_ends_as_a_clean_run(
    point, clean, sandbox_factory, tmp_path
):
    office = office_for(sandbox_factory, tmp_path / "outbound", world=clean.after_import_world)

    crash_and_rerun(office, point, clean, OUTBOUND_JOB)

    assert_same_final_state(clean.final, final_state(office.sandbox.dump(), clean.seed))
    assert rejects(office)["target-adminpulse"] == clean.rejects["target-adminpulse"]
