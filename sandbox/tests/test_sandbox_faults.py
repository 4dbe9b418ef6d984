"""Rate limits, injected faults and request counts, seen from a client over real HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
import requests
from amlsync_sandbox.testing import SandboxProcess
from amlsync_sandbox.world import ADMINPULSE_SCOPES, DEFAULT_AMLCARE_KEY
from sandbox_worlds import adminpulse_world, relation, unique_nrns

AP_TOKEN = "sandbox-adminpulse-token"
OTHER_TOKEN = "second-office-token"
# With the limits scaled by 0.1: 48 calls and 5 uploads a minute per AdminPulse token, and
# 120 calls a minute per AMLCare key.
SCALE = 0.1


def ap_headers(token: str = AP_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


AM_HEADERS = {"Authorization": f"Bearer {DEFAULT_AMLCARE_KEY}"}


@pytest.fixture
def limited(sandbox_factory) -> SandboxProcess:
    sandbox = sandbox_factory(rate_scale=SCALE)
    world = adminpulse_world([relation(1)])
    world["adminpulse"]["tokens"].append(
        {"token": OTHER_TOKEN, "scopes": list(ADMINPULSE_SCOPES), "expiresAt": None}
    )
    sandbox.load(world)
    return sandbox


def upload(sandbox: SandboxProcess, token: str = AP_TOKEN) -> requests.Response:
    form = {
        "relationIdentifier": relation(1)["uniqueIdentifier"],
        "documentType": "3",
        "fileName": "form.pdf",
        "documentDate": "2026-11-30",
    }
    return requests.post(
        f"{sandbox.adminpulse_url}/documents/add",
        headers=ap_headers(token),
        data=form,
        files={"file": ("form.pdf", b"%PDF-1.4")},
        timeout=30,
    )


def test_adminpulse_answers_429_past_480_calls_a_minute_per_token(limited):
    url = f"{limited.adminpulse_url}/documenttypes"
    with requests.Session() as session:
        statuses = [
            session.get(url, headers=ap_headers(), timeout=30).status_code for _ in range(48)
        ]
        assert statuses == [200] * 48
        refused = session.get(url, headers=ap_headers(), timeout=30)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # The limit is per token: another office's token still gets through.
        assert session.get(url, headers=ap_headers(OTHER_TOKEN), timeout=30).status_code == 200
    assert limited.request_count("adminpulse", "/documenttypes", "GET", 429) == 1


def test_adminpulse_allows_only_50_uploads_a_minute(limited):
    assert [upload(limited).status_code for _ in range(5)] == [200] * 5
    refused = upload(limited)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert len(limited.dump("adminpulse")["documents"]) == 5
    # Reads are limited separately, by the 480 a minute.
    listed = requests.get(f"{limited.adminpulse_url}/documents", headers=ap_headers(), timeout=30)
    assert listed.status_code == 200


def test_429_comes_without_retry_after_when_the_faults_say_so(limited):
    limited.faults("adminpulse", retry_after_share=0.0)
    for _ in range(5):
        upload(limited)
    refused = upload(limited)
    assert refused.status_code == 429
    assert "Retry-After" not in refused.headers


def test_amlcare_answers_429_past_1200_calls_a_minute_per_key(limited):
    url = f"{limited.amlcare_url}/users"
    with requests.Session() as session:
        statuses = [
            session.get(url, headers=AM_HEADERS, timeout=30).status_code for _ in range(121)
        ]
    assert statuses[:120] == [200] * 120
    assert statuses[120] == 429


def test_injected_errors_hit_about_the_configured_share(sandbox):
    sandbox.faults("adminpulse", error_rate=0.5)
    url = f"{sandbox.adminpulse_url}/documenttypes"
    with requests.Session() as session:
        answers = [session.get(url, headers=ap_headers(), timeout=30) for _ in range(200)]
    failed = [a for a in answers if a.status_code >= 500]
    # Binomial(200, 0.5): outside 60..140 has a chance below one in a billion.
    assert 60 <= len(failed) <= 140
    assert {a.status_code for a in failed} <= {500, 503}
    assert all(a.json()["code"] in ("server_error", "service_unavailable") for a in failed)
    counted = sandbox.request_count("adminpulse", "/documenttypes", "GET")
    assert counted == 200
    assert sandbox.request_count("adminpulse", "/documenttypes", "GET", 200) == 200 - len(failed)


def test_a_failed_write_never_half_happens(sandbox):
    sandbox.faults("amlcare", error_rate=1.0)
    nrn = unique_nrns(1)[0]
    body = {"type": "person", "key": nrn, "name": "An Peeters"}
    for _ in range(5):
        answer = requests.post(
            f"{sandbox.amlcare_url}/clients", json=body, headers=AM_HEADERS, timeout=30
        )
        assert answer.status_code in (500, 503)
        assert answer.json()["error"]["code"] in ("server_error", "service_unavailable")
    assert sandbox.dump("amlcare")["clients"] == []
    sandbox.faults("amlcare", clear=True)
    created = requests.post(
        f"{sandbox.amlcare_url}/clients", json=body, headers=AM_HEADERS, timeout=30
    )
    assert created.status_code == 201


def test_a_dropped_connection_is_a_connection_error_and_writes_nothing(sandbox):
    sandbox.faults("amlcare", drop_rate=1.0)
    body = {"type": "person", "key": unique_nrns(1)[0], "name": "An Peeters"}
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{sandbox.amlcare_url}/clients", json=body, headers=AM_HEADERS, timeout=30)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sandbox.amlcare_url}/users", headers=AM_HEADERS, timeout=30)
    assert sandbox.dump("amlcare")["clients"] == []
    assert sandbox.request_count("amlcare", "/v1/clients", "POST", status=0) == 1
    assert sandbox.request_count("amlcare", "/v1/users", "GET", status=0) == 1
    # The inspection routes are never faulted, and the other service is untouched.
    health = requests.get(f"{sandbox.root_url('amlcare')}/_sandbox/health", timeout=30)
    assert health.status_code == 200
    types = requests.get(
        f"{sandbox.adminpulse_url}/documenttypes", headers=ap_headers(), timeout=30
    )
    assert types.status_code == 200


def _timed(url: str, headers: dict[str, str]) -> float:
    started = time.monotonic()
    assert requests.get(url, headers=headers, timeout=30).status_code == 200
    return time.monotonic() - started


def test_latency_is_added_to_every_api_call_but_not_to_inspection(sandbox):
    url = f"{sandbox.adminpulse_url}/documenttypes"
    sandbox.faults("adminpulse", latency_ms=400)
    assert all(_timed(url, ap_headers()) >= 0.4 for _ in range(3))
    assert _timed(f"{sandbox.adminpulse_url}/_sandbox/health", {}) < 0.4
    sandbox.faults("adminpulse", slow_rate=1.0, slow_ms=300, latency_ms=0)
    assert _timed(url, ap_headers()) >= 0.3
    sandbox.faults("adminpulse", clear=True)
    assert _timed(url, ap_headers()) < 0.3


@pytest.mark.parametrize(("share", "has_header"), [(1.0, True), (0.0, False)])
def test_injected_429_with_and_without_retry_after(sandbox, share, has_header):
    sandbox.faults("amlcare", rate_429=1.0, retry_after_share=share)
    answer = requests.get(f"{sandbox.amlcare_url}/users", headers=AM_HEADERS, timeout=30)
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "rate_limited"
    assert ("Retry-After" in answer.headers) is has_header


def test_faults_set_from_the_cli_reach_the_running_server(sandbox):
    settings = sandbox.command("faults", "--service", "adminpulse", "--error-rate", "1")
    assert '"error_rate": 1.0' in settings
    time.sleep(0.6)  # the server re-reads settings at most every half second
    url = f"{sandbox.adminpulse_url}/documenttypes"
    assert requests.get(url, headers=ap_headers(), timeout=30).status_code >= 500
    sandbox.command("faults", "--clear")
    time.sleep(0.6)
    assert requests.get(url, headers=ap_headers(), timeout=30).status_code == 200


def test_fault_settings_are_checked(sandbox):
    answer = requests.put(
        f"{sandbox.root_url('adminpulse')}/_sandbox/faults", json={"error_rate": 2}, timeout=30
    )
    assert answer.status_code == 400
    assert "between 0 and 1" in answer.json()["message"]
    unknown = requests.put(
        f"{sandbox.root_url('adminpulse')}/_sandbox/faults", json={"eror_rate": 0.1}, timeout=30
    )
    assert unknown.status_code == 400
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "amlsync_sandbox",
            "--db",
            str(sandbox.db_path),
            "faults",
            "--drop-rate",
            "-1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 2
    assert "drop_rate" in cli.stderr


def test_requests_are_counted_per_route_template_method_and_status(sandbox):
    sandbox.load(adminpulse_world([relation(1), relation(2)]))
    sandbox.reset_requests()
    for relation_id in (1, 2, 3):
        requests.get(
            f"{sandbox.adminpulse_url}/relations/{relation_id}", headers=ap_headers(), timeout=30
        )
    requests.get(f"{sandbox.adminpulse_url}/relations/1", timeout=30)
    requests.get(f"{sandbox.adminpulse_url}/nowhere", timeout=30)
    requests.get(f"{sandbox.adminpulse_url}/_sandbox/health", timeout=30)
    counts: list[dict[str, Any]] = sandbox.requests("adminpulse")
    assert counts == [
        {
            "service": "adminpulse",
            "endpoint": "(unmatched)",
            "method": "GET",
            "status": 404,
            "count": 1,
        },
        {
            "service": "adminpulse",
            "endpoint": "/relations/{id}",
            "method": "GET",
            "status": 200,
            "count": 2,
        },
        {
            "service": "adminpulse",
            "endpoint": "/relations/{id}",
            "method": "GET",
            "status": 401,
            "count": 1,
        },
        {
            "service": "adminpulse",
            "endpoint": "/relations/{id}",
            "method": "GET",
            "status": 404,
            "count": 1,
        },
    ]
    assert '"endpoint": "/relations/{id}"' in sandbox.command("requests", "--json")
    sandbox.reset_requests()
    assert sandbox.requests("adminpulse") == []
