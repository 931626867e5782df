"""Assemble the ASGI application a replica serves: plugins, auth, the call policy, the edge.

The request path is declared in one place, `middleware`, outermost first, ending with the gate
and the list cache; what they pass on meets FastMCP's own layers (its request context and
bearer authentication) and its transport last. `docs/architecture.md` walks one call through it.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from plughost.auth.issuers import resolve_issuer
from plughost.auth.provider import PlughostAuth
from plughost.auth.token_exchange import build_exchanger
from plughost.console import routes as console
from plughost.core.discovery import LoadReport
from plughost.core.host import Host, build_host, load_plugins
from plughost.core.host_scopes import HOST_NAMESPACE, HOST_SCOPES
from plughost.core.revocations import Revocations, RevokedKeys
from plughost.devissuer.keys import DevIssuer, embedded_issuer
from plughost.devissuer.options import DevServerOptions, ScopeInfo
from plughost.devissuer.paths import BROWSER_PATHS
from plughost.devissuer.routes import routes as dev_issuer_routes
from plughost.devissuer.server import DevAuthorizationServer
from plughost.devissuer.store import OAuthStore
from plughost.edge import health
from plughost.edge.allowlist import NetworkAllowList
from plughost.edge.answers import Answers
from plughost.edge.binding import banner, check_dev_exposure, public_url
from plughost.edge.fastpath import FastPath
from plughost.edge.gate import RequestGate, Transport
from plughost.edge.listcache import ToolListCache
from plughost.edge.origin import (
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    CORS_METHODS,
    LoopbackCors,
    OriginGuard,
)
from plughost.edge.recorder import CallRecorder
from plughost.ops.logs import RequestLog
from plughost.ops.metrics import Metrics
from plughost.ops.refusal_logs import quiet_refusals
from plughost.ops.tracing import TraceEdge, Tracing
from plughost.policy.call_policy import CallPolicy
from plughost.policy.guardrails import Guardrails
from plughost.policy.middleware import PolicyMiddleware
from plughost.settings import MCP_PATH, HostSettings, load_settings

BIND_ENV = "_PLUGHOST_BIND"


def build(
    settings: HostSettings,
    *,
    bind_host: str = "127.0.0.1",
    port: int = 8000,
    tracing: Tracing | None = None,
    clock: Callable[[], float] = time.monotonic,
    one_process: bool = True,
) -> Starlette:
    """Load plugins and build the app; ``app.state.plughost`` is the `Host`. Traces go where
    the ``OTEL_*`` variables say unless ``tracing`` is given (tests, benchmarks); ``clock``
    times the issuer's key cache (tests of its intervals advance their own); ``one_process``
    is False in each of several worker processes."""
    check_dev_exposure(settings, bind_host)
    quiet_refusals()
    tracing = tracing or Tracing.from_environment()
    base = public_url(settings, bind_host, port)
    report = load_plugins(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    metrics = Metrics()
    dev = embedded_issuer(settings.auth, settings.data_dir)
    auth = resource_server(settings, report, metrics, dev, base, clock)
    issuer = auth.issuer
    exchanger = build_exchanger(settings.token_exchange, issuer)
    host = build_host(
        settings,
        auth=auth,
        report=report,
        metrics=metrics,
        exchanger=exchanger,
        one_process=one_process,
    )
    revoked = RevokedKeys(
        Revocations(host.engine), poll_seconds=settings.auth.revocation_poll_seconds
    )
    store = _serve_dev_issuer(host, auth, dev, base, revoked)
    readiness = health.routes(host, issuer.keys.ensure)
    panel = console.mount(
        host, issuer, readiness, public_url=base, bind_host=bind_host, store=store, revoked=revoked
    )
    answers = Answers(auth.resource_metadata_url, lambda: baseline_scopes(report))
    app = create_app(host, auth=auth, public_url=base, answers=answers, tracing=tracing)
    app.state.plughost, app.state.plughost_tracing = host, tracing
    app.state.plughost_issuer = issuer
    app.state.plughost_banner = banner(
        issuer,
        base,
        bind_host,
        report_count=len(report.loaded),
        mount_count=len(settings.mounts),
        console_url=None if panel.off is not None else base + console.CONSOLE_PATH,
    )
    if dev is not None:
        dev.remember_url(base, issuer.resource)
    return app


def resource_server(
    settings: HostSettings,
    report: LoadReport,
    metrics: Metrics,
    dev: DevIssuer | None,
    base: str,
    clock: Callable[[], float],
) -> PlughostAuth:
    """The OAuth resource server: the configured issuer (its keys counted in ``metrics``) and
    the scopes the loaded plugins and mounts declare."""
    issuer = resolve_issuer(
        settings.auth,
        public_url=base,
        dev=dev,
        on_jwks_fetch=lambda ok: metrics.jwks_fetches.labels(result="ok" if ok else "error").inc(),
        clock=clock,
    )
    return PlughostAuth(
        issuer,
        base_url=base,
        scopes_supported=lambda: scopes_supported(report, settings),
        baseline_scopes=lambda: baseline_scopes(report),
    )


def scopes_supported(report: LoadReport, settings: HostSettings) -> list[str]:
    """Every scope a caller may hold here: the host's, the loaded plugins' and the mounts'."""
    plugins = {scope for p in report.loaded for scope in p.record.scopes}
    return sorted({*HOST_SCOPES, *plugins, *mount_scopes(settings)})


