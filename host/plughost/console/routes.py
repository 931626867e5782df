"""The console's routes at ``/console``: the three pages, sign-in and sign-out, the stylesheet.

Each page sits behind the admin check (`plughost.console.access`); signing in and out is
`plughost.console.sign_in_flow`. Reads that touch the database run off the event loop within
the readiness deadline (`plughost.console.reads`), so a stalled database gives a 503 page,
never a frozen server. When the console is off every route answers 404, saying why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from plughost.auth.issuers import Issuer
from plughost.console.access import Access, off_reason
from plughost.console.clients import console_client
from plughost.console.pages import (
    HEALTH_PATH,
    SIGN_IN_PATH,
    SIGN_OUT_PATH,
    STYLESHEET_PATH,
    TRAFFIC_PATH,
    Pages,
)
from plughost.console.reads import DatabaseReads, DatabaseStalled
from plughost.console.session import (
    CALLBACK_PATH,
    CONSOLE_PATH,
    SESSION_KEY_NAME,
    ConsoleSession,
    CookieJar,
)
from plughost.console.sign_in_flow import SignInFlow
from plughost.console.traffic import not_kept, read_traffic
from plughost.console.views import health_page, plugins_page
from plughost.core.host import Host
from plughost.core.host_keys import StoredKey
from plughost.core.revocations import RevokedKeys
from plughost.devissuer.store import OAuthStore
from plughost.edge.health import Readiness

__all__ = ["CONSOLE_PATH", "Console", "mount"]


class Console:
    """The console's routes on one host."""

    def __init__(
        self,
        host: Host,
        issuer: Issuer,
        readiness: Readiness,
        *,
        public_url: str,
        off: str | None,
        store: OAuthStore | None,
        revoked: RevokedKeys,
    ) -> None:
        self.host = host
        self.issuer = issuer
        self.readiness = readiness
        self.off = off
        self.pages = Pages()
        self.reads = DatabaseReads(host.settings.readiness_timeout_seconds)
        public_url = public_url.rstrip("/")
        parts = urlsplit(public_url)
        key = StoredKey(host.engine, SESSION_KEY_NAME)
        cookies = CookieJar(key, secure=parts.scheme == "https")
        self.access = Access(issuer, key, cookies, self.pages, self.reads, revoked)
        client, not_configured = console_client(
            issuer, host.settings.console, public_url=public_url, store=store, reads=self.reads
        )
        self.flow = SignInFlow(
            client=client,
            not_configured=not_configured,
            issuer=issuer,
            origin=f"{parts.scheme}://{parts.netloc}".lower(),
            access=self.access,
            reads=self.reads,
        )

    def mount(self) -> None:
        """Add the console's routes to the host's server."""
        route = self.host.mcp.custom_route
        route(CONSOLE_PATH, methods=["GET"])(self._guarded(self.plugins))
        route(HEALTH_PATH, methods=["GET"])(self._guarded(self.health))
        route(TRAFFIC_PATH, methods=["GET"])(self._guarded(self.traffic))
        route(SIGN_IN_PATH, methods=["GET"])(self._when_on(self.flow.sign_in))
        route(CALLBACK_PATH, methods=["GET"])(self._when_on(self.flow.callback))
        route(SIGN_OUT_PATH, methods=["POST"])(self._when_on(self.flow.sign_out))
        route(STYLESHEET_PATH, methods=["GET"])(self._when_on(self.css))

    def _when_on(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def answer(request: Request) -> Response:
            if self.off is not None:
                return self.pages.message(
                    404, "The console is off", f"The console is off because {self.off}"
                )
            try:
                return await handler(request)
            except DatabaseStalled as exc:
                return self.pages.message(503, "The database did not answer", str(exc))

        return answer

    def _guarded(self, page: Callable[[Request, ConsoleSession], Any]) -> Callable[[Request], Any]:
        async def answer(request: Request) -> Response:
            viewer = await self.access.viewer(request)
            if isinstance(viewer, Response):
                return viewer
            return await page(request, viewer)

        return self._when_on(answer)

    async def plugins(self, _request: Request, viewer: ConsoleSession) -> Response:
        return self.pages.page("plugins.html", viewer, page=plugins_page(self.host))

    async def health(self, _request: Request, viewer: ConsoleSession) -> Response:
        ready, _ = await self.readiness.check()
        page = health_page(self.host, self.issuer, ready, dict(self.readiness.last))
        return self.pages.page("health.html", viewer, page=page)

    async def traffic(self, _request: Request, viewer: ConsoleSession) -> Response:
        if self.host.settings.audit.database:
            page = await self.reads(read_traffic, self.host.engine)
        else:
            page = not_kept()
        return self.pages.page("traffic.html", viewer, page=page)

    async def css(self, _request: Request) -> Response:
        return self.pages.css()


def mount(
    host: Host,
    issuer: Issuer,
    readiness: Readiness,
    *,
    public_url: str,
    bind_host: str,
    store: OAuthStore | None,
    revoked: RevokedKeys,
) -> Console:
    """Build the console for this host and add its routes (answering 404 when it is off)."""
    console = Console(
        host,
        issuer,
        readiness,
        public_url=public_url,
        off=off_reason(host, issuer, bind_host),
        store=store,
        revoked=revoked,
    )
    console.mount()
    return console
