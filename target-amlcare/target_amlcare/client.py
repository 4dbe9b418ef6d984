"""The AMLCare partner API over HTTP: auth, pace, retries, and errors that name the setting."""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from http import HTTPStatus
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter

from target_amlcare import amlcare_api as api

# Exponential backoff from half a second, capped at a minute; ten tries ride out about three
# minutes of trouble before the run fails (and its state does not advance).
FIRST_RETRY_WAIT_SECONDS = 0.5
LONGEST_RETRY_WAIT_SECONDS = 60.0
MAX_TRIES = 10
REQUEST_TIMEOUT_SECONDS = 120
# The reason inside a certificate failure, without the URL around it.
_CERTIFICATE_PROBLEM = re.compile(r"certificate verify failed: ([^(')]+)")
RETRIED_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)

# Concurrent requests: enough to keep the budget busy when each one waits this long for its
# answer (a slow AMLCare round trip), and never more than the server should have to serve.
ROUND_TRIP_ALLOWANCE_SECONDS = 0.5
MAX_CONCURRENT_REQUESTS = 16

logger = logging.getLogger(__name__)


class SetupError(Exception):
    """A mistake in the settings (URL, API key) that only the operator can fix."""


class AMLCareUnavailableError(Exception):
    """AMLCare kept failing after every retry; the run stops without advancing its state."""


class DryRunWriteError(RuntimeError):
    """A write was attempted in dry-run mode: a bug, never to be let through."""


class RequestPacer:
    """Spaces requests evenly so no minute holds more than the budget."""

    def __init__(self, requests_per_minute: int) -> None:
        self.interval = 60.0 / max(1, requests_per_minute)
        self._next_slot = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next request may leave."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """The wait AMLCare asked for in `Retry-After` (seconds), if any."""
    if response is None or "Retry-After" not in response.headers:
        return None
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except ValueError:
        return None


class AMLCareClient:
    """One session to AMLCare, shared by every sink of the run."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        requests_per_minute: int,
        user_agent: str,
        dry_run: bool,
        verify_tls: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.dry_run = dry_run
        self.pacer = RequestPacer(requests_per_minute)
        self.concurrency = concurrency_for(requests_per_minute)
        self.session = requests.Session()
        # Passed on each request too: a REQUESTS_CA_BUNDLE in the environment would otherwise
        # override the session's setting.
        self.verify_tls = verify_tls
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.concurrency)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {"Authorization": f"Bearer {api_key}", "User-Agent": user_agent}
        )
        self.request_count = 0
        self.write_count = 0
        self._count_lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        *,
        expect: t.Collection[int] = (HTTPStatus.OK, HTTPStatus.CREATED),
        **kwargs: t.Any,
    ) -> requests.Response:
        """Send one request, retrying 429, 5xx and dropped connections.

        Statuses in `expect` are returned for the caller to act on (409 and 422 are outcomes
        of one record, not failures of the run). Anything else stops the run.

        Raises:
            DryRunWriteError: for a write in dry-run mode.
            SetupError: when the API key or base URL is wrong.
            AMLCareUnavailableError: when AMLCare keeps failing.
        """
        is_write = method != "GET" and path != api.CLIENT_LOOKUP_PATH
        if is_write and self.dry_run:
            msg = f"Dry run attempted {method} {path}"
            raise DryRunWriteError(msg)

        response: requests.Response | None = None
        last_cause = ""
        for attempt in range(1, MAX_TRIES + 1):
            self.pacer.wait()
            with self._count_lock:
                self.request_count += 1
                self.write_count += is_write
            try:
                response = self.session.request(
                    method,
                    f"{self.base_url}{path}",
                    timeout=REQUEST_TIMEOUT_SECONDS,
                    verify=self.verify_tls,
                    **kwargs,
                )
            except requests.exceptions.SSLError as error:
                raise SetupError(tls_failure(self.base_url, error)) from None
            except RETRIED_ERRORS as error:
                response, last_cause = None, type(error).__name__
            else:
                status = response.status_code
                if status != HTTPStatus.TOO_MANY_REQUESTS and status < 500:
                    return self.checked(method, path, response, expect)
                last_cause = f"HTTP {status}"
            if attempt == MAX_TRIES:
                break
            wait = retry_after_seconds(response)
            if wait is None:
                wait = min(
                    LONGEST_RETRY_WAIT_SECONDS, FIRST_RETRY_WAIT_SECONDS * 2 ** (attempt - 1)
                )
            logger.warning(
                "AMLCare %s %s failed with %s; retry %d of %d in %.1f s",
                method,
                path,
                last_cause,
                attempt,
                MAX_TRIES - 1,
                wait,
            )
            time.sleep(wait)
        msg = (
            f"AMLCare {method} {path} still failing after {MAX_TRIES} tries ({last_cause}): "
            "check the setting base_url, the network, and that AMLCare is up"
        )
        raise AMLCareUnavailableError(msg)

    def checked(
        self, method: str, path: str, response: requests.Response, expect: t.Collection[int]
    ) -> requests.Response:
        """Pass an expected answer on; turn the others into errors that name the cause.

        Raises:
            SetupError: on 401, and on 404 for a collection (a wrong base URL).
            AMLCareUnavailableError: on any other unexpected answer.
        """
        status = response.status_code
        if status in expect:
            return response
        code, message, _ = api.error_details(safe_json(response))
        if status == HTTPStatus.UNAUTHORIZED:
            msg = (
                f"AMLCare refused the API key on {method} {path} ({message}): "
                "check the setting api_key."
            )
            raise SetupError(msg)
        if status == HTTPStatus.NOT_FOUND and path in (api.USERS_PATH, api.CLIENT_LOOKUP_PATH):
            msg = (
                f"AMLCare has no {path} at {self.base_url}: check the setting base_url (the "
                "partner API root, with its version segment, e.g. https://…/v1)."
            )
            raise SetupError(msg)
        msg = f"AMLCare answered {status} ({code}: {message}) to {method} {path}"
        raise AMLCareUnavailableError(msg)

    def get_all(self, path: str, params: dict[str, t.Any] | None = None) -> list[dict]:
        """Every item of a cursor-paged list."""
        items: list[dict] = []
        cursor: str | None = None
        while True:
            page_params = {**(params or {}), "limit": api.LIST_LIMIT}
            if cursor:
                page_params["cursor"] = cursor
            body = self.request("GET", path, params=page_params).json()
            items.extend(body[api.ITEMS_KEY])
            cursor = body.get(api.NEXT_CURSOR_KEY)
            if not cursor:
                return items


