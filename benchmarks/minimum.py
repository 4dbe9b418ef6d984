"""The fewest requests each benchmarked job needs, derived from the data it runs on.

Every figure of the benchmark is compared with these numbers, so they are computed in one place
from the world (what AdminPulse and AMLCare hold before the run) and, for the writes, from what
AMLCare holds after it: a write the import had to make shows as a new record there.

What a job "needs" is read from the connectors' point of view:
- tap-adminpulse cannot know which relations AMLCare already holds, so on a first import it
  needs every public identity card of every relation (all relations are new to it);
- a list costs one request per page (at least one, to learn that it is empty);
- target-amlcare needs one lookup per 500 keys, one create per new client, one call per new
  UBO/director relation and per card, and one PATCH marking each new client complete.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from typing import Any

# AdminPulse: at most 400 rows a page. AMLCare: lists of up to 500, lookups of 500 keys.
ADMINPULSE_PAGE_SIZE = 400
AMLCARE_LIST_LIMIT = 500
AMLCARE_LOOKUP_BATCH = 500
# tap-adminpulse asks for relations by uniqueIdentifier at most this many to a request.
ADMINPULSE_IDENTIFIERS_PER_FILTER = 100
# The document types tap-adminpulse reads identity cards from.
IDENTITY_TYPE_NAMES = ("eID", "eID Foto")


def pages(rows: int, page_size: int) -> int:
    """Requests to read a list of `rows` rows: one per page, and one for an empty list."""
    return max(1, math.ceil(rows / page_size))


def identity_documents(adminpulse: dict[str, Any]) -> Counter[int]:
    """Identity documents per document type id."""
    type_ids = {
        row["id"] for row in adminpulse["documentTypes"] if row["name"] in IDENTITY_TYPE_NAMES
    }
    return Counter(
        doc["documentType"] for doc in adminpulse["documents"] if doc["documentType"] in type_ids
    )


def first_import(before: dict[str, Any], amlcare_after: dict[str, Any]) -> dict[str, Any]:
    """The first nightly import (no bookmark, cards downloaded) of the world `before`."""
    adminpulse = before["adminpulse"]
    per_type = identity_documents(adminpulse)
    type_ids = set(per_type)
    public_cards = sum(
        1
        for doc in adminpulse["documents"]
        if doc["documentType"] in type_ids and doc["publicOnPortal"]
    )
    tap = {
        "GET /users": pages(len(adminpulse["users"]), ADMINPULSE_PAGE_SIZE),
        "GET /documenttypes": 1,
        "GET /relations": pages(len(adminpulse["relations"]), ADMINPULSE_PAGE_SIZE),
        "GET /documents": sum(
            pages(per_type[type_id], ADMINPULSE_PAGE_SIZE) for type_id in type_ids
        )
        or len(IDENTITY_TYPE_NAMES),
        "GET /documents/{id}/content": public_cards,
    }

    amlcare = before["amlcare"]
    old_clients = {client["id"] for client in amlcare["clients"]}
    new_clients = [c for c in amlcare_after["clients"] if c["id"] not in old_clients]
    new_relations = len(amlcare_after["relations"]) - len(amlcare["relations"])
    new_documents = len(amlcare_after["documents"]) - len(amlcare["documents"])
    # Keys looked up: at least those of the new clients and of the old clients the import met.
    typed_keys = keys_of(adminpulse)
    matched_old = sum(
        1 for client in amlcare["clients"] if client.get("key") and client["key"] in typed_keys
    )
    target = {
        "GET /v1/users": pages(len(amlcare["users"]), AMLCARE_LIST_LIMIT),
        "POST /v1/clients/lookup": pages(len(new_clients) + matched_old, AMLCARE_LOOKUP_BATCH),
        "POST /v1/clients": len(new_clients),
        "POST /v1/relations": new_relations,
        "POST /v1/clients/{id}/documents": new_documents,
        "PATCH /v1/clients/{id}": len(new_clients),
    }
    return {"adminpulse": tap, "amlcare": target}


def keys_of(adminpulse: dict[str, Any]) -> set[str]:
    """The digits of every KBO and national register number typed in AdminPulse."""
    keys: set[str] = set()
    for relation in adminpulse["relations"]:
        for field in ("vatNumber", "nationalRegisterNumber"):
            digits = "".join(ch for ch in relation.get(field) or "" if ch.isdigit())
            if digits:
                keys.add(digits.zfill(10) if field == "vatNumber" else digits)
    return keys


def unchanged_import(before: dict[str, Any]) -> dict[str, Any]:
    """A nightly import after a complete one, with nothing changed in AdminPulse.

    The tap asks for relations modified on or after the bookmark's day (AdminPulse filters by
    day), so that day's relations come back once; nothing is new, so no card is listed. Of
    them it passes on those of the bookmark's own second, and with them the relations they
    link to (UBOs, directors), which the target needs by number: those not among them are
    asked for by uniqueIdentifier.
    """
    adminpulse = before["adminpulse"]
    relations = adminpulse["relations"]
    modified = [datetime.fromisoformat(r["modifiedDate"]) for r in relations]
    latest = max(modified, default=None)
    last_day = latest.date() if latest else None
    same_day = sum(1 for moment in modified if moment.date() == last_day)
    passed_on = {
        relation["uniqueIdentifier"]
        for relation, moment in zip(relations, modified, strict=True)
        if moment == latest
    }
    linked = {
        link["uniqueIdentifier"]
        for relation in relations
        if relation["uniqueIdentifier"] in passed_on
        for link in relation.get("tos") or []
        if link.get("uniqueIdentifier")
    }
    tap = {
        "GET /users": pages(len(adminpulse["users"]), ADMINPULSE_PAGE_SIZE),
        "GET /documenttypes": 1,
        "GET /relations": pages(same_day, ADMINPULSE_PAGE_SIZE)
        + math.ceil(len(linked - passed_on) / ADMINPULSE_IDENTIFIERS_PER_FILTER),
    }
    target = {
        "GET /v1/users": pages(len(before["amlcare"]["users"]), AMLCARE_LIST_LIMIT),
        "POST /v1/clients/lookup": pages(same_day, AMLCARE_LOOKUP_BATCH) if same_day else 0,
    }
    return {
        "adminpulse": tap,
        "amlcare": target,
        "relation_pages": pages(len(adminpulse["relations"]), ADMINPULSE_PAGE_SIZE),
    }


def idle_outbound() -> dict[str, Any]:
    """An outbound sync with nothing changed in AMLCare: one page per list tap-amlcare follows."""
    return {
        "amlcare": {"GET /v1/users": 1, "GET /v1/clients": 1, "GET /v1/documents": 1},
        "adminpulse": {},
    }


def busy_outbound(cap_decisions: int, documents: list[dict[str, Any]]) -> dict[str, Any]:
    """An outbound sync carrying `cap_decisions` CAP decisions and the signed `documents`.

    Each decision's client matches one AdminPulse relation whose values differ, and every
    document belongs to one of those clients: one search and one update per decision. The tap
    cannot know which versions the target skips, so it needs every version's file; the target
    uploads each submitted or signed version once, after one search for its name, and reads
    the document types once to map the kinds.
    """
    versions = [version for document in documents for version in document["versions"]]
    uploaded = sum(1 for version in versions if version["status"] != "created")
    amlcare = {
        "GET /v1/users": 1,
        "GET /v1/clients": pages(cap_decisions, AMLCARE_LIST_LIMIT),
        "GET /v1/documents": pages(len(documents), AMLCARE_LIST_LIMIT),
        "GET /v1/documents/{id}/versions/{version}/content": len(versions),
    }
    adminpulse = {
        "GET /relations": cap_decisions,
        "PUT /relations/{id}": cap_decisions,
        "GET /documenttypes": 1 if uploaded else 0,
        "GET /documents": uploaded,
        "POST /documents/add": uploaded,
    }
    return {"amlcare": amlcare, "adminpulse": adminpulse}


def full_amlcare_read(amlcare: dict[str, Any], skipped_origins: list[str] | None) -> dict[str, int]:
    """tap-amlcare reading all of AMLCare: each list once, and each wanted version's file once.

    `amlcare` holds the lists as the API gives them (documents with their versions);
    `skipped_origins` None means no file is downloaded.
    """
    needed = {
        "GET /v1/users": pages(len(amlcare["users"]), AMLCARE_LIST_LIMIT),
        "GET /v1/clients": pages(len(amlcare["clients"]), AMLCARE_LIST_LIMIT),
        "GET /v1/documents": pages(len(amlcare["documents"]), AMLCARE_LIST_LIMIT),
    }
    if skipped_origins is not None:
        needed["GET /v1/documents/{id}/versions/{version}/content"] = sum(
            len(document["versions"])
            for document in amlcare["documents"]
            if document.get("origin") not in skipped_origins
        )
    return needed


def relations_extraction(before: dict[str, Any]) -> int:
    """Pages of `GET /relations` for a full read."""
    return pages(len(before["adminpulse"]["relations"]), ADMINPULSE_PAGE_SIZE)
