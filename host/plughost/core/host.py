"""Build the one FastMCP server and its ASGI app from a load report and settings."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastmcp import FastMCP
from fastmcp.server.auth import AuthProvider
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plughost import __version__
from plughost.core.adapter import build_tool
from plughost.core.database import build_engine
from plughost.core.discovery import (
    LoadedPlugin,
    LoadReport,
    PluginStatus,
    discover,
    validate_plugin_settings,
)
from plughost.core.schema import ensure_schema
from plughost.edge.allowlist import NetworkAllowList
from plughost.edge.gate import RequestGate
from plughost.edge.listcache import ToolListCache
from plughost.edge.mcp_middleware import CallObserver, ScopeFilter
from plughost.ops.audit import AuditTrail, build_trail
from plughost.ops.logs import RequestLog
from plughost.ops.metrics import Metrics
from plughost.ops.ratelimit import RateLimiter
from plughost.sdk.context import Caller, PluginRuntime
from plughost.sdk.plugin import maybe_await
from plughost.sdk.tables import TenantStorage
from plughost.settings import ENV_PREFIX, HostSettings

log = logging.getLogger("plughost.core.host")

MCP_PATH = "/mcp"


@dataclass
class Host:
    """The running host's parts, kept together so tests and the CLI can reach them."""

    settings: HostSettings
    report: LoadReport
    engine: Engine
    mcp: FastMCP
    audit: AuditTrail
    metrics: Metrics
    limiter: RateLimiter
    runtimes: dict[str, PluginRuntime] = field(default_factory=dict)
    tool_owner: dict[str, str] = field(default_factory=dict)
    required_scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    plugin_versions: dict[str, str] = field(default_factory=dict)
    ready_checks: list[Callable[[], Any]] = field(default_factory=list)


def load_plugins(settings: HostSettings) -> LoadReport:
    """Discover plugins with the host's allow/deny lists and strictness."""
    return discover(
        host_version=__version__,
        enabled=settings.enabled_plugins,
        disabled=settings.disabled_plugins,
        strict=settings.strict,
    )


def build_host(
    settings: HostSettings,
    *,
    auth: AuthProvider,
    caller: Callable[[], Caller],
    report: LoadReport,
    metrics: Metrics,
) -> Host:
    """Validate plugins' settings and register their tools on one FastMCP server behind ``auth``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = build_engine(settings.resolved_database_url, pool_size=settings.database_pool_size)
    audit = build_trail(
        settings.audit.sink, settings.audit.file, engine if settings.audit.database else None
    )
    required: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    versions = {p.namespace: p.version for p in report.loaded}
    limiter = RateLimiter(
        default=settings.rate_limit.default,
        per_plugin=settings.rate_limit.plugins,
        per_tool=settings.rate_limit.tools,
        storage_url=settings.rate_limit.storage_url,
        key_prefix=settings.rate_limit.key_prefix,
        tool_owner=owner,
    )
    host: Host

    @asynccontextmanager
    async def lifespan(_server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        audit.start()
        await _start_plugins(host)
        try:
            yield {}
        finally:
            await _stop_plugins(host)
            audit.close()
            engine.dispose()

    mcp = FastMCP(
        name="plughost",
        version=__version__,
        instructions="Tools from the plugins installed on this Plughost server.",
        auth=auth,
        middleware=[
            CallObserver(
                required_scopes=required,
                tool_owner=owner,
                plugin_versions=versions,
                audit=audit,
                metrics=metrics,
                include_arguments=settings.audit.include_arguments,
            ),
            ScopeFilter(required, list_all=settings.auth.list_all_tools),
        ],
        lifespan=lifespan,
        mask_error_details=True,
        on_duplicate="error",
        # tools/list depends on the caller's scopes: clients may cache it, but only per token.
        cache_ttl=60,
        cache_scope="private",
    )
    host = Host(
        settings=settings,
        report=report,
        engine=engine,
        mcp=mcp,
        audit=audit,
        metrics=metrics,
        limiter=limiter,
        tool_owner=owner,
        required_scopes=required,
        plugin_versions=versions,
    )

    def storage_for(tenant_id: str) -> TenantStorage:
        return TenantStorage(engine, tenant_id)

    for plugin in report.loaded:
        section = settings.plugins.get(plugin.namespace, {})
        plugin_settings = validate_plugin_settings(
            plugin, section, f"{ENV_PREFIX}PLUGINS__{plugin.namespace.upper()}"
        )
        runtime = PluginRuntime(
            namespace=plugin.namespace,
            version=plugin.version,
            settings=plugin_settings,
            engine=engine,
            logger=logging.getLogger(f"plughost.plugins.{plugin.namespace}"),
            data_dir=settings.data_dir / "plugins" / plugin.namespace,
        )
        host.runtimes[plugin.namespace] = runtime
        for spec, info in zip(plugin.tools, plugin.record.tools, strict=True):
            mcp.add_tool(
                build_tool(
                    runtime=runtime,
                    spec=spec,
                    public_name=info.name,
                    storage_for=storage_for,
                    caller=caller,
                )
            )
            owner[info.name] = plugin.namespace
            required[info.name] = tuple(info.scopes)
    _count_plugins(host)
    return host


async def _start_plugins(host: Host) -> None:
    """Create each plugin's tables and run its start-up hook; withdraw the ones that fail."""
    for plugin in list(host.report.loaded):
        runtime = host.runtimes[plugin.namespace]
        try:
            runtime.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            for change in ensure_schema(host.engine, plugin.tables):
                log.info("plugin %s: %s", plugin.namespace, change)
            for result in plugin.manager.hook.plughost_startup(runtime=runtime):
                await maybe_await(result)
        except Exception as exc:
            log.exception("plugin %s failed to start", plugin.namespace)
            if host.settings.strict:
                raise
            _withdraw(host, plugin, f"start-up failed: {type(exc).__name__}: {exc}")
    _count_plugins(host)


