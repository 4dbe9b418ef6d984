"""A running sandbox for tests: starts the real server in the background and drives it.

`SandboxProcess` only wraps the `amlsync-sandbox` command and the `/_sandbox/` HTTP routes; the
connectors under test talk to it over real HTTP exactly as they would in production.

    with SandboxProcess(tmp_path / "sandbox.db") as sandbox:
        sandbox.seed(clients=50, seed=3)
        run_my_tap(base_url=sandbox.adminpulse_url, api_key=sandbox.adminpulse_token)
        assert sandbox.requests("adminpulse")
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from amlsync_sandbox.world import DEFAULT_ADMINPULSE_TOKEN, DEFAULT_AMLCARE_KEY, SERVICES

HOST = "127.0.0.1"
# Exit code of `start` when a port is taken: another process won the race for a free port.
_EXIT_PORT_TAKEN = 3
_START_ATTEMPTS = 3
_COMMAND_TIMEOUT_SECONDS = 300
_HTTP_TIMEOUT_SECONDS = 30


class SandboxError(RuntimeError):
    """A sandbox command failed; the message carries its output."""


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class SandboxProcess:
    """One sandbox server on its own database and ports, for the length of a test.

    Args:
        db_path: the SQLite file of this sandbox's world (created with the base world).
        adminpulse_port: a fixed port, or None for a free one.
        amlcare_port: a fixed port, or None for a free one.
        rate_scale: multiply both services' rate limits by this (None: the documented limits).
    """

    adminpulse_token = DEFAULT_ADMINPULSE_TOKEN
    amlcare_key = DEFAULT_AMLCARE_KEY

    def __init__(
        self,
        db_path: str | Path,
        *,
        adminpulse_port: int | None = None,
        amlcare_port: int | None = None,
        rate_scale: float | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.adminpulse_port = adminpulse_port
        self.amlcare_port = amlcare_port
        self.rate_scale = rate_scale
        self.started = False
        self._session = requests.Session()

    @property
    def adminpulse_url(self) -> str:
        """AdminPulse's base URL: the tap's and target's `base_url`."""
        return f"http://{HOST}:{self.adminpulse_port}"

    @property
    def amlcare_url(self) -> str:
        """AMLCare's API base URL, ending in `/v1`: the tap's and target's `base_url`."""
        return f"http://{HOST}:{self.amlcare_port}/v1"

    def root_url(self, service: str) -> str:
        """The service's root, where its `/_sandbox/` routes live."""
        port = self.adminpulse_port if service == "adminpulse" else self.amlcare_port
        return f"http://{HOST}:{port}"

    def command(self, *args: str, stdin: str | None = None) -> str:
        """Run `amlsync-sandbox --db <this db> <args>` and return its standard output.

        Raises:
            SandboxError: the command failed.
        """
        completed = self._run(*args, stdin=stdin)
        if completed.returncode != 0:
            raise SandboxError(
                f"amlsync-sandbox {' '.join(args)} exited {completed.returncode}:\n"
                f"{completed.stdout}{completed.stderr}"
            )
        return completed.stdout

    def _run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own command with our own arguments
            [sys.executable, "-m", "amlsync_sandbox", "--db", str(self.db_path), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=_COMMAND_TIMEOUT_SECONDS,
            check=False,
        )

    def start(self) -> SandboxProcess:
        """Start the server and return once both services answer."""
        choose_ports = self.adminpulse_port is None or self.amlcare_port is None
        for _ in range(_START_ATTEMPTS):
            if choose_ports:
                self.adminpulse_port, self.amlcare_port = free_port(), free_port()
                while self.amlcare_port == self.adminpulse_port:
                    self.amlcare_port = free_port()
            args = [
                "start",
                "--adminpulse-port",
                str(self.adminpulse_port),
                "--amlcare-port",
                str(self.amlcare_port),
            ]
            if self.rate_scale is not None:
                args += ["--rate-scale", str(self.rate_scale)]
            completed = self._run(*args)
            if completed.returncode == 0:
                self.started = True
                return self
            if not (choose_ports and completed.returncode == _EXIT_PORT_TAKEN):
                break
        raise SandboxError(f"sandbox did not start:\n{completed.stdout}{completed.stderr}")

    def stop(self) -> None:
        """Stop the server (if it runs); the database stays for inspection."""
        if self.started:
            self.command("stop")
            self.started = False
        self._session.close()

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, method: str, service: str, path: str, **kwargs: Any) -> requests.Response:
        response = self._session.request(
            method, f"{self.root_url(service)}{path}", timeout=_HTTP_TIMEOUT_SECONDS, **kwargs
        )
        response.raise_for_status()
        return response

    def dump(self, service: str | None = None) -> dict[str, Any]:
        """The whole world as a world document, or one service's half of it."""
        if service is not None:
            return self._call("GET", service, "/_sandbox/dump").json()
        return json.loads(self.command("dump"))

    def requests(self, service: str) -> list[dict[str, Any]]:
        """The service's request counts: `[{endpoint, method, status, count}, ...]`.

        `status` 0 counts connections a fault dropped without an answer.
        """
        return self._call("GET", service, "/_sandbox/requests").json()["requests"]

    def request_count(
        self,
        service: str,
        endpoint: str | None = None,
        method: str | None = None,
        status: int | None = None,
    ) -> int:
        """How many requests match every given criterion."""
        return sum(
            row["count"]
            for row in self.requests(service)
            if (endpoint is None or row["endpoint"] == endpoint)
            and (method is None or row["method"] == method)
            and (status is None or row["status"] == status)
        )

    def reset_requests(self) -> None:
        """Forget both services' request counts."""
        for service in SERVICES:
            self._call("DELETE", service, "/_sandbox/requests")

    def faults(
        self, service: str | None = None, *, clear: bool = False, **settings: float
    ) -> dict[str, Any]:
        """Change the faults of one service or both; return the settings now in force.

        Settings (each optional): latency_ms, error_rate, rate_429, retry_after_share, drop_rate,
        slow_rate, slow_ms, rate_scale. `clear=True` first removes every fault (not the scale).
        """
        body: dict[str, Any] = {**settings, "clear": clear}
        services = [service] if service else list(SERVICES)
        return {
            name: self._call("PUT", name, "/_sandbox/faults", json=body).json() for name in services
        }

    def load(self, world: dict[str, Any]) -> None:
        """Replace the world (both services) with `world`."""
        self.command("load", "-", stdin=json.dumps(world))

    def seed(self, clients: int, seed: int = 1) -> None:
        """Replace the world with a generated one of `clients` AdminPulse clients."""
        self.command("seed", "--clients", str(clients), "--seed", str(seed))

    def reset(self) -> None:
        """Replace the world with the base world (no clients)."""
        self.command("reset")
