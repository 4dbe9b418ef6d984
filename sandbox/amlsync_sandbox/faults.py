"""Faults the sandbox injects on purpose, as stored settings, and the draw for one request.

Settings live in the database per service, so any process (CLI, tests, server) can change them;
a running server re-reads them at most every half second.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from amlsync_sandbox import storage


@dataclass(frozen=True)
class FaultSettings:
    """How one service misbehaves on purpose, and how its rate limits are scaled.

    Each share is a probability from 0 to 1, drawn independently per request in this order:
    dropped connection, 5xx answer, 429 answer. Latency applies to every API call; a slow
    response adds `slow_ms` on top for a `slow_rate` share of them.
    """

    latency_ms: int = 0
    error_rate: float = 0.0
    rate_429: float = 0.0
    retry_after_share: float = 1.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: int = 0
    rate_scale: float = 1.0

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: FaultSettings | None = None) -> FaultSettings:
        """Apply `values` on top of `base` (or the defaults), checking every one.

        Raises:
            ValueError: an unknown name or a value out of range; the message says which.
        """
        known = {field.name: field.type for field in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        checked: dict[str, Any] = {}
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, not {value!r}")
            if name.endswith("_ms"):
                if value < 0 or value != int(value):
                    raise ValueError(f"{name} must be a whole number of milliseconds >= 0")
                checked[name] = int(value)
            elif name == "rate_scale":
                if value <= 0:
                    raise ValueError("rate_scale must be greater than 0")
                checked[name] = float(value)
            else:
                if not 0 <= value <= 1:
                    raise ValueError(f"{name} is a share and must lie between 0 and 1")
                checked[name] = float(value)
        return replace(base or cls(), **checked)

    def cleared(self) -> FaultSettings:
        """No faults at all; the rate-limit scale is not a fault and stays."""
        return FaultSettings(rate_scale=self.rate_scale)

    def as_dict(self) -> dict[str, Any]:
        """The settings as stored and shown."""
        return asdict(self)


def settings_name(service: str) -> str:
    """The name under which a service's fault settings are stored."""
    return f"faults.{service}"


def read_faults(conn: sqlite3.Connection, service: str) -> FaultSettings:
    """A service's current fault settings."""
    return FaultSettings.from_dict(storage.get_setting(conn, settings_name(service), {}))


def write_faults(conn: sqlite3.Connection, service: str, settings: FaultSettings) -> None:
    """Store a service's fault settings; running servers pick them up within half a second."""
    storage.put_setting(conn, settings_name(service), settings.as_dict())


@dataclass(frozen=True)
class FaultDecision:
    """What happens to one request before its handler may run."""

    delay_seconds: float = 0.0
    drop: bool = False
    status: int | None = None
    retry_after: bool = True


def decide_fault(
    settings: FaultSettings, draw: Callable[[], float] = random.random
) -> FaultDecision:
    """Roll the dice for one API request."""
    delay = settings.latency_ms / 1000
    if settings.slow_rate and draw() < settings.slow_rate:
        delay += settings.slow_ms / 1000
    if settings.drop_rate and draw() < settings.drop_rate:
        return FaultDecision(delay_seconds=delay, drop=True)
    if settings.error_rate and draw() < settings.error_rate:
        # Half plain failures, half "come back later": clients treat the two differently.
        return FaultDecision(delay_seconds=delay, status=500 if draw() < 0.5 else 503)
    if settings.rate_429 and draw() < settings.rate_429:
        return FaultDecision(
            delay_seconds=delay,
            status=429,
            retry_after=draw() < settings.retry_after_share,
        )
    return FaultDecision(delay_seconds=delay)
