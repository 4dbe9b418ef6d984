"""Configuration mistakes end a run with one clear line naming the problem, never a traceback.

Each connector is run on its own (`<connector> --config file.json`, taps also `--discover`)
against a sandbox, with one mistake at a time: a wrong URL, a host nobody listens on, a wrong
or expired token, a token without the scope it needs, a setting of the wrong type, and a TLS
certificate that cannot be checked. A few mistakes are also made through `meltano run`.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from amlsync_sandbox.generator import generate_world
from guarantee_runs import IMPORT_JOB, OUTBOUND_JOB, PROJECT_ROOT, new_office
from stdnum.be import vat

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from amlsync_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.e2e

INSTALLED = PROJECT_ROOT / ".meltano"
EXECUTABLES = {
    "tap-adminpulse": INSTALLED / "extractors/tap-adminpulse/venv/bin/tap-adminpulse",
    "tap-amlcare": INSTALLED / "extractors/tap-amlcare/venv/bin/tap-amlcare",
    "target-amlcare": INSTALLED / "loaders/target-amlcare/venv/bin/target-amlcare",
    "target-adminpulse": INSTALLED / "loaders/target-adminpulse/venv/bin/target-adminpulse",
}
SERVICE = {
    "tap-adminpulse": "adminpulse",
    "tap-amlcare": "amlcare",
    "target-amlcare": "amlcare",
    "target-adminpulse": "adminpulse",
}
# A small office; its client company is what target-adminpulse is given to write.
OFFICE = generate_world(2, seed=3)
COMPANY = next(
    r
    for r in OFFICE["adminpulse"]["relations"]
    if r["type"] == "company" and r["status"] == "customer"
)
EXPIRED_TOKEN = "expired-adminpulse-token"
READ_ONLY_TOKEN = "read-only-adminpulse-token"
SCHEMA = {"properties": {}}
# The least input that makes each target call its service: target-amlcare always reads the
# AMLCare users; target-adminpulse looks up the relation of a client with a risk level.
TARGET_INPUT = {
    "target-amlcare": "",
    "target-adminpulse": (
        json.dumps({"type": "SCHEMA", "stream": "clients", "schema": SCHEMA, "key_properties": []})
        + "\n"
        + json.dumps(
            {
                "type": "RECORD",
                "stream": "clients",
                "record": {
                    "id": "cl_1",
                    "type": "company",
                    "key": vat.compact(COMPANY["vatNumber"]),
                    "risk_level": "high",
                    "updated_at": "2026-11-30T10:00:00.000000Z",
                },
            }
        )
        + "\n"
    ),
}


@dataclass
class Outcome:
    code: int
    stderr: str

    def one_clear_line(self, *phrases: str) -> str:
        """The one line that names the problem; fails when there is none or a traceback."""
        assert self.code != 0, self.stderr[-3000:]
        assert "Traceback" not in self.stderr, self.stderr[-3000:]
        lines = [line for line in self.stderr.splitlines() if all(p in line for p in phrases)]
        assert lines, f"no line says {phrases}:\n{self.stderr[-3000:]}"
        return lines[0]


def run_connector(connector: str, config: dict[str, Any], folder: Path, *extra: str) -> Outcome:
    """Run one connector on its own with `config`; a target gets its least input."""
    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / f"{connector}.json"
    report_dir = {"report_dir": str(folder / "reports")} if connector.startswith("target") else {}
    config_file.write_text(json.dumps({**config, **report_dir}))
    completed = subprocess.run(
        [str(EXECUTABLES[connector]), "--config", str(config_file), *extra],
        input=TARGET_INPUT.get(connector, ""),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return Outcome(completed.returncode, completed.stderr)


def good_config(connector: str, sandbox: SandboxProcess) -> dict[str, Any]:
    if SERVICE[connector] == "adminpulse":
        return {"base_url": sandbox.adminpulse_url, "api_key": sandbox.adminpulse_token}
    return {"base_url": sandbox.amlcare_url, "api_key": sandbox.amlcare_key}


@pytest.fixture(scope="module")
def office_sandbox(tmp_path_factory) -> Iterator[SandboxProcess]:
    """A sandbox whose AdminPulse also knows an expired token and a read-only one."""
    from amlsync_sandbox.testing import SandboxProcess

    world = json.loads(json.dumps(OFFICE))
    every_scope = world["adminpulse"]["tokens"][0]["scopes"]
    world["adminpulse"]["tokens"] += [
        {"token": EXPIRED_TOKEN, "scopes": every_scope, "expiresAt": "2020-01-01T00:00:00"},
        {"token": READ_ONLY_TOKEN, "scopes": ["relations:read"], "expiresAt": None},
    ]
    with SandboxProcess(tmp_path_factory.mktemp("config") / "world.db") as sandbox:
        sandbox.load(world)
        yield sandbox


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


WRONG_URL = {
    "tap-adminpulse": lambda sandbox: sandbox.adminpulse_url + "/api",
    "tap-amlcare": lambda sandbox: sandbox.amlcare_url.removesuffix("/v1"),
    "target-amlcare": lambda sandbox: sandbox.amlcare_url.removesuffix("/v1"),
    "target-adminpulse": lambda sandbox: sandbox.adminpulse_url + "/api",
}


def run_each(
    connectors: list[str], config_of: Callable[[str], dict[str, Any]], folder: Path, *extra: str
) -> dict[str, Outcome]:
    """Run several connectors at once, each with its own config; their outcomes by name."""
    with ThreadPoolExecutor(len(connectors)) as pool:
        running = {
            name: pool.submit(run_connector, name, config_of(name), folder / name, *extra)
            for name in connectors
        }
        return {name: future.result() for name, future in running.items()}


def test_a_wrong_url_names_the_setting_base_url(office_sandbox, tmp_path):
    outcomes = run_each(
        list(EXECUTABLES),
        lambda name: {
            **good_config(name, office_sandbox),
            "base_url": WRONG_URL[name](office_sandbox),
        },
        tmp_path,
    )

    for outcome in outcomes.values():
        outcome.one_clear_line("base_url")


def test_a_wrong_token_names_the_setting_api_key_and_never_shows_it(office_sandbox, tmp_path):
    outcomes = run_each(
        list(EXECUTABLES),
        lambda name: {**good_config(name, office_sandbox), "api_key": "not-a-real-key-7f3a"},
        tmp_path,
    )

    for outcome in outcomes.values():
        assert "refused" in outcome.one_clear_line("api_key")
        assert "not-a-real-key-7f3a" not in outcome.stderr


def test_an_expired_or_too_narrow_adminpulse_token_says_what_is_wrong(office_sandbox, tmp_path):
    connectors = ["tap-adminpulse", "target-adminpulse"]
    expired = run_each(
        connectors,
        lambda name: {**good_config(name, office_sandbox), "api_key": EXPIRED_TOKEN},
        tmp_path / "expired",
    )
    narrow = run_each(
        connectors,
        lambda name: {**good_config(name, office_sandbox), "api_key": READ_ONLY_TOKEN},
        tmp_path / "narrow",
    )

    for outcome in expired.values():
        assert "expired" in outcome.one_clear_line("api_key").lower()
    # The tap reads users first; the target reads relations, then cannot write them.
    narrow["tap-adminpulse"].one_clear_line("users:read")
    narrow["target-adminpulse"].one_clear_line("relations:write")


def test_a_setting_of_the_wrong_type_names_the_setting(office_sandbox, tmp_path):
    def wrong_type(name: str) -> dict[str, Any]:
        return {**good_config(name, office_sandbox), "requests_per_minute": "fast"}

    outcomes = run_each(list(EXECUTABLES), wrong_type, tmp_path / "run")
    discoveries = run_each(["tap-adminpulse", "tap-amlcare"], wrong_type, tmp_path, "--discover")

    for outcome in outcomes.values():
        outcome.one_clear_line("requests_per_minute", "integer")
    # Discovery needs no setting, so it still answers, and says what is wrong.
    for outcome in discoveries.values():
        assert outcome.code == 0
        assert "Traceback" not in outcome.stderr
        lines = outcome.stderr.splitlines()
        assert any("requests_per_minute" in line and "integer" in line for line in lines)


def unreachable(connectors: list[str], tmp_path: Path) -> None:
    """Point connectors at a port nobody listens on; each gives up with one line."""
    port = closed_port()
    outcomes = run_each(
        connectors,
        lambda name: {
            "base_url": f"http://127.0.0.1:{port}" + ("/v1" if SERVICE[name] == "amlcare" else ""),
            "api_key": "k",
        },
        tmp_path,
    )
    for outcome in outcomes.values():
        outcome.one_clear_line("base_url")


def test_an_unreachable_host_ends_the_every_minute_connectors_in_one_line(tmp_path):
    # They retry first (a service restarting is not a mistake): about a minute each.
    unreachable(["tap-amlcare", "target-adminpulse"], tmp_path)


@pytest.mark.long
def test_an_unreachable_host_ends_the_nightly_connectors_in_one_line(tmp_path):
    # They retry for about three minutes: the night is long, a restart should not cost it.
    unreachable(["tap-adminpulse", "target-amlcare"], tmp_path)


# Through Meltano.


def test_through_meltano_a_wrong_token_is_one_line_and_no_traceback(sandbox, tmp_path):
    office = new_office(sandbox, tmp_path, TAP_ADMINPULSE_API_KEY="not-a-real-key-7f3a")

    completed = office.run("run", IMPORT_JOB, check=False)

    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr
    assert "not-a-real-key-7f3a" not in completed.stderr
    assert any("api_key" in line and "refused" in line for line in completed.stderr.splitlines()), (
        completed.stderr[-3000:]
    )


def test_through_meltano_a_setting_out_of_range_is_one_line(sandbox, tmp_path):
    office = new_office(sandbox, tmp_path, TARGET_ADMINPULSE_UPLOADS_PER_MINUTE="0")

    completed = office.run("run", OUTBOUND_JOB, check=False)

    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr
    assert any(
        "uploads_per_minute" in line and "minimum" in line for line in completed.stderr.splitlines()
    ), completed.stderr[-3000:]


def test_through_meltano_a_value_meltano_cannot_cast_stops_the_run_before_any_request(
    sandbox, tmp_path
):
    # Meltano casts the settings meltano.yml declares (integer, object, ...) itself and stops
    # with its own error panel, before any connector starts: loud and safe, but not one line of
    # ours. Run the connector directly to have it name the setting (tests above).
    office = new_office(sandbox, tmp_path, TARGET_ADMINPULSE_REQUESTS_PER_MINUTE="fast")
    sandbox.reset_requests()

    completed = office.run("run", OUTBOUND_JOB, check=False)

    assert completed.returncode != 0
    assert "'fast'" in completed.stderr
    assert sandbox.requests("adminpulse") == []
    assert sandbox.requests("amlcare") == []


# TLS.


class Forwarding(BaseHTTPRequestHandler):
    """Passes each request on to the sandbox over plain HTTP, and its answer back."""

    upstream = ""

    def forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host"}}
        answer = requests.request(
            self.command, self.upstream + self.path, data=body, headers=headers, timeout=60
        )
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in {
                "content-length",
                "content-encoding",
                "transfer-encoding",
                "connection",
            }:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PUT = do_PATCH = forward

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the connectors' output, not the proxy's."""


