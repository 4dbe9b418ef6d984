"""Progress lines for long runs: how many writes so far, how fast, and how long still to go."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# A line at least this often on a long run, so an operator watching the log sees it move.
PROGRESS_SECONDS = 30.0


@dataclass
class Progress:
    """Counts finished writes and logs a line every `every` of them or every `seconds`.

    Writes finish in the write pool's threads, so counting is locked. With a total (the clients
    the import plans to create) the line also gives the share done and the time left at the
    average rate so far; cards arrive while they are uploaded, so their line has no total.
    """

    logger: logging.Logger
    what: str
    every: int
    total: int | None = None
    seconds: float = PROGRESS_SECONDS
    clock: Callable[[], float] = time.monotonic
    done: int = field(default=0, init=False)
    lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.started = self.last_line = self.clock()
        self.next_line_at = self.every

    def advance(self) -> None:
        """Count one finished write; log a line when enough writes or time have passed."""
        with self.lock:
            self.done += 1
            now = self.clock()
            if self.done < self.next_line_at and now - self.last_line < self.seconds:
                return
            self.last_line, self.next_line_at = now, self.done + self.every
            line = self.line(now)
        self.logger.info("%s", line)

    def line(self, now: float) -> str:
        """`Clients created: 250 of 9000 (2%), 12.5/s, about 12 min left`."""
        rate = self.done / max(now - self.started, 1e-6)
        if not self.total:
            return f"{self.what}: {self.done} so far, {rate:.1f}/s"
        left = max(self.total - self.done, 0) / rate
        wait = f"{left / 60:.0f} min" if left >= 120 else f"{left:.0f} s"
        return (
            f"{self.what}: {self.done} of {self.total} ({100 * self.done // self.total}%), "
            f"{rate:.1f}/s, about {wait} left"
        )
