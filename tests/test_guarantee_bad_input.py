"""Bad input, fed through the whole pipeline: each bad record is one clear entry in the report,
the run goes on, and the valid records next to it arrive.

Two worlds are loaded into the sandbox: an AdminPulse office with malformed relations and
identity cards beside valid ones (for the nightly import), and an AMLCare with malformed clients
and documents beside valid ones (for the outbound sync). Each job runs once through Meltano.
Then each target is fed Singer messages that break its input contract, directly.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from amlsync_sandbox.generator import generate_world
from amlsync_sandbox.testing import SandboxProcess
from final_state import final_state
from guarantee_runs import IMPORT_JOB, OUTBOUND_JOB, PROJECT_ROOT, Office, new_office
from stdnum.be import bis, nn, vat

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

SEED = 3  # both identity document types are public on portal by default
CLIENTS = 6
MARKUP = '<script>alert("x")</script>'
# Larger than the 20 MB a record carries: the taps leave such a file out, and say why.
OVERSIZED_FILE = b"\xff\xd8\xff\xe0" + b"\0" * (21 * 1024 * 1024)
TARGET_AMLCARE = PROJECT_ROOT / ".meltano" / "loaders" / "target-amlcare" / "venv" / "bin"
TARGET_ADMINPULSE = PROJECT_ROOT / ".meltano" / "loaders" / "target-adminpulse" / "venv" / "bin"


def nrn(birth: str, counter: int, *, since_2000: bool = False) -> str:
    """A valid national register number (or BIS number, month + 20 or + 40)."""
    base = f"{birth}{counter:03d}"
    number = f"{base}{97 - int(('2' if since_2000 else '') + base) % 97:02d}"
    assert nn.is_valid(number) or bis.is_valid(number)
    return number


def with_check_digits(first_nine: str) -> str:
    """Eleven digits whose check digits fit the first nine (a birth before 2000), valid or not."""
    return f"{first_nine}{97 - int(first_nine) % 97:02d}"


def kbo(first_eight: str) -> str:
    """A ten-digit number with valid KBO check digits (valid as a KBO number or not)."""
    return f"{first_eight}{97 - int(first_eight) % 97:02d}"


def wrong_check(number: str) -> str:
    return number[:-2] + f"{(int(number[-2:]) + 1) % 100:02d}"


# The nightly import.


@dataclass(frozen=True)
class ImportCase:
    """One AdminPulse customer, and what the import must make of it."""

    code: str
    base: str  # the relation type copied: person, company or soleProprietor
    fields: dict[str, Any]
    imported: bool
    says: str = ""  # a phrase of the one problem reported about it ("" when none)
    card: bytes | None = None  # an eID document of the relation


BORN_1985 = nrn("850730", 33)
KBO_VALID = kbo("04035708")
IMPORT_CASES = [
    ImportCase("P-WRONG-CHECK", "person", {"nationalRegisterNumber": wrong_check(BORN_1985)},
               False, "invalid national register number (The number's checksum or check digit"),
    ImportCase("P-TOO-SHORT", "person", {"nationalRegisterNumber": "8507300"},
               False, "invalid national register number (The number has an invalid length"),
    ImportCase("P-LETTERS", "person", {"nationalRegisterNumber": "85O73O-033.28"},
               False, "invalid national register number (The number has an invalid format"),
    ImportCase("P-IMPOSSIBLE-BIRTH", "person",
               {"nationalRegisterNumber": with_check_digits("851330033")},
               False, "invalid national register number"),
    ImportCase("P-BIS", "person", {"nationalRegisterNumber": nrn("854730", 41)}, True),
    ImportCase("P-BIS-WRONG-CHECK", "person",
               {"nationalRegisterNumber": wrong_check(nrn("852730", 43))},
               False, "invalid national register number (The number's checksum or check digit"),
    ImportCase("P-BORN-1985-FORMATTED", "person",
               {"nationalRegisterNumber": f"85.07.30-{BORN_1985[6:9]}.{BORN_1985[9:]}"}, True),
    ImportCase("P-BORN-2015", "person",
               {"nationalRegisterNumber": nrn("150412", 7, since_2000=True)}, True),
    ImportCase("P-BORN-2005-LOST-ZERO", "person",
               {"nationalRegisterNumber": nrn("050412", 9, since_2000=True)[1:]}, True),
    ImportCase("P-MARKUP", "person", {"nationalRegisterNumber": nrn("700101", 11),
               "firstName": MARKUP, "name": f"{MARKUP} Peeters"}, True),
    ImportCase("P-CONTROL", "person", {"nationalRegisterNumber": nrn("700101", 13),
               "lastName": "Peeters\x1b[31m", "name": "Jan\x00 Peeters"},
               False, "breaks the input contract: name: contains control characters"),
    ImportCase("P-LONG", "person", {"nationalRegisterNumber": nrn("700101", 15),
               "lastName": "L" * 100_000, "name": "L" * 100_000},
               False, "is longer than 255 characters"),
    ImportCase("P-LANGUAGE", "person", {"nationalRegisterNumber": nrn("700101", 17),
               "language": "tlh"}, False, "AMLCare refused it: language must be one of"),
    ImportCase("P-EMAIL", "person", {"nationalRegisterNumber": nrn("700101", 19),
               "email": "jan at example"}, False, "AMLCare refused it: email is not a valid"),
    ImportCase("P-TYPE", "person", {"nationalRegisterNumber": nrn("700101", 21),
               "type": "partnership"}, False, "type: is none of person, company, soleProprietor"),
    ImportCase("P-STATUS", "person", {"nationalRegisterNumber": nrn("700101", 23),
               "status": "archived"}, False, "status: is none of customer, prospect"),
    ImportCase("P-NO-STATUS", "person", {"nationalRegisterNumber": nrn("700101", 25),
               "status": None}, False, "status: is none of customer, prospect"),
    ImportCase("P-END-DATE", "person", {"nationalRegisterNumber": nrn("700101", 27),
               "endDate": "2031-02-30"}, False, "endDate: is not a real date"),
    ImportCase("P-EMPTY-CARD", "person", {"nationalRegisterNumber": nrn("700101", 29)},
               True, "is an empty file", card=b""),
    ImportCase("P-OVERSIZED-CARD", "person", {"nationalRegisterNumber": nrn("700101", 31)},
               True, "MB, more than the 20 MB the import carries", card=OVERSIZED_FILE),
    ImportCase("P-GOOD-CARD", "person", {"nationalRegisterNumber": nrn("700101", 33)},
               True, card=b"\xff\xd8\xff\xe0 a real card"),
    ImportCase("C-WRONG-CHECK", "company", {"vatNumber": wrong_check(KBO_VALID)},
               False, "invalid KBO number (The number's checksum or check digit"),
    ImportCase("C-TOO-SHORT", "company", {"vatNumber": "12345"},
               False, "invalid KBO number (The number has an invalid length"),
    ImportCase("C-LETTERS", "company", {"vatNumber": "BE0A23.456.749"},
               False, "invalid KBO number (The number has an invalid format"),
    ImportCase("C-ESTABLISHMENT-UNIT", "company", {"vatNumber": kbo("21234567")},
               False, "invalid KBO number"),
    ImportCase("C-SINCE-2023", "company", {"vatNumber": kbo("10012345")}, True),
    ImportCase(f"C-{MARKUP}", "company", {"vatNumber": "0000000000"},
               False, "invalid KBO number"),
    ImportCase("S-NO-KBO", "soleProprietor", {"nationalRegisterNumber": nrn("700101", 35),
               "vatNumber": None}, False, "sole proprietor with no KBO number"),
]  # fmt: skip


@dataclass
class ImportRun:
    """The office, the one nightly import run over it, and what it left."""

    world: dict[str, Any]
    relations: dict[str, dict[str, Any]]  # code → relation, for the cases
    office: Office
    completed: subprocess.CompletedProcess[str]
    amlcare: dict[str, Any]
    report: dict[str, Any]
    markdown: str
    html: str


def office_with_bad_relations() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A generated office with one customer per case beside its valid ones."""
    world = generate_world(CLIENTS, seed=SEED)
    adminpulse = world["adminpulse"]
    amlcare_emails = {u["email"].lower() for u in world["amlcare"]["users"] if u["active"]}
    user = next(u for u in adminpulse["users"] if u["email"].lower() in amlcare_emails)
    bases = {
        kind: next(r for r in adminpulse["relations"] if r["type"] == kind)
        for kind in ("person", "company", "soleProprietor")
    }
    relation_id = max(r["id"] for r in adminpulse["relations"])
    document_id = max(d["id"] for d in adminpulse["documents"])
    relations = {}
    for number, case in enumerate(IMPORT_CASES, start=1):
        relation = copy.deepcopy(bases[case.base])
        relation.update(
            {
                "id": relation_id + number,
                "uniqueIdentifier": f"00000000-0000-4000-8000-{number:012d}",
                "code": case.code,
                "status": "customer",
                "endDate": None,
                "tos": [],
                "responsibles": [{"userId": user["id"], "profile": "Dossierbeheerder"}],
                **case.fields,
            }
        )
        adminpulse["relations"].append(relation)
        relations[case.code] = relation
        if case.card is not None:
            card = copy.deepcopy(adminpulse["documents"][0])
            card.update(
                id=document_id + number,
                relationIdentifier=relation["uniqueIdentifier"],
                documentType=1,
                fileName=f"eid-front-{number}.jpg",
                publicOnPortal=True,
                size=len(case.card),
                content=base64.b64encode(case.card).decode("ascii"),
            )
            adminpulse["documents"].append(card)
    return world, relations


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Iterator[ImportRun]:
    folder = tmp_path_factory.mktemp("bad-import")
    world, relations = office_with_bad_relations()
    with SandboxProcess(folder / "world.db") as sandbox:
        sandbox.load(world)
        office = new_office(sandbox, folder / "project")
        completed = office.run("run", IMPORT_JOB, check=False)
        reports = office.import_reports
        yield ImportRun(
            world=world,
            relations=relations,
            office=office,
            completed=completed,
            amlcare=sandbox.dump("amlcare"),
            report=json.loads(next(reports.glob("import-*.json")).read_text()),
            markdown=next(reports.glob("import-*.md")).read_text(),
            html=next(reports.glob("import-*.html")).read_text(),
        )


