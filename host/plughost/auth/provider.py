"""The host's FastMCP auth provider: our verifier behind FastMCP's bearer middleware.

FastMCP's `RequireAuthMiddleware` answers missing or invalid tokens with the RFC 6750 / MCP
challenge (``resource_metadata`` always; ``error="invalid_token"`` only when a token was sent).
This provider supplies the verification, the RFC 9728 metadata documents, and either the
embedded issuer's authorization server (dev mode: its routes are built by `plughost.devissuer`
and handed in by app assembly) or, for Scalekit and OIDC, the real issuer's
authorization-server metadata answered on this server's own origin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from fastmcp.server.auth import AccessToken, AuthProvider
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plughost.auth.issuers import Issuer
from plughost.auth.upstream_metadata import AS_METADATA_PATH, UpstreamMetadata
from plughost.auth.verifier import InvalidToken, Verified
from plughost.core.callrecord import current_call
from plughost.ops.tracing import step
from plughost.sdk.context import Caller
from plughost.settings import MCP_PATH

log = logging.getLogger("plughost.auth")

METADATA_PATH = "/.well-known/oauth-protected-resource"


class CallerToken(AccessToken):
    """A verified token as FastMCP keeps it for the request, with our `Caller` attached."""

    caller: Caller


class PlughostAuth(AuthProvider):
    def __init__(
        self,
        issuer: Issuer,
        *,
        base_url: str,
        scopes_supported: Callable[[], list[str]],
        baseline_scopes: Callable[[], list[str]] = list,
    ) -> None:
        super().__init__(base_url=base_url)
        self.issuer = issuer
        self._base_url = base_url.rstrip("/")
        self._scopes = scopes_supported
        self._baseline = baseline_scopes
        self._issuer_routes: list[Route] | None = None
        self._upstream = UpstreamMetadata(issuer.metadata_urls) if issuer.metadata_urls else None

    def serve_issuer(self, routes: list[Route]) -> None:
        """Serve the embedded issuer's authorization server (``routes``) on this origin. They
        come after this provider: its store is the host's database, built behind this provider."""
        if self.issuer.dev is None:
            raise RuntimeError(f"the {self.issuer.kind} issuer has no embedded server to run")
        self._issuer_routes = routes

    @property
    def scopes_supported(self) -> list[str]:
        return self._scopes()

    def get_challenge_scopes(self, required_scopes: list[str] | None = None) -> list[str]:
        """The 401 asks for the plugins' least-privilege baseline, not for every scope: a
        client limited to a few scopes can still sign in, and steps up on a 403."""
        return self._baseline() if required_scopes is None else required_scopes

    @property
    def resource_metadata_url(self) -> str:
        return self._base_url + METADATA_PATH + MCP_PATH

    async def verify_token(self, token: str) -> AccessToken | None:
        verified = await self.verified(token)
        if verified is None:
            return None
        caller = verified.caller
        return CallerToken(
            token=token,
            client_id=caller.client_id or caller.subject,
            scopes=sorted(caller.scopes),
            expires_at=verified.expires_at,
            subject=caller.subject,
            caller=caller,
        )

    async def verified(self, token: str) -> Verified | None:
        """The identity ``token`` proves, or None with the reason on the call record (the
        audit trail and metrics say why) and in the log."""
        with step("verify token") as span:
            try:
                verified = await self.issuer.verifier.verify(token)
                if verified.expires_at < int(time.time()):
                    # Past ``exp`` though within the verifier's leeway: the MCP SDK's bearer
                    # middleware refuses it, so the gate does too (one answer on every path).
                    raise InvalidToken("token expired")
                return verified
            except InvalidToken as exc:
                span.set_attribute("plughost.auth.refusal", exc.reason)
                record = current_call.get()
                if record is not None:
                    record.auth_refusal = exc.reason
                log.info("bearer token refused: %s", exc.reason)
                return None

    def get_routes(self, mcp_path: str | None = None) -> list[Route]:
        self.set_mcp_path(mcp_path)

        async def metadata(_request: Request) -> JSONResponse:
            return JSONResponse(
                {
                    "resource": self.issuer.resource,
                    "authorization_servers": self.issuer.authorization_servers,
                    "scopes_supported": self._scopes(),
                    "bearer_methods_supported": ["header"],
                    "resource_name": "Plughost MCP server",
                },
                headers={"Cache-Control": "public, max-age=300"},
            )

        routes = [
            Route(METADATA_PATH, metadata, methods=["GET"]),
            Route(METADATA_PATH + (mcp_path or MCP_PATH), metadata, methods=["GET"]),
        ]
        if self.issuer.dev is not None:
            if self._issuer_routes is None:
                raise RuntimeError("serve_issuer must be called before the routes are built")
            routes += self._issuer_routes
        if self._upstream is not None:
            routes.append(Route(AS_METADATA_PATH, self._upstream.endpoint, methods=["GET"]))
        return routes
