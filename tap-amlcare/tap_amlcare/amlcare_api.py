"""What this tap assumes about the AMLCare partner API, kept in one place.

AMLCare publishes no API. This project specifies a partner API (the OpenAPI document beside the
sandbox); every path, parameter, field and enum value below comes from that specification and is
the one module to change when the real service differs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from singer_sdk import typing as th

# Lists answer at most this many items per page.
MAX_PAGE_SIZE = 500

# List envelope: `{"items": [...], "next_cursor": "..." | null}`.
ITEMS_JSONPATH = "$.items[*]"
NEXT_CURSOR_JSONPATH = "$.next_cursor"

# Query parameters of the incremental lists. `updated_since` is inclusive and the answer is
# ordered by (`updated_at`, `id`), so a bookmark re-reads its own timestamp and skips nothing.
PARAM_LIMIT = "limit"
PARAM_CURSOR = "cursor"
PARAM_UPDATED_SINCE = "updated_since"

USERS_PATH = "/users"
CLIENTS_PATH = "/clients"
DOCUMENTS_PATH = "/documents"
# A document lists every version it went through, and each version's file stays at its own path,
# so versions superseded before this tap came by are read all the same.
DOCUMENT_VERSIONS_FIELD = "versions"
DOCUMENT_VERSION_CONTENT_PATH = "/documents/{document_id}/versions/{version}/content"
# What a version entry says about its version, replacing the document's current values.
DOCUMENT_VERSION_FIELDS = ("version", "status", "file_name", "size")
DOCUMENT_VERSION_CREATED_AT = "created_at"

REPLICATION_KEY = "updated_at"

# Timestamps are UTC with microseconds and a `Z`; one fixed width keeps text order = time order.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

CLIENT_TYPES = ("person", "company")
CAP_STATUSES = ("not_started", "ongoing", "accepted", "not_accepted", "expiring", "expired")
RISK_LEVELS = ("low", "standard", "high")
DOCUMENT_KINDS = (
    "identification_form",
    "cap_report",
    "id_card",
    "verification_report",
    "ubo_extract",
)
DOCUMENT_STATUSES = ("created", "submitted", "signed")
DOCUMENT_ORIGINS = ("amlcare", "adminpulse_import")


def format_timestamp(moment: datetime) -> str:
    """Write a moment the way AMLCare does, for the `updated_since` filter."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def _nullable_enum(values: tuple[str, ...]) -> th.JSONTypeHelper:
    return th.StringType(nullable=True, allowed_values=[*values, None])


# The address is base data this tap passes on as AMLCare gives it; its inner shape is not relied on.
_ADDRESS = th.ObjectType(additional_properties=True, nullable=True)

USER_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("email", th.StringType(nullable=True)),
    th.Property("name", th.StringType(nullable=True)),
    th.Property("active", th.BooleanType(nullable=True)),
    th.Property("created_at", th.DateTimeType(nullable=True)),
    th.Property("updated_at", th.DateTimeType, required=True),
).to_dict()

CLIENT_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("type", th.StringType(allowed_values=list(CLIENT_TYPES)), required=True),
    th.Property(
        "key",
        th.StringType(nullable=True),
        description="National register number (persons, 11 digits) or KBO number (10 digits).",
    ),
    th.Property("name", th.StringType(nullable=True)),
    th.Property("first_name", th.StringType(nullable=True)),
    th.Property("last_name", th.StringType(nullable=True)),
    th.Property(
        "enterprise_number",
        th.StringType(nullable=True),
        description="A sole proprietor's KBO number.",
    ),
    th.Property("language", th.StringType(nullable=True)),
    th.Property("email", th.StringType(nullable=True)),
    th.Property("phone", th.StringType(nullable=True)),
    th.Property("address", _ADDRESS),
    th.Property("responsible_user_id", th.StringType(nullable=True)),
    th.Property("external_ref", th.StringType(nullable=True)),
    th.Property("import_status", th.StringType(nullable=True)),
    th.Property(
        "cap",
        th.ObjectType(
            th.Property("status", _nullable_enum(CAP_STATUSES)),
            th.Property("acceptance_date", th.DateType(nullable=True)),
            th.Property("next_review_date", th.DateType(nullable=True)),
            nullable=True,
        ),
    ),
    th.Property("risk_level", _nullable_enum(RISK_LEVELS)),
    th.Property(
        "id_card",
        th.ObjectType(
            th.Property("expiry_date", th.DateType(nullable=True)),
            nullable=True,
        ),
    ),
    th.Property("created_at", th.DateTimeType(nullable=True)),
    th.Property("updated_at", th.DateTimeType, required=True),
).to_dict()

DOCUMENT_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="The document's id."),
    th.Property("client_id", th.StringType, required=True),
    th.Property("client_type", th.StringType(nullable=True, allowed_values=[*CLIENT_TYPES, None])),
    th.Property("client_key", th.StringType(nullable=True)),
    th.Property("kind", th.StringType(allowed_values=list(DOCUMENT_KINDS)), required=True),
    th.Property(
        "status",
        th.StringType(allowed_values=list(DOCUMENT_STATUSES)),
        required=True,
        description="The status the document had when this version was made.",
    ),
    th.Property("version", th.IntegerType, required=True, description="This record's version."),
    th.Property("file_name", th.StringType(nullable=True), description="This version's name."),
    th.Property("content_type", th.StringType(nullable=True)),
    th.Property("size", th.IntegerType(nullable=True), description="This version's bytes."),
    th.Property("origin", _nullable_enum(DOCUMENT_ORIGINS)),
    th.Property("external_ref", th.StringType(nullable=True)),
    th.Property(
        "content",
        th.StringType(nullable=True),
        description=(
            "The file of this version, base64-encoded; null when include_document_content is off."
        ),
    ),
    th.Property(
        "content_skipped",
        th.StringType(nullable=True),
        description="Why the file is left out although downloads are on (it is too large).",
    ),
    th.Property(
        "version_created_at",
        th.DateTimeType,
        required=True,
        description="When this version was made.",
    ),
    th.Property("created_at", th.DateTimeType(nullable=True), description="The document's."),
    th.Property(
        "updated_at",
        th.DateTimeType,
        required=True,
        description="The document's last change (the bookmark), the same for all its versions.",
    ),
).to_dict()
