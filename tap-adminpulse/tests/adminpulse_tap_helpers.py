"""Helpers for the tap's tests: run the tap in-process and collect its Singer output."""

from __future__ import annotations

import io
import json
import typing as t
from contextlib import redirect_stdout

from tap_adminpulse.tap import TapAdminPulse

# The sandbox enforces AdminPulse's real limits unless scaled; tests that are not about pace
# lift them and give the tap a budget to match.
FAST_RATE_SCALE = 50
FAST_BUDGET = 20000


def tap_config(sandbox: t.Any, **overrides: t.Any) -> dict[str, t.Any]:
    """Settings that point the tap at a test's sandbox."""
    return {
        "base_url": sandbox.adminpulse_url,
        "api_key": sandbox.adminpulse_token,
        "requests_per_minute": FAST_BUDGET,
        **overrides,
    }


def run_tap(
    config: dict[str, t.Any], state: dict | None = None, catalog: dict | None = None
) -> list[dict[str, t.Any]]:
    """Run a full sync and return the Singer messages it wrote."""
    tap = TapAdminPulse(config=config, state=state, catalog=catalog, parse_env_config=False)
    output = io.StringIO()
    with redirect_stdout(output):
        tap.sync_all()
    return [json.loads(line) for line in output.getvalue().splitlines() if line.strip()]


def records(messages: list[dict], stream: str) -> list[dict]:
    """The records of one stream."""
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def final_state(messages: list[dict]) -> dict:
    """The last state the tap emitted."""
    return [m["value"] for m in messages if m["type"] == "STATE"][-1]
