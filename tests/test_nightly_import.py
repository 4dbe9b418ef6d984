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

import pytest
from stdnum.be import bis, nn, vat

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
STATE_ID = "sandbox:tap-adminpulse-to-target-amlcare"
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
    ignored = {"id", "created_at", "updated_at", "responsible_user_id"}
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


def writes(sandbox) -> int:
    """AMLCare requests that could change something (the batch lookup is a read)."""
    return sum(
        row["count"]
        for row in sandbox.requests("amlcare")
        if row["method"] in {"POST", "PATCH", "PUT", "DELETE"}
        and not row["endpoint"].endswith("/clients/lookup")
    )


def latest_report(meltano) -> dict:
    files = [p for p in meltano.report_files("target-amlcare") if p.name.startswith("import-")]
    return json.loads(files[-1].read_text())


@pytest.fixture
def office(sandbox, meltano):
    """A seeded office with its rate limits lifted; returns the world before any run."""
    sandbox.seed(CLIENTS, seed=SEED)
    sandbox.faults(rate_scale=FAST_RATE_SCALE)
    meltano.env.update(FAST)
    return sandbox.dump()


def second_project(meltano, sandbox, tmp_path: Path, name: str):
    """The same Meltano project pointed at another sandbox, with its own state and reports."""
    reports = tmp_path / f"{name}-reports"
    env = {
        **meltano.env,
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / f'{name}-meltano.db'}",
        "TAP_ADMINPULSE_BASE_URL": sandbox.adminpulse_url,
        "TARGET_AMLCARE_BASE_URL": sandbox.amlcare_url,
        "TARGET_AMLCARE_REPORT_DIR": str(reports / "target-amlcare"),
    }
    return dataclasses.replace(meltano, env=env, reports=reports, runs=[])


def clean_run_state(meltano, sandbox_factory, tmp_path: Path) -> dict:
    """AMLCare after one clean nightly import of the same seeded office."""
    reference = sandbox_factory(name="reference", rate_scale=FAST_RATE_SCALE)
    reference.seed(CLIENTS, seed=SEED)
    second_project(meltano, reference, tmp_path, "reference").run("run", "nightly-import")
    return amlcare_state(reference.dump())


# The import.


def test_nightly_import_creates_each_valid_new_customer_once_with_key_responsible_roles_and_cards(
    office, sandbox, meltano
):
    expected = expected_import(office)
    assert expected.new_clients
    assert expected.links
    assert expected.cards
    assert expected.rejected

    meltano.run("run", "nightly-import")

    after = sandbox.dump()["amlcare"]
    clients_by_key: dict[str, list[dict]] = {}
    for client in after["clients"]:
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

    key_of_id = {c["id"]: c["key"] for c in after["clients"]}
    links = {
        (key_of_id[r["company_id"]], key_of_id[r["person_id"]], r["role"])
        for r in after["relations"]
    }
    assert expected.links <= links
    cards = {
        (key_of_id[d["client_id"]], d["external_ref"])
        for d in after["documents"]
        if d["origin"] == "adminpulse_import" and d["kind"] == "id_card"
    }
    new_keys = set(expected.new_clients) | set(expected.role_holders) | set(expected.pending)
    assert {card for card in cards if card[0] in new_keys} == expected.cards

    for uid in expected.rejected:
        relation = next(
            r for r in office["adminpulse"]["relations"] if r["uniqueIdentifier"] == uid
        )
        assert relation["uniqueIdentifier"] not in {c["external_ref"] for c in after["clients"]}


def test_nightly_import_leaves_every_client_amlcare_already_had_as_it_was(office, sandbox, meltano):
    before = {c["key"]: c for c in office["amlcare"]["clients"] if c["import_status"] != "pending"}
    cards_before = {
        (d["client_id"], d["id"], d["version"], d["status"]) for d in office["amlcare"]["documents"]
    }

    meltano.run("run", "nightly-import")

    after = {c["key"]: c for c in sandbox.dump()["amlcare"]["clients"]}
    for key, client in before.items():
        assert after[key] == client
    documents = sandbox.dump()["amlcare"]["documents"]
    kept = {(d["client_id"], d["id"], d["version"], d["status"]) for d in documents}
    assert cards_before <= kept
    old_ids = {c["id"] for c in before.values()}
    known = {card[1] for card in cards_before}
    assert not [d for d in documents if d["client_id"] in old_ids and d["id"] not in known]


