"""AdminPulse over HTTP: bearer key, client-side pace, retries and error classification."""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import typing as t
from http import HTTPStatus
from urllib.parse import urlparse

import click
import requests
from requests.adapters import HTTPAdapter

from target_adminpulse import adminpulse_api

# Attempts per request before a transient failure (5xx, 429, dropped connection) is fatal.
MAX_TRIES = 6
# Exponential backoff: 2, 4, 8, 16, 32 seconds, unless `Retry-After` says otherwise.
BACKOFF_BASE_SECONDS = 2
# A longer `Retry-After` than this means the service is down rather than busy.
MAX_WAIT_SECONDS = 120
# The reason inside a certificate failure, without the URL around it.
_CERTIFICATE_PROBLEM = re.compile(r"certificate verify failed: ([^(')]+)")
# An every-minute job cannot wait minutes for one answer.
REQUEST_TIMEOUT_SECONDS = 60
# The round trip the pool is sized for: AdminPulse answers a call in well under a second, and a
# pool sized for one second keeps the budget spent when it answers slowly.
ROUND_TRIP_ALLOWANCE_SECONDS = 1.0
# Default ceiling on requests in flight: AdminPulse's 480 calls a minute need no more than 8 at
# one second a round trip.
DEFAULT_MAX_CONCURRENCY = 8

logger = logging.getLogger(__name__)


class ConfigurationError(click.ClickException):
    """A failure the operator fixes in the settings (key, scope, URL, type names).

    As a click exception it ends the command with its message and exit code 2, no traceback.
    """

    exit_code = 2


class RecordRefused(RuntimeError):
    """AdminPulse refused a write for this record (400, 404, 409, 422): reject it, go on."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ReadRefused(RuntimeError):
    """AdminPulse refused a read the sync depends on: the run cannot go on."""


class TransientError(RuntimeError):
    """A failure worth retrying later: 5xx, 429 or a dropped connection."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


class Pace:
    """Spaces calls evenly so a per-minute budget is never exceeded, even across runs.

    Even spacing (rather than a burst then a pause) also holds when the previous run of an
    every-minute schedule ended only a moment ago.
    """

    def __init__(self, per_minute: int) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._next_slot = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Take the next free slot of the budget and sleep until it comes.

        Threads take slots one at a time under the lock and sleep outside it, so calls from any
        number of threads leave one interval apart, in the order they asked.
        """
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


def concurrency_for(requests_per_minute: int, max_concurrency: int) -> int:
    """Requests in flight needed to spend the budget when each takes a slow round trip.

    At 240 calls a minute (4 a second) and one second a round trip, 4 requests are in flight;
    the pace still spaces their departures, so the budget holds whatever the pool's size.
    """
    wanted = math.ceil(requests_per_minute / 60 * ROUND_TRIP_ALLOWANCE_SECONDS)
    return max(1, min(max_concurrency, wanted))


def error_summary(response: requests.Response) -> str:
    """AdminPulse's error message (its body is undocumented), or the status reason."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        code = body.get("code")
        return f"{code}: {body['message']}" if code else str(body["message"])
    return response.reason or "no error body"


