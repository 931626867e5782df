"""The dev issuer's token and revocation endpoints: the ones the host answers itself.

The SDK's token handler does the ``authorization_code`` and ``refresh_token`` grants. It has
no ``client_credentials`` grant (the generated dev client's, for scripts and ``plughost
token``) and no token exchange (`exchange_grant`), so the token endpoint takes those two
itself and hands every other grant on, after two checks the SDK's handler lacks: a
``resource`` other than this server's is ``invalid_target`` (RFC 8707 §2), and a client id
sent in HTTP Basic alone is put in the form the handler reads (`client_auth`). The SDK's
revocation handler requires a ``client_secret`` field even from public clients, so
revocation (RFC 7009) is the host's own too. Refusals are RFC 6749 §5.2 JSON errors (429 with
Retry-After once wrong secrets are throttled), and nothing here may be cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.auth.handlers.token import TokenHandler
from mcp.server.auth.middleware.client_auth import AuthenticationError
from mcp.server.auth.provider import AccessToken, AuthorizeError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plughost.auth.token_exchange import GRANT_TYPE as EXCHANGE_GRANT
from plughost.core.host_scopes import HOST_NAMESPACE
from plughost.devissuer import exchange_grant
from plughost.devissuer.client_auth import (
    ClientAuth,
    SecretThrottle,
    Throttled,
    address_of,
    offered,
    with_client_id,
)
from plughost.devissuer.server import DevAuthorizationServer, IssuedRefreshToken

SDK_GRANTS = ("authorization_code", "refresh_token")
GRANTS = [*SDK_GRANTS, "client_credentials", EXCHANGE_GRANT]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: The challenge of a refused client secret (RFC 6749 §5.2 asks for one with a 401).
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="plughost-dev"'}


@dataclass
class Endpoints:
    """The endpoints the SDK has no handler for, or whose handler this server replaces."""

    server: DevAuthorizationServer

    def __post_init__(self) -> None:
        self.throttle = SecretThrottle(self.server.options.secret_failures_per_minute)
        self.authenticator = ClientAuth(self.server, self.throttle)
        self.token_handler = TokenHandler(self.server, self.authenticator)

    async def token(self, request: Request) -> Response:
        """``client_credentials`` and token exchange for the generated dev client; every
        other grant goes to the SDK's token handler (authorization code with PKCE, refresh
        token)."""
        try:
            return await self._token(request)
        except Throttled as exc:
            return _throttled(exc)
        except AuthenticationError as exc:
            return oauth_error(401, "invalid_client", exc.message, BASIC_CHALLENGE)

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            return self._client_credentials(request, form)
        if grant_type == EXCHANGE_GRANT:
            return await self._exchange(request, form)
        if grant_type not in SDK_GRANTS:
            return oauth_error(
                400, "unsupported_grant_type", f"supported grants: {', '.join(GRANTS)}"
            )
        for resource in form.getlist("resource"):
            try:
                self.server.target(str(resource))
            except AuthorizeError as exc:
                return oauth_error(400, exc.error, exc.error_description or "")
        return await self.token_handler.handle(await with_client_id(request))

    def _client_credentials(self, request: Request, form: Any) -> Response:
        client_id, secret = offered(request, form)
        server = self.server
        address = address_of(request)
        self.throttle.check(client_id, address)
        if client_id is None or secret is None or not server.dev.check_secret(client_id, secret):
            if secret is not None:
                self.throttle.failed(client_id, address)
            return oauth_error(
                401, "invalid_client", "client authentication failed", BASIC_CHALLENGE
            )
        # Unasked, the generated client gets every plugin's scope; the host's own
        # (plughost:admin) only when asked for by name.
        requested = str(form.get("scope") or "").split() or [
            scope.name for scope in server.catalog() if scope.plugin != HOST_NAMESPACE
        ]
        unknown = sorted(set(requested) - set(server.declared()))
        if unknown:
            return oauth_error(400, "invalid_scope", f"unknown scope(s): {' '.join(unknown)}")
        try:
            audience = server.target(str(form.get("resource") or "") or None)
        except AuthorizeError as exc:
            return oauth_error(400, exc.error, exc.error_description or "")
        ttl = server.options.access_ttl
        access_token = server.dev.mint(
            issuer=server.issuer, audience=audience, scopes=requested, ttl=ttl, client_id=client_id
        )
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": ttl,
                "scope": " ".join(requested),
            },
            headers=NO_STORE,
        )

    async def _exchange(self, request: Request, form: Any) -> Response:
        client = offered(request, form)
        try:
            body = await exchange_grant.exchange(
                self.server, self.authenticator, request, form, client
            )
        except exchange_grant.ExchangeRefusal as exc:
            challenge = BASIC_CHALLENGE if exc.status == 401 else None
            return oauth_error(exc.status, exc.error, exc.description, challenge)
        return JSONResponse(body, headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        """RFC 7009: 200 whether or not the token was known, as the RFC asks."""
        try:
            client = await self.authenticator.authenticate_request(request)
        except Throttled as exc:
            return _throttled(exc)
        except AuthenticationError as exc:
            return oauth_error(401, "invalid_client", exc.message)
        token = (await request.form()).get("token")
        if not isinstance(token, str) or not token:
            return oauth_error(400, "invalid_request", "the form field 'token' is missing")
        found: AccessToken | IssuedRefreshToken | None = await self.server.load_access_token(
            token
        ) or await self.server.load_refresh_token(client, token)
        if found is not None and found.client_id == client.client_id:
            await self.server.revoke_token(found)
        return Response(status_code=200, headers=NO_STORE)


def _throttled(exc: Throttled) -> JSONResponse:
    return oauth_error(429, "invalid_client", str(exc), {"Retry-After": str(exc.retry_after)})


def oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An RFC 6749 §5.2 error answer, never cached."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )
