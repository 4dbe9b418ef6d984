"""The world: everything both services hold, as one JSON document.

A world is what `load` takes and `dump` gives back. Its format is described in the sandbox
README; this module holds the names and defaults that the storage, the services, the generator
and the tests all share.
"""

from __future__ import annotations

import copy
from typing import Any

WORLD_FORMAT = "amlsync-world/1"

# The credentials of the minimal world; meltano.yml's sandbox environment uses the same two.
DEFAULT_ADMINPULSE_TOKEN = "sandbox-adminpulse-token"  # noqa: S105 - a public sandbox value
DEFAULT_AMLCARE_KEY = "sandbox-amlcare-key"

# Every scope an AdminPulse token can carry in the sandbox (API.md, AdminPulse).
ADMINPULSE_SCOPES = (
    "relations:read",
    "relations:write",
    "users:read",
    "documents:read",
    "documents:write",
    "tasks:read",
)

# The document types every office has: the two identity-card types the import reads, and the
# types the outbound sync uploads AMLCare's documents into. Only the identity-card types are
# public on the portal by default, which is what an office that followed the setup guide has.
DOCUMENT_TYPES = (
    (1, "eID", True),
    (2, "eID Foto", True),
    (3, "AML identificatieformulier", False),
    (4, "AML cliëntacceptatie", False),
    (5, "AML verificatierapport", False),
    (6, "UBO-register uittreksel", False),
    (7, "Identiteitskaart kopie", False),
    (8, "Overige", False),
)

ADMINPULSE_RESOURCES = (
    "tokens",
    "oauthClients",
    "users",
    "companies",
    "documentTypes",
    "relations",
    "tasks",
    "emails",
    "documents",
)
AMLCARE_RESOURCES = ("apiKeys", "users", "clients", "relations", "documents")
SERVICES = ("adminpulse", "amlcare")

_BASE_WORLD: dict[str, Any] = {
    "format": WORLD_FORMAT,
    "meta": {"origin": "base"},
    "adminpulse": {
        "tokens": [
            {
                "token": DEFAULT_ADMINPULSE_TOKEN,
                "scopes": list(ADMINPULSE_SCOPES),
                "expiresAt": None,
            }
        ],
        "oauthClients": [],
        "users": [],
        "companies": [],
        "documentTypes": [
            {"id": type_id, "name": name, "publicOnPortalDefault": public}
            for type_id, name, public in DOCUMENT_TYPES
        ],
        "relations": [],
        "tasks": [],
        "emails": [],
        "documents": [],
    },
    "amlcare": {
        "apiKeys": [{"key": DEFAULT_AMLCARE_KEY}],
        "users": [],
        "clients": [],
        "relations": [],
        "documents": [],
    },
}


def next_version_file(previous: bytes, version: int, status: str, at: str) -> bytes:
    """The file of a document's new version, as the sandbox makes it.

    A marker line appended to the previous file, so every version differs in content and size
    and says which one it is; the generator and the AMLCare service both make versions this way.
    """
    return previous + f"\n% amlcare-sandbox: version {version}, {status} at {at}\n".encode()


def base_world() -> dict[str, Any]:
    """Return the minimal world: default credentials and document types, no clients.

    Each call returns a fresh copy, so callers may fill it in place.
    """
    return copy.deepcopy(_BASE_WORLD)
