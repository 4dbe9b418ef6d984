"""The nightly import, end to end: `meltano run nightly-import` against a seeded sandbox.

Real processes and real HTTP: Meltano runs tap-adminpulse and target-amlcare, which talk to the
sandbox; every expectation is computed independently from the seeded world (with python-stdnum
for the identifiers) and checked against the sandbox's dump and request counts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from amlsync_sandbox.testing import SandboxProcess
from stdnum.be import bis, nn, vat

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

SEED = 0  # even: the eID Foto document type lacks the public-on-portal default
CLIENTS = 150
# Lift the sandbox's rate limits and the connectors' budgets where a test is not about pace.
FAST = {
    "TAP_ADMINPULSE_REQUESTS_PER_MINUTE": "30000",
    "TARGET_AMLCARE_REQUESTS_PER_MINUTE": "30000",
}
FAST_RATE_SCALE = 100
ROLE_OF_LINK = {2: "ubo", 4: "director"}
IDENTITY_TYPES = ("eID", "eID Foto")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(Path(sys.executable).parent / "meltano")


# What the seeded world says the import must do, computed without the connectors' code.


def kbo_key(value: str | None) -> str | None:
    if not value:
        return None
    digits = vat.compact(value)
    return digits if vat.is_valid(digits) else None


def nrn_key(value: str | None) -> str | None:
    if not value:
        return None
    digits = "".join(char for char in value if char.isdigit())
    if len(digits) == 10:
        digits = "0" + digits
    return digits if nn.is_valid(digits) or bis.is_valid(digits) else None


def key_of(relation: dict) -> str | None:
    if relation["type"] == "company":
        return kbo_key(relation["vatNumber"])
    if relation["type"] == "soleProprietor" and kbo_key(relation["vatNumber"]) is None:
        return None
    return nrn_key(relation["nationalRegisterNumber"])


@dataclasses.dataclass
class Expected:
    """The AMLCare the import must leave behind, as derived from the seeded world."""

    new_clients: dict[str, dict]  # key → relation, customers AMLCare did not have
    role_holders: dict[str, dict]  # key → person relation, UBO / director of a new company
    rejected: dict[str, str]  # uniqueIdentifier → why (invalid identifiers, role holders)
    responsible: dict[str, str | None]  # key of a new client → AMLCare user id
    links: set[tuple[str, str, str]]  # (company key, person key, role)
    cards: set[tuple[str, str]]  # (client key, AdminPulse document id)
    pending: dict[str, dict]  # key → relation whose earlier import died half-way
    missing_users: set[str]  # e-mails of responsibles without an AMLCare user


def expected_import(world: dict) -> Expected:
    adminpulse, amlcare = world["adminpulse"], world["amlcare"]
    today = date.today()
    by_uid = {r["uniqueIdentifier"]: r for r in adminpulse["relations"]}
    existing = {c["key"]: c for c in amlcare["clients"]}
    customers = [
        r
        for r in adminpulse["relations"]
        if r["status"] == "customer"
        and (r["endDate"] is None or date.fromisoformat(r["endDate"]) >= today)
    ]

    rejected: dict[str, str] = {}
    new_clients: dict[str, dict] = {}
    pending: dict[str, dict] = {}
    for relation in customers:
        key = key_of(relation)
        if key is None:
            rejected[relation["uniqueIdentifier"]] = "identifier"
            continue
        if relation["type"] == "company":
            holders = [
                by_uid[link["uniqueIdentifier"]]
                for link in relation["tos"]
                if link["linkType"] in ROLE_OF_LINK
            ]
            if any(h["type"] != "company" and key_of(h) is None for h in holders):
                rejected[relation["uniqueIdentifier"]] = "role holder"
                continue
        client = existing.get(key)
        if client is None:
            new_clients[key] = relation
        elif client["import_status"] == "pending":
            pending[key] = relation

    aml_users = {u["email"].lower(): u["id"] for u in amlcare["users"] if u["active"]}
    ap_email = {u["id"]: u["email"] for u in adminpulse["users"]}
    responsible: dict[str, str | None] = {}
    missing_users: set[str] = set()
    for key, relation in new_clients.items():
        matches = [
            aml_users[ap_email[r["userId"]].lower()]
            for r in relation["responsibles"]
            if ap_email.get(r["userId"]) and ap_email[r["userId"]].lower() in aml_users
        ]
        responsible[key] = matches[0] if matches else None
        if not matches and relation["responsibles"]:
            missing_users.add(ap_email[relation["responsibles"][0]["userId"]])

    links: set[tuple[str, str, str]] = set()
    role_holders: dict[str, dict] = {}
    for key, relation in {**new_clients, **pending}.items():
        if relation["type"] != "company":
            continue
        for link in relation["tos"]:
            person = by_uid[link["uniqueIdentifier"]]
            if link["linkType"] in ROLE_OF_LINK and person["type"] != "company":
                person_key = str(key_of(person))
                links.add((key, person_key, ROLE_OF_LINK[link["linkType"]]))
                if person_key not in existing and person_key not in new_clients:
                    role_holders[person_key] = person

    identity_types = {t["id"] for t in adminpulse["documentTypes"] if t["name"] in IDENTITY_TYPES}
    created = {**new_clients, **role_holders, **pending}
    by_relation = {r["uniqueIdentifier"]: key for key, r in created.items()}
    cards = {
        (by_relation[d["relationIdentifier"]], str(d["id"]))
        for d in adminpulse["documents"]
        if d["documentType"] in identity_types
        and d["publicOnPortal"]
        and d["relationIdentifier"] in by_relation
    }
    return Expected(
        new_clients, role_holders, rejected, responsible, links, cards, pending, missing_users
    )


def amlcare_state(world: dict) -> dict:
    """AMLCare's content in terms that do not depend on generated ids or timestamps."""
    amlcare = world["amlcare"]
    key_of_id = {c["id"]: c["key"] for c in amlcare["clients"]}
    ignored = {"id", "created_at", "updated_at"}
    return {
        "clients": sorted(
            json.dumps({k: v for k, v in c.items() if k not in ignored}, sort_keys=True)
            for c in amlcare["clients"]
        ),
        "relations": sorted(
            (key_of_id[r["company_id"]], key_of_id[r["person_id"]], r["role"])
            for r in amlcare["relations"]
        ),
        "documents": sorted(
            (key_of_id[d["client_id"]], d["kind"], d["origin"], str(d["external_ref"]))
            for d in amlcare["documents"]
        ),
    }


