"""AMLCare's partner API, as amlcare-openapi.yaml specifies it.

What AMLCare is known to do shapes the rules: each person is stored once, keyed by national
register number, each company by KBO number; a second create with a known key is refused (409,
naming the existing client) and records with different keys are never merged; invalid numbers and
e-mail addresses are refused with a reason (422); documents move created → submitted → signed,
each step a new version, and every version keeps its file and the status it was made in. Every
record carries `updated_at`, and the incremental lists page by
(updated_at, id) with an opaque cursor, so records sharing a timestamp are never skipped.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import mimetypes
import re
import secrets
import sqlite3
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, Response, request

from amlsync_sandbox import clock, storage
from amlsync_sandbox.identifiers import is_valid_email, is_valid_kbo, is_valid_nrn
from amlsync_sandbox.service import (
    ApiError,
    ServiceState,
    create_service_app,
    database,
    retry_after_seconds,
    scaled_limit,
)
from amlsync_sandbox.world import next_version_file

SERVICE = "amlcare"
# Our partner API's limit [our spec]: 1200 calls a minute per API key.
CALLS_PER_MINUTE = 1200
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_LOOKUP_KEYS = 500

CLIENT_TYPES = ("person", "company")
LANGUAGES = ("nl", "fr", "en", "de")
CAP_STATUSES = ("not_started", "ongoing", "accepted", "not_accepted", "expiring", "expired")
RISK_LEVELS = ("low", "standard", "high")
IMPORT_STATUSES = ("pending", "complete")
ROLES = ("ubo", "director", "permanent_representative")
DOCUMENT_KINDS = (
    "identification_form",
    "cap_report",
    "id_card",
    "verification_report",
    "ubo_extract",
)
DOCUMENT_STATUSES = ("created", "submitted", "signed")
DOCUMENT_ORIGINS = ("amlcare", "adminpulse_import")
# Which status each document action leads to, from which status.
TRANSITIONS = {"submit": ("created", "submitted"), "sign": ("submitted", "signed")}

CLIENT_FIELDS = (
    "type",
    "key",
    "name",
    "first_name",
    "last_name",
    "enterprise_number",
    "language",
    "email",
    "phone",
    "address",
    "responsible_user_id",
    "external_ref",
    "import_status",
    "cap",
    "risk_level",
    "id_card",
)
PATCHABLE_FIELDS = ("cap", "risk_level", "id_card", "responsible_user_id", "import_status")
ADDRESS_FIELDS = ("street", "postal_code", "city", "country")
CAP_FIELDS = ("status", "acceptance_date", "next_review_date")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

View = TypeVar("View", bound=Callable[..., Any])


def render_error(error: ApiError) -> dict[str, Any]:
    """AMLCare's error body: `{"error": {code, message, field[, existing_id]}}`."""
    return {
        "error": {"code": error.code, "message": error.message, "field": error.field, **error.extra}
    }


def create_app(db_path: Path) -> Flask:
    """The AMLCare app, reading and writing the world in `db_path`."""
    state = ServiceState(SERVICE, db_path, render_error)
    app = create_service_app("amlcare", state)
    _register_routes(app, state)
    return app


def _authorise(state: ServiceState) -> None:
    """Check the API key, then take a slot in its rate limit."""
    kind, _, key = request.headers.get("Authorization", "").partition(" ")
    headers = {"WWW-Authenticate": "Bearer"}
    if kind.lower() != "bearer" or not key.strip():
        raise ApiError(
            401, "unauthorized", "no API key: send Authorization: Bearer <key>", headers=headers
        )
    if storage.AM_API_KEYS.get(database(), key.strip()) is None:
        raise ApiError(401, "unauthorized", "unknown API key", headers=headers)

    faults = state.faults()
    limit = scaled_limit(CALLS_PER_MINUTE, faults.rate_scale)
    wait = state.rate_limiter.acquire([((SERVICE, key.strip(), "calls"), limit)])
    if wait is not None:
        retry = {}
        if faults.retry_after_share >= 1 or secrets.randbelow(1_000_000) < (
            faults.retry_after_share * 1_000_000
        ):
            retry["Retry-After"] = retry_after_seconds(wait)
        raise ApiError(429, "rate_limited", "rate limit exceeded for this API key", headers=retry)


