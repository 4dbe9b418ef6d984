"""tap-amlcare reads in (updated_at, id) order and resumes from its bookmark without a gap."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from amlsync_sandbox.generator import generate_world
from faker import Faker

TAP = str(Path(sys.executable).parent / "tap-amlcare")
# After every timestamp the generator writes, so the tied clients come last but one.
SHARED_TIMESTAMP = "2027-06-01T12:00:00.000000Z"
LATER_TIMESTAMP = "2027-06-02T08:00:00.000000Z"
# Enough clients on one timestamp to span many pages and pass two checkpoints (every 25).
TIED_CLIENTS = 60
PAGE_SIZE = 7
VERSION_CONTENT = "/v1/documents/{id}/versions/{version}/content"


def tied_world() -> dict[str, Any]:
    """A generated office plus 60 AMLCare clients saved at the very same microsecond."""
    world = generate_world(clients=10, seed=4)
    template = world["amlcare"]["clients"][0]
    faker = Faker("nl_BE")
    faker.seed_instance(11)
    for number in range(TIED_CLIENTS):
        twin = copy.deepcopy(template)
        twin.update(
            id=f"cl_tied_{number:03d}",
            type="person",
            key=faker.unique.ssn(),
            updated_at=SHARED_TIMESTAMP,
            created_at=SHARED_TIMESTAMP,
        )
        world["amlcare"]["clients"].append(twin)
    late = copy.deepcopy(template)
    late.update(id="cl_late", type="person", key=faker.unique.ssn(), updated_at=LATER_TIMESTAMP)
    world["amlcare"]["clients"].append(late)
    return world


@pytest.fixture
def tied(sandbox):
    sandbox.load(tied_world())
    return sandbox


def run_tap(
    sandbox, tmp_path: Path, state: dict | None = None, expect_exit: int = 0, **settings: Any
) -> tuple[list[dict], list[dict], str]:
    config = {
        "base_url": sandbox.amlcare_url,
        "api_key": sandbox.amlcare_key,
        "page_size": PAGE_SIZE,
        **settings,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    args = [TAP, "--config", str(tmp_path / "config.json")]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        args += ["--state", str(tmp_path / "state.json")]
    completed = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == expect_exit, completed.stderr[-3000:]
    messages = [json.loads(line) for line in completed.stdout.splitlines() if line]
    records = [m for m in messages if m["type"] == "RECORD"]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    run_tap.last_messages = messages  # type: ignore[attr-defined]
    return records, states, completed.stderr


def ids(records: list[dict], stream: str) -> list[str]:
    return [r["record"]["id"] for r in records if r["stream"] == stream]


def test_records_sharing_one_timestamp_are_all_read_across_page_boundaries(tied, tmp_path):
    records, _, _ = run_tap(tied, tmp_path)

    clients = ids(records, "clients")
    assert len(clients) == len(set(clients))
    assert {f"cl_tied_{n:03d}" for n in range(TIED_CLIENTS)} <= set(clients)
    assert clients[-1] == "cl_late"
    stamps = [r["record"]["updated_at"] for r in records if r["stream"] == "clients"]
    assert stamps == sorted(stamps)


def test_a_run_interrupted_inside_a_timestamp_resumes_without_skipping_any_record(tied, tmp_path):
    records, _, _ = run_tap(tied, tmp_path)
    clients = ids(records, "clients")
    # The first checkpoint written while the 60 tied clients were being read: the state a run
    # interrupted there would have left behind, with the clients read before it.
    read_before: set[str] = set()
    for message in run_tap.last_messages:  # type: ignore[attr-defined]
        if message["type"] == "RECORD" and message["stream"] == "clients":
            read_before.add(message["record"]["id"])
        bookmark = message.get("value", {}).get("bookmarks", {}).get("clients", {})
        if message["type"] == "STATE" and bookmark.get("replication_key_value") == SHARED_TIMESTAMP:
            checkpoint = message["value"]
            break
    assert read_before < set(clients)

    resumed, _, _ = run_tap(tied, tmp_path, state=checkpoint)

    resumed_clients = ids(resumed, "clients")
    assert set(resumed_clients) | read_before == set(clients)
    assert {f"cl_tied_{n:03d}" for n in range(TIED_CLIENTS)} <= set(resumed_clients)


def test_a_run_after_no_change_reads_only_the_records_on_its_bookmarks(sandbox, tmp_path):
    sandbox.seed(clients=20, seed=3)
    _, states, _ = run_tap(sandbox, tmp_path)
    sandbox.reset_requests()

    again, _, _ = run_tap(sandbox, tmp_path, state=states[-1])

    bookmarks = states[-1]["bookmarks"]
    for record in again:
        assert (
            record["record"]["updated_at"] == bookmarks[record["stream"]]["replication_key_value"]
        )
    lists = sum(
        sandbox.request_count("amlcare", endpoint=path) for path in ("/v1/users", "/v1/clients")
    ) + sandbox.request_count("amlcare", endpoint="/v1/documents")
    assert lists == 3


def test_every_document_version_is_a_record_with_its_own_status_and_file(sandbox, tmp_path):
    sandbox.seed(clients=20, seed=3)
    world = sandbox.dump("amlcare")

    records, _, _ = run_tap(sandbox, tmp_path)

    stored = {
        (document["id"], version["version"]): (document, version)
        for document in world["documents"]
        for version in document["versions"]
    }
    documents = [r["record"] for r in records if r["stream"] == "documents"]
    assert sorted((d["id"], d["version"]) for d in documents) == sorted(stored)
    assert {d["status"] for d in documents} == {"created", "submitted", "signed"}
    for record in documents:
        document, version = stored[(record["id"], record["version"])]
        assert record["content"] == version["content"]
        assert record["status"] == version["status"]
        assert record["size"] == version["size"]
        assert record["version_created_at"] == version["created_at"]
        assert record["updated_at"] == document["updated_at"]
        assert "versions" not in record


def test_a_form_submitted_and_signed_between_two_runs_yields_all_its_versions(sandbox, tmp_path):
    sandbox.seed(clients=20, seed=3)
    _, states, _ = run_tap(sandbox, tmp_path)
    amlcare = requests.Session()
    amlcare.headers["Authorization"] = f"Bearer {sandbox.amlcare_key}"
    client_id = sandbox.dump("amlcare")["clients"][0]["id"]
    form = amlcare.post(
        f"{sandbox.amlcare_url}/clients/{client_id}/documents",
        data={"kind": "identification_form", "file_name": "form.pdf"},
        files={"file": ("form.pdf", b"%PDF-1.4 form")},
        timeout=30,
    ).json()
    for step in ("submit", "sign"):
        amlcare.post(f"{sandbox.amlcare_url}/documents/{form['id']}/{step}", timeout=30)

    records, _, _ = run_tap(sandbox, tmp_path, state=states[-1])

    versions = [r["record"] for r in records if r["record"].get("id") == form["id"]]
    assert [(v["version"], v["status"]) for v in versions] == [
        (1, "created"),
        (2, "submitted"),
        (3, "signed"),
    ]
    files = [base64.b64decode(v["content"]) for v in versions]
    assert files[0] == b"%PDF-1.4 form"
    assert b"version 2, submitted" in files[1]
    assert b"version 2, submitted" in files[2]
    assert b"version 3, signed" not in files[1]


def test_document_files_are_left_out_when_the_setting_says_so(sandbox, tmp_path):
    sandbox.seed(clients=20, seed=3)

    records, _, _ = run_tap(sandbox, tmp_path, include_document_content=False)

    assert all(r["record"]["content"] is None for r in records if r["stream"] == "documents")
    assert sandbox.request_count("amlcare", endpoint=VERSION_CONTENT) == 0
    assert sandbox.request_count("amlcare", endpoint="/v1/documents/{id}/content") == 0


def test_files_of_the_origins_listed_are_not_downloaded_and_say_why(sandbox, tmp_path):
    sandbox.seed(clients=20, seed=3)
    documents = sandbox.dump("amlcare")["documents"]
    imported = {d["id"] for d in documents if d["origin"] == "adminpulse_import"}
    assert imported, "the seeded world should hold identity cards brought by an import"
    assert len(imported) < len(documents)

    records, _, _ = run_tap(sandbox, tmp_path, skip_content_origins=["adminpulse_import"])

    versions = [r["record"] for r in records if r["stream"] == "documents"]
    for record in versions:
        if record["id"] in imported:
            assert record["content"] is None
            assert "skip_content_origins" in record["content_skipped"]
        else:
            assert record["content"] is not None
            assert record["content_skipped"] is None
    downloads = sandbox.request_count("amlcare", endpoint=VERSION_CONTENT)
    assert downloads == sum(1 for record in versions if record["id"] not in imported)


def test_rate_limits_and_server_errors_are_retried_until_the_read_is_complete(sandbox, tmp_path):
    sandbox.seed(clients=20, seed=3)
    expected = sandbox.dump("amlcare")
    sandbox.faults("amlcare", error_rate=0.1, rate_429=0.1, retry_after_share=0.5)

    records, _, stderr = run_tap(sandbox, tmp_path)

    sandbox.faults("amlcare", clear=True)
    assert sorted(ids(records, "clients")) == sorted(c["id"] for c in expected["clients"])
    versions = sum(len(document["versions"]) for document in expected["documents"])
    assert len(ids(records, "documents")) == versions
    # Every faulted answer was retried once; a fixed count would fail on a lucky run.
    faulted = sum(sandbox.request_count("amlcare", status=code) for code in (429, 500, 503))
    assert stderr.count("Retrying") == faulted


def test_a_refused_api_key_ends_the_run_naming_the_setting_without_a_traceback(sandbox, tmp_path):
    _, _, stderr = run_tap(sandbox, tmp_path, expect_exit=2, api_key="not-the-key")

    assert "api_key" in stderr
    assert "not-the-key" not in stderr
    assert "Traceback" not in stderr


def test_content_is_base64_of_the_exact_bytes(sandbox, tmp_path):
    sandbox.seed(clients=20, seed=3)
    records, _, _ = run_tap(sandbox, tmp_path)
    document = next(r["record"] for r in records if r["stream"] == "documents")

    raw = base64.b64decode(document["content"], validate=True)

    assert len(raw) == document["size"]
