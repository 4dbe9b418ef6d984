"""What this tap assumes about the AdminPulse API, in one place.

AdminPulse publishes part of its API. What is public (Bearer tokens, paging with `page` and
`pageSize` up to 400, `ddMMyyyy` query dates, 480 calls a minute, the relation fields `id`,
`uniqueIdentifier`, `tos`, ...) is marked *known* below; the rest is our best reading, marked
*assumed*. Meeting the real API where it differs is a change to this module (and the sandbox),
not to the streams.
"""

from __future__ import annotations

from singer_sdk import typing as th

# Known: at most 400 rows a page, 480 calls a minute per token.
MAX_PAGE_SIZE = 400
RATE_LIMIT_PER_MINUTE = 480

# Known: paged lists answer {"results", "currentPage" (from 0), "pageCount", "totalRowCount", ...}.
PAGE_PARAM = "page"
PAGE_SIZE_PARAM = "pageSize"
RESULTS_KEY = "results"
CURRENT_PAGE_KEY = "currentPage"
PAGE_COUNT_KEY = "pageCount"
TOTAL_ROW_COUNT_KEY = "totalRowCount"

# Known: dates in query strings are written ddMMyyyy.
QUERY_DATE_FORMAT = "%d%m%Y"
# Known: dates in bodies are ISO-8601 without an offset; assumed: Belgian local time.
BODY_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

# Paths. Known: /relations, /users, /tasks. Assumed: /documenttypes, /documents, the content
# route and the OAuth token route.
USERS_PATH = "/users"
DOCUMENT_TYPES_PATH = "/documenttypes"
RELATIONS_PATH = "/relations"
TASKS_PATH = "/tasks"
DOCUMENTS_PATH = "/documents"
DOCUMENT_CONTENT_PATH = "/documents/{document_id}/content"
OAUTH_TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret

# Filters. Known: `templateName` on tasks. Assumed: `lastSyncTime` (modified on or after a day)
# on relations and documents, `uniqueIdentifier` (comma-separated) on relations, `documentType`
# on documents.
MODIFIED_SINCE_FILTER = "lastSyncTime"
UNIQUE_IDENTIFIER_FILTER = "uniqueIdentifier"
MAX_IDENTIFIERS_PER_FILTER = 100  # assumed, like the sandbox: longer lists answer 400
TEMPLATE_NAME_FILTER = "templateName"
DOCUMENT_TYPE_FILTER = "documentType"

# Assumed error body: {"message": "...", "code": "missing_scope" | "unauthorized" | ...}.
ERROR_CODE_KEY = "code"
ERROR_MESSAGE_KEY = "message"
MISSING_SCOPE_CODE = "missing_scope"

# Assumed: the scope each read needs, to name it when AdminPulse answers 401.
SCOPE_BY_PATH = {
    USERS_PATH: "users:read",
    DOCUMENT_TYPES_PATH: "documents:read",
    RELATIONS_PATH: "relations:read",
    TASKS_PATH: "tasks:read",
    DOCUMENTS_PATH: "documents:read",
}

# Known: identity cards are documents of these two types.
IDENTITY_DOCUMENT_TYPE_NAMES = ("eID", "eID Foto")

# Field names the streams act on. Known: id, uniqueIdentifier, tos, and on tasks templateName
# and relationUniqueIdentifier (the filters of GET /tasks). Assumed: the rest.
RELATION_KEY = "uniqueIdentifier"
RELATION_TYPE = "type"
LINKED_RELATIONS = "tos"
CREATED = "createdDate"
MODIFIED = "modifiedDate"
DOCUMENT_RELATION = "relationIdentifier"
DOCUMENT_TYPE = "documentType"
DOCUMENT_PUBLIC = "publicOnPortal"
DOCUMENT_SIZE = "size"
DOCUMENT_TYPE_NAME = "name"

