"""The AMLCare tap: its settings and its streams."""

from __future__ import annotations

from functools import cached_property

from singer_sdk import Stream, Tap
from singer_sdk import typing as th

from tap_amlcare import amlcare_api, streams
from tap_amlcare.client import PacedSession

# Well under any limit a partner API sets; a run with nothing to do makes three requests.
DEFAULT_REQUESTS_PER_MINUTE = 600


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
            th.IntegerType(minimum=1, maximum=amlcare_api.MAX_PAGE_SIZE),
            default=amlcare_api.MAX_PAGE_SIZE,
            description=f"Items per page, at most {amlcare_api.MAX_PAGE_SIZE}.",
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType(minimum=1),
            default=DEFAULT_REQUESTS_PER_MINUTE,
            description="Client-side request budget: requests are spaced evenly within it.",
        ),
        th.Property(
            "include_document_content",
            th.BooleanType,
            default=True,
            description="Download each document version's file into the documents stream.",
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default="tap-amlcare",
            description="User-Agent header sent with every request.",
        ),
    ).to_dict()

    @cached_property
    def paced_session(self) -> PacedSession:
        """One HTTP session for all streams, so the request budget holds for the whole run."""
        budget = self.config.get("requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE)
        return PacedSession(int(budget))

    def discover_streams(self) -> list[Stream]:
        """Users first, then clients, then documents: the order a target needs them in."""
        return [
            streams.UsersStream(self),
            streams.ClientsStream(self),
            streams.DocumentsStream(self),
        ]


if __name__ == "__main__":
    TapAMLCare.cli()
