"""One SQLite file for both services: the world, the settings and the request counts.

Every process (the server, the CLI, the tests) opens the same file. WAL mode lets readers carry
on while a writer commits, and the busy timeout makes a second writer wait instead of failing.
Each resource is a table with indexed columns for what the services filter and sort on, plus the
record itself as JSON, kept exactly as loaded or written so that a dump gives it back unchanged.
Files sit beside their record: an AdminPulse document's in its row, each version's of an AMLCare
document in a table of versions, since AMLCare keeps every version.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlsync_sandbox import clock
from amlsync_sandbox.identifiers import nrn_match_key, vat_match_key
from amlsync_sandbox.world import (
    ADMINPULSE_RESOURCES,
    AMLCARE_RESOURCES,
    SERVICES,
    WORLD_FORMAT,
    base_world,
)

# 2: AMLCare documents keep the file of every version (am_document_versions).
SCHEMA_VERSION = 2
# A writer waits this long for another process's transaction before giving up loudly.
BUSY_TIMEOUT_SECONDS = 30

_SCHEMA = """
CREATE TABLE world_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE request_counts (
    service TEXT NOT NULL, endpoint TEXT NOT NULL, method TEXT NOT NULL, status INTEGER NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (service, endpoint, method, status)
);

CREATE TABLE ap_tokens (seq INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE ap_oauth_clients (
    seq INTEGER PRIMARY KEY, client_id TEXT NOT NULL UNIQUE, body TEXT NOT NULL
);
CREATE TABLE ap_users (seq INTEGER PRIMARY KEY, id INTEGER NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE ap_companies (seq INTEGER PRIMARY KEY, id INTEGER NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE ap_document_types (
    seq INTEGER PRIMARY KEY, id INTEGER NOT NULL UNIQUE, body TEXT NOT NULL
);
CREATE TABLE ap_relations (
    seq INTEGER PRIMARY KEY, id INTEGER NOT NULL UNIQUE, unique_identifier TEXT NOT NULL UNIQUE,
    vat_key TEXT, nrn_key TEXT, modified_date TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX ap_relations_modified ON ap_relations (modified_date, id);
CREATE INDEX ap_relations_vat ON ap_relations (vat_key);
CREATE INDEX ap_relations_nrn ON ap_relations (nrn_key);
CREATE TABLE ap_tasks (
    seq INTEGER PRIMARY KEY, id INTEGER NOT NULL UNIQUE, template_name TEXT, relation_uid TEXT,
    body TEXT NOT NULL
);
CREATE INDEX ap_tasks_template ON ap_tasks (template_name);
CREATE INDEX ap_tasks_relation ON ap_tasks (relation_uid);
CREATE TABLE ap_emails (
    seq INTEGER PRIMARY KEY, id INTEGER NOT NULL UNIQUE, modified_date TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX ap_emails_modified ON ap_emails (modified_date);
CREATE TABLE ap_documents (
    seq INTEGER PRIMARY KEY, id INTEGER NOT NULL UNIQUE, relation_identifier TEXT NOT NULL,
    document_type INTEGER NOT NULL, public_on_portal INTEGER NOT NULL, file_name TEXT NOT NULL,
    modified_date TEXT NOT NULL, body TEXT NOT NULL, content BLOB NOT NULL
);
CREATE INDEX ap_documents_relation ON ap_documents (relation_identifier);
CREATE INDEX ap_documents_modified ON ap_documents (modified_date);

CREATE TABLE am_api_keys (seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE am_users (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, updated_at TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX am_users_updated ON am_users (updated_at, id);
CREATE TABLE am_clients (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, key TEXT UNIQUE,
    updated_at TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX am_clients_updated ON am_clients (updated_at, id);
CREATE TABLE am_relations (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, company_id TEXT NOT NULL,
    person_id TEXT NOT NULL, role TEXT NOT NULL, updated_at TEXT NOT NULL, body TEXT NOT NULL,
    UNIQUE (company_id, person_id, role)
);
CREATE INDEX am_relations_updated ON am_relations (updated_at, id);
CREATE INDEX am_relations_person ON am_relations (person_id);
CREATE TABLE am_documents (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL, kind TEXT NOT NULL,
    status TEXT NOT NULL, external_ref TEXT, updated_at TEXT NOT NULL, body TEXT NOT NULL,
    UNIQUE (client_id, external_ref)
);
CREATE INDEX am_documents_updated ON am_documents (updated_at, id);
CREATE TABLE am_document_versions (
    document_id TEXT NOT NULL, version INTEGER NOT NULL, content BLOB NOT NULL,
    PRIMARY KEY (document_id, version)
);
"""


class WorldError(ValueError):
    """A world document that cannot be loaded; the message says where and what."""


Extractor = Callable[[dict[str, Any]], Any]


def _integer(field: str) -> Extractor:
    def extract(body: dict[str, Any]) -> int:
        value = body.get(field)
        if not isinstance(value, int) or isinstance(value, bool):
            raise WorldError(f'"{field}" must be an integer, not {value!r}')
        return value

    return extract


def _text(
    field: str,
    *,
    optional: bool = False,
    pattern: re.Pattern[str] | None = None,
    choices: tuple[str, ...] = (),
) -> Extractor:
    def extract(body: dict[str, Any]) -> str | None:
        value = body.get(field)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise WorldError(f'"{field}" must be a non-empty string, not {value!r}')
        if pattern is not None and not pattern.match(value):
            raise WorldError(f'"{field}" must match {pattern.pattern}, not {value!r}')
        if choices and value not in choices:
            raise WorldError(f'"{field}" must be one of {", ".join(choices)}, not {value!r}')
        return value

    return extract


def _boolean(field: str) -> Extractor:
    def extract(body: dict[str, Any]) -> bool:
        value = body.get(field)
        if not isinstance(value, bool):
            raise WorldError(f'"{field}" must be true or false, not {value!r}')
        return value

    return extract


def _match_key(field: str, normalise: Callable[[str | None], str | None]) -> Extractor:
    def extract(body: dict[str, Any]) -> str | None:
        value = body.get(field)
        if value is not None and not isinstance(value, str):
            raise WorldError(f'"{field}" must be a string or null')
        return normalise(value)

    return extract


@dataclass(frozen=True)
class VersionFiles:
    """The file of each version of a record that keeps its versions, one row per version.

    The record's own body lists its versions (number, status, name, size, time); only the bytes
    live here, so lists answer without touching them.
    """

    table: str

    def put(self, conn: sqlite3.Connection, record_id: str, version: int, content: bytes) -> None:
        """Store the file of a new version."""
        conn.execute(
            f"INSERT INTO {self.table} (document_id, version, content) VALUES (?, ?, ?)",  # noqa: S608
            (record_id, version, content),
        )

    def get(self, conn: sqlite3.Connection, record_id: str, version: int) -> bytes | None:
        """The file of one version, or None when there is no such version."""
        row = conn.execute(
            f"SELECT content FROM {self.table} WHERE document_id = ? AND version = ?",  # noqa: S608
            (record_id, version),
        ).fetchone()
        return bytes(row[0]) if row else None

    def every(self, conn: sqlite3.Connection) -> dict[tuple[str, int], bytes]:
        """Every stored file, by (record id, version)."""
        rows = conn.execute(f"SELECT document_id, version, content FROM {self.table}")  # noqa: S608
        return {(row[0], row[1]): bytes(row[2]) for row in rows}

    def clear(self, conn: sqlite3.Connection) -> None:
        """Forget every file."""
        conn.execute(f"DELETE FROM {self.table}")  # noqa: S608


@dataclass(frozen=True)
class Resource:
    """One kind of record of one service, and the table that holds it.

    The first column is the record's key. Extractors both fill the indexed columns and check
    that a loaded record has what the services rely on. A record has no file, one file in its
    row (`has_content`), or one file per version in `version_files`.
    """

    service: str
    name: str
    table: str
    columns: tuple[tuple[str, Extractor], ...]
    has_content: bool = False
    checks: tuple[Extractor, ...] = ()
    version_files: VersionFiles | None = None

    @property
    def key_column(self) -> str:
        """The column (and record field) that identifies a record."""
        return self.columns[0][0]

    def _values(self, body: dict[str, Any]) -> list[Any]:
        for check in self.checks:
            check(body)
        return [extract(body) for _, extract in self.columns]

    def row(self, body: dict[str, Any], content: bytes | None = None) -> tuple[Any, ...]:
        """The table row for a record (and its file, for documents)."""
        values = [*self._values(body), encode_json(body)]
        if self.has_content:
            values.append(content if content is not None else b"")
        return tuple(values)

    def insert_sql(self) -> str:
        """The INSERT statement for `row`."""
        names = [name for name, _ in self.columns] + ["body"]
        if self.has_content:
            names.append("content")
        marks = ", ".join("?" for _ in names)
        return f"INSERT INTO {self.table} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608

    def insert(
        self, conn: sqlite3.Connection, body: dict[str, Any], content: bytes | None = None
    ) -> None:
        """Store a new record."""
        conn.execute(self.insert_sql(), self.row(body, content))

    def replace(self, conn: sqlite3.Connection, body: dict[str, Any]) -> None:
        """Store a changed record in place (its position in a dump does not move)."""
        values = self._values(body)
        assignments = ", ".join(f"{name} = ?" for name, _ in self.columns)
        conn.execute(
            f"UPDATE {self.table} SET {assignments}, body = ? WHERE {self.key_column} = ?",  # noqa: S608
            (*values, encode_json(body), values[0]),
        )

    def set_content(self, conn: sqlite3.Connection, key: Any, content: bytes) -> None:
        """Replace a document's file."""
        conn.execute(
            f"UPDATE {self.table} SET content = ? WHERE {self.key_column} = ?",  # noqa: S608
            (content, key),
        )

    def get(self, conn: sqlite3.Connection, key: Any) -> dict[str, Any] | None:
        """One record by its key, or None."""
        row = conn.execute(
            f"SELECT body FROM {self.table} WHERE {self.key_column} = ?",  # noqa: S608
            (key,),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def get_content(self, conn: sqlite3.Connection, key: Any) -> bytes | None:
        """A document's file, or None when there is no such document."""
        row = conn.execute(
            f"SELECT content FROM {self.table} WHERE {self.key_column} = ?",  # noqa: S608
            (key,),
        ).fetchone()
        return bytes(row[0]) if row else None

    def next_integer_id(self, conn: sqlite3.Connection) -> int:
        """The id a new record gets where ids are integers: one more than the highest."""
        row = conn.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {self.table}").fetchone()  # noqa: S608
        return int(row[0])


_AP = "adminpulse"
_AM = "amlcare"
_AP_TIME = clock.ADMINPULSE_DATETIME
_AM_TIME = clock.AMLCARE_TIMESTAMP


def _scopes(body: dict[str, Any]) -> None:
    scopes = body.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        raise WorldError('"scopes" must be a list of strings')


AP_TOKENS = Resource(
    _AP,
    "tokens",
    "ap_tokens",
    (("token", _text("token")),),
    checks=(_scopes, _text("expiresAt", optional=True, pattern=_AP_TIME)),
)
AP_OAUTH_CLIENTS = Resource(
    _AP,
    "oauthClients",
    "ap_oauth_clients",
    (("client_id", _text("clientId")),),
    checks=(_scopes, _text("clientSecret"), _text("refreshToken")),
)
AP_USERS = Resource(_AP, "users", "ap_users", (("id", _integer("id")),))
AP_COMPANIES = Resource(_AP, "companies", "ap_companies", (("id", _integer("id")),))
AP_DOCUMENT_TYPES = Resource(
    _AP,
    "documentTypes",
    "ap_document_types",
    (("id", _integer("id")),),
    checks=(_text("name"), _boolean("publicOnPortalDefault")),
)
AP_RELATIONS = Resource(
    _AP,
    "relations",
    "ap_relations",
    (
        ("id", _integer("id")),
        ("unique_identifier", _text("uniqueIdentifier")),
        ("vat_key", _match_key("vatNumber", vat_match_key)),
        ("nrn_key", _match_key("nationalRegisterNumber", nrn_match_key)),
        ("modified_date", _text("modifiedDate", pattern=_AP_TIME)),
    ),
)
AP_TASKS = Resource(
    _AP,
    "tasks",
    "ap_tasks",
    (
        ("id", _integer("id")),
        ("template_name", _text("templateName", optional=True)),
        ("relation_uid", _text("relationUniqueIdentifier", optional=True)),
    ),
)
AP_EMAILS = Resource(
    _AP,
    "emails",
    "ap_emails",
    (("id", _integer("id")), ("modified_date", _text("modifiedDate", pattern=_AP_TIME))),
)
AP_DOCUMENTS = Resource(
    _AP,
    "documents",
    "ap_documents",
    (
        ("id", _integer("id")),
        ("relation_identifier", _text("relationIdentifier")),
        ("document_type", _integer("documentType")),
        ("public_on_portal", _boolean("publicOnPortal")),
        ("file_name", _text("fileName")),
        ("modified_date", _text("modifiedDate", pattern=_AP_TIME)),
    ),
    has_content=True,
)

AM_API_KEYS = Resource(_AM, "apiKeys", "am_api_keys", (("key", _text("key")),))
AM_USERS = Resource(
    _AM,
    "users",
    "am_users",
    (("id", _text("id")), ("updated_at", _text("updated_at", pattern=_AM_TIME))),
)
AM_CLIENTS = Resource(
    _AM,
    "clients",
    "am_clients",
    (
        ("id", _text("id")),
        ("type", _text("type", choices=("person", "company"))),
        ("key", _text("key", optional=True)),
        ("updated_at", _text("updated_at", pattern=_AM_TIME)),
    ),
)
AM_RELATIONS = Resource(
    _AM,
    "relations",
    "am_relations",
    (
        ("id", _text("id")),
        ("company_id", _text("company_id")),
        ("person_id", _text("person_id")),
        ("role", _text("role", choices=("ubo", "director", "permanent_representative"))),
        ("updated_at", _text("updated_at", pattern=_AM_TIME)),
    ),
)
AM_DOCUMENT_STATUSES = ("created", "submitted", "signed")
AM_DOCUMENT_FILES = VersionFiles("am_document_versions")
AM_DOCUMENTS = Resource(
    _AM,
    "documents",
    "am_documents",
    (
        ("id", _text("id")),
        ("client_id", _text("client_id")),
        ("kind", _text("kind")),
        ("status", _text("status", choices=AM_DOCUMENT_STATUSES)),
        ("external_ref", _text("external_ref", optional=True)),
        ("updated_at", _text("updated_at", pattern=_AM_TIME)),
    ),
    version_files=AM_DOCUMENT_FILES,
)

RESOURCES: tuple[Resource, ...] = (
    AP_TOKENS,
    AP_OAUTH_CLIENTS,
    AP_USERS,
    AP_COMPANIES,
    AP_DOCUMENT_TYPES,
    AP_RELATIONS,
    AP_TASKS,
    AP_EMAILS,
    AP_DOCUMENTS,
    AM_API_KEYS,
    AM_USERS,
    AM_CLIENTS,
    AM_RELATIONS,
    AM_DOCUMENTS,
)
_RESOURCE_NAMES = {_AP: ADMINPULSE_RESOURCES, _AM: AMLCARE_RESOURCES}

# Loaded records that point at nothing would make the services answer nonsense; each query
# finds the first few offenders.
_REFERENCE_CHECKS = (
    (
        "adminpulse.documents: relationIdentifier matches no relation's uniqueIdentifier",
        "SELECT id FROM ap_documents WHERE relation_identifier NOT IN "
        "(SELECT unique_identifier FROM ap_relations) LIMIT 5",
    ),
    (
        "adminpulse.documents: documentType matches no document type",
        "SELECT id FROM ap_documents WHERE document_type NOT IN "
        "(SELECT id FROM ap_document_types) LIMIT 5",
    ),
    (
        "amlcare.relations: company_id is not a company client",
        "SELECT id FROM am_relations WHERE company_id NOT IN "
        "(SELECT id FROM am_clients WHERE type = 'company') LIMIT 5",
    ),
    (
        "amlcare.relations: person_id is not a person client",
        "SELECT id FROM am_relations WHERE person_id NOT IN "
        "(SELECT id FROM am_clients WHERE type = 'person') LIMIT 5",
    ),
    (
        "amlcare.documents: client_id matches no client",
        "SELECT id FROM am_documents WHERE client_id NOT IN (SELECT id FROM am_clients) LIMIT 5",
    ),
)


def encode_json(value: Any) -> str:
    """Compact JSON, the form records are stored in."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def connect(db_path: str | Path) -> sqlite3.Connection:
    """Open the sandbox database, creating its folder and tables on first use.

    The connection is in autocommit mode; group writes with `write_transaction`.
    """
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
    conn.execute("PRAGMA synchronous = NORMAL")
    if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        _create_schema(conn)
    return conn


def _create_schema(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    with write_transaction(conn):
        # Another process may have won the race between our check and our lock.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise RuntimeError(
                f"sandbox database has schema version {version}, this sandbox "
                f"knows {SCHEMA_VERSION}: delete the file or point --db elsewhere"
            )
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run a block as one transaction that holds the write lock from its first statement.

    Taking the lock up front (BEGIN IMMEDIATE) means a read-then-write block never has to
    upgrade its lock, so two writers queue on the busy timeout instead of deadlocking.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def has_world(conn: sqlite3.Connection) -> bool:
    """Whether a world was ever loaded into this database."""
    return conn.execute("SELECT 1 FROM world_meta WHERE name = 'format'").fetchone() is not None


def ensure_world(conn: sqlite3.Connection) -> bool:
    """Load the base world into a database that has none; True if it did."""
    if has_world(conn):
        return False
    load_world(conn, base_world())
    return True


def load_world(conn: sqlite3.Connection, world: Any) -> None:
    """Replace everything both services hold with `world`, or change nothing and raise.

    Settings and request counts are not part of a world and stay as they are.

    Raises:
        WorldError: the document is not a valid world; the message says where.
    """
    _check_shape(world)
    with write_transaction(conn):
        for resource in RESOURCES:
            conn.execute(f"DELETE FROM {resource.table}")  # noqa: S608
            if resource.version_files is not None:
                resource.version_files.clear(conn)
        conn.execute("DELETE FROM world_meta")
        conn.executemany(
            "INSERT INTO world_meta (name, value) VALUES (?, ?)",
            [("format", encode_json(world["format"])), ("meta", encode_json(world["meta"]))],
        )
        for resource in RESOURCES:
            rows, files = [], []
            for index, item in enumerate(world[resource.service][resource.name]):
                row, versions = _loaded_row(resource, index, item)
                rows.append(row)
                files += [(row[0], version, content) for version, content in versions]
            try:
                conn.executemany(resource.insert_sql(), rows)
            except sqlite3.IntegrityError as error:
                where = f"{resource.service}.{resource.name}"
                raise WorldError(f"{where}: duplicate value ({error})") from error
            if resource.version_files is not None:
                for record_id, version, content in files:
                    resource.version_files.put(conn, record_id, version, content)
        for problem, query in _REFERENCE_CHECKS:
            offenders = [row[0] for row in conn.execute(query)]
            if offenders:
                raise WorldError(f"{problem} (ids {offenders})")


def _check_shape(world: Any) -> None:
    if not isinstance(world, dict):
        raise WorldError("a world is a JSON object")
    expected = {"format", "meta", *SERVICES}
    if set(world) != expected:
        raise WorldError(f"a world has exactly the keys {sorted(expected)}, not {sorted(world)}")
    if world["format"] != WORLD_FORMAT:
        raise WorldError(f'"format" must be "{WORLD_FORMAT}", not {world["format"]!r}')
    if not isinstance(world["meta"], dict):
        raise WorldError('"meta" must be an object')
    for service in SERVICES:
        half = world[service]
        names = set(_RESOURCE_NAMES[service])
        if not isinstance(half, dict) or set(half) != names:
            raise WorldError(f'"{service}" must be an object with exactly the keys {sorted(names)}')
        for name in names:
            if not isinstance(half[name], list):
                raise WorldError(f"{service}.{name} must be a list")


def _loaded_row(
    resource: Resource, index: int, item: Any
) -> tuple[tuple[Any, ...], list[tuple[int, bytes]]]:
    """The table row of a loaded record, and the files of its versions if it keeps them."""
    where = f"{resource.service}.{resource.name}[{index}]"
    if not isinstance(item, dict):
        raise WorldError(f"{where}: must be an object")
    body = dict(item)
    content = None
    versions: list[tuple[int, bytes]] = []
    try:
        if resource.has_content:
            content = _decode_content(body.pop("content", None))
            _check_size(body, content)
        if resource.version_files is not None:
            versions = _loaded_versions(body)
        return resource.row(body, content), versions
    except WorldError as error:
        raise WorldError(f"{where}: {error}") from None


def _check_size(body: dict[str, Any], content: bytes) -> None:
    if body.get("size", len(content)) != len(content):
        raise WorldError(f'"size" is {body["size"]} but "content" has {len(content)} bytes')


def _loaded_versions(body: dict[str, Any]) -> list[tuple[int, bytes]]:
    """Take the files out of a document's `versions`, checking the list; `body` is changed.

    A document written before versions were kept has a `content` of its own and no `versions`:
    it is taken as holding only its current version, made when the document was last updated.
    """
    version = _integer("version")(body)
    status = _text("status", choices=AM_DOCUMENT_STATUSES)(body)
    updated_at = _text("updated_at", pattern=_AM_TIME)(body)
    if "versions" not in body:
        content = _decode_content(body.pop("content", None))
        _check_size(body, content)
        body["versions"] = [
            {
                "version": version,
                "status": status,
                "file_name": body.get("file_name"),
                "size": len(content),
                "created_at": updated_at,
            }
        ]
        return [(version, content)]
    if "content" in body:
        raise WorldError('a document with "versions" carries each file in its version entry')

    entries = body["versions"]
    if not isinstance(entries, list) or not entries:
        raise WorldError('"versions" must be a non-empty list')
    files: list[tuple[int, bytes]] = []
    listed = []
    for position, item in enumerate(entries):
        if not isinstance(item, dict):
            raise WorldError(f"versions[{position}] must be an object")
        entry = dict(item)
        try:
            content = _decode_content(entry.pop("content", None))
            _check_size(entry, content)
            number = _integer("version")(entry)
            _text("status", choices=AM_DOCUMENT_STATUSES)(entry)
            _text("file_name")(entry)
            _text("created_at", pattern=_AM_TIME)(entry)
        except WorldError as error:
            raise WorldError(f"versions[{position}]: {error}") from None
        if files and number <= files[-1][0]:
            raise WorldError(f"versions[{position}]: versions must be listed oldest first")
        files.append((number, content))
        listed.append(entry)

    current = listed[-1]
    if (current["version"], current["status"]) != (version, status):
        raise WorldError('the last of "versions" must be the document\'s version and status')
    _check_size(body, files[-1][1])
    body["versions"] = listed
    return files


def _decode_content(value: Any) -> bytes:
    if not isinstance(value, str):
        raise WorldError('"content" must be the file as a base64 string')
    try:
        content = base64.b64decode(value, validate=True)
    except binascii.Error as error:
        raise WorldError(f'"content" is not valid base64 ({error})') from None
    if base64.b64encode(content).decode("ascii") != value:
        raise WorldError('"content" must be plain base64 with padding and no line breaks')
    return content


def dump_world(conn: sqlite3.Connection) -> dict[str, Any]:
    """Everything both services hold, as a world document."""
    meta = dict(conn.execute("SELECT name, value FROM world_meta"))
    return {
        "format": json.loads(meta.get("format", json.dumps(WORLD_FORMAT))),
        "meta": json.loads(meta.get("meta", "{}")),
        **{service: dump_service(conn, service) for service in SERVICES},
    }


def dump_service(conn: sqlite3.Connection, service: str) -> dict[str, Any]:
    """One service's half of the world, records in the order they were stored."""
    half: dict[str, Any] = {}
    for resource in RESOURCES:
        if resource.service != service:
            continue
        columns = "body, content" if resource.has_content else "body"
        files = resource.version_files.every(conn) if resource.version_files else {}
        items = []
        for row in conn.execute(f"SELECT {columns} FROM {resource.table} ORDER BY seq"):  # noqa: S608
            item = json.loads(row[0])
            if resource.has_content:
                item["content"] = _encode_content(row[1])
            if resource.version_files is not None:
                record_id = item[resource.key_column]
                for entry in item["versions"]:
                    entry["content"] = _encode_content(files[(record_id, entry["version"])])
            items.append(item)
        half[resource.name] = items
    return half


def _encode_content(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


def record_counts(conn: sqlite3.Connection, service: str) -> dict[str, int]:
    """How many records of each kind a service holds, without reading them."""
    return {
        resource.name: conn.execute(f"SELECT COUNT(*) FROM {resource.table}").fetchone()[0]  # noqa: S608
        for resource in RESOURCES
        if resource.service == service
    }


def get_setting(conn: sqlite3.Connection, name: str, default: Any = None) -> Any:
    """A setting's value, or `default` when it was never set."""
    row = conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
    return json.loads(row[0]) if row else default


def put_setting(conn: sqlite3.Connection, name: str, value: Any) -> None:
    """Set a setting (any JSON value)."""
    conn.execute(
        "INSERT INTO settings (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, encode_json(value)),
    )


def count_request(
    conn: sqlite3.Connection, service: str, endpoint: str, method: str, status: int
) -> None:
    """Add one to the count of answers with this status on this endpoint."""
    conn.execute(
        "INSERT INTO request_counts (service, endpoint, method, status, count) "
        "VALUES (?, ?, ?, ?, 1) "
        "ON CONFLICT (service, endpoint, method, status) DO UPDATE SET count = count + 1",
        (service, endpoint, method, status),
    )


def request_counts(conn: sqlite3.Connection, service: str | None = None) -> list[dict[str, Any]]:
    """Counts per service, endpoint, method and status, in a stable order."""
    query = "SELECT service, endpoint, method, status, count FROM request_counts"
    params: tuple[str, ...] = ()
    if service is not None:
        query += " WHERE service = ?"
        params = (service,)
    query += " ORDER BY service, endpoint, method, status"
    names = ("service", "endpoint", "method", "status", "count")
    return [dict(zip(names, row, strict=True)) for row in conn.execute(query, params)]


def clear_request_counts(conn: sqlite3.Connection, service: str | None = None) -> None:
    """Forget the counts of one service, or of both."""
    if service is None:
        conn.execute("DELETE FROM request_counts")
    else:
        conn.execute("DELETE FROM request_counts WHERE service = ?", (service,))
