"""Origin and Host validation: a web page must not be able to drive the MCP endpoint.

The MCP transport spec requires servers to validate ``Origin`` against DNS rebinding: a page
on ``evil.example`` whose name suddenly resolves to 127.0.0.1 would otherwise reach a local
server with the browser's help. Requests from a browser carry ``Origin``; it must be the public
URL's origin, a loopback origin, or one the operator allowed (``cors_origins``). The ``Host``
header of requests to ``/mcp`` and the OAuth endpoints must name this server (the public URL's
host, a loopback host, or one of ``allowed_hosts``). Probes and scrapers (``/healthz``,
``/readyz``, ``/metrics``) reach a pod by its address, so their Host is not checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from plughost.core.callrecord import current_call
from plughost.edge.asgi import header, send_json
from plughost.ops.audit import Outcome
from plughost.ops.loopback import is_loopback

UNCHECKED_HOST_PATHS = ("/healthz", "/readyz", "/metrics")

CORS_METHODS = ["GET", "POST", "DELETE", "OPTIONS"]
CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "MCP-Protocol-Version",
    "Mcp-Session-Id",
    "X-Request-ID",
]
CORS_EXPOSE_HEADERS = ["WWW-Authenticate", "Mcp-Session-Id", "X-Request-ID", "Retry-After"]
#: http(s) on localhost, 127.0.0.0/8 or [::1], any port: where a developer's tools serve pages.
LOOPBACK_ORIGIN = r"https?://(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d{1,5})?"


class OriginGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        public_url: str,
        extra_origins: Iterable[str] = (),
        extra_hosts: Iterable[str] = (),
    ) -> None:
        self.app = app
        public = urlsplit(public_url)
        self.origins = {f"{public.scheme}://{public.netloc}".lower()}
        self.origins.update(origin.rstrip("/").lower() for origin in extra_origins)
        self.hosts = {public.netloc.lower(), *(host.lower() for host in extra_hosts)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = header(scope, b"origin")
        if origin is not None and not self._origin_allowed(origin):
            await _refuse(send, f"origin {origin[:200]!r} is not allowed to call this server")
            return
        host = header(scope, b"host") or ""
        if scope["path"] not in UNCHECKED_HOST_PATHS and not self._host_allowed(host):
            await _refuse(send, f"host {host[:200]!r} is not this server")
            return
        await self.app(scope, receive, send)

    def _origin_allowed(self, origin: str) -> bool:
        parsed = urlsplit(origin)
        if origin.lower() in self.origins:
            return True
        return parsed.scheme in ("http", "https") and is_loopback(parsed.hostname or "")

    def _host_allowed(self, host: str) -> bool:
        if host.lower() in self.hosts:
            return True
        return is_loopback(urlsplit(f"//{host}").hostname or "")


async def _refuse(send: Send, description: str) -> None:
    record = current_call.get()
    if record is not None:
        record.end(Outcome.DENIED, description)
    await send_json(send, 403, {"error": "forbidden", "error_description": description})


class LoopbackCors:
    """CORS for pages served from loopback (and ``extra_origins``), on the given paths only.

    With the dev issuer, browser-based clients such as the MCP Inspector register, fetch
    tokens and call ``/mcp`` from their own page on another loopback port. The authorization
    and consent pages are left out on purpose: they are navigated to, and no other page may
    read them. Credentials (cookies) are never allowed cross-origin.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        paths: Iterable[str],
        prefixes: Iterable[str] = (),
        extra_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.prefixes = tuple(prefixes)
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(extra_origins),
            allow_origin_regex=LOOPBACK_ORIGIN,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path in self.paths or path.startswith(self.prefixes):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