def client_key(relation: dict[str, Any]) -> str:
    """The AMLCare key a valid relation gets: its NRN (persons) or KBO number, as digits."""
    if relation["type"] == "company":
        return vat.compact(relation["vatNumber"])
    digits = "".join(char for char in relation["nationalRegisterNumber"] if char.isdigit())
    return digits.zfill(11)


def test_the_import_with_bad_records_runs_to_its_end(imported):
    assert imported.completed.returncode == 0, imported.completed.stderr[-3000:]
    assert "Traceback" not in imported.completed.stderr
    rejected = [case for case in IMPORT_CASES if not case.imported]
    assert imported.report["counts"]["rejected"] == len(rejected)


@pytest.mark.parametrize("case", IMPORT_CASES, ids=[case.code for case in IMPORT_CASES])
def test_each_bad_relation_is_one_clear_entry_and_each_valid_one_arrives(imported, case):
    relation = imported.relations[case.code]
    clients = {c["external_ref"]: c for c in imported.amlcare["clients"]}
    about = [
        p for p in imported.report["problems"] if p["relation"] == relation["uniqueIdentifier"]
    ]

    if case.says:
        assert len(about) == 1, about
        assert case.says in about[0]["message"]
        assert about[0]["action"]
        assert about[0]["rejected"] is not case.imported
    else:
        assert about == []
    if case.imported:
        client = clients[relation["uniqueIdentifier"]]
        assert client["key"] == client_key(relation)
        assert client["import_status"] == "complete"
    else:
        assert relation["uniqueIdentifier"] not in clients


