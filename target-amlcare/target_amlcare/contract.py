"""The streams and fields this target accepts: its input contract, as JSON Schema.

Every record is checked against its stream's schema before anything is done with it. A record
that fails is rejected with the validator's reason; its neighbours go on. Fields not named here
are allowed and ignored, so a tap may send more than the target reads.
"""

from __future__ import annotations

import typing as t

from jsonschema import Draft202012Validator

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INTEGER = {"type": ["integer", "null"]}
NULLABLE_BOOLEAN = {"type": ["boolean", "null"]}
ISO_DATE = {"type": ["string", "null"], "pattern": r"^\d{4}-\d{2}-\d{2}"}

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
        "status": {"type": "string"},
        "name": NULLABLE_STRING,
        "displayName": NULLABLE_STRING,
        "firstName": NULLABLE_STRING,
        "lastName": NULLABLE_STRING,
        "vatNumber": NULLABLE_STRING,
        "nationalRegisterNumber": NULLABLE_STRING,
        "language": NULLABLE_STRING,
        "email": NULLABLE_STRING,
        "phone": NULLABLE_STRING,
        "address": {
            "type": ["object", "null"],
            "properties": {
                "street": NULLABLE_STRING,
                "postalCode": NULLABLE_STRING,
                "city": NULLABLE_STRING,
                "country": NULLABLE_STRING,
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
    },
}

STREAM_SCHEMAS: dict[str, dict[str, t.Any]] = {
    "users": USERS,
    "document_types": DOCUMENT_TYPES,
    "relations": RELATIONS,
    "identity_documents": IDENTITY_DOCUMENTS,
}

_VALIDATORS = {name: Draft202012Validator(schema) for name, schema in STREAM_SCHEMAS.items()}


def contract_problem(stream: str, record: dict[str, t.Any]) -> str | None:
    """Why a record breaks the contract (the first reason, with its field), or None."""
    error = next(iter(_VALIDATORS[stream].iter_errors(record)), None)
    if error is None:
        return None
    where = ".".join(str(part) for part in error.absolute_path) or "record"
    if error.validator == "required":
        return f"{where}: {error.message}"  # names the missing field, holds no value
    # jsonschema's own message quotes the offending value, which may be a personal identifier.
    expected = error.validator_value
    return f"{where}: does not satisfy {error.validator} {expected!r}"
