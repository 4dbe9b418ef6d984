"""The target on its own: hand-written Singer input, real HTTP to the sandbox's AMLCare.

Each test writes a few records as AdminPulse would send them, runs the `target-amlcare` command
on them, and reads the outcome from the sandbox and from the run report.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from stdnum.be import nn

TARGET = [sys.executable, "-m", "target_amlcare.target"]
COMPANY_KBO = "0123456749"


def nrn(birth: str, counter: int) -> str:
    """A valid national register number for a birth date YYMMDD (born before 2000)."""
    base = f"{birth}{counter:03d}"
    number = f"{base}{97 - int(base) % 97:02d}"
    assert nn.is_valid(number)
    return number


def relation(uid: str, kind: str = "person", **fields) -> dict:
    return {
        "id": abs(hash(uid)) % 100000,
        "uniqueIdentifier": uid,
        "code": uid.upper(),
        "type": kind,
        "status": "customer",
        "name": uid,
        "displayName": uid,
        "firstName": None,
        "lastName": None,
        "vatNumber": None,
        "nationalRegisterNumber": None,
        "language": "nl",
        "email": None,
        "phone": None,
        "address": None,
        "responsibles": [],
        "tos": [],
        "endDate": None,
        "createdDate": "2026-01-01T10:00:00",
        "modifiedDate": "2026-01-01T10:00:00",
        **fields,
    }


def messages(relations: list[dict], documents: list[dict] = ()) -> str:
    lines = [
        {
            "type": "SCHEMA",
            "stream": "relations",
            "schema": {"properties": {}},
            "key_properties": ["id"],
        },
        *({"type": "RECORD", "stream": "relations", "record": r} for r in relations),
        {
            "type": "SCHEMA",
            "stream": "identity_documents",
            "schema": {"properties": {}},
            "key_properties": ["id"],
        },
        *({"type": "RECORD", "stream": "identity_documents", "record": d} for d in documents),
        # The state a tap ends a finished run on: the identity documents of the relations up to
        # the relations bookmark are all sent.
        {
            "type": "STATE",
            "value": {
                "bookmarks": {
                    "relations": {"replication_key_value": "x"},
                    "identity_documents": {"sent_for_relations_through": "x"},
                }
            },
        },
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


def run_target(
    sandbox, tmp_path: Path, text: str, **settings
) -> tuple[subprocess.CompletedProcess, dict]:
    config = {
        "base_url": sandbox.amlcare_url,
        "api_key": sandbox.amlcare_key,
        "report_dir": str(tmp_path / "reports"),
        "requests_per_minute": 20000,
        **settings,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    completed = subprocess.run(
        [*TARGET, "--config", str(tmp_path / "config.json")],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    reports = sorted((tmp_path / "reports").glob("*.json"))
    return completed, json.loads(reports[-1].read_text())


def clients(sandbox) -> dict[str, dict]:
    return {c["key"]: c for c in sandbox.dump("amlcare")["clients"]}


def test_a_bad_record_is_rejected_with_its_reason_and_its_neighbours_are_imported(
    sandbox, tmp_path
):
    good = relation("good", nationalRegisterNumber=nrn("850730", 33))
    bad_kbo = relation("bad-kbo", "company", vatNumber="0123456748")
    broken = relation("broken")
    del broken["status"]

    completed, report = run_target(sandbox, tmp_path, messages([bad_kbo, good, broken]))

    assert set(clients(sandbox)) == {nrn("850730", 33)}
    reasons = {p["relation"]: p["message"] for p in report["problems"] if p["rejected"]}
    assert "invalid KBO number" in reasons["bad-kbo"]
    assert "'status' is a required property" in reasons["broken"]
    assert completed.stdout.strip()  # the state, once everything was written


def test_prospects_and_ended_relations_are_left_out_unless_configured(sandbox, tmp_path):
    prospect = relation("prospect", status="prospect", nationalRegisterNumber=nrn("700101", 1))
    ended = relation("ended", endDate="2020-01-01", nationalRegisterNumber=nrn("700101", 3))
    text = messages([prospect, ended])

    _, report = run_target(sandbox, tmp_path, text)
    assert clients(sandbox) == {}
    assert report["counts"]["skipped_status_prospect"] == 1
    assert report["counts"]["skipped_ended"] == 1

    run_target(
        sandbox,
        tmp_path,
        text,
        import_statuses=["customer", "prospect"],
        include_ended_relations=True,
    )
    assert set(clients(sandbox)) == {nrn("700101", 1), nrn("700101", 3)}


def test_a_person_who_is_ubo_of_two_companies_is_one_client_with_two_relations(sandbox, tmp_path):
    person = relation("ubo", status="other", nationalRegisterNumber="85.07.30-033.28")
    links = [{"linkType": 2, "uniqueIdentifier": "ubo"}, {"linkType": 4, "uniqueIdentifier": "ubo"}]
    first = relation("first", "company", vatNumber="BE 0123.456.749", tos=links)
    second = relation("second", "company", vatNumber="0403.170.701", tos=links[:1])

    run_target(sandbox, tmp_path, messages([first, second, person]))

    amlcare = sandbox.dump("amlcare")
    persons = [c for c in amlcare["clients"] if c["type"] == "person"]
    assert [p["key"] for p in persons] == [nrn("850730", 33)]
    roles = sorted((r["company_id"], r["role"]) for r in amlcare["relations"])
    assert len(roles) == 3
    assert {r["person_id"] for r in amlcare["relations"]} == {persons[0]["id"]}


def test_cards_are_attached_to_a_new_client_once_and_never_to_an_existing_one(sandbox, tmp_path):
    new = relation("new", nationalRegisterNumber=nrn("900512", 11))
    card = {
        "id": 41,
        "relationIdentifier": "new",
        "documentTypeName": "eID",
        "fileName": "eid.jpg",
        "publicOnPortal": True,
        "contentType": "image/jpeg",
        "content": "/9j/AAEC",
    }
    hidden = {**card, "id": 42, "publicOnPortal": False, "content": None}
    text = messages([new], [card, hidden])

    _, report = run_target(sandbox, tmp_path, text)
    _, again = run_target(sandbox, tmp_path, text)

    documents = sandbox.dump("amlcare")["documents"]
    assert [(d["external_ref"], d["origin"], d["kind"]) for d in documents] == [
        ("41", "adminpulse_import", "id_card")
    ]
    assert report["counts"]["identity_documents_attached"] == 1
    assert report["counts"]["identity_documents_not_public"] == 1
    assert again["counts"]["identity_documents_left_alone"] == 1
    assert again["counts"]["unchanged"] == 1


def test_a_dry_run_writes_nothing_and_emits_no_state(sandbox, tmp_path):
    sandbox.reset_requests()

    completed, report = run_target(
        sandbox,
        tmp_path,
        messages([relation("p", nationalRegisterNumber=nrn("800101", 5))]),
        dry_run=True,
    )

    assert report["counts"]["created"] == 1
    assert clients(sandbox) == {}
    assert all(
        row["method"] == "GET" or row["endpoint"].endswith("lookup")
        for row in sandbox.requests("amlcare")
    )
    assert completed.stdout.strip() == ""


def test_a_wrong_api_key_stops_the_run_naming_the_setting(sandbox, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"base_url": sandbox.amlcare_url, "api_key": "wrong-key"}))

    completed = subprocess.run(
        [*TARGET, "--config", str(config)],
        input=messages([relation("p", nationalRegisterNumber=nrn("800101", 5))]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 1
    assert "api_key" in completed.stderr
    assert "wrong-key" not in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize("typed", ["0123.456.749", "BE0123456749", "123456749"])
def test_a_company_is_found_by_its_kbo_number_however_it_was_typed(sandbox, tmp_path, typed):
    run_target(sandbox, tmp_path, messages([relation("a", "company", vatNumber=COMPANY_KBO)]))

    _, report = run_target(sandbox, tmp_path, messages([relation("b", "company", vatNumber=typed)]))

    assert report["counts"]["unchanged"] == 1
    assert list(clients(sandbox)) == [COMPANY_KBO]


def test_an_input_cut_short_before_the_tap_finished_completes_no_client_and_emits_no_state(
    sandbox, tmp_path
):
    card = {
        "id": 7,
        "relationIdentifier": "cut",
        "documentTypeName": "eID",
        "fileName": "eid-front-CUT.jpg",
        "publicOnPortal": True,
        "content": "AAECAw==",
        "contentType": "image/jpeg",
    }
    whole = messages([relation("cut", nationalRegisterNumber=nrn("850730", 33))], [card])
    # A tap killed after sending the card, before its last state: the input just ends.
    cut = "".join(line + "\n" for line in whole.splitlines()[:-1])
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "base_url": sandbox.amlcare_url,
                "api_key": sandbox.amlcare_key,
                "report_dir": str(tmp_path / "reports"),
            }
        )
    )

    completed = subprocess.run(
        [*TARGET, "--config", str(config)],
        input=cut,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 1
    assert "The input ended before the tap had sent every identity document" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stdout.strip() == ""  # no state: the bookmark stays where it was
    assert clients(sandbox)[nrn("850730", 33)]["import_status"] == "pending"

    completed, _ = run_target(sandbox, tmp_path, whole)

    assert clients(sandbox)[nrn("850730", 33)]["import_status"] == "complete"
    assert completed.stdout.strip()


def test_a_run_stopped_by_a_signal_emits_no_state_and_says_so(sandbox, tmp_path):
    person = relation("stopped", nationalRegisterNumber=nrn("850730", 33))
    card = {"id": 8, "relationIdentifier": "stopped", "publicOnPortal": True, "content": "AA=="}
    lines = messages([person]).splitlines()
    state = lines.pop()  # the tap's state comes before the card this time, as it may
    lines[-1:-1] = [state]
    lines.append(json.dumps({"type": "RECORD", "stream": "identity_documents", "record": card}))
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "base_url": sandbox.amlcare_url,
                "api_key": sandbox.amlcare_key,
                "report_dir": str(tmp_path / "reports"),
            }
        )
    )
    target = subprocess.Popen(
        [*TARGET, "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    target.stdin.write("".join(line + "\n" for line in lines))
    target.stdin.flush()  # the input stays open: the tap is still running
    for line in target.stderr:
        if "Planned 1 person" in line:  # the state was read, the import has begun
            break

    target.send_signal(signal.SIGTERM)
    stdout, stderr = target.communicate(timeout=60)

    assert target.returncode == 128 + signal.SIGTERM
    assert stdout.strip() == ""  # no state: the bookmark stays where it was
    assert "Stopped by SIGTERM before the import finished" in stderr
