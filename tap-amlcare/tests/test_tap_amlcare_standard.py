"""The Singer SDK's standard tap tests, run against a sandbox holding a small generated office."""

from __future__ import annotations

import atexit
import tempfile
from pathlib import Path

from amlsync_sandbox.testing import SandboxProcess
from singer_sdk.testing import get_tap_test_class
from tap_amlcare.tap import TapAMLCare

# The standard test class is built at import time from a config, so the sandbox it reads must
# already run; it is stopped when the test session ends.
_sandbox = SandboxProcess(Path(tempfile.mkdtemp(prefix="tap-amlcare-")) / "sandbox.db").start()
atexit.register(_sandbox.stop)
_sandbox.seed(clients=20, seed=3)

TestTapAMLCare = get_tap_test_class(
    tap_class=TapAMLCare,
    config={
        "base_url": _sandbox.amlcare_url,
        "api_key": _sandbox.amlcare_key,
        "page_size": 5,
    },
)
