"""Two offices served by one project: their credentials, state and reports never mix.

The project's own meltano.yml, unchanged, in a folder of its own (so that the offices' relative
report folders land there), with one Meltano system database for both offices as a production
server would have. Each office has its own sandbox, with its own tokens: a run that used the
other office's credentials would be refused. Both offices run the nightly import (office A
through its schedule, the way the README's cron line does) and then the outbound sync.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from amlsync_sandbox.testing import SandboxProcess

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(Path(sys.executable).parent / "meltano")
CLIENTS = 30
RATE_SCALE = 50
FAST = {
    "TAP_ADMINPULSE_REQUESTS_PER_MINUTE": "20000",
    "TARGET_AMLCARE_REQUESTS_PER_MINUTE": "20000",
    "TAP_AMLCARE_REQUESTS_PER_MINUTE": "20000",
    "TARGET_ADMINPULSE_REQUESTS_PER_MINUTE": "2000",
    "TARGET_ADMINPULSE_UPLOADS_PER_MINUTE": "2000",
}
# What each office's AMLCare user saves, distinct per office, to find where it arrived.
ACCEPTANCE_DATE = {"office-a": "2026-11-21", "office-b": "2026-11-22"}


@dataclass
class Office:
    """One office: its environment, its sandbox, and its world before the first run."""

    name: str
    sandbox: SandboxProcess
    adminpulse_token: str
    amlcare_key: str
    before: dict

    @property
    def prefix(self) -> str:
        return self.name.upper().replace("-", "_")

    @property
    def relation_uids(self) -> set[str]:
        return {r["uniqueIdentifier"] for r in self.before["adminpulse"]["relations"]}

    def credentials(self) -> dict[str, str]:
        """The office's variables, as meltano.yml's office environment reads them."""
        return {
            f"{self.prefix}_ADMINPULSE_READ_KEY": self.adminpulse_token,
            f"{self.prefix}_ADMINPULSE_WRITE_KEY": self.adminpulse_token,
            f"{self.prefix}_AMLCARE_URL": self.sandbox.amlcare_url,
            f"{self.prefix}_AMLCARE_KEY": self.amlcare_key,
        }


@dataclass
class Served:
    """Both offices after their runs, and where the project kept its files."""

    offices: dict[str, Office]
    project: Path
    env: dict[str, str]
    after_import: dict[str, dict]
    after_sync: dict[str, dict]

    def meltano(self, office: Office, *args: str) -> subprocess.CompletedProcess[str]:
        return run(self.project, self.env, office, *args)


def project_copy(project: Path) -> Path:
    """The project in a folder of its own: meltano.yml copied, the rest linked, no output.

    Relative paths in meltano.yml (report folders, the committed catalog) then resolve there, and
    the installed plugins (.meltano) are the project's own.
    """
    project.mkdir()
    shutil.copy(PROJECT_ROOT / "meltano.yml", project / "meltano.yml")
    for entry in PROJECT_ROOT.iterdir():
        if entry.name not in {"meltano.yml", "output", ".git"}:
            (project / entry.name).symlink_to(entry)
    return project


def run(
    project: Path, env: dict[str, str], office: Office, *args: str
) -> subprocess.CompletedProcess[str]:
    """`meltano --environment=<office> <args>` in the project folder; fails the test on an error.

    AdminPulse has one address for every office, which the office environments name; only that
    is pointed at the office's sandbox here.
    """
    completed = subprocess.run(
        [MELTANO, f"--environment={office.name}", *args],
        cwd=project,
        env={
            **env,
            "TAP_ADMINPULSE_BASE_URL": office.sandbox.adminpulse_url,
            "TARGET_ADMINPULSE_BASE_URL": office.sandbox.adminpulse_url,
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(f"meltano {' '.join(args)} for {office.name}:\n{completed.stderr[-4000:]}")
    return completed


def own_tokens(sandbox: SandboxProcess, name: str) -> tuple[str, str]:
    """Give the sandbox's world tokens that only this office has."""
    world = sandbox.dump()
    adminpulse_token, amlcare_key = f"{name}-adminpulse-token", f"{name}-amlcare-key"
    world["adminpulse"]["tokens"][0]["token"] = adminpulse_token
    world["amlcare"]["apiKeys"] = [{"key": amlcare_key}]
    sandbox.load(world)
    return adminpulse_token, amlcare_key