def mount_scopes(settings: HostSettings) -> dict[str, str]:
    """The scope vocabulary of every mounted server, as its operator declared it."""
    return {scope: text for m in settings.mounts.values() for scope, text in m.scopes.items()}


def baseline_scopes(report: LoadReport) -> list[str]:
    """The least-privilege scopes a sign-in asks for first (clients step up on a 403)."""
    return sorted({scope for p in report.loaded for scope in p.record.baseline_scopes})


def scope_catalog(report: LoadReport, settings: HostSettings) -> list[ScopeInfo]:
    """Every scope with its owner and description, for the dev issuer's consent page."""
    owned = [(p.namespace, p.record.scopes) for p in report.loaded]
    owned += [(name, mount.scopes) for name, mount in settings.mounts.items()]
    return [
        ScopeInfo(name=name, plugin=owner, description=description)
        for owner, scopes in [*owned, (HOST_NAMESPACE, HOST_SCOPES)]
        for name, description in scopes.items()
    ]


def _serve_dev_issuer(
    host: Host, auth: PlughostAuth, dev: DevIssuer | None, base: str, revoked: RevokedKeys
) -> OAuthStore | None:
    """The embedded issuer's authorization server, on the host's database (dev issuer only);
    the resource server then refuses the tokens of the sign-ins it revokes."""
    if dev is None:
        return None
    auth.issuer.verifier.revocations = revoked
    store = OAuthStore(host.engine)
    settings, report = host.settings, host.report
    options = DevServerOptions.from_settings(settings.auth, settings.token_exchange)
    server = DevAuthorizationServer(
        dev,
        store,
        base,
        auth.issuer.resource,
        lambda: scope_catalog(report, settings),
        lambda: baseline_scopes(report),
        options,
        revoked,
    )
    auth.serve_issuer(dev_issuer_routes(server))
    return store


def call_policy(host: Host) -> CallPolicy:
    """The one call policy, over the host's registry, limiter and every plugin's guardrails."""
    settings = host.settings
    guardrails = Guardrails(
        lambda: host.report.loaded,
        loops=host.guard_loops,
        timeout=settings.guardrail_timeout_seconds,
        metrics=host.metrics,
    )
    return CallPolicy(
        registry=host.registry,
        limiter=host.limiter,
        guardrails=guardrails,
        metrics=host.metrics,
        on_storage_error=settings.rate_limit.on_storage_error,
        list_all=settings.auth.list_all_tools,
    )


