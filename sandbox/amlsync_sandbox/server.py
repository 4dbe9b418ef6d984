"""The server process: both services, each on its own port, until it is told to stop.

Beside the database it keeps a run file (`<db name>.pid`, JSON: pid, host, ports) that the CLI
reads to find, check and stop it, and a log (`<db name>.log`) when started in the background.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from amlsync_sandbox import adminpulse, amlcare, storage
from amlsync_sandbox.service import FaultSettings, read_faults, wrap, write_faults

logger = logging.getLogger("amlsync_sandbox")


@dataclass(frozen=True)
class RunInfo:
    """Where a running sandbox listens, as written in its run file."""

    pid: int
    host: str
    adminpulse_port: int
    amlcare_port: int

    @property
    def adminpulse_url(self) -> str:
        """AdminPulse's base URL (its paths have no version segment)."""
        return f"http://{self.host}:{self.adminpulse_port}"

    @property
    def amlcare_url(self) -> str:
        """AMLCare's API base URL, the `/v1` the connectors are configured with."""
        return f"http://{self.host}:{self.amlcare_port}/v1"

    def root_url(self, service: str) -> str:
        """Where a service's `/_sandbox/` routes live."""
        port = self.adminpulse_port if service == "adminpulse" else self.amlcare_port
        return f"http://{self.host}:{port}"


def run_file(db_path: Path) -> Path:
    """The run file of the server that uses `db_path`."""
    return db_path.with_name(db_path.name.removesuffix(".db") + ".pid")


def log_file(db_path: Path) -> Path:
    """The log of a server started in the background on `db_path`."""
    return db_path.with_name(db_path.name.removesuffix(".db") + ".log")


def read_run_info(db_path: Path) -> RunInfo | None:
    """The run file's contents, or None when there is none (or it is unreadable)."""
    try:
        return RunInfo(**json.loads(run_file(db_path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, logging method, path and status only.

    Query strings can carry national register numbers (`?nationalRegisterNumber=...`), which
    must never reach a log, so they are left out.
    """

    def log_request(self, code: int | str = "-", _size: int | str = "-") -> None:
        path = getattr(self, "path", "?").split("?", 1)[0]
        logger.info("%s %s %s", getattr(self, "command", "?"), path, code)

    def log_error(self, format: str, *args: Any) -> None:
        logger.warning("http: " + format, *args)


def prepare_database(db_path: Path, rate_scale: float | None) -> None:
    """Create the database with the base world if needed, and set the rate-limit scale."""
    conn = storage.connect(db_path)
    try:
        if storage.ensure_world(conn):
            logger.info("created %s with the base world", db_path)
        if rate_scale is not None:
            for service in ("adminpulse", "amlcare"):
                settings = read_faults(conn, service)
                write_faults(
                    conn, service, FaultSettings.from_dict({"rate_scale": rate_scale}, settings)
                )
    finally:
        conn.close()


def serve(
    db_path: Path,
    host: str,
    adminpulse_port: int,
    amlcare_port: int,
    rate_scale: float | None = None,
) -> None:
    """Serve both services until SIGTERM or SIGINT.

    Raises:
        OSError: a port could not be bound (taken, or not allowed).
    """
    prepare_database(db_path, rate_scale)
    servers: list[BaseWSGIServer] = []
    try:
        for app, port in (
            (adminpulse.create_app(db_path), adminpulse_port),
            (amlcare.create_app(db_path), amlcare_port),
        ):
            servers.append(
                make_server(host, port, wrap(app), threaded=True, request_handler=_RequestHandler)
            )
    except OSError:
        for server in servers:
            server.server_close()
        raise

    info = RunInfo(os.getpid(), host, adminpulse_port, amlcare_port)
    run_file(db_path).write_text(json.dumps(asdict(info)), encoding="utf-8")
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received signal %d, stopping", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threads = [
        threading.Thread(target=server.serve_forever, name=f"serve-{index}", daemon=True)
        for index, server in enumerate(servers)
    ]
    for thread in threads:
        thread.start()
    logger.info(
        "serving AdminPulse at %s and AMLCare at %s (db %s)",
        info.adminpulse_url,
        info.amlcare_url,
        db_path,
    )
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        if read_run_info(db_path) == info:
            run_file(db_path).unlink(missing_ok=True)
        logger.info("stopped")
