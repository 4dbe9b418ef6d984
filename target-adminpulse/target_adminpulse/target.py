"""The AdminPulse target: its settings and the streams it accepts."""

from __future__ import annotations

import atexit
import sys
import typing as t
from functools import cached_property
from pathlib import Path

import urllib3
from singer_sdk import typing as th
from singer_sdk.target_base import Target
from urllib3.exceptions import InsecureRequestWarning

from target_adminpulse import adminpulse_api, contract
from target_adminpulse.client import (
    DEFAULT_MAX_CONCURRENCY,
    AdminPulseClient,
    ConfigurationError,
    ReadRefused,
    TransientError,
)
from target_adminpulse.report import REJECTS_FILE_NAME, RejectsFile, RunReport
from target_adminpulse.sinks import AdminPulseSink, IgnoredStreamSink
from target_adminpulse.writer import AdminPulseWriter

if t.TYPE_CHECKING:
    from singer_sdk.sinks import Sink

# AdminPulse allows 50 document uploads a minute; the default keeps a margin.
DEFAULT_UPLOADS_PER_MINUTE = 45
# Half the 480 calls a minute AdminPulse allows, leaving room for the office's other tools.
DEFAULT_REQUESTS_PER_MINUTE = 240
DEFAULT_RISK_LEVEL_MAP = {"low": "low", "standard": "normal", "high": "high"}
DEFAULT_DOCUMENT_TYPE_MAP = {
    "identification_form": "AML identificatieformulier",
    "cap_report": "AML cliëntacceptatie",
    "verification_report": "AML verificatierapport",
    "ubo_extract": "UBO-register uittreksel",
    "id_card": "Identiteitskaart kopie",
}


