"""Writes through a bounded pool: clients side by side, one client's records in order, pace kept.

The sandbox writes a log line when it answers a call. With a latency added to every call, each
call spends at least that long in the sandbox, so calls answered closer together than the
latency were in flight at the same time: the log shows the overlap without timing the run.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from amlsync_sandbox.runfile import log_file
from amlsync_sandbox.world import base_world
from faker import Faker
from stdnum.be import vat
from test_target_adminpulse_writes import (  # noqa: F401 - run_target is a fixture
    CLIENT_SCHEMA,
    DOCUMENT_SCHEMA,
    client,
    document,
    messages,
    relation,
    relations_by_id,
    run_target,
    uploaded,
)

COMPANIES = 16
LOG_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO amlsync_sandbox: "
    r":(?P<port>\d+) (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3})$"
)


def company_numbers(count: int) -> list[str]:
    faker = Faker("nl_BE")
    faker.seed_instance(6)
    numbers: list[str] = []
    while len(numbers) < count:
        number = vat.compact(faker.vat_id()).removeprefix("BE")
        if vat.is_valid(number) and number not in numbers:
            numbers.append(number)
    return numbers


KBOS = company_numbers(COMPANIES)


@pytest.fixture
def office(sandbox):
    """An office of COMPANIES companies, relation ids 1 to COMPANIES, in KBOS order."""
    world = base_world()
    world["adminpulse"]["relations"] = [
        relation(number, vatNumber=kbo) for number, kbo in enumerate(KBOS, start=1)
    ]
    sandbox.load(world)
    return sandbox


def answered(sandbox, method: str, path: str) -> list[float]:
    """When the sandbox answered each call of `method` on paths starting with `path`, sorted."""
    times = []
    for line in log_file(sandbox.db_path).read_text().splitlines():
        match = LOG_LINE.match(line)
        if (
            match
            and int(match["port"]) == sandbox.adminpulse_port
            and match["method"] == method
            and match["path"].startswith(path)
        ):
            times.append(datetime.strptime(match["time"], "%Y-%m-%d %H:%M:%S,%f").timestamp())
    return sorted(times)


def busiest_window(times: list[float], seconds: float) -> int:
    """The most answers within any window shorter than `seconds`."""
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_updates_of_different_clients_are_in_flight_at_the_same_time(
    office,
    run_target,  # noqa: F811 - run_target is the writes tests' fixture
):
    latency = 1.0
    office.faults("adminpulse", latency_ms=int(latency * 1000))
    clients = [
        client(f"cl_{n}", kbo, risk="high", acceptance="2026-02-01") for n, kbo in enumerate(KBOS)
    ]

    run = run_target(messages(clients=clients), requests_per_minute=480, max_concurrency=8)

    assert run.report["streams"]["clients"]["updated"] == COMPANIES
    assert all(r["aml"]["totalRisk"] == "high" for r in relations_by_id(office).values())
    updates = answered(office, "PUT", "/relations/")
    assert len(updates) == COMPANIES
    # One at a time, two updates are answered at least a latency apart; here several updates
    # answered within one latency were in the sandbox together.
    assert busiest_window(updates, latency) >= 4


def test_max_concurrency_one_writes_one_record_at_a_time(
    office,
    run_target,  # noqa: F811 - run_target is the writes tests' fixture
):
    latency = 0.5
    office.faults("adminpulse", latency_ms=int(latency * 1000))
    clients = [client(f"cl_{n}", kbo, risk="low") for n, kbo in enumerate(KBOS[:6])]

    run_target(messages(clients=clients), requests_per_minute=480, max_concurrency=1)

    calls = answered(office, "GET", "/relations") + answered(office, "PUT", "/relations/")
    assert len(calls) == 12
    assert busiest_window(sorted(calls), latency) == 1


def test_the_last_record_of_a_client_wins_whatever_the_lanes_do(
    office,
    run_target,  # noqa: F811 - run_target is the writes tests' fixture
):
    # Calls answered after a random delay: a later record overtaking an earlier one would show.
    office.faults("adminpulse", slow_rate=0.5, slow_ms=400)
    versions = ["2026-01-05", "2026-02-10", "2026-03-15"]
    # Four clients at a time, each client's three records four records apart: close enough
    # that a pool without lanes would write them at the same time.
    clients = [
        client(f"cl_{n}", KBOS[n], risk=risk, acceptance=acceptance)
        for group in range(0, COMPANIES, 4)
        for acceptance, risk in zip(versions, ("low", "high", "standard"), strict=True)
        for n in range(group, group + 4)
    ]

    run = run_target(messages(clients=clients), requests_per_minute=480, max_concurrency=8)

    for found in relations_by_id(office).values():
        assert found["aml"]["clientAcceptanceDate"] == versions[-1]
        assert found["aml"]["totalRisk"] == "normal"
    assert run.report["streams"]["clients"]["updated"] == 3 * COMPANIES


def test_a_replayed_reject_is_written_before_newer_input_of_the_same_client(
    office,
    run_target,  # noqa: F811 - the writes tests' fixture
    tmp_path,
):
    # An earlier run rejected an older record of each client (its relation was missing then).
    reports = tmp_path / "reports"
    reports.mkdir()
    older = [client(f"cl_{n}", kbo, acceptance="2025-06-01") for n, kbo in enumerate(KBOS)]
    lines = [
        {
            "key": f"clients:{record['id']}",
            "stream": "clients",
            "reason": "no AdminPulse relation has this KBO number",
            "first_rejected_at": "2026-02-01T10:00:00.000000Z",
            "last_rejected_at": "2026-02-01T10:00:00.000000Z",
            "attempts": 1,
            "record": record,
        }
        for record in older
    ]
    (reports / "rejects.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    office.faults("adminpulse", slow_rate=0.5, slow_ms=300)
    newer = [client(f"cl_{n}", kbo, acceptance="2026-04-01") for n, kbo in enumerate(KBOS)]

    run = run_target(messages(clients=newer), requests_per_minute=480, max_concurrency=8)

    assert run.report["replayed_rejects"] == {"written": COMPANIES}
    for found in relations_by_id(office).values():
        assert found["aml"]["clientAcceptanceDate"] == "2026-04-01"
    assert run.rejects == []


def test_a_failed_write_in_a_lane_fails_the_run_and_no_state_passes_it(
    office,
    run_target,  # noqa: F811 - run_target is the writes tests' fixture
):
    written = [client(f"cl_{n}", kbo, risk="high") for n, kbo in enumerate(KBOS[:8])]
    later = [client(f"cl_{n}", kbo, risk="high") for n, kbo in enumerate(KBOS[8:], start=8)]
    # A document kind mapped to a type AdminPulse lacks is a settings error, met in a lane.
    broken = document("doc_1", KBOS[8], "cap_report", "signed", 1)
    lines = [
        {"type": "SCHEMA", "stream": "clients", "schema": CLIENT_SCHEMA, "key_properties": ["id"]},
        {
            "type": "SCHEMA",
            "stream": "documents",
            "schema": DOCUMENT_SCHEMA,
            "key_properties": ["id", "version"],
        },
        *({"type": "RECORD", "stream": "clients", "record": r} for r in written),
        {"type": "STATE", "value": {"bookmarks": {"clients": "first"}}},
        {"type": "RECORD", "stream": "documents", "record": broken},
        *({"type": "RECORD", "stream": "clients", "record": r} for r in later),
        {"type": "STATE", "value": {"bookmarks": {"clients": "second"}}},
    ]

    run = run_target(
        lines,
        expect_exit=2,
        document_type_map={"cap_report": "No such type"},
        max_concurrency=8,
    )

    assert run.states == [{"bookmarks": {"clients": "first"}}]
    assert "No such type" in run.completed.stderr
    after = relations_by_id(office)
    assert all(after[n]["aml"]["totalRisk"] == "high" for n in range(1, 9))
    assert run.report["status"] == "failed"
    assert uploaded(office) == []


def test_uploads_from_every_lane_keep_the_upload_pace(
    office,
    run_target,  # noqa: F811 - run_target is the writes tests' fixture
):
    office.faults("adminpulse", latency_ms=200)
    uploads_per_minute = 120
    documents = [
        document(f"doc_{n}_{kind}", kbo, kind, "signed", 1)
        for n, kbo in enumerate(KBOS)
        for kind in ("cap_report", "identification_form")
    ]

    run = run_target(
        messages(documents=documents),
        requests_per_minute=480,
        uploads_per_minute=uploads_per_minute,
        max_concurrency=8,
    )

    assert run.report["streams"]["documents"]["created"] == 2 * COMPANIES
    times = answered(office, "POST", "/documents/add")
    assert len(times) == 2 * COMPANIES
    assert not [row for row in office.requests("adminpulse") if row["status"] == 429]
    # One upload every half second: no 3-second window holds more than its share of the budget,
    # with half a second of slack for the sandbox's answers (eight lanes unpaced would send eight
    # at once).
    per_second = uploads_per_minute / 60
    for seconds in (3.0, 6.0):
        assert busiest_window(times, seconds) <= per_second * (seconds + 0.5)


def test_adminpulse_refusing_every_call_in_the_lanes_fails_the_run_without_any_state(
    office,
    run_target,  # noqa: F811 - run_target is the writes tests' fixture
):
    # Every call answered 429 with Retry-After 1: each lane gives up after its retries.
    office.faults("adminpulse", rate_429=1.0, retry_after_share=1.0)
    clients = [client(f"cl_{n}", kbo, risk="high") for n, kbo in enumerate(KBOS)]
    lines = [
        *messages(clients=clients[:8])[:-1],
        {"type": "STATE", "value": {"bookmarks": {"clients": "first"}}},
        *({"type": "RECORD", "stream": "clients", "record": r} for r in clients[8:]),
        {"type": "STATE", "value": {"bookmarks": {"clients": "second"}}},
    ]

    run = run_target(lines, expect_exit=1, requests_per_minute=480, max_concurrency=8)

    assert run.states == []
    assert "kept failing" in run.completed.stderr
    assert run.report["status"] == "failed"
    assert all(r["aml"]["totalRisk"] is None for r in relations_by_id(office).values())
