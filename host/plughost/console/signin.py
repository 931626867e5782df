"""The console as an OAuth client of the configured issuer: authorization code with PKCE S256.

With the embedded dev issuer the console is a first-party public client the host registers
itself (``plughost-console``, stored like every other client, its redirect URI this server's
``/console/callback``), so there is nothing to configure. With Scalekit or an OIDC issuer the
operator registers a client there and names it in ``PLUGHOST_CONSOLE__CLIENT_ID`` (and
``__CLIENT_SECRET`` if it is confidential); the issuer's endpoints come from its metadata.
The access token the exchange returns is checked by the caller with the host's own verifier,
exactly as an MCP call's would be, and then dropped.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ValidationError

#: Longest wait on the issuer's token endpoint.
TOKEN_TIMEOUT_SECONDS = 10.0


class SignInFailed(RuntimeError):
    """The issuer did not hand back a usable token; the message says why, for the page."""


class Endpoints(BaseModel):
    """The issuer's identifier, where the browser signs in, and where the code is exchanged."""

    issuer: str
    authorize: str
    token: str


class TokenAnswer(BaseModel):
    access_token: str
    token_type: str = "Bearer"


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class ConsoleClient:
    """One OAuth client: the authorization URL for a sign-in, and the code exchange."""

    client_id: str
    client_secret: str | None
    redirect_uri: str
    resource: str
    scope: str
    endpoints: Callable[[], Awaitable[Endpoints]]
    #: Registers the client first (the dev issuer's first-party client), if needed.
    register: Callable[[], Awaitable[None]] | None = None

    async def authorize_url(self, state: str, challenge: str) -> str:
        if self.register is not None:
            await self.register()
        endpoints = await self.endpoints()
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": self.resource,
        }
        return f"{endpoints.authorize}?{urlencode(query)}"

    async def exchange(self, code: str, verifier: str, iss: str | None) -> str:
        """The access token for ``code``; `SignInFailed` naming why there is none.

        ``iss`` is the callback's RFC 9207 issuer: when the issuer sends one it must be the
        issuer this client signs in with (a mix-up attack would bring another's code).
        """
        endpoints = await self.endpoints()
        if iss is not None and iss.rstrip("/") != endpoints.issuer.rstrip("/"):
            raise SignInFailed("the sign-in came back from another issuer than this server's")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
            "client_id": self.client_id,
            "resource": self.resource,
        }
        # A public client (no secret) sends no Basic auth: the client's default, which is none.
        auth = (
            (self.client_id, self.client_secret) if self.client_secret else httpx.USE_CLIENT_DEFAULT
        )
        try:
            async with httpx.AsyncClient(
                timeout=TOKEN_TIMEOUT_SECONDS, follow_redirects=False
            ) as client:
                response = await client.post(endpoints.token, data=form, auth=auth)
        except httpx.HTTPError as exc:
            raise SignInFailed(
                f"the issuer's token endpoint did not answer ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            raise SignInFailed(f"the issuer refused the code: {_oauth_error(response)}")
        try:
            return TokenAnswer.model_validate_json(response.content).access_token
        except ValidationError:
            raise SignInFailed("the issuer's token answer held no access token") from None


def _oauth_error(response: httpx.Response) -> str:
    """The OAuth error code of a refusal (never its whole body), or the HTTP status."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    return str(error)[:100] if error else f"HTTP {response.status_code}"
