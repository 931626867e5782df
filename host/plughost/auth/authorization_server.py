"""The dev issuer as an OAuth 2.1 authorization server for interactive MCP clients.

Built on the MCP Python SDK's authorization-server pieces (`mcp.server.auth`): its request
models and handlers do the protocol work every MCP client is tested against (the
``/authorize`` request with mandatory S256 PKCE, RFC 7591 registration, the
``authorization_code`` and ``refresh_token`` grants with their PKCE and redirect checks, client
authentication). This module is the SDK's `OAuthAuthorizationServerProvider`: where state
lives (the host's database, `oauth_store`), what a grant is worth (this server's resource and
the plugins' declared scopes), and the policy on top: exact redirect matching with any port
for loopback redirects (RFC 8252), the RFC 8707 ``resource`` checked and put in ``aud``,
single-use codes, refresh-token rotation with replay detection, and the consent page
(`consent`). Three endpoints are the host's own: the metadata (its scopes change when a
plugin is withdrawn), the ``client_credentials`` grant the SDK's token handler does not
offer, and revocation (the SDK's requires a ``client_secret`` field even from public clients).
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar
from urllib.parse import unquote, urlencode, urlsplit

import anyio.to_thread
from mcp.server.auth.handlers.authorize import AuthorizationHandler
from mcp.server.auth.handlers.register import RegistrationHandler
from mcp.server.auth.handlers.token import TokenHandler
from mcp.server.auth.middleware.client_auth import AuthenticationError, ClientAuthenticator
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    RegistrationError,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.settings import ClientRegistrationOptions
from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    RequestBodyLimitMiddleware,
)
from mcp.shared.auth import (
    InvalidRedirectUriError,
    InvalidScopeError,
    OAuthClientInformationFull,
    OAuthMetadata,
    OAuthToken,
)
from pydantic import AnyHttpUrl, AnyUrl, BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response
from starlette.types import ASGIApp

from plughost.auth import exchange_grant
from plughost.auth.dev_issuer import JWKS_PATH, DevIssuer, InvalidDevToken
from plughost.auth.oauth_store import CodeGrant, Grant, OAuthStore, PendingAuthorization
from plughost.core.host_scopes import HOST_NAMESPACE
from plughost.settings import AuthSettings, TokenExchangeSettings

log = logging.getLogger("plughost.auth.dev")

METADATA_PATH = "/.well-known/oauth-authorization-server"
OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration"
AUTHORIZE_PATH = "/oauth/authorize"
CONSENT_PATH = "/oauth/consent"
TOKEN_PATH = "/oauth/token"
REGISTER_PATH = "/oauth/register"
REVOKE_PATH = "/oauth/revoke"
#: The endpoints a browser-based client calls from its own page (with CORS). The authorize
#: and consent endpoints are navigated to, never fetched, and stay same-origin only.
BROWSER_PATHS = (TOKEN_PATH, REGISTER_PATH, REVOKE_PATH, JWKS_PATH)

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
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
SDK_GRANTS = ("authorization_code", "refresh_token")
GRANTS = [*SDK_GRANTS, "client_credentials", exchange_grant.GRANT_TYPE]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

P = ParamSpec("P")
T = TypeVar("T")


class ScopeInfo(BaseModel):
    """One declared scope, as the consent page shows it."""

    name: str
    plugin: str
    description: str


class DevServerOptions(BaseModel):
    """The dev issuer's operator settings, as the authorization server uses them."""

    model_config = ConfigDict(frozen=True)

    access_ttl: int
    refresh_ttl: int
    auto_approve: bool
    #: Token exchange: each audience tokens may be exchanged for, with its allowed scopes.
    exchange_targets: dict[str, list[str]] = Field(default_factory=dict)

    @classmethod
    def from_settings(
        cls, auth: AuthSettings, exchange: TokenExchangeSettings | None = None
    ) -> DevServerOptions:
        return cls(
            access_ttl=auth.dev_token_ttl_seconds,
            refresh_ttl=auth.dev_refresh_token_ttl_seconds,
            auto_approve=auth.dev_auto_approve,
            exchange_targets=exchange_grant.allowed_targets(exchange) if exchange else {},
        )


