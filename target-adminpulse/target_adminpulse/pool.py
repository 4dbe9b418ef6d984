"""A bounded pool of write lanes: different clients concurrently, one client's records in order."""

from __future__ import annotations

import threading
import typing as t
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

# Records waiting per lane beyond the one being written: enough to keep every lane busy, few
# enough that a stream of large documents never piles up in memory.
BACKLOG_PER_LANE = 2


@dataclass(frozen=True)
class LaneGroup:
    """Lanes that one kind of record has to itself, and how many may wait on each."""

    lanes: int
    backlog_per_lane: int = BACKLOG_PER_LANE


class LanePool:
    """Writes records on fixed single-thread lanes, each key always on the same lane of its group.

    All records of one key (one client's relation) in one group therefore run one after the
    other in arrival order, while records of other keys run beside them. A group has lanes and a
    backlog of its own: records of a kind that waits on a pace of its own (uploads) are not stuck
    behind another kind's queue, and a kind that is cheap to hold may wait in numbers. `submit`
    blocks while its group's backlog is full, so the input is read no faster than AdminPulse
    takes it. The first failure in any lane is raised by the next `submit` or `drain`, and every
    lane skips what is still queued, so the run fails and its state stays where it was, as it
    would with one request at a time.
    """

    def __init__(self, groups: dict[str, LaneGroup]) -> None:
        self._lanes = {
            name: [
                ThreadPoolExecutor(1, thread_name_prefix=f"adminpulse-{name}-lane-{number}")
                for number in range(max(1, group.lanes))
            ]
            for name, group in groups.items()
        }
        self._room = {
            name: len(self._lanes[name]) * (1 + group.backlog_per_lane)
            for name, group in groups.items()
        }
        self._pending = dict.fromkeys(groups, 0)
        self._changed = threading.Condition()
        self._failure: BaseException | None = None

    @property
    def size(self) -> int:
        """How many records may be written at the same time."""
        return sum(len(lanes) for lanes in self._lanes.values())

    def submit(self, group: str, key: str, work: t.Callable[..., object], *args: t.Any) -> None:
        """Queue `work(*args)` on the lane of `key` in `group`, once the group has room."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._failure is not None or self._pending[group] < self._room[group]
            )
            self._raise_failure()
            self._pending[group] += 1
        lanes = self._lanes[group]
        lane = lanes[zlib.crc32(key.encode("utf-8")) % len(lanes)]
        lane.submit(self._run, work, *args).add_done_callback(partial(self._done, group))

    def drain(self) -> None:
        """Wait until every queued record is written or rejected; raise the first failure."""
        with self._changed:
            self._changed.wait_for(lambda: not any(self._pending.values()))
            self._raise_failure()

    def close(self) -> None:
        """Stop the lanes; after a failure, without waiting for what is still queued."""
        for lanes in self._lanes.values():
            for lane in lanes:
                lane.shutdown(wait=self._failure is None, cancel_futures=True)

    def _run(self, work: t.Callable[..., object], *args: t.Any) -> None:
        if self._failure is not None:
            return  # the run has failed: write nothing more
        work(*args)

    def _done(self, group: str, future: Future[None]) -> None:
        error = None if future.cancelled() else future.exception()
        with self._changed:
            self._pending[group] -= 1
            if error is not None and self._failure is None:
                self._failure = error
            self._changed.notify_all()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
