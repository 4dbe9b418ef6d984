"""The AMLCare target: its settings and the streams it accepts."""

from __future__ import annotations

import math
import signal
import sys
import typing as t
from pathlib import Path

import urllib3
from singer_sdk import typing as th
from singer_sdk.target_base import Target
from urllib3.exceptions import InsecureRequestWarning

from target_amlcare.client import AMLCareClient, AMLCareUnavailableError, SetupError
from target_amlcare.contract import STREAM_SCHEMAS
from target_amlcare.importer import Import, Settings
from target_amlcare.relation_store import ScratchDatabase
from target_amlcare.report import ProblemLog, RunReport, read_rejects, write_rejects
from target_amlcare.sinks import IgnoredStreamSink, ImportSink

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.sinks import Sink

# The order in which replayed rejects are fed back: what the others need comes first.
REPLAY_ORDER = ("users", "document_types", "relations", "identity_documents")
# The key of the identity documents bookmark with which the tap says that every new relation's
# documents have been sent: it holds the relations bookmark of the same run (see `tap_finished`).
DOCUMENTS_SENT_FOR = "sent_for_relations_through"
INCOMPLETE_INPUT = (
    "The input ended before the tap had sent every identity document (the tap stopped "
    "half-way): the clients this run created are left pending and no state is emitted, so the "
    "next run sends them again and finishes them."
)

STOPPED = (
    "Stopped by %s before the import finished: no state is emitted, so the next run reads the "
    "same relations again and finishes the clients left pending."
)
# A run stopped by a signal exits as the shell reports it: 128 + the signal's number.
SIGNAL_EXIT_BASE = 128


class IncompleteInputError(Exception):
    """The input ended where the tap cannot have finished; the run must not look successful."""


def tap_finished(state: dict | None, records_after_state: bool) -> bool:
    """Whether the input ended where a tap that finished its run ends it.

    A tap that dies (killed, out of memory) or is stopped closes its output like one that is
    done, so the end of the input proves nothing. A finished run ends on a state whose identity
    documents bookmark names the relations bookmark of that same state; one that stopped
    half-way ends on a record, on a state still marking progress, or on a state whose identity
    documents bookmark is the previous run's.
    """
    if records_after_state:
        return False
    if state is None:
        return True  # nothing was sent, so nothing waits for its cards
    bookmarks = state.get("bookmarks") or {}
    relations = bookmarks.get("relations") or {}
    documents = bookmarks.get("identity_documents") or {}
    if "progress_markers" in relations or DOCUMENTS_SENT_FOR not in documents:
        return False
    return documents[DOCUMENTS_SENT_FOR] == relations.get("replication_key_value")


