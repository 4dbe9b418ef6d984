"""What a long run keeps in memory stays bounded: remembered relations and listed problems.

The relation finder runs against the sandbox's AdminPulse over HTTP; the report is built in
memory, as the writer builds it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from amlsync_sandbox.world import base_world
from target_adminpulse.client import AdminPulseClient
from target_adminpulse.relations import RelationFinder
from target_adminpulse.report import MAX_PROBLEMS_LISTED, Problem, RunReport
from test_target_adminpulse_concurrency import KBOS
from test_target_adminpulse_writes import relation


@pytest.fixture
def finder(sandbox):
    world = base_world()
    world["adminpulse"]["relations"] = [
        relation(number, vatNumber=kbo, aml={"totalRisk": "low"})
        for number, kbo in enumerate(KBOS[:3], start=1)
    ]
    sandbox.load(world)
    client = AdminPulseClient(
        base_url=sandbox.adminpulse_url,
        api_key=sandbox.adminpulse_token,
        user_agent="test",
        requests_per_minute=480,
        uploads_per_minute=50,
    )
    return RelationFinder(client, cache_size=2)


def test_the_relation_finder_remembers_only_the_most_recent_relations(finder, sandbox):
    first, second, third = KBOS[:3]

    finder.find("company", first)
    finder.find("company", second)
    finder.find("company", first)  # remembered
    finder.find("company", third)  # pushes out the least recent: the second
    assert finder.lookups == 3
    finder.find("company", first)  # still remembered
    assert finder.lookups == 3
    finder.find("company", second)  # asked again
    assert finder.lookups == 4
    lookups = sandbox.request_count("adminpulse", endpoint="/relations", method="GET")
    assert lookups == 4


def test_a_remembered_relation_keeps_only_what_the_writer_reads_and_follows_its_update(finder):
    found = finder.find("company", KBOS[0])
    assert set(found) == {"id", "uniqueIdentifier", "code", "type", "aml", "idCardExpiryDate"}

    finder.remember({**found, "aml": {"totalRisk": "high"}, "email": "x@example.be"})

    again = finder.find("company", KBOS[0])
    assert again["aml"] == {"totalRisk": "high"}
    assert "email" not in again
    assert finder.lookups == 1


def test_a_report_counts_every_problem_but_lists_only_the_first_ones():
    report = RunReport()
    for number in range(MAX_PROBLEMS_LISTED + 5):
        report.add_problem(
            Problem("clients", f"cl_{number}", "KBO 0403019261", "no relation", "add it")
        )

    data = report.as_dict()
    assert data["problem_count"] == MAX_PROBLEMS_LISTED + 5
    assert len(data["problems"]) == MAX_PROBLEMS_LISTED
    assert "And 5 more problems" in report.as_markdown([])
    assert "And 5 more problems" in report.as_html([])


def test_a_number_asked_on_several_lanes_at_once_is_searched_once(finder, sandbox):
    sandbox.faults("adminpulse", latency_ms=300)
    with ThreadPoolExecutor(4) as lanes:
        found = list(lanes.map(lambda _: finder.find("company", KBOS[0]), range(4)))

    assert [relation["id"] for relation in found] == [1, 1, 1, 1]
    assert finder.lookups == 1
    assert sandbox.request_count("adminpulse", endpoint="/relations", method="GET") == 1
