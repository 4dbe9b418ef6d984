"""The run report (JSON for machines, Markdown for people) and the rejects file.

The report counts every outcome and lists every problem with the record's business key (a
national register number masked) and what the office should do about it. The rejects file holds
the records this run could not import, each with its reason, one JSON object a line; the next
import run reads it back first (see `read_rejects`), so a record is never lost because its
relation did not change again in AdminPulse.
"""

from __future__ import annotations

import json
import os
import typing as t
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REJECTS_FILE = "rejects.jsonl"

# What the office should do, per kind of problem. One sentence each, addressed to the office.
ACTIONS: dict[str, str] = {
    "contract_violation": "Fix the record in AdminPulse, or the tap mapping that produced it.",
    "invalid_identifier": (
        "Fill in or correct the KBO / national register number in AdminPulse; the next run "
        "imports the client."
    ),
    "role_holder_not_importable": (
        "Correct the linked person in AdminPulse (identifier, or the link itself); the next "
        "run imports the company."
    ),
    "linked_relation_missing": "Check the company's linked relations in AdminPulse.",
    "link_without_counterpart": (
        "AMLCare roles link a company to a person; record this role by hand in AMLCare."
    ),
    "amlcare_refused": "Correct the field AMLCare names, in AdminPulse; the next run retries.",
    "duplicate_key": "Merge or correct the AdminPulse relations that share this identifier.",
    "relation_not_imported": "Nothing to do unless the relation should be imported.",
    "responsible_without_amlcare_user": (
        "Create an AMLCare internal user with this e-mail, or change the responsible in "
        "AdminPulse; then set the responsible of the clients listed by hand in AMLCare."
    ),
    "client_without_responsible": "Set a responsible in AdminPulse (and in AMLCare by hand).",
    "document_type_not_public_by_default": (
        "In AdminPulse, make this document type public on portal by default, so new identity "
        "cards can be fetched."
    ),
    "document_type_missing": "Create the document type in AdminPulse, or rename the one in use.",
    "identity_document_not_public": (
        "Mark the document public on portal in AdminPulse before the client's first import; "
        "for a client already imported, upload the card by hand in AMLCare."
    ),
    "identity_document_not_downloaded": (
        "Run the import with include_document_content on; the tap did not send the file."
    ),
}


@dataclass
class Problem:
    """One thing the office should look at, about one record."""

    kind: str
    message: str
    key: str = "-"  # the business key, masked when it is a national register number
    relation: str | None = None  # AdminPulse uniqueIdentifier
    code: str | None = None  # AdminPulse relation code, what the office searches on
    rejected: bool = False

    @property
    def label(self) -> str:
        """How a person finds the record: the relation code and masked key, or the key."""
        name = self.code or self.relation
        shown = f"{name} ({self.key})" if name else self.key
        return f"{shown}, rejected" if self.rejected else shown

    @property
    def action(self) -> str:
        """What to do about it."""
        return ACTIONS.get(self.kind, "")


@dataclass
class RunReport:
    """Everything one run did and could not do."""

    mode: str  # "import" or "preflight"
    dry_run: bool
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    details: dict[str, t.Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """A sortable name for this run's files."""
        return self.started_at.strftime("%Y%m%dT%H%M%S%fZ")

    def count(self, outcome: str, amount: int = 1) -> None:
        """Add to one outcome's count."""
        self.counts[outcome] += amount

    def add(self, problem: Problem) -> None:
        """Record a problem (a rejection also counts as one rejected record)."""
        self.problems.append(problem)

    def as_dict(self) -> dict[str, t.Any]:
        """The JSON report."""
        by_kind = Counter(problem.kind for problem in self.problems)
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "counts": dict(sorted(self.counts.items())),
            "problem_counts": dict(sorted(by_kind.items())),
            "problems": [{**asdict(problem), "action": problem.action} for problem in self],
            **self.details,
        }

    def __iter__(self) -> t.Iterator[Problem]:
        return iter(self.problems)

    def markdown(self) -> str:
        """The report for people: counts, then the problems grouped by kind."""
        title = "Preflight (dry run)" if self.dry_run else "Import"
        column = "what the import would do" if self.dry_run else "outcome"
        lines = [
            f"# AMLCare {title.lower()} report {self.run_id}",
            "",
            f"{title} of AdminPulse relations into AMLCare, started "
            f"{self.started_at:%Y-%m-%d %H:%M:%S} UTC."
            + (" Nothing was written to AMLCare." if self.dry_run else ""),
            "",
            f"| {column} | count |",
            "|---|---:|",
        ]
        lines += [f"| {name.replace('_', ' ')} | {n} |" for name, n in sorted(self.counts.items())]
        lines.append("")
        if not self.problems:
            lines.append("No problems.")
        kinds = sorted({problem.kind for problem in self.problems})
        for kind in kinds:
            group = [problem for problem in self.problems if problem.kind == kind]
            lines += ["", f"## {kind.replace('_', ' ').capitalize()} ({len(group)})", ""]
            lines += [f"What to do: {ACTIONS.get(kind, '')}", ""]
            lines += [f"- {problem.label}: {problem.message}" for problem in group]
        return "\n".join(lines) + "\n"

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write `<mode>-<run>.json` and `.md` into the folder, synchronously.

        Raises:
            OSError: when the folder cannot be written; the run must then fail loudly.
        """
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"{self.mode}-{self.run_id}"
        json_path, markdown_path = stem.with_suffix(".json"), stem.with_suffix(".md")
        write_atomically(json_path, json.dumps(self.as_dict(), indent=2, default=str) + "\n")
        write_atomically(markdown_path, self.markdown())
        return json_path, markdown_path


def write_atomically(path: Path, text: str) -> None:
    """Replace a file in one step, so a crash never leaves half a report or rejects file."""
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def read_rejects(folder: Path) -> list[dict[str, t.Any]]:
    """The rejects the previous import run left, oldest first (empty when there are none)."""
    path = folder / REJECTS_FILE
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_rejects(folder: Path, rejects: list[dict[str, t.Any]]) -> Path:
    """Replace the rejects file with this run's rejects (each: stream, record, reason)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REJECTS_FILE
    write_atomically(path, "".join(json.dumps(entry, default=str) + "\n" for entry in rejects))
    return path
