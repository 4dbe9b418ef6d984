"""The AMLCare tap: its settings and its streams."""

from __future__ import annotations

import sys
import typing as t
from functools import cached_property

import requests
import urllib3
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import RetriableAPIError
from urllib3.exceptions import InsecureRequestWarning

from tap_amlcare import amlcare_api, streams
from tap_amlcare.client import PacedSession, unreachable

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
            "skip_content_origins",
            th.ArrayType(th.StringType(allowed_values=list(amlcare_api.DOCUMENT_ORIGINS))),
            default=[],
            description=(
                "Origins whose documents come without their files (`content` null, the reason "
                "in `content_skipped`), one download saved per version: e.g. "
                "`adminpulse_import`, identity cards the import brought from AdminPulse."
            ),
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default="tap-amlcare",
            description="User-Agent header sent with every request.",
        ),
        th.Property(
            "verify_tls",
            th.BooleanType,
            default=True,
            description=(
                "Check AMLCare's TLS certificate. Turn off only for a test server with a "
                "self-signed certificate; the tap then logs a warning."
            ),
        ),
    ).to_dict()

    @cached_property
    def paced_session(self) -> PacedSession:
        """One HTTP session for all streams, so the request budget holds for the whole run."""
        budget = self.config.get("requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE)
        session = PacedSession(int(budget))
        session.verify = self.verify_tls
        return session

    @cached_property
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

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Check the settings, naming each problem (in discovery the SDK only says one failed)."""
        errors = super()._validate_config(raise_errors=raise_errors)
        for error in errors:
            self.logger.warning("Setting problem: %s", error)
        return errors

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the tap; an AMLCare that stays out of reach ends it in one line, no traceback."""
        try:
            super().invoke(*args, **kwargs)
        except (RetriableAPIError, requests.RequestException) as error:
            cls.logger.error("%s", unreachable(error))
            sys.exit(1)

    def discover_streams(self) -> list[Stream]:
        """Users first, then clients, then documents: the order a target needs them in."""
        return [
            streams.UsersStream(self),
            streams.ClientsStream(self),
            streams.DocumentsStream(self),
        ]


if __name__ == "__main__":
    TapAMLCare.cli()
