"""Pytest fixtures that give a test its own running sandbox (registered as a pytest11 plugin).

`sandbox` is a started `SandboxProcess` on free ports with its own database in the test's
`tmp_path`, stopped after the test. `sandbox_factory` starts more, or with other options:

    def test_backs_off(sandbox_factory):
        slow = sandbox_factory(rate_scale=0.1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from amlsync_sandbox.testing import SandboxProcess


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[Callable[..., SandboxProcess]]:
    """Start sandboxes on demand (each on its own database); all are stopped after the test."""
    started: list[SandboxProcess] = []

    def start(*, rate_scale: float | None = None, name: str = "sandbox") -> SandboxProcess:
        process = SandboxProcess(tmp_path / f"{name}.db", rate_scale=rate_scale)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., SandboxProcess]) -> SandboxProcess:
    """A running sandbox with the base world, private to this test."""
    return sandbox_factory()
