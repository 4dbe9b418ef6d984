"""The outbound sync end to end: `meltano run outbound-sync` between the two sandbox services.

Each test seeds a generated office (AdminPulse relations, the AMLCare clients that match them),
lets a first run catch up, then changes AMLCare over its partner API exactly as a user would, runs
the job again and reads the outcome from the AdminPulse dump and the sandbox's request counts.
"""

from __future__ import annotations

import base64
import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from stdnum.be import vat

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MELTANO = Path(sys.executable).parent / "meltano"
STATE_ID = "sandbox:tap-amlcare-to-target-adminpulse"
JOB = ("run", "outbound-sync")
# Clients in the generated office, and the seed that fixes which of them AMLCare already holds.
OFFICE_CLIENTS = 40
OFFICE_SEED = 3
# The AML fields and the ID-card expiry: the only relation fields the sync may change.
SYNC_FIELDS = ("aml", "idCardExpiryDate", "modifiedDate")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
VERSION_CONTENT = "/v1/documents/{id}/versions/{version}/content"


class AMLCare:
    """A user of AMLCare, working through the partner API."""

    def __init__(self, sandbox) -> None:
        self.url = sandbox.amlcare_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {sandbox.amlcare_key}"

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(method, self.url + path, timeout=30, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    def patch_client(self, client_id: str, **fields: Any) -> dict[str, Any]:
        return self.call("PATCH", f"/clients/{client_id}", json=fields)

    def add_document(self, client_id: str, kind: str, text: str) -> dict[str, Any]:
        return self.call(
            "POST",
            f"/clients/{client_id}/documents",
            data={"kind": kind, "file_name": f"{kind}.pdf", "origin": "amlcare"},
            files={"file": (f"{kind}.pdf", f"%PDF-1.4 {text}".encode())},
        )

    def submit(self, document_id: str) -> dict[str, Any]:
        return self.call("POST", f"/documents/{document_id}/submit")

    def sign(self, document_id: str) -> dict[str, Any]:
        return self.call("POST", f"/documents/{document_id}/sign")


def digits(value: str | None) -> str | None:
    return "".join(char for char in value if char.isdigit()) if value else None


def matched_clients(world: dict[str, Any]) -> tuple[dict, dict, dict, dict]:
    """A company and a person client of AMLCare, each with exactly one AdminPulse relation."""
    relations = world["adminpulse"]["relations"]

    def relation_of(client: dict[str, Any]) -> dict[str, Any] | None:
        if client["type"] == "company":
            found = [
                r
                for r in relations
                if r["vatNumber"] and vat.compact(r["vatNumber"]) == client["key"]
            ]
        else:
            found = [
                r
                for r in relations
                if (digits(r["nationalRegisterNumber"]) or "").zfill(11) == client["key"]
            ]
        return found[0] if len(found) == 1 else None

    company = next(
        c for c in world["amlcare"]["clients"] if c["type"] == "company" and relation_of(c)
    )
    person = next(
        c
        for c in world["amlcare"]["clients"]
        if c["type"] == "person" and (relation_of(c) or {}).get("type") == "person"
    )
    return company, relation_of(company), person, relation_of(person)  # type: ignore[return-value]


@pytest.fixture
def office(sandbox, meltano):
    """A generated office, already caught up by one run of the job, with limits lifted."""
    sandbox.seed(clients=OFFICE_CLIENTS, seed=OFFICE_SEED)
    sandbox.faults(rate_scale=50)
    meltano.env["TARGET_ADMINPULSE_UPLOADS_PER_MINUTE"] = "2000"
    meltano.env["TARGET_ADMINPULSE_REQUESTS_PER_MINUTE"] = "2000"
    meltano.run(*JOB)
    return sandbox


def adminpulse(sandbox) -> dict[str, Any]:
    return sandbox.dump("adminpulse")


def writes(sandbox, service: str) -> int:
    return sum(sandbox.request_count(service, method=method) for method in WRITE_METHODS)


def test_changes_saved_in_amlcare_arrive_in_adminpulse_exactly_once(office, meltano):
    amlcare = AMLCare(office)
    world = office.dump()
    company, company_relation, person, person_relation = matched_clients(world)
    before = adminpulse(office)
    bookmark_before = meltano.state(STATE_ID)

    new_risk = "high" if company["risk_level"] != "high" else "low"
    amlcare.patch_client(
        company["id"],
        risk_level=new_risk,
        cap={
            "status": "accepted",
            "acceptance_date": "2026-11-20",
            "next_review_date": "2027-11-20",
        },
    )
    amlcare.patch_client(person["id"], id_card={"expiry_date": "2033-03-03"})
    draft = amlcare.add_document(company["id"], "identification_form", "draft")
    form = amlcare.submit(amlcare.add_document(company["id"], "identification_form", "form")["id"])
    cap_report = amlcare.submit(amlcare.add_document(company["id"], "cap_report", "cap")["id"])
    report = amlcare.add_document(company["id"], "verification_report", "public data")
    extract = amlcare.add_document(company["id"], "ubo_extract", "ubo register")
    card = amlcare.add_document(person["id"], "id_card", "front and back")
    office.reset_requests()

    meltano.run(*JOB)

    after = adminpulse(office)
    expected_names = {
        f"amlcare_{form['id']}_identification_form_v2_unsigned.pdf",
        f"amlcare_{cap_report['id']}_cap_report_v2_unsigned.pdf",
        f"amlcare_{report['id']}_verification_report_v1_unsigned.pdf",
        f"amlcare_{extract['id']}_ubo_extract_v1_unsigned.pdf",
        f"amlcare_{card['id']}_id_card_v1_unsigned.pdf",
    }
    old_ids = {d["id"] for d in before["documents"]}
    new_documents = [d for d in after["documents"] if d["id"] not in old_ids]
    assert sorted(d["fileName"] for d in new_documents) == sorted(expected_names)
    assert not any(draft["id"] in d["fileName"] for d in after["documents"])
    by_name = {d["fileName"]: d for d in new_documents}
    assert (
        by_name[f"amlcare_{card['id']}_id_card_v1_unsigned.pdf"]["relationIdentifier"]
        == (person_relation["uniqueIdentifier"])
    )
    uploaded_report = by_name[f"amlcare_{report['id']}_verification_report_v1_unsigned.pdf"]
    assert base64.b64decode(uploaded_report["content"]) == b"%PDF-1.4 public data"

    relations_after = {r["id"]: r for r in after["relations"]}
    expected_company = copy.deepcopy(company_relation)
    expected_company["aml"] = {
        "totalRisk": {"high": "high", "low": "low"}[new_risk],
        "clientAcceptanceDate": "2026-11-20",
        "nextReviewDate": "2027-11-20",
    }
    assert relations_after[company_relation["id"]]["aml"] == expected_company["aml"]
    assert relations_after[person_relation["id"]]["idCardExpiryDate"] == "2033-03-03"
    changed = {company_relation["id"], person_relation["id"]}
    for old in before["relations"]:
        new = relations_after[old["id"]]
        if old["id"] in changed:
            for name, value in old.items():
                if name not in SYNC_FIELDS:
                    assert new[name] == value, (old["code"], name)
        else:
            assert new == old, old["code"]
    for old in before["documents"]:
        assert old in after["documents"]
    assert office.request_count("adminpulse", endpoint="/documents/add") == 5
    assert office.request_count("adminpulse", method="PUT") == 2

    # Signing the CAP report makes a signed version, which follows as its own upload.
    signed = amlcare.sign(cap_report["id"])
    meltano.run(*JOB)
    names = [d["fileName"] for d in adminpulse(office)["documents"]]
    assert f"amlcare_{signed['id']}_cap_report_v3_signed.pdf" in names
    assert len(names) == len(set(names))

    # Nothing changed since: no write at all, and only the records on the bookmarks are read.
    bookmark_after = meltano.state(STATE_ID)
    settled = adminpulse(office)
    office.reset_requests()
    meltano.run(*JOB)

    assert writes(office, "adminpulse") == 0
    assert writes(office, "amlcare") == 0
    assert office.request_count("amlcare", endpoint="/v1/clients") == 1
    assert office.request_count("amlcare", endpoint="/v1/documents") == 1
    # The document on the bookmark is read again with its versions: the signed CAP report's 3.
    assert office.request_count("amlcare", endpoint=VERSION_CONTENT) <= 3
    assert office.request_count("amlcare", endpoint="/v1/documents/{id}/content") == 0
    assert adminpulse(office) == settled
    for stream in ("clients", "documents"):
        old_value = bookmark_before["singer_state"]["bookmarks"][stream]["replication_key_value"]
        new_value = bookmark_after["singer_state"]["bookmarks"][stream]["replication_key_value"]
        assert new_value > old_value
    assert meltano.state(STATE_ID) == bookmark_after


def test_a_form_submitted_and_signed_between_two_runs_arrives_unsigned_and_signed(office, meltano):
    amlcare = AMLCare(office)
    company, company_relation, _, _ = matched_clients(office.dump())
    form = amlcare.add_document(company["id"], "identification_form", "identification")
    amlcare.submit(form["id"])
    amlcare.sign(form["id"])
    versions = {
        v["version"]: v
        for d in office.dump("amlcare")["documents"]
        if d["id"] == form["id"]
        for v in d["versions"]
    }

    meltano.run(*JOB)

    uploads = [d for d in adminpulse(office)["documents"] if form["id"] in d["fileName"]]
    assert sorted(d["fileName"] for d in uploads) == [
        f"amlcare_{form['id']}_identification_form_v2_unsigned.pdf",
        f"amlcare_{form['id']}_identification_form_v3_signed.pdf",
    ]
    unsigned, signed = sorted(uploads, key=lambda d: d["fileName"])
    assert unsigned["content"] == versions[2]["content"]
    assert signed["content"] == versions[3]["content"]
    assert unsigned["content"] != signed["content"]
    assert {d["relationIdentifier"] for d in uploads} == {company_relation["uniqueIdentifier"]}

    # The form stays on the bookmark: the next run finds both uploads and adds nothing.
    meltano.run(*JOB)

    again = [d for d in adminpulse(office)["documents"] if form["id"] in d["fileName"]]
    assert again == uploads


def test_a_client_whose_relation_is_missing_waits_in_the_rejects_file_until_it_exists(
    office, meltano
):
    amlcare = AMLCare(office)
    world = office.dump()
    _, _, person, person_relation = matched_clients(world)
    # The office has not filled in the national register number in AdminPulse yet.
    world["adminpulse"]["relations"] = [
        dict(r, nationalRegisterNumber=None) if r["id"] == person_relation["id"] else r
        for r in world["adminpulse"]["relations"]
    ]
    office.load(world)
    office.faults(rate_scale=50)
    new_risk = "low" if person["risk_level"] == "high" else "high"
    amlcare.patch_client(person["id"], risk_level=new_risk)

    meltano.run(*JOB)

    report = meltano.report_files("target-adminpulse")[-1].read_text()
    assert '"rejected": 1' in report
    assert person["key"] not in report
    rejects = (meltano.reports / "target-adminpulse" / "rejects.jsonl").read_text()
    assert person["id"] in rejects

    world = office.dump()
    world["adminpulse"]["relations"] = [
        dict(r, nationalRegisterNumber=person_relation["nationalRegisterNumber"])
        if r["id"] == person_relation["id"]
        else r
        for r in world["adminpulse"]["relations"]
    ]
    office.load(world)
    office.faults(rate_scale=50)
    meltano.run(*JOB)

    relation = next(r for r in adminpulse(office)["relations"] if r["id"] == person_relation["id"])
    assert relation["aml"]["totalRisk"] == new_risk
    assert (meltano.reports / "target-adminpulse" / "rejects.jsonl").read_text() == ""


def test_a_run_killed_half_way_then_run_again_leaves_no_duplicate_and_no_missing_document(
    office, meltano
):
    amlcare = AMLCare(office)
    company, company_relation, _, _ = matched_clients(office.dump())
    reports = [
        amlcare.add_document(company["id"], "verification_report", f"report {n}") for n in range(30)
    ]
    expected = {f"amlcare_{r['id']}_verification_report_v1_unsigned.pdf" for r in reports}
    # Slow enough uploads that the kill lands in the middle of them.
    meltano.env["TARGET_ADMINPULSE_UPLOADS_PER_MINUTE"] = "120"
    office.reset_requests()
    job = subprocess.Popen(
        [str(MELTANO), "--environment=sandbox", *JOB],
        cwd=PROJECT_ROOT,
        env=meltano.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while office.request_count("adminpulse", endpoint="/documents/add") < 10:
        assert time.monotonic() < deadline, "the job made no uploads"
        assert job.poll() is None, "the job ended before it could be killed"
        time.sleep(0.2)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=30)
    partial = {d["fileName"] for d in adminpulse(office)["documents"]} & expected
    assert 10 <= len(partial) < len(expected)

    # Meltano holds the killed run's lock until it turns stale (five minutes); an operator
    # restarting at once says --force, as here.
    meltano.env["TARGET_ADMINPULSE_UPLOADS_PER_MINUTE"] = "2000"
    rerun = meltano.run("run", "--force", "outbound-sync")

    names = [
        d["fileName"]
        for d in adminpulse(office)["documents"]
        if d["relationIdentifier"] == company_relation["uniqueIdentifier"]
    ]
    assert expected <= set(names)
    assert len(names) == len(set(names))
    assert "pipeline is already running" not in rerun.stderr