def test_the_offices_valid_clients_arrive_next_to_the_bad_ones(imported):
    keys = {c["key"] for c in imported.amlcare["clients"]}
    rejected = {p["relation"] for p in imported.report["problems"] if p["rejected"]}
    generated = generate_world(CLIENTS, seed=SEED)["adminpulse"]["relations"]
    customers = [r for r in generated if r["status"] == "customer" and r["endDate"] is None]

    assert customers
    for relation in customers:
        if relation["uniqueIdentifier"] not in rejected:
            assert client_key(relation) in keys, relation["code"]


def test_only_the_good_card_is_attached(imported):
    by_ref = {c["external_ref"]: c["id"] for c in imported.amlcare["clients"]}
    cards = {
        code: [
            d
            for d in imported.amlcare["documents"]
            if d["client_id"] == by_ref[imported.relations[code]["uniqueIdentifier"]]
        ]
        for code in ("P-GOOD-CARD", "P-EMPTY-CARD", "P-OVERSIZED-CARD")
    }

    assert [d["kind"] for d in cards["P-GOOD-CARD"]] == ["id_card"]
    assert cards["P-EMPTY-CARD"] == []
    assert cards["P-OVERSIZED-CARD"] == []


def test_markup_is_kept_as_text_in_amlcare_and_never_rendered_by_a_report(imported):
    person = imported.relations["P-MARKUP"]
    client = next(
        c for c in imported.amlcare["clients"] if c["external_ref"] == person["uniqueIdentifier"]
    )

    assert client["first_name"] == MARKUP
    assert MARKUP not in imported.html
    assert MARKUP not in imported.markdown
    assert "&lt;script&gt;" in imported.html
    assert "&lt;script&gt;" in imported.markdown