def tls_failure(base_url: str, error: requests.exceptions.SSLError) -> str:
    """What to do about a TLS certificate that could not be checked: no retry will help."""
    found = _CERTIFICATE_PROBLEM.search(str(error))
    reason = found.group(1).strip() if found else "TLS handshake failed"
    host = urlparse(base_url)
    return (
        f"The TLS certificate of {host.scheme}://{host.netloc} could not be verified ({reason}): "
        "give the server a valid certificate, or for a test server only set verify_tls to false."
    )


def concurrency_for(requests_per_minute: int) -> int:
    """Requests in flight needed to spend the budget when each takes a slow round trip.

    Latency then never serialises a run: at 1200 a minute (20 a second) and half a second a
    round trip, 10 requests are in flight. The pacer still spaces their departures.
    """
    wanted = math.ceil(requests_per_minute / 60 * ROUND_TRIP_ALLOWANCE_SECONDS)
    return max(1, min(MAX_CONCURRENT_REQUESTS, wanted))


class WritePool:
    """Runs AMLCare writes concurrently, a bounded number at a time; a failure stops the run.

    `submit` blocks while the pool is full, so records never pile up in memory faster than
    AMLCare takes them. The first failure is raised by the next `submit` or by `drain`, so the
    run fails (and its state stays where it was) as it would have with one request at a time.
    """

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.executor = ThreadPoolExecutor(concurrency, thread_name_prefix="amlcare-write")
        self._pending = 0
        self._changed = threading.Condition()
        self._failure: BaseException | None = None

    def submit(self, work: t.Callable[..., object], *args: t.Any) -> None:
        """Start one write once a place is free."""
        with self._changed:
            self._changed.wait_for(lambda: self._pending < 2 * self.concurrency)
            self._raise_failure()
            self._pending += 1
        self.executor.submit(work, *args).add_done_callback(self._done)

    def map(self, work: t.Callable[[t.Any], t.Any], items: t.Iterable[t.Any]) -> t.Iterator[t.Any]:
        """Run `work` on every item concurrently; the results in the items' order."""
        self.drain()
        return self.executor.map(work, items)

    def drain(self) -> None:
        """Wait for every submitted write; raise the first failure."""
        with self._changed:
            self._changed.wait_for(lambda: self._pending == 0)
            self._raise_failure()

    def close(self) -> None:
        """Stop the threads (after a failure, without waiting for queued writes)."""
        self.executor.shutdown(wait=self._failure is None, cancel_futures=True)

    def _done(self, future: Future[object]) -> None:
        with self._changed:
            self._pending -= 1
            error = future.exception()
            if error is not None and self._failure is None:
                self._failure = error
            self._changed.notify_all()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


def safe_json(response: requests.Response) -> t.Any:
    """The body as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None
