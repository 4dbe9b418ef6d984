"""What happens to each record: its relation found, compared, written once, or rejected."""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
import typing as t

from target_adminpulse import adminpulse_api, contract, documents
from target_adminpulse.client import (
    MAX_TRIES,
    AdminPulseClient,
    ConfigurationError,
    RecordRefused,
    TransientError,
    backoff_seconds,
)
from target_adminpulse.identifiers import business_key
from target_adminpulse.pool import LanePool
from target_adminpulse.relations import Rejection, RelationFinder, describe
from target_adminpulse.report import Problem, RejectsFile, RunReport

# A progress line after this many records of a long run, and at least every this many seconds.
PROGRESS_EVERY = 100
PROGRESS_SECONDS = 30.0

logger = logging.getLogger(__name__)


def reject_key(stream: str, record: dict[str, t.Any]) -> str:
    """What a rejection is about: a client (its latest state), or one document version."""
    if stream == contract.DOCUMENTS:
        return f"{stream}:{record.get('id')}:v{record.get('version')}:{record.get('status')}"
    return f"{stream}:{record.get('id')}"


def lane_key(stream: str, record: dict[str, t.Any]) -> str:
    """The client a record belongs to: its records are written one after the other, in order.

    A client's update and its documents' versions all carry the client's type and key, so a
    newer update lands after an older one and a replayed reject before newer input.
    """
    if stream == contract.CLIENTS:
        return f"{record.get('type')}:{record.get('key')}"
    return f"{record.get('client_type')}:{record.get('client_key')}"


