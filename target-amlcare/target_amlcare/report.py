"""The run report (JSON for machines, Markdown and HTML for people) and the rejects file.

The report counts every outcome and lists every problem with the record's business key (a
national register number masked), where the office fixes it and what to do. The pages for people
also show the trend of the last runs, read back from the earlier JSON reports in the same
folder. The rejects file holds
the records this run could not import, each with its reason, one JSON object a line; the next
import run reads it back first (see `read_rejects`), so a record is never lost because its
relation did not change again in AdminPulse.
"""

from __future__ import annotations

import html
import json
import os
import typing as t
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from heapq import merge
from pathlib import Path
from string import Template

from target_amlcare.relation_store import DiskList, ScratchDatabase

REJECTS_FILE = "rejects.jsonl"
# The rejects file holds whole records: only its owner may read it. Reports hold no more than
# masked keys.
PRIVATE_FILE_MODE = 0o600
SHARED_FILE_MODE = 0o644
# How many runs the trend shows, this one included: two weeks of nights.
TREND_RUNS = 14

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
    "identity_document_too_large": (
        "Store a smaller scan of the card in AdminPulse before the client's first import, or "
        "upload it by hand in AMLCare."
    ),
    "identity_document_unusable": (
        "Replace the file in AdminPulse (it is empty or damaged), or upload the card by hand in "
        "AMLCare."
    ),
}

