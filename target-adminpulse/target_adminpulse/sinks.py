"""One sink per accepted stream; each record is queued on its client's write lane."""

from __future__ import annotations

import datetime
import typing as t

from singer_sdk.sinks import RecordSink

if t.TYPE_CHECKING:
    from singer_sdk.target_base import Target

    from target_adminpulse.writer import AdminPulseWriter


class AdminPulseSink(RecordSink):
    """Hands each record to the run's writer, which validates it against the input contract.

    The SDK's own validation against the tap's schema is off: the target's contract is the
    authority, and a record that breaks it is rejected with its reasons rather than ending the
    run.
    """

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        self.writer: AdminPulseWriter = target.writer  # type: ignore[attr-defined]
        super().__init__(target, stream_name, schema, key_properties)

    def setup(self) -> None:
        """Before the run's first record is written, replay the rejects of earlier runs."""
        self.writer.replay_rejects()

    def get_validator(self) -> None:
        """No validation against the incoming schema (see the class docstring)."""
        return

    def preprocess_record(self, record: dict, context: dict) -> dict:  # noqa: ARG002
        """Give back the JSON text of the timestamps the SDK parsed, as the contract speaks JSON."""
        return {key: _as_json_value(value) for key, value in record.items()}

    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Queue the record on its client's lane; the target drains the lanes before any state."""
        self.writer.submit(self.stream_name, record)


class IgnoredStreamSink(RecordSink):
    """Counts records of streams outside the input contract (such as users) and drops them."""

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        self.writer: AdminPulseWriter = target.writer  # type: ignore[attr-defined]
        super().__init__(target, stream_name, schema, key_properties)
        self.logger.info("Stream %s is not part of the input contract; ignoring it", stream_name)

    def get_validator(self) -> None:
        """Nothing is validated for a stream that is not written."""
        return

    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Count the record only."""
        self.writer.report.ignored_streams[self.stream_name] += 1


def _as_json_value(value: t.Any) -> t.Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value