async def _stop_plugins(host: Host) -> None:
    for plugin in reversed(host.report.loaded):
        try:
            runtime = host.runtimes[plugin.namespace]
            for result in plugin.manager.hook.plughost_shutdown(runtime=runtime):
                await maybe_await(result)
        except Exception:
            log.exception("plugin %s failed to shut down cleanly", plugin.namespace)


def _withdraw(host: Host, plugin: LoadedPlugin, error: str) -> None:
    for info in plugin.record.tools:
        host.mcp.local_provider.remove_tool(info.name)
        host.tool_owner.pop(info.name, None)
        host.required_scopes.pop(info.name, None)
    host.report.mark_failed(plugin.namespace, error)


def _count_plugins(host: Host) -> None:
    for status in PluginStatus:
        count = sum(1 for r in host.report.records if r.status == status)
        host.metrics.plugins.labels(status=status.value).set(count)


def health(host: Host) -> dict[str, Any]:
    """The public health body: statuses only, never error text (that is for operators)."""
    plugins = [
        {"namespace": r.namespace, "version": r.version, "status": r.status.value}
        for r in host.report.records
    ]
    ok = (PluginStatus.LOADED, PluginStatus.DISABLED)
    degraded = any(p["status"] not in ok for p in plugins)
    return {"status": "degraded" if degraded else "ok", "version": __version__, "plugins": plugins}


async def readiness(host: Host, keys_ready: Callable[[], Any]) -> tuple[bool, dict[str, Any]]:
    """Whether this replica can serve: plugins loaded, signing keys held, backends reachable."""
    checks: dict[str, Any] = {}
    checks["plugins"] = bool(host.report.loaded) or not host.report.records
    checks["signing_keys"] = bool(await keys_ready())
    try:
        with host.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = True
    except Exception as exc:
        log.warning("readiness: database unreachable: %s", type(exc).__name__)
        checks["database"] = False
    if not host.settings.rate_limit.storage_url.startswith("memory"):
        checks["rate_limit_storage"] = await host.limiter.healthy()
    return all(checks.values()), checks


def create_app(
    host: Host,
    *,
    resource_metadata_url: str,
    keys_ready: Callable[[], Any],
) -> Starlette:
    """The ASGI app: stateless streamable HTTP at ``/mcp``, health, readiness and metrics."""
    settings = host.settings

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse(health(host))

    async def readyz(_request: Request) -> JSONResponse:
        ready, checks = await readiness(host, keys_ready)
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        expected = settings.metrics_token
        if expected is not None:
            given = request.headers.get("authorization", "")
            wanted = f"Bearer {expected.get_secret_value()}"
            if not hmac.compare_digest(given.encode(), wanted.encode()):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
        body, content_type = host.metrics.exposition()
        return Response(body, media_type=content_type)

    host.mcp.custom_route("/healthz", methods=["GET"])(healthz)
    host.mcp.custom_route("/readyz", methods=["GET"])(readyz)
    if settings.metrics_enabled:
        host.mcp.custom_route("/metrics", methods=["GET"])(metrics)
    gate = Middleware(
        RequestGate,
        mcp_path=MCP_PATH,
        required_scopes=host.required_scopes,
        tool_owner=host.tool_owner,
        plugin_versions=host.plugin_versions,
        resource_metadata_url=resource_metadata_url,
        max_body_bytes=settings.max_request_bytes,
        limiter=host.limiter,
        audit=host.audit,
        metrics=host.metrics,
    )
    list_cache = Middleware(ToolListCache, mcp_path=MCP_PATH, tools=host.required_scopes)
    app = host.mcp.http_app(
        path=MCP_PATH, stateless_http=True, json_response=True, middleware=[gate, list_cache]
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "MCP-Protocol-Version",
                "Mcp-Session-Id",
                "X-Request-ID",
            ],
            expose_headers=["WWW-Authenticate", "Mcp-Session-Id", "X-Request-ID", "Retry-After"],
        )
    if settings.allowed_networks:
        app.add_middleware(
            NetworkAllowList,
            allowed=settings.allowed_networks,
            trusted_proxies=settings.trusted_proxies,
        )
    app.add_middleware(RequestLog)
    return app
