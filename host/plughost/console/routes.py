"""The console's HTTP side: sign-in, sign-out, the three pages, and who may see them.

Every page needs a caller holding ``plughost:admin``: a browser signs in through the issuer
(`plughost.console.signin`) and keeps a sealed session cookie (`plughost.console.session`);
a script may send ``Authorization: Bearer`` instead. Either way the token is checked by the
host's own verifier, as for an MCP call; without the scope the answer is a 403 page. Reads
that touch the database run off the event loop within the readiness deadline, so a stalled
database gives a 503 page, never a frozen server. Every answer carries strict headers: no
script at all, no framing, no caching.

The console is off (404, saying why) when settings turn it off, and when the embedded dev
issuer is reachable from the network: whoever can reach it could mint the admin scope.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import anyio
import anyio.to_thread
import jinja2
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import AnyUrl, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from plughost.auth.issuers import Issuer
from plughost.auth.upstream_metadata import UpstreamMetadata, UpstreamUnavailable
from plughost.auth.verifier import InvalidToken, Verified
from plughost.console.session import (
    CALLBACK_PATH,
    CONSOLE_PATH,
    SESSION_KEY_NAME,
    SIGN_IN_SECONDS,
    ConsoleSession,
    CookieJar,
    SignInState,
)
from plughost.console.signin import (
    DEV_CLIENT_ID,
    DEV_CLIENT_NAME,
    ConsoleClient,
    Endpoints,
    SignInFailed,
    pkce_pair,
)
from plughost.console.traffic import not_kept, read_traffic
from plughost.console.views import health_page, plugins_page
from plughost.core.host import Host
from plughost.core.host_keys import StoredKey
from plughost.core.host_scopes import ADMIN_SCOPE
from plughost.devissuer.paths import AUTHORIZE_PATH, TOKEN_PATH
from plughost.devissuer.store import OAuthStore
from plughost.edge.health import Readiness
from plughost.ops.loopback import is_loopback

log = logging.getLogger("plughost.console")

HEALTH_PATH = f"{CONSOLE_PATH}/health"
TRAFFIC_PATH = f"{CONSOLE_PATH}/traffic"
SIGN_IN_PATH = f"{CONSOLE_PATH}/signin"
SIGN_OUT_PATH = f"{CONSOLE_PATH}/signout"
STYLESHEET_PATH = f"{CONSOLE_PATH}/console.css"
#: Database reads of the console at a time (the rest wait, within the deadline).
DATABASE_READERS = 2

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; object-src 'none'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The sign-out form must carry its Origin (no-referrer would send "null").
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

T = TypeVar("T")


class DatabaseStalled(RuntimeError):
    """A console read did not finish within the deadline, or the database refused it."""


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
    ) -> None:
        self.host = host
        self.issuer = issuer
        self.readiness = readiness
        self.off = off
        self.public_url = public_url.rstrip("/")
        parts = urlsplit(self.public_url)
        self.origin = f"{parts.scheme}://{parts.netloc}".lower()
        self.timeout = host.settings.readiness_timeout_seconds
        self._readers = anyio.CapacityLimiter(DATABASE_READERS)
        self.key = StoredKey(host.engine, SESSION_KEY_NAME)
        self.cookies = CookieJar(self.key, secure=parts.scheme == "https")
        self.client, self.not_configured = self._client(store)
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("plughost.console", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["when"] = _when
        self.stylesheet = (
            resources.files("plughost.console").joinpath("static/console.css").read_bytes()
        )

    # --- the OAuth client ------------------------------------------------------------------

    def _client(self, store: OAuthStore | None) -> tuple[ConsoleClient | None, str | None]:
        settings = self.host.settings.console
        redirect_uri = self.public_url + CALLBACK_PATH
        console_client = partial(
            ConsoleClient, redirect_uri=redirect_uri, resource=self.issuer.resource
        )
        if self.issuer.dev is not None and store is not None:
            base = self.public_url
            registration = OAuthClientInformationFull(
                client_id=DEV_CLIENT_ID,
                client_name=DEV_CLIENT_NAME,
                redirect_uris=[AnyUrl(redirect_uri)],
                token_endpoint_auth_method="none",
                grant_types=["authorization_code"],
                response_types=["code"],
                scope=ADMIN_SCOPE,
            )
            registered = False

            async def register() -> None:
                nonlocal registered
                if not registered:
                    await self._blocking(store.put_client, registration)
                    registered = True

            async def dev_endpoints() -> Endpoints:
                return Endpoints(
                    issuer=base, authorize=base + AUTHORIZE_PATH, token=base + TOKEN_PATH
                )

            client = console_client(
                client_id=DEV_CLIENT_ID,
                client_secret=None,
                scope=ADMIN_SCOPE,
                endpoints=dev_endpoints,
                register=register,
            )
            return client, None
        if settings.client_id is None or not self.issuer.metadata_urls:
            return None, (
                f"The {self.issuer.kind} issuer signs people in to the console through a client "
                "registered there: register one with the redirect URI "
                f"{redirect_uri} and set PLUGHOST_CONSOLE__CLIENT_ID (and "
                "PLUGHOST_CONSOLE__CLIENT_SECRET if it is confidential)."
            )
        upstream = UpstreamMetadata(self.issuer.metadata_urls)

        async def endpoints() -> Endpoints:
            document = await upstream.document()
            try:
                return Endpoints.model_validate(
                    {
                        "issuer": document.get("issuer"),
                        "authorize": document.get("authorization_endpoint"),
                        "token": document.get("token_endpoint"),
                    }
                )
            except ValidationError:
                raise UpstreamUnavailable(
                    "the issuer's metadata names no authorization_endpoint or token_endpoint"
                ) from None

        secret = settings.client_secret
        client = console_client(
            client_id=settings.client_id,
            client_secret=secret.get_secret_value() if secret else None,
            scope=ADMIN_SCOPE,
            endpoints=endpoints,
        )
        return client, None

    # --- routes ----------------------------------------------------------------------------

    def mount(self) -> None:
        """Add the console's routes to the host's server."""
        route = self.host.mcp.custom_route
        route(CONSOLE_PATH, methods=["GET"])(self._guarded(self.plugins))
        route(HEALTH_PATH, methods=["GET"])(self._guarded(self.health))
        route(TRAFFIC_PATH, methods=["GET"])(self._guarded(self.traffic))
        route(SIGN_IN_PATH, methods=["GET"])(self._when_on(self.sign_in))
        route(CALLBACK_PATH, methods=["GET"])(self._when_on(self.callback))
        route(SIGN_OUT_PATH, methods=["POST"])(self._when_on(self.sign_out))
        route(STYLESHEET_PATH, methods=["GET"])(self._when_on(self.css))

    def _when_on(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def answer(request: Request) -> Response:
            if self.off is not None:
                return self._message(
                    404, "The console is off", f"The console is off because {self.off}"
                )
            try:
                return await handler(request)
            except DatabaseStalled as exc:
                return self._message(503, "The database did not answer", str(exc))

        return answer

    def _guarded(self, page: Callable[[Request, ConsoleSession], Any]) -> Callable[[Request], Any]:
        async def answer(request: Request) -> Response:
            viewer = await self._viewer(request)
            if isinstance(viewer, Response):
                return viewer
            return await page(request, viewer)

        return self._when_on(answer)

    async def _viewer(self, request: Request) -> ConsoleSession | Response:
        """Who is asking, holding the admin scope; otherwise the answer to give instead."""
        header = request.headers.get("authorization")
        viewer: ConsoleSession | None
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return self._message(401, "Not signed in", "Send a bearer token, or sign in.")
            try:
                viewer = _session_of(await self.issuer.verifier.verify(token.strip()))
            except InvalidToken:
                return self._message(
                    401, "Not signed in", "The bearer token was refused; get a new one."
                )
        else:
            await self._key_ready()
            viewer = self.cookies.open(
                request.cookies.get(self.cookies.session_name), ConsoleSession
            )
            if viewer is None:
                back = urlencode({"next": request.url.path})
                return RedirectResponse(
                    f"{SIGN_IN_PATH}?{back}", status_code=303, headers=PAGE_HEADERS
                )
        if ADMIN_SCOPE not in viewer.scopes:
            return self._forbidden(viewer)
        return viewer

    async def plugins(self, _request: Request, viewer: ConsoleSession) -> Response:
        return self._page("plugins.html", viewer, page=plugins_page(self.host))

    async def health(self, _request: Request, viewer: ConsoleSession) -> Response:
        ready, _ = await self.readiness.check()
        page = health_page(self.host, self.issuer, ready, dict(self.readiness.last))
        return self._page("health.html", viewer, page=page)

    async def traffic(self, _request: Request, viewer: ConsoleSession) -> Response:
        if self.host.settings.audit.database:
            page = await self._blocking(read_traffic, self.host.engine)
        else:
            page = not_kept()
        return self._page("traffic.html", viewer, page=page)

    async def css(self, _request: Request) -> Response:
        headers = {**PAGE_HEADERS, "Cache-Control": "public, max-age=300"}
        return Response(self.stylesheet, media_type="text/css", headers=headers)

    # --- signing in and out ----------------------------------------------------------------

    async def sign_in(self, request: Request) -> Response:
        if self.client is None:
            return self._message(503, "The console is not configured", self.not_configured or "")
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(24)
        try:
            target = await self.client.authorize_url(state, challenge)
        except UpstreamUnavailable as exc:
            return self._message(503, "The issuer did not answer", str(exc))
        pending = SignInState(
            state=state,
            verifier=verifier,
            back_to=_console_path(request.query_params.get("next")),
            expires_at=int(time.time()) + SIGN_IN_SECONDS,
        )
        sealed = await self._blocking(self.cookies.seal, pending)
        response = RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
        self.cookies.set_sign_in(response, sealed, pending.expires_at)
        return response

    async def callback(self, request: Request) -> Response:
        if self.client is None:
            return self._message(503, "The console is not configured", self.not_configured or "")
        params = request.query_params
        await self._key_ready()
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
        viewer = _session_of(verified)
        if ADMIN_SCOPE not in viewer.scopes:
            refused = self._forbidden(viewer)
            self.cookies.clear_sign_in(refused)
            return refused
        sealed = await self._blocking(self.cookies.seal, viewer)
        response = RedirectResponse(pending.back_to, status_code=303, headers=PAGE_HEADERS)
        self.cookies.set_session(response, sealed, viewer.expires_at)
        self.cookies.clear_sign_in(response)
        log.info("console: %s signed in through client %s", viewer.subject, viewer.client_id)
        return response

    async def sign_out(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/").lower() != self.origin:
            return self._message(403, "Not signed out", "The request came from another site.")
        response = self._message(
            200, "Signed out", "The console forgot this browser's session.", sign_in=True
        )
        self.cookies.clear_session(response)
        return response

    # --- helpers ---------------------------------------------------------------------------

    async def _blocking(self, func: Callable[..., T], *args: Any) -> T:
        """A call that may touch the database: off the loop, within the deadline."""
        try:
            with anyio.fail_after(self.timeout):
                return await anyio.to_thread.run_sync(
                    partial(func, *args), abandon_on_cancel=True, limiter=self._readers
                )
        except TimeoutError:
            raise DatabaseStalled(
                f"The database did not answer within {self.timeout}s; try again shortly."
            ) from None
        except SQLAlchemyError as exc:
            raise DatabaseStalled(
                f"The database could not be read ({type(exc).__name__}); try again shortly."
            ) from None

    async def _key_ready(self) -> None:
        if not self.key.loaded:
            await self._blocking(self.key.value)

    def _page(self, template: str, viewer: ConsoleSession, **context: Any) -> HTMLResponse:
        return self._render(200, template, viewer=viewer, **context)

    def _render(self, status: int, template: str, **context: Any) -> HTMLResponse:
        body = self.templates.get_template(template).render(
            paths={
                "plugins": CONSOLE_PATH,
                "health": HEALTH_PATH,
                "traffic": TRAFFIC_PATH,
                "sign_in": SIGN_IN_PATH,
                "sign_out": SIGN_OUT_PATH,
                "css": STYLESHEET_PATH,
            },
            admin_scope=ADMIN_SCOPE,
            **context,
        )
        return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)

    def _message(
        self, status: int, title: str, text: str, *, sign_in: bool = False
    ) -> HTMLResponse:
        return self._render(
            status, "message.html", viewer=None, title=title, text=text, sign_in=sign_in
        )

    def _sign_in_again(self, status: int, text: str) -> HTMLResponse:
        response = self._message(status, "Sign-in not completed", text, sign_in=True)
        self.cookies.clear_sign_in(response)
        return response

    def _forbidden(self, viewer: ConsoleSession) -> HTMLResponse:
        return self._render(403, "forbidden.html", viewer=None, who=viewer)


def _session_of(verified: Verified) -> ConsoleSession:
    caller = verified.caller
    return ConsoleSession(
        subject=caller.subject,
        client_id=caller.client_id,
        tenant=caller.tenant_id,
        scopes=sorted(caller.scopes),
        expires_at=verified.expires_at,
    )


def _console_path(requested: str | None) -> str:
    """Where to land after signing in: a console page of this server, nothing else."""
    if requested in (CONSOLE_PATH, HEALTH_PATH, TRAFFIC_PATH):
        return requested
    return CONSOLE_PATH


def _when(value: datetime | None) -> str:
    return "never" if value is None else f"{value:%Y-%m-%d %H:%M:%S} UTC"


def mount(
    host: Host,
    issuer: Issuer,
    readiness: Readiness,
    *,
    public_url: str,
    bind_host: str,
    store: OAuthStore | None,
) -> Console:
    """Build the console for this host and add its routes (answering 404 when it is off)."""
    console = Console(
        host,
        issuer,
        readiness,
        public_url=public_url,
        off=off_reason(host, issuer, bind_host),
        store=store,
    )
    console.mount()
    return console
