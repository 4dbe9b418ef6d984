"""The run report (JSON for machines, Markdown for people) and the rejects file."""

from __future__ import annotations

import json
import os
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

OUTCOMES = ("created", "linked", "updated", "unchanged", "skipped", "rejected")
REJECTS_FILE_NAME = "rejects.jsonl"


@dataclass
class Problem:
    """One record the run could not write: which, why, and what the office should do."""

    stream: str
    record_id: str
    business_key: str
    reason: str
    action: str
    replayed: bool = False


@dataclass
class RunReport:
    """Counts per stream and outcome, skip reasons, and one line per problem."""

    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    skip_reasons: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    ignored_streams: Counter[str] = field(default_factory=Counter)
    replay: Counter[str] = field(default_factory=Counter)
    requests_sent: int = 0
    writes_sent: int = 0
    status: str = "running"
    error: str | None = None

    def count(self, stream: str, outcome: str) -> None:
        """Tally one record's outcome."""
        self.counts.setdefault(stream, Counter())[outcome] += 1

    def totals(self) -> dict[str, int]:
        """Records per outcome over all streams, every outcome listed."""
        total: Counter[str] = Counter()
        for counter in self.counts.values():
            total.update(counter)
        return {outcome: total.get(outcome, 0) for outcome in OUTCOMES}

    def as_dict(self) -> dict[str, t.Any]:
        """The report as JSON-ready data."""
        return {
            "target": "target-adminpulse",
            "started_at": _iso(self.started_at),
            "finished_at": _iso(datetime.now(UTC)),
            "status": self.status,
            "error": self.error,
            "totals": self.totals(),
            "streams": {
                stream: {outcome: counter.get(outcome, 0) for outcome in OUTCOMES}
                for stream, counter in sorted(self.counts.items())
            },
            "skip_reasons": dict(self.skip_reasons),
            "ignored_streams": dict(self.ignored_streams),
            "replayed_rejects": dict(self.replay),
            "requests_sent": self.requests_sent,
            "writes_sent": self.writes_sent,
            "problems": [problem.__dict__ for problem in self.problems],
        }

    def as_markdown(self) -> str:
        """The report for people: totals, then what to fix."""
        data = self.as_dict()
        lines = [
            f"# target-adminpulse run of {data['started_at']}",
            "",
            f"Status: **{self.status}**" + (f": {self.error}" if self.error else ""),
            "",
            "| stream | " + " | ".join(OUTCOMES) + " |",
            "|---|" + "---:|" * len(OUTCOMES),
        ]
        for stream, counts in data["streams"].items():
            lines.append(f"| {stream} | " + " | ".join(str(counts[o]) for o in OUTCOMES) + " |")
        lines.append("| **all** | " + " | ".join(str(data["totals"][o]) for o in OUTCOMES) + " |")
        if self.replay:
            lines += ["", "Rejects of earlier runs replayed: " + _phrase(self.replay)]
        if self.skip_reasons:
            lines += ["", "## Skipped on purpose", ""]
            lines += [f"- {reason}: {count}" for reason, count in self.skip_reasons.items()]
        if self.ignored_streams:
            lines += ["", "Streams outside the input contract, read and ignored: "]
            lines[-1] += _phrase(self.ignored_streams)
        lines += ["", f"## Problems ({len(self.problems)})", ""]
        if not self.problems:
            lines.append("None.")
        for problem in self.problems:
            replayed = " (replayed)" if problem.replayed else ""
            lines.append(
                f"- {problem.stream} {problem.record_id}, {problem.business_key}{replayed}: "
                f"{problem.reason}. **To do:** {problem.action}"
            )
        return "\n".join(lines) + "\n"

    def write(self, folder: Path) -> Path:
        """Write both forms next to each other; return the JSON file's path."""
        folder.mkdir(parents=True, exist_ok=True)
        stem = "run-" + self.started_at.strftime("%Y%m%dT%H%M%S%fZ")
        json_path = folder / f"{stem}.json"
        write_atomically(json_path, json.dumps(self.as_dict(), indent=2, ensure_ascii=False))
        write_atomically(folder / f"{stem}.md", self.as_markdown())
        return json_path


class RejectsFile:
    """Records the target could not write, one JSON line each, replayed by the next run.

    Entries are keyed so that a newer rejection of the same thing replaces the older one and a
    success removes it. `flush` rewrites the file atomically and is called before every state
    message leaves the target, so a bookmark never moves past a rejection that is not on disk.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, t.Any]] = {}
        self.dirty = False
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self.entries[entry["key"]] = entry

    def pending(self) -> list[dict[str, t.Any]]:
        """The entries to replay, oldest first."""
        return sorted(self.entries.values(), key=lambda entry: entry["first_rejected_at"])

    def add(self, key: str, stream: str, record: dict[str, t.Any], reason: str) -> None:
        """Keep (or refresh) the rejection of one record."""
        now = _iso(datetime.now(UTC))
        previous = self.entries.get(key)
        self.entries[key] = {
            "key": key,
            "stream": stream,
            "reason": reason,
            "first_rejected_at": previous["first_rejected_at"] if previous else now,
            "last_rejected_at": now,
            "attempts": (previous["attempts"] + 1) if previous else 1,
            "record": record,
        }
        self.dirty = True

    def discard(self, key: str) -> None:
        """Forget a rejection once the record (or a newer one under the same key) is written."""
        if self.entries.pop(key, None) is not None:
            self.dirty = True

    def flush(self) -> None:
        """Rewrite the file if anything changed; raise if the disk refuses."""
        if not self.dirty:
            return
        lines = [json.dumps(entry, ensure_ascii=False) for entry in self.pending()]
        if lines or self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, "".join(line + "\n" for line in lines))
        self.dirty = False


def write_atomically(path: Path, text: str) -> None:
    """Write a file so a crash leaves the old version or the new one, never half of either."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _phrase(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counter.items())
