"""Errors that stop the tap with a message naming the problem, not a traceback."""

from __future__ import annotations

from singer_sdk.exceptions import FatalAPIError


class SetupError(FatalAPIError):
    """A mistake in the settings or the token's rights, which only the operator can fix."""
