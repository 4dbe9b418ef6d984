"""tap-adminpulse's output satisfies target-amlcare's input contract.

The two connectors share no code; this test is what holds them together. It checks the tap's
declared schemas against the target's contract, then real records read from a seeded sandbox.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest
from tap_adminpulse.tap import TapAdminPulse
from target_amlcare.contract import STREAM_SCHEMAS, contract_problem

TAP_CONFIG = {"api_key": "unused", "base_url": "http://127.0.0.1:9"}


def types_of(schema: dict) -> set[str]:
    declared = schema.get("type")
    if declared is None and "enum" in schema:
        return {"string"}
    if declared is None and "anyOf" in schema:
        return set().union(*(types_of(option) for option in schema["anyOf"]))
    return {declared} if isinstance(declared, str) else set(declared or [])


def tap_schemas() -> dict[str, dict]:
    tap = TapAdminPulse(config=TAP_CONFIG, parse_env_config=False)
    return {name: stream.schema for name, stream in tap.streams.items()}


def test_the_tap_offers_every_stream_the_target_accepts():
    assert set(STREAM_SCHEMAS) <= set(tap_schemas())


@pytest.mark.parametrize("stream", sorted(STREAM_SCHEMAS))
def test_every_field_the_target_reads_is_declared_by_the_tap_with_a_compatible_type(stream):
    offered = tap_schemas()[stream]["properties"]
    contract = STREAM_SCHEMAS[stream]

    for name in contract.get("required", []):
        assert name in offered, f"{stream}.{name} is required by the target, not sent by the tap"
    for name, expected in contract["properties"].items():
        assert name in offered, f"{stream}.{name} is read by the target, not sent by the tap"
        wanted = types_of(expected) - {"null"}
        sent = types_of(offered[name]) - {"null"}
        assert sent <= wanted or not wanted, (
            f"{stream}.{name}: tap sends {sent}, target takes {wanted}"
        )


def test_records_the_tap_reads_from_a_seeded_office_all_meet_the_contract(sandbox_factory):
    sandbox = sandbox_factory(rate_scale=50)
    sandbox.seed(80, seed=4)
    config = {
        "base_url": sandbox.adminpulse_url,
        "api_key": sandbox.adminpulse_token,
        "requests_per_minute": 20000,
    }
    output = io.StringIO()
    with redirect_stdout(output):
        TapAdminPulse(config=config, parse_env_config=False).sync_all()

    seen = dict.fromkeys(STREAM_SCHEMAS, 0)
    for line in output.getvalue().splitlines():
        message = json.loads(line)
        if message["type"] != "RECORD" or message["stream"] not in STREAM_SCHEMAS:
            continue
        seen[message["stream"]] += 1
        problem = contract_problem(message["stream"], message["record"])
        assert problem is None, f"{message['stream']}: {problem}"
    assert all(seen.values()), seen
