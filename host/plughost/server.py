"""Build the one FastMCP server and its ASGI app from a load report and settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastmcp import FastMCP
from fastmcp.server.auth import AuthProvider
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from plughost import __version__
from plughost.auth.scope_gate import ScopeFilter, ScopeGate
from plughost.context import Caller, PluginRuntime
from plughost.discovery import (
    LoadedPlugin,
    LoadReport,
    PluginStatus,
    discover,
    validate_plugin_settings,
)
from plughost.plugin import _maybe_await
from plughost.settings import ENV_PREFIX, HostSettings
from plughost.storage import TenantStorage, build_engine, ensure_schema
from plughost.tools import build_tool

log = logging.getLogger("plughost.server")

MCP_PATH = "/mcp"


@dataclass
class Host:
    """The running host's parts, kept together so tests and the CLI can reach them."""

    settings: HostSettings
    report: LoadReport
    engine: Engine
    mcp: FastMCP
    runtimes: dict[str, PluginRuntime] = field(default_factory=dict)
    tool_owner: dict[str, str] = field(default_factory=dict)
    required_scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)


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
) -> Host:
    """Validate plugins' settings and register their tools on one FastMCP server behind ``auth``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = build_engine(settings.resolved_database_url, pool_size=settings.database_pool_size)
    host: Host

    @asynccontextmanager
    async def lifespan(_server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        await _start_plugins(host)
        try:
            yield {}
        finally:
            await _stop_plugins(host)
            engine.dispose()

    required: dict[str, tuple[str, ...]] = {}
    mcp = FastMCP(
        name="plughost",
        version=__version__,
        instructions="Tools from the plugins installed on this Plughost server.",
        auth=auth,
        middleware=[ScopeFilter(required, list_all=settings.auth.list_all_tools)],
        lifespan=lifespan,
        mask_error_details=True,
        on_duplicate="error",
    )
    host = Host(settings=settings, report=report, engine=engine, mcp=mcp, required_scopes=required)

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
            host.tool_owner[info.name] = plugin.namespace
            host.required_scopes[info.name] = tuple(info.scopes)
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
                await _maybe_await(result)
        except Exception as exc:
            log.exception("plugin %s failed to start", plugin.namespace)
            if host.settings.strict:
                raise
            _withdraw(host, plugin, f"start-up failed: {type(exc).__name__}: {exc}")


async def _stop_plugins(host: Host) -> None:
    for plugin in reversed(host.report.loaded):
        try:
            for result in plugin.manager.hook.plughost_shutdown(
                runtime=host.runtimes[plugin.namespace]
            ):
                await _maybe_await(result)
        except Exception:
            log.exception("plugin %s failed to shut down cleanly", plugin.namespace)


def _withdraw(host: Host, plugin: LoadedPlugin, error: str) -> None:
    for info in plugin.record.tools:
        host.mcp.local_provider.remove_tool(info.name)
        host.tool_owner.pop(info.name, None)
        host.required_scopes.pop(info.name, None)
    host.report.mark_failed(plugin.namespace, error)


def health(host: Host) -> dict[str, Any]:
    """The public health body: statuses only, never error text (that is for operators)."""
    plugins = [
        {"namespace": r.namespace, "version": r.version, "status": r.status.value}
        for r in host.report.records
    ]
    degraded = any(r["status"] not in (PluginStatus.LOADED, PluginStatus.DISABLED) for r in plugins)
    return {"status": "degraded" if degraded else "ok", "version": __version__, "plugins": plugins}


def create_app(host: Host, *, resource_metadata_url: str) -> Starlette:
    """The ASGI app: stateless streamable HTTP at ``/mcp`` plus the public ``/healthz``."""

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse(health(host))

    host.mcp.custom_route("/healthz", methods=["GET"])(healthz)
    gate = Middleware(
        ScopeGate,
        mcp_path=MCP_PATH,
        required_scopes=host.required_scopes,
        resource_metadata_url=resource_metadata_url,
        max_body_bytes=host.settings.max_request_bytes,
    )
    return host.mcp.http_app(
        path=MCP_PATH, stateless_http=True, json_response=True, middleware=[gate]
    )