class ServerMetadata(OAuthMetadata):
    """RFC 8414 metadata: the SDK's model (what MCP clients parse) plus ``jwks_uri``."""

    jwks_uri: AnyHttpUrl


class IssuedCode(AuthorizationCode):
    """An authorization code as the SDK's token handler checks it, with its sign-in family."""

    family: str


class IssuedRefreshToken(RefreshToken):
    """A refresh token as the SDK's token handler checks it, with its sign-in family."""

    family: str


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: the addresses RFC 8252 §7.3 native apps listen on."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redirect_matches(registered: str, requested: str) -> bool:
    """Exact match, except that a loopback ``http`` redirect may use any port (RFC 8252 §7.3):
    a native client registers once and listens on whatever port is free at sign-in."""
    if registered == requested:
        return True
    a, b = urlsplit(registered), urlsplit(requested)
    return (
        a.scheme == b.scheme == "http"
        and is_loopback_host(a.hostname)
        and (a.hostname, a.path, a.query, a.fragment) == (b.hostname, b.path, b.query, b.fragment)
    )


def check_redirect_uri(uri: str) -> None:
    """Registrable redirects: ``https`` anywhere, plain ``http`` on loopback only, no fragment."""
    parts = urlsplit(uri)
    if parts.fragment or not parts.hostname:
        raise RegistrationError("invalid_redirect_uri", f"{uri}: needs a host and no fragment")
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname)):
        return
    raise RegistrationError(
        "invalid_redirect_uri",
        f"{uri}: use an https:// URL or a loopback http:// address such as "
        "http://127.0.0.1:PORT/callback (RFC 8252)",
    )