# Where the office makes the fix, per kind of problem: the system, then the record or setting.
WHERE: dict[str, str] = {
    "contract_violation": "Meltano project: the tap's output or the stream maps in meltano.yml",
    "invalid_identifier": (
        "AdminPulse, the client's relation: KBO number (companies, sole proprietors) or "
        "national register number (persons)"
    ),
    "role_holder_not_importable": (
        "AdminPulse, the company's UBO or director: national register number, or the link"
    ),
    "linked_relation_missing": "AdminPulse, the company's linked relations",
    "link_without_counterpart": "AMLCare, the company's client file: its roles",
    "amlcare_refused": "AdminPulse, the client's relation: the field named in the message",
    "duplicate_key": "AdminPulse, the relations that share one KBO or national register number",
    "relation_not_imported": "AdminPulse, the relation's status or end date",
    "responsible_without_amlcare_user": (
        "AMLCare, internal users (add the e-mail); or AdminPulse, the client's responsibles"
    ),
    "client_without_responsible": "AdminPulse, the client's relation: responsibles",
    "document_type_not_public_by_default": (
        "AdminPulse, document type settings: the 'public on portal' default of the type"
    ),
    "document_type_missing": "AdminPulse, document type settings",
    "identity_document_not_public": "AdminPulse, the client's documents: 'public on portal'",
    "identity_document_not_downloaded": (
        "Meltano project: the tap setting include_document_content"
    ),
    "identity_document_too_large": "AdminPulse, the client's documents: the card's file",
    "identity_document_unusable": "AdminPulse, the client's documents: the card's file",
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


class ProblemLog:
    """Every problem of a run, on disk: a list per kind, so that the pages read them grouped.

    Only the count per kind stays in memory. The positions of the entries order the problems of
    all kinds as they were found, which is the order of the JSON report.
    """

    def __init__(self, scratch: ScratchDatabase) -> None:
        self._scratch = scratch
        self._lists: dict[str, DiskList[Problem]] = {}

    def add(self, problem: Problem) -> None:
        """Keep one problem."""
        kind_list = self._lists.get(problem.kind)
        if kind_list is None:
            kind_list = DiskList(
                self._scratch,
                f"problems:{problem.kind}",
                encode=asdict,
                decode=lambda fields: Problem(**fields),
            )
            self._lists[problem.kind] = kind_list
        kind_list.append(problem)

    def __len__(self) -> int:
        return sum(len(kind_list) for kind_list in self._lists.values())

    def __iter__(self) -> Iterator[Problem]:
        """Every problem, in the order they were found."""
        entries = merge(*(kind_list.entries() for kind_list in self._lists.values()))
        return (problem for _, problem in entries)

    def counts(self) -> dict[str, int]:
        """How many problems of each kind, kinds in alphabetical order."""
        return {kind: len(self._lists[kind]) for kind in sorted(self._lists)}

    def of_kind(self, kind: str) -> Iterator[Problem]:
        """The problems of one kind, in the order they were found."""
        return iter(self._lists[kind])


@dataclass
class RunReport:
    """Everything one run did and could not do.

    The problems wait on disk (see `ProblemLog`) and the files are written by streaming them,
    so neither the run nor the writing of its report holds them all in memory.
    """

    mode: str  # "import" or "preflight"
    dry_run: bool
    problems: ProblemLog
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    counts: Counter[str] = field(default_factory=Counter)
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
        self.problems.add(problem)

    def json(self) -> Iterator[str]:
        """The JSON report, in pieces: what `json.dumps(..., indent=2)` would write at once."""
        fields: dict[str, t.Any] = {
            "run_id": self.run_id,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "counts": dict(sorted(self.counts.items())),
            "problem_counts": self.problems.counts(),
            "problems": None,  # streamed below, in its place among the fields
            **self.details,
        }
        yield "{"
        for number, (name, value) in enumerate(fields.items()):
            yield ("," if number else "") + f"\n  {json.dumps(name)}: "
            if name != "problems":
                yield indented(value)
                continue
            yield "["
            for index, problem in enumerate(self.problems):
                row = {**asdict(problem), "action": problem.action}
                yield ("," if index else "") + "\n    " + indented(row, depth=2)
            yield "\n  ]" if len(self.problems) else "]"
        yield "\n}\n"

    def markdown(self, trend: list[TrendRow]) -> Iterator[str]:
        """The report for people, line by line: counts, the problems by kind, the last runs."""
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
        lines += ["", f"## Last {len(trend)} runs", ""]
        lines += ["| run started (UTC) | created | rejected |", "|---|---:|---:|"]
        lines += [f"| {row.started} | {row.created} | {row.rejected} |" for row in trend]
        lines.append("")
        if not len(self.problems):
            lines.append("No problems.")
        yield from (line + "\n" for line in lines)
        for kind, count in self.problems.counts().items():
            yield f"\n## {title_of(kind)} ({count})\n\n"
            yield f"Where: {WHERE.get(kind, '-')}.\n\nWhat to do: {ACTIONS.get(kind, '')}\n\n"
            for problem in self.problems.of_kind(kind):
                yield f"- {as_text(problem.label)}: {as_text(problem.message)}\n"

    def html(self, trend: list[TrendRow]) -> Iterator[str]:
        """The same report as a self-contained page: no script, no file or request beside it."""
        title = f"AMLCare {'preflight (dry run)' if self.dry_run else 'import'} {self.run_id}"
        counts = "".join(
            f"<tr><td>{esc(name.replace('_', ' '))}</td><td class=n>{n}</td></tr>"
            for name, n in sorted(self.counts.items())
        )
        yield PAGE_HEAD.substitute(
            title=esc(title),
            summary=esc(self.summary()),
            column="what the import would do" if self.dry_run else "outcome",
            counts=counts or "<tr><td colspan=2>nothing</td></tr>",
            runs=len(trend),
            chart=trend_chart(trend),
            trend="".join(
                f"<tr><td>{esc(row.started)}</td><td class=n>{row.created}</td>"
                f"<td class=n>{row.rejected}</td></tr>"
                for row in trend
            ),
        )
        if not len(self.problems):
            yield "<p>No problems.</p>"
        for kind, count in self.problems.counts().items():
            yield SECTION_HEAD.substitute(
                title=esc(title_of(kind)),
                count=count,
                where=esc(WHERE.get(kind, "-")),
                action=esc(ACTIONS.get(kind, "")),
            )
            for p in self.problems.of_kind(kind):
                yield (
                    f"<tr><td>{esc(p.code or p.relation or '-')}</td>"
                    f"<td class=key>{esc(p.key)}</td><td>{esc(p.message)}</td>"
                    f"<td>{'rejected' if p.rejected else ''}</td></tr>"
                )
            yield SECTION_TAIL
        yield PAGE_TAIL

    def summary(self) -> str:
        """One sentence: what the run did, in the office's words."""
        create, reject = (
            ("would create", "would reject") if self.dry_run else ("created", "rejected")
        )
        return (
            f"Started {self.started_at:%Y-%m-%d %H:%M:%S} UTC; {create} "
            f"{self.counts.get('created', 0)} clients, {reject} {self.counts.get('rejected', 0)}"
            f" records, {len(self.problems)} problems to look at."
            + (" Nothing was written to AMLCare." if self.dry_run else "")
        )

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write `<mode>-<run>.json`, `.md` and `.html` into the folder, synchronously.

        Returns the JSON and the HTML file.

        Raises:
            OSError: when the folder cannot be written; the run must then fail loudly.
        """
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"{self.mode}-{self.run_id}"
        json_path = stem.with_suffix(".json")
        write_atomically(json_path, self.json())
        trend = read_trend(folder, self.mode)
        write_atomically(stem.with_suffix(".md"), self.markdown(trend))
        write_atomically(stem.with_suffix(".html"), self.html(trend))
        return json_path, stem.with_suffix(".html")


def indented(value: t.Any, depth: int = 1) -> str:
    """A value as `json.dumps(..., indent=2)` writes it at this depth of the document.

    JSON text has no raw line break inside a string, so every line break is indentation.
    """
    return json.dumps(value, indent=2, default=str).replace("\n", "\n" + "  " * depth)


@dataclass
class TrendRow:
    """One earlier run, as the trend shows it."""

    started: str
    created: int
    rejected: int


def read_trend(folder: Path, mode: str, runs: int = TREND_RUNS) -> list[TrendRow]:
    """The last runs of this mode, oldest first, from the JSON reports in the folder.

    Run ids sort by time, so the file names do. A report that cannot be read (a run that died
    while writing it, a file edited by hand) is left out rather than failing this run.
    """
    rows: list[TrendRow] = []
    for path in sorted(folder.glob(f"{mode}-*.json"))[-runs:]:
        try:
            report = report_head(path)
            counts = report["counts"]
            started = datetime.fromisoformat(report["started_at"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        rows.append(
            TrendRow(
                f"{started:%Y-%m-%d %H:%M}",
                int(counts.get("created", 0)),
                int(counts.get("rejected", 0)),
            )
        )
    return rows


def report_head(path: Path) -> dict[str, t.Any]:
    """The fields of a JSON report that come before its problems, read without the problems.

    A report lists every problem, so it can run to megabytes; the trend needs a few counts. The
    reports this target writes put `"problems"` on a line of its own after the counts; any other
    JSON file is read whole.

    Raises:
        ValueError: when the file is not JSON.
    """
    head: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith('  "problems": '):
                return t.cast("dict[str, t.Any]", json.loads("".join(head).rstrip(" ,\n") + "}"))
            head.append(line)
    return t.cast("dict[str, t.Any]", json.loads("".join(head)))


def esc(value: object) -> str:
    """Text from the data, safe inside HTML."""
    return html.escape(str(value), quote=True)


def title_of(kind: str) -> str:
    """A problem kind as a heading: `invalid_identifier` → `Invalid identifier`."""
    return kind.replace("_", " ").capitalize()


def trend_chart(trend: list[TrendRow]) -> str:
    """Created (green) and rejected (red) per run as inline SVG bars, scaled to the highest."""
    if not trend:
        return ""
    highest = max(max(row.created, row.rejected) for row in trend) or 1
    step, height = 28, 80
    bars = []
    for slot, row in enumerate(trend):
        for offset, (value, colour) in enumerate(
            ((row.created, "#2e7d32"), (row.rejected, "#c62828"))
        ):
            size = round(height * value / highest)
            bars.append(
                f'<rect x="{slot * step + offset * 11}" y="{height - size}" width="10" '
                f'height="{size}" fill="{colour}"><title>{esc(row.started)}: {value}</title></rect>'
            )
    return (
        f'<svg role="img" aria-label="created and rejected per run" width="{len(trend) * step}" '
        f'height="{height}">{"".join(bars)}</svg>'
    )


# The page for people, around its problem sections. Inline style only, so the file can be mailed
# or opened anywhere.
PAGE_HEAD = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>$title</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .7em;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}.n{text-align:right}dt{font-weight:600}dd{margin:0 0 .4em 0}
.legend span{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 1em}
.key{white-space:nowrap}
</style></head><body>
<h1>$title</h1>
<p>$summary</p>
<h2>Counts</h2>
<table><tr><th>$column</th><th class=n>records</th></tr>$counts</table>
<h2>Last $runs runs</h2>
<p class=legend><span style="background:#2e7d32"></span>created
<span style="background:#c62828"></span>rejected</p>
$chart
<table><tr><th>run started (UTC)</th><th class=n>created</th><th class=n>rejected</th></tr>
$trend</table>
<h2>Problems</h2>
""")
PAGE_TAIL = """
</body></html>
"""

# One kind of problem, around the rows of its table.
SECTION_HEAD = Template("""<section><h3>$title ($count)</h3><dl>
<dt>Where</dt><dd>$where</dd><dt>What to do</dt><dd>$action</dd></dl>
<table><tr><th>client</th><th>key</th><th>what</th><th></th></tr>""")
SECTION_TAIL = """</table></section>
"""


def as_text(value: str) -> str:
    """Record data for a Markdown line: markup shows as typed instead of being rendered."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_atomically(path: Path, text: str | Iterable[str], *, private: bool = False) -> None:
    """Replace a file in one step, so a crash never leaves half a report or rejects file.

    The text may come in pieces, written as they come, so a long report is never held whole.

    A private file (the rejects, which hold whole records: identifiers, card images) is readable
    by its owner only, from the moment it is created.
    """
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    mode = PRIVATE_FILE_MODE if private else SHARED_FILE_MODE
    opener = partial_opener(mode)
    with open(partial, "w", encoding="utf-8", opener=opener) as handle:
        handle.writelines([text] if isinstance(text, str) else text)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def partial_opener(mode: int) -> t.Callable[[str, int], int]:
    """An `open` opener that creates the file with `mode` (before the umask)."""

    def opener(name: str, flags: int) -> int:
        return os.open(name, flags, mode)

    return opener


def read_rejects(folder: Path) -> Iterator[dict[str, t.Any]]:
    """The rejects the previous import run left, oldest first, read one line at a time."""
    path = folder / REJECTS_FILE
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        yield from (json.loads(line) for line in handle if line.strip())


def write_rejects(folder: Path, rejects: t.Iterable[dict[str, t.Any]]) -> Path:
    """Replace the rejects file with this run's rejects (each: stream, record, reason)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REJECTS_FILE
    lines = (json.dumps(entry, default=str) + "\n" for entry in rejects)
    write_atomically(path, lines, private=True)
    return path
