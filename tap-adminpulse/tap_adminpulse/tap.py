"""The AdminPulse tap: its settings and its streams."""

from __future__ import annotations

from singer_sdk import Stream, Tap
from singer_sdk import typing as th

# AdminPulse allows 480 calls a minute per token; the default leaves room for the outbound
# sync, which shares the office's token.
DEFAULT_REQUESTS_PER_MINUTE = 240
# AdminPulse answers at most 400 rows per page.
MAX_PAGE_SIZE = 400


class TapAdminPulse(Tap):
    """Reads users, document types, relations and identity documents from AdminPulse."""

    name = "tap-adminpulse"

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
            secret=True,
            description="Personal API key (Bearer token). Use this or the OAuth settings.",
        ),
        th.Property(
            "oauth_client_id",
            th.StringType,
            description="OAuth client id of the registered integration.",
        ),
        th.Property(
            "oauth_client_secret",
            th.StringType,
            secret=True,
            description="OAuth client secret of the registered integration.",
        ),
        th.Property(
            "oauth_refresh_token",
            th.StringType,
            secret=True,
            description="OAuth refresh token obtained once through the authorization-code flow.",
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=MAX_PAGE_SIZE,
            description=f"Rows per page, at most {MAX_PAGE_SIZE}.",
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType,
            default=DEFAULT_REQUESTS_PER_MINUTE,
            description="Client-side request budget; AdminPulse allows 480 per token.",
        ),
        th.Property(
            "task_template_name",
            th.StringType,
            description="Only read relations linked to a task of this task template.",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description="Read relations modified on or after this moment on the first run.",
        ),
        th.Property(
            "include_document_content",
            th.BooleanType,
            default=True,
            description="Download identity document files (off for the preflight).",
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default="tap-adminpulse",
            description="User-Agent header sent with every request.",
        ),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        """Return the streams this tap offers."""
        return []


if __name__ == "__main__":
    TapAdminPulse.cli()
