"""The base stream: authentication, paging, pace, error classification and retries."""

from __future__ import annotations

import re
import time
import typing as t
from datetime import datetime
from http import HTTPStatus
from urllib.parse import urlparse

import click
import requests
from singer_sdk import RESTStream
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.pagination import JSONPathPaginator

from tap_amlcare import amlcare_api

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from backoff.types import Details
    from singer_sdk.helpers.types import Context

# Attempts per request before a transient failure (5xx, 429, dropped connection) is fatal.
MAX_TRIES = 6
# Exponential backoff: 2, 4, 8, 16, 32 seconds, unless the server says how long to wait.
BACKOFF_BASE_SECONDS = 2
# A server asking for a longer pause than this is treated as down rather than waited for.
MAX_RETRY_AFTER_SECONDS = 120
# The SDK's default of five minutes per request would stall an every-minute job.
REQUEST_TIMEOUT_SECONDS = 60
# The reason inside a certificate failure, without the URL around it.
_CERTIFICATE_PROBLEM = re.compile(r"certificate verify failed: ([^(')]+)")
# Emit a bookmark this often, so an interrupted run resumes close to where it stopped.
RECORDS_PER_CHECKPOINT = 25
# A progress line on a long read: every this many records, and at least every this many seconds.
# AMLCare's cursor pages announce no total, so the line gives the count and the rate only.
PROGRESS_EVERY = 500
PROGRESS_SECONDS = 30.0


class ConfigurationError(click.ClickException, FatalAPIError):
    """A failure the operator fixes in the settings, not by retrying.

    As a click exception it ends the command with its message and exit code 2, no traceback.
    """

    exit_code = 2


class PacedSession(requests.Session):
    """A session that spaces its requests evenly, so the server's rate limit is never met.

    One session is shared by all streams of a run, so the budget holds for the run as a whole.
    """

    def __init__(self, requests_per_minute: int) -> None:
        super().__init__()
        self.interval = 60.0 / requests_per_minute if requests_per_minute > 0 else 0.0
        self._next_slot = 0.0

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        """Wait for the next free slot in the budget, then send.

        Raises:
            ConfigurationError: when the server's TLS certificate cannot be verified: no retry
                would help.
        """
        now = time.monotonic()
        if now < self._next_slot:
            time.sleep(self._next_slot - now)
        self._next_slot = max(now, self._next_slot) + self.interval
        try:
            return super().send(request, **kwargs)
        except requests.exceptions.SSLError as error:
            found = _CERTIFICATE_PROBLEM.search(str(error))
            reason = found.group(1).strip() if found else "TLS handshake failed"
            msg = (
                f"The TLS certificate of {where(error)} could not be verified ({reason}): give "
                "the server a valid certificate, or for a test server only set the tap-amlcare "
                "setting verify_tls to false."
            )
            raise ConfigurationError(msg) from None


def where(error: requests.RequestException) -> str:
    """The scheme and host of a failed request, never its path or query string."""
    url = urlparse(str(getattr(error.request, "url", "") or ""))
    return f"{url.scheme}://{url.netloc}" if url.netloc else "AMLCare"


