"""Progress on long imports: clients created of the planned total, the rate and the time left."""

from __future__ import annotations

import logging
import re

from target_amlcare.progress import Progress
from test_target_amlcare_import import messages, nrn, relation, run_target

NEW_CLIENTS = 260  # past the every-250 line


def test_creating_many_clients_logs_how_many_of_the_planned_total_how_fast_and_time_left(
    sandbox, tmp_path
):
    relations = [
        relation(f"p{n}", nationalRegisterNumber=nrn("850730", n))
        for n in range(1, NEW_CLIENTS + 1)
    ]

    completed, report = run_target(sandbox, tmp_path, messages(relations))

    assert report["counts"]["created"] == NEW_CLIENTS
    lines = [line for line in completed.stderr.splitlines() if "Clients created:" in line]
    assert len(lines) == 1
    assert re.search(
        rf"Clients created: 250 of {NEW_CLIENTS} \(96%\), \d+\.\d/s, about \d+ s left", lines[0]
    )


def test_a_line_comes_after_thirty_seconds_even_before_the_count_is_reached(caplog):
    now = [0.0]
    progress = Progress(
        logging.getLogger("progress-test"), "Identity cards", every=250, clock=lambda: now[0]
    )

    with caplog.at_level(logging.INFO, logger="progress-test"):
        now[0] = 12.0
        progress.advance()
        now[0] = 32.0
        progress.advance()

    assert [r.getMessage() for r in caplog.records] == ["Identity cards: 2 so far, 0.1/s"]


def test_a_long_wait_is_told_in_minutes(caplog):
    now = [0.0]
    progress = Progress(
        logging.getLogger("progress-test"),
        "Clients created",
        every=1,
        total=9000,
        clock=lambda: now[0],
    )

    with caplog.at_level(logging.INFO, logger="progress-test"):
        now[0] = 2.0
        progress.advance()

    assert [r.getMessage() for r in caplog.records] == [
        "Clients created: 1 of 9000 (0%), 0.5/s, about 300 min left"
    ]