class AdminPulseWriter:
    """Writes clients' compliance values and documents to AdminPulse, each at most once.

    Records are written on the lanes of a pool as wide as the client's concurrency: different
    clients at the same time, one client's records in arrival order.
    """

    def __init__(
        self,
        *,
        client: AdminPulseClient,
        risk_level_map: dict[str, str],
        document_type_map: dict[str, str],
        report: RunReport,
        rejects: RejectsFile,
    ) -> None:
        self.client = client
        self.relations = RelationFinder(client)
        self.risk_level_map = risk_level_map
        self.document_type_map = document_type_map
        self.report = report
        self.rejects = rejects
        self.pool = LanePool(client.concurrency)
        self._document_type_ids: dict[str, int] | None = None
        self._document_types_lock = threading.Lock()
        self._progress_lock = threading.Lock()
        self._records_seen = 0
        self._started = self._last_progress = time.monotonic()
        self._replayed = False

    # The run's phases.

    def replay_rejects(self) -> None:
        """Try again every record an earlier run rejected, before any new record.

        Replaying first means a newer record of the same client, arriving in this run's input,
        is written after (and so over) the older one.
        """
        if self._replayed:
            return
        self._replayed = True
        pending = self.rejects.pending()
        if not pending:
            return
        logger.info("Replaying %d rejected records of earlier runs", len(pending))
        for entry in pending:
            key = lane_key(entry["stream"], entry["record"])
            self.pool.submit(key, self._replay, entry["stream"], entry["record"])
        self.pool.drain()
        self.rejects.flush()

    def submit(self, stream: str, record: dict[str, t.Any]) -> None:
        """Queue one record on its client's lane; raises the failure of an earlier write."""
        self.pool.submit(lane_key(stream, record), self.write, stream, record)

    def drain(self) -> None:
        """Wait until every queued record is written or rejected; raise if a write failed."""
        self.pool.drain()

    def _replay(self, stream: str, record: dict[str, t.Any]) -> None:
        outcome = self.write(stream, record, replayed=True)
        self.report.count_replay("written" if outcome != "rejected" else "still rejected")

    def write(self, stream: str, record: dict[str, t.Any], *, replayed: bool = False) -> str:
        """Write one record and return its outcome; a rejection is reported and kept."""
        key = reject_key(stream, record)
        try:
            if stream == contract.CLIENTS:
                outcome = self._write_client(record)
            else:
                outcome = self._write_document(record)
        except Rejection as rejection:
            self._reject(stream, record, key, rejection, replayed=replayed)
            outcome = "rejected"
        except RecordRefused as refusal:
            refused = Rejection(
                f"AdminPulse refused the write: {refusal}",
                "check the relation in AdminPulse; the record is retried by the next run",
            )
            self._reject(stream, record, key, refused, replayed=replayed)
            outcome = "rejected"
        except ConfigurationError as error:
            self.report.status, self.report.error = "failed", error.message
            raise
        else:
            self.rejects.discard(key)
        self._tally(stream, outcome)
        return outcome

    # Clients: CAP dates, risk level, ID-card expiry, and nothing else.

    def _write_client(self, record: dict[str, t.Any]) -> str:
        self._check_contract(contract.CLIENTS, record)
        wanted = self._compliance_values(record)
        if wanted == adminpulse_api.ComplianceValues(None, None, None, None):
            self.report.skip("client without CAP dates, risk level or ID-card expiry")
            return "skipped"

        relation = self.relations.find(
            record["type"], record["key"], record.get("enterprise_number")
        )
        if relation.get("type") not in adminpulse_api.PERSON_RELATION_TYPES:
            wanted = wanted._replace(id_card_expiry_date=None)
        body = adminpulse_api.relation_update(adminpulse_api.compliance_values(relation), wanted)
        if body is None:
            return "unchanged"

        path = adminpulse_api.RELATION_PATH.format(relation_id=relation["id"])
        updated = self.client.put(path, body)
        self.relations.remember(updated)
        logger.info(
            "Updated relation %s from client %s: %s",
            describe(relation),
            record["id"],
            ", ".join(_changed_fields(body)),
        )
        return "updated"

    def _compliance_values(self, record: dict[str, t.Any]) -> adminpulse_api.ComplianceValues:
        cap = record.get("cap") or {}
        id_card = record.get("id_card") or {}
        risk_level = record.get("risk_level")
        risk = None
        if risk_level is not None:
            if risk_level not in self.risk_level_map:
                raise Rejection(
                    f"risk level {risk_level!r} has no entry in risk_level_map",
                    "add it to the target-adminpulse setting risk_level_map",
                )
            risk = self.risk_level_map[risk_level]
        return adminpulse_api.ComplianceValues(
            risk=risk,
            acceptance_date=cap.get("acceptance_date"),
            next_review_date=cap.get("next_review_date"),
            id_card_expiry_date=id_card.get("expiry_date") if record["type"] == "person" else None,
        )

    # Documents: every version once, found before it is uploaded.

    def _write_document(self, record: dict[str, t.Any]) -> str:
        self._check_contract(contract.DOCUMENTS, record)
        reason = documents.skip_reason(record)
        if reason is None and record["kind"] not in self.document_type_map:
            reason = f"{record['kind']} has no entry in document_type_map"
        if reason is not None:
            self.report.skip(reason)
            return "skipped"
        content = _decode_content(record)

        relation = self.relations.find(record["client_type"], record["client_key"])
        name = documents.file_name(record)
        if self._already_uploaded(relation["uniqueIdentifier"], name):
            return "unchanged"

        fields = {
            adminpulse_api.UPLOAD_FIELD_RELATION: relation["uniqueIdentifier"],
            adminpulse_api.UPLOAD_FIELD_TYPE: str(self._document_type_id(record["kind"])),
            adminpulse_api.UPLOAD_FIELD_FILE_NAME: name,
            adminpulse_api.UPLOAD_FIELD_DATE: documents.document_date(record),
        }
        self._upload_once(relation=relation, fields=fields, content=content)
        return "created"

    def _upload_once(
        self, *, relation: dict[str, t.Any], fields: dict[str, str], content: bytes
    ) -> None:
        """Upload a version AdminPulse does not hold yet, retrying without ever doubling it.

        Before each retry the upload is searched for again: a dropped connection (or a crash,
        for the next run) between upload and answer leaves the upload found, not repeated.
        """
        name = fields[adminpulse_api.UPLOAD_FIELD_FILE_NAME]
        for attempt in range(1, MAX_TRIES + 1):
            if attempt > 1 and self._already_uploaded(relation["uniqueIdentifier"], name):
                logger.info("Upload of %s to %s had arrived", name, describe(relation))
                return
            try:
                document = self.client.upload(fields=fields, file_name=name, content=content)
            except TransientError as error:
                if attempt == MAX_TRIES:
                    raise
                wait = backoff_seconds(error, attempt)
                logger.warning(
                    "Upload of %s failed (%s); checking again in %.1f s", name, error, wait
                )
                time.sleep(wait)
                continue
            logger.info(
                "Uploaded %s to relation %s as document %s",
                name,
                describe(relation),
                document.get("id"),
            )
            return
        raise AssertionError("unreachable")  # pragma: no cover

    def _already_uploaded(self, relation_uid: str, name: str) -> bool:
        found = self.client.list_all(
            adminpulse_api.DOCUMENTS_PATH,
            {
                adminpulse_api.FILTER_DOCUMENT_RELATION: relation_uid,
                adminpulse_api.FILTER_DOCUMENT_FILE_NAME: name,
            },
        )
        return any(
            document.get("fileName") == name and document.get("relationIdentifier") == relation_uid
            for document in found
        )

    def _document_type_id(self, kind: str) -> int:
        """The numeric type of a kind, from the type names AdminPulse lists (asked once a run)."""
        with self._document_types_lock:
            return self._document_type_ids_of_run()[kind]

    def _document_type_ids_of_run(self) -> dict[str, int]:
        if self._document_type_ids is None:
            listed = self.client.get(adminpulse_api.DOCUMENT_TYPES_PATH)
            by_name = {str(item.get("name")): int(item["id"]) for item in listed}
            unknown = sorted(set(self.document_type_map.values()) - set(by_name))
            if unknown:
                msg = (
                    f"document_type_map names document types AdminPulse does not have: "
                    f"{', '.join(unknown)}. Known types: {', '.join(sorted(by_name))}. "
                    "Create the types in AdminPulse or correct the target-adminpulse setting."
                )
                raise ConfigurationError(msg)
            self._document_type_ids = {
                kind: by_name[name] for kind, name in self.document_type_map.items()
            }
        return self._document_type_ids

    # Shared steps.

    def _check_contract(self, stream: str, record: dict[str, t.Any]) -> None:
        problems = contract.violations(stream, record)
        if problems:
            raise Rejection(
                "does not match the input contract: " + "; ".join(problems),
                "correct the record in AMLCare (or the stream map that feeds this target)",
            )

    def _reject(
        self,
        stream: str,
        record: dict[str, t.Any],
        key: str,
        rejection: Rejection,
        *,
        replayed: bool,
    ) -> None:
        client_type = (
            record.get("type") if stream == contract.CLIENTS else record.get("client_type")
        )
        client_key = record.get("key") if stream == contract.CLIENTS else record.get("client_key")
        problem = Problem(
            stream=stream,
            record_id=_record_label(stream, record),
            business_key=business_key(client_type, client_key),
            reason=rejection.reason,
            action=rejection.action,
            replayed=replayed,
        )
        self.report.add_problem(problem)
        self.rejects.add(key, stream, record, rejection.reason)
        logger.warning(
            "Rejected %s %s (%s): %s",
            stream,
            problem.record_id,
            problem.business_key,
            rejection.reason,
        )

    def _tally(self, stream: str, outcome: str) -> None:
        """Count one outcome; every so many records or seconds, log the count, rate and outcomes.

        Counting and logging share one lock, so a progress line's outcomes add up to its count
        even while other lanes finish records.
        """
        with self._progress_lock:
            self.report.count(stream, outcome)
            self._records_seen += 1
            now = time.monotonic()
            if self._records_seen % PROGRESS_EVERY and now - self._last_progress < PROGRESS_SECONDS:
                return
            self._last_progress = now
            logger.info(
                "Progress: %d records (%.1f/s), %s; %d requests sent",
                self._records_seen,
                self._records_seen / max(now - self._started, 1e-6),
                ", ".join(f"{k} {v}" for k, v in self.report.totals().items() if v),
                self.client.requests_sent,
            )