def test_nightly_import_finishes_a_client_an_earlier_run_left_pending(office, sandbox, meltano):
    expected = expected_import(office)
    assert expected.pending, "the seed should hold a half-imported client"

    meltano.run("run", "nightly-import")

    after = {c["key"]: c for c in sandbox.dump()["amlcare"]["clients"]}
    assert all(after[key]["import_status"] == "complete" for key in expected.pending)


def test_nightly_import_reports_every_defective_record_with_its_reason(office, sandbox, meltano):
    expected = expected_import(office)

    completed = meltano.run("run", "nightly-import")

    report = latest_report(meltano)
    rejected = {p["relation"]: p for p in report["problems"] if p["rejected"]}
    for uid, why in expected.rejected.items():
        assert uid in rejected, f"{why} defect of {uid} not reported"
        assert rejected[uid]["message"]
        assert rejected[uid]["action"]
    named_users = {
        p["key"] for p in report["problems"] if p["kind"] == "responsible_without_amlcare_user"
    }
    assert expected.missing_users <= named_users
    assert report["counts"]["created"] == len(expected.new_clients)
    rejects_file = Path(meltano.env["TARGET_AMLCARE_REPORT_DIR"]) / "rejects.jsonl"
    lines = [json.loads(line) for line in rejects_file.read_text().splitlines()]
    assert set(expected.rejected) <= {line["record"].get("uniqueIdentifier") for line in lines}
    assert all(line["reason"] for line in lines)

    # No full national register number in the logs or the human report.
    markdown = next(p for p in meltano.report_files("target-amlcare", ".md")).read_text()
    for relation in office["adminpulse"]["relations"]:
        nrn = nrn_key(relation["nationalRegisterNumber"])
        if nrn:
            assert nrn not in completed.stderr
            assert nrn not in markdown
            assert relation["nationalRegisterNumber"] not in markdown


def test_a_second_run_creates_nothing_writes_nothing_and_downloads_no_identity_document(
    office, sandbox, meltano
):
    meltano.run("run", "nightly-import")
    after_first = amlcare_state(sandbox.dump())
    assert meltano.state(STATE_ID)["singer_state"]["bookmarks"]["relations"]
    sandbox.reset_requests()

    meltano.run("run", "nightly-import")

    assert writes(sandbox) == 0
    assert sandbox.request_count("adminpulse", endpoint="/documents/{id}/content") == 0
    assert amlcare_state(sandbox.dump()) == after_first
    assert latest_report(meltano)["counts"].get("created", 0) == 0


def test_with_faults_the_import_ends_in_the_same_amlcare_state_as_a_clean_run(
    office, sandbox, meltano, sandbox_factory, tmp_path
):
    sandbox.faults(error_rate=0.05, rate_429=0.05, drop_rate=0.03, retry_after_share=0.5)

    meltano.run("run", "nightly-import")

    failed = [r for svc in ("adminpulse", "amlcare") for r in sandbox.requests(svc)]
    assert any(r["status"] in (0, 429, 500, 502, 503) for r in failed)
    assert amlcare_state(sandbox.dump()) == clean_run_state(meltano, sandbox_factory, tmp_path)


def test_a_run_killed_half_way_and_run_again_ends_as_one_clean_run(
    office, sandbox, meltano, sandbox_factory, tmp_path
):
    # A slower target, so the kill lands while clients are being created.
    env = {**meltano.env, "TARGET_AMLCARE_REQUESTS_PER_MINUTE": "1200"}
    run = subprocess.Popen(
        [MELTANO, "--environment=sandbox", "run", "nightly-import"],
        cwd=PROJECT_ROOT,
        env=env,
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
    half_way = sandbox.dump()["amlcare"]["clients"]
    assert any(c["import_status"] == "pending" for c in half_way)

    meltano.run("run", "nightly-import")

    assert amlcare_state(sandbox.dump()) == clean_run_state(meltano, sandbox_factory, tmp_path)
