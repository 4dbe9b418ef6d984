"""Which AMLCare document versions go to AdminPulse, under which name and date."""

from __future__ import annotations

import mimetypes
import re
import typing as t
from datetime import datetime
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

# AdminPulse dates are Belgian local dates; AMLCare timestamps are UTC.
ADMINPULSE_ZONE = ZoneInfo("Europe/Brussels")
# Forms that only mean something once submitted: their "created" versions stay in AMLCare.
SIGNABLE_KINDS = ("identification_form", "cap_report")
# Identity cards that came from AdminPulse through the import must not flow back.
IMPORTED_CARD_KIND = "id_card"
IMPORTED_ORIGIN = "adminpulse_import"
_EXTENSION = re.compile(r"^\.[a-z0-9]{1,8}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def skip_reason(document: dict[str, t.Any]) -> str | None:
    """Why a document version is not uploaded, or None when it is."""
    if document["kind"] == IMPORTED_CARD_KIND and document.get("origin") == IMPORTED_ORIGIN:
        return "ID card that came from AdminPulse through the import"
    if document["kind"] in SIGNABLE_KINDS and document["status"] == "created":
        return f"{document['kind']} not submitted yet"
    return None


def file_name(document: dict[str, t.Any]) -> str:
    """The name a version is uploaded under, the same every time the version is seen.

    Built only from what identifies the version in AMLCare (id, kind, version, signed or not),
    so a search for it finds an earlier upload of the same version and nothing else.
    """
    signed = "signed" if document["status"] == "signed" else "unsigned"
    document_id = _UNSAFE.sub("-", str(document["id"]))
    version = f"v{document['version']}"
    return f"amlcare_{document_id}_{document['kind']}_{version}_{signed}{_extension(document)}"


def document_date(document: dict[str, t.Any]) -> str:
    """The version's moment in AMLCare, as a Belgian local date (`2026-11-30`).

    A version made before the document's last change (the submitted form of a document signed
    since) keeps its own date; a record that does not say when its version was made falls back
    on the document's `updated_at`, the moment of its current version.
    """
    written = document.get("version_created_at") or document["updated_at"]
    moment = datetime.fromisoformat(str(written).replace("Z", "+00:00"))
    return moment.astimezone(ADMINPULSE_ZONE).date().isoformat()


def _extension(document: dict[str, t.Any]) -> str:
    suffix = PurePosixPath(str(document.get("file_name") or "")).suffix.lower()
    if _EXTENSION.match(suffix):
        return suffix
    guessed = mimetypes.guess_extension(str(document.get("content_type") or ""))
    return guessed or ".bin"