def _decode_content(record: dict[str, t.Any]) -> bytes:
    if record.get("content_skipped"):
        raise Rejection(
            f"the tap left the file out: {record['content_skipped']}",
            "upload this version by hand in AdminPulse, or replace it in AMLCare by a smaller file",
        )
    if record.get("content") is None:
        raise Rejection(
            "the record carries no file",
            "turn include_document_content on in the tap that feeds this target",
        )
    try:
        content = base64.b64decode(record["content"], validate=True)
    except (binascii.Error, ValueError):
        raise Rejection(
            "the file is not valid base64", "check the tap or stream map that feeds this target"
        ) from None
    if not content:
        raise Rejection("the file is empty", "replace the document in AMLCare by its real file")
    return content


def _record_label(stream: str, record: dict[str, t.Any]) -> str:
    if stream == contract.DOCUMENTS:
        return f"{record.get('id')} v{record.get('version')} ({record.get('kind')})"
    return str(record.get("id"))


def _changed_fields(body: dict[str, t.Any]) -> list[str]:
    fields = [f"aml.{name}" for name in body.get(adminpulse_api.AML_FIELD, {})]
    if adminpulse_api.ID_CARD_EXPIRY_FIELD in body:
        fields.append(adminpulse_api.ID_CARD_EXPIRY_FIELD)
    return fields
