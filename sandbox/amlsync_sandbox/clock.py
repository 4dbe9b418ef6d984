"""The two services' clocks and timestamp formats."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

# AdminPulse writes local Belgian time without an offset, to the second.
ADMINPULSE_ZONE = ZoneInfo("Europe/Brussels")
ADMINPULSE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
ADMINPULSE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# AMLCare writes UTC with microseconds and "Z"; one fixed width keeps text order = time order,
# which is what lets SQLite sort and compare them as strings.
AMLCARE_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def adminpulse_now() -> str:
    """The current time as AdminPulse writes it: `2026-11-30T14:05:09`."""
    return datetime.now(ADMINPULSE_ZONE).strftime("%Y-%m-%dT%H:%M:%S")


def adminpulse_now_naive() -> datetime:
    """The current Belgian local time, without an offset, for comparing with AdminPulse dates."""
    return datetime.now(ADMINPULSE_ZONE).replace(tzinfo=None)


def amlcare_timestamp(moment: datetime) -> str:
    """Write an aware datetime as AMLCare does: `2026-11-30T13:05:09.123456Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def amlcare_now() -> str:
    """The current time as AMLCare writes it."""
    return amlcare_timestamp(datetime.now(UTC))


def amlcare_write_time(newest: str | None) -> str:
    """The timestamp of a new AMLCare write: now, but always after `newest`, the latest stored.

    Strictly increasing per table even if the clock steps back or a loaded world holds
    timestamps in the future, so "changed since the newest I saw" never misses a write.
    """
    now = datetime.now(UTC)
    if newest is not None:
        latest = datetime.strptime(newest, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        now = max(now, latest + timedelta(microseconds=1))
    return amlcare_timestamp(now)


def parse_aware(value: str) -> datetime:
    """Read an ISO-8601 moment that states its offset (`...Z` or `...+01:00`).

    Raises:
        ValueError: not ISO-8601, or without an offset (which would leave the moment ambiguous).
    """
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 date and time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone; add Z for UTC")
    return moment
