"""The base stream: authentication, paging, pace, retries and error messages for AdminPulse."""

from __future__ import annotations

import base64
import math
import random
import threading
import time
import typing as t
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.pagination import PageNumberPaginator
from typing_extensions import override

from tap_adminpulse import adminpulse_api as api
from tap_adminpulse.errors import SetupError, tls_failure
from tap_adminpulse.identifier_sets import IdentifierSet, IdentifierSets

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_adminpulse.tap import TapAdminPulse

# Exponential backoff from half a second, never longer than a minute between tries: ten tries
# ride out about three minutes of trouble before the run fails. Up to a tenth is added at random
# so that clients sharing a token do not retry in step.
FIRST_RETRY_WAIT_SECONDS = 0.5
LONGEST_RETRY_WAIT_SECONDS = 60.0
MAX_TRIES = 10
JITTER_SHARE = 0.1
REQUEST_TIMEOUT_SECONDS = 120
# Downloads in flight: enough to spend the budget when each answer takes this long, and never
# more than a server should have to serve one client at once.
ROUND_TRIP_ALLOWANCE_SECONDS = 0.5
MAX_CONCURRENT_REQUESTS = 16
# Pages of a list asked for while the one before is still being read: the next page travels
# while the current one is processed, and at most this many pages wait in memory.
READ_AHEAD_PAGES = 2


def concurrency_for(requests_per_minute: int) -> int:
    """Requests in flight needed to spend the budget when each takes a slow round trip.

    At AdminPulse's 480 a minute (8 a second) and half a second a round trip, 4 downloads are
    in flight; the pacer still spaces their departures, so the budget is never exceeded.
    """
    wanted = math.ceil(requests_per_minute / 60 * ROUND_TRIP_ALLOWANCE_SECONDS)
    return max(1, min(MAX_CONCURRENT_REQUESTS, wanted))


class RequestPacer:
    """Spaces requests evenly so that no minute ever holds more than the budget.

    A minimum interval rather than a burst bucket: AdminPulse counts calls in a sliding window,
    and an even pace can never overrun it, whatever the window's alignment.
    """

    def __init__(self, requests_per_minute: int) -> None:
        self.interval = 60.0 / requests_per_minute
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


class PacedSession(requests.Session):
    """A session whose every request, retries included, waits for the pacer."""

    def __init__(self, pacer: RequestPacer, concurrency: int = 1) -> None:
        super().__init__()
        self.pacer = pacer
        self.concurrency = concurrency
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=concurrency)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.request_count = 0
        self._count_lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        """Send one request once the pace allows it.

        Raises:
            SetupError: when the server's TLS certificate cannot be verified (never retried).
        """
        self.pacer.wait()
        with self._count_lock:
            self.request_count += 1
        try:
            return super().send(request, **kwargs)
        except requests.exceptions.SSLError as error:
            raise tls_failure(error) from None


@dataclass
class RunMemory:
    """What one stream learns during a run and a later stream needs.

    Attributes:
        relations_bookmark: the relations bookmark this run started from (None: first run or
            full refresh), as a naive Belgian local time.
        identifier_sets: the run's sets of relation identifiers, on disk since they grow with
            the office; `close` deletes them.
        new_relations: uniqueIdentifiers of relations imported for the first time in this run,
            whose identity documents the documents stream reads.
        document_types: every document type, by id.
    """

    relations_bookmark: datetime | None = None
    identifier_sets: IdentifierSets = field(default_factory=IdentifierSets)
    document_types: dict[int, dict] = field(default_factory=dict)

    @property
    def new_relations(self) -> IdentifierSet:
        """The relations imported for the first time in this run."""
        return self.identifier_sets.named("new_relations")

    def close(self) -> None:
        """Delete the identifier sets' file."""
        self.identifier_sets.close()


class AdminPulsePaginator(PageNumberPaginator):
    """Counts pages from 0 and stops at the last page AdminPulse announces.

    Stopping on `pageCount` saves the empty request a paginator that waits for an empty page
    would send after every list.
    """

    def has_more(self, response: requests.Response) -> bool:
        """Whether AdminPulse announced a page after this one."""
        body = response.json()
        return int(body[api.CURRENT_PAGE_KEY]) + 1 < int(body[api.PAGE_COUNT_KEY])


def parse_adminpulse_datetime(value: str) -> datetime:
    """Read an AdminPulse body timestamp (ISO-8601, Belgian local time, no offset)."""
    return datetime.fromisoformat(value).replace(tzinfo=None)


