"""What both services share: faults, rate limits, request counts, errors and inspection routes.

Each service is a Flask app wrapped in `ServiceMiddleware`. The middleware sees every request
before Flask does: it recognises the route, counts the answer, and applies the faults. A fault
is decided before any handler runs, so a request that is failed, rate limited or dropped by a
fault has changed nothing; a write either happens entirely or not at all.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import socket
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from amlsync_sandbox import storage
from amlsync_sandbox.faults import (
    FaultDecision,
    FaultSettings,
    decide_fault,
    read_faults,
    write_faults,
)

logger = logging.getLogger("amlsync_sandbox")

SANDBOX_PREFIX = "/_sandbox/"
# The status recorded for a request whose connection a fault closed without an answer.
DROPPED = 0
# Requests that match no route are counted under this name rather than their raw path.
UNMATCHED = "(unmatched)"
# How stale the faults a server acts on may be after another process changed them.
SETTINGS_REFRESH_SECONDS = 0.5
RATE_WINDOW_SECONDS = 60.0

_RULE_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RateLimiter:
    """Sliding-window call counters, kept in the server process's memory.

    A call is admitted only if every bucket it belongs to has room; a refused call takes no slot.
    """

    def __init__(self, window_seconds: float = RATE_WINDOW_SECONDS) -> None:
        self._window = window_seconds
        self._calls: dict[tuple[str, ...], deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, buckets: Sequence[tuple[tuple[str, ...], int]]) -> float | None:
        """Admit a call into every (bucket, limit), or return the seconds until one frees a slot."""
        now = time.monotonic()
        with self._lock:
            wait = 0.0
            for bucket, limit in buckets:
                calls = self._calls.setdefault(bucket, deque())
                while calls and calls[0] <= now - self._window:
                    calls.popleft()
                if len(calls) >= limit:
                    wait = max(wait, calls[len(calls) - limit] + self._window - now)
            if wait > 0:
                return wait
            for bucket, _ in buckets:
                self._calls[bucket].append(now)
            return None


def scaled_limit(limit: int, scale: float) -> int:
    """A documented limit times the configured scale, never below one call."""
    return max(1, math.floor(limit * scale))


def retry_after_seconds(wait: float) -> str:
    """The Retry-After value for a wait: whole seconds, rounded up, at least one."""
    return str(max(1, math.ceil(wait)))


class ApiError(Exception):
    """An answer other than success, raised anywhere in a handler and rendered per service."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}
        self.extra = extra


ErrorRenderer = Callable[[ApiError], dict[str, Any]]


class ServiceState:
    """One service's shared state in the server process: its database, faults and limits."""

    def __init__(self, service: str, db_path: Path, render_error: ErrorRenderer) -> None:
        self.service = service
        self.db_path = db_path
        self.render_error = render_error
        self.rate_limiter = RateLimiter()
        self._lock = threading.Lock()
        self._conn = storage.connect(db_path)
        self._faults = FaultSettings()
        self._faults_read_at = -math.inf

    def faults(self) -> FaultSettings:
        """The fault settings, re-read from the database at most every half second."""
        with self._lock:
            if time.monotonic() - self._faults_read_at >= SETTINGS_REFRESH_SECONDS:
                self._faults = read_faults(self._conn, self.service)
                self._faults_read_at = time.monotonic()
            return self._faults

    def set_faults(self, settings: FaultSettings) -> None:
        """Store new fault settings and act on them from the next request."""
        with self._lock:
            write_faults(self._conn, self.service, settings)
            self._faults = settings
            self._faults_read_at = time.monotonic()

    def count(self, endpoint: str, method: str, status: int) -> None:
        """Record one answer in the request counts."""
        with self._lock:
            storage.count_request(self._conn, self.service, endpoint, method, status)

    def error_response(self, error: ApiError) -> Response:
        """An error as this service writes it."""
        response = jsonify(self.render_error(error))
        response.status_code = error.status
        response.headers.update(error.headers)
        return response

    def close(self) -> None:
        """Close the shared database connection."""
        self._conn.close()


def endpoint_template(rule: str) -> str:
    """A Flask rule as the counts name it: `/relations/<int:id>` becomes `/relations/{id}`."""
    return _RULE_VARIABLE.sub(r"{\1}", rule)


