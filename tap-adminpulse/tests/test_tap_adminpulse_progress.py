"""Progress on long reads: count, rate and, once the total is known, the time left."""

from __future__ import annotations

import logging
import re

from adminpulse_tap_helpers import FAST_RATE_SCALE, run_tap, tap_config
from tap_adminpulse.progress import Progress

# Enough clients that the relations read passes the every-1000-rows line.
LARGE_OFFICE = 1200


def test_a_long_relations_read_logs_its_count_of_the_announced_total_rate_and_time_left(
    sandbox_factory, caplog
):
    sandbox = sandbox_factory(rate_scale=FAST_RATE_SCALE)
    sandbox.seed(LARGE_OFFICE, seed=5)
    total = len(sandbox.dump("adminpulse")["relations"])

    with caplog.at_level(logging.INFO):
        run_tap(tap_config(sandbox, include_document_content=False))

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Relations read")]
    assert total > 1000
    assert lines[0].startswith(f"Relations read: 1000 of {total} ({100_000 // total}%), ")
    assert re.search(r", \d+\.\d/s, about \d+ s left$", lines[0])


def test_a_line_comes_every_n_rows_or_after_thirty_seconds_whichever_is_first(caplog):
    now = [0.0]
    logger = logging.getLogger("progress-test")
    progress = Progress(logger, "Relations read", every=1000, total=4000, clock=lambda: now[0])

    with caplog.at_level(logging.INFO, logger="progress-test"):
        now[0] = 10.0
        progress.advance(500)  # neither 1000 rows nor 30 s yet
        now[0] = 31.0
        progress.advance(100)  # 30 s since the start
        now[0] = 40.0
        progress.advance(1000)  # 1000 rows since the last line
        now[0] = 45.0
        progress.advance(10)

    assert [r.getMessage() for r in caplog.records] == [
        "Relations read: 600 of 4000 (15%), 19.4/s, about 2 min 56 s left",
        "Relations read: 1600 of 4000 (40%), 40.0/s, about 1 min 0 s left",
    ]


def test_without_a_total_the_line_gives_count_and_rate_only(caplog):
    now = [0.0]
    progress = Progress(
        logging.getLogger("progress-test"), "Files", every=100, clock=lambda: now[0]
    )

    with caplog.at_level(logging.INFO, logger="progress-test"):
        now[0] = 4.0
        progress.advance(100)

    assert [r.getMessage() for r in caplog.records] == ["Files: 100 so far, 25.0/s"]
