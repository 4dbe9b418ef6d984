"""The connectors keep their own pace: a first import meets no 429 and stays within its budget.

The sandbox enforces AdminPulse's 480 calls a minute and AMLCare's 1200 in a sliding minute, and
logs every call it answers with the time. A first import of a whole office runs through Meltano
with the connectors' default budgets (240 and 600 a minute, half the limits); then:
- the sandbox answered no 429 (no fault is injected, so any 429 would be the connectors' pace);
- in no sliding minute did a service receive more calls than the budget of the connector that
  calls it, read from the sandbox's log.

Real limits make a large first import last an hour, so the CI form imports 1,000 clients with the
limits and the budgets both multiplied by 10; `--long` imports 10,000 clients the same way, and
AMLSYNC_PACE_SCALE=1 with `--long` runs it at the real limits (more than an hour).
"""

from __future__ import annotations

import os
import re
from datetime import datetime

import pytest
from amlsync_sandbox.testing import SandboxProcess
from guarantee_runs import IMPORT_JOB, new_office

pytestmark = pytest.mark.e2e

SEED = 2
# The connectors' defaults (tap_adminpulse.tap, target_amlcare.target).
TAP_BUDGET = 240
TARGET_BUDGET = 600
SCALE = float(os.environ.get("AMLSYNC_PACE_SCALE", "10"))
WINDOW_SECONDS = 60.0
# A call is logged when it is answered, not when it leaves the connector: an answer that takes
# this long can move a call into the next window, so a window may show the calls of this much
# more time (on a loaded 2-core machine the sandbox's answers vary by a few hundred ms).
ANSWER_DELAY_SECONDS = 0.5
LOG_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO amlsync_sandbox: "
    r":(?P<port>\d+) (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3})$"
)


def answered_at(log: str, port: int) -> list[float]:
    """When each API call on one port was answered, in seconds, from the sandbox's log."""
    times = []
    for line in log.splitlines():
        match = LOG_LINE.match(line)
        if match and int(match["port"]) == port and not match["path"].startswith("/_sandbox"):
            moment = datetime.strptime(match["time"], "%Y-%m-%d %H:%M:%S,%f")
            times.append(moment.timestamp())
    return sorted(times)


def busiest_window(times: list[float], seconds: float) -> int:
    """The most calls answered within any sliding window of `seconds`."""
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def within_budget(times: list[float], budget: int) -> None:
    """No minute over the budget, and no tenth of a minute over its tenth of the budget.

    The sandbox counts calls per sliding minute, which a short run could meet in one burst; the
    shorter window shows the calls are spread evenly, as a budget is meant.
    """
    per_second = budget / WINDOW_SECONDS
    for seconds in (WINDOW_SECONDS, WINDOW_SECONDS / 10):
        allowed = per_second * (seconds + ANSWER_DELAY_SECONDS)
        busiest = busiest_window(times, seconds)
        assert busiest <= allowed, f"{busiest} calls in {seconds:.0f} s, budget {budget}/min"


def check_first_import(tmp_path, clients: int) -> None:
    tap_budget, target_budget = round(TAP_BUDGET * SCALE), round(TARGET_BUDGET * SCALE)
    with SandboxProcess(tmp_path / "world.db", rate_scale=SCALE) as sandbox:
        sandbox.seed(clients, seed=SEED)
        office = new_office(
            sandbox,
            tmp_path / "project",
            rate_scale=SCALE,
            TAP_ADMINPULSE_REQUESTS_PER_MINUTE=str(tap_budget),
            TARGET_AMLCARE_REQUESTS_PER_MINUTE=str(target_budget),
        )
        sandbox.reset_requests()

        office.run("run", IMPORT_JOB)

        calls = {service: sandbox.requests(service) for service in ("adminpulse", "amlcare")}
        log = (tmp_path / "world.log").read_text()
        adminpulse_times = answered_at(log, sandbox.adminpulse_port)
        amlcare_times = answered_at(log, sandbox.amlcare_port)

    created = [
        row
        for row in calls["amlcare"]
        if row["method"] == "POST" and row["endpoint"] == "/v1/clients"
    ]
    assert sum(row["count"] for row in created) >= clients // 2, "a real first import ran"
    for service, rows in calls.items():
        assert not [row for row in rows if row["status"] == 429], f"{service} answered 429"
    assert len(adminpulse_times) == sum(row["count"] for row in calls["adminpulse"])
    assert len(amlcare_times) == sum(row["count"] for row in calls["amlcare"])
    within_budget(adminpulse_times, tap_budget)
    within_budget(amlcare_times, target_budget)


def test_a_first_import_of_1000_clients_meets_no_429_and_keeps_its_budgets(tmp_path):
    check_first_import(tmp_path, 1000)


@pytest.mark.long
@pytest.mark.timeout(6 * 3600)
def test_a_first_import_of_10000_clients_meets_no_429_and_keeps_its_budgets(tmp_path):
    check_first_import(tmp_path, 10_000)
