"""A bounded pool of write lanes: different clients concurrently, one client's records in order."""

from __future__ import annotations

import threading
import typing as t
import zlib
from concurrent.futures import Future, ThreadPoolExecutor

# Records waiting per lane beyond the one being written: enough to keep every lane busy, few
# enough that a stream of large documents never piles up in memory.
BACKLOG_PER_LANE = 2


class LanePool:
    """Writes records on a fixed number of single-thread lanes, each key always on the same lane.

    All records of one key (one client's relation) therefore run one after the other in arrival
    order, while records of other keys run beside them. `submit` blocks while the backlog is
    full, so the input is read no faster than AdminPulse takes it. The first failure in a lane
    is raised by the next `submit` or `drain`, and lanes skip what is still queued, so the run
    fails and its state stays where it was, as it would with one request at a time.
    """

    def __init__(self, lanes: int) -> None:
        self.lanes = [
            ThreadPoolExecutor(1, thread_name_prefix=f"adminpulse-lane-{number}")
            for number in range(max(1, lanes))
        ]
        self._pending = 0
        self._changed = threading.Condition()
        self._failure: BaseException | None = None

    @property
    def size(self) -> int:
        """How many records may be written at the same time."""
        return len(self.lanes)

    def submit(self, key: str, work: t.Callable[..., object], *args: t.Any) -> None:
        """Queue `work(*args)` on the lane of `key`, once the backlog has room."""
        with self._changed:
            self._changed.wait_for(
                lambda: (
                    self._failure is not None or self._pending < self.size * (1 + BACKLOG_PER_LANE)
                )
            )
            self._raise_failure()
            self._pending += 1
        lane = self.lanes[zlib.crc32(key.encode("utf-8")) % self.size]
        lane.submit(self._run, work, *args).add_done_callback(self._done)

    def drain(self) -> None:
        """Wait until every queued record is written or rejected; raise the first failure."""
        with self._changed:
            self._changed.wait_for(lambda: self._pending == 0)
            self._raise_failure()

    def close(self) -> None:
        """Stop the lanes; after a failure, without waiting for what is still queued."""
        for lane in self.lanes:
            lane.shutdown(wait=self._failure is None, cancel_futures=True)

    def _run(self, work: t.Callable[..., object], *args: t.Any) -> None:
        if self._failure is not None:
            return  # the run has failed: write nothing more
        work(*args)

    def _done(self, future: Future[None]) -> None:
        error = None if future.cancelled() else future.exception()
        with self._changed:
            self._pending -= 1
            if error is not None and self._failure is None:
                self._failure = error
            self._changed.notify_all()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