def writes(requests: list[dict]) -> int:
    """AMLCare requests that could change something (the batch lookup is a read)."""
    return sum(
        row["count"]
        for row in requests
        if row["method"] in {"POST", "PATCH", "PUT", "DELETE"}
        and not row["endpoint"].endswith("/clients/lookup")
    )


def run_meltano(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`meltano --environment=sandbox <args>` in the project, failing the test on an error."""
    completed = subprocess.run(
        [MELTANO, "--environment=sandbox", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(f"meltano {' '.join(args)} failed:\n{completed.stderr[-4000:]}")
    return completed


def project_env(sandbox: SandboxProcess, folder: Path) -> dict[str, str]:
    """Meltano's environment for one sandbox, with private state and reports in `folder`."""
    return {
        **os.environ,
        **FAST,
        "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
        "TAP_ADMINPULSE_BASE_URL": sandbox.adminpulse_url,
        "TARGET_AMLCARE_BASE_URL": sandbox.amlcare_url,
        "TARGET_AMLCARE_REPORT_DIR": str(folder / "reports"),
    }


def import_reports(folder: Path) -> list[dict]:
    """The import reports written into a project folder, oldest first."""
    return [json.loads(p.read_text()) for p in sorted((folder / "reports").glob("import-*.json"))]


@dataclasses.dataclass
class ImportedOffice:
    """A seeded office imported twice in a row, with what each run did."""

    before: dict
    after_first: dict
    after_second: dict
    first: subprocess.CompletedProcess[str]
    amlcare_requests_second: list[dict]
    adminpulse_requests_second: list[dict]
    folder: Path

    @property
    def expected(self) -> Expected:
        return expected_import(self.before)

    @property
    def reports(self) -> list[dict]:
        return import_reports(self.folder)


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Iterator[ImportedOffice]:
    """One office, imported by two nightly runs; the tests below read what happened.

    Meltano runs are the slow part of these tests, so the runs are shared: each test states one
    behaviour of the same two runs.
    """
    folder = tmp_path_factory.mktemp("imported-office")
    with SandboxProcess(folder / "world.db", rate_scale=FAST_RATE_SCALE) as sandbox:
        sandbox.seed(CLIENTS, seed=SEED)
        env = project_env(sandbox, folder)
        before = sandbox.dump()
        first = run_meltano(env, "run", "nightly-import")
        after_first = sandbox.dump()
        sandbox.reset_requests()
        run_meltano(env, "run", "nightly-import")
        yield ImportedOffice(
            before=before,
            after_first=after_first,
            after_second=sandbox.dump(),
            first=first,
            amlcare_requests_second=sandbox.requests("amlcare"),
            adminpulse_requests_second=sandbox.requests("adminpulse"),
            folder=folder,
        )


def test_each_valid_new_customer_is_created_once_with_its_key_type_and_responsible(imported):
    expected = imported.expected
    assert expected.new_clients

    clients_by_key: dict[str, list[dict]] = {}
    for client in imported.after_first["amlcare"]["clients"]:
        clients_by_key.setdefault(client["key"], []).append(client)
    assert all(len(found) == 1 for found in clients_by_key.values())
    for key, relation in expected.new_clients.items():
        client = clients_by_key[key][0]
        assert client["type"] == ("company" if relation["type"] == "company" else "person")
        assert client["external_ref"] == relation["uniqueIdentifier"]
        assert client["import_status"] == "complete"
        assert client["responsible_user_id"] == expected.responsible[key]
        if relation["type"] == "soleProprietor":
            assert client["enterprise_number"] == kbo_key(relation["vatNumber"])
    for key in expected.role_holders:
        assert clients_by_key[key][0]["type"] == "person"
    refs = {c["external_ref"] for c in imported.after_first["amlcare"]["clients"]}
    assert not set(expected.rejected) & refs


def test_ubos_and_directors_are_linked_and_a_shared_person_exists_once(imported):
    expected = imported.expected
    amlcare = imported.after_first["amlcare"]
    key_of_id = {c["id"]: c["key"] for c in amlcare["clients"]}

    links = {
        (key_of_id[r["company_id"]], key_of_id[r["person_id"]], r["role"])
        for r in amlcare["relations"]
    }

    assert expected.links
    assert expected.links <= links
    companies_per_person: dict[str, set[str]] = {}
    for company, person, _ in expected.links:
        companies_per_person.setdefault(person, set()).add(company)
    assert any(len(companies) > 1 for companies in companies_per_person.values())


def test_identity_cards_are_attached_to_the_clients_the_import_created_and_only_those(imported):
    expected = imported.expected
    amlcare = imported.after_first["amlcare"]
    key_of_id = {c["id"]: c["key"] for c in amlcare["clients"]}
    before_ids = {d["id"] for d in imported.before["amlcare"]["documents"]}

    added = {
        (key_of_id[d["client_id"]], d["external_ref"])
        for d in amlcare["documents"]
        if d["id"] not in before_ids
    }

    assert expected.cards
    assert all(
        d["origin"] == "adminpulse_import" and d["kind"] == "id_card"
        for d in amlcare["documents"]
        if d["id"] not in before_ids
    )
    pending_cards_before = {
        (key_of_id[d["client_id"]], d["external_ref"])
        for d in imported.before["amlcare"]["documents"]
    }
    assert added == expected.cards - pending_cards_before


def test_clients_amlcare_already_had_are_left_as_they_were(imported):
    before = {
        c["key"]: c
        for c in imported.before["amlcare"]["clients"]
        if c["import_status"] != "pending"
    }
    after = {c["key"]: c for c in imported.after_first["amlcare"]["clients"]}
    old_ids = {c["id"] for c in before.values()}

    assert before
    assert all(after[key] == client for key, client in before.items())
    documents_before = [
        d for d in imported.before["amlcare"]["documents"] if d["client_id"] in old_ids
    ]
    documents_after = [
        d for d in imported.after_first["amlcare"]["documents"] if d["client_id"] in old_ids
    ]
    assert documents_after == documents_before


def test_a_client_an_earlier_run_left_pending_is_finished(imported):
    expected = imported.expected
    after = {c["key"]: c for c in imported.after_first["amlcare"]["clients"]}

    assert expected.pending, "the seed should hold a half-imported client"
    assert all(after[key]["import_status"] == "complete" for key in expected.pending)


def test_every_defective_record_is_in_the_report_with_its_reason(imported):
    expected = imported.expected
    report = imported.reports[0]

    rejected = {p["relation"]: p for p in report["problems"] if p["rejected"]}
    for uid, why in expected.rejected.items():
        assert uid in rejected, f"{why} defect of {uid} not reported"
        assert rejected[uid]["message"]
        assert rejected[uid]["action"]
    named_users = {
        p["key"] for p in report["problems"] if p["kind"] == "responsible_without_amlcare_user"
    }
    assert expected.missing_users
    assert expected.missing_users <= named_users
    assert report["counts"]["created"] == len(expected.new_clients)
    assert report["counts"]["rejected"] == len(expected.rejected)

    lines = (imported.folder / "reports" / "rejects.jsonl").read_text().splitlines()
    rejects = [json.loads(line) for line in lines]
    assert set(expected.rejected) == {
        r["record"]["uniqueIdentifier"] for r in rejects if r["stream"] == "relations"
    }
    assert all(r["reason"] for r in rejects)


def test_no_full_national_register_number_reaches_the_logs_or_the_report(imported):
    markdown = next((imported.folder / "reports").glob("import-*.md")).read_text()
    report = (sorted((imported.folder / "reports").glob("import-*.json"))[0]).read_text()

    for relation in imported.before["adminpulse"]["relations"]:
        nrn = nrn_key(relation["nationalRegisterNumber"])
        if nrn:
            assert nrn not in imported.first.stderr
            assert nrn not in markdown
            assert nrn not in report
            assert relation["nationalRegisterNumber"] not in markdown


def test_a_second_run_creates_nothing_writes_nothing_and_downloads_no_identity_document(imported):
    content = [r for r in imported.adminpulse_requests_second if r["endpoint"].endswith("/content")]

    assert writes(imported.amlcare_requests_second) == 0
    assert content == []
    assert amlcare_state(imported.after_second) == amlcare_state(imported.after_first)
    assert imported.reports[-1]["counts"].get("created", 0) == 0
    # The first run's rejects were replayed, and rejected again without a write.
    assert imported.reports[-1]["counts"]["replayed"] >= len(imported.expected.rejected)


def test_with_faults_the_import_ends_in_the_same_amlcare_state_as_a_clean_run(
    imported, sandbox_factory, tmp_path
):
    sandbox = sandbox_factory(rate_scale=FAST_RATE_SCALE)
    sandbox.seed(CLIENTS, seed=SEED)
    sandbox.faults(error_rate=0.015, rate_429=0.015, drop_rate=0.01, retry_after_share=0.5)

    run_meltano(project_env(sandbox, tmp_path), "run", "nightly-import")

    answers = sandbox.requests("adminpulse") + sandbox.requests("amlcare")
    assert {row["status"] for row in answers} & {0, 429, 500, 502, 503}
    assert amlcare_state(sandbox.dump()) == amlcare_state(imported.after_first)


def test_a_run_killed_half_way_and_run_again_ends_as_one_clean_run(
    imported, sandbox_factory, tmp_path
):
    sandbox = sandbox_factory(rate_scale=FAST_RATE_SCALE)
    sandbox.seed(CLIENTS, seed=SEED)
    env = project_env(sandbox, tmp_path)
    # A slower target, so that the kill lands while clients are being created.
    run = subprocess.Popen(
        [MELTANO, "--environment=sandbox", "run", "nightly-import"],
        cwd=PROJECT_ROOT,
        env={**env, "TARGET_AMLCARE_REQUESTS_PER_MINUTE": "1200"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while sandbox.request_count("amlcare", endpoint="/v1/clients", method="POST") < 20:
        assert run.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert any(c["import_status"] == "pending" for c in sandbox.dump()["amlcare"]["clients"])

    # Meltano holds a killed job's state id as running for a few minutes; an operator who knows
    # the run died reruns with --force.
    run_meltano(env, "run", "--force", "nightly-import")

    assert amlcare_state(sandbox.dump()) == amlcare_state(imported.after_first)
