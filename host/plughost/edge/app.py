"""Assemble the ASGI application a replica serves: plugins, auth, and the MCP endpoint.

From the outside in, a request meets: `RequestLog` (request id, one log line), the optional
network allow-list and CORS, `TraceEdge` (the request's trace, when tracing is on),
`CallRecorder` (the call record; no bare 500s), `OriginGuard`
(Origin and Host, against DNS rebinding), FastMCP's bearer authentication, `RequestGate`
(body, message, scopes, rate limit), `ToolListCache`, and finally FastMCP's streamable HTTP
transport and the plugin's tool.
"""

from __future__ import annotations

import gc
import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from plughost.auth.issuers import resolve_issuer
from plughost.auth.provider import PlughostAuth
from plughost.auth.token_exchange import build_exchanger
from plughost.console import routes as console
from plughost.core.host import Host, build_host, load_plugins
from plughost.core.host_scopes import HOST_NAMESPACE, HOST_SCOPES
from plughost.devissuer.keys import embedded_issuer
from plughost.devissuer.options import DevServerOptions, ScopeInfo
from plughost.devissuer.paths import BROWSER_PATHS
from plughost.devissuer.routes import routes as dev_issuer_routes
from plughost.devissuer.server import DevAuthorizationServer
from plughost.devissuer.store import OAuthStore
from plughost.edge import health
from plughost.edge.allowlist import NetworkAllowList
from plughost.edge.binding import banner, check_dev_exposure, public_url
from plughost.edge.fastpath import FastPath
from plughost.edge.gate import GatePolicy, RequestGate
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
from plughost.ops.tracing import TraceEdge, Tracing
from plughost.settings import MCP_PATH, HostSettings, load_settings

BIND_ENV = "_PLUGHOST_BIND"


def build(
    settings: HostSettings,
    *,
    bind_host: str = "127.0.0.1",
    port: int = 8000,
    tracing: Tracing | None = None,
) -> Starlette:
    """Load plugins and build the app; ``app.state.plughost`` is the `Host`. Traces go where
    the ``OTEL_*`` variables say unless ``tracing`` is given (tests, benchmarks)."""
    check_dev_exposure(settings, bind_host)
    tracing = tracing or Tracing.from_environment()
    base = public_url(settings, bind_host, port)
    report = load_plugins(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    metrics = Metrics()
    dev = embedded_issuer(settings.auth, settings.data_dir)
    issuer = resolve_issuer(
        settings.auth,
        public_url=base,
        dev=dev,
        on_jwks_fetch=lambda ok: metrics.jwks_fetches.labels(result="ok" if ok else "error").inc(),
    )

    def scopes_supported() -> list[str]:
        return sorted({*HOST_SCOPES, *(scope for p in report.loaded for scope in p.record.scopes)})

    def baseline_scopes() -> list[str]:
        return sorted({scope for p in report.loaded for scope in p.record.baseline_scopes})

    def scope_catalog() -> list[ScopeInfo]:
        return [
            ScopeInfo(name=name, plugin=p.namespace, description=description)
            for p in report.loaded
            for name, description in p.record.scopes.items()
        ] + [
            ScopeInfo(name=name, plugin=HOST_NAMESPACE, description=description)
            for name, description in HOST_SCOPES.items()
        ]

    auth = PlughostAuth(
        issuer,
        base_url=base,
        scopes_supported=scopes_supported,
        baseline_scopes=baseline_scopes,
    )
    exchanger = build_exchanger(settings.token_exchange, issuer)
    host = build_host(settings, auth=auth, report=report, metrics=metrics, exchanger=exchanger)
    store = None
    if dev is not None:
        store = OAuthStore(host.engine)
        options = DevServerOptions.from_settings(settings.auth, settings.token_exchange)
        server = DevAuthorizationServer(
            dev, store, base, issuer.resource, scope_catalog, baseline_scopes, options
        )
        auth.serve_issuer(dev_issuer_routes(server))
    readiness = health.routes(host, issuer.keys.ensure)
    panel = console.mount(
        host, issuer, readiness, public_url=base, bind_host=bind_host, store=store
    )
    app = create_app(
        host,
        public_url=base,
        resource_metadata_url=auth.resource_metadata_url,
        tracing=tracing,
    )
    app.state.plughost = host
    app.state.plughost_tracing = tracing
    app.state.plughost_issuer = issuer
    app.state.plughost_banner = banner(
        issuer,
        base,
        bind_host,
        report_count=len(report.loaded),
        console_url=f"{base}{console.CONSOLE_PATH}" if panel.off is None else None,
    )
    if dev is not None:
        dev.remember_url(base, issuer.resource)
    return app


def create_app(
    host: Host, *, public_url: str, resource_metadata_url: str, tracing: Tracing | None = None
) -> Starlette:
    """The ASGI app: stateless streamable HTTP at ``/mcp`` behind the host's own layers."""
    settings = host.settings
    gate = Middleware(
        RequestGate,
        policy=GatePolicy(
            mcp_path=MCP_PATH,
            resource_metadata_url=resource_metadata_url,
            max_body_bytes=settings.max_request_bytes,
            max_json_depth=settings.max_json_depth,
            on_storage_error=settings.rate_limit.on_storage_error,
        ),
        registry=host.registry,
        limiter=host.limiter,
        metrics=host.metrics,
        fast_path=FastPath(host.mcp) if settings.fast_path else None,
    )
    list_cache = Middleware(ToolListCache, registry=host.registry)
    app = host.mcp.http_app(
        path=MCP_PATH, stateless_http=True, json_response=True, middleware=[gate, list_cache]
    )
    app.add_middleware(
        OriginGuard,
        public_url=public_url,
        extra_origins=settings.cors_origins,
        extra_hosts=settings.allowed_hosts,
    )
    app.add_middleware(CallRecorder, ledger=host.ledger, mcp_path=MCP_PATH)
    if tracing is not None and tracing.tracer is not None:
        app.add_middleware(TraceEdge, tracer=tracing.tracer, mcp_path=MCP_PATH)
    if settings.auth.issuer == "dev":
        # Browser-based clients (the Inspector) sign in and call /mcp from their own page.
        app.add_middleware(
            LoopbackCors,
            paths=(MCP_PATH, *BROWSER_PATHS),
            prefixes=("/.well-known/",),
            extra_origins=settings.cors_origins,
        )
    elif settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
        )
    if settings.allowed_networks:
        app.add_middleware(
            NetworkAllowList,
            allowed=settings.allowed_networks,
            trusted_proxies=settings.trusted_proxies,
        )
    app.add_middleware(RequestLog)
    return app


def app_from_env() -> Starlette:
    """The app a worker process builds (``plughost serve --workers N``): settings from the
    environment, the bind address from ``_PLUGHOST_BIND`` set by the parent."""
    host, _, port = os.environ.get(BIND_ENV, "127.0.0.1:8000").rpartition(":")
    app = build(load_settings(), bind_host=host, port=int(port))
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
