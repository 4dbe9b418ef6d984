"""The three AMLCare lists this tap reads, each incremental on `updated_at`."""

from __future__ import annotations

import base64
import typing as t

from singer_sdk.exceptions import FatalAPIError

from tap_amlcare import amlcare_api
from tap_amlcare.client import AMLCareStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
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


# The largest file put in a record. Base64 makes it a third larger, and Meltano refuses a line
# over half its 100 MiB buffer.
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
# Why a record has no file although downloads are on (a file too large to carry).
CONTENT_SKIPPED = "content_skipped"


class DocumentsStream(AMLCareStream):
    """One record per document version, with that version's file when `include_document_content`.

    AMLCare keeps every version of a document and its file, so a form submitted and signed
    between two runs still yields its submitted (unsigned) version. Each record carries the
    document's fields with the version's own number, status, file name and size; all versions
    of a document share its `updated_at`, the bookmark, which the inclusive `updated_since`
    re-reads rather than skips. A version's file never changes, so it matches the record.
    """

    name = "documents"
    path = amlcare_api.DOCUMENTS_PATH
    primary_keys = ("id", "version")
    replication_key = amlcare_api.REPLICATION_KEY
    schema = amlcare_api.DOCUMENT_SCHEMA

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        """Each listed document as its versions, oldest first."""
        for document in super().parse_response(response):
            yield from self.versions_of(document)

    def versions_of(self, document: dict[str, t.Any]) -> list[dict[str, t.Any]]:
        """The records of a document's versions.

        Raises:
            FatalAPIError: the document lists no versions, so some would be lost unnoticed.
        """
        entries = document.pop(amlcare_api.DOCUMENT_VERSIONS_FIELD, None)
        if not entries:
            msg = (
                f"AMLCare listed document {document.get('id')} without its versions; "
                "this tap needs a partner API that lists them"
            )
            raise FatalAPIError(msg)
        records = []
        for entry in entries:
            record = dict(document)
            record.update(
                {field: entry.get(field) for field in amlcare_api.DOCUMENT_VERSION_FIELDS}
            )
            record["version_created_at"] = entry.get(amlcare_api.DOCUMENT_VERSION_CREATED_AT)
            records.append(record)
        return records

    def post_process(
        self,
        row: dict[str, t.Any],
        context: Context | None = None,  # noqa: ARG002
    ) -> dict[str, t.Any] | None:
        """Attach the version's file, base64-encoded, or null when downloads are switched off.

        A file larger than a record may carry is left out, with the reason in `content_skipped`,
        so that one huge file is one rejected record downstream and not a broken pipe; so is
        the file of a document whose origin `skip_content_origins` lists.
        """
        row["content"] = row[CONTENT_SKIPPED] = None
        if row.get("origin") in self.config.get("skip_content_origins", []):
            row[CONTENT_SKIPPED] = (
                f"documents of origin {row['origin']} come without their files "
                "(setting skip_content_origins)"
            )
        elif int(row.get("size") or 0) > MAX_DOCUMENT_BYTES:
            row[CONTENT_SKIPPED] = self.too_large(row, int(row["size"]))
        elif self.config.get("include_document_content", True):
            content = self.download(row["id"], row["version"])
            if len(content) > MAX_DOCUMENT_BYTES:  # larger than AMLCare listed it
                row[CONTENT_SKIPPED] = self.too_large(row, len(content))
            else:
                row["content"] = base64.b64encode(content).decode("ascii")
        return row

    def too_large(self, row: dict[str, t.Any], size: int) -> str:
        """Say (and log) why a version's file stays out of its record."""
        megabytes, limit = size / 1024 / 1024, MAX_DOCUMENT_BYTES // 1024 // 1024
        self.logger.warning(
            "Document %s version %s is %.1f MB, more than the %d MB a record carries: sent "
            "without its file",
            row["id"],
            row["version"],
            megabytes,
            limit,
        )
        return f"the file is {megabytes:.1f} MB, more than the {limit} MB the sync carries"

    def download(self, document_id: str, version: int) -> bytes:
        """The file of one version of a document."""
        path = amlcare_api.DOCUMENT_VERSION_CONTENT_PATH.format(
            document_id=document_id, version=version
        )
        request = self.build_prepared_request(method="GET", url=self.url_base + path)
        return self.send_checked(request).content
