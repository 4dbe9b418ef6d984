"""The tasks stream: off unless selected, then every task, page by page, as AdminPulse has it."""

from __future__ import annotations

import math

from adminpulse_tap_helpers import FAST_RATE_SCALE, records, run_tap, tap_config
from tap_adminpulse.tap import TapAdminPulse

PAGE_SIZE = 25


def catalog_selecting(config: dict, *streams: str) -> dict:
    """The tap's discovered catalog with exactly these streams selected."""
    catalog = TapAdminPulse(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        root = next(m for m in entry["metadata"] if m["breadcrumb"] == [])
        root["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def test_tasks_are_not_read_unless_selected(sandbox_factory):
    sandbox = sandbox_factory(rate_scale=FAST_RATE_SCALE)
    sandbox.seed(30, seed=4)

    messages = run_tap(tap_config(sandbox))

    assert records(messages, "tasks") == []
    assert sandbox.request_count("adminpulse", endpoint="/tasks") == 0


def test_a_selected_tasks_stream_emits_every_task_reading_each_page_once(sandbox_factory):
    sandbox = sandbox_factory(rate_scale=FAST_RATE_SCALE)
    sandbox.seed(60, seed=4)
    tasks = sandbox.dump("adminpulse")["tasks"]
    config = tap_config(sandbox, page_size=PAGE_SIZE)
    sandbox.reset_requests()

    messages = run_tap(config, catalog=catalog_selecting(config, "tasks"))

    assert len(tasks) > PAGE_SIZE
    assert sorted(records(messages, "tasks"), key=lambda task: task["id"]) == sorted(
        tasks, key=lambda task: task["id"]
    )
    assert sandbox.request_count("adminpulse", endpoint="/tasks") == math.ceil(
        len(tasks) / PAGE_SIZE
    )
    assert records(messages, "relations") == []
    schema = next(m for m in messages if m["type"] == "SCHEMA" and m["stream"] == "tasks")
    assert schema["key_properties"] == ["id"]
