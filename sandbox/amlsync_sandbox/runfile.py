"""Where a running sandbox leaves its traces beside the database.

The server writes a run file (`<db name>.pid`, JSON: pid, host, ports) that the CLI reads to
find, check and stop it; a server started in the background logs to `<db name>.log`. This module
stays free of Flask so that the CLI's quick commands start quickly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


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
