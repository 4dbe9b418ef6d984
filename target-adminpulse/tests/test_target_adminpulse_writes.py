"""target-adminpulse against the sandbox's AdminPulse: what it writes, once, and what it refuses.

Each test feeds the real command a Singer message stream (as tap-amlcare would send it) and reads
the outcome back from the sandbox's world, its request counts and the run's report files.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from amlsync_sandbox.world import base_world
from faker import Faker
from stdnum.be import nn

TARGET = str(Path(sys.executable).parent / "target-adminpulse")
_faker = Faker("nl_BE")
_faker.seed_instance(20261203)
COMPANY_KBO = "0403019261"
OTHER_KBO = "0202239951"
PERSON_NRN = _faker.ssn()
SHARED_NRN = _faker.ssn()
UNKNOWN_NRN = _faker.ssn()
assert all(nn.is_valid(number) for number in (PERSON_NRN, SHARED_NRN, UNKNOWN_NRN))

CLIENT_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string"},
        "key": {"type": ["string", "null"]},
        "cap": {"type": ["object", "null"]},
        "risk_level": {"type": ["string", "null"]},
        "id_card": {"type": ["object", "null"]},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
DOCUMENT_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "client_id": {"type": "string"},
        "client_type": {"type": "string"},
        "client_key": {"type": ["string", "null"]},
        "kind": {"type": "string"},
        "status": {"type": "string"},
        "version": {"type": "integer"},
        "file_name": {"type": ["string", "null"]},
        "origin": {"type": ["string", "null"]},
        "content": {"type": ["string", "null"]},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}


def relation(relation_id: int, **fields: Any) -> dict[str, Any]:
    """An AdminPulse relation with every base field filled in, so changes to them would show."""
    record: dict[str, Any] = {
        "id": relation_id,
        "uniqueIdentifier": f"00000000-0000-4000-8000-{relation_id:012d}",
        "code": f"C{relation_id:05d}",
        "name": f"Relation {relation_id}",
        "displayName": f"Relation {relation_id}",
        "type": "company",
        "status": "customer",
        "legalForm": "BV",
        "companyId": 1,
        "relationGroupName": "Klanten",
        "vatNumber": None,
        "nationalRegisterNumber": None,
        "firstName": None,
        "lastName": None,
        "language": "nl",
        "email": f"info{relation_id}@example.be",
        "phone": "+32 9 123 45 67",
        "address": {
            "street": "Kerkstraat 1",
            "postalCode": "9000",
            "city": "Gent",
            "country": "BE",
        },
        "responsibles": [{"userId": 1, "profile": "Dossierbeheerder"}],
        "tos": [],
        "endDate": None,
        "createdDate": "2025-01-01T09:00:00",
        "modifiedDate": "2026-01-01T09:00:00",
        "aml": {"totalRisk": None, "clientAcceptanceDate": None, "nextReviewDate": None},
        "idCardExpiryDate": None,
    }
    record.update(fields)
    return record


def person(relation_id: int, nrn: str, **fields: Any) -> dict[str, Any]:
    return relation(
        relation_id,
        type="person",
        legalForm=None,
        nationalRegisterNumber=nn.format(nrn),
        firstName="An",
        lastName=f"Peeters{relation_id}",
        **fields,
    )


def office_world() -> dict[str, Any]:
    world = base_world()
    world["adminpulse"]["users"] = [
        {"id": 1, "firstName": "Els", "lastName": "Claes", "email": "els@office.be", "active": True}
    ]
    world["adminpulse"]["relations"] = [
        relation(1, vatNumber="BE 0403.019.261"),  # typed with prefix and dots
        person(
            2,
            PERSON_NRN,
            aml={
                "totalRisk": "normal",
                "clientAcceptanceDate": "2025-01-12",
                "nextReviewDate": None,
            },
            idCardExpiryDate="2029-01-01",
        ),
        person(3, SHARED_NRN),
        person(4, SHARED_NRN),  # the same number typed on two relations
        relation(5, vatNumber=OTHER_KBO[1:]),  # leading zero lost in a spreadsheet
    ]
    return world


@pytest.fixture
def office(sandbox):
    sandbox.load(office_world())
    return sandbox


def client(
    client_id: str,
    key: str,
    *,
    kind: str = "company",
    risk: str | None = None,
    acceptance: str | None = None,
    review: str | None = None,
    expiry: str | None = None,
    updated_at: str = "2026-03-01T10:00:00.000000Z",
) -> dict[str, Any]:
    return {
        "id": client_id,
        "type": kind,
        "key": key,
        "cap": {"status": "accepted", "acceptance_date": acceptance, "next_review_date": review},
        "risk_level": risk,
        "id_card": {"expiry_date": expiry} if kind == "person" else None,
        "updated_at": updated_at,
    }


def document(
    document_id: str,
    key: str,
    kind: str,
    status: str,
    version: int,
    *,
    client_type: str = "company",
    origin: str = "amlcare",
    content: bytes | None = None,
) -> dict[str, Any]:
    body = content if content is not None else f"{document_id} v{version} {status}".encode()
    return {
        "id": document_id,
        "client_id": "cl_x",
        "client_type": client_type,
        "client_key": key,
        "kind": kind,
        "status": status,
        "version": version,
        "file_name": f"{kind}.pdf",
        "origin": origin,
        "content": base64.b64encode(body).decode("ascii"),
        "updated_at": "2026-03-01T10:00:00.000000Z",
    }


def messages(
    clients: list[dict[str, Any]] = (), documents: list[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "clients", "schema": CLIENT_SCHEMA, "key_properties": ["id"]},
        {
            "type": "SCHEMA",
            "stream": "documents",
            "schema": DOCUMENT_SCHEMA,
            "key_properties": ["id", "version"],
        },
    ]
    lines += [{"type": "RECORD", "stream": "clients", "record": c} for c in clients]
    lines += [{"type": "RECORD", "stream": "documents", "record": d} for d in documents]
    lines.append({"type": "STATE", "value": {"bookmarks": {"done": len(lines)}}})
    return lines


class Run:
    def __init__(self, completed: subprocess.CompletedProcess[str], reports: Path) -> None:
        self.completed = completed
        self.reports = reports
        self.states = [
            json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")
        ]

    @property
    def report(self) -> dict[str, Any]:
        newest = sorted(self.reports.glob("run-*.json"))[-1]
        return json.loads(newest.read_text())

    @property
    def markdown(self) -> str:
        return sorted(self.reports.glob("run-*.md"))[-1].read_text()

    @property
    def rejects(self) -> list[dict[str, Any]]:
        path = self.reports / "rejects.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]


@pytest.fixture
def run_target(office, tmp_path):
    reports = tmp_path / "reports"

    def run(lines: list[dict[str, Any]], expect_exit: int = 0, **settings: Any) -> Run:
        config = {
            "base_url": office.adminpulse_url,
            "api_key": office.adminpulse_token,
            "report_dir": str(reports),
            "requests_per_minute": 480,
            "uploads_per_minute": 600,
            **settings,
        }
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        completed = subprocess.run(
            [TARGET, "--config", str(config_path)],
            input="".join(json.dumps(line) + "\n" for line in lines),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert completed.returncode == expect_exit, completed.stderr[-3000:]
        return Run(completed, reports)

    return run


def relations_by_id(sandbox) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in sandbox.dump("adminpulse")["relations"]}


def uploaded(sandbox) -> list[dict[str, Any]]:
    return sandbox.dump("adminpulse")["documents"]


def without_sync_fields(relation: dict[str, Any]) -> dict[str, Any]:
    rest = copy.deepcopy(relation)
    for name in ("aml", "idCardExpiryDate", "modifiedDate"):
        rest.pop(name)
    return rest


# Relations and their compliance fields.


def test_cap_dates_risk_level_and_id_card_expiry_reach_the_relation_and_nothing_else(
    office, run_target
):
    before = relations_by_id(office)

    run = run_target(
        messages(
            clients=[
                client(
                    "cl_1", COMPANY_KBO, risk="high", acceptance="2026-02-01", review="2027-02-01"
                ),
                client(
                    "cl_2",
                    PERSON_NRN,
                    kind="person",
                    risk="standard",
                    acceptance="2026-02-02",
                    review="2027-02-02",
                    expiry="2031-05-02",
                ),
                client("cl_5", OTHER_KBO, risk="low"),
            ]
        )
    )

    after = relations_by_id(office)
    assert after[1]["aml"] == {
        "totalRisk": "high",
        "clientAcceptanceDate": "2026-02-01",
        "nextReviewDate": "2027-02-01",
    }
    assert after[2]["aml"] == {
        "totalRisk": "normal",
        "clientAcceptanceDate": "2026-02-02",
        "nextReviewDate": "2027-02-02",
    }
    assert after[2]["idCardExpiryDate"] == "2031-05-02"
    assert after[5]["aml"]["totalRisk"] == "low"
    for relation_id, old in before.items():
        assert without_sync_fields(after[relation_id]) == without_sync_fields(old)
    assert after[3] == before[3]
    assert after[4] == before[4]
    assert run.report["streams"]["clients"]["updated"] == 3


def test_a_relation_that_already_holds_the_values_gets_no_write(office, run_target):
    records = [
        client("cl_1", COMPANY_KBO, risk="high", acceptance="2026-02-01"),
        client(
            "cl_2",
            PERSON_NRN,
            kind="person",
            risk="standard",
            acceptance="2025-01-12",
            expiry="2029-01-01",
        ),
    ]
    run_target(messages(clients=records))
    office.reset_requests()

    second = run_target(messages(clients=records))

    assert office.request_count("adminpulse", method="PUT") == 0
    assert second.report["streams"]["clients"]["unchanged"] == 2
    assert second.report["writes_sent"] == 0


def test_the_risk_level_map_is_configurable(office, run_target):
    run_target(
        messages(clients=[client("cl_1", COMPANY_KBO, risk="standard")]),
        risk_level_map={"low": "low", "standard": "high", "high": "high"},
    )

    assert relations_by_id(office)[1]["aml"]["totalRisk"] == "high"


def test_a_risk_level_missing_from_the_map_rejects_that_client_only(office, run_target):
    run = run_target(
        messages(
            clients=[
                client("cl_1", COMPANY_KBO, risk="high"),
                client("cl_5", OTHER_KBO, risk="high", acceptance="2026-01-01"),
            ]
        ),
        risk_level_map={"low": "low"},
    )

    assert run.report["totals"]["rejected"] == 2
    assert "risk_level_map" in run.report["problems"][0]["action"]
    assert relations_by_id(office)[1]["aml"]["totalRisk"] is None


def test_a_client_holding_no_compliance_values_is_skipped_without_a_lookup(office, run_target):
    office.reset_requests()

    run = run_target(messages(clients=[client("cl_9", UNKNOWN_NRN, kind="person")]))

    assert run.report["streams"]["clients"]["skipped"] == 1
    assert office.request_count("adminpulse") == 0


# Relation lookup.


def test_each_relation_is_looked_up_once_per_run(office, run_target):
    office.reset_requests()

    run_target(
        messages(
            clients=[client("cl_1", COMPANY_KBO, risk="high")],
            documents=[
                document("doc_1", COMPANY_KBO, "verification_report", "created", 1),
                document("doc_2", COMPANY_KBO, "ubo_extract", "created", 1),
                document("doc_3", COMPANY_KBO, "cap_report", "submitted", 2),
            ],
        )
    )

    assert office.request_count("adminpulse", endpoint="/relations", method="GET") == 1


def test_a_client_without_relation_is_rejected_and_written_by_a_later_run(office, run_target):
    wanted = client("cl_7", UNKNOWN_NRN, kind="person", risk="high", expiry="2032-01-01")

    first = run_target(messages(clients=[wanted]))

    assert first.report["totals"]["rejected"] == 1
    problem = first.report["problems"][0]
    assert "no AdminPulse relation" in problem["reason"]
    masked = f"{UNKNOWN_NRN[0:2]}.{UNKNOWN_NRN[2:4]}.{UNKNOWN_NRN[4:6]}-***.**"
    assert problem["business_key"] == f"NRN {masked}"
    for text in (first.completed.stderr, first.markdown, json.dumps(first.report)):
        assert UNKNOWN_NRN not in text
        assert nn.format(UNKNOWN_NRN) not in text
    assert [entry["record"]["id"] for entry in first.rejects] == ["cl_7"]

    # The office adds the number to a relation; the next run has nothing new to read.
    world = office.dump()
    world["adminpulse"]["relations"].append(person(6, UNKNOWN_NRN))
    office.load(world)
    second = run_target(messages())

    assert relations_by_id(office)[6]["aml"]["totalRisk"] == "high"
    assert relations_by_id(office)[6]["idCardExpiryDate"] == "2032-01-01"
    assert second.report["replayed_rejects"] == {"written": 1}
    assert second.rejects == []


def test_a_number_on_two_relations_is_rejected_naming_both(office, run_target):
    run = run_target(messages(clients=[client("cl_3", SHARED_NRN, kind="person", risk="low")]))

    assert run.report["totals"]["rejected"] == 1
    assert "C00003" in run.report["problems"][0]["reason"]
    assert "C00004" in run.report["problems"][0]["reason"]
    assert relations_by_id(office)[3]["aml"]["totalRisk"] is None


def test_a_record_breaking_the_contract_is_rejected_and_its_neighbours_go_on(office, run_target):
    broken = client("cl_bad", "12AB", risk="high")
    good = client("cl_1", COMPANY_KBO, risk="high")

    run = run_target(messages(clients=[broken, good]))

    assert run.report["streams"]["clients"] == {
        "created": 0,
        "linked": 0,
        "updated": 1,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 1,
    }
    assert "input contract" in run.report["problems"][0]["reason"]
    assert "key" in run.report["problems"][0]["reason"]
    assert relations_by_id(office)[1]["aml"]["totalRisk"] == "high"


# Documents.

ALL_KINDS = [
    document("idf", COMPANY_KBO, "identification_form", "created", 1),
    document("idf", COMPANY_KBO, "identification_form", "submitted", 2),
    document("idf", COMPANY_KBO, "identification_form", "signed", 3),
    document("cap", COMPANY_KBO, "cap_report", "submitted", 2),
    document(
        "card_in",
        PERSON_NRN,
        "id_card",
        "created",
        1,
        client_type="person",
        origin="adminpulse_import",
    ),
    document("card_new", PERSON_NRN, "id_card", "created", 1, client_type="person"),
    document("ver", COMPANY_KBO, "verification_report", "created", 1),
    document("ubo", COMPANY_KBO, "ubo_extract", "signed", 1),
]


def test_every_document_version_is_uploaded_once_under_a_deterministic_name(office, run_target):
    run = run_target(messages(documents=ALL_KINDS))

    company = "00000000-0000-4000-8000-000000000001"
    person_uid = "00000000-0000-4000-8000-000000000002"
    by_name = {d["fileName"]: d for d in uploaded(office)}
    assert set(by_name) == {
        "amlcare_idf_identification_form_v2_unsigned.pdf",
        "amlcare_idf_identification_form_v3_signed.pdf",
        "amlcare_cap_cap_report_v2_unsigned.pdf",
        "amlcare_card_new_id_card_v1_unsigned.pdf",
        "amlcare_ver_verification_report_v1_unsigned.pdf",
        "amlcare_ubo_ubo_extract_v1_signed.pdf",
    }
    types = {t["name"]: t["id"] for t in office.dump("adminpulse")["documentTypes"]}
    signed_form = by_name["amlcare_idf_identification_form_v3_signed.pdf"]
    assert signed_form["relationIdentifier"] == company
    assert signed_form["documentType"] == types["AML identificatieformulier"]
    assert base64.b64decode(signed_form["content"]) == b"idf v3 signed"
    card = by_name["amlcare_card_new_id_card_v1_unsigned.pdf"]
    assert card["relationIdentifier"] == person_uid
    assert card["documentType"] == types["Identiteitskaart kopie"]
    assert (
        by_name["amlcare_ubo_ubo_extract_v1_signed.pdf"]["documentType"]
        == types["UBO-register uittreksel"]
    )
    assert run.report["streams"]["documents"]["created"] == 6
    assert run.report["streams"]["documents"]["skipped"] == 2
    assert run.report["skip_reasons"] == {
        "identification_form not submitted yet": 1,
        "ID card that came from AdminPulse through the import": 1,
    }

    office.reset_requests()
    again = run_target(messages(documents=ALL_KINDS))

    assert len(uploaded(office)) == 6
    assert office.request_count("adminpulse", endpoint="/documents/add") == 0
    assert again.report["streams"]["documents"]["unchanged"] == 6


def test_each_version_of_a_form_is_dated_when_it_was_made(office, run_target):
    # Submitted on 1 March, signed on 3 March: one sync after the signature sees both.
    versions = [
        document("idf", COMPANY_KBO, "identification_form", status, number)
        for number, status in ((1, "created"), (2, "submitted"), (3, "signed"))
    ]
    for version, made in zip(versions, ("02-28T09", "03-01T10", "03-03T16"), strict=True):
        version["version_created_at"] = f"2026-{made}:00:00.000000Z"
        version["updated_at"] = "2026-03-03T16:00:00.000000Z"

    run_target(messages(documents=versions))

    dates = {d["fileName"]: d["documentDate"] for d in uploaded(office)}
    assert dates == {
        "amlcare_idf_identification_form_v2_unsigned.pdf": "2026-03-01",
        "amlcare_idf_identification_form_v3_signed.pdf": "2026-03-03",
    }


def test_a_document_without_its_file_is_rejected_with_what_to_do(office, run_target):
    bare = document("ver", COMPANY_KBO, "verification_report", "created", 1)
    bare["content"] = None

    run = run_target(messages(documents=[bare]))

    assert run.report["totals"]["rejected"] == 1
    assert "include_document_content" in run.report["problems"][0]["action"]
    assert uploaded(office) == []


def test_a_document_type_name_adminpulse_lacks_stops_the_run_with_a_clear_message(run_target):
    run = run_target(
        messages(documents=[document("ver", COMPANY_KBO, "verification_report", "created", 1)]),
        expect_exit=2,
        document_type_map={"verification_report": "Verificatie"},
    )

    assert "Verificatie" in run.completed.stderr
    assert "document_type_map" in run.completed.stderr
    assert "Traceback" not in run.completed.stderr
    assert run.report["status"] == "failed"


def test_a_refused_api_key_stops_the_run_naming_the_setting(run_target):
    run = run_target(
        messages(clients=[client("cl_1", COMPANY_KBO, risk="high")]),
        expect_exit=2,
        api_key="wrong-key",
    )

    assert "api_key" in run.completed.stderr
    assert "wrong-key" not in run.completed.stderr
    assert "Traceback" not in run.completed.stderr


def test_each_bookmark_is_passed_on_once_the_records_before_it_are_written(run_target):
    lines = messages(clients=[client("cl_1", COMPANY_KBO, risk="high")])
    lines.insert(3, {"type": "STATE", "value": {"bookmarks": {"clients": "first"}}})

    run = run_target(lines)

    assert [state["bookmarks"] for state in run.states] == [
        {"clients": "first"},
        {"done": 3},
    ]