def _invalid(field: str, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(422, code, message, field=field)


def _bad_request(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, "bad_request", message, field=field)


def _json_response(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="application/json")


def _record_response(record: dict[str, Any], status: int = 200) -> Response:
    return _json_response(storage.encode_json(record), status)


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise _bad_request("send a JSON object with Content-Type: application/json")
    return body


def _encode_cursor(updated_at: str, record_id: str) -> str:
    raw = json.dumps([updated_at, record_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        updated_at, record_id = json.loads(base64.urlsafe_b64decode(padded))
        if not (isinstance(updated_at, str) and isinstance(record_id, str)):
            raise ValueError(cursor)
    except (binascii.Error, ValueError, TypeError):
        raise ApiError(
            400, "invalid_cursor", "cursor is not one this API gave out", field="cursor"
        ) from None
    return updated_at, record_id


def _updated_since() -> str | None:
    raw = request.args.get("updated_since")
    if not raw:
        return None
    try:
        moment = clock.parse_aware(raw)
    except ValueError as error:
        raise _bad_request(f"updated_since: {error}", "updated_since") from None
    return clock.amlcare_timestamp(moment)


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not re.fullmatch(r"\d+", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise _bad_request(f"limit must be a whole number from 1 to {MAX_LIMIT}", "limit")
    return int(raw)


def _enum_query(name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise _bad_request(f"{name} must be one of {', '.join(choices)}", name)
    return raw


def _incremental_list(table: str, filters: dict[str, Any]) -> Response:
    """One page of a list ordered by (updated_at, id), resuming after the cursor's position."""
    limit = _limit()
    where = [f"{column} = ?" for column in filters]
    params: list[Any] = list(filters.values())
    since = _updated_since()
    if since:
        where.append("updated_at >= ?")
        params.append(since)
    cursor = request.args.get("cursor")
    if cursor:
        after_time, after_id = _decode_cursor(cursor)
        where.append("(updated_at > ? OR (updated_at = ? AND id > ?))")
        params += [after_time, after_time, after_id]
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    rows = (
        database()
        .execute(
            f"SELECT updated_at, id, body FROM {table}{condition} "  # noqa: S608
            "ORDER BY updated_at, id LIMIT ?",
            [*params, limit + 1],
        )
        .fetchall()
    )
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1][0], page[-1][1]) if len(rows) > limit else None
    items = ",".join(row[2] for row in page)
    return _json_response(f'{{"items":[{items}],"next_cursor":{json.dumps(next_cursor)}}}')


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _write_time(conn: sqlite3.Connection, table: str) -> str:
    """The timestamp of a write: after every one already stored in `table`.

    Taken inside the write transaction, so whatever a reader has seen is older than any write
    still to be committed, and a bookmark at the newest `updated_at` seen never skips one.
    """
    newest = conn.execute(f"SELECT MAX(updated_at) FROM {table}").fetchone()[0]  # noqa: S608
    return clock.amlcare_write_time(newest)


def _register_routes(app: Flask, state: ServiceState) -> None:
    def authorised(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            _authorise(state)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    @app.get("/v1/users")
    @authorised
    def list_users() -> Response:
        return _incremental_list("am_users", {})

    @app.get("/v1/clients")
    @authorised
    def list_clients() -> Response:
        filters: dict[str, Any] = {}
        client_type = _enum_query("type", CLIENT_TYPES)
        if client_type:
            filters["type"] = client_type
        if request.args.get("key"):
            filters["key"] = request.args["key"]
        return _incremental_list("am_clients", filters)

    @app.post("/v1/clients/lookup")
    @authorised
    def lookup_clients() -> Response:
        keys = _json_body().get("keys")
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise _bad_request('"keys" must be a list of strings', "keys")
        if len(keys) > MAX_LOOKUP_KEYS:
            raise _bad_request(f"at most {MAX_LOOKUP_KEYS} keys per lookup", "keys")
        unique = sorted(set(keys))
        rows = []
        if unique:
            marks = ",".join("?" for _ in unique)
            rows = (
                database()
                .execute(
                    f"SELECT body FROM am_clients WHERE key IN ({marks}) ORDER BY key",  # noqa: S608
                    unique,
                )
                .fetchall()
            )
        return _json_response(f'{{"items":[{",".join(row[0] for row in rows)}]}}')

    @app.post("/v1/clients")
    @authorised
    def create_client() -> Response:
        body = _json_body()
        conn = database()
        with storage.write_transaction(conn):
            client = _new_client(conn, body)
            existing = conn.execute(
                "SELECT id FROM am_clients WHERE key = ?", (client["key"],)
            ).fetchone()
            if existing:
                raise ApiError(
                    409,
                    "duplicate_key",
                    f"a {client['type']} with this key exists already",
                    field="key",
                    existing_id=existing[0],
                )
            now = _write_time(conn, "am_clients")
            client["created_at"] = client["updated_at"] = now
            storage.AM_CLIENTS.insert(conn, client)
        return _record_response(client, 201)

    @app.get("/v1/clients/<id>")
    @authorised
    def get_client(id: str) -> Response:
        return _record_response(_client_or_404(database(), id))

    @app.patch("/v1/clients/<id>")
    @authorised
    def update_client(id: str) -> Response:
        body = _json_body()
        conn = database()
        with storage.write_transaction(conn):
            client = _client_or_404(conn, id)
            updated = _patched_client(conn, client, body)
            if updated != client:
                updated["updated_at"] = _write_time(conn, "am_clients")
                storage.AM_CLIENTS.replace(conn, updated)
        return _record_response(updated)

    @app.get("/v1/relations")
    @authorised
    def list_relations() -> Response:
        filters = {
            name: request.args[name]
            for name in ("company_id", "person_id")
            if request.args.get(name)
        }
        return _incremental_list("am_relations", filters)

    @app.post("/v1/relations")
    @authorised
    def create_relation() -> Response:
        body = _json_body()
        conn = database()
        with storage.write_transaction(conn):
            relation = _new_relation(conn, body)
            existing = conn.execute(
                "SELECT id FROM am_relations WHERE company_id = ? AND person_id = ? AND role = ?",
                (relation["company_id"], relation["person_id"], relation["role"]),
            ).fetchone()
            if existing:
                raise ApiError(
                    409,
                    "duplicate_relation",
                    "this person already holds this role in this company",
                    existing_id=existing[0],
                )
            now = _write_time(conn, "am_relations")
            relation["created_at"] = relation["updated_at"] = now
            storage.AM_RELATIONS.insert(conn, relation)
        return _record_response(relation, 201)

    @app.get("/v1/documents")
    @authorised
    def list_documents() -> Response:
        filters: dict[str, Any] = {}
        if request.args.get("client_id"):
            filters["client_id"] = request.args["client_id"]
        for name, choices in (("kind", DOCUMENT_KINDS), ("status", DOCUMENT_STATUSES)):
            value = _enum_query(name, choices)
            if value:
                filters[name] = value
        return _incremental_list("am_documents", filters)

    @app.post("/v1/clients/<id>/documents")
    @authorised
    def upload_document(id: str) -> Response:
        conn = database()
        with storage.write_transaction(conn):
            client = _client_or_404(conn, id)
            document, content = _new_document(client)
            if document["external_ref"] is not None:
                existing = conn.execute(
                    "SELECT id FROM am_documents WHERE client_id = ? AND external_ref = ?",
                    (client["id"], document["external_ref"]),
                ).fetchone()
                if existing:
                    raise ApiError(
                        409,
                        "duplicate_external_ref",
                        "this client already has a document with this external_ref",
                        field="external_ref",
                        existing_id=existing[0],
                    )
            now = _write_time(conn, "am_documents")
            document["created_at"] = document["updated_at"] = now
            document["versions"] = [_version_entry(document, now)]
            storage.AM_DOCUMENTS.insert(conn, document)
            storage.AM_DOCUMENT_FILES.put(conn, document["id"], document["version"], content)
        return _record_response(document, 201)

    @app.get("/v1/documents/<id>")
    @authorised
    def get_document(id: str) -> Response:
        return _record_response(_document_or_404(database(), id))

    @app.get("/v1/documents/<id>/content")
    @authorised
    def document_content(id: str) -> Response:
        document = _document_or_404(database(), id)
        return _version_file(document, document["version"])

    @app.get("/v1/documents/<id>/versions/<int:version>/content")
    @authorised
    def document_version_content(id: str, version: int) -> Response:
        return _version_file(_document_or_404(database(), id), version)

    @app.post("/v1/documents/<id>/submit")
    @authorised
    def submit_document(id: str) -> Response:
        return _advance_document(id, "submit")

    @app.post("/v1/documents/<id>/sign")
    @authorised
    def sign_document(id: str) -> Response:
        return _advance_document(id, "sign")


def _client_or_404(conn: sqlite3.Connection, client_id: str) -> dict[str, Any]:
    client = storage.AM_CLIENTS.get(conn, client_id)
    if client is None:
        raise ApiError(404, "not_found", f"no client {client_id}")
    return client


def _document_or_404(conn: sqlite3.Connection, document_id: str) -> dict[str, Any]:
    document = storage.AM_DOCUMENTS.get(conn, document_id)
    if document is None:
        raise ApiError(404, "not_found", f"no document {document_id}")
    return document


def _version_file(document: dict[str, Any], version: int) -> Response:
    """The file of one version of a document, named as that version was named."""
    entry = next((item for item in document["versions"] if item["version"] == version), None)
    content = storage.AM_DOCUMENT_FILES.get(database(), document["id"], version)
    if entry is None or content is None:
        raise ApiError(404, "not_found", f"document {document['id']} has no version {version}")
    response = Response(content, mimetype=document["content_type"])
    response.headers["Content-Disposition"] = f'attachment; filename="{entry["file_name"]}"'
    return response


def _version_entry(document: dict[str, Any], now: str) -> dict[str, Any]:
    """How a document lists its current version among its versions."""
    return {
        "version": document["version"],
        "status": document["status"],
        "file_name": document["file_name"],
        "size": document["size"],
        "created_at": now,
    }


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad_request(f"{name} must be a string or null", name)
    return value or None


def _choice(body: dict[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = _optional_text(body, name)
    if value is not None and value not in choices:
        raise _invalid(name, f"{name} must be one of {', '.join(choices)}")
    return value


def _date(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DATE.match(value):
        raise _invalid(name, f"{name} must be a date like 2026-11-30")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise _invalid(name, f"{name} is not a real date") from None
    return value


def _new_client(conn: sqlite3.Connection, body: dict[str, Any]) -> dict[str, Any]:
    """A client from a create request, every field checked; nothing is stored here."""
    unknown = sorted(set(body) - set(CLIENT_FIELDS))
    if unknown:
        raise _bad_request(f"unknown fields: {', '.join(unknown)}", unknown[0])
    client_type = _choice(body, "type", CLIENT_TYPES)
    if client_type is None:
        raise _invalid("type", "type is required: person or company", "required")
    is_person = client_type == "person"

    key = _optional_text(body, "key")
    if key is None:
        raise _invalid("key", "key is required: a national register or KBO number", "required")
    if is_person and not is_valid_nrn(key):
        raise _invalid(
            "key",
            "key is not a valid national register or BIS number (11 digits, no separators)",
            "invalid_national_register_number",
        )
    if not is_person and not is_valid_kbo(key):
        raise _invalid(
            "key",
            "key is not a valid KBO number (10 digits, no separators)",
            "invalid_kbo_number",
        )

    enterprise_number = _optional_text(body, "enterprise_number")
    if enterprise_number is not None:
        if not is_person:
            raise _invalid("enterprise_number", "a company's KBO number is its key")
        if not is_valid_kbo(enterprise_number):
            raise _invalid(
                "enterprise_number",
                "enterprise_number is not a valid KBO number (10 digits, no separators)",
                "invalid_kbo_number",
            )

    first_name = _optional_text(body, "first_name")
    last_name = _optional_text(body, "last_name")
    name = _optional_text(body, "name") or " ".join(filter(None, (first_name, last_name)))
    if not name:
        raise _invalid("name", "name is required (or first_name and last_name)", "required")

    id_card = body.get("id_card")
    if not is_person and id_card is not None:
        raise _invalid("id_card", "only persons have an ID card")
    cap = {"status": "not_started", "acceptance_date": None, "next_review_date": None}
    return {
        "id": _new_id("cl"),
        "type": client_type,
        "key": key,
        "name": name,
        "first_name": first_name,
        "last_name": last_name,
        "enterprise_number": enterprise_number,
        "language": _choice(body, "language", LANGUAGES),
        "email": _email(body),
        "phone": _optional_text(body, "phone"),
        "address": _address(body.get("address")),
        "responsible_user_id": _responsible(conn, body),
        "external_ref": _optional_text(body, "external_ref"),
        "import_status": _choice(body, "import_status", IMPORT_STATUSES),
        "cap": _merged_cap(cap, body.get("cap")),
        "risk_level": _choice(body, "risk_level", RISK_LEVELS),
        "id_card": _merged_id_card({"expiry_date": None}, id_card) if is_person else None,
    }


def _email(body: dict[str, Any]) -> str | None:
    email = _optional_text(body, "email")
    if email is not None and not is_valid_email(email):
        raise _invalid("email", "email is not a valid e-mail address", "invalid_email")
    return email


def _address(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad_request("address must be an object or null", "address")
    unknown = sorted(set(value) - set(ADDRESS_FIELDS))
    if unknown:
        raise _bad_request(f"unknown address fields: {', '.join(unknown)}", "address")
    return {name: _optional_text(value, name) for name in ADDRESS_FIELDS}


def _responsible(conn: sqlite3.Connection, body: dict[str, Any]) -> str | None:
    user_id = _optional_text(body, "responsible_user_id")
    if user_id is not None and storage.AM_USERS.get(conn, user_id) is None:
        raise _invalid("responsible_user_id", "no internal user with this id", "unknown_user")
    return user_id


def _merged_cap(cap: dict[str, Any] | None, change: Any) -> dict[str, Any]:
    merged = dict(cap or dict.fromkeys(CAP_FIELDS))
    if change is None:
        return merged
    if not isinstance(change, dict):
        raise _bad_request("cap must be an object", "cap")
    unknown = sorted(set(change) - set(CAP_FIELDS))
    if unknown:
        raise _bad_request(f"unknown cap fields: {', '.join(unknown)}", "cap")
    if "status" in change:
        if change["status"] not in CAP_STATUSES:
            raise _invalid("cap.status", f"cap.status must be one of {', '.join(CAP_STATUSES)}")
        merged["status"] = change["status"]
    for name in ("acceptance_date", "next_review_date"):
        if name in change:
            merged[name] = _date(change[name], f"cap.{name}")
    return merged


def _merged_id_card(id_card: dict[str, Any] | None, change: Any) -> dict[str, Any]:
    merged = dict(id_card or {"expiry_date": None})
    if change is None:
        return merged
    if not isinstance(change, dict) or set(change) - {"expiry_date"}:
        raise _bad_request("id_card must be an object with expiry_date", "id_card")
    if "expiry_date" in change:
        merged["expiry_date"] = _date(change["expiry_date"], "id_card.expiry_date")
    return merged


def _patched_client(
    conn: sqlite3.Connection, client: dict[str, Any], body: dict[str, Any]
) -> dict[str, Any]:
    """The client with a PATCH applied (objects merge field by field); nothing stored here."""
    not_patchable = sorted(set(body) - set(PATCHABLE_FIELDS))
    if not_patchable:
        raise _invalid(
            not_patchable[0],
            f"only compliance fields can be changed: {', '.join(PATCHABLE_FIELDS)}",
            "not_patchable",
        )
    updated = dict(client)
    if "cap" in body:
        if body["cap"] is None:
            raise _invalid("cap", "cap cannot be removed; set its status instead")
        updated["cap"] = _merged_cap(client.get("cap"), body["cap"])
    if "risk_level" in body:
        updated["risk_level"] = _choice(body, "risk_level", RISK_LEVELS)
    if "id_card" in body:
        if client["type"] != "person":
            raise _invalid("id_card", "only persons have an ID card")
        updated["id_card"] = _merged_id_card(client.get("id_card"), body["id_card"])
    if "responsible_user_id" in body:
        updated["responsible_user_id"] = _responsible(conn, body)
    if "import_status" in body:
        updated["import_status"] = _choice(body, "import_status", IMPORT_STATUSES)
    return updated


def _new_relation(conn: sqlite3.Connection, body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - {"company_id", "person_id", "role"})
    if unknown:
        raise _bad_request(f"unknown fields: {', '.join(unknown)}", unknown[0])
    for name, wanted in (("company_id", "company"), ("person_id", "person")):
        client_id = _optional_text(body, name)
        if client_id is None:
            raise _invalid(name, f"{name} is required", "required")
        client = storage.AM_CLIENTS.get(conn, client_id)
        if client is None:
            raise _invalid(name, f"no client {client_id}", "unknown_client")
        if client["type"] != wanted:
            raise _invalid(name, f"{name} must be a {wanted} client")
    role = _choice(body, "role", ROLES)
    if role is None:
        raise _invalid("role", f"role is required: {', '.join(ROLES)}", "required")
    return {
        "id": _new_id("rel"),
        "company_id": body["company_id"],
        "person_id": body["person_id"],
        "role": role,
    }


def _new_document(client: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """A document from an upload's multipart form, checked; nothing is stored here."""
    form = request.form
    kind = form.get("kind")
    if kind not in DOCUMENT_KINDS:
        raise _invalid("kind", f"kind must be one of {', '.join(DOCUMENT_KINDS)}")
    origin = form.get("origin") or "amlcare"
    if origin not in DOCUMENT_ORIGINS:
        raise _invalid("origin", f"origin must be one of {', '.join(DOCUMENT_ORIGINS)}")
    file_name = form.get("file_name")
    if not file_name:
        raise _invalid("file_name", "file_name is required", "required")
    upload = request.files.get("file")
    content = upload.read() if upload is not None else b""
    if not content:
        raise _invalid("file", "the file part is missing or empty", "required")
    content_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
    return {
        "id": _new_id("doc"),
        "client_id": client["id"],
        "client_type": client["type"],
        "client_key": client["key"],
        "kind": kind,
        "status": "created",
        "version": 1,
        "file_name": file_name,
        "content_type": content_type,
        "size": len(content),
        "origin": origin,
        "external_ref": form.get("external_ref") or None,
    }, content


def _advance_document(document_id: str, action: str) -> Response:
    """Move a document one status on, as a new version beside the ones before it.

    The new version's file is the previous one with the step recorded in it; the earlier
    versions and their files stay as they were.
    """
    source, target = TRANSITIONS[action]
    conn = database()
    with storage.write_transaction(conn):
        document = _document_or_404(conn, document_id)
        if document["status"] != source:
            raise ApiError(
                409,
                "invalid_transition",
                f"only a {source} document can be {target}; this one is {document['status']}",
                field="status",
            )
        now = _write_time(conn, "am_documents")
        version = document["version"] + 1
        previous = storage.AM_DOCUMENT_FILES.get(conn, document_id, document["version"]) or b""
        content = next_version_file(previous, version, target, now)
        document.update(status=target, version=version, size=len(content), updated_at=now)
        document["versions"] = [*document["versions"], _version_entry(document, now)]
        storage.AM_DOCUMENTS.replace(conn, document)
        storage.AM_DOCUMENT_FILES.put(conn, document_id, version, content)
    return _record_response(document)
