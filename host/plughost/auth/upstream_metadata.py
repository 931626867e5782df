"""A real issuer's authorization-server metadata, also answered on this server's own origin.

MCP clients of the current spec follow the protected-resource metadata to the issuer. Older
clients look for ``/.well-known/oauth-authorization-server`` on the MCP server's own origin;
like FastMCP's Scalekit provider, Plughost answers there with the issuer's own document
(Scalekit's resource-scoped one, or the OIDC issuer's), so both kinds of client end up at the
same authorization server.

Fetching is on demand, with a deadline, and shared: one fetch serves every request for
`TTL_SECONDS`; concurrent requests on an empty or stale cache wait for one fetch, not one
each. When a refresh fails the last good document keeps being served, and the issuer is not
asked again for `RETRY_SECONDS`; with nothing cached, callers get 502 and ``Retry-After``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("plughost.auth.upstream")

TTL_SECONDS = 300.0
RETRY_SECONDS = 5.0
TIMEOUT_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024
#: The well-known paths of an authorization server's metadata (RFC 8414 §3, OpenID Connect
#: Discovery §4), on a real issuer and on this server's own origin alike.
AS_METADATA_PATH = "/.well-known/oauth-authorization-server"
OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration"


class UpstreamUnavailable(RuntimeError):
    """No metadata document could be fetched; the message names each URL and why."""


class UpstreamMetadata:
    """The issuer's metadata document, fetched from the first of ``urls`` that answers."""

    def __init__(
        self,
        urls: list[str],
        *,
        ttl: float = TTL_SECONDS,
        timeout: float = TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("at least one metadata URL is needed")
        self.urls = urls
        self._ttl = ttl
        self._timeout = timeout
        self._clock = clock
        self._document: dict[str, Any] | None = None
        self._fresh_until = 0.0
        self._retry_at = 0.0
        self._lock = anyio.Lock()
        self.fetch_count = 0

    async def endpoint(self, _request: Request) -> JSONResponse:
        try:
            document = await self.document()
        except UpstreamUnavailable as exc:
            return JSONResponse(
                {"error": "temporarily_unavailable", "error_description": str(exc)},
                status_code=502,
                headers={"Retry-After": str(int(RETRY_SECONDS)), "Cache-Control": "no-store"},
            )
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})

    async def document(self) -> dict[str, Any]:
        """The cached document, refreshed when stale; the stale one if the refresh fails."""
        if self._document is not None and self._clock() < self._fresh_until:
            return self._document
        async with self._lock:
            now = self._clock()
            if self._document is not None and now < self._fresh_until:
                return self._document
            if now >= self._retry_at:
                try:
                    self._document = await self._fetch()
                    self._fresh_until = self._clock() + self._ttl
                    return self._document
                except UpstreamUnavailable as exc:
                    self._retry_at = self._clock() + RETRY_SECONDS
                    log.warning("issuer metadata not refreshed: %s", exc)
                    if self._document is None:
                        raise
            if self._document is None:
                raise UpstreamUnavailable("the issuer's metadata was unavailable moments ago")
            return self._document

    async def _fetch(self) -> dict[str, Any]:
        errors = []
        self.fetch_count += 1
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
            for url in self.urls:
                try:
                    response = await client.get(url, headers={"Accept": "application/json"})
                    response.raise_for_status()
                    if len(response.content) > MAX_DOCUMENT_BYTES:
                        raise ValueError("document too large")
                    document = response.json()
                except (httpx.HTTPError, ValueError) as exc:
                    errors.append(f"{url}: {type(exc).__name__}")
                    continue
                if isinstance(document, dict) and isinstance(document.get("issuer"), str):
                    return document
                errors.append(f"{url}: not an authorization-server metadata document")
        raise UpstreamUnavailable("; ".join(errors))


def metadata_urls(issuer_url: str) -> list[str]:
    """Where an issuer's metadata may be, in the order MCP clients try them (RFC 8414 §3.1
    inserts the well-known segment before the issuer's path; OIDC appends it)."""
    parts = httpx.URL(issuer_url)
    origin = f"{parts.scheme}://{parts.netloc.decode()}"
    path = parts.path.rstrip("/")
    if not path:
        return [f"{origin}{AS_METADATA_PATH}", f"{origin}{OPENID_CONFIGURATION_PATH}"]
    return [
        f"{origin}{AS_METADATA_PATH}{path}",
        f"{origin}{OPENID_CONFIGURATION_PATH}{path}",
        f"{origin}{path}{OPENID_CONFIGURATION_PATH}",
    ]