def save_in_amlcare(office: Office) -> None:
    """An AMLCare user accepts one client this office's import created, with the office's date."""
    client = next(
        c
        for c in office.sandbox.dump("amlcare")["clients"]
        if c["type"] == "company" and c["external_ref"] in office.relation_uids
    )
    response = requests.patch(
        f"{office.sandbox.amlcare_url}/clients/{client['id']}",
        headers={"Authorization": f"Bearer {office.amlcare_key}"},
        json={
            "risk_level": "high",
            "cap": {
                "status": "accepted",
                "acceptance_date": ACCEPTANCE_DATE[office.name],
                "next_review_date": "2027-11-20",
            },
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    """Offices A and B, each imported then synced back, by one project with one state database."""
    folder = tmp_path_factory.mktemp("offices")
    project = project_copy(folder / "project")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_"))},
        **FAST,
        "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
    }
    with (
        SandboxProcess(folder / "a.db", rate_scale=RATE_SCALE) as sandbox_a,
        SandboxProcess(folder / "b.db", rate_scale=RATE_SCALE) as sandbox_b,
    ):
        offices = {}
        for name, sandbox, seed in (("office-a", sandbox_a, 3), ("office-b", sandbox_b, 8)):
            sandbox.seed(CLIENTS, seed=seed)
            token, key = own_tokens(sandbox, name)
            offices[name] = Office(name, sandbox, token, key, sandbox.dump())
            env.update(offices[name].credentials())
        a, b = offices["office-a"], offices["office-b"]

        run(project, env, a, "schedule", "run", "nightly-import-schedule", "--timeout=600")
        run(project, env, b, "run", "--timeout=600", "nightly-import")
        after_import = {name: office.sandbox.dump() for name, office in offices.items()}
        for office in offices.values():
            save_in_amlcare(office)
            run(project, env, office, "run", "--timeout=600", "outbound-sync")
        after_sync = {name: office.sandbox.dump() for name, office in offices.items()}
        yield Served(offices, project, env, after_import, after_sync)


def test_each_office_imports_its_own_clients_and_none_of_the_others(served):
    for name, office in served.offices.items():
        other = next(o for o in served.offices.values() if o.name != name)
        before = {c["id"] for c in office.before["amlcare"]["clients"]}
        created = [
            c for c in served.after_import[name]["amlcare"]["clients"] if c["id"] not in before
        ]
        report = json.loads(reports(served, name, "target-amlcare", "import-*.json")[0].read_text())

        assert created
        assert {c["external_ref"] for c in created} <= office.relation_uids
        assert not {c["external_ref"] for c in created} & other.relation_uids
        counts = report["counts"]
        assert len(created) == counts.get("created", 0) + counts.get("created_role_holders", 0)


def test_each_office_gets_back_only_what_its_own_amlcare_saved(served):
    for name in served.offices:
        dates = {
            (r.get("aml") or {}).get("clientAcceptanceDate")
            for r in served.after_sync[name]["adminpulse"]["relations"]
        }
        other = next(n for n in served.offices if n != name)

        assert ACCEPTANCE_DATE[name] in dates
        assert ACCEPTANCE_DATE[other] not in dates


def test_every_request_carried_the_offices_own_credentials(served):
    for office in served.offices.values():
        for service in ("adminpulse", "amlcare"):
            answers = office.sandbox.requests(service)
            assert sum(row["count"] for row in answers) > 0
            assert not [row for row in answers if row["status"] == 401], (office.name, service)


def test_each_office_keeps_its_own_state_in_the_shared_database(served):
    listed = served.meltano(served.offices["office-a"], "state", "list").stdout.split()

    assert sorted(listed) == [
        "office-a:tap-adminpulse-to-target-amlcare",
        "office-a:tap-amlcare-to-target-adminpulse",
        "office-b:tap-adminpulse-to-target-amlcare",
        "office-b:tap-amlcare-to-target-adminpulse",
    ]
    for name, office in served.offices.items():
        state_id = f"{name}:tap-adminpulse-to-target-amlcare"
        state = json.loads(served.meltano(office, "state", "get", state_id).stdout)
        bookmark = state["singer_state"]["bookmarks"]["relations"]["replication_key_value"]
        assert bookmark == max(r["modifiedDate"] for r in office.before["adminpulse"]["relations"])


def test_each_office_has_its_reports_and_rejects_in_its_own_folder(served):
    for name, office in served.offices.items():
        other = next(o for o in served.offices.values() if o.name != name)
        imports = reports(served, name, "target-amlcare", "import-*")
        syncs = reports(served, name, "target-adminpulse", "run-*.json")
        rejects = served.project / "output/reports" / name / "target-amlcare/rejects.jsonl"

        assert sorted(path.suffix for path in imports) == [".html", ".json", ".md"]
        assert len(syncs) == 1
        lines = rejects.read_text(encoding="utf-8").splitlines()
        rejected = {relation_of(json.loads(line)["record"]) for line in lines}
        assert rejected
        assert rejected <= office.relation_uids
        assert not rejected & other.relation_uids
    assert sorted(p.name for p in (served.project / "output/reports").iterdir()) == [
        "office-a",
        "office-b",
    ]


def relation_of(record: dict) -> str:
    """The AdminPulse relation a rejected record (a relation or an identity document) is about."""
    return record.get("uniqueIdentifier") or record["relationIdentifier"]


def reports(served: Served, office: str, target: str, pattern: str) -> list[Path]:
    """The report files one target wrote for one office, in the office's own folder."""
    return sorted((served.project / "output/reports" / office / target).glob(pattern))