class ServiceMiddleware:
    """Counts, delays, fails or drops API requests before the Flask app sees them."""

    def __init__(self, app: Flask, state: ServiceState) -> None:
        self.app = app
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Handle one request (the WSGI entry point)."""
        if environ.get("PATH_INFO", "").startswith(SANDBOX_PREFIX):
            return self.app.wsgi_app(environ, start_response)

        method = environ["REQUEST_METHOD"]
        endpoint = self._endpoint(environ)

        def counting_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            self.state.count(endpoint or UNMATCHED, method, int(status.split()[0]))
            return start_response(status, headers, exc_info)

        if endpoint is None:
            return self.app.wsgi_app(environ, counting_start_response)

        fault = decide_fault(self.state.faults())
        if fault.delay_seconds:
            time.sleep(fault.delay_seconds)
        if fault.drop:
            self.state.count(endpoint, method, DROPPED)
            logger.info("%s %s: fault, connection dropped", self.state.service, endpoint)
            _drop_connection(environ)
        if fault.status is not None:
            return self._fault_answer(fault)(environ, counting_start_response)
        return self.app.wsgi_app(environ, counting_start_response)

    def _endpoint(self, environ: dict[str, Any]) -> str | None:
        adapter = self.app.url_map.bind_to_environ(environ)
        try:
            rule, _ = adapter.match(return_rule=True)
        except HTTPException:
            return None
        return endpoint_template(rule.rule)

    def _fault_answer(self, fault: FaultDecision) -> WSGIApp:
        if fault.status == 429:
            headers = {"Retry-After": "1"} if fault.retry_after else {}
            error = ApiError(
                429, "rate_limited", "sandbox fault: too many requests", headers=headers
            )
        else:
            code = "server_error" if fault.status == 500 else "service_unavailable"
            error = ApiError(fault.status or 500, code, "sandbox fault: the service failed")
        with self.app.app_context():
            return self.state.error_response(error)


def _drop_connection(environ: dict[str, Any]) -> None:
    """Close the client's connection without a byte of answer, then abandon the request.

    Shutting the socket down makes any later write fail, so nothing can leak out; raising a
    connection error makes werkzeug's server treat the request as one the client dropped.
    """
    connection = environ.get("werkzeug.socket")
    if connection is None:
        raise RuntimeError("dropping a connection needs werkzeug's development server")
    # If the client went away first, the connection is closed either way.
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    raise ConnectionAbortedError("sandbox fault: connection dropped")


def database() -> sqlite3.Connection:
    """The current request's database connection, opened on first use."""
    if "db" not in g:
        g.db = storage.connect(current_app.config["SANDBOX_DB"])
    return g.db


def _close_database(_error: BaseException | None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def create_service_app(name: str, state: ServiceState) -> Flask:
    """A Flask app with the parts both services share: errors, database, inspection routes."""
    app = Flask(name)
    app.config["SANDBOX_DB"] = str(state.db_path)
    app.config["MAX_CONTENT_LENGTH"] = 50 * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["amlsync_state"] = state
    app.teardown_appcontext(_close_database)

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return state.error_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        codes = {404: "not_found", 413: "bad_request", 405: "bad_request"}
        status = error.code or 500
        message = error.description or error.name
        return state.error_response(ApiError(status, codes.get(status, "bad_request"), message))

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        logger.exception("%s: unexpected error on %s %s", name, request.method, request.path)
        return state.error_response(
            ApiError(500, "server_error", f"sandbox bug: {type(error).__name__}")
        )

    app.register_blueprint(_inspection_blueprint(state))
    return app


def wrap(app: Flask) -> ServiceMiddleware:
    """The app as the server runs it, behind the fault and counting middleware."""
    return ServiceMiddleware(app, app.extensions["amlsync_state"])


def _inspection_blueprint(state: ServiceState) -> Blueprint:
    blueprint = Blueprint("sandbox", __name__, url_prefix="/_sandbox")

    @blueprint.get("/health")
    def health() -> Response:
        return jsonify(
            {"service": state.service, "status": "ok", "pid": os.getpid(), "db": str(state.db_path)}
        )

    @blueprint.get("/dump")
    def dump() -> Response:
        return jsonify(storage.dump_service(database(), state.service))

    @blueprint.get("/requests")
    def requests_counted() -> Response:
        counts = storage.request_counts(database(), state.service)
        return jsonify({"service": state.service, "requests": counts})

    @blueprint.delete("/requests")
    def forget_requests() -> tuple[str, int]:
        storage.clear_request_counts(database(), state.service)
        return "", 204

    @blueprint.get("/faults")
    def show_faults() -> Response:
        return jsonify(state.faults().as_dict())

    @blueprint.put("/faults")
    def change_faults() -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "send the fault settings as a JSON object")
        base = state.faults()
        if body.pop("clear", False) is True:
            base = base.cleared()
        try:
            settings = FaultSettings.from_dict(body, base)
        except ValueError as error:
            raise ApiError(400, "bad_request", str(error)) from None
        state.set_faults(settings)
        return jsonify(settings.as_dict())

    return blueprint
