"""AdminPulse as the connectors meet it: its routes, scopes, paging, dates and rate limits.

What is known about the real API is reproduced exactly (paging envelope, page size cap, ddMMyyyy
query dates, scope failures answered 401, 429 over the limits, 200 for an upload); the rest follows
the [assumed] readings of API.md. Like the real service (ASP.NET), query parameter names are
matched without regard to case.
"""

from __future__ import annotations

import functools
import json
import math
import mimetypes
import re
import secrets
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, Response, request

from amlsync_sandbox import clock, storage
from amlsync_sandbox.identifiers import nrn_match_key, vat_match_key
from amlsync_sandbox.service import (
    ApiError,
    ServiceState,
    create_service_app,
    database,
    retry_after_seconds,
    scaled_limit,
)

SERVICE = "adminpulse"
# AdminPulse's documented limits: 480 calls a minute per token, 50 uploads a minute.
CALLS_PER_MINUTE = 480
UPLOADS_PER_MINUTE = 50
# Paging: pages count from 0; AdminPulse refuses pages larger than 400 rows.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 400
# Far past any office's last page; keeps the row offset within SQLite's integers.
MAX_PAGE = 1_000_000
# The relations filter on unique identifiers takes a bounded list [assumed].
MAX_UNIQUE_IDENTIFIERS = 100
# Access tokens issued from a refresh token live one hour, as OAuth servers commonly grant.
ACCESS_TOKEN_SECONDS = 3600
RISK_LEVELS = ("low", "normal", "high")
PERSON_TYPES = ("person", "soleProprietor")

_QUERY_DATE = re.compile(r"^\d{8}$")
_BODY_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2})?$")

View = TypeVar("View", bound=Callable[..., Any])


def render_error(error: ApiError) -> dict[str, Any]:
    """AdminPulse's error body is undocumented; the sandbox answers `{message, code}`."""
    return {"message": error.message, "code": error.code, **error.extra}


def create_app(db_path: Path) -> Flask:
    """The AdminPulse app, reading and writing the world in `db_path`."""
    state = ServiceState(SERVICE, db_path, render_error)
    app = create_service_app("adminpulse", state)
    _register_routes(app, state)
    return app


def _unauthorized(message: str, code: str = "unauthorized") -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})


def _authorise(state: ServiceState, scope: str, *, upload: bool) -> None:
    """Check the bearer token and its scope, then take a slot in the token's rate limits."""
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise _unauthorized("no bearer token: send Authorization: Bearer <token>")
    record = storage.AP_TOKENS.get(database(), token.strip())
    if record is None:
        raise _unauthorized("unknown token")
    expires_at = record.get("expiresAt")
    if expires_at and datetime.fromisoformat(expires_at) <= clock.adminpulse_now_naive():
        raise _unauthorized(f"token expired at {expires_at}", "token_expired")
    if scope not in record.get("scopes", []):
        raise _unauthorized(f"token lacks the scope {scope}", "missing_scope")

    faults = state.faults()
    buckets = [((SERVICE, token, "calls"), scaled_limit(CALLS_PER_MINUTE, faults.rate_scale))]
    if upload:
        limit = scaled_limit(UPLOADS_PER_MINUTE, faults.rate_scale)
        buckets.append(((SERVICE, token, "uploads"), limit))
    wait = state.rate_limiter.acquire(buckets)
    if wait is not None:
        headers = {}
        if _chance(faults.retry_after_share):
            headers["Retry-After"] = retry_after_seconds(wait)
        raise ApiError(429, "rate_limited", "rate limit exceeded for this token", headers=headers)


def _chance(share: float) -> bool:
    return share >= 1 or secrets.randbelow(1_000_000) < share * 1_000_000


def _query(name: str) -> str | None:
    """A query parameter, its name matched without regard to case."""
    wanted = name.lower()
    for key, value in request.args.items(multi=True):
        if key.lower() == wanted:
            return value
    return None


