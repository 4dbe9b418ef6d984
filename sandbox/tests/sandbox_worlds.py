"""Small hand-built worlds for the sandbox's own tests (the generator makes realistic ones)."""

from __future__ import annotations

import base64
from typing import Any

from amlsync_sandbox.world import base_world
from faker import Faker
from stdnum.be import vat

faker = Faker("nl_BE")
Faker.seed(20261203)


def relation(relation_id: int, **fields: Any) -> dict[str, Any]:
    """An AdminPulse relation in the API's full shape; `fields` override the defaults."""
    record: dict[str, Any] = {
        "id": relation_id,
        "uniqueIdentifier": f"00000000-0000-4000-8000-{relation_id:012d}",
        "code": f"C{relation_id:05d}",
        "name": f"Relation {relation_id}",
        "displayName": f"Relation {relation_id}",
        "type": "company",
        "status": "customer",
        "legalForm": "BV",
        "companyId": 1,
        "relationGroupName": "Klanten",
        "vatNumber": None,
        "nationalRegisterNumber": None,
        "firstName": None,
        "lastName": None,
        "language": "nl",
        "email": None,
        "phone": None,
        "address": None,
        "responsibles": [],
        "tos": [],
        "endDate": None,
        "createdDate": "2025-01-01T09:00:00",
        "modifiedDate": "2026-01-01T09:00:00",
        "aml": {"totalRisk": None, "clientAcceptanceDate": None, "nextReviewDate": None},
        "idCardExpiryDate": None,
    }
    record.update(fields)
    return record


def document(document_id: int, relation_uid: str, content: bytes, **fields: Any) -> dict[str, Any]:
    """An AdminPulse document with its file, as a world holds it."""
    record: dict[str, Any] = {
        "id": document_id,
        "relationIdentifier": relation_uid,
        "documentType": 1,
        "fileName": f"eid-{document_id}.jpg",
        "documentDate": "2026-01-01",
        "publicOnPortal": True,
        "size": len(content),
        "createdDate": "2026-01-01T09:00:00",
        "modifiedDate": "2026-01-01T09:00:00",
        "content": base64.b64encode(content).decode("ascii"),
    }
    record.update(fields)
    return record


def adminpulse_world(relations: list[dict[str, Any]], **resources: list[Any]) -> dict[str, Any]:
    """The base world with these AdminPulse relations and other resources."""
    world = base_world()
    world["adminpulse"]["relations"] = relations
    world["adminpulse"].update(resources)
    return world


def unique_nrns(count: int) -> list[str]:
    """Distinct valid national register numbers (Faker's Belgian ones, checked by stdnum)."""
    found: dict[str, None] = {}
    while len(found) < count:
        found[faker.unique.ssn()] = None
    return list(found)


def unique_kbos(count: int) -> list[str]:
    """Distinct valid KBO numbers, digits only."""
    found: dict[str, None] = {}
    while len(found) < count:
        found[vat.compact(faker.unique.vat_id())] = None
    return list(found)


def amlcare_client(client_id: str, key: str, updated_at: str, **fields: Any) -> dict[str, Any]:
    """An AMLCare client in the API's full shape; a 10-digit key makes a company."""
    is_person = len(key) == 11
    record: dict[str, Any] = {
        "id": client_id,
        "type": "person" if is_person else "company",
        "key": key,
        "name": f"Client {client_id}",
        "first_name": None,
        "last_name": None,
        "enterprise_number": None,
        "language": "nl",
        "email": None,
        "phone": None,
        "address": None,
        "responsible_user_id": None,
        "external_ref": None,
        "import_status": None,
        "cap": {"status": "not_started", "acceptance_date": None, "next_review_date": None},
        "risk_level": None,
        "id_card": {"expiry_date": None} if is_person else None,
        "created_at": updated_at,
        "updated_at": updated_at,
    }
    record.update(fields)
    return record


def amlcare_user(user_id: str, email: str) -> dict[str, Any]:
    """An AMLCare internal user."""
    moment = "2025-01-01T08:00:00.000000Z"
    return {
        "id": user_id,
        "email": email,
        "name": email.split("@")[0],
        "active": True,
        "created_at": moment,
        "updated_at": moment,
    }


def amlcare_world(clients: list[dict[str, Any]], **resources: list[Any]) -> dict[str, Any]:
    """The base world with these AMLCare clients and other resources."""
    world = base_world()
    world["amlcare"]["clients"] = clients
    world["amlcare"].update(resources)
    return world
