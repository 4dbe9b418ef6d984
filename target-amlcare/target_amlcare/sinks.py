"""One sink per accepted stream; each hands its records to the run's import.

The sinks do no writing of their own: which record becomes which AMLCare client depends on
records of other streams (a company's UBOs, a person's identity cards), so the work belongs to
one `Import` that sees them all. The SDK's own schema check and date parsing are turned off:
the target checks every record against its input contract instead (rejecting, never stopping),
and keeps AdminPulse's dates as the text they were sent as.
"""

from __future__ import annotations

import copy
import typing as t

from singer_sdk.sinks import RecordSink
from typing_extensions import override

from target_amlcare.contract import STREAM_SCHEMAS

if t.TYPE_CHECKING:
    from singer_sdk.sinks.core import BaseJSONSchemaValidator

    from target_amlcare.target import TargetAMLCare

DATE_FORMATS = frozenset({"date", "date-time", "time"})


def without_date_formats(schema: t.Any) -> t.Any:
    """A copy of a JSON Schema whose date and time strings are plain strings."""
    if isinstance(schema, dict):
        return {
            key: without_date_formats(value)
            for key, value in schema.items()
            if not (key == "format" and value in DATE_FORMATS)
        }
    if isinstance(schema, list):
        return [without_date_formats(item) for item in schema]
    return schema


class ImportSink(RecordSink):
    """Passes each record of one accepted stream to the import."""

    def __init__(self, target: TargetAMLCare, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(target, *args, **kwargs)
        self.import_run = target.import_run
        self.schema = without_date_formats(copy.deepcopy(self.schema))

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """None: the input contract is checked by the import, record by record."""
        return None

    @override
    def process_record(self, record: dict, context: dict) -> None:
        """Hand the record over; the import validates, keeps or rejects it."""
        self.import_run.accept(self.stream_name, record)


class IgnoredStreamSink(RecordSink):
    """Counts the records of a stream the target does not accept, and drops them."""

    def __init__(self, target: TargetAMLCare, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(target, *args, **kwargs)
        self.report = target.report
        self.logger.warning(
            "Stream %r is not one the target accepts (%s); its records are ignored",
            self.stream_name,
            ", ".join(STREAM_SCHEMAS),
        )

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """No check: the records are not used."""
        return None

    @override
    def process_record(self, record: dict, context: dict) -> None:
        """Count the record as skipped."""
        self.report.count(f"skipped_stream_{self.stream_name}")
