"""Signing in to the console and out: the round trip to the issuer, and the session it leaves.

Sign-in sends the browser to the issuer with a fresh ``state`` and PKCE challenge, kept in a
sealed sign-in cookie (`plughost.console.session`); the callback checks that ``state``,
exchanges the code (`plughost.console.signin`), verifies the token with the host's own
verifier, and seals a session only for a caller holding the admin scope. Sign-out ends the
session on every replica (its id goes on the host's revocation list) and clears the cookie,
and refuses a form posted from another site.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from plughost.auth.issuers import Issuer
from plughost.auth.upstream_metadata import UpstreamUnavailable
from plughost.auth.verifier import InvalidToken
from plughost.console.access import Access, session_of
from plughost.console.pages import PAGE_HEADERS, Pages, landing_path
from plughost.console.reads import DatabaseReads
from plughost.console.session import SIGN_IN_SECONDS, ConsoleSession, CookieJar, SignInState
from plughost.console.signin import ConsoleClient, SignInFailed, pkce_pair
from plughost.core.host_scopes import ADMIN_SCOPE

log = logging.getLogger("plughost.console")


@dataclass
class SignInFlow:
    """The sign-in, callback and sign-out routes, for one OAuth client (or none configured)."""

    client: ConsoleClient | None
    #: Why there is no client: what the operator must register and set.
    not_configured: str | None
    issuer: Issuer
    #: This server's origin, the only one a sign-out form may come from.
    origin: str
    access: Access
    reads: DatabaseReads

    @property
    def cookies(self) -> CookieJar:
        return self.access.cookies

    @property
    def pages(self) -> Pages:
        return self.access.pages

    async def sign_in(self, request: Request) -> Response:
        if self.client is None:
            return self._not_configured()
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(24)
        try:
            target = await self.client.authorize_url(state, challenge)
        except UpstreamUnavailable as exc:
            return self.pages.message(503, "The issuer did not answer", str(exc))
        pending = SignInState(
            state=state,
            verifier=verifier,
            back_to=landing_path(request.query_params.get("next")),
            expires_at=int(time.time()) + SIGN_IN_SECONDS,
        )
        sealed = await self.reads(self.cookies.seal, pending)
        response = RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
        self.cookies.set_sign_in(response, sealed, pending.expires_at)
        return response

    async def callback(self, request: Request) -> Response:
        if self.client is None:
            return self._not_configured()
        params = request.query_params
        await self.access.key_ready()
        pending = self.cookies.open(request.cookies.get(self.cookies.sign_in_name), SignInState)
        if pending is None or not hmac.compare_digest(
            params.get("state", "").encode(), pending.state.encode()
        ):
            return self._sign_in_again(
                400,
                "This sign-in expired, was already completed, or did not start in this browser.",
            )
        if params.get("error") == "access_denied":
            return self._sign_in_again(
                403, f"The console needs the {ADMIN_SCOPE} scope, and it was not granted."
            )
        code = params.get("code")
        if params.get("error") or not code:
            error = params.get("error", "no code")[:100]
            return self._sign_in_again(400, f"The issuer did not sign you in ({error}).")
        try:
            token = await self.client.exchange(code, pending.verifier, params.get("iss"))
            verified = await self.issuer.verifier.verify(token)
        except (SignInFailed, UpstreamUnavailable) as exc:
            return self._sign_in_again(502, str(exc))
        except InvalidToken as exc:
            return self._sign_in_again(403, f"The issuer's token was refused: {exc.reason}.")
        return await self._signed_in(pending, session_of(verified))

    async def sign_out(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/").lower() != self.origin:
            return self.pages.message(403, "Not signed out", "The request came from another site.")
        session = await self.access.session(request)
        if session is not None:
            await self.access.revoked.revoke(session.own_key, until=session.expires_at)
            log.info("console: %s signed out", session.subject)
        response = self.pages.message(
            200, "Signed out", "The console ended this browser's session.", sign_in=True
        )
        self.cookies.clear_session(response)
        return response

    async def _signed_in(self, pending: SignInState, viewer: ConsoleSession) -> Response:
        """The session for a verified viewer with the admin scope; the 403 page otherwise."""
        if ADMIN_SCOPE not in viewer.scopes:
            refused = self.pages.forbidden(viewer)
            self.cookies.clear_sign_in(refused)
            return refused
        sealed = await self.reads(self.cookies.seal, viewer)
        response = RedirectResponse(pending.back_to, status_code=303, headers=PAGE_HEADERS)
        self.cookies.set_session(response, sealed, viewer.expires_at)
        self.cookies.clear_sign_in(response)
        log.info("console: %s signed in through client %s", viewer.subject, viewer.client_id)
        return response

    def _not_configured(self) -> HTMLResponse:
        return self.pages.message(503, "The console is not configured", self.not_configured or "")

    def _sign_in_again(self, status: int, text: str) -> HTMLResponse:
        response = self.pages.message(status, "Sign-in not completed", text, sign_in=True)
        self.cookies.clear_sign_in(response)
        return response
