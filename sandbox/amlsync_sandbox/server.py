"""The server process: both services, each on its own port, until it is told to stop."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from amlsync_sandbox import adminpulse, amlcare, storage
from amlsync_sandbox.faults import FaultSettings, read_faults, write_faults
from amlsync_sandbox.runfile import RunInfo, read_run_info, run_file
from amlsync_sandbox.service import wrap

logger = logging.getLogger("amlsync_sandbox")

# How often a serving thread checks whether it was asked to stop.
SHUTDOWN_POLL_SECONDS = 0.05


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, logging method, path and status only.

    Query strings can carry national register numbers (`?nationalRegisterNumber=...`), which
    must never reach a log, so they are left out.
    """

    def log_request(self, code: int | str = "-", _size: int | str = "-") -> None:
        path = getattr(self, "path", "?").split("?", 1)[0]
        port = self.server.server_address[1]
        logger.info(":%s %s %s %s", port, getattr(self, "command", "?"), path, code)

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
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name=f"serve-{index}",
            daemon=True,
        )
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
