"""Progress on long reads: every 500 records (or 30 s) a line with the count so far and the rate."""

from __future__ import annotations

import re

from test_tap_amlcare_incremental import run_tap

LARGE_OFFICE = 600  # enough AMLCare document versions to pass the every-500 line


def test_a_long_read_logs_how_many_records_so_far_and_how_fast(sandbox, tmp_path):
    sandbox.seed(clients=LARGE_OFFICE, seed=5)
    sandbox.faults(rate_scale=50)

    records, _, stderr = run_tap(
        sandbox, tmp_path, include_document_content=False, requests_per_minute=20000
    )

    documents = [r for r in records if r["stream"] == "documents"]
    assert len(documents) >= 500
    lines = [
        line for line in stderr.splitlines() if "documents: " in line and "read so far" in line
    ]
    assert lines
    assert re.search(r"documents: 500 read so far, \d+\.\d/s", lines[0])