# Record schemas: what AdminPulse answers (assumed field names, see DOMAIN.md).
# Timestamps are declared as strings, not `date-time`: JSON Schema's date-time needs an offset,
# and AdminPulse sends none. They are passed on exactly as AdminPulse wrote them.
LOCAL_TIME = "ISO-8601 timestamp in Belgian local time, without an offset, as AdminPulse sends it"
USER_SCHEMA = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("firstName", th.StringType),
    th.Property("lastName", th.StringType),
    th.Property("email", th.StringType),
    th.Property("active", th.BooleanType),
).to_dict()

DOCUMENT_TYPE_SCHEMA = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("publicOnPortalDefault", th.BooleanType),
).to_dict()

ADDRESS_TYPE = th.ObjectType(
    th.Property("street", th.StringType),
    th.Property("postalCode", th.StringType),
    th.Property("city", th.StringType),
    th.Property("country", th.StringType),
)

RELATION_SCHEMA = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("uniqueIdentifier", th.StringType, required=True),
    th.Property("code", th.StringType),
    th.Property("name", th.StringType),
    th.Property("displayName", th.StringType),
    th.Property("type", th.StringType, description="person | company | soleProprietor"),
    th.Property("status", th.StringType, description="customer | prospect | ownCompany | other"),
    th.Property("legalForm", th.StringType),
    th.Property("companyId", th.IntegerType),
    th.Property("relationGroupName", th.StringType),
    th.Property("vatNumber", th.StringType, description="KBO number as typed by the office"),
    th.Property("nationalRegisterNumber", th.StringType, description="As typed by the office"),
    th.Property("firstName", th.StringType),
    th.Property("lastName", th.StringType),
    th.Property("language", th.StringType),
    th.Property("email", th.StringType),
    th.Property("phone", th.StringType),
    th.Property("address", ADDRESS_TYPE),
    th.Property(
        "responsibles",
        th.ArrayType(
            th.ObjectType(
                th.Property("userId", th.IntegerType),
                th.Property("profile", th.StringType),
            )
        ),
    ),
    th.Property(
        "tos",
        th.ArrayType(
            th.ObjectType(
                th.Property("linkType", th.IntegerType),
                th.Property("uniqueIdentifier", th.StringType),
            )
        ),
        description="Relations linked to this one, with the link type (2 = beneficiary, ...)",
    ),
    th.Property("endDate", th.DateType),
    th.Property("createdDate", th.StringType, description=LOCAL_TIME),
    th.Property("modifiedDate", th.StringType, description=LOCAL_TIME),
    th.Property(
        "aml",
        th.ObjectType(
            th.Property("totalRisk", th.StringType),
            th.Property("clientAcceptanceDate", th.DateType),
            th.Property("nextReviewDate", th.DateType),
        ),
    ),
    th.Property("idCardExpiryDate", th.DateType),
).to_dict()

TASK_SCHEMA = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("templateName", th.StringType, description="The task template it was made from"),
    th.Property(
        "relationUniqueIdentifier",
        th.StringType,
        description="uniqueIdentifier of the relation the task is for; null for office tasks",
    ),
    th.Property("dueDate", th.DateType),
).to_dict()

IDENTITY_DOCUMENT_SCHEMA = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("relationIdentifier", th.StringType, required=True),
    th.Property("documentType", th.IntegerType),
    th.Property("documentTypeName", th.StringType, description="eID or eID Foto"),
    th.Property("fileName", th.StringType),
    th.Property("documentDate", th.DateType),
    th.Property("publicOnPortal", th.BooleanType),
    th.Property("size", th.IntegerType),
    th.Property("createdDate", th.StringType, description=LOCAL_TIME),
    th.Property("modifiedDate", th.StringType, description=LOCAL_TIME),
    th.Property(
        "contentType",
        th.StringType,
        description="Media type of the file, when its content was downloaded",
    ),
    th.Property(
        "content",
        th.StringType,
        description="The file, base64; null when not public on portal or not downloaded",
    ),
    th.Property(
        "contentSkipped",
        th.StringType,
        description="Why the file is left out although it could be read (it is too large)",
    ),
).to_dict()