def create_app(
    host: Host,
    *,
    auth: PlughostAuth,
    public_url: str,
    answers: Answers,
    tracing: Tracing | None = None,
) -> Starlette:
    """The ASGI app: stateless streamable HTTP at ``/mcp`` behind the host's own layers."""
    policy = call_policy(host)
    host.mcp.add_middleware(PolicyMiddleware(policy, host.ledger))
    app = host.mcp.http_app(path=MCP_PATH, stateless_http=True, json_response=True)
    for layer in reversed(
        middleware(host, public_url, tracing) + front(host, auth, policy, answers)
    ):
        app.add_middleware(layer.cls, *layer.args, **layer.kwargs)
    return app


def middleware(host: Host, public_url: str, tracing: Tracing | None) -> list[Middleware]:
    """The layers every request meets, outermost first; then come `front`'s."""
    settings = host.settings
    layers = [Middleware(RequestLog)]
    if settings.allowed_networks:
        layers.append(
            Middleware(
                NetworkAllowList,
                allowed=settings.allowed_networks,
                trusted_proxies=settings.trusted_proxies,
            )
        )
    if settings.auth.issuer == "dev":
        # Browser-based clients (the Inspector) sign in and call /mcp from their own page.
        layers.append(
            Middleware(
                LoopbackCors,
                paths=(MCP_PATH, *BROWSER_PATHS),
                prefixes=("/.well-known/",),
                extra_origins=settings.cors_origins,
            )
        )
    elif settings.cors_origins:
        layers.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=CORS_METHODS,
                allow_headers=CORS_ALLOW_HEADERS,
                expose_headers=CORS_EXPOSE_HEADERS,
            )
        )
    if tracing is not None and tracing.tracer is not None:
        layers.append(Middleware(TraceEdge, tracer=tracing.tracer, mcp_path=MCP_PATH))
    layers.append(Middleware(CallRecorder, ledger=host.ledger, mcp_path=MCP_PATH))
    layers.append(
        Middleware(
            OriginGuard,
            public_url=public_url,
            extra_origins=settings.cors_origins,
            extra_hosts=settings.allowed_hosts,
        )
    )
    return layers


def front(host: Host, auth: PlughostAuth, policy: CallPolicy, answers: Answers) -> list[Middleware]:
    """The layers that answer ``/mcp`` themselves where they can, in front of FastMCP's app:
    `RequestGate` (transport checks, the caller's token, the call policy, the fast path) and
    `ToolListCache`. Only what they pass on meets FastMCP's request context, its bearer
    middleware and its transport."""
    settings = host.settings
    fast = settings.fast_path
    gate = Middleware(
        RequestGate,
        transport=Transport(
            mcp_path=MCP_PATH,
            max_body_bytes=settings.max_request_bytes,
            max_json_depth=settings.max_json_depth,
        ),
        auth=auth,
        policy=policy,
        answers=answers,
        fast_path=FastPath(host.tools, policy, host.asking) if fast else None,
        asking=host.asking if fast else None,
    )
    return [gate, Middleware(ToolListCache, registry=host.registry)]


def app_from_env() -> Starlette:
    """The app a worker process builds (``plughost serve --workers N``): settings from the
    environment, the bind address from ``_PLUGHOST_BIND`` set by the parent."""
    host, _, port = os.environ.get(BIND_ENV, "127.0.0.1:8000").rpartition(":")
    app = build(load_settings(), bind_host=host, port=int(port), one_process=False)
    tune_gc_for_serving()
    return app


#: Young-generation GC threshold while serving: CPython's default of 700 net allocations
#: means a collection every other request or so under load.
SERVING_GC_THRESHOLD = 10_000


def tune_gc_for_serving() -> None:
    """Keep the cyclic garbage collector off the per-request path of a serving process.

    Everything built at start-up (modules, plugins, tools, the app) lives as long as the
    process, yet each full collection would walk it all again while requests wait; freezing
    it does that work once. Young collections are made rarer too: reference counting already
    frees almost everything a request allocates, and with many requests in flight each young
    collection mostly walks (and promotes) live request state. Together this took more off
    each call than the host's own middleware adds (bench/RESULTS.md). For the process
    `plughost serve` runs, not for tests that start many hosts in one process.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(SERVING_GC_THRESHOLD, older, oldest)