class TargetAdminPulse(Target):
    """Writes CAP dates, risk level, ID-card expiry and AMLCare documents to AdminPulse."""

    name = "target-adminpulse"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "base_url",
            th.StringType,
            default="https://api.adminpulse.be",
            description="AdminPulse API root, without a trailing slash.",
        ),
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            description=(
                "Personal API key (Bearer token) with the scopes relations:read, "
                "relations:write, documents:read and documents:write."
            ),
        ),
        th.Property(
            "risk_level_map",
            th.ObjectType(additional_properties=th.StringType),
            default=DEFAULT_RISK_LEVEL_MAP,
            description="AMLCare risk level to AdminPulse overall risk (low, normal or high).",
        ),
        th.Property(
            "document_type_map",
            th.ObjectType(additional_properties=th.StringType),
            default=DEFAULT_DOCUMENT_TYPE_MAP,
            description=(
                "AMLCare document kind to AdminPulse document type name; a kind left out is "
                "not uploaded."
            ),
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType(minimum=1),
            default=DEFAULT_REQUESTS_PER_MINUTE,
            description="Client-side request budget, spaced evenly; AdminPulse allows 480.",
        ),
        th.Property(
            "uploads_per_minute",
            th.IntegerType(minimum=1),
            default=DEFAULT_UPLOADS_PER_MINUTE,
            description="Client-side upload budget, spaced evenly; AdminPulse allows 50.",
        ),
        th.Property(
            "max_concurrency",
            th.IntegerType(minimum=1),
            default=DEFAULT_MAX_CONCURRENCY,
            description=(
                "Most requests in flight at once. The pool is as wide as the request budget "
                "needs at one second a round trip (requests_per_minute / 60), capped by this; "
                "1 writes one record at a time."
            ),
        ),
        th.Property(
            "report_dir",
            th.StringType,
            default="output/reports/target-adminpulse",
            description=f"Folder for the run reports and the rejects file ({REJECTS_FILE_NAME}).",
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default="target-adminpulse",
            description="User-Agent header sent with every request.",
        ),
        th.Property(
            "verify_tls",
            th.BooleanType,
            default=True,
            description=(
                "Check AdminPulse's TLS certificate. Turn off only for a test server with a "
                "self-signed certificate; the target then logs a warning."
            ),
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # The writer's lanes write concurrently already; sinks have nothing to drain in parallel.
        self.max_parallelism = 1
        self._last_emitted_state: dict | None = None
        self._finished = False

    @cached_property
    def writer(self) -> AdminPulseWriter:
        """The run's writer: one HTTP client, one relation cache, one report."""
        risk_level_map = dict(self.config.get("risk_level_map") or DEFAULT_RISK_LEVEL_MAP)
        bad = sorted(
            value for value in risk_level_map.values() if value not in adminpulse_api.RISK_LEVELS
        )
        if bad:
            msg = (
                f"risk_level_map maps to {', '.join(bad)}; AdminPulse knows only "
                f"{', '.join(adminpulse_api.RISK_LEVELS)}. Correct the target-adminpulse setting."
            )
            raise ConfigurationError(msg)
        client = AdminPulseClient(
            base_url=self.config.get("base_url", "https://api.adminpulse.be"),
            api_key=self.config["api_key"],
            user_agent=self.config.get("user_agent", self.name),
            requests_per_minute=self.config.get("requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE),
            uploads_per_minute=self.config.get("uploads_per_minute", DEFAULT_UPLOADS_PER_MINUTE),
            verify_tls=self.verify_tls(),
            max_concurrency=self.config.get("max_concurrency", DEFAULT_MAX_CONCURRENCY),
        )
        self.logger.info(
            "Writing on %d lanes, %d requests a minute", client.concurrency, client.pace_per_minute
        )
        # Whatever ends the run (a settings problem, a crash), the report is still written.
        atexit.register(self._finish)
        return AdminPulseWriter(
            client=client,
            risk_level_map=risk_level_map,
            document_type_map=dict(
                self.config.get("document_type_map") or DEFAULT_DOCUMENT_TYPE_MAP
            ),
            report=RunReport(),
            rejects=RejectsFile(self.report_dir / REJECTS_FILE_NAME),
        )

    def verify_tls(self) -> bool:
        """Whether TLS certificates are checked; a warning says so when they are not."""
        if self.config.get("verify_tls", True) is not False:
            return True
        urllib3.disable_warnings(InsecureRequestWarning)  # one warning here, not one per call
        self.logger.warning(
            "verify_tls is false: the TLS certificate of %s is not checked, so the API key and "
            "client data can be read or changed on the way. Use this only with a test server.",
            self.config.get("base_url"),
        )
        return False

    @property
    def report_dir(self) -> Path:
        """Where reports and the rejects file go."""
        return Path(self.config.get("report_dir") or "output/reports/target-adminpulse")

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """Clients and documents are written; any other stream is counted and ignored."""
        if stream_name in contract.SCHEMAS:
            return AdminPulseSink
        return IgnoredStreamSink

    def process_endofpipe(self) -> None:
        """After the last input: replay rejects if no sink did, wait for every write, report."""
        self.writer.replay_rejects()
        self.writer.drain()
        super().process_endofpipe()
        self.writer.report.status = "completed"
        self._finish()

    def _finish(self) -> None:
        """Flush the rejects file and write the report, once; also run at exit after a failure."""
        writer = self.writer
        report = writer.report
        if self._finished:
            return
        self._finished = True
        writer.pool.close()
        if report.status == "running":
            report.status = "failed"
            report.error = report.error or "stopped by an error; see the log"
        writer.rejects.flush()
        report.requests_sent = writer.client.requests_sent
        report.writes_sent = writer.client.writes_sent
        path = report.write(self.report_dir)
        totals = ", ".join(f"{name} {count}" for name, count in report.totals().items())
        self.logger.info(
            "Run %s: %s; %d problems; %d requests (%d writes); report %s",
            report.status,
            totals,
            report.problem_count,
            report.requests_sent,
            report.writes_sent,
            path,
        )

    def _process_state_message(self, message_dict: dict) -> None:
        """Pass each new bookmark on as soon as the records before it are written.

        The SDK would otherwise hold it until the end of the run, and a run stopped half-way
        would redo everything.
        """
        before = self._latest_state
        super()._process_state_message(message_dict)
        if self._latest_state is not before:
            self.drain_all()

    def _write_state_message(self, state: dict) -> None:
        """Emit a bookmark only past written records, with their rejections on disk; each once.

        The lanes are drained first: every record read before the bookmark is then written or
        rejected. A failed write raises here, so the bookmark is not emitted and the run fails.
        """
        self.writer.drain()
        self.writer.rejects.flush()
        if state == self._last_emitted_state:
            return
        super()._write_state_message(state)
        self._last_emitted_state = state

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the target; an AdminPulse that stays out of reach ends it in one line."""
        try:
            super().invoke(*args, **kwargs)
        except (TransientError, ReadRefused) as error:
            cls.logger.error(
                "AdminPulse kept failing (%s) after every retry: check the setting base_url, "
                "the network, and that AdminPulse is up; the next run resumes from the last "
                "saved bookmark.",
                error,
            )
            sys.exit(1)


if __name__ == "__main__":
    TargetAdminPulse.cli()