# The outbound sync.


@dataclass
class OutboundCase:
    """One AMLCare record, and the phrase of the one problem the sync must report about it."""

    record_id: str
    says: str


@dataclass
class OutboundRun:
    world: dict[str, Any]
    cases: list[OutboundCase]
    spoiled_relations: set[int]  # AdminPulse relations whose AMLCare client was made bad
    completed: subprocess.CompletedProcess[str]
    report: dict[str, Any]
    after: dict[str, list[str]]  # final_state() after the sync
    clean_after: dict[str, list[str]]  # final_state() after a sync of the world before spoiling
    rejects: list[dict[str, Any]] = field(default_factory=list)


def amlcare_with_bad_records(world: dict[str, Any]) -> tuple[list[OutboundCase], set[int]]:
    """Spoil two matched clients, add three bad clients and three bad documents."""
    amlcare, adminpulse = world["amlcare"], world["adminpulse"]
    relation_of = {}
    for relation in adminpulse["relations"]:
        for typed, length in (
            (relation["vatNumber"], 10),
            (relation["nationalRegisterNumber"], 11),
        ):
            digits = "".join(char for char in typed or "" if char.isdigit())
            if digits:
                relation_of[digits.zfill(length)] = relation
    matched = [c for c in amlcare["clients"] if c["key"] in relation_of]
    persons = [c for c in matched if c["type"] == "person"]
    company = next(c for c in matched if c["type"] == "company")

    persons[0]["risk_level"] = "extreme"
    persons[1]["cap"] = {
        "status": "accepted",
        "acceptance_date": "2026-02-30",
        "next_review_date": "2027-02-28",
    }
    cases = [
        OutboundCase(persons[0]["id"], "risk level 'extreme' has no entry in risk_level_map"),
        OutboundCase(persons[1]["id"], "cap.acceptance_date"),
    ]
    for client_id, key, says in (
        ("cl_key_formatted", "85.07.30-033.28", "key: has the wrong shape"),
        ("cl_key_missing", None, "key: fails type string"),
        ("cl_key_wrong_check", wrong_check(BORN_1985), "is not valid"),
    ):
        client = copy.deepcopy(persons[2])
        client.update(id=client_id, key=key, external_ref=None, risk_level="high")
        amlcare["clients"].append(client)
        cases.append(OutboundCase(client_id, says))

    template = amlcare["documents"][0]
    for document_id, kind, content, says in (
        ("doc_unknown_kind", "passport", b"%PDF a passport", "kind: must be one of"),
        ("doc_empty", "verification_report", b"", "the file is empty"),
        ("doc_oversized", "verification_report", OVERSIZED_FILE, "more than the 20 MB"),
    ):
        document = copy.deepcopy(template)
        document.update(
            id=document_id,
            client_id=company["id"],
            client_type="company",
            client_key=company["key"],
            kind=kind,
            status="submitted",
            version=1,
            file_name=f"{document_id}.pdf",
            size=len(content),
            external_ref=None,
        )
        document["versions"] = [
            {
                "version": 1,
                "status": "submitted",
                "file_name": f"{document_id}.pdf",
                "size": len(content),
                "created_at": document["created_at"],
                "content": base64.b64encode(content).decode("ascii"),
            }
        ]
        amlcare["documents"].append(document)
        cases.append(OutboundCase(document_id, says))
    spoiled = {relation_of[c["key"]]["id"] for c in persons[:2]}
    return cases, spoiled


