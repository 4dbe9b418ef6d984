"""What a run keeps on disk: it comes back as it went in, in order, once per key.

The import keeps its relations, plans, AMLCare ids, problems and rejects in a scratch SQLite
file so that its memory does not grow with the office; these tests pin that nothing is lost or
reordered on the way, past the size of one read batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from target_amlcare.relation_store import (
    READ_BATCH,
    DiskDict,
    DiskList,
    ScratchDatabase,
    SpooledRejects,
)
from target_amlcare.report import Problem, ProblemLog, RunReport, read_trend, report_head

MORE_THAN_A_BATCH = READ_BATCH * 2 + 7


@pytest.fixture
def scratch() -> Iterator[ScratchDatabase]:
    database = ScratchDatabase()
    yield database
    database.close()


def test_a_dictionary_gives_back_every_value_in_arrival_order(scratch):
    relations: DiskDict[dict] = DiskDict(scratch, "relations")
    for number in range(MORE_THAN_A_BATCH):
        relations[f"uid-{number}"] = {"code": number, "tos": [{"linkType": 2}]}

    assert len(relations) == MORE_THAN_A_BATCH
    assert [key for key, _ in relations.items()] == [
        f"uid-{number}" for number in range(MORE_THAN_A_BATCH)
    ]
    assert relations["uid-600"] == {"code": 600, "tos": [{"linkType": 2}]}
    assert "uid-600" in relations
    assert "uid-missing" not in relations
    assert relations.get("uid-missing") is None
    with pytest.raises(KeyError):
        relations["uid-missing"]


def test_a_key_set_twice_keeps_its_first_place_and_its_latest_value(scratch):
    clients: DiskDict[str] = DiskDict(scratch, "clients")
    clients["a"] = "first"
    clients["b"] = "other"
    clients["a"] = "latest"

    assert list(clients.items()) == [("a", "latest"), ("b", "other")]
    assert len(clients) == 2
    assert clients.setdefault("a", "ignored") == "latest"
    assert clients.setdefault("c", "new") == "new"
    assert clients.pop("b") == "other"
    assert clients.pop("b", "gone") == "gone"
    assert list(clients.keys()) == ["a", "c"]
    assert len(clients) == 2


def test_dictionaries_of_one_database_are_separate_and_keys_keep_their_type(scratch):
    documents: DiskDict[str] = DiskDict(scratch, "documents")
    other: DiskDict[str] = DiskDict(scratch, "other")
    documents[7] = "number"
    documents["7"] = "text"
    other[7] = "elsewhere"

    assert documents[7] == "number"
    assert documents["7"] == "text"
    assert list(other.items()) == [(7, "elsewhere")]
    documents.clear()
    assert len(documents) == 0
    assert list(documents.values()) == []
    assert other[7] == "elsewhere"


def test_a_list_keeps_appended_values_in_order_and_positions_order_all_lists(scratch):
    persons: DiskList[list] = DiskList(scratch, "persons")
    companies: DiskList[list] = DiskList(scratch, "companies")
    for number in range(MORE_THAN_A_BATCH):
        (persons if number % 3 else companies).append([number, f"code-{number}"])

    assert [value[0] for value in persons] == [n for n in range(MORE_THAN_A_BATCH) if n % 3]
    assert len(persons) + len(companies) == MORE_THAN_A_BATCH
    merged = sorted([*persons.entries(), *companies.entries()])
    assert [value[0] for _, value in merged] == list(range(MORE_THAN_A_BATCH))


def test_a_record_rejected_twice_is_kept_once_with_the_last_reason_in_the_last_place(scratch):
    rejects = SpooledRejects(scratch)
    first = {"stream": "relations", "record": {"id": 1, "uniqueIdentifier": "u1"}, "reason": "a"}
    card = {"stream": "identity_documents", "record": {"id": 1}, "reason": "no relation"}
    again = {**first, "reason": "b"}
    rejects.append(first)
    rejects.append(card)
    rejects.append(again)

    assert list(rejects) == [card, again]
    assert len(rejects) == 2


def test_a_value_json_cannot_hold_is_kept_as_text(scratch):
    rejects = SpooledRejects(scratch)
    when = datetime(2026, 1, 2, tzinfo=UTC)
    rejects.append({"stream": "users", "record": {"id": 3, "seen": when}, "reason": "x"})

    assert next(iter(rejects))["record"]["seen"] == str(when)


def problem(number: int, kind: str) -> Problem:
    return Problem(kind, f"message {number}", key="-", relation=f"u{number}", code=f"C{number}")


def test_problems_come_back_in_the_order_found_and_by_kind_in_that_order(scratch):
    log = ProblemLog(scratch)
    kinds = ["invalid_identifier", "duplicate_key", "amlcare_refused"]
    found = [problem(number, kinds[number % 3]) for number in range(MORE_THAN_A_BATCH)]
    for each in found:
        log.add(each)

    assert list(log) == found
    assert len(log) == MORE_THAN_A_BATCH
    assert log.counts() == {
        "amlcare_refused": MORE_THAN_A_BATCH // 3,
        "duplicate_key": MORE_THAN_A_BATCH // 3 + 1,
        "invalid_identifier": MORE_THAN_A_BATCH // 3 + 1,
    }
    assert list(log.of_kind("duplicate_key")) == [p for p in found if p.kind == "duplicate_key"]


def test_the_streamed_json_report_is_what_one_json_dump_writes(scratch, tmp_path: Path):
    report = RunReport("import", dry_run=False, problems=ProblemLog(scratch))
    report.count("created", 2)
    report.details["amlcare_requests"] = {"total": 9, "writes": 4}
    for number in range(3):
        report.add(problem(number, "duplicate_key" if number else "invalid_identifier"))

    text = "".join(report.json())

    written = json.loads(text)
    assert text == json.dumps(written, indent=2) + "\n"
    assert [row["relation"] for row in written["problems"]] == ["u0", "u1", "u2"]
    assert written["problem_counts"] == {"duplicate_key": 2, "invalid_identifier": 1}
    assert written["amlcare_requests"] == {"total": 9, "writes": 4}
    path = tmp_path / "import-1.json"
    path.write_text(text)
    head = report_head(path)
    assert "problems" not in head
    assert head["counts"] == {"created": 2}


def test_a_report_without_problems_is_valid_json_and_the_trend_reads_it(scratch, tmp_path):
    report = RunReport("import", dry_run=False, problems=ProblemLog(scratch))
    report.count("created", 5)

    json_path, _ = report.write(tmp_path)

    assert json.loads(json_path.read_text())["problems"] == []
    assert [(row.created, row.rejected) for row in read_trend(tmp_path, "import")] == [(5, 0)]
