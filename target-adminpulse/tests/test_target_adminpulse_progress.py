"""Progress on long runs: every 100 records (or 30 s) the count, rate and outcomes so far."""

from __future__ import annotations

import re

from test_target_adminpulse_writes import (  # noqa: F401 - office and run_target are fixtures
    COMPANY_KBO,
    client,
    messages,
    office,
    run_target,
)


def test_a_long_run_logs_its_count_rate_and_outcomes_every_hundred_records(
    office,  # noqa: F811 - the writes tests' fixture
    run_target,  # noqa: F811
):
    # Clients without any compliance value are skipped without a request: a fast long run.
    clients = [client(f"cl_{n}", COMPANY_KBO) for n in range(250)]

    run = run_target(messages(clients=clients))

    lines = [line for line in run.completed.stderr.splitlines() if "Progress: " in line]
    assert len(lines) == 2
    assert re.search(r"Progress: 100 records \(\d+\.\d/s\), skipped 100; 0 requests sent", lines[0])
    assert re.search(r"Progress: 200 records \(\d+\.\d/s\), skipped 200;", lines[1])
