"""target-adminpulse under pressure: the upload limit, a run killed half-way, a flaky service."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from amlsync_sandbox.world import base_world

TARGET = str(Path(sys.executable).parent / "target-adminpulse")
COMPANY_KBO = "0403019261"
COMPANY_UID = "00000000-0000-4000-8000-000000000001"
# AdminPulse's documented upload limit.
UPLOADS_PER_MINUTE_LIMIT = 50

SCHEMA = {
    "type": "SCHEMA",
    "stream": "documents",
    "schema": {"type": "object", "properties": {"id": {"type": "string"}}},
    "key_properties": ["id", "version"],
}


def company_world() -> dict[str, Any]:
    world = base_world()
    world["adminpulse"]["relations"] = [
        {
            "id": 1,
            "uniqueIdentifier": COMPANY_UID,
            "code": "C00001",
            "name": "Janssens BV",
            "displayName": "Janssens BV",
            "type": "company",
            "status": "customer",
            "legalForm": "BV",
            "companyId": 1,
            "relationGroupName": "Klanten",
            "vatNumber": "BE 0403.019.261",
            "nationalRegisterNumber": None,
            "firstName": None,
            "lastName": None,
            "language": "nl",
            "email": None,
            "phone": None,
            "address": None,
            "responsibles": [],
            "tos": [],
            "endDate": None,
            "createdDate": "2025-01-01T09:00:00",
            "modifiedDate": "2026-01-01T09:00:00",
            "aml": {"totalRisk": None, "clientAcceptanceDate": None, "nextReviewDate": None},
            "idCardExpiryDate": None,
        }
    ]
    return world


def verification_reports(count: int) -> list[str]:
    """A Singer stream of `count` documents, with a bookmark after every fifth."""
    lines = [json.dumps(SCHEMA)]
    for number in range(1, count + 1):
        record = {
            "id": f"doc_{number:03d}",
            "client_id": "cl_1",
            "client_type": "company",
            "client_key": COMPANY_KBO,
            "kind": "verification_report",
            "status": "created",
            "version": 1,
            "file_name": "report.pdf",
            "origin": "amlcare",
            "content": base64.b64encode(f"report {number}".encode()).decode("ascii"),
            "updated_at": f"2026-03-01T10:00:{number % 60:02d}.000000Z",
        }
        lines.append(json.dumps({"type": "RECORD", "stream": "documents", "record": record}))
        if number % 5 == 0:
            lines.append(json.dumps({"type": "STATE", "value": {"bookmarks": {"n": number}}}))
    return [line + "\n" for line in lines]


def write_config(tmp_path: Path, sandbox, **settings: Any) -> Path:
    config = {
        "base_url": sandbox.adminpulse_url,
        "api_key": sandbox.adminpulse_token,
        "report_dir": str(tmp_path / "reports"),
        **settings,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def uploaded_names(sandbox) -> list[str]:
    return [document["fileName"] for document in sandbox.dump("adminpulse")["documents"]]


@pytest.fixture
def company(sandbox):
    sandbox.load(company_world())
    return sandbox


def test_more_uploads_than_the_limit_take_over_a_minute_and_never_draw_a_429(company, tmp_path):
    count = UPLOADS_PER_MINUTE_LIMIT + 3
    config = write_config(tmp_path, company)  # default uploads_per_minute
    started = time.monotonic()

    completed = subprocess.run(
        [TARGET, "--config", str(config)],
        input="".join(verification_reports(count)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert len(uploaded_names(company)) == count
    assert company.request_count("adminpulse", status=429) == 0
    assert elapsed > 60


def test_a_run_killed_half_way_then_run_again_leaves_every_document_exactly_once(company, tmp_path):
    count = 30
    lines = verification_reports(count)
    config = write_config(tmp_path, company, uploads_per_minute=120)
    process = subprocess.Popen(
        [TARGET, "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.writelines(lines)
    process.stdin.close()
    deadline = time.monotonic() + 60
    while company.request_count("adminpulse", endpoint="/documents/add") < 12:
        assert time.monotonic() < deadline, "the target made no progress"
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert process.stdout is not None
    with process.stdout:
        emitted = [json.loads(line) for line in process.stdout.read().splitlines() if line]
    done_before_kill = len(uploaded_names(company))
    assert 12 <= done_before_kill < count
    # Every bookmark the killed run let out covers only documents that had arrived.
    assert all(state["bookmarks"]["n"] <= done_before_kill for state in emitted)

    completed = subprocess.run(
        [TARGET, "--config", str(config)],
        input="".join(lines),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    names = uploaded_names(company)
    assert sorted(names) == sorted(
        f"amlcare_doc_{n:03d}_verification_report_v1_unsigned.pdf" for n in range(1, count + 1)
    )
    assert len(set(names)) == len(names)


def test_server_errors_and_dropped_connections_are_retried_without_duplicate_uploads(
    company, tmp_path
):
    count = 6
    company.faults("adminpulse", error_rate=0.15, drop_rate=0.1)
    config = write_config(tmp_path, company, uploads_per_minute=600, requests_per_minute=480)

    completed = subprocess.run(
        [TARGET, "--config", str(config)],
        input="".join(verification_reports(count)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    company.faults("adminpulse", clear=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    names = uploaded_names(company)
    assert len(names) == count
    assert len(set(names)) == count
    assert "Retrying" in completed.stderr or "checking again" in completed.stderr
