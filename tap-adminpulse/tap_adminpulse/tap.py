"""The AdminPulse tap: its settings and its streams."""

from __future__ import annotations

import sys
import typing as t
from functools import cached_property

import requests
import urllib3
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import RetriableAPIError
from urllib3.exceptions import InsecureRequestWarning

from tap_adminpulse import adminpulse_api as api
from tap_adminpulse import streams
from tap_adminpulse.auth import RefreshTokenAuthenticator
from tap_adminpulse.client import (
    MAX_TRIES,
    PacedSession,
    RequestPacer,
    RunMemory,
    concurrency_for,
)
from tap_adminpulse.errors import SetupError, unreachable

# AdminPulse allows 480 calls a minute per token; the default leaves room for the outbound
# sync, which shares the office's token.
DEFAULT_REQUESTS_PER_MINUTE = 240
MAX_PAGE_SIZE = api.MAX_PAGE_SIZE
# The streams in the order they must be synced: relations find out which relations are new,
# identity documents are read only for those.
STREAM_TYPES = (
    streams.UsersStream,
    streams.DocumentTypesStream,
    streams.RelationsStream,
    streams.IdentityDocumentsStream,
    streams.TasksStream,
)
OAUTH_SETTINGS = ("oauth_client_id", "oauth_client_secret", "oauth_refresh_token")


class TapAdminPulse(Tap):
    """Reads users, document types, relations, identity documents and tasks from AdminPulse."""

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
            description=(
                "Read relations modified on or after this moment on the first run (Belgian "
                "local time). Empty: every relation."
            ),
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
        th.Property(
            "verify_tls",
            th.BooleanType,
            default=True,
            description=(
                "Check AdminPulse's TLS certificate. Turn off only for a test server with a "
                "self-signed certificate; the tap then logs a warning."
            ),
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.run_memory = RunMemory()

    def discover_streams(self) -> list[Stream]:
        """The streams, in the order they must be synced.

        Relations must come before identity documents: the relations stream finds out which
        relations are imported for the first time, and only their documents are read.
        """
        return [stream_type(self) for stream_type in STREAM_TYPES]

    @property
    def streams(self) -> dict[str, Stream]:
        """The streams in discovery order, which is the order they are synced in.

        The SDK sorts streams by name, which would sync identity_documents before relations,
        with no relation yet known to be new.
        """
        order = [stream.name for stream in STREAM_TYPES]
        return dict(sorted(super().streams.items(), key=lambda item: order.index(item[0])))

    @cached_property
    def authenticator(self) -> BearerTokenAuthenticator | RefreshTokenAuthenticator:
        """One authenticator for every stream: the API key, or OAuth with refresh.

        Raises:
            SetupError: when neither an API key nor the three OAuth settings are given.
        """
        config = self.config
        if config.get("api_key"):
            return BearerTokenAuthenticator(token=config["api_key"])
        missing = [name for name in OAUTH_SETTINGS if not config.get(name)]
        if missing:
            msg = (
                "No AdminPulse credentials: set api_key, or all of "
                f"{', '.join(OAUTH_SETTINGS)} (missing: {', '.join(missing)})."
            )
            raise SetupError(msg)
        return RefreshTokenAuthenticator(
            token_url=f"{str(config['base_url']).rstrip('/')}{api.OAUTH_TOKEN_PATH}",
            client_id=config["oauth_client_id"],
            client_secret=config["oauth_client_secret"],
            refresh_token=config["oauth_refresh_token"],
            user_agent=config.get("user_agent", self.name),
            verify_tls=self.verify_tls,
        )

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

    @cached_property
    def paced_session(self) -> PacedSession:
        """One HTTP session for every stream, held to the requests_per_minute budget.

        Raises:
            SetupError: when page_size or requests_per_minute is out of range.
        """
        page_size = int(self.config["page_size"])
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            msg = f"The setting page_size is {page_size}; AdminPulse takes 1 to {MAX_PAGE_SIZE}."
            raise SetupError(msg)
        budget = int(self.config["requests_per_minute"])
        if budget < 1:
            msg = f"The setting requests_per_minute is {budget}; it must be at least 1."
            raise SetupError(msg)
        if budget > api.RATE_LIMIT_PER_MINUTE:
            self.logger.warning(
                "requests_per_minute is %d, above AdminPulse's %d a minute: expect 429 answers",
                budget,
                api.RATE_LIMIT_PER_MINUTE,
            )
        session = PacedSession(RequestPacer(budget), concurrency_for(budget))
        session.verify = self.verify_tls
        return session

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Check the settings, naming each problem (in discovery the SDK only says one failed)."""
        errors = super()._validate_config(raise_errors=raise_errors)
        for error in errors:
            self.logger.warning("Setting problem: %s", error)
        return errors

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the tap; a setup mistake or an AdminPulse out of reach ends it in one line."""
        try:
            super().invoke(*args, **kwargs)
        except SetupError as error:
            cls.logger.error("%s", error)
            sys.exit(1)
        except (RetriableAPIError, requests.RequestException) as error:
            cls.logger.error("%s", unreachable(error, MAX_TRIES))
            sys.exit(1)


if __name__ == "__main__":
    TapAdminPulse.cli()
