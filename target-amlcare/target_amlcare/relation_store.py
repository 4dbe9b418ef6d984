"""What one run keeps per relation, per client and per problem: on disk, so memory stays flat.

The import needs every relation before it can plan (a company's UBOs may arrive after it), then,
per client, its plan, its key, its AMLCare id and what became of it; the report lists every
problem and the rejects file every rejected record. An office can have tens of thousands of
each. Held as Python objects they cost hundreds of bytes to kilobytes apiece, so they wait in one
private temporary SQLite database instead, written as they arrive and read back a batch at a
time. SQLite's own page cache bounds what stays in memory: beyond it, the database lives in a
file in the temporary folder that has no name (so nobody else can open it) and is gone when the
run ends, even a run that is killed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import typing as t
from collections.abc import Callable, Iterator

# Entries read back per query while iterating: enough to keep SQLite busy, few in memory.
READ_BATCH = 500
# SQLite's page cache, in KiB (a negative cache_size is KiB): a few MB whatever the office size.
CACHE_KIB = 4096
# The name under which SQLite opens a private temporary database, deleted when it is closed.
PRIVATE_TEMPORARY_DATABASE = ""

# Every dictionary and list of a run lives in one of these two tables, named by its `name`
# column; the position (SQLite's rowid) keeps the order in which entries arrived. A key column
# without a declared type keeps each key's own type, so 7 and "7" stay different keys.
SCHEMA = """
CREATE TABLE dict_entries (
    position INTEGER PRIMARY KEY, name TEXT NOT NULL, key NOT NULL, value TEXT NOT NULL,
    UNIQUE (name, key)
);
CREATE INDEX dict_entries_in_order ON dict_entries (name, position);
CREATE TABLE list_entries (position INTEGER PRIMARY KEY, name TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX list_entries_in_order ON list_entries (name, position);
"""

V = t.TypeVar("V")
Key = str | int


def to_json(value: t.Any) -> str:
    """Compact JSON; values JSON cannot hold are kept as text, as the rejects file does."""
    return json.dumps(value, separators=(",", ":"), default=str)


class ScratchDatabase:
    """One run's private temporary SQLite database; `close` (or the end of the process) deletes it.

    Used from the import's thread and the main thread, so every statement holds one lock.
    Scratch data has nothing to recover after a crash: no journal, no fsync.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(PRIVATE_TEMPORARY_DATABASE, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self._db.executescript(SCHEMA)

    def change(self, sql: str, parameters: tuple[t.Any, ...]) -> int:
        """Run one statement that writes; the number of rows it changed."""
        with self._lock:
            return self._db.execute(sql, parameters).rowcount

    def rows(self, sql: str, parameters: tuple[t.Any, ...]) -> list[t.Any]:
        """Run one query; all its rows."""
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def close(self) -> None:
        """Delete the database."""
        with self._lock:
            self._db.close()


class _DiskCollection(t.Generic[V]):
    """What a dictionary and a list in the scratch database share: a name, and values as JSON.

    `encode` and `decode` turn a value into something JSON holds and back (by default: as it is).
    """

    def __init__(
        self,
        scratch: ScratchDatabase,
        name: str,
        *,
        encode: Callable[[V], t.Any] = lambda value: value,
        decode: Callable[[t.Any], V] = lambda value: value,
    ) -> None:
        self._scratch = scratch
        self._name = name
        self._encode = encode
        self._decode = decode
        self._count = 0

    def _stored(self, value: V) -> str:
        return to_json(self._encode(value))

    def _loaded(self, body: str) -> V:
        return self._decode(json.loads(body))

    def __len__(self) -> int:
        return self._count


class DiskDict(_DiskCollection[V]):
    """A dictionary in the scratch database: keys in arrival order, values stored as JSON.

    As with a dict, a key set again keeps its place and takes the new value.
    """

    def __setitem__(self, key: Key, value: V) -> None:
        body = self._stored(value)
        updated = self._scratch.change(
            "UPDATE dict_entries SET value = ? WHERE name = ? AND key = ?", (body, self._name, key)
        )
        if not updated:
            self._scratch.change(
                "INSERT INTO dict_entries (name, key, value) VALUES (?, ?, ?)",
                (self._name, key, body),
            )
            self._count += 1

    @t.overload
    def get(self, key: Key) -> V | None: ...

    @t.overload
    def get(self, key: Key, default: V) -> V: ...

    def get(self, key: Key, default: V | None = None) -> V | None:
        """The value, or `default` when the key is not there."""
        rows = self._rows_of(key)
        return default if not rows else self._loaded(rows[0][0])

    def __getitem__(self, key: Key) -> V:
        rows = self._rows_of(key)
        if not rows:
            raise KeyError(key)
        return self._loaded(rows[0][0])

    def _rows_of(self, key: Key) -> list[t.Any]:
        return self._scratch.rows(
            "SELECT value FROM dict_entries WHERE name = ? AND key = ?", (self._name, key)
        )

    def __contains__(self, key: object) -> bool:
        rows = self._scratch.rows(
            "SELECT 1 FROM dict_entries WHERE name = ? AND key = ?", (self._name, key)
        )
        return bool(rows)

    def setdefault(self, key: Key, value: V) -> V:
        """The value the key has, or `value` after setting it."""
        found = self.get(key)
        if found is not None or key in self:
            return t.cast("V", found)
        self[key] = value
        return value

    def pop(self, key: Key, default: V | None = None) -> V | None:
        """Remove the key; its value, or `default` when it was not there."""
        value = self.get(key)
        if value is None and key not in self:
            return default
        if self._scratch.change(
            "DELETE FROM dict_entries WHERE name = ? AND key = ?", (self._name, key)
        ):
            self._count -= 1
        return value

    def clear(self) -> None:
        """Remove every key."""
        self._scratch.change("DELETE FROM dict_entries WHERE name = ?", (self._name,))
        self._count = 0

    def items(self) -> Iterator[tuple[Key, V]]:
        """Every key with its value, in arrival order, read a batch at a time.

        Keys set while iterating come later in the same iteration, as they would in a list.
        """
        after = 0
        while True:
            rows = self._scratch.rows(
                "SELECT position, key, value FROM dict_entries WHERE name = ? AND position > ? "
                "ORDER BY position LIMIT ?",
                (self._name, after, READ_BATCH),
            )
            for after, key, value in rows:  # noqa: B007 - `after` is where the next batch starts
                yield key, self._loaded(value)
            if len(rows) < READ_BATCH:
                return

    def keys(self) -> Iterator[Key]:
        """Every key, in arrival order."""
        return (key for key, _ in self.items())

    def values(self) -> Iterator[V]:
        """Every value, in the order of its key's arrival."""
        return (value for _, value in self.items())


class DiskList(_DiskCollection[V]):
    """A list in the scratch database that only grows: appended values stored as JSON."""

    def append(self, value: V) -> None:
        """Add one value at the end."""
        self._scratch.change(
            "INSERT INTO list_entries (name, value) VALUES (?, ?)",
            (self._name, self._stored(value)),
        )
        self._count += 1

    def __iter__(self) -> Iterator[V]:
        return (value for _, value in self.entries())

    def entries(self) -> Iterator[tuple[int, V]]:
        """Every value with its position, which orders the entries of all lists of a run."""
        after = 0
        while True:
            rows = self._scratch.rows(
                "SELECT position, value FROM list_entries WHERE name = ? AND position > ? "
                "ORDER BY position LIMIT ?",
                (self._name, after, READ_BATCH),
            )
            for after, value in rows:
                yield after, self._loaded(value)
            if len(rows) < READ_BATCH:
                return


class SpooledRejects:
    """The run's rejected records (stream, record, reason), in the scratch database until the end.

    A rejected company carries its linked relations and a rejected card its file, so held in
    memory they would grow with the office's defects; the rejects file is written from here.

    A record can be rejected twice in one run: replayed from the previous rejects file, then read
    again from the tap after a run that died before its state was saved. It is kept once, with
    the last word on it (fresher input wins), in the place of that last rejection.
    """

    def __init__(self, scratch: ScratchDatabase) -> None:
        self._entries: DiskDict[dict[str, t.Any]] = DiskDict(scratch, "rejects")

    def append(self, entry: dict[str, t.Any]) -> None:
        """Keep one reject, in place of an earlier one about the same record."""
        identity = rejected_identity(entry)
        self._entries.pop(identity)
        self._entries[identity] = entry

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[dict[str, t.Any]]:
        """Each rejected record once, in the order of its last rejection."""
        return self._entries.values()


def rejected_identity(entry: dict[str, t.Any]) -> str:
    """What a rejected entry is about: its stream and its record's identifiers."""
    record = entry.get("record") or {}
    return json.dumps([entry.get("stream"), record.get("id"), record.get("uniqueIdentifier")])
