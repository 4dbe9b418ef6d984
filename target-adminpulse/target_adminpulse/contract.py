"""The input contract: the streams this target accepts, as JSON Schema, and their check.

Any tap (or a stream map over one) that sends records of this shape can feed the target. A record
that does not match is rejected with the reasons, never half-written. Fields not named here are
allowed and ignored.
"""

from __future__ import annotations

import typing as t

from jsonschema import Draft202012Validator, FormatChecker

CLIENTS = "clients"
DOCUMENTS = "documents"

_NULLABLE_DATE = {"type": ["string", "null"], "format": "date"}
_TIMESTAMP = {"type": "string", "minLength": 1}

CLIENT_SCHEMA: dict[str, t.Any] = {
    "type": "object",
    "required": ["id", "type", "key", "updated_at"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "type": {"enum": ["person", "company"]},
        "key": {
            "type": "string",
            "pattern": r"^\d{10,11}$",
            "description": "National register number (persons) or KBO number (companies).",
        },
        "enterprise_number": {"type": ["string", "null"]},
        "cap": {
            "type": ["object", "null"],
            "properties": {
                "acceptance_date": _NULLABLE_DATE,
                "next_review_date": _NULLABLE_DATE,
            },
        },
        "risk_level": {"type": ["string", "null"]},
        "id_card": {
            "type": ["object", "null"],
            "properties": {"expiry_date": _NULLABLE_DATE},
        },
        "updated_at": _TIMESTAMP,
    },
}

# One record per document version: `status`, `version`, `file_name` and `content` are that
# version's, so each version is uploaded on its own, once.
DOCUMENT_SCHEMA: dict[str, t.Any] = {
    "type": "object",
    "required": ["id", "client_type", "client_key", "kind", "status", "version", "updated_at"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "client_type": {"enum": ["person", "company"]},
        "client_key": {"type": "string", "pattern": r"^\d{10,11}$"},
        "kind": {
            "enum": [
                "identification_form",
                "cap_report",
                "id_card",
                "verification_report",
                "ubo_extract",
            ]
        },
        "status": {
            "enum": ["created", "submitted", "signed"],
            "description": "The status the document had when this version was made.",
        },
        "version": {"type": "integer", "minimum": 1},
        "origin": {"type": ["string", "null"]},
        "file_name": {"type": ["string", "null"]},
        "content_type": {"type": ["string", "null"]},
        "content": {
            "type": ["string", "null"],
            "contentEncoding": "base64",
            "description": "The file of this version; required for kinds that are uploaded.",
        },
        "content_skipped": {
            "type": ["string", "null"],
            "description": "Why the tap left the file out (too large); the version is rejected.",
        },
        "version_created_at": {
            "type": ["string", "null"],
            "minLength": 1,
            "description": "When this version was made: its document date. Else updated_at.",
        },
        "updated_at": _TIMESTAMP,
    },
}

SCHEMAS: dict[str, dict[str, t.Any]] = {CLIENTS: CLIENT_SCHEMA, DOCUMENTS: DOCUMENT_SCHEMA}

_VALIDATORS = {
    stream: Draft202012Validator(schema, format_checker=FormatChecker())
    for stream, schema in SCHEMAS.items()
}


def violations(stream: str, record: dict[str, t.Any]) -> list[str]:
    """Why `record` breaks the contract of `stream`, one short phrase per problem; [] if it holds.

    The phrases name the field, never its value, so they are safe to log and report.
    """
    problems = []
    for error in sorted(_VALIDATORS[stream].iter_errors(record), key=lambda e: list(e.path)):
        where = ".".join(str(part) for part in error.absolute_path) or "record"
        if error.validator == "required":
            problems.append(f"{where}: {error.message}")
        else:
            problems.append(f"{where}: {_describe(error.validator, error.validator_value)}")
    return problems


def _describe(rule: object, expected: object) -> str:
    if rule == "enum":
        return f"must be one of {expected}"
    if rule == "pattern":
        return "has the wrong shape (10 or 11 digits expected)"
    return f"fails {rule} {expected}"
