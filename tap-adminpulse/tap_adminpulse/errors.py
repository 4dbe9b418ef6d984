"""Errors that stop the tap with a message naming the problem, not a traceback."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import requests
from singer_sdk.exceptions import FatalAPIError

_CERTIFICATE_PROBLEM = re.compile(r"certificate verify failed: ([^(')]+)")


class SetupError(FatalAPIError):
    """A mistake in the settings or the token's rights, which only the operator can fix."""


def where(error: requests.RequestException) -> str:
    """The scheme and host of the request that failed, never its path or query string."""
    request = getattr(error, "request", None)
    url = urlparse(str(getattr(request, "url", "") or ""))
    return f"{url.scheme}://{url.netloc}" if url.netloc else "AdminPulse"


def tls_failure(error: requests.exceptions.SSLError) -> SetupError:
    """A certificate that could not be checked: no retry will fix it."""
    found = _CERTIFICATE_PROBLEM.search(str(error))
    reason = found.group(1).strip() if found else "TLS handshake failed"
    return SetupError(
        f"The TLS certificate of {where(error)} could not be verified ({reason}): give the "
        "server a valid certificate, or for a test server only set verify_tls to false."
    )


def unreachable(error: Exception, tries: int) -> str:
    """One line for a run that gave up on AdminPulse after every retry."""
    if isinstance(error, requests.RequestException) and error.response is None:
        return (
            f"Could not reach {where(error)} after {tries} tries ({type(error).__name__}): "
            "check the setting base_url, the network, and that AdminPulse is up."
        )
    return (
        f"AdminPulse kept failing after {tries} tries ({error}): it is down or overloaded; "
        "the next run starts again from the last saved bookmark."
    )
