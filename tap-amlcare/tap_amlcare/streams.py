"""The three AMLCare lists this tap reads, each incremental on `updated_at`."""

from __future__ import annotations

import base64
import typing as t

from tap_amlcare import amlcare_api
from tap_amlcare.client import AMLCareStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class UsersStream(AMLCareStream):
    """AMLCare's internal users (the responsibles of clients)."""

    name = "users"
    path = amlcare_api.USERS_PATH
    primary_keys = ("id",)
    replication_key = amlcare_api.REPLICATION_KEY
    schema = amlcare_api.USER_SCHEMA


class ClientsStream(AMLCareStream):
    """Persons and companies with their compliance state: CAP, risk level, ID-card expiry."""

    name = "clients"
    path = amlcare_api.CLIENTS_PATH
    primary_keys = ("id",)
    replication_key = amlcare_api.REPLICATION_KEY
    schema = amlcare_api.CLIENT_SCHEMA


class DocumentsStream(AMLCareStream):
    """Every document version, with its file when `include_document_content` is on.

    A document's file is fetched right after its list entry; the partner API serves the current
    version, which is the one the list entry describes unless the document moved on between the
    two requests (its newer version then follows in a later record).
    """

    name = "documents"
    path = amlcare_api.DOCUMENTS_PATH
    primary_keys = ("id", "version")
    replication_key = amlcare_api.REPLICATION_KEY
    schema = amlcare_api.DOCUMENT_SCHEMA

    def post_process(
        self,
        row: dict[str, t.Any],
        context: Context | None = None,  # noqa: ARG002
    ) -> dict[str, t.Any] | None:
        """Attach the file, base64-encoded, or null when downloads are switched off."""
        row["content"] = None
        if self.config.get("include_document_content", True):
            row["content"] = base64.b64encode(self.download(row["id"])).decode("ascii")
        return row

    def download(self, document_id: str) -> bytes:
        """The file of a document's current version."""
        path = amlcare_api.DOCUMENT_CONTENT_PATH.format(document_id=document_id)
        request = self.build_prepared_request(method="GET", url=self.url_base + path)
        return self.send_checked(request).content
