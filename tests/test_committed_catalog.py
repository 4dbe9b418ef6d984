"""The catalog committed for tap-amlcare is the one the tap discovers.

Meltano uses the committed file instead of running discovery before each outbound sync, so a
stream or field added to the tap must be added to the file too (regenerate it with
`tap-amlcare --config <any config> --discover > extract/tap-amlcare.catalog.json`).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMMITTED = PROJECT_ROOT / "extract" / "tap-amlcare.catalog.json"
TAP = PROJECT_ROOT / ".meltano" / "extractors" / "tap-amlcare" / "venv" / "bin" / "tap-amlcare"


def test_committed_tap_amlcare_catalog_matches_discovery(tmp_path):
    config = tmp_path / "config.json"
    # Discovery reads no API: any URL and key will do.
    config.write_text(json.dumps({"base_url": "http://127.0.0.1:9/v1", "api_key": "unused"}))
    discovered = subprocess.run(
        [str(TAP), "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout

    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == json.loads(discovered)
