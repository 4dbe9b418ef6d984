"""Progress lines for long reads: how many rows so far, how fast, and how long still to go."""

from __future__ import annotations

import time
import typing as t

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable

# A line at least this often on a long read, so an operator watching the log sees it move.
PROGRESS_SECONDS = 30.0


class Progress:
    """Counts rows and logs a line every `every` rows or `seconds`, whichever comes first.

    Once the total is known (AdminPulse announces `totalRowCount` on a list's first page) the
    line also gives the share done and the time left at the average rate so far.
    """

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        every: int,
        total: int | None = None,
        seconds: float = PROGRESS_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger, self.what, self.every, self.total = logger, what, every, total
        self.seconds, self.clock = seconds, clock
        self.started = self.last_line = clock()
        self.done = 0
        self.next_line_at = every

    def advance(self, rows: int = 1) -> None:
        """Count rows; log a line when enough rows or enough time have passed."""
        self.done += rows
        now = self.clock()
        if self.done >= self.next_line_at or now - self.last_line >= self.seconds:
            self.logger.info("%s", self.line(now))
            self.last_line = now
            self.next_line_at = self.done + self.every

    def line(self, now: float) -> str:
        """`Relations: 1200 of 3400 read (35%), 85.2/s, about 26 s left`."""
        rate = self.done / max(now - self.started, 1e-6)
        if not self.total:
            return f"{self.what}: {self.done} so far, {rate:.1f}/s"
        left = max(self.total - self.done, 0) / rate if rate else 0.0
        share = min(100 * self.done // self.total, 100)
        return (
            f"{self.what}: {self.done} of {self.total} ({share}%), {rate:.1f}/s, "
            f"about {duration(left)} left"
        )


def duration(seconds: float) -> str:
    """A wait as a person reads it: `40 s`, `3 min 5 s`, `2 h 10 min`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"