def query_date(moment: datetime) -> str:
    """Write a moment's day the way AdminPulse filters take it (ddMMyyyy)."""
    return moment.strftime(api.QUERY_DATE_FORMAT)


def retry_after_seconds(error: Exception | None) -> float | None:
    """The wait AdminPulse asked for in a `Retry-After` header, if it sent one."""
    response = getattr(error, "response", None)
    if response is None:
        return None
    header = response.headers.get("Retry-After")
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None  # an HTTP date: rare enough to fall back to our own backoff


def retry_waits() -> Generator[float, Exception | None, None]:
    """Waits between tries: `Retry-After` when AdminPulse sends it, else doubling from 0.5 s."""
    error = yield 0.0
    attempt = 0
    while True:
        asked = retry_after_seconds(error)
        own = min(LONGEST_RETRY_WAIT_SECONDS, FIRST_RETRY_WAIT_SECONDS * 2**attempt)
        attempt += 1
        error = yield asked if asked is not None else own


def error_details(response: requests.Response) -> tuple[str | None, str]:
    """The error code and message of an AdminPulse error body, tolerating any body."""
    try:
        body = response.json()
    except ValueError:
        return None, response.reason or ""
    if not isinstance(body, dict):
        return None, response.reason or ""
    return body.get(api.ERROR_CODE_KEY), str(body.get(api.ERROR_MESSAGE_KEY) or response.reason)