class RegisteredClient(OAuthClientInformationFull):
    """A registered client, checking its requests against this server's rules, not only what
    it registered: scopes against what the plugins declare now (a client registered before a
    plugin was installed can still ask for its scopes), redirects per RFC 8252."""

    declared: list[str] = Field(default_factory=list, exclude=True)

    def validate_scope(self, requested_scope: str | None) -> list[str] | None:
        requested = list(dict.fromkeys((requested_scope or "").split()))
        if not requested:
            return None
        unknown = [scope for scope in requested if scope not in self.declared]
        if unknown:
            raise InvalidScopeError(
                f"unknown scope(s) {' '.join(unknown)}; this server declares: "
                + " ".join(self.declared)
            )
        return requested

    def validate_redirect_uri(self, redirect_uri: AnyUrl | None) -> AnyUrl:
        if redirect_uri is None:
            return super().validate_redirect_uri(None)
        if any(redirect_matches(str(r), str(redirect_uri)) for r in self.redirect_uris or []):
            return redirect_uri
        raise InvalidRedirectUriError(
            f"redirect_uri {redirect_uri} is not one this client registered"
        )


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
        for uri in client_info.redirect_uris or []:
            check_redirect_uri(str(uri))
        await self._run(self.store.save_client, client_info)
        log.info("registered OAuth client %s (%s)", client_info.client_id, client_info.client_name)

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

    # --- codes -----------------------------------------------------------------------------

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> IssuedCode | None:
        if len(authorization_code) > MAX_SECRET_CHARS:
            return None
        found = await self._run(self.store.code, authorization_code)
        if found is None or found.grant.client_id != client.client_id:
            return None
        grant = found.grant
        assert isinstance(grant, CodeGrant)
        if found.used:
            await self._replayed("authorization code", client.client_id, grant.family)
            return None
        return IssuedCode(
            code=authorization_code,
            scopes=grant.scopes,
            expires_at=found.expires_at,
            client_id=grant.client_id,
            code_challenge=grant.code_challenge,
            redirect_uri=AnyUrl(grant.redirect_uri),
            redirect_uri_provided_explicitly=grant.redirect_uri_provided_explicitly,
            resource=grant.resource,
            subject=grant.subject,
            family=grant.family,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: IssuedCode
    ) -> OAuthToken:
        if not await self._run(self.store.use_code, authorization_code.code):
            await self._replayed("authorization code", client.client_id, authorization_code.family)
            raise TokenError("invalid_grant", "authorization code was already used")
        grant = Grant(
            client_id=client.client_id,
            scopes=authorization_code.scopes,
            resource=authorization_code.resource or self.resource,
            subject=authorization_code.subject or DEV_USER,
            family=authorization_code.family,
        )
        return await self._tokens(client, grant, grant.scopes)

    # --- refresh tokens --------------------------------------------------------------------

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> IssuedRefreshToken | None:
        if len(refresh_token) > MAX_SECRET_CHARS:
            return None
        found = await self._run(self.store.refresh_token, refresh_token)
        if found is None or found.grant.client_id != client.client_id or found.revoked:
            return None
        if found.used:
            await self._replayed("refresh token", client.client_id, found.grant.family)
            return None
        return IssuedRefreshToken(
            token=refresh_token,
            client_id=found.grant.client_id,
            scopes=found.grant.scopes,
            expires_at=found.expires_at,
            resource=found.grant.resource,
            subject=found.grant.subject,
            family=found.grant.family,
        )

    async def exchange_refresh_token(
        self,
        client: OAuthClientInformationFull,
        refresh_token: IssuedRefreshToken,
        scopes: list[str],
    ) -> OAuthToken:
        if not await self._run(self.store.use_refresh_token, refresh_token.token):
            await self._replayed("refresh token", client.client_id, refresh_token.family)
            raise TokenError("invalid_grant", "refresh token was already used or revoked")
        grant = Grant(
            client_id=client.client_id,
            scopes=refresh_token.scopes,
            resource=refresh_token.resource or self.resource,
            subject=refresh_token.subject or DEV_USER,
            family=refresh_token.family,
        )
        return await self._tokens(client, grant, scopes)

    async def _replayed(self, what: str, client_id: str, family: str) -> None:
        """A used code or refresh token came back: whoever holds the sign-in's live tokens
        may be an attacker, so the whole family goes (RFC 6749 §4.1.2, OAuth 2.1 §4.3.1)."""
        revoked = await self._run(self.store.revoke_family, family)
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
            claims={"sid": claims.get("sid")},
        )

    async def revoke_token(self, token: AccessToken | IssuedRefreshToken) -> None:
        """Revoking either token ends the sign-in's refresh tokens. An access token is a
        self-contained JWT the resource server checks without calling here, so it stays
        valid until it expires (``dev_token_ttl_seconds``)."""
        family: object  # a claim may hold anything: checked below
        if isinstance(token, IssuedRefreshToken):
            family = token.family
        else:
            family = (token.claims or {}).get("sid")
        if isinstance(family, str) and family:
            await self._run(self.store.revoke_family, family)

    # --- HTTP ------------------------------------------------------------------------------

    def metadata(self) -> ServerMetadata:
        """Validated by the SDK's model from plain strings, so URLs keep their exact form
        (an issuer must compare equal as a string, RFC 8414 §3.3)."""
        base = self.issuer
        return ServerMetadata.model_validate(
            {
                "issuer": base,
                "authorization_endpoint": base + AUTHORIZE_PATH,
                "token_endpoint": base + TOKEN_PATH,
                "registration_endpoint": base + REGISTER_PATH,
                "revocation_endpoint": base + REVOKE_PATH,
                "jwks_uri": base + JWKS_PATH,
                "scopes_supported": self.declared(),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": GRANTS,
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": AUTH_METHODS,
                "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
                "authorization_response_iss_parameter_supported": True,
            }
        )

    def routes(self, consent: Callable[[], list[Route]]) -> list[Route]:
        """Every endpoint of the authorization server; ``consent`` adds the consent page's."""
        endpoints = _Endpoints(self)
        authorize = AuthorizationHandler(self).handle
        register = RegistrationHandler(self, ClientRegistrationOptions(enabled=True)).handle
        return [
            Route(METADATA_PATH, endpoints.metadata, methods=["GET"]),
            Route(OPENID_CONFIGURATION_PATH, endpoints.metadata, methods=["GET"]),
            Route(JWKS_PATH, endpoints.keys, methods=["GET"]),
            Route(AUTHORIZE_PATH, _limited(authorize), methods=["GET", "POST"]),
            *consent(),
            Route(TOKEN_PATH, _limited(endpoints.token), methods=["POST"]),
            Route(REGISTER_PATH, _limited(register), methods=["POST"]),
            Route(REVOKE_PATH, _limited(endpoints.revoke), methods=["POST"]),
        ]


