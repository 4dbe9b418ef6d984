"""What this target assumes about AMLCare and about the records it receives, in one place.

AMLCare publishes no API; this target speaks the partner API specified in the project's
`sandbox/amlcare-openapi.yaml`. The AdminPulse side (statuses, relation types, link types) is
partly documented and partly our reading. Meeting the real systems where they differ is a change
to this module, not to the import logic.
"""

from __future__ import annotations

import typing as t

# Partner API paths, relative to the base URL (which carries the version segment).
USERS_PATH = "/users"
CLIENTS_PATH = "/clients"
CLIENT_PATH = "/clients/{client_id}"
CLIENT_LOOKUP_PATH = "/clients/lookup"
RELATIONS_PATH = "/relations"
CLIENT_DOCUMENTS_PATH = "/clients/{client_id}/documents"

# Lists: ?limit= (at most 500) and ?cursor=; answers {"items": [...], "next_cursor": ...}.
LIST_LIMIT = 500
LOOKUP_BATCH_SIZE = 500  # keys per lookup call
ITEMS_KEY = "items"
NEXT_CURSOR_KEY = "next_cursor"

# Client types and the import's own bookkeeping on a client.
PERSON = "person"
COMPANY = "company"
IMPORT_PENDING = "pending"
IMPORT_COMPLETE = "complete"

# Documents the import brings: identity cards, marked as coming from AdminPulse so they never
# flow back, and keyed by the AdminPulse document id so a repeat upload answers 409.
ID_CARD_KIND = "id_card"
IMPORT_ORIGIN = "adminpulse_import"

# AdminPulse side. Known: statuses and relation types in the product; link types 1-8.
STATUS_CUSTOMER = "customer"
RELATION_PERSON = "person"
RELATION_COMPANY = "company"
RELATION_SOLE_PROPRIETOR = "soleProprietor"
PERSON_RELATION_TYPES = frozenset({RELATION_PERSON, RELATION_SOLE_PROPRIETOR})

# AdminPulse link type → AMLCare role, for the links that have a true counterpart. Contact (1),
# trustee (3), partner (5), shareholder (6), auditor (7) and other (8) have none: AMLCare knows
# only UBO, director and permanent representative, and AdminPulse has no permanent
# representative link. A shareholder is a UBO only above a threshold AdminPulse does not hold.
ROLE_OF_LINK_TYPE: dict[int, str] = {
    2: "ubo",  # beneficiary
    4: "director",
}


def client_payload(
    relation: dict[str, t.Any],
    *,
    client_type: str,
    key: str,
    enterprise_number: str | None,
    responsible_user_id: str | None,
) -> dict[str, t.Any]:
    """The AMLCare client the import creates for an AdminPulse relation.

    It starts `pending`: it becomes `complete` once its identity cards and relations are in.
    """
    address = relation.get("address")
    return {
        "type": client_type,
        "key": key,
        "name": relation.get("displayName") or relation.get("name") or person_name(relation),
        "first_name": relation.get("firstName") if client_type == PERSON else None,
        "last_name": relation.get("lastName") if client_type == PERSON else None,
        "enterprise_number": enterprise_number,
        "language": relation.get("language"),
        "email": relation.get("email") or None,
        "phone": relation.get("phone") or None,
        "address": (
            {
                "street": address.get("street"),
                "postal_code": address.get("postalCode"),
                "city": address.get("city"),
                "country": address.get("country"),
            }
            if address
            else None
        ),
        "responsible_user_id": responsible_user_id,
        "external_ref": relation["uniqueIdentifier"],
        "import_status": IMPORT_PENDING,
    }


def person_name(relation: dict[str, t.Any]) -> str:
    """A person's name from its parts, for relations without a display name."""
    parts = (relation.get("firstName"), relation.get("lastName"))
    return " ".join(part for part in parts if part) or relation["uniqueIdentifier"]


def error_details(body: t.Any) -> tuple[str | None, str | None, t.Any]:
    """Code, message and existing id of an AMLCare error body `{"error": {...}}`."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, None
    return error.get("code"), error.get("message"), error.get("existing_id")