def retry_after_seconds(response: requests.Response) -> float | None:
    """A `Retry-After` given in seconds; None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class AdminPulseClient:
    """The few AdminPulse calls the outbound sync makes, each paced and classified."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        user_agent: str,
        requests_per_minute: int,
        uploads_per_minute: int,
        verify_tls: bool = True,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        calls_per_minute = min(requests_per_minute, adminpulse_api.CALLS_PER_MINUTE_LIMIT)
        self.concurrency = concurrency_for(calls_per_minute, max_concurrency)
        self.session = requests.Session()
        # One kept-alive connection per thread that may be sending.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.concurrency)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # Passed on each request too: a REQUESTS_CA_BUNDLE in the environment would otherwise
        # override the session's setting.
        self.verify_tls = verify_tls
        self.session.headers.update(
            {"Authorization": f"Bearer {api_key}", "User-Agent": user_agent}
        )
        self.pace_per_minute = calls_per_minute
        self.pace = Pace(calls_per_minute)
        self.upload_pace = Pace(uploads_per_minute)
        self.requests_sent = 0
        self.writes_sent = 0
        self._count_lock = threading.Lock()

    # Reads and idempotent writes: retried in place.

    def get(self, path: str, params: dict[str, t.Any] | None = None) -> t.Any:
        """GET and decode JSON, retrying transient failures; a refused read ends the run."""
        try:
            return self._with_retries("GET", path, params=params).json()
        except RecordRefused as refusal:
            if refusal.status == HTTPStatus.NOT_FOUND:
                msg = (
                    f"AdminPulse has no {path} ({refusal}); check the target-adminpulse "
                    f"setting base_url (now {self.base_url})."
                )
                raise ConfigurationError(msg) from None
            raise ReadRefused(str(refusal)) from None

    def list_all(self, path: str, params: dict[str, t.Any]) -> list[dict[str, t.Any]]:
        """Every item of a paged list (a bare array is taken as one page)."""
        items: list[dict[str, t.Any]] = []
        page = 0
        while True:
            query = {
                **params,
                adminpulse_api.PARAM_PAGE: page,
                adminpulse_api.PARAM_PAGE_SIZE: adminpulse_api.MAX_PAGE_SIZE,
            }
            body = self.get(path, query)
            if isinstance(body, list):
                return body
            items.extend(body.get(adminpulse_api.RESULTS_KEY) or [])
            page += 1
            if page >= int(body.get(adminpulse_api.PAGE_COUNT_KEY) or 0):
                return items

    def put(self, path: str, body: dict[str, t.Any]) -> t.Any:
        """PUT a JSON body (a partial update, so repeating it is harmless)."""
        self._count(writes=1)
        return self._with_retries("PUT", path, json=body).json()

    # The upload is not idempotent: one attempt, the caller re-checks before trying again.

    def upload(self, *, fields: dict[str, str], file_name: str, content: bytes) -> dict[str, t.Any]:
        """POST one multipart upload, once; a transient failure raises TransientError."""
        self.upload_pace.wait()
        self._count(writes=1)
        files = {adminpulse_api.UPLOAD_FILE_PART: (file_name, content)}
        response = self._send_once("POST", adminpulse_api.UPLOAD_PATH, data=fields, files=files)
        return response.json()

    def _count(self, *, calls: int = 0, writes: int = 0) -> None:
        with self._count_lock:
            self.requests_sent += calls
            self.writes_sent += writes

    def _with_retries(self, method: str, path: str, **kwargs: t.Any) -> requests.Response:
        for attempt in range(1, MAX_TRIES + 1):
            try:
                return self._send_once(method, path, **kwargs)
            except TransientError as error:
                if attempt == MAX_TRIES:
                    raise
                wait = backoff_seconds(error, attempt)
                logger.warning(
                    "Retrying %s %s in %.1f s (attempt %d of %d): %s",
                    method,
                    path,
                    wait,
                    attempt,
                    MAX_TRIES,
                    error,
                )
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, method: str, path: str, **kwargs: t.Any) -> requests.Response:
        self.pace.wait()
        self._count(calls=1)
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                timeout=REQUEST_TIMEOUT_SECONDS,
                verify=self.verify_tls,
                **kwargs,
            )
        except requests.exceptions.SSLError as error:
            found = _CERTIFICATE_PROBLEM.search(str(error))
            host = urlparse(self.base_url)
            msg = (
                f"The TLS certificate of {host.scheme}://{host.netloc} could not be verified "
                f"({found.group(1).strip() if found else 'TLS handshake failed'}): give the "
                "server a valid certificate, or for a test server only set the "
                "target-adminpulse setting verify_tls to false."
            )
            raise ConfigurationError(msg) from None
        except (requests.ConnectionError, requests.Timeout) as error:
            msg = f"{method} {path}: connection failed ({type(error).__name__})"
            raise TransientError(msg) from error
        classify(method, path, response)
        return response


def backoff_seconds(error: TransientError, attempt: int) -> float:
    """How long to wait before the next attempt."""
    wait = error.wait if error.wait is not None else float(BACKOFF_BASE_SECONDS**attempt)
    return min(wait, MAX_WAIT_SECONDS)


def classify(method: str, path: str, response: requests.Response) -> None:
    """Raise the exception that says what an error answer means for the run."""
    status = response.status_code
    if status < HTTPStatus.BAD_REQUEST:
        return
    summary = f"{method} {path} answered {status} ({error_summary(response)})"
    if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
        msg = (
            f"AdminPulse refused the API key: {summary}. Check the target-adminpulse setting "
            "api_key: it must be valid and carry the scopes relations:read, relations:write, "
            "documents:read and documents:write."
        )
        raise ConfigurationError(msg)
    if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        raise TransientError(summary, retry_after_seconds(response))
    raise RecordRefused(summary, status)