def sync_once(folder: Path, world: dict[str, Any]) -> tuple[Office, Any, dict[str, Any]]:
    with SandboxProcess(folder / "world.db") as sandbox:
        sandbox.load(world)
        office = new_office(sandbox, folder / "project")
        completed = office.run("run", OUTBOUND_JOB, check=False)
        return office, completed, sandbox.dump()


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> OutboundRun:
    folder = tmp_path_factory.mktemp("bad-outbound")
    clean_world = generate_world(8, seed=SEED)
    world = copy.deepcopy(clean_world)
    cases, spoiled = amlcare_with_bad_records(world)

    _, clean, clean_dump = sync_once(folder / "clean", clean_world)
    assert clean.returncode == 0, clean.stderr[-3000:]
    office, completed, dump = sync_once(folder / "bad", world)
    report = json.loads(sorted(office.outbound_reports.glob("run-*.json"))[-1].read_text())
    rejects_file = office.outbound_reports / "rejects.jsonl"
    return OutboundRun(
        world=world,
        cases=cases,
        spoiled_relations=spoiled,
        completed=completed,
        report=report,
        after=final_state(dump, world),
        clean_after=final_state(clean_dump, clean_world),
        rejects=[json.loads(line) for line in rejects_file.read_text().splitlines()],
    )


def test_the_outbound_sync_with_bad_records_runs_to_its_end(synced):
    assert synced.completed.returncode == 0, synced.completed.stderr[-3000:]
    assert "Traceback" not in synced.completed.stderr
    assert synced.report["status"] == "completed"
    assert synced.report["totals"]["rejected"] == len(synced.cases)


@pytest.mark.parametrize("position", range(8))
def test_each_bad_amlcare_record_is_one_clear_entry_and_waits_for_a_fix(synced, position):
    case = synced.cases[position]

    about = [p for p in synced.report["problems"] if p["record_id"].startswith(case.record_id)]

    assert len(about) == 1, about
    assert case.says in about[0]["reason"]
    assert about[0]["action"]
    assert any(entry["record"]["id"] == case.record_id for entry in synced.rejects)


def test_every_valid_neighbour_arrives_as_in_a_sync_without_the_bad_records(synced):
    assert synced.after["adminpulse.documents"] == synced.clean_after["adminpulse.documents"]

    def untouched(relations: list[str]) -> list[str]:
        return [r for r in relations if json.loads(r)["id"] not in synced.spoiled_relations]

    assert untouched(synced.after["adminpulse.relations"]) == untouched(
        synced.clean_after["adminpulse.relations"]
    )


# Singer messages that break a target's input contract, fed to the target directly.


def singer(*messages: dict[str, Any]) -> str:
    return "".join(json.dumps(message) + "\n" for message in messages)


def schema(stream: str) -> dict[str, Any]:
    return {"type": "SCHEMA", "stream": stream, "schema": {"properties": {}}, "key_properties": []}


def record(stream: str, body: Any) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": body}