class AdminPulseStream(RESTStream):
    """One AdminPulse list: paged, paced, retried, and explicit about what went wrong."""

    records_jsonpath = f"$.{api.RESULTS_KEY}[*]"
    # Several streams share one token and one pace; a wait longer than this is a hung server.
    timeout = REQUEST_TIMEOUT_SECONDS

    @property
    def tap(self) -> TapAdminPulse:
        """The tap this stream belongs to, which holds what streams share."""
        return t.cast("TapAdminPulse", self._tap)

    @property
    def url_base(self) -> str:
        """The API root from the settings."""
        return str(self.config["base_url"]).rstrip("/")

    @property
    def authenticator(self) -> t.Any:
        """The tap's one authenticator, so an OAuth token is refreshed once for all streams."""
        return self.tap.authenticator

    @property
    def requests_session(self) -> requests.Session:
        """The tap's one paced session: every stream draws from the same request budget."""
        return self.tap.paced_session

    @property
    def page_size(self) -> int:
        """Rows asked per page."""
        return int(self.config["page_size"])

    def get_new_paginator(self) -> AdminPulsePaginator:
        """Page numbers from 0 to the announced last page."""
        return AdminPulsePaginator(start_value=0)

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """The page to read; streams add their filters."""
        return {api.PAGE_PARAM: next_page_token or 0, api.PAGE_SIZE_PARAM: self.page_size}

    # Errors and retries.

    def validate_response(self, response: requests.Response) -> None:
        """Tell a passing problem (retry) from one only the operator can fix (stop, say what).

        Raises:
            RetriableAPIError: on 429 and 5xx.
            SetupError: when the token, its scopes or the base URL are wrong.
            FatalAPIError: on any other refusal.
        """
        status = response.status_code
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            msg = f"AdminPulse answered {status} to {self.describe(response)}"
            raise RetriableAPIError(msg, response)
        if status < HTTPStatus.BAD_REQUEST:
            return

        code, message = error_details(response)
        path = self.path_of(response)
        if status == HTTPStatus.UNAUTHORIZED and code == api.MISSING_SCOPE_CODE:
            scope = api.SCOPE_BY_PATH.get(path, "the scope this call needs")
            msg = (
                f"AdminPulse refused {self.describe(response)}: the token lacks {scope!r} "
                f"({message}). Grant it to the API key or the integration (setting api_key "
                "or oauth_client_id)."
            )
            raise SetupError(msg)
        if status == HTTPStatus.UNAUTHORIZED:
            msg = (
                f"AdminPulse refused the token on {self.describe(response)} ({message}): the "
                "API key is unknown or expired. Check the setting api_key (or the OAuth ones)."
            )
            raise SetupError(msg)
        if status == HTTPStatus.NOT_FOUND and path in api.SCOPE_BY_PATH:
            msg = (
                f"AdminPulse has no {path} at {self.url_base}: check the setting base_url "
                "(the API root, without a version segment)."
            )
            raise SetupError(msg)
        if status == HTTPStatus.NOT_FOUND:
            msg = f"AdminPulse has no resource at {self.describe(response)} ({message})."
            raise FatalAPIError(msg)
        msg = f"AdminPulse refused {self.describe(response)} with {status}: {message}"
        raise FatalAPIError(msg)

    def path_of(self, response: requests.Response) -> str:
        """The API path of a response, without the base URL's own path."""
        full_path = urlparse(response.url).path
        base_path = urlparse(self.url_base).path
        return full_path.removeprefix(base_path) or "/"

    def describe(self, response: requests.Response) -> str:
        """`GET /relations`: enough to find the call, nothing from the query string."""
        return f"{response.request.method} {self.path_of(response)}"

    def backoff_wait_generator(self) -> Generator[float, t.Any, None]:
        """Honour `Retry-After`, else back off exponentially."""
        return retry_waits()

    def backoff_jitter(self, value: float) -> float:
        """A little random extra, never less than asked (a `Retry-After` is a minimum)."""
        return value * (1 + JITTER_SHARE * random.random())  # noqa: S311 - not cryptographic

    def backoff_max_tries(self) -> int:
        """Tries per request before the run fails."""
        return MAX_TRIES

    def backoff_handler(self, details: t.Any) -> None:
        """One line per retry, without the URL's query string or any header."""
        error = details.get("exception")
        response = getattr(error, "response", None)
        cause = f"HTTP {response.status_code}" if response is not None else type(error).__name__
        self.logger.warning(
            "Retrying %s %s in %.1f s after %s (try %d of %d)",
            self.name,
            self.path,
            details.get("wait", 0.0),
            cause,
            details.get("tries", 0),
            MAX_TRIES,
        )

    # Reads outside the stream's own list.

    def get_json(self, path: str, params: dict[str, t.Any] | None = None) -> t.Any:
        """GET one AdminPulse resource with this stream's auth, pace and retries."""
        return self.get(path, params).json()

    def get(self, path: str, params: dict[str, t.Any] | None = None) -> requests.Response:
        """GET one AdminPulse path with this stream's auth, pace and retries."""
        prepared = self.build_prepared_request(
            method="GET",
            url=f"{self.url_base}{path}",
            params=params or {},
            headers=self.http_headers,
        )
        send = self.request_decorator(self._request)
        return send(prepared, None)

    def get_pages(self, path: str, params: dict[str, t.Any]) -> Iterator[dict]:
        """Every row of a paged AdminPulse list, stopping at its last page."""
        for page in self.get_page_bodies(path, params):
            yield from page[api.RESULTS_KEY]

    def get_page_bodies(self, path: str, params: dict[str, t.Any]) -> Iterator[dict]:
        """The pages of a list in order, each asked for while the one before is read.

        The first page announces how many there are; the next READ_AHEAD_PAGES are then in
        flight while the caller works through the current one, so a long list costs the
        processing or the pace, whichever is slower, rather than both one after the other. The
        pacer still spaces every request. A list that grows while it is read is followed to its
        new last page.
        """

        def page(number: int) -> dict:
            page_params = {api.PAGE_PARAM: number, api.PAGE_SIZE_PARAM: self.page_size}
            return self.get_json(path, {**params, **page_params})

        first = page(0)
        yield first
        page_count, next_page = int(first[api.PAGE_COUNT_KEY]), 1
        if next_page >= page_count:
            return
        pending: deque[Future[dict]] = deque()
        with ThreadPoolExecutor(READ_AHEAD_PAGES, thread_name_prefix="adminpulse-page") as pool:
            while pending or next_page < page_count:
                while next_page < page_count and len(pending) < READ_AHEAD_PAGES:
                    pending.append(pool.submit(page, next_page))
                    next_page += 1
                body = pending.popleft().result()
                page_count = max(page_count, int(body[api.PAGE_COUNT_KEY]))
                yield body

    def get_content(self, document_id: int) -> tuple[str, str | None]:
        """One document's file, base64-encoded, with its media type."""
        response = self.get(api.DOCUMENT_CONTENT_PATH.format(document_id=document_id))
        return base64.b64encode(response.content).decode("ascii"), response.headers.get(
            "Content-Type"
        )

    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The rows of a page (or of a bare array, for the few routes that answer one)."""
        yield from super().parse_response(response)
