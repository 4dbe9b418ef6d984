"""How the tap reads AdminPulse: paging, incremental runs, linked persons, documents, errors.

Every test talks HTTP to its own sandbox; the sandbox's request counts are the measure of cost.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from adminpulse_tap_helpers import FAST_RATE_SCALE, final_state, records, run_tap, tap_config
from tap_adminpulse import adminpulse_api as api
from tap_adminpulse.client import READ_AHEAD_PAGES, RequestPacer, retry_waits
from tap_adminpulse.tap import TapAdminPulse

TAP = [sys.executable, "-m", "tap_adminpulse.tap"]


@pytest.fixture
def seeded(sandbox_factory):
    """A sandbox with a small generated office, rate limits lifted."""
    sandbox = sandbox_factory(rate_scale=FAST_RATE_SCALE)
    sandbox.seed(60, seed=2)
    return sandbox


def get_count(sandbox, endpoint: str) -> int:
    return sandbox.request_count("adminpulse", endpoint=endpoint, method="GET", status=200)


def test_paging_stops_at_the_last_page_without_an_empty_request(seeded):
    relations = seeded.dump("adminpulse")["relations"]
    seeded.reset_requests()

    messages = run_tap(tap_config(seeded, page_size=25))

    assert len(records(messages, "relations")) == len(relations)
    assert get_count(seeded, "/relations") == math.ceil(len(relations) / 25)


def test_first_run_emits_every_relation_and_the_identity_documents_of_all(seeded):
    world = seeded.dump("adminpulse")
    identity_types = {t["id"] for t in world["documentTypes"] if t["name"] in ("eID", "eID Foto")}
    cards = [d for d in world["documents"] if d["documentType"] in identity_types]

    messages = run_tap(tap_config(seeded))

    documents = records(messages, "identity_documents")
    assert {d["id"] for d in documents} == {d["id"] for d in cards}
    for document in documents:
        assert (document["content"] is not None) == document["publicOnPortal"]
    bookmark = final_state(messages)["bookmarks"]["relations"]["replication_key_value"]
    assert bookmark == max(r["modifiedDate"] for r in world["relations"])


def test_every_run_ends_on_a_new_state_saying_the_new_relations_documents_were_sent(seeded):
    first = run_tap(tap_config(seeded))
    second = run_tap(tap_config(seeded), state=final_state(first))

    for messages in (first, second):
        assert messages[-1]["type"] == "STATE"  # after the last record, even with no change
        last = messages[-1]["value"]["bookmarks"]
        relations_bookmark = last["relations"]["replication_key_value"]
        assert last["identity_documents"]["sent_for_relations_through"] == relations_bookmark
    runs = (first, second)
    sent_at = [m[-1]["value"]["bookmarks"]["identity_documents"]["sent_at"] for m in runs]
    assert sent_at[0] != sent_at[1]
    # Before the first run's documents, no state said so: a tap that died there is told apart.
    for earlier in [m["value"]["bookmarks"] for m in first if m["type"] == "STATE"][:-1]:
        assert "identity_documents" not in earlier


def test_preflight_setting_lists_identity_documents_without_downloading_them(seeded):
    seeded.reset_requests()

    messages = run_tap(tap_config(seeded, include_document_content=False))

    documents = records(messages, "identity_documents")
    assert documents
    assert all(document["content"] is None for document in documents)
    assert get_count(seeded, "/documents/{id}/content") == 0


def test_a_run_without_changes_costs_a_request_per_list_page_and_reads_no_document(seeded):
    first = run_tap(tap_config(seeded))
    seeded.reset_requests()

    second = run_tap(tap_config(seeded), state=final_state(first))

    assert records(second, "identity_documents") == []
    assert sum(row["count"] for row in seeded.requests("adminpulse")) <= 4
    assert get_count(seeded, "/documents") == 0
    bookmark = final_state(first)["bookmarks"]["relations"]["replication_key_value"]
    changed = [r for r in records(second, "relations") if r["modifiedDate"] >= bookmark]
    linked = {link["uniqueIdentifier"] for r in changed for link in r["tos"]}
    others = [r for r in records(second, "relations") if r["modifiedDate"] < bookmark]
    assert changed  # the bookmark's own second comes back, which is cheap and harmless
    assert all(r["uniqueIdentifier"] in linked for r in others)


def test_a_new_relation_brings_its_documents_and_a_changed_one_does_not(seeded):
    first = run_tap(tap_config(seeded))
    world = seeded.dump()
    adminpulse = world["adminpulse"]
    now = datetime.now().replace(microsecond=0)
    changed = next(r for r in adminpulse["relations"] if r["type"] == "person" and r["tos"] == [])
    changed["modifiedDate"] = now.isoformat()
    new = json.loads(json.dumps(changed))
    new.update(
        id=max(r["id"] for r in adminpulse["relations"]) + 1,
        uniqueIdentifier="00000000-0000-4000-8000-000000000001",
        code="NEW1",
        createdDate=(now - timedelta(seconds=1)).isoformat(),
    )
    adminpulse["relations"].append(new)
    adminpulse["documents"].append(
        {
            "id": max(d["id"] for d in adminpulse["documents"]) + 1,
            "relationIdentifier": new["uniqueIdentifier"],
            "documentType": 1,
            "fileName": "eid-front-NEW1.jpg",
            "documentDate": now.date().isoformat(),
            "publicOnPortal": True,
            "size": 4,
            "createdDate": now.isoformat(),
            "modifiedDate": now.isoformat(),
            "content": "AAECAw==",
        }
    )
    seeded.load(world)

    second = run_tap(tap_config(seeded), state=final_state(first))

    emitted = {r["uniqueIdentifier"] for r in records(second, "relations")}
    assert {changed["uniqueIdentifier"], new["uniqueIdentifier"]} <= emitted
    documents = records(second, "identity_documents")
    assert [d["relationIdentifier"] for d in documents] == [new["uniqueIdentifier"]]


def test_companies_bring_their_linked_persons_even_when_those_did_not_change(seeded):
    first = run_tap(tap_config(seeded))
    world = seeded.dump()
    relations = world["adminpulse"]["relations"]
    company = next(r for r in relations if r["type"] == "company" and r["tos"])
    company["modifiedDate"] = datetime.now().replace(microsecond=0).isoformat()
    seeded.load(world)

    second = run_tap(tap_config(seeded), state=final_state(first))

    emitted = {r["uniqueIdentifier"] for r in records(second, "relations")}
    assert {link["uniqueIdentifier"] for link in company["tos"]} <= emitted


def test_task_template_limits_the_relations_to_its_tasks_and_their_linked_persons(seeded):
    world = seeded.dump("adminpulse")
    tasks = [task for task in world["tasks"] if task["templateName"] == "AML-onboarding"]
    tasked = {task["relationUniqueIdentifier"] for task in tasks}
    by_key = {r["uniqueIdentifier"]: r for r in world["relations"]}
    linked = {link["uniqueIdentifier"] for key in tasked for link in by_key[key]["tos"]}

    messages = run_tap(tap_config(seeded, task_template_name="AML-onboarding"))

    assert {r["uniqueIdentifier"] for r in records(messages, "relations")} == tasked | linked


def test_faults_do_not_change_what_the_tap_emits(seeded):
    # Small pages: enough requests that some surely meet a fault.
    config = tap_config(seeded, include_document_content=False, page_size=10)
    clean = run_tap(config)
    seeded.faults("adminpulse", error_rate=0.15, rate_429=0.1, drop_rate=0.05)

    faulty = run_tap(config)

    for stream in ("users", "document_types", "relations", "identity_documents"):
        assert records(faulty, stream) == records(clean, stream)
    failed = sum(r["count"] for r in seeded.requests("adminpulse") if r["status"] != 200)
    assert failed > 0


def test_oauth_refresh_token_gets_an_access_token(seeded):
    world = seeded.dump()
    world["adminpulse"]["oauthClients"].append(
        {
            "clientId": "office-sync",
            "clientSecret": "s3cret",
            "refreshToken": "refresh-1",
            "scopes": ["relations:read", "users:read", "documents:read", "tasks:read"],
        }
    )
    seeded.load(world)
    config = tap_config(seeded)
    del config["api_key"]
    config |= {
        "oauth_client_id": "office-sync",
        "oauth_client_secret": "s3cret",
        "oauth_refresh_token": "refresh-1",
    }

    messages = run_tap(config)

    assert len(records(messages, "users")) == len(world["adminpulse"]["users"])


def run_cli(config: dict, tmp_path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [*TAP, "--config", str(path)], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_missing_scope_stops_the_tap_naming_the_scope_without_a_traceback(seeded, tmp_path):
    world = seeded.dump()
    world["adminpulse"]["tokens"].append(
        {"token": "no-users", "scopes": ["relations:read", "documents:read"], "expiresAt": None}
    )
    seeded.load(world)

    completed = run_cli(tap_config(seeded, api_key="no-users"), tmp_path)

    assert completed.returncode == 1
    assert "'users:read'" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert "no-users" not in completed.stderr  # the token itself is never logged


def test_a_wrong_base_url_names_the_setting(seeded, tmp_path):
    completed = run_cli(tap_config(seeded, base_url=seeded.adminpulse_url + "/api"), tmp_path)

    assert completed.returncode == 1
    assert "base_url" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_page_size_above_the_api_maximum_is_refused_before_any_request(seeded, tmp_path):
    seeded.reset_requests()

    completed = run_cli(tap_config(seeded, page_size=1000), tmp_path)

    assert completed.returncode == 1
    assert "page_size" in completed.stderr
    assert sum(row["count"] for row in seeded.requests("adminpulse")) == 0


class FakeResponse:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


class FakeError(Exception):
    def __init__(self, headers: dict[str, str] | None) -> None:
        super().__init__("retry")
        self.response = FakeResponse(headers) if headers is not None else None


def test_retry_waits_honour_retry_after_and_otherwise_double():
    waits = retry_waits()
    next(waits)

    assert waits.send(FakeError({"Retry-After": "7"})) == 7
    assert waits.send(FakeError({})) == 1  # the second retry of our own: 0.5, 1, 2, ...
    assert waits.send(FakeError(None)) == 2


def test_the_pacer_keeps_requests_within_the_budget():
    pacer = RequestPacer(requests_per_minute=600)  # one every 0.1 s
    started = datetime.now()

    for _ in range(6):
        pacer.wait()

    assert (datetime.now() - started).total_seconds() >= 0.5


@pytest.mark.parametrize("budget", [0, -5])
def test_a_budget_below_one_is_refused(seeded, tmp_path, budget):
    completed = run_cli(tap_config(seeded, requests_per_minute=budget), tmp_path)

    assert completed.returncode == 1
    assert "requests_per_minute" in completed.stderr


def wait_for_requests(sandbox, endpoint: str, at_least: int) -> int:
    """The GET count of an endpoint once it reaches `at_least` (or after ten seconds)."""
    deadline = time.monotonic() + 10
    while (count := get_count(sandbox, endpoint)) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def relations_stream(sandbox, **settings):
    tap = TapAdminPulse(config=tap_config(sandbox, **settings), parse_env_config=False)
    return tap.streams["relations"]


def test_the_next_pages_are_asked_for_while_the_caller_still_reads_the_one_before(seeded):
    relations = seeded.dump("adminpulse")["relations"]
    stream = relations_stream(seeded, page_size=10)
    seeded.reset_requests()

    pages = stream.get_page_bodies(api.RELATIONS_PATH, {})
    read = [next(pages), next(pages)]  # and the caller is still busy with the second

    # The first page, then READ_AHEAD_PAGES more in flight, and no further.
    asked = 1 + READ_AHEAD_PAGES
    assert wait_for_requests(seeded, "/relations", asked) == asked
    read.extend(pages)
    rows = [row for page in read for row in page["results"]]
    assert sorted(row["id"] for row in rows) == sorted(r["id"] for r in relations)
    assert get_count(seeded, "/relations") == math.ceil(len(relations) / 10)


def test_a_list_that_grows_while_it_is_read_is_followed_to_its_new_last_page(seeded):
    world = seeded.dump()
    office = world["adminpulse"]
    everything = sorted(office["relations"], key=lambda r: (r["modifiedDate"], r["id"]))
    kept = everything[:15]
    kept_ids = {relation["uniqueIdentifier"] for relation in kept}
    documents = [d for d in office["documents"] if d["relationIdentifier"] in kept_ids]
    seeded.load({**world, "adminpulse": {**office, "relations": kept, "documents": documents}})
    stream = relations_stream(seeded, page_size=10)

    pages = stream.get_page_bodies(api.RELATIONS_PATH, {})
    first = next(pages)
    seeded.load(world)  # the office adds relations, which sort after those already read
    rest = list(pages)

    assert first["pageCount"] == 2
    rows = [row for page in [first, *rest] for row in page["results"]]
    assert sorted(row["id"] for row in rows) == sorted(r["id"] for r in everything)