def unreachable(error: Exception) -> str:
    """One line for a run that gave up on AMLCare after every retry."""
    if isinstance(error, requests.RequestException) and error.response is None:
        return (
            f"Could not reach {where(error)} after {MAX_TRIES} tries ({type(error).__name__}): "
            "check the tap-amlcare setting base_url, the network, and that AMLCare is up."
        )
    return (
        f"AMLCare kept failing after {MAX_TRIES} tries ({error}): it is down or overloaded; "
        "the next run starts again from the last saved bookmark."
    )


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Read a `Retry-After` header given in seconds; None when absent or unreadable."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_summary(response: requests.Response) -> str:
    """The error code and message of an AMLCare error body, or the status reason."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict) or not error:
        return response.reason or "no error body"
    parts = [str(error.get("code") or ""), str(error.get("message") or "")]
    if error.get("field"):
        parts.append(f"(field {error['field']})")
    return " ".join(part for part in parts if part)


class AMLCareStream(RESTStream[str | None]):
    """One AMLCare list, read in pages of `page_size` through an opaque cursor."""

    records_jsonpath = amlcare_api.ITEMS_JSONPATH
    STATE_MSG_FREQUENCY = RECORDS_PER_CHECKPOINT

    @property
    def url_base(self) -> str:
        """The partner API root from the settings, including its version segment."""
        return str(self.config["base_url"]).rstrip("/")

    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        """The API key as a bearer token on every request."""
        return BearerTokenAuthenticator(token=self.config["api_key"])

    @property
    def requests_session(self) -> requests.Session:
        """The run's paced session, shared with the other streams."""
        return self._tap.paced_session  # type: ignore[attr-defined]

    @property
    def timeout(self) -> int:
        """Seconds to wait for one answer."""
        return REQUEST_TIMEOUT_SECONDS

    @property
    def is_sorted(self) -> bool:
        """Incremental lists come ordered by `updated_at`, so every bookmark is resumable."""
        return self.replication_key is not None

    def get_new_paginator(self) -> JSONPathPaginator:
        """Follow `next_cursor` until the server answers null."""
        return JSONPathPaginator(amlcare_api.NEXT_CURSOR_JSONPATH)

    def get_url_params(
        self,
        context: Context | None,
        next_page_token: str | None,
    ) -> dict[str, t.Any]:
        """Page size, cursor, and for incremental streams the inclusive lower bound."""
        requested = int(self.config.get("page_size") or amlcare_api.MAX_PAGE_SIZE)
        page_size = min(requested, amlcare_api.MAX_PAGE_SIZE)
        params: dict[str, t.Any] = {amlcare_api.PARAM_LIMIT: page_size}
        if next_page_token:
            params[amlcare_api.PARAM_CURSOR] = next_page_token
        if self.replication_key:
            since = self.updated_since(context)
            if since:
                params[amlcare_api.PARAM_UPDATED_SINCE] = since
        return params

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """The stream's records, logging how many so far and how fast on a long read."""
        started = last_line = time.monotonic()
        for count, record in enumerate(super().get_records(context), start=1):
            now = time.monotonic()
            if count % PROGRESS_EVERY == 0 or now - last_line >= PROGRESS_SECONDS:
                rate = count / max(now - started, 1e-6)
                self.logger.info("%s: %d read so far, %.1f/s", self.name, count, rate)
                last_line = now
            yield record

    def updated_since(self, context: Context | None) -> str | None:
        """The bookmark (or start date) as AMLCare writes timestamps.

        The filter is inclusive, so records on the bookmark's own timestamp are read again:
        a run interrupted between two records sharing one timestamp loses neither.
        """
        start = self.get_starting_replication_key_value(context)
        if not start:
            return None
        moment = start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
        return amlcare_api.format_timestamp(moment)

    def validate_response(self, response: requests.Response) -> None:
        """Tell a settings problem from a transient one and from a bad request."""
        status = response.status_code
        if status < HTTPStatus.BAD_REQUEST:
            return
        path = urlparse(response.url).path
        summary = error_summary(response)
        if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
            msg = (
                f"AMLCare refused the API key for {path} ({status}: {summary}); "
                "check the tap-amlcare setting api_key."
            )
            raise ConfigurationError(msg)
        if status == HTTPStatus.NOT_FOUND and self.path and path.endswith(self.path):
            msg = (
                f"AMLCare has no list at {path} (404); check the tap-amlcare setting base_url "
                "(the partner API root, including its version segment, e.g. .../v1)."
            )
            raise ConfigurationError(msg)
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            msg = f"AMLCare answered {status} for {path}: {summary}"
            raise RetriableAPIError(msg, response)
        msg = f"AMLCare answered {status} for {path}: {summary}"
        raise FatalAPIError(msg)

    def backoff_wait_generator(self) -> Generator[float, t.Any, None]:
        """Wait as long as `Retry-After` says, else exponentially longer each time."""
        attempt = 0
        exception = yield 0.0
        while True:
            attempt += 1
            response = getattr(exception, "response", None)
            wait = retry_after_seconds(response)
            if wait is None:
                wait = float(BACKOFF_BASE_SECONDS**attempt)
            exception = yield min(wait, MAX_RETRY_AFTER_SECONDS)

    def backoff_max_tries(self) -> int:
        """Attempts per request before giving up."""
        return MAX_TRIES

    def backoff_jitter(self, value: float) -> float:
        """No jitter: waits follow the server's `Retry-After` or the plain exponential."""
        return value

    def backoff_handler(self, details: Details) -> None:
        """One line per retry: which list, which attempt, why, how long."""
        exception = details.get("exception")
        self.logger.warning(
            "Retrying %s in %.1f s (attempt %d of %d): %s",
            self.name,
            details.get("wait") or 0.0,
            details.get("tries"),
            MAX_TRIES,
            exception,
        )

    def send_checked(self, request: requests.PreparedRequest) -> requests.Response:
        """Send one request outside the paged lists, classified and retried like the lists."""
        send = self.request_decorator(self._send_and_validate)
        return send(request, None)

    def _send_and_validate(
        self,
        request: requests.PreparedRequest,
        context: Context | None,  # noqa: ARG002 - the decorator's signature
    ) -> requests.Response:
        response = self.requests_session.send(request, timeout=self.timeout)
        self.validate_response(response)
        return response
