"""The streams, in the order they are synced: users, document types, relations, documents, tasks."""

from __future__ import annotations

import typing as t
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import islice

from singer_sdk.pagination import SinglePagePaginator
from typing_extensions import override

from tap_adminpulse import adminpulse_api as api
from tap_adminpulse.client import (
    AdminPulseStream,
    parse_adminpulse_datetime,
    query_date,
)
from tap_adminpulse.progress import Progress

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context, Record

    from tap_adminpulse.identifier_sets import IdentifierSet

# Progress lines on long reads: one every this many rows (and at least every 30 s).
PROGRESS_EVERY = 1000
# The key of the identity documents bookmark that names the relations bookmark whose new
# relations have all had their documents sent (see `IdentityDocumentsStream.mark_documents_sent`).
DOCUMENTS_SENT_FOR = "sent_for_relations_through"
# ... and when: it makes the last state of every run new, so it is always written last (the SDK
# does not repeat a state equal to the one before).
DOCUMENTS_SENT_AT = "sent_at"
# Why a record has no file although it could be read (a file too large to carry).
CONTENT_SKIPPED = "contentSkipped"
# Identity document files are fetched one request each: a line every this many files.
PROGRESS_EVERY_FILE = 100
# The largest file put in a record. Base64 makes it a third larger, and Meltano refuses a line
# over half its 100 MiB buffer; no identity card scan comes near this.
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


class UsersStream(AdminPulseStream):
    """The office's employees; the target matches a client's responsible on e-mail."""

    name = "users"
    path = api.USERS_PATH
    primary_keys = ("id",)
    schema = api.USER_SCHEMA


class DocumentTypesStream(AdminPulseStream):
    """Document types with their public-on-portal default, which the preflight checks."""

    name = "document_types"
    path = api.DOCUMENT_TYPES_PATH
    primary_keys = ("id",)
    schema = api.DOCUMENT_TYPE_SCHEMA
    records_jsonpath = "$[*]"  # a bare array, not a page

    def get_new_paginator(self) -> SinglePagePaginator:  # type: ignore[override]
        """One answer holds every type."""
        return SinglePagePaginator()

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """No paging parameters."""
        return {}

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        """Remember the types, so the documents stream can find eID and eID Foto by name."""
        self.tap.run_memory.document_types[int(row["id"])] = row
        return row