def run_target(executable: Path, config: dict[str, Any], folder: Path, text: str) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**config, "report_dir": str(folder)}))
    return subprocess.run(
        [str(executable), "--config", str(folder / "config.json")],
        input=text,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_target_amlcare_rejects_records_that_break_its_contract_and_imports_the_rest(
    sandbox, tmp_path
):
    world = generate_world(2, seed=SEED)
    sandbox.load(world)
    good = copy.deepcopy(next(r for r in world["adminpulse"]["relations"] if r["type"] == "person"))
    good.update(status="customer", tos=[], nationalRegisterNumber=nrn("640229", 2), code="GOOD")
    broken = {
        "uid-as-number": dict(good, uniqueIdentifier=42, code="UID"),
        "tos-not-a-list": dict(good, uniqueIdentifier="tos", tos="none", code="TOS"),
        "responsible-without-user": dict(
            good, uniqueIdentifier="resp", responsibles=[{"profile": "x"}], code="RESP"
        ),
    }
    card = {
        "id": 9001,
        "relationIdentifier": good["uniqueIdentifier"],
        "documentTypeName": "eID",
        "fileName": "front.jpg",
        "publicOnPortal": True,
        "content": "%%% not base64 %%%",
    }
    finished = {
        "type": "STATE",
        "value": {
            "bookmarks": {
                "relations": {"replication_key_value": "x"},
                "identity_documents": {"sent_for_relations_through": "x"},
            }
        },
    }

    completed = run_target(
        TARGET_AMLCARE / "target-amlcare",
        {"base_url": sandbox.amlcare_url, "api_key": sandbox.amlcare_key},
        tmp_path / "amlcare",
        singer(
            schema("users"),
            record("users", {"id": "not a number", "email": "x@example.be"}),
            schema("relations"),
            *(record("relations", body) for body in (*broken.values(), good)),
            schema("identity_documents"),
            record("identity_documents", dict(card, id="seven")),
            record("identity_documents", card),
            finished,
        ),
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip()  # the state: the run finished
    report = json.loads(next((tmp_path / "amlcare").glob("import-*.json")).read_text())
    messages = [p["message"] for p in report["problems"]]
    assert sum("uniqueIdentifier: does not satisfy type" in m for m in messages) == 1
    assert sum("tos: does not satisfy type" in m for m in messages) == 1
    assert sum("'userId' is a required property" in m for m in messages) == 1
    assert sum("id: does not satisfy type" in m for m in messages) == 2  # the user, the card
    assert sum("the file is not valid base64" in m for m in messages) == 1
    clients = {c["key"]: c for c in sandbox.dump("amlcare")["clients"]}
    assert clients[nrn("640229", 2)]["import_status"] == "complete"


def test_target_adminpulse_rejects_records_that_break_its_contract_and_writes_the_rest(
    sandbox, tmp_path
):
    world = generate_world(8, seed=SEED)
    sandbox.load(world)
    relation = next(
        r
        for r in world["adminpulse"]["relations"]
        if r["type"] == "company" and r["vatNumber"] and vat.is_valid(vat.compact(r["vatNumber"]))
    )
    key = vat.compact(relation["vatNumber"])
    good = {
        "id": "cl_good",
        "type": "company",
        "key": key,
        "risk_level": "high",
        "cap": {"acceptance_date": "2026-10-01", "next_review_date": "2027-10-01"},
        "updated_at": "2026-11-30T10:00:00.000000Z",
    }
    document = {
        "id": "doc_good",
        "client_type": "company",
        "client_key": key,
        "kind": "verification_report",
        "status": "submitted",
        "version": 1,
        "file_name": "report.pdf",
        "content": base64.b64encode(b"%PDF a report").decode("ascii"),
        "updated_at": "2026-11-30T10:00:00.000000Z",
    }

    completed = run_target(
        TARGET_ADMINPULSE / "target-adminpulse",
        {"base_url": sandbox.adminpulse_url, "api_key": sandbox.adminpulse_token},
        tmp_path / "adminpulse",
        singer(
            schema("clients"),
            record("clients", dict(good, id="cl_key_number", key=int(key))),
            record("clients", dict(good, id="cl_cap_text", cap="accepted")),
            record("clients", good),
            schema("documents"),
            record("documents", dict(document, id="doc_version_text", version="two")),
            record("documents", dict(document, id="doc_status", status="archived")),
            record("documents", dict(document, id="doc_not_base64", content="%%%")),
            record("documents", document),
            {"type": "STATE", "value": {"bookmarks": {"documents": {"x": 1}}}},
        ),
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(next((tmp_path / "adminpulse").glob("run-*.json")).read_text())
    reasons = {p["record_id"].split()[0]: p["reason"] for p in report["problems"]}
    assert set(reasons) == {
        "cl_key_number",
        "cl_cap_text",
        "doc_version_text",
        "doc_status",
        "doc_not_base64",
    }
    assert "key: fails type string" in reasons["cl_key_number"]
    assert "cap: fails type" in reasons["cl_cap_text"]
    assert "version: fails type integer" in reasons["doc_version_text"]
    assert "status: must be one of" in reasons["doc_status"]
    assert "not valid base64" in reasons["doc_not_base64"]
    after = next(r for r in sandbox.dump("adminpulse")["relations"] if r["id"] == relation["id"])
    assert after["aml"]["totalRisk"] == "high"
    names = [d["fileName"] for d in sandbox.dump("adminpulse")["documents"]]
    assert "amlcare_doc_good_verification_report_v1_unsigned.pdf" in names


@pytest.mark.parametrize(
    ("executable", "text", "says"),
    [
        (TARGET_AMLCARE / "target-amlcare", "this is not json\n", "Unable to parse line as JSON"),
        (
            TARGET_ADMINPULSE / "target-adminpulse",
            singer(record("clients", {"id": "x"})),
            "before a corresponding schema",
        ),
    ],
    ids=["not-json", "record-before-schema"],
)
def test_a_broken_singer_stream_stops_the_target_loudly_without_moving_a_bookmark(
    sandbox, tmp_path, executable, text, says
):
    config = {
        "base_url": sandbox.amlcare_url if "amlcare" in executable.name else sandbox.adminpulse_url,
        "api_key": sandbox.amlcare_key
        if "amlcare" in executable.name
        else sandbox.adminpulse_token,
    }
    completed = run_target(executable, config, tmp_path, text)

    assert completed.returncode != 0
    assert says in completed.stderr
    assert completed.stdout.strip() == ""
