"""The streams and fields this target accepts: its input contract, as JSON Schema.

Every record is checked against its stream's schema before anything is done with it. A record
that fails is rejected with the validator's reason; its neighbours go on. Fields not named here
are allowed and ignored, so a tap may send more than the target reads.
"""

from __future__ import annotations

import typing as t
from datetime import date

from jsonschema import Draft202012Validator, FormatChecker

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INTEGER = {"type": ["integer", "null"]}
NULLABLE_BOOLEAN = {"type": ["boolean", "null"]}
# A date AdminPulse writes as `2026-11-30`, possibly followed by a time; it must be a real day.
REAL_DAY = "adminpulse-day"
ISO_DATE = {"type": ["string", "null"], "pattern": r"^\d{4}-\d{2}-\d{2}", "format": REAL_DAY}
# Text that becomes a field of an AMLCare client [assumed limits]: one line of at most 255
# characters, without control characters, which no name or address holds and no screen shows.
MAX_TEXT_LENGTH = 255
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"
CLIENT_TEXT = {
    "type": ["string", "null"],
    "maxLength": MAX_TEXT_LENGTH,
    "pattern": NO_CONTROL_CHARACTERS,
}
# AdminPulse relation statuses; another one means the API changed and is refused, not guessed.
RELATION_STATUSES = ["customer", "prospect", "ownCompany", "other"]

USERS = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "integer"}, "email": NULLABLE_STRING},
}

DOCUMENT_TYPES = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "publicOnPortalDefault": NULLABLE_BOOLEAN,
    },
}

RELATIONS = {
    "type": "object",
    "required": ["uniqueIdentifier", "type", "status"],
    "properties": {
        "id": NULLABLE_INTEGER,
        "uniqueIdentifier": {"type": "string", "minLength": 1},
        "type": {"enum": ["person", "company", "soleProprietor"]},
        "status": {"enum": RELATION_STATUSES},
        "name": CLIENT_TEXT,
        "displayName": CLIENT_TEXT,
        "firstName": CLIENT_TEXT,
        "lastName": CLIENT_TEXT,
        "vatNumber": NULLABLE_STRING,
        "nationalRegisterNumber": NULLABLE_STRING,
        "language": NULLABLE_STRING,
        "email": CLIENT_TEXT,
        "phone": CLIENT_TEXT,
        "address": {
            "type": ["object", "null"],
            "properties": {
                "street": CLIENT_TEXT,
                "postalCode": CLIENT_TEXT,
                "city": CLIENT_TEXT,
                "country": CLIENT_TEXT,
            },
        },
        "responsibles": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["userId"],
                "properties": {"userId": {"type": "integer"}, "profile": NULLABLE_STRING},
            },
        },
        "tos": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["linkType", "uniqueIdentifier"],
                "properties": {
                    "linkType": {"type": "integer"},
                    "uniqueIdentifier": {"type": "string"},
                },
            },
        },
        "endDate": ISO_DATE,
        "createdDate": NULLABLE_STRING,
        "modifiedDate": NULLABLE_STRING,
    },
}

IDENTITY_DOCUMENTS = {
    "type": "object",
    "required": ["id", "relationIdentifier", "publicOnPortal"],
    "properties": {
        "id": {"type": "integer"},
        "relationIdentifier": {"type": "string", "minLength": 1},
        "documentType": NULLABLE_INTEGER,
        "documentTypeName": NULLABLE_STRING,
        "fileName": NULLABLE_STRING,
        "publicOnPortal": {"type": "boolean"},
        "contentType": NULLABLE_STRING,
        "content": {"type": ["string", "null"], "contentEncoding": "base64"},
        "contentSkipped": NULLABLE_STRING,
    },
}

STREAM_SCHEMAS: dict[str, dict[str, t.Any]] = {
    "users": USERS,
    "document_types": DOCUMENT_TYPES,
    "relations": RELATIONS,
    "identity_documents": IDENTITY_DOCUMENTS,
}

_FORMATS = FormatChecker(formats=())


@_FORMATS.checks(REAL_DAY, raises=ValueError)
def _is_real_day(value: object) -> bool:
    """A day that exists (no 30 February), whatever follows it."""
    if isinstance(value, str):
        date.fromisoformat(value[:10])
    return True


_VALIDATORS = {
    name: Draft202012Validator(schema, format_checker=_FORMATS)
    for name, schema in STREAM_SCHEMAS.items()
}


def contract_problem(stream: str, record: dict[str, t.Any]) -> str | None:
    """Why a record breaks the contract (the first reason, with its field), or None."""
    error = next(iter(_VALIDATORS[stream].iter_errors(record)), None)
    if error is None:
        return None
    where = ".".join(str(part) for part in error.absolute_path) or "record"
    if error.validator == "required":
        return f"{where}: {error.message}"  # names the missing field, holds no value
    if error.validator == "format":
        return f"{where}: is not a real date"
    if error.validator == "maxLength":
        return f"{where}: is longer than {error.validator_value} characters"
    if error.validator == "pattern" and error.validator_value == NO_CONTROL_CHARACTERS:
        return f"{where}: contains control characters"
    if error.validator == "enum":
        return f"{where}: is none of {', '.join(map(str, error.validator_value))}"
    # jsonschema's own message quotes the offending value, which may be a personal identifier.
    expected = error.validator_value
    return f"{where}: does not satisfy {error.validator} {expected!r}"
