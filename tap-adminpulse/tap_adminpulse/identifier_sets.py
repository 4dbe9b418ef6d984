"""Sets of relation identifiers that grow with the office, kept on disk rather than in memory.

A run remembers which relations it emitted, which relations they link to, and which ones are
imported for the first time (their identity documents are read next). At 50,000 relations those
sets of uniqueIdentifiers cost about 15 MB as Python sets; in a private temporary SQLite
database they cost at most a few MB of page cache whatever the office size. SQLite keeps such a
database in memory while it is small, moves it to a file of its own in the temporary folder when
it grows, and deletes that file when the connection closes (at the latest when the process ends).
"""

from __future__ import annotations

import sqlite3
import threading
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

# Members read back per query while iterating: enough to keep SQLite busy, few in memory.
READ_BATCH = 500
# SQLite's page cache, in KiB (a negative cache_size is KiB).
CACHE_KIB = 4096
# The name under which SQLite opens a private temporary database, deleted when it is closed.
PRIVATE_TEMPORARY_DATABASE = ""


class IdentifierSets:
    """Named sets of identifiers in one private temporary SQLite database, made when first needed.

    The download threads never touch them, but every statement holds one lock all the same, so
    no caller has to know which thread it runs in.
    """

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def named(self, name: str) -> IdentifierSet:
        """The set of this name (empty until something is added)."""
        return IdentifierSet(self, name)

    def rows(self, sql: str, parameters: tuple[t.Any, ...]) -> list[t.Any]:
        """Run one query; all its rows."""
        with self._lock:
            return self._connection().execute(sql, parameters).fetchall()

    def change(self, sql: str, parameters: tuple[t.Any, ...]) -> int:
        """Run one statement that writes; the number of rows it changed."""
        with self._lock:
            return self._connection().execute(sql, parameters).rowcount

    def change_many(self, sql: str, rows: Iterable[tuple[t.Any, ...]]) -> int:
        """Run one writing statement once per row; the number of rows changed."""
        with self._lock:
            return self._connection().executemany(sql, rows).rowcount

    def close(self) -> None:
        """Delete the database, if one was made; the sets are empty again after this."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(PRIVATE_TEMPORARY_DATABASE, check_same_thread=False)
            # Scratch data: nothing to recover after a crash, so no journal and no fsync.
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            db.execute(
                "CREATE TABLE members (name TEXT, member TEXT, PRIMARY KEY (name, member)) "
                "WITHOUT ROWID"
            )
            self._db = db
        return self._db


class IdentifierSet:
    """One set of identifiers; iterated in sorted order, a batch at a time."""

    def __init__(self, sets: IdentifierSets, name: str) -> None:
        self._sets = sets
        self._name = name

    def add(self, member: str) -> None:
        """Add one identifier (again: no change)."""
        self._sets.change(
            "INSERT OR IGNORE INTO members (name, member) VALUES (?, ?)", (self._name, member)
        )

    def update(self, members: Iterable[str]) -> None:
        """Add every identifier of `members`."""
        self._sets.change_many(
            "INSERT OR IGNORE INTO members (name, member) VALUES (?, ?)",
            ((self._name, member) for member in members),
        )

    def add_missing(self, source: IdentifierSet, present: IdentifierSet) -> None:
        """Add the identifiers of `source` that `present` does not hold."""
        self._sets.change(
            "INSERT OR IGNORE INTO members (name, member) SELECT ?, member FROM members "
            "WHERE name = ? AND member NOT IN (SELECT member FROM members WHERE name = ?)",
            (self._name, source._name, present._name),
        )

    def clear(self) -> None:
        """Remove every identifier."""
        self._sets.change("DELETE FROM members WHERE name = ?", (self._name,))

    def __contains__(self, member: object) -> bool:
        rows = self._sets.rows(
            "SELECT 1 FROM members WHERE name = ? AND member = ?", (self._name, member)
        )
        return bool(rows)

    def __len__(self) -> int:
        return int(
            self._sets.rows("SELECT count(*) FROM members WHERE name = ?", (self._name,))[0][0]
        )

    def __iter__(self) -> Iterator[str]:
        after: str | None = None
        while True:
            rows = self._sets.rows(
                "SELECT member FROM members WHERE name = ? AND (? IS NULL OR member > ?) "
                "ORDER BY member LIMIT ?",
                (self._name, after, after, READ_BATCH),
            )
            for (member,) in rows:
                yield member
            if len(rows) < READ_BATCH:
                return
            after = rows[-1][0]
