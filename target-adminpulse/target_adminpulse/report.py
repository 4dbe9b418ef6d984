"""The run report (JSON for machines, Markdown and HTML for people) and the rejects file.

The pages for people group the problems by what the office should do about them, and show how
the last runs went, read back from the JSON reports earlier runs left in the same folder.
"""

from __future__ import annotations

import json
import os
import threading
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from string import Template

OUTCOMES = ("created", "linked", "updated", "unchanged", "skipped", "rejected")
REJECTS_FILE_NAME = "rejects.jsonl"
# The rejects file holds whole records: only its owner may read it. Reports hold no more than
# masked keys.
PRIVATE_FILE_MODE = 0o600
SHARED_FILE_MODE = 0o644
# How many runs the pages look back over, this one included.
TREND_RUNS = 14
# The outcomes the trend follows: documents uploaded, relations updated, records rejected.
TREND_OUTCOMES = ("created", "updated", "rejected")
# Problems a report lists one by one; beyond that it counts them (every rejected record is in the
# rejects file anyway), so a run that rejects 50,000 records keeps no 50,000 lines in memory.
MAX_PROBLEMS_LISTED = 1000


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
    """Counts per stream and outcome, skip reasons, and one line per problem (the first ones).

    The write lanes tally into one report, so every change goes through a locked method.
    """

    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    skip_reasons: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    ignored_streams: Counter[str] = field(default_factory=Counter)
    replay: Counter[str] = field(default_factory=Counter)
    requests_sent: int = 0
    writes_sent: int = 0
    status: str = "running"
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, stream: str, outcome: str) -> None:
        """Tally one record's outcome."""
        with self._lock:
            self.counts.setdefault(stream, Counter())[outcome] += 1

    def skip(self, reason: str) -> None:
        """Tally one record skipped on purpose."""
        with self._lock:
            self.skip_reasons[reason] += 1

    def count_replay(self, result: str) -> None:
        """Tally one replayed reject: written or still rejected."""
        with self._lock:
            self.replay[result] += 1

    def add_problem(self, problem: Problem) -> None:
        """Count a problem, and list it while the report lists fewer than MAX_PROBLEMS_LISTED."""
        with self._lock:
            self.problem_count += 1
            if len(self.problems) < MAX_PROBLEMS_LISTED:
                self.problems.append(problem)

    def totals(self) -> dict[str, int]:
        """Records per outcome over all streams, every outcome listed."""
        total: Counter[str] = Counter()
        with self._lock:
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
            "problem_count": self.problem_count,
            "problems": [problem.__dict__ for problem in self.problems],
        }

    def as_markdown(self, trend: list[dict[str, t.Any]]) -> str:
        """The report for people: totals, the last runs, then what to fix, grouped."""
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
        lines += ["", f"## Last {len(trend)} runs", ""]
        lines += ["| run (UTC) | " + " | ".join(TREND_OUTCOMES) + " |"]
        lines += ["|---|" + "---:|" * len(TREND_OUTCOMES)]
        lines += [
            f"| {run['run']} | " + " | ".join(str(run[o]) for o in TREND_OUTCOMES) + " |"
            for run in trend
        ]
        lines += ["", f"## Problems ({self.problem_count})"]
        if not self.problems:
            lines += ["", "None."]
        for action, group in self.problems_by_action().items():
            lines += ["", f"### To do: {action} ({len(group)})", ""]
            lines += [f"- {_label(problem)}: {problem.reason}" for problem in group]
        if self.unlisted_problems:
            lines += ["", _unlisted(self.unlisted_problems)]
        return "\n".join(lines) + "\n"

    @property
    def unlisted_problems(self) -> int:
        """Problems counted beyond the ones listed."""
        return self.problem_count - len(self.problems)

    def problems_by_action(self) -> dict[str, list[Problem]]:
        """The problems under what the office should do about them, most frequent first."""
        groups: dict[str, list[Problem]] = {}
        for problem in self.problems:
            groups.setdefault(problem.action, []).append(problem)
        return dict(sorted(groups.items(), key=lambda item: -len(item[1])))

    def as_html(self, trend: list[dict[str, t.Any]]) -> str:
        """The same report as one self-contained page: inline style, no script, no link."""
        data = self.as_dict()
        rows = [
            f"<tr><td>{escape(stream)}</td>" + "".join(f"<td class=n>{c[o]}</td>" for o in OUTCOMES)
            for stream, c in data["streams"].items()
        ]
        rows.append("<tr class=all><td>all</td>")
        rows[-1] += "".join(f"<td class=n>{data['totals'][o]}</td>" for o in OUTCOMES)
        widest = max([run[o] for run in trend for o in TREND_OUTCOMES] + [1])
        runs = "".join(
            f"<tr><td>{escape(run['run'])}</td>"
            + "".join(
                f"<td class=n>{run[o]}</td><td><span class='bar {o}' "
                f"style='width:{round(120 * run[o] / widest)}px'></span></td>"
                for o in TREND_OUTCOMES
            )
            for run in trend
        )
        problems = "".join(
            f"<h3>To do: {escape(action)} ({len(group)})</h3><table><tr><th>record</th>"
            "<th>client</th><th>why</th></tr>"
            + "".join(
                f"<tr><td>{escape(f'{p.stream} {p.record_id}')}</td><td class=key>"
                f"{escape(p.business_key)}{' (replayed)' if p.replayed else ''}</td>"
                f"<td>{escape(p.reason)}</td></tr>"
                for p in group
            )
            + "</table>"
            for action, group in self.problems_by_action().items()
        )
        return _PAGE.substitute(
            title=f"AdminPulse outbound sync, {self.started_at:%Y-%m-%d %H:%M} UTC",
            status=escape(self.status + (f": {self.error}" if self.error else "")),
            outcomes="".join(f"<th class=n>{o}</th>" for o in OUTCOMES),
            counts="</tr>".join(rows) + "</tr>",
            skipped="".join(
                f"<li>{escape(reason)}: {count}</li>" for reason, count in self.skip_reasons.items()
            )
            or "<li>nothing</li>",
            runs=len(trend),
            trend_head="".join(f"<th class=n>{o}</th><th></th>" for o in TREND_OUTCOMES),
            trend=runs,
            problem_count=self.problem_count,
            problems=(problems or "<p>None.</p>")
            + (
                f"<p>{escape(_unlisted(self.unlisted_problems))}</p>"
                if self.unlisted_problems
                else ""
            ),
        )

    def write(self, folder: Path) -> Path:
        """Write the three forms next to each other; return the JSON file's path."""
        folder.mkdir(parents=True, exist_ok=True)
        stem = "run-" + self.started_at.strftime("%Y%m%dT%H%M%S%fZ")
        json_path = folder / f"{stem}.json"
        write_atomically(json_path, json.dumps(self.as_dict(), indent=2, ensure_ascii=False))
        trend = read_trend(folder)
        write_atomically(folder / f"{stem}.md", self.as_markdown(trend))
        write_atomically(folder / f"{stem}.html", self.as_html(trend))
        return json_path