class RelationsStream(AdminPulseStream):
    """Relations modified since the bookmark, plus the persons emitted companies link to.

    AdminPulse filters relations on their modification day and sorts them by modification time.
    The bookmark is the latest `modifiedDate` seen; the next run asks from that day on and skips
    what is older than the bookmark itself, which it already sent. Rows of the bookmark's own
    second come again; downstream that is a no-op.

    A company's UBOs and directors are needed downstream by national register number even when
    they did not change, so after the pass the stream also emits the linked relations that were
    not part of it. Those arrive out of modification order, which is why the stream declares
    itself unsorted: the SDK then keeps the highest value and commits it only at the end.
    """

    name = "relations"
    path = api.RELATIONS_PATH
    primary_keys = ("id",)
    replication_key = api.MODIFIED
    is_sorted = False
    schema = api.RELATION_SCHEMA
    progress: Progress | None = None  # the pass under way

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost: AdminPulse times are Belgian local time, the SDK's signpost is UTC.

        Capping the bookmark at "now in UTC" would set it one or two hours back, and the next
        run would take the relations created in that gap for new ones.
        """
        return

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """The page, and the modification day to start from when there is a bookmark."""
        params = super().get_url_params(context, next_page_token)
        bookmark = self.tap.run_memory.relations_bookmark
        if bookmark is not None:
            params[api.MODIFIED_SINCE_FILTER] = query_date(bookmark)
        return params

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """The changed relations (or a task template's), then the relations they link to."""
        bookmark = self.read_bookmark(context)
        memory = self.tap.run_memory
        memory.relations_bookmark = bookmark
        saved_bookmark = self.saved_bookmark(context)
        template = self.config.get("task_template_name")
        self.logger.info(
            "Reading relations %s%s",
            f"modified since {bookmark.isoformat()}" if bookmark else "(all of them)",
            f" with a task of template {template!r}" if template else "",
        )

        # Identifiers of the relations emitted and of those they link to, on disk: at 50,000
        # relations they would be megabytes of memory.
        emitted = memory.identifier_sets.named("emitted_relations")
        linked = memory.identifier_sets.named("linked_relations")
        missing = memory.identifier_sets.named("linked_relations_unchanged")
        for identifiers in (emitted, linked, missing):
            identifiers.clear()
        self.progress = Progress(self.logger, "Relations read", every=PROGRESS_EVERY)
        for relation in self.first_pass(template):
            self.progress.advance()
            modified = relation.get(api.MODIFIED)
            if (
                template is None
                and bookmark
                and modified
                and parse_adminpulse_datetime(modified) < bookmark
            ):
                continue  # the bookmark's day comes back whole; its earlier part was sent
            yield self.remember(relation, saved_bookmark, emitted, linked)

        missing.add_missing(linked, present=emitted)
        missing_count = len(missing)
        self.logger.info(
            "Emitted %d relations; reading %d linked relations that did not change",
            len(emitted),
            missing_count,
        )
        self.progress = Progress(
            self.logger, "Linked relations read", every=PROGRESS_EVERY, total=missing_count
        )
        for relation in self.by_identifiers(iter(missing)):
            self.progress.advance()
            yield self.remember(relation, saved_bookmark, emitted, linked)
        self.logger.info(
            "Relations done: %d emitted, %d of them imported for the first time; "
            "%d AdminPulse requests so far",
            len(emitted),
            len(memory.new_relations),
            self.tap.paced_session.request_count,
        )

    def first_pass(self, template: str | None) -> Iterator[dict]:
        """The relations of a task template (all of them), or those modified since the bookmark.

        Giving a relation a task does not change the relation, so the template's relations are
        read whole each run: their count is the template's, not the office's.
        """
        if template is None:
            # The filter comes from get_url_params; get_page_bodies sets the page of each call.
            for page in self.get_page_bodies(self.path, self.get_url_params(None, None)):
                if self.progress is not None and self.progress.total is None:
                    self.progress.total = page.get(api.TOTAL_ROW_COUNT_KEY)
                yield from page[api.RESULTS_KEY]
            return
        identifiers: set[str] = set()
        for task in self.get_pages(api.TASKS_PATH, {api.TEMPLATE_NAME_FILTER: template}):
            if task.get("relationUniqueIdentifier"):
                identifiers.add(task["relationUniqueIdentifier"])
        self.logger.info("Task template %r names %d relations", template, len(identifiers))
        if self.progress is not None:
            self.progress.total = len(identifiers)
        if not identifiers:
            self.logger.warning(
                "No task of template %r: nothing to import. Check the setting task_template_name.",
                template,
            )
        yield from self.by_identifiers(iter(sorted(identifiers)))

    def by_identifiers(self, identifiers: Iterator[str]) -> Iterator[dict]:
        """Relations by uniqueIdentifier, as many per call as AdminPulse takes."""
        while chunk := list(islice(identifiers, api.MAX_IDENTIFIERS_PER_FILTER)):
            params = {api.UNIQUE_IDENTIFIER_FILTER: ",".join(chunk)}
            yield from self.get_pages(self.path, params)

    def remember(
        self,
        relation: dict,
        saved_bookmark: datetime | None,
        emitted: IdentifierSet,
        linked: IdentifierSet,
    ) -> dict:
        """Note what later steps need about an emitted relation, and pass it on."""
        key = relation[api.RELATION_KEY]
        emitted.add(key)
        linked.update(
            link[api.RELATION_KEY]
            for link in relation.get(api.LINKED_RELATIONS) or []
            if link.get(api.RELATION_KEY)
        )
        if is_first_import(relation, saved_bookmark):
            self.tap.run_memory.new_relations.add(key)
        return relation

    def read_bookmark(self, context: Context | None) -> datetime | None:
        """Where this run starts reading: the saved bookmark, else the start date, else None."""
        value = self.get_starting_replication_key_value(context)
        return parse_adminpulse_datetime(str(value)) if value else None

    def saved_bookmark(self, context: Context | None) -> datetime | None:
        """The bookmark a previous run committed (not the start date)."""
        value = self.get_context_state(context).get("replication_key_value")
        return parse_adminpulse_datetime(str(value)) if value else None


def is_first_import(relation: dict, saved_bookmark: datetime | None) -> bool:
    """Whether the relation reaches the target for the first time.

    Without a committed bookmark (first run, or `--full-refresh`) every relation counts as new.
    Otherwise a relation created after the bookmark cannot have been emitted before: the
    previous run saw nothing modified (so nothing created) after it.
    """
    if saved_bookmark is None:
        return True
    created = relation.get(api.CREATED)
    return created is None or parse_adminpulse_datetime(created) > saved_bookmark


class IdentityDocumentsStream(AdminPulseStream):
    """eID and eID Foto documents of the relations imported for the first time in this run.

    One record per document: its metadata always (the preflight counts the ones that are not
    public on portal), its file only when it is public on portal and downloads are enabled.
    Relations imported before never get their documents read again.
    """

    name = "identity_documents"
    path = api.DOCUMENTS_PATH
    primary_keys = ("id",)
    schema = api.IDENTITY_DOCUMENT_SCHEMA
    # Documents whose files are fetched together before they are emitted: enough to keep every
    # download thread busy, few enough to hold in memory.
    download_batch = 100

    def with_content(self, record: dict[str, t.Any], download: bool) -> dict[str, t.Any]:
        """The record with its file, when it is public on portal and downloads are on."""
        record["content"] = record["contentType"] = record[CONTENT_SKIPPED] = None
        listed_size = int(record.get(api.DOCUMENT_SIZE) or 0)
        if listed_size > MAX_DOCUMENT_BYTES:
            record[CONTENT_SKIPPED] = self.too_large(record, listed_size)
        elif download and record.get(api.DOCUMENT_PUBLIC):
            content, content_type = self.get_content(record["id"])
            size = len(content) * 3 // 4
            if size > MAX_DOCUMENT_BYTES:  # larger than AdminPulse listed it
                record[CONTENT_SKIPPED] = self.too_large(record, size)
            else:
                record["content"], record["contentType"] = content, content_type
        return record

    def too_large(self, record: dict[str, t.Any], size: int) -> str:
        """Say (and log) why a file stays out of its record: it is larger than a record takes."""
        megabytes, limit = size / 1024 / 1024, MAX_DOCUMENT_BYTES // 1024 // 1024
        self.logger.warning(
            "Identity document %s is %.1f MB, more than the %d MB a record carries: sent "
            "without its file",
            record["id"],
            megabytes,
            limit,
        )
        return f"the file is {megabytes:.1f} MB, more than the {limit} MB the import carries"

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """List each identity type's documents since the bookmark day; keep the new relations'."""
        memory = self.tap.run_memory
        if not memory.new_relations:
            self.logger.info("No relation imported for the first time: no identity document read")
            self.mark_documents_sent()
            return

        download = bool(self.config.get("include_document_content", True))
        listed = downloaded = 0
        files = Progress(self.logger, "Identity document files", every=PROGRESS_EVERY_FILE)
        # Files download concurrently, so that the budget sets the pace and latency does not;
        # records still leave in listing order.
        concurrency = self.tap.paced_session.concurrency
        with ThreadPoolExecutor(concurrency, thread_name_prefix="adminpulse-download") as pool:
            for type_id, type_name in self.identity_document_types():
                params: dict[str, t.Any] = {api.DOCUMENT_TYPE_FILTER: type_id}
                if memory.relations_bookmark is not None:
                    # A relation's documents are never older than the relation itself.
                    params[api.MODIFIED_SINCE_FILTER] = query_date(memory.relations_bookmark)
                documents = (
                    {**document, "documentTypeName": type_name}
                    for document in self.get_pages(self.path, params)
                    if document.get(api.DOCUMENT_RELATION) in memory.new_relations
                )
                while batch := list(islice(documents, self.download_batch)):
                    listed += len(batch)
                    for record in pool.map(lambda row: self.with_content(row, download), batch):
                        if record["content"] is not None:
                            downloaded += 1
                            files.advance()
                        yield record
        self.logger.info(
            "Identity documents: %d of new relations listed, %d files downloaded; "
            "%d AdminPulse requests so far",
            listed,
            downloaded,
            self.tap.paced_session.request_count,
        )
        self.mark_documents_sent()

    def mark_documents_sent(self) -> None:
        """Write into this stream's bookmark that every new relation's documents are now sent.

        The value is the relations bookmark this run commits. A consumer that must have all of a
        new relation's documents before it acts (target-amlcare completes a client only after its
        cards) compares the two in the last state it received: equal means the tap got to the
        end; a tap that died half-way leaves the previous run's value here.
        """
        relations = self.tap_state.get("bookmarks", {}).get(RelationsStream.name, {})
        self.stream_state[DOCUMENTS_SENT_FOR] = relations.get("replication_key_value")
        self.stream_state[DOCUMENTS_SENT_AT] = datetime.now(UTC).isoformat()

    def identity_document_types(self) -> list[tuple[int, str]]:
        """The ids of the eID and eID Foto types, found by name."""
        types = self.tap.run_memory.document_types
        if not types:  # the document_types stream was not selected
            types = {int(row["id"]): row for row in self.get_json(api.DOCUMENT_TYPES_PATH)}
        found = [
            (type_id, row[api.DOCUMENT_TYPE_NAME])
            for type_id, row in sorted(types.items())
            if row.get(api.DOCUMENT_TYPE_NAME) in api.IDENTITY_DOCUMENT_TYPE_NAMES
        ]
        missing = set(api.IDENTITY_DOCUMENT_TYPE_NAMES) - {name for _, name in found}
        if missing:
            self.logger.warning(
                "AdminPulse has no document type named %s: its identity cards cannot be read",
                " or ".join(sorted(missing)),
            )
        return found


class TasksStream(AdminPulseStream):
    """The office's tasks, each with its template and the relation it is for.

    Not selected by default: the import does not need it (with `task_template_name` the relations
    stream reads that template's tasks itself), and every stream read costs requests from the
    budget the office's token shares with the outbound sync. AdminPulse has no modified-since
    filter on tasks, so each run reads them all.
    """

    name = "tasks"
    path = api.TASKS_PATH
    primary_keys = ("id",)
    schema = api.TASK_SCHEMA
    selected_by_default = False
