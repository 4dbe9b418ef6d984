"""The Singer SDK's standard tap tests, against a seeded sandbox over HTTP."""

from __future__ import annotations

import atexit
import tempfile
from pathlib import Path

from adminpulse_tap_helpers import FAST_BUDGET, FAST_RATE_SCALE
from amlsync_sandbox.testing import SandboxProcess
from singer_sdk.testing import get_tap_test_class
from tap_adminpulse.tap import TapAdminPulse

# The standard test class is built at import time from a config, so the sandbox it reads must
# already run: one for this module, stopped when the test session's interpreter exits.
_FOLDER = Path(tempfile.mkdtemp(prefix="tap-adminpulse-standard-"))
_SANDBOX = SandboxProcess(_FOLDER / "world.db", rate_scale=FAST_RATE_SCALE).start()
atexit.register(_SANDBOX.stop)
_SANDBOX.seed(40, seed=5)

_CONFIG = {
    "base_url": _SANDBOX.adminpulse_url,
    "api_key": _SANDBOX.adminpulse_token,
    "requests_per_minute": FAST_BUDGET,
}
# Every stream selected, tasks too: the SDK's dry run forces unselected streams to sync but
# keeps their fields unselected, which its own schema test then reads as a mismatch.
_CATALOG = TapAdminPulse(config=_CONFIG, parse_env_config=False).catalog_dict
for _entry in _CATALOG["streams"]:
    next(m for m in _entry["metadata"] if m["breadcrumb"] == [])["metadata"]["selected"] = True

TestTapAdminPulse = get_tap_test_class(tap_class=TapAdminPulse, config=_CONFIG, catalog=_CATALOG)
