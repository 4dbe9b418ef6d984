"""What this target assumes about the AdminPulse API, kept in one place.

Conventions marked known in the project's domain notes (bearer tokens, paging, the upload
endpoint and its fields, rate limits) sit beside our readings of what is not documented (the
filters, the relation's AML fields, the document listing); meeting the real API is a change to
this module and to the sandbox, not to the sinks.
"""

from __future__ import annotations

import typing as t

# Known: 480 calls a minute per token, of which at most 50 may be document uploads.
CALLS_PER_MINUTE_LIMIT = 480
UPLOADS_PER_MINUTE_LIMIT = 50

# Known: lists take `page` (from 0) and `pageSize` (at most 400) and answer `results`.
PARAM_PAGE = "page"
PARAM_PAGE_SIZE = "pageSize"
MAX_PAGE_SIZE = 400
RESULTS_KEY = "results"
PAGE_COUNT_KEY = "pageCount"

RELATIONS_PATH = "/relations"
RELATION_PATH = "/relations/{relation_id}"
DOCUMENT_TYPES_PATH = "/documenttypes"
DOCUMENTS_PATH = "/documents"
UPLOAD_PATH = "/documents/add"

# Assumed: both filters match on the digits, whatever separators the office typed.
FILTER_KBO = "vatNumber"
FILTER_NRN = "nationalRegisterNumber"
# Assumed: documents are filterable by relation and by exact file name.
FILTER_DOCUMENT_RELATION = "relationIdentifier"
FILTER_DOCUMENT_FILE_NAME = "fileName"

# Known: the upload is multipart with these fields and a file part.
UPLOAD_FIELD_RELATION = "relationIdentifier"
UPLOAD_FIELD_TYPE = "documentType"
UPLOAD_FIELD_FILE_NAME = "fileName"
UPLOAD_FIELD_DATE = "documentDate"
UPLOAD_FILE_PART = "file"

# Assumed: a relation's AML section and the ID-card expiry date, as written and read.
AML_FIELD = "aml"
AML_RISK = "totalRisk"
AML_ACCEPTANCE_DATE = "clientAcceptanceDate"
AML_NEXT_REVIEW_DATE = "nextReviewDate"
ID_CARD_EXPIRY_FIELD = "idCardExpiryDate"
RISK_LEVELS = ("low", "normal", "high")
# Known: only persons and sole proprietors carry a national register number and an ID card.
PERSON_RELATION_TYPES = ("person", "soleProprietor")


class ComplianceValues(t.NamedTuple):
    """The four values the outbound sync owns on a relation; None means "AMLCare has none"."""

    risk: str | None
    acceptance_date: str | None
    next_review_date: str | None
    id_card_expiry_date: str | None


def compliance_values(relation: dict[str, t.Any]) -> ComplianceValues:
    """Read the values the sync owns from a relation as AdminPulse answers it."""
    aml = relation.get(AML_FIELD) or {}
    return ComplianceValues(
        risk=aml.get(AML_RISK),
        acceptance_date=_date_part(aml.get(AML_ACCEPTANCE_DATE)),
        next_review_date=_date_part(aml.get(AML_NEXT_REVIEW_DATE)),
        id_card_expiry_date=_date_part(relation.get(ID_CARD_EXPIRY_FIELD)),
    )


def relation_update(current: ComplianceValues, wanted: ComplianceValues) -> dict[str, t.Any] | None:
    """The body of a relation update that brings `current` to `wanted`, or None if nothing to do.

    Only differing values are sent. A value AMLCare does not hold is never sent: AdminPulse
    ignores empty fields, so sending it could not clear anything and would only cost a write.
    """
    aml: dict[str, str] = {}
    for name, have, want in (
        (AML_RISK, current.risk, wanted.risk),
        (AML_ACCEPTANCE_DATE, current.acceptance_date, wanted.acceptance_date),
        (AML_NEXT_REVIEW_DATE, current.next_review_date, wanted.next_review_date),
    ):
        if want is not None and want != have:
            aml[name] = want
    body: dict[str, t.Any] = {}
    if aml:
        body[AML_FIELD] = aml
    wanted_expiry = wanted.id_card_expiry_date
    if wanted_expiry is not None and wanted_expiry != current.id_card_expiry_date:
        body[ID_CARD_EXPIRY_FIELD] = wanted_expiry
    return body or None


def _date_part(value: str | None) -> str | None:
    """AdminPulse may answer a date with a time part; the sync compares plain dates."""
    return value[:10] if value else None
