"""The AMLCare tap: its settings and its streams."""

from __future__ import annotations

from singer_sdk import Stream, Tap
from singer_sdk import typing as th

# The partner API answers at most 500 items per page.
MAX_PAGE_SIZE = 500


class TapAMLCare(Tap):
    """Reads clients, documents and internal users from AMLCare, incrementally."""

    name = "tap-amlcare"

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
            "start_date",
            th.DateTimeType,
            description="Read records updated on or after this moment on the first run.",
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=MAX_PAGE_SIZE,
            description=f"Items per page, at most {MAX_PAGE_SIZE}.",
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType,
            default=600,
            description="Client-side request budget.",
        ),
        th.Property(
            "include_document_content",
            th.BooleanType,
            default=True,
            description="Download document files with the documents stream.",
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default="tap-amlcare",
            description="User-Agent header sent with every request.",
        ),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        """Return the streams this tap offers."""
        return []


if __name__ == "__main__":
    TapAMLCare.cli()
