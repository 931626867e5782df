"""Who may see the console: whether it is on at all, and whether the caller holds the admin scope.

Every page needs a caller holding ``plughost:admin``: a browser keeps a sealed session cookie
(`plughost.console.session`), a script may send ``Authorization: Bearer`` instead. Either way
the token was checked by the host's own verifier, as for an MCP call; without the scope the
answer is a 403 page. The console is off (404, saying why) when settings turn it off, and when
the embedded dev issuer is reachable from the network: whoever can reach it could mint the
admin scope.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from plughost.auth.issuers import Issuer
from plughost.auth.verifier import InvalidToken, Verified
from plughost.console.pages import PAGE_HEADERS, SIGN_IN_PATH, Pages
from plughost.console.reads import DatabaseReads
from plughost.console.session import ConsoleSession, CookieJar
from plughost.core.host import Host
from plughost.core.host_keys import StoredKey
from plughost.core.host_scopes import ADMIN_SCOPE
from plughost.core.revocations import RevokedKeys, token_keys
from plughost.ops.loopback import is_loopback


def off_reason(host: Host, issuer: Issuer, bind_host: str) -> str | None:
    """Why the console is off on this server, or None when it is on."""
    if not host.settings.console.enabled:
        return "it is turned off by PLUGHOST_CONSOLE__ENABLED=false."
    if issuer.dev is not None and not is_loopback(bind_host):
        return (
            f"this server binds {bind_host} with the embedded development issuer, which hands "
            "out any scope to whoever reaches it, the console's admin scope included. "
            "Configure a real issuer (PLUGHOST_AUTH__ISSUER=scalekit or oidc) to use it."
        )
    return None


def session_of(verified: Verified) -> ConsoleSession:
    """What the console keeps of a verified token: who, through which client, which scopes,
    and what revokes it (a new session id, and the token's sign-in)."""
    caller = verified.caller
    return ConsoleSession(
        subject=caller.subject,
        client_id=caller.client_id,
        tenant=caller.tenant_id,
        scopes=sorted(caller.scopes),
        expires_at=verified.expires_at,
        revocation_keys=[f"console:{secrets.token_urlsafe(16)}", *token_keys(verified.claims)],
    )


@dataclass
class Access:
    """The admin check in front of every page, by bearer token or session cookie."""

    issuer: Issuer
    key: StoredKey
    cookies: CookieJar
    pages: Pages
    reads: DatabaseReads
    revoked: RevokedKeys

    async def key_ready(self) -> None:
        """Load the cookie key (a database read) before the first cookie is opened."""
        if not self.key.loaded:
            await self.reads(self.key.value)

    async def viewer(self, request: Request) -> ConsoleSession | Response:
        """Who is asking, holding the admin scope; otherwise the answer to give instead."""
        header = request.headers.get("authorization")
        viewer = await (self._bearer(header) if header is not None else self._cookie(request))
        if isinstance(viewer, ConsoleSession) and ADMIN_SCOPE not in viewer.scopes:
            return self.pages.forbidden(viewer)
        return viewer

    async def _bearer(self, header: str) -> ConsoleSession | Response:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self.pages.message(401, "Not signed in", "Send a bearer token, or sign in.")
        try:
            return session_of(await self.issuer.verifier.verify(token.strip()))
        except InvalidToken:
            return self.pages.message(
                401, "Not signed in", "The bearer token was refused; get a new one."
            )

    async def session(self, request: Request) -> ConsoleSession | None:
        """The browser's session, if it is ours, unexpired and not signed out or revoked."""
        await self.key_ready()
        viewer = self.cookies.open(request.cookies.get(self.cookies.session_name), ConsoleSession)
        if viewer is None or await self.revoked.any_revoked(viewer.revocation_keys):
            return None
        return viewer

    async def _cookie(self, request: Request) -> ConsoleSession | Response:
        viewer = await self.session(request)
        if viewer is not None:
            return viewer
        back = urlencode({"next": request.url.path})
        return RedirectResponse(f"{SIGN_IN_PATH}?{back}", status_code=303, headers=PAGE_HEADERS)
