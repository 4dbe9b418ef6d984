"""The relations and rejects of one run, kept on disk so that memory does not grow with them.

The import needs every relation before it can plan (a company's UBOs may arrive after it), and
an office can have tens of thousands. Held as Python dictionaries they cost kilobytes each; here
they wait in a SQLite file in the temporary folder, written as they arrive and read back one at
a time, and the file is deleted when the run ends. SQLite's own page cache bounds what stays in
memory.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
import typing as t
from pathlib import Path

# Relations read back per query while iterating: enough to keep SQLite busy, few in memory.
READ_BATCH = 500
# SQLite's page cache, in KiB (a negative cache_size is KiB): a few MB whatever the office size.
CACHE_KIB = 4096


class RelationStore:
    """AdminPulse relations by uniqueIdentifier, in arrival order, in a temporary SQLite file.

    Used from the import's thread and the main thread, so every query holds one lock. A relation
    stored twice keeps its first place and its latest content.
    """

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="target-amlcare-")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            Path(self._folder.name) / "relations.sqlite", check_same_thread=False
        )
        # A scratch file: nothing to recover after a crash, so no journal and no fsync.
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self._db.execute(
            "CREATE TABLE relations (position INTEGER PRIMARY KEY, uid TEXT UNIQUE, body TEXT)"
        )
        self._count = 0

    def __setitem__(self, uid: str, relation: dict[str, t.Any]) -> None:
        body = json.dumps(relation, separators=(",", ":"))
        with self._lock:
            updated = self._db.execute(
                "UPDATE relations SET body = ? WHERE uid = ?", (body, uid)
            ).rowcount
            if not updated:
                self._db.execute("INSERT INTO relations (uid, body) VALUES (?, ?)", (uid, body))
                self._count += 1

    @t.overload
    def get(self, uid: str) -> dict[str, t.Any] | None: ...

    @t.overload
    def get(self, uid: str, default: dict[str, t.Any]) -> dict[str, t.Any]: ...

    def get(self, uid: str, default: dict[str, t.Any] | None = None) -> dict[str, t.Any] | None:
        """The relation, or `default` when it was not received."""
        with self._lock:
            row = self._db.execute("SELECT body FROM relations WHERE uid = ?", (uid,)).fetchone()
        return default if row is None else t.cast("dict[str, t.Any]", json.loads(row[0]))

    def __getitem__(self, uid: str) -> dict[str, t.Any]:
        relation = self.get(uid)
        if relation is None:
            raise KeyError(uid)
        return relation

    def __contains__(self, uid: object) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM relations WHERE uid = ?", (uid,)).fetchone()
        return row is not None

    def __len__(self) -> int:
        return self._count

    def items(self) -> t.Iterator[tuple[str, dict[str, t.Any]]]:
        """Every relation with its uniqueIdentifier, in arrival order, a batch at a time."""
        after = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT position, uid, body FROM relations WHERE position > ? "
                    "ORDER BY position LIMIT ?",
                    (after, READ_BATCH),
                ).fetchall()
            if not rows:
                return
            for position, uid, body in rows:
                after = position
                yield uid, json.loads(body)

    def close(self) -> None:
        """Delete the file."""
        with self._lock:
            self._db.close()
        self._folder.cleanup()


class SpooledRejects:
    """The run's rejected records (stream, record, reason), in a temporary file until the end.

    A rejected company carries its linked relations and a rejected card its file, so held in
    memory they would grow with the office's defects; the rejects file is written from here. The
    temporary file has no name and is gone when the process ends. Read it once writing is over.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - lives as long as the run
        self._lock = threading.Lock()
        self._count = 0

    def append(self, entry: dict[str, t.Any]) -> None:
        """Keep one reject; values JSON cannot hold are kept as text, as the rejects file does."""
        line = json.dumps(entry, default=str) + "\n"
        with self._lock:
            self._file.write(line)
            self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> t.Iterator[dict[str, t.Any]]:
        """Yield each rejected record once: the last word on it, since fresher input wins.

        A record can be rejected twice in one run: replayed from the previous rejects file, then
        read again from the tap after a run that died before its state was saved.
        """
        with self._lock:
            self._file.flush()
            self._file.seek(0)
            last_line_of = {
                rejected_identity(json.loads(line)): number
                for number, line in enumerate(iter(self._file.readline, ""))
            }
            self._file.seek(0)
            lines = list(enumerate(iter(self._file.readline, "")))
        for number, line in lines:
            entry = json.loads(line)
            if last_line_of[rejected_identity(entry)] == number:
                yield entry


def rejected_identity(entry: dict[str, t.Any]) -> str:
    """What a rejected entry is about: its stream and its record's identifiers."""
    record = entry.get("record") or {}
    return json.dumps([entry.get("stream"), record.get("id"), record.get("uniqueIdentifier")])