def _int_query(name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = _query(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?\d+", raw.strip()):
        raise ApiError(400, "bad_request", f"{name} must be a whole number, not {raw!r}")
    value = int(raw)
    if value < minimum:
        raise ApiError(400, "bad_request", f"{name} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ApiError(400, "bad_request", f"{name} must be at most {maximum}")
    return value


def _date_query(name: str) -> str | None:
    """A ddMMyyyy query date, as the start of that day in AdminPulse's text form."""
    raw = _query(name)
    if raw is None or raw == "":
        return None
    try:
        if not _QUERY_DATE.match(raw):
            raise ValueError(raw)
        day = datetime.strptime(raw, "%d%m%Y")
    except ValueError:
        raise ApiError(
            400, "bad_request", f"{name} must be a date written ddMMyyyy, not {raw!r}"
        ) from None
    return day.strftime("%Y-%m-%dT00:00:00")


def _bool_query(name: str) -> bool | None:
    raw = _query(name)
    if raw is None or raw == "":
        return None
    if raw.lower() not in ("true", "false"):
        raise ApiError(400, "bad_request", f"{name} must be true or false, not {raw!r}")
    return raw.lower() == "true"


def _json_response(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="application/json")


def _paged(table: str, where: list[str], params: list[Any], order: str) -> Response:
    """One page of a list, in AdminPulse's envelope, built from the stored JSON as is."""
    page = _int_query("page", 0, minimum=0, maximum=MAX_PAGE)
    size = _int_query("pageSize", DEFAULT_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)
    conn = database()
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    total = conn.execute(f"SELECT COUNT(*) FROM {table}{condition}", params).fetchone()[0]  # noqa: S608
    rows = conn.execute(
        f"SELECT body FROM {table}{condition} ORDER BY {order} LIMIT ? OFFSET ?",  # noqa: S608
        [*params, size, page * size],
    ).fetchall()
    envelope = (
        f'{{"results":[{",".join(row[0] for row in rows)}],"currentPage":{page},'
        f'"pageCount":{math.ceil(total / size)},"pageSize":{size},"totalRowCount":{total}}}'
    )
    return _json_response(envelope)


def _bare_array(table: str) -> Response:
    rows = database().execute(f"SELECT body FROM {table} ORDER BY seq").fetchall()  # noqa: S608
    return _json_response(f"[{','.join(row[0] for row in rows)}]")


def _register_routes(app: Flask, state: ServiceState) -> None:
    def requires(scope: str, *, upload: bool = False) -> Callable[[View], View]:
        def decorate(view: View) -> View:
            @functools.wraps(view)
            def guarded(*args: Any, **kwargs: Any) -> Any:
                _authorise(state, scope, upload=upload)
                return view(*args, **kwargs)

            return guarded  # type: ignore[return-value]

        return decorate

    @app.get("/relations")
    @requires("relations:read")
    def list_relations() -> Response:
        where: list[str] = []
        params: list[Any] = []
        identifiers = _query("uniqueIdentifier")
        if identifiers:
            wanted = [value.strip() for value in identifiers.split(",") if value.strip()]
            if len(wanted) > MAX_UNIQUE_IDENTIFIERS:
                raise ApiError(
                    400,
                    "bad_request",
                    f"uniqueIdentifier takes at most {MAX_UNIQUE_IDENTIFIERS} values",
                )
            where.append(f"unique_identifier IN ({','.join('?' for _ in wanted)})")
            params.extend(wanted)
        for name, column, normalise in (
            ("vatNumber", "vat_key", vat_match_key),
            ("nationalRegisterNumber", "nrn_key", nrn_match_key),
        ):
            raw = _query(name)
            if raw:
                where.append(f"{column} = ?")
                params.append(normalise(raw))
        since = _date_query("lastSyncTime")
        if since:
            where.append("modified_date >= ?")
            params.append(since)
        return _paged("ap_relations", where, params, "modified_date, id")

    @app.get("/relations/<int:id>")
    @requires("relations:read")
    def get_relation(id: int) -> Response:
        relation = storage.AP_RELATIONS.get(database(), id)
        if relation is None:
            raise ApiError(404, "not_found", f"no relation with id {id}")
        return _json_response(storage.encode_json(relation))

    @app.put("/relations/<int:id>")
    @requires("relations:write")
    def update_relation(id: int) -> Response:
        changes = _relation_changes(request.get_json(silent=True))
        conn = database()
        with storage.write_transaction(conn):
            relation = storage.AP_RELATIONS.get(conn, id)
            if relation is None:
                raise ApiError(404, "not_found", f"no relation with id {id}")
            if "idCardExpiryDate" in changes and relation.get("type") not in PERSON_TYPES:
                raise ApiError(
                    400,
                    "bad_request",
                    "idCardExpiryDate applies to persons and sole proprietors only",
                )
            updated = _apply_relation_changes(relation, changes)
            if updated != relation:
                updated["modifiedDate"] = clock.adminpulse_now()
                storage.AP_RELATIONS.replace(conn, updated)
        return _json_response(storage.encode_json(updated))

    @app.get("/users")
    @requires("users:read")
    def list_users() -> Response:
        return _paged("ap_users", [], [], "id")

    @app.get("/companies")
    @requires("relations:read")
    def list_companies() -> Response:
        return _bare_array("ap_companies")

    @app.get("/tasks")
    @requires("tasks:read")
    def list_tasks() -> Response:
        where: list[str] = []
        params: list[Any] = []
        for name, column in (
            ("templateName", "template_name"),
            ("relationUniqueIdentifier", "relation_uid"),
        ):
            raw = _query(name)
            if raw:
                where.append(f"{column} = ?")
                params.append(raw)
        return _paged("ap_tasks", where, params, "id")

    @app.get("/documenttypes")
    @requires("documents:read")
    def list_document_types() -> Response:
        return _bare_array("ap_document_types")

    @app.get("/documents")
    @requires("documents:read")
    def list_documents() -> Response:
        where: list[str] = []
        params: list[Any] = []
        for name, column in (
            ("relationIdentifier", "relation_identifier"),
            ("fileName", "file_name"),
        ):
            raw = _query(name)
            if raw:
                where.append(f"{column} = ?")
                params.append(raw)
        if _query("documentType"):
            where.append("document_type = ?")
            params.append(_int_query("documentType", 0, minimum=0))
        public = _bool_query("publicOnPortal")
        if public is not None:
            where.append("public_on_portal = ?")
            params.append(int(public))
        since = _date_query("lastSyncTime")
        if since:
            where.append("modified_date >= ?")
            params.append(since)
        return _paged("ap_documents", where, params, "id")

    @app.get("/documents/<int:id>/content")
    @requires("documents:read")
    def document_content(id: int) -> Response:
        conn = database()
        document = storage.AP_DOCUMENTS.get(conn, id)
        content = storage.AP_DOCUMENTS.get_content(conn, id)
        if document is None or content is None:
            raise ApiError(404, "not_found", f"no document with id {id}")
        content_type = mimetypes.guess_type(document["fileName"])[0]
        response = Response(content, mimetype=content_type or "application/octet-stream")
        response.headers["Content-Disposition"] = f'attachment; filename="{document["fileName"]}"'
        return response

    @app.post("/documents/add")
    @requires("documents:write", upload=True)
    def add_document() -> Response:
        conn = database()
        with storage.write_transaction(conn):
            document, content = _new_document(conn)
            storage.AP_DOCUMENTS.insert(conn, document, content)
        return _json_response(storage.encode_json(document))

    @app.get("/emails")
    @requires("relations:read")
    def list_emails() -> Response:
        since = _date_query("LastSyncTime")
        if since:
            return _paged("ap_emails", ["modified_date >= ?"], [since], "id")
        return _paged("ap_emails", [], [], "id")

    @app.post("/oauth/token")
    def issue_token() -> Response:
        return _refresh_access_token()


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {}


def _relation_changes(body: Any) -> dict[str, Any]:
    """The non-empty fields of a relation update, checked; empty fields are ignored."""
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "send the relation fields as a JSON object")
    present = {name: value for name, value in body.items() if not _is_empty(value)}
    read_only = sorted(set(present) - {"aml", "idCardExpiryDate"})
    if read_only:
        raise ApiError(
            400,
            "bad_request",
            "the sandbox only writes aml and idCardExpiryDate; "
            f"not writable: {', '.join(read_only)}",
        )
    changes: dict[str, Any] = {}
    if "idCardExpiryDate" in present:
        changes["idCardExpiryDate"] = _body_date("idCardExpiryDate", present["idCardExpiryDate"])
    if "aml" in present:
        changes["aml"] = _aml_changes(present["aml"])
    return changes


def _aml_changes(aml: Any) -> dict[str, Any]:
    if not isinstance(aml, dict):
        raise ApiError(400, "bad_request", "aml must be an object")
    present = {name: value for name, value in aml.items() if not _is_empty(value)}
    unknown = sorted(set(present) - {"totalRisk", "clientAcceptanceDate", "nextReviewDate"})
    if unknown:
        raise ApiError(400, "bad_request", f"unknown aml fields: {', '.join(unknown)}")
    if "totalRisk" in present and present["totalRisk"] not in RISK_LEVELS:
        raise ApiError(400, "bad_request", f"aml.totalRisk must be one of {', '.join(RISK_LEVELS)}")
    for name in ("clientAcceptanceDate", "nextReviewDate"):
        if name in present:
            present[name] = _body_date(f"aml.{name}", present[name])
    return present


def _body_date(name: str, value: Any) -> str:
    """A plain date in a body: `2026-11-30` (a time part, if sent, is dropped)."""
    if not isinstance(value, str) or not _BODY_DATE.match(value):
        raise ApiError(400, "bad_request", f"{name} must be an ISO date like 2026-11-30")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name} is not a real date: {value!r}") from None
    return value[:10]


def _apply_relation_changes(relation: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    updated = json.loads(json.dumps(relation))
    if "idCardExpiryDate" in changes:
        updated["idCardExpiryDate"] = changes["idCardExpiryDate"]
    if "aml" in changes:
        aml = dict(updated.get("aml") or {})
        for name in ("totalRisk", "clientAcceptanceDate", "nextReviewDate"):
            aml.setdefault(name, None)
        aml.update(changes["aml"])
        updated["aml"] = aml
    return updated


def _new_document(conn: sqlite3.Connection) -> tuple[dict[str, Any], bytes]:
    """The document an upload creates, from its multipart form, checked before any write."""
    form = request.form
    missing = [
        name
        for name in ("relationIdentifier", "documentType", "fileName", "documentDate")
        if not form.get(name)
    ]
    upload = request.files.get("file")
    if upload is None:
        missing.append("file")
    if missing:
        raise ApiError(400, "bad_request", f"missing form fields: {', '.join(missing)}")
    assert upload is not None
    content = upload.read()
    if not content:
        raise ApiError(400, "bad_request", "the file part is empty")

    relation_identifier = form["relationIdentifier"]
    known = conn.execute(
        "SELECT 1 FROM ap_relations WHERE unique_identifier = ?", (relation_identifier,)
    ).fetchone()
    if known is None:
        raise ApiError(400, "bad_request", "relationIdentifier matches no relation")
    if not re.fullmatch(r"\d+", form["documentType"]):
        raise ApiError(400, "bad_request", "documentType must be a document type's numeric id")
    document_type = storage.AP_DOCUMENT_TYPES.get(conn, int(form["documentType"]))
    if document_type is None:
        raise ApiError(400, "bad_request", f"no document type {form['documentType']}")
    document_date = form["documentDate"]
    if not _BODY_DATE.match(document_date):
        raise ApiError(400, "bad_request", "documentDate must be ISO-8601 without an offset")

    now = clock.adminpulse_now()
    document = {
        "id": storage.AP_DOCUMENTS.next_integer_id(conn),
        "relationIdentifier": relation_identifier,
        "documentType": document_type["id"],
        "fileName": form["fileName"],
        "documentDate": document_date,
        "publicOnPortal": bool(document_type.get("publicOnPortalDefault")),
        "size": len(content),
        "createdDate": now,
        "modifiedDate": now,
    }
    return document, content


def _oauth_error(status: int, error: str, description: str) -> Response:
    body = {"error": error, "error_description": description}
    return _json_response(storage.encode_json(body), status)


def _refresh_access_token() -> Response:
    """The refresh-token grant of OAuth 2 (RFC 6749, section 6), with its error shapes.

    The refresh token is not rotated, so a configured one keeps working for every run.
    """
    form = request.form
    if form.get("grant_type") != "refresh_token":
        return _oauth_error(400, "unsupported_grant_type", "only grant_type=refresh_token")
    conn = database()
    row = conn.execute(
        "SELECT body FROM ap_oauth_clients WHERE client_id = ?", (form.get("client_id", ""),)
    ).fetchone()
    client = json.loads(row[0]) if row else None
    if client is None or not secrets.compare_digest(
        client.get("clientSecret", ""), form.get("client_secret", "")
    ):
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    if not secrets.compare_digest(client.get("refreshToken", ""), form.get("refresh_token", "")):
        return _oauth_error(400, "invalid_grant", "the refresh token is not valid")

    expires_at = clock.adminpulse_now_naive() + timedelta(seconds=ACCESS_TOKEN_SECONDS)
    token = {
        "token": secrets.token_urlsafe(32),
        "scopes": list(client.get("scopes", [])),
        "expiresAt": expires_at.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    with storage.write_transaction(conn):
        storage.AP_TOKENS.insert(conn, token)
    body = {
        "access_token": token["token"],
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_SECONDS,
        "refresh_token": client["refreshToken"],
    }
    return _json_response(storage.encode_json(body))
