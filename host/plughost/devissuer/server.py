"""The dev issuer as an OAuth 2.1 authorization server for interactive MCP clients.

Built on the MCP Python SDK's authorization-server pieces (`mcp.server.auth`): its request
models and handlers do the protocol work every MCP client is tested against (the
``/authorize`` request with mandatory S256 PKCE, RFC 7591 registration, the
``authorization_code`` and ``refresh_token`` grants with their PKCE and redirect checks, client
authentication). This module is the SDK's `OAuthAuthorizationServerProvider`: where state
lives (the host's database, `store`), what a grant is worth (this server's resource and the
plugins' declared scopes), and the policy on top: the redirect rules of `registration`, the
RFC 8707 ``resource`` checked and put in ``aud``, single-use codes, refresh-token rotation with
replay detection, and the consent page (`consent`). Its HTTP side is `routes` and `endpoints`.

A sign-in that ends (revoked, or a used code or refresh token replayed) is also written to the
host's revocation list (`plughost.core.revocations`), which every replica's resource server
reads: its access tokens, which carry the sign-in as ``sid``, are then refused everywhere.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlencode

import anyio.to_thread
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyUrl

from plughost.core.revocations import RevokedKeys, token_keys
from plughost.devissuer.keys import DevIssuer, InvalidDevToken
from plughost.devissuer.options import DevServerOptions, ScopeInfo
from plughost.devissuer.paths import CONSENT_PATH
from plughost.devissuer.registration import RegisteredClient, check_metadata
from plughost.devissuer.store import (
    CodeGrant,
    Grant,
    OAuthStore,
    PendingAuthorization,
    Redeemable,
)

log = logging.getLogger("plughost.auth.dev")

#: An authorization code is redeemed by the client right after the redirect (RFC 6749
#: §4.1.2 recommends at most 10 minutes); a minute is ample on one machine.
CODE_TTL_SECONDS = 60
#: How long a consent page may stay open before its request expires.
CONSENT_TTL_SECONDS = 600
#: The one resource owner on a developer's machine: the developer.
DEV_USER = "dev-user"
#: Longer client ids, codes, tokens and request ids than this server issues are unknown.
MAX_ID_CHARS = 64
MAX_SECRET_CHARS = 128
#: A revocation is remembered this much longer than the tokens it ends can live.
REVOCATION_MARGIN_SECONDS = 300
#: Registrations are counted per client address over this window.
REGISTRATION_WINDOW_SECONDS = 3600

#: The address the registration being handled comes from (set by the registration route).
registering_from: ContextVar[str | None] = ContextVar("registering_from", default=None)

P = ParamSpec("P")
T = TypeVar("T")


class IssuedCode(AuthorizationCode):
    """An authorization code as the SDK's token handler checks it, with its sign-in family."""

    family: str


class IssuedRefreshToken(RefreshToken):
    """A refresh token as the SDK's token handler checks it, with its sign-in family."""

    family: str


@dataclass
class DevAuthorizationServer(
    OAuthAuthorizationServerProvider[IssuedCode, IssuedRefreshToken, AccessToken]
):
    """The SDK's provider interface over the dev issuer's keys and the host's database."""

    dev: DevIssuer
    store: OAuthStore
    issuer: str
    resource: str
    catalog: Callable[[], list[ScopeInfo]]
    baseline: Callable[[], list[str]]
    options: DevServerOptions
    revoked: RevokedKeys

    async def _run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A store call, off the event loop (the engine's deadlines bound it)."""
        return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs))

    def declared(self) -> list[str]:
        return sorted({scope.name for scope in self.catalog()})

    # --- clients ---------------------------------------------------------------------------

    async def get_client(self, client_id: str) -> RegisteredClient | None:
        if len(client_id) > MAX_ID_CHARS:
            return None
        stored = await self._run(self.store.client, client_id)
        if stored is None:
            return None
        return RegisteredClient.model_validate({**stored.model_dump(), "declared": self.declared()})

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        check_metadata(client_info)
        await self._run(
            self.store.save_client,
            client_info,
            address=registering_from.get(),
            unused_ttl=self.options.unused_client_ttl,
        )
        log.info("registered OAuth client %s (%s)", client_info.client_id, client_info.client_name)

    async def registration_wait(self, address: str) -> int | None:
        """Seconds ``address`` must wait before registering again, None if it may now."""
        now = int(time.time())
        since = now - REGISTRATION_WINDOW_SECONDS
        count, oldest = await self._run(self.store.registrations_from, address, since)
        if count < self.options.registrations_per_hour:
            return None
        return max(1, (oldest or now) + REGISTRATION_WINDOW_SECONDS - now)

    # --- authorization ---------------------------------------------------------------------

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        pending = PendingAuthorization(
            client_id=client.client_id,
            redirect_uri=str(params.redirect_uri),
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            scopes=params.scopes if params.scopes is not None else self.baseline(),
            code_challenge=params.code_challenge,
            state=params.state,
            resource=self.target(params.resource),
        )
        if self.options.auto_approve:
            return await self.approve(pending, pending.scopes)
        request_id = secrets.token_urlsafe(32)
        await self._run(self.store.save_request, request_id, pending, CONSENT_TTL_SECONDS)
        return f"{self.issuer}{CONSENT_PATH}?{urlencode({'request': request_id})}"

    def target(self, resource: str | None) -> str:
        """RFC 8707: tokens are only for this server's MCP endpoint, whatever is asked."""
        if resource is None or resource.rstrip("/") == self.resource.rstrip("/"):
            return self.resource
        raise AuthorizeError(
            "invalid_target", f"this server only issues tokens for {self.resource}"
        )

    async def pending(self, request_id: str) -> PendingAuthorization | None:
        if len(request_id) > MAX_SECRET_CHARS:
            return None
        return await self._run(self.store.request, request_id)

    async def take_pending(self, request_id: str) -> PendingAuthorization | None:
        if len(request_id) > MAX_SECRET_CHARS:
            return None
        return await self._run(self.store.take_request, request_id)

    async def approve(self, pending: PendingAuthorization, ticked: list[str]) -> str:
        """The user said yes to ``ticked`` (a subset of what was asked): a code, redirected."""
        scopes = [scope for scope in pending.scopes if scope in ticked]
        if pending.scopes and not scopes:
            return self.denied(pending, "every requested scope was unticked")
        code = secrets.token_urlsafe(32)
        grant = CodeGrant(
            client_id=pending.client_id,
            scopes=scopes,
            resource=pending.resource,
            subject=DEV_USER,
            family=secrets.token_hex(16),
            redirect_uri=pending.redirect_uri,
            redirect_uri_provided_explicitly=pending.redirect_uri_provided_explicitly,
            code_challenge=pending.code_challenge,
        )
        await self._run(self.store.save_code, code, grant, CODE_TTL_SECONDS)
        return construct_redirect_uri(
            pending.redirect_uri, code=code, state=pending.state, iss=self.issuer
        )

    def denied(self, pending: PendingAuthorization, why: str = "the user denied access") -> str:
        return construct_redirect_uri(
            pending.redirect_uri,
            error="access_denied",
            error_description=why,
            state=pending.state,
            iss=self.issuer,
        )

    # --- codes and refresh tokens ----------------------------------------------------------

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> IssuedCode | None:
        found = await self._live("authorization code", self.store.code, client, authorization_code)
        if found is None:
            return None
        grant = found.grant
        assert isinstance(grant, CodeGrant)
        return IssuedCode(
            code=authorization_code,
            code_challenge=grant.code_challenge,
            redirect_uri=AnyUrl(grant.redirect_uri),
            redirect_uri_provided_explicitly=grant.redirect_uri_provided_explicitly,
            **_issued(found),
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: IssuedCode
    ) -> OAuthToken:
        code = authorization_code
        if not await self._run(self.store.use_code, code.code):
            await self._replayed("authorization code", client.client_id, code.family)
            raise TokenError("invalid_grant", "authorization code was already used")
        return await self._tokens(client, self._grant(client, code), code.scopes)

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> IssuedRefreshToken | None:
        found = await self._live("refresh token", self.store.refresh_token, client, refresh_token)
        return None if found is None else IssuedRefreshToken(token=refresh_token, **_issued(found))

    async def exchange_refresh_token(
        self,
        client: OAuthClientInformationFull,
        refresh_token: IssuedRefreshToken,
        scopes: list[str],
    ) -> OAuthToken:
        if not await self._run(self.store.use_refresh_token, refresh_token.token):
            await self._replayed("refresh token", client.client_id, refresh_token.family)
            raise TokenError("invalid_grant", "refresh token was already used or revoked")
        return await self._tokens(client, self._grant(client, refresh_token), scopes)

    async def _live(
        self,
        kind: str,
        find: Callable[[str], Redeemable | None],
        client: OAuthClientInformationFull,
        secret: str,
    ) -> Redeemable | None:
        """``client``'s stored code or refresh token, if still usable; one that was used
        already is a replay, and ends its sign-in."""
        if len(secret) > MAX_SECRET_CHARS:
            return None
        found = await self._run(find, secret)
        if found is None or found.grant.client_id != client.client_id or found.revoked:
            return None
        if found.used:
            await self._replayed(kind, client.client_id, found.grant.family)
            return None
        return found

    def _grant(
        self, client: OAuthClientInformationFull, issued: IssuedCode | IssuedRefreshToken
    ) -> Grant:
        """The sign-in a redeemed code or refresh token carries on to its new tokens."""
        return Grant(
            client_id=client.client_id,
            scopes=issued.scopes,
            resource=issued.resource or self.resource,
            subject=issued.subject or DEV_USER,
            family=issued.family,
        )

    async def _replayed(self, what: str, client_id: str, family: str) -> None:
        """A used code or refresh token came back: whoever holds the sign-in's live tokens
        may be an attacker, so the whole family goes (RFC 6749 §4.1.2, OAuth 2.1 §4.3.1)."""
        revoked = await self._end(family)
        log.warning(
            "%s replayed by client %s: its sign-in is revoked (%d refresh token(s))",
            what,
            client_id,
            revoked,
        )

    async def _tokens(
        self, client: OAuthClientInformationFull, grant: Grant, scopes: list[str]
    ) -> OAuthToken:
        """A new access token for ``scopes`` and, for clients that refresh, a new refresh
        token carrying the whole grant (a narrower access token does not narrow the grant)."""
        access = self.dev.mint(
            issuer=self.issuer,
            audience=grant.resource,
            scopes=scopes,
            subject=grant.subject,
            client_id=grant.client_id,
            ttl=self.options.access_ttl,
            extra={"sid": grant.family},
        )
        await self._run(self.store.mark_used, client.client_id)
        refresh = None
        if "refresh_token" in client.grant_types:
            refresh = secrets.token_urlsafe(32)
            await self._run(self.store.save_refresh_token, refresh, grant, self.options.refresh_ttl)
        return OAuthToken(
            access_token=access,
            expires_in=self.options.access_ttl,
            scope=" ".join(scopes),
            refresh_token=refresh,
        )

    # --- access tokens and revocation -------------------------------------------------------

    async def load_access_token(self, token: str) -> AccessToken | None:
        """One of this issuer's access tokens, for revocation (requests to ``/mcp`` are
        verified by the resource server through the JWKS, not here)."""
        try:
            claims = self.dev.decode(token, issuer=self.issuer)
        except InvalidDevToken:
            return None
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id", "")),
            scopes=str(claims.get("scope", "")).split(),
            expires_at=int(claims["exp"]),
            subject=claims.get("sub"),
            claims={"sid": claims.get("sid"), "jti": claims.get("jti")},
        )

    async def revoke_token(self, token: AccessToken | IssuedRefreshToken) -> None:
        """Revoking either token ends the sign-in: its refresh tokens, and its access tokens
        at every replica's resource server. An access token without a sign-in (the
        ``client_credentials`` grant's) is revoked alone."""
        if isinstance(token, IssuedRefreshToken):
            await self._end(token.family)
            return
        claims = token.claims or {}
        family = claims.get("sid")
        if isinstance(family, str) and family:
            await self._end(family)
        else:
            for key in token_keys(claims):
                await self.revoked.revoke(key, until=self._revocation_until())

    async def _end(self, family: str) -> int:
        """End one sign-in everywhere; returns how many of its refresh tokens were live."""
        await self.revoked.revoke(f"sid:{family}", until=self._revocation_until())
        return await self._run(self.store.revoke_family, family)

    def _revocation_until(self) -> int:
        return int(time.time()) + self.options.access_ttl + REVOCATION_MARGIN_SECONDS

    async def is_revoked(self, claims: dict[str, Any]) -> bool:
        """Whether a token of this issuer was revoked (for token exchange)."""
        return await self.revoked.any_revoked(token_keys(claims))


def _issued(found: Redeemable) -> dict[str, Any]:
    """What a stored code and a stored refresh token both tell the SDK's token handler."""
    grant = found.grant
    return {
        "client_id": grant.client_id,
        "scopes": grant.scopes,
        "expires_at": found.expires_at,
        "resource": grant.resource,
        "subject": grant.subject,
        "family": grant.family,
    }
