"""tap-amlcare's output fits target-adminpulse's input contract, by schema and by real records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tap_amlcare.tap import TapAMLCare
from target_adminpulse import contract

TAP = str(Path(sys.executable).parent / "tap-amlcare")
# The contract rejects a record whose key is missing or malformed on purpose (it matches no
# relation); those are the only violations a real AMLCare record may show.
KEY_FIELDS = {"key", "client_key"}


def tap_schemas() -> dict[str, dict]:
    tap = TapAMLCare(config={"base_url": "http://127.0.0.1:1/v1", "api_key": "unused"})
    return {name: stream.schema for name, stream in tap.streams.items()}


def as_types(schema: dict) -> set[str]:
    types = schema.get("type", [])
    return {types} if isinstance(types, str) else set(types)


def test_every_field_the_target_reads_is_declared_by_the_tap():
    schemas = tap_schemas()
    for stream, wanted in contract.SCHEMAS.items():
        offered = schemas[stream]["properties"]
        for name, rule in wanted["properties"].items():
            assert name in offered, f"{stream}.{name}"
            if "enum" in rule:
                assert set(offered[name]["enum"]) - {None} <= set(rule["enum"]), f"{stream}.{name}"
            elif "type" in rule:
                overlap = as_types(offered[name]) & as_types(rule)
                assert overlap - {"null"}, f"{stream}.{name}"


def test_nested_fields_the_target_reads_are_declared_by_the_tap():
    offered = tap_schemas()["clients"]["properties"]
    assert set(contract.CLIENT_SCHEMA["properties"]["cap"]["properties"]) <= set(
        offered["cap"]["properties"]
    )
    assert set(contract.CLIENT_SCHEMA["properties"]["id_card"]["properties"]) <= set(
        offered["id_card"]["properties"]
    )


def test_records_the_tap_reads_from_a_generated_office_meet_the_contract(sandbox, tmp_path):
    sandbox.seed(clients=40, seed=3)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"base_url": sandbox.amlcare_url, "api_key": sandbox.amlcare_key}))

    completed = subprocess.run(
        [TAP, "--config", str(config)], capture_output=True, text=True, timeout=300, check=True
    )

    records = [
        message
        for message in map(json.loads, completed.stdout.splitlines())
        if message["type"] == "RECORD" and message["stream"] in contract.SCHEMAS
    ]
    assert {r["stream"] for r in records} == set(contract.SCHEMAS)
    for message in records:
        problems = contract.violations(message["stream"], message["record"])
        assert all(problem.split(":")[0] in KEY_FIELDS for problem in problems), problems


def test_the_tap_gives_the_target_one_record_per_document_version(sandbox, tmp_path):
    sandbox.seed(clients=40, seed=3)
    stored = sandbox.dump("amlcare")["documents"]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"base_url": sandbox.amlcare_url, "api_key": sandbox.amlcare_key}))

    completed = subprocess.run(
        [TAP, "--config", str(config)], capture_output=True, text=True, timeout=300, check=True
    )

    documents = [
        message["record"]
        for message in map(json.loads, completed.stdout.splitlines())
        if message["type"] == "RECORD" and message["stream"] == contract.DOCUMENTS
    ]
    expected = {
        (document["id"], version["version"], version["status"], version["created_at"])
        for document in stored
        for version in document["versions"]
    }
    assert any(version == 3 for _, version, _, _ in expected), "a signed form with 3 versions"
    assert {
        (r["id"], r["version"], r["status"], r["version_created_at"]) for r in documents
    } == expected
    assert len(documents) == len(expected)
