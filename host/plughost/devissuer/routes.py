"""The dev issuer on the MCP server's origin: its routes, metadata document and keys.

Which handler answers each path: the SDK's for ``/authorize`` and registration, the host's
own for the metadata (its scopes change when a plugin is withdrawn, so it is built per
request), the keys, the token and revocation endpoints (`endpoints`) and the consent page
(`consent`); every endpoint that reads a body sits behind the SDK's request-body cap, and
registration behind a smaller one and a limit per client address (429 with Retry-After, in
RFC 7591's error shape). App assembly hands these routes to the auth provider once the
host's database exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mcp.server.auth.handlers.authorize import AuthorizationHandler
from mcp.server.auth.handlers.register import RegistrationHandler
from mcp.server.auth.settings import ClientRegistrationOptions
from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    RequestBodyLimitMiddleware,
)
from mcp.shared.auth import OAuthMetadata
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response
from starlette.types import ASGIApp

from plughost.auth.upstream_metadata import AS_METADATA_PATH, OPENID_CONFIGURATION_PATH
from plughost.devissuer.client_auth import address_of
from plughost.devissuer.consent import ConsentPage
from plughost.devissuer.endpoints import GRANTS, Endpoints, oauth_error
from plughost.devissuer.paths import (
    AUTHORIZE_PATH,
    JWKS_PATH,
    REGISTER_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
)
from plughost.devissuer.registration import MAX_REGISTRATION_BYTES
from plughost.devissuer.server import DevAuthorizationServer, registering_from

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class ServerMetadata(OAuthMetadata):
    """RFC 8414 metadata: the SDK's model (what MCP clients parse) plus ``jwks_uri``."""

    jwks_uri: AnyHttpUrl


def metadata(server: DevAuthorizationServer) -> ServerMetadata:
    """Validated by the SDK's model from plain strings, so URLs keep their exact form (an
    issuer must compare equal as a string, RFC 8414 §3.3)."""
    base = server.issuer
    return ServerMetadata.model_validate(
        {
            "issuer": base,
            "authorization_endpoint": base + AUTHORIZE_PATH,
            "token_endpoint": base + TOKEN_PATH,
            "registration_endpoint": base + REGISTER_PATH,
            "revocation_endpoint": base + REVOKE_PATH,
            "jwks_uri": base + JWKS_PATH,
            "scopes_supported": server.declared(),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": GRANTS,
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "authorization_response_iss_parameter_supported": True,
        }
    )


def routes(server: DevAuthorizationServer) -> list[Route]:
    """Every endpoint of the authorization server, the consent page's included."""
    endpoints = Endpoints(server)
    authorize = AuthorizationHandler(server).handle
    sdk_register = RegistrationHandler(server, ClientRegistrationOptions(enabled=True)).handle

    async def register(request: Request) -> Response:
        """RFC 7591 registration, at most so many per client address and hour."""
        address = address_of(request)
        wait = await server.registration_wait(address)
        if wait is not None:
            return oauth_error(
                429,
                "invalid_client_metadata",
                "too many clients registered from this address; retry later",
                {"Retry-After": str(wait)},
            )
        token = registering_from.set(address)
        try:
            return await sdk_register(request)
        finally:
            registering_from.reset(token)

    async def document(_request: Request) -> JSONResponse:
        body = metadata(server).model_dump(mode="json", exclude_none=True)
        return JSONResponse(body, headers={"Cache-Control": "public, max-age=60"})

    async def keys(_request: Request) -> JSONResponse:
        return JSONResponse(
            await server.dev.published_keys(), headers={"Cache-Control": "public, max-age=300"}
        )

    return [
        Route(AS_METADATA_PATH, document, methods=["GET"]),
        Route(OPENID_CONFIGURATION_PATH, document, methods=["GET"]),
        Route(JWKS_PATH, keys, methods=["GET"]),
        Route(AUTHORIZE_PATH, _limited(authorize), methods=["GET", "POST"]),
        *ConsentPage(server).routes(),
        Route(TOKEN_PATH, _limited(endpoints.token), methods=["POST"]),
        Route(REGISTER_PATH, _limited(register, MAX_REGISTRATION_BYTES), methods=["POST"]),
        Route(REVOKE_PATH, _limited(endpoints.revoke), methods=["POST"]),
    ]


def _limited(
    handler: Callable[[Request], Awaitable[Response]],
    max_bytes: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
) -> ASGIApp:
    """A handler behind a request-body cap (the SDK's, as its own auth routes have)."""
    return RequestBodyLimitMiddleware(request_response(handler), max_bytes)