def read_trend(folder: Path) -> list[dict[str, t.Any]]:
    """The last runs' totals from their JSON reports, oldest first; unreadable ones left out."""
    runs = []
    for path in sorted(folder.glob("run-*.json"))[-TREND_RUNS:]:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            totals = report["totals"]
            run = {"run": f"{report['started_at'][:16].replace('T', ' ')} ({report['status']})"}
            runs.append(run | {outcome: int(totals[outcome]) for outcome in TREND_OUTCOMES})
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return runs


def _unlisted(count: int) -> str:
    return (
        f"And {count} more problems, not listed here: every rejected record is in "
        f"{REJECTS_FILE_NAME} with its reason."
    )


def _label(problem: Problem) -> str:
    """`documents doc_1, KBO 0403019261 (replayed)`: the record and its client."""
    replayed = " (replayed)" if problem.replayed else ""
    return f"{problem.stream} {problem.record_id}, {problem.business_key}{replayed}"


_PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>$title</title><style>
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:62em;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
h3{font-size:1em}
table{border-collapse:collapse}td,th{padding:.25em .6em;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}.n{text-align:right}.all td{font-weight:600}
.key{white-space:nowrap}.bar{display:inline-block;height:.8em}
.created{background:#2e7d32}.updated{background:#1565c0}.rejected{background:#c62828}
</style></head><body>
<h1>$title</h1>
<p>Status: <b>$status</b></p>
<h2>Records written</h2>
<p>Created: documents uploaded to the client's file. Updated: relations whose CAP dates, risk
level or ID-card expiry changed. Rejected: records waiting in the rejects file for the next run.</p>
<table><tr><th>stream</th>$outcomes</tr>$counts</table>
<p>Skipped on purpose:</p><ul>$skipped</ul>
<h2>Last $runs runs</h2>
<table><tr><th>run (UTC)</th>$trend_head</tr>$trend</table>
<h2>Problems ($problem_count)</h2>
$problems
</body></html>
""")


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
        # The write lanes add and discard entries while a flush may be reading them.
        self._lock = threading.RLock()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self.entries[entry["key"]] = entry

    def pending(self) -> list[dict[str, t.Any]]:
        """The entries to replay, oldest first."""
        with self._lock:
            return sorted(self.entries.values(), key=lambda entry: entry["first_rejected_at"])

    def add(self, key: str, stream: str, record: dict[str, t.Any], reason: str) -> None:
        """Keep (or refresh) the rejection of one record."""
        now = _iso(datetime.now(UTC))
        with self._lock:
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
        with self._lock:
            if self.entries.pop(key, None) is not None:
                self.dirty = True

    def flush(self) -> None:
        """Rewrite the file if anything changed; raise if the disk refuses."""
        with self._lock:
            if not self.dirty:
                return
            lines = [json.dumps(entry, ensure_ascii=False) for entry in self.pending()]
            if lines or self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(self.path, "".join(line + "\n" for line in lines), private=True)
            self.dirty = False


def write_atomically(path: Path, text: str, *, private: bool = False) -> None:
    """Write a file so a crash leaves the old version or the new one, never half of either.

    A private file (the rejects, which hold whole records and files) is readable by its owner
    only, from the moment it is created.
    """
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    mode = PRIVATE_FILE_MODE if private else SHARED_FILE_MODE

    def opener(name: str, flags: int) -> int:
        return os.open(name, flags, mode)

    with open(temporary, "w", encoding="utf-8", opener=opener) as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _phrase(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counter.items())