@pytest.fixture
def tls_proxies(office_sandbox, tmp_path) -> Iterator[dict[str, str]]:
    """HTTPS in front of each sandbox service, with a self-signed certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    key, certificate = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    servers, urls = [], {}
    for service, upstream in (
        ("adminpulse", office_sandbox.adminpulse_url),
        ("amlcare", office_sandbox.root_url("amlcare")),
    ):
        handler = type(f"Forwarding{service}", (Forwarding,), {"upstream": upstream})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        suffix = "/v1" if service == "amlcare" else ""
        urls[service] = f"https://127.0.0.1:{server.server_address[1]}{suffix}"
    yield urls
    for server in servers:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_unless_turned_off_and_turning_it_off_warns(
    office_sandbox, tls_proxies, tmp_path
):
    def through_tls(name: str) -> dict[str, Any]:
        return {**good_config(name, office_sandbox), "base_url": tls_proxies[SERVICE[name]]}

    checked = run_each(list(EXECUTABLES), through_tls, tmp_path / "checked")
    unchecked = run_each(
        list(EXECUTABLES), lambda name: {**through_tls(name), "verify_tls": False}, tmp_path
    )

    for name in EXECUTABLES:
        line = checked[name].one_clear_line("TLS certificate", "verify_tls")
        assert "self-signed certificate" in line
        assert unchecked[name].code == 0, unchecked[name].stderr[-3000:]
        lines = unchecked[name].stderr.splitlines()
        assert len([line for line in lines if "verify_tls is false" in line]) == 1