def _limited(handler: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """A handler behind the SDK's request-body cap, as its own auth routes are."""
    return RequestBodyLimitMiddleware(request_response(handler), DEFAULT_MAX_REQUEST_BODY_SIZE)


@dataclass
class _Endpoints:
    """The endpoints the SDK has no handler for, or whose handler this server replaces."""

    server: DevAuthorizationServer

    def __post_init__(self) -> None:
        self.authenticator = ClientAuthenticator(self.server)
        self.token_handler = TokenHandler(self.server, self.authenticator)

    async def metadata(self, _request: Request) -> JSONResponse:
        document = self.server.metadata().model_dump(mode="json", exclude_none=True)
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=60"})

    async def keys(self, _request: Request) -> JSONResponse:
        jwks = self.server.dev.jwks()
        return JSONResponse(jwks, headers={"Cache-Control": "public, max-age=300"})

    async def token(self, request: Request) -> Response:
        """``client_credentials`` and token exchange for the generated dev client; every
        other grant goes to the SDK's token handler (authorization code with PKCE, refresh
        token)."""
        form = await request.form()
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            return self._client_credentials(request, form)
        if grant_type == exchange_grant.GRANT_TYPE:
            return await self._exchange(request, form)
        if grant_type not in SDK_GRANTS:
            return oauth_error(
                400, "unsupported_grant_type", f"supported grants: {', '.join(GRANTS)}"
            )
        return await self.token_handler.handle(request)

    def _client_credentials(self, request: Request, form: Any) -> Response:
        client_id, secret = _client_auth(request, form)
        dev = self.server.dev
        if client_id is None or secret is None or not dev.check_secret(client_id, secret):
            return oauth_error(
                401,
                "invalid_client",
                "client authentication failed",
                {"WWW-Authenticate": 'Basic realm="plughost-dev"'},
            )
        known = self.server.declared()
        # Unasked, the generated client gets every plugin's scope; the host's own
        # (plughost:admin) only when asked for by name.
        requested = str(form.get("scope") or "").split() or [
            scope.name for scope in self.server.catalog() if scope.plugin != HOST_NAMESPACE
        ]
        unknown = sorted(set(requested) - set(known))
        if unknown:
            return oauth_error(400, "invalid_scope", f"unknown scope(s): {' '.join(unknown)}")
        try:
            audience = self.server.target(str(form.get("resource") or "") or None)
        except AuthorizeError as exc:
            return oauth_error(400, exc.error, exc.error_description or "")
        ttl = self.server.options.access_ttl
        access_token = dev.mint(
            issuer=self.server.issuer,
            audience=audience,
            scopes=requested,
            ttl=ttl,
            client_id=client_id,
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
        client = _client_auth(request, form)
        try:
            body = await exchange_grant.exchange(
                self.server, self.authenticator, request, form, client
            )
        except exchange_grant.ExchangeRefusal as exc:
            challenge = {"WWW-Authenticate": 'Basic realm="plughost-dev"'}
            return oauth_error(
                exc.status, exc.error, exc.description, challenge if exc.status == 401 else None
            )
        return JSONResponse(body, headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        """RFC 7009: 200 whether or not the token was known, as the RFC asks."""
        try:
            client = await self.authenticator.authenticate_request(request)
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


def _client_auth(request: Request, form: Any) -> tuple[str | None, str | None]:
    """Client id and secret from HTTP Basic (RFC 6749 §2.3.1, URL-encoded) or the form."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            raw = base64.b64decode(header[6:], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None, None
        client_id, _, secret = raw.partition(":")
        return unquote(client_id), unquote(secret)
    client_id, secret = form.get("client_id"), form.get("client_secret")
    return (str(client_id) if client_id else None), (str(secret) if secret else None)


def oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )
