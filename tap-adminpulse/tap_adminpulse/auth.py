"""AdminPulse authentication: a personal API key, or OAuth with a refresh token."""

from __future__ import annotations

import datetime
import logging

import requests
from singer_sdk.authenticators import OAuthAuthenticator

from tap_adminpulse.errors import SetupError, tls_failure

# Refresh a little before AdminPulse says the token expires, so no request carries a token
# that expires on the way.
EXPIRY_MARGIN_SECONDS = 60
TOKEN_REQUEST_TIMEOUT_SECONDS = 60

logger = logging.getLogger(__name__)


class RefreshTokenAuthenticator(OAuthAuthenticator):
    """Trades the integration's refresh token for access tokens, and refreshes them in time.

    AdminPulse's OAuth uses the authorization-code flow once (by a person, in a browser); the
    tap only ever holds the refresh token that flow produced.
    """

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        user_agent: str,
        verify_tls: bool = True,
    ) -> None:
        super().__init__(
            auth_endpoint=token_url,
            client_id=client_id,
            client_secret=client_secret,
            oauth_headers={"User-Agent": user_agent},
        )
        self.refresh_token = refresh_token
        self.verify_tls = verify_tls

    @property
    def oauth_request_body(self) -> dict:
        """The refresh-token grant, as AdminPulse's token route expects it."""
        return {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }

    def is_token_valid(self) -> bool:
        """Whether the current access token stays valid for at least the safety margin."""
        if self.access_token is None or self.last_refreshed is None:
            return False
        if not self.expires_in:
            return True
        age = (datetime.datetime.now(datetime.UTC) - self.last_refreshed).total_seconds()
        return age + EXPIRY_MARGIN_SECONDS < self.expires_in

    def update_access_token(self) -> None:
        """Ask AdminPulse for a fresh access token.

        The base class keeps only the access token; AdminPulse may also rotate the refresh token,
        which must then be used for the next refresh within this run.

        Raises:
            SetupError: when AdminPulse refuses the OAuth settings.
        """
        requested_at = datetime.datetime.now(datetime.UTC)
        try:
            response = requests.post(
                self.auth_endpoint,
                data=self.oauth_request_body,
                headers=self._oauth_headers,
                timeout=TOKEN_REQUEST_TIMEOUT_SECONDS,
                verify=self.verify_tls,
            )
        except requests.exceptions.SSLError as error:
            raise tls_failure(error) from None
        except requests.ConnectionError as error:
            msg = f"Could not reach AdminPulse's token route {self.auth_endpoint}: {error}"
            raise SetupError(msg) from error
        if not response.ok:
            msg = (
                f"AdminPulse refused the OAuth refresh (HTTP {response.status_code}): check the "
                "settings oauth_client_id, oauth_client_secret and oauth_refresh_token."
            )
            raise SetupError(msg)

        token = response.json()
        self.access_token = token["access_token"]
        self.refresh_token = token.get("refresh_token") or self.refresh_token
        self.expires_in = int(token["expires_in"]) if token.get("expires_in") else None
        self.last_refreshed = requested_at
        logger.info("Obtained an AdminPulse access token valid for %s seconds", self.expires_in)