class TargetAMLCare(Target):
    """Creates new clients in AMLCare, links existing ones, and reports what it could not do.

    State is emitted once, after the whole import has finished: a client becomes complete only
    after its identity cards, which come last in the stream, so no earlier point is safe to
    resume from. The SDK's periodic flush (every few minutes) is therefore switched off. An input
    that ends before the tap finished (see `tap_finished`) completes no client and emits no state.
    """

    name = "target-amlcare"
    _MAX_RECORD_AGE_IN_MINUTES = math.inf

    config_jsonschema = th.PropertiesList(
        th.Property(
            "base_url",
            th.StringType,
            required=True,
            description="AMLCare partner API root, including the version segment.",
        ),
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            description="AMLCare partner API key (Bearer token).",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description=(
                "Read and check everything, write nothing, report what would happen and every "
                "preparation problem. Emits no state."
            ),
        ),
        th.Property(
            "import_statuses",
            th.ArrayType(th.StringType),
            default=["customer"],
            description="AdminPulse relation statuses to import (customer, prospect, ...).",
        ),
        th.Property(
            "include_ended_relations",
            th.BooleanType,
            default=False,
            description="Also import relations whose end date has passed.",
        ),
        th.Property(
            "report_dir",
            th.StringType,
            default="output/reports/target-amlcare",
            description=(
                "Folder for the run reports (import-<run>.json/.md, preflight-<run>.json/.md) "
                "and the rejects file (rejects.jsonl), which the next import replays first."
            ),
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType,
            default=600,
            description="Client-side request budget.",
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default="target-amlcare",
            description="User-Agent header sent with every request.",
        ),
        th.Property(
            "verify_tls",
            th.BooleanType,
            default=True,
            description=(
                "Check AMLCare's TLS certificate. Turn off only for a test server with a "
                "self-signed certificate; the target then logs a warning."
            ),
        ),
    ).to_dict()

    default_sink_class = ImportSink

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        dry_run = bool(self.config.get("dry_run"))
        self.report_dir = Path(self.config.get("report_dir") or "output/reports/target-amlcare")
        # Relations, plans, problems and rejects wait here until the run ends; then it is deleted.
        self.scratch = ScratchDatabase()
        self.report = RunReport(
            mode="preflight" if dry_run else "import",
            dry_run=dry_run,
            problems=ProblemLog(self.scratch),
        )
        self.amlcare = AMLCareClient(
            base_url=self.config["base_url"],
            api_key=self.config["api_key"],
            requests_per_minute=int(self.config.get("requests_per_minute") or 600),
            user_agent=self.config.get("user_agent") or self.name,
            dry_run=dry_run,
            verify_tls=self.verify_tls(),
        )
        settings = Settings(
            import_statuses=frozenset(self.config.get("import_statuses") or ["customer"]),
            include_ended_relations=bool(self.config.get("include_ended_relations")),
            dry_run=dry_run,
        )
        self.import_run = Import(settings, self.amlcare, self.report, self.scratch)
        self.records_after_state = False
        if not dry_run:
            self.replay_rejects()

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

    def replay_rejects(self) -> None:
        """Feed the previous run's rejects back first; fresher records from the tap win.

        The file is read once per stream, a line at a time, rather than held whole.
        """
        count = sum(1 for _ in read_rejects(self.report_dir))
        if not count:
            return
        self.logger.info("Replaying %d records rejected by the previous run", count)
        for stream in REPLAY_ORDER:
            for entry in read_rejects(self.report_dir):
                if entry["stream"] == stream:
                    self.import_run.accept(stream, entry["record"], replayed=True)
                if stream == "relations":
                    for linked in entry.get("linked_relations", []):
                        self.import_run.accept("relations", linked, replayed=True)
        self.report.count("replayed", count)

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """The import sink for accepted streams; a counting, ignoring one for the rest."""
        return ImportSink if stream_name in STREAM_SCHEMAS else IgnoredStreamSink

    def _process_record_message(self, message_dict: dict) -> None:
        """Note that a record came after the last state, then process it as the SDK does."""
        self.records_after_state = True
        super()._process_record_message(message_dict)

    def _process_state_message(self, message_dict: dict) -> None:
        """Note that a state came last so far, then keep it as the SDK does."""
        self.records_after_state = False
        super()._process_state_message(message_dict)

    def process_endofpipe(self) -> None:
        """Finish the import, write the report and rejects, then let the SDK emit state.

        Raises:
            IncompleteInputError: when the input ended before the tap finished; the report and
                rejects are written, no client is completed and no state is emitted.
        """
        try:
            self.finish_import()
        finally:
            self.scratch.close()
        super().process_endofpipe()

    def finish_import(self) -> None:
        """Finish the import, then write the report and (after a real import) the rejects.

        Raises:
            IncompleteInputError: when the input ended before the tap finished.
        """
        finished = self.report.dry_run or tap_finished(self._latest_state, self.records_after_state)
        self.import_run.complete_clients = finished
        try:
            self.import_run.finish()
        except Exception as error:
            self.report.details["failed"] = f"{type(error).__name__}: {error}"
            self.report.write(self.report_dir)
            raise
        if not finished:
            self.report.details["failed"] = INCOMPLETE_INPUT
        json_path, page = self.report.write(self.report_dir)
        if not self.report.dry_run:
            write_rejects(self.report_dir, self.import_run.rejects)
        if not finished:
            raise IncompleteInputError(INCOMPLETE_INPUT)
        counts = ", ".join(f"{name} {n}" for name, n in sorted(self.report.counts.items()))
        self.logger.info("Run report %s (for people: %s): %s", json_path, page.name, counts)
        self.logger.info(
            "%d problems reported; AMLCare requests %d (%d writes)",
            len(self.report.problems),
            self.amlcare.request_count,
            self.amlcare.write_count,
        )

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002 - the SDK passes it
        """Stop at once on SIGINT or SIGTERM, emitting no state, with a non-zero exit code.

        The SDK's own handler emits the latest state received and exits 0. Here that state
        would move the bookmarks past relations whose clients are still pending and whose cards
        were never sent, so no later run would finish them.
        """
        self.logger.error(STOPPED, signal.Signals(signum).name)
        sys.exit(SIGNAL_EXIT_BASE + signum)

    def _write_state_message(self, state: dict) -> None:
        """Emit state after a real import; a dry run emits none, so no bookmark moves."""
        if self.report.dry_run:
            self.logger.info("Dry run: no state emitted")
            return
        super()._write_state_message(state)

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the target; a setup mistake or an unreachable AMLCare ends it in one line."""
        try:
            super().invoke(*args, **kwargs)
        except (SetupError, AMLCareUnavailableError, IncompleteInputError) as error:
            cls.logger.error("%s", error)
            sys.exit(1)


if __name__ == "__main__":
    TargetAMLCare.cli()
