"""Build the one FastMCP server from a load report and settings, with the parts it runs on.

`build_host` validates each plugin's settings, registers every plugin's tools in the
`ToolRegistry` and on the FastMCP server, and returns the `Host`: the parts the HTTP edge, the
CLI and tests reach. Starting and stopping plugins is `plughost.core.lifecycle`'s.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastmcp import FastMCP
from fastmcp.server.auth import AuthProvider
from fastmcp.tools import Tool
from mcp.server.lowlevel import NotificationOptions
from mcp.types import ServerCapabilities, ToolsCapability
from sqlalchemy import Engine

from plughost import __version__
from plughost.core import lifecycle
from plughost.core.adapter import CallLimits, TokenExchange, build_tool
from plughost.core.callrecord import CallLedger
from plughost.core.cursor_key import CursorKey
from plughost.core.database import build_engine
from plughost.core.discovery import LoadedPlugin, LoadReport, discover
from plughost.core.plugin_loop import PluginLoop
from plughost.core.plugin_settings import validate_plugin_settings
from plughost.core.registry import RegisteredTool, ToolRegistry
from plughost.ops.audit import AuditTrail, build_trail
from plughost.ops.metrics import Metrics
from plughost.ops.ratelimit import RateLimiter
from plughost.sdk.context import PluginRuntime
from plughost.sdk.tables import TenantStorage
from plughost.settings import ENV_PREFIX, HostSettings


@dataclass
class Host:
    """The running host's parts, kept together so the edge, the CLI and tests can reach them."""

    settings: HostSettings
    report: LoadReport
    engine: Engine
    mcp: FastMCP
    registry: ToolRegistry
    audit: AuditTrail
    ledger: CallLedger
    metrics: Metrics
    limiter: RateLimiter
    cursors: CursorKey
    runtimes: dict[str, PluginRuntime] = field(default_factory=dict)
    #: Every served tool by public name, as FastMCP serves it (the fast path calls these).
    tools: dict[str, Tool] = field(default_factory=dict)
    #: Each plugin's event loops: for its tools and lifecycle hooks, for its guardrail hooks.
    loops: dict[str, PluginLoop] = field(default_factory=dict)
    guard_loops: dict[str, PluginLoop] = field(default_factory=dict)
    exchanger: TokenExchange | None = None


def load_plugins(settings: HostSettings) -> LoadReport:
    """Discover plugins with the host's allow/deny lists and strictness."""
    return discover(
        host_version=__version__,
        enabled=settings.enabled_plugins,
        disabled=settings.disabled_plugins,
        strict=settings.strict,
        import_timeout=settings.plugin_start_timeout_seconds,
    )


def build_host(
    settings: HostSettings,
    *,
    auth: AuthProvider,
    report: LoadReport,
    metrics: Metrics,
    exchanger: TokenExchange | None = None,
) -> Host:
    """Validate plugins' settings and register their tools on one FastMCP server behind
    ``auth``; ``exchanger`` gets tools their on-behalf-of tokens."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = _engine(settings)
    audit = build_trail(
        settings.audit.sink,
        settings.audit.file,
        engine if settings.audit.database else None,
        durable=settings.audit.durable,
    )
    registry = ToolRegistry()
    for record in report.problems:
        registry.refuse(record.namespace, record.error or record.status.value)
    ledger = CallLedger(audit, metrics, include_arguments=settings.audit.include_arguments)
    host: Host  # the server's lambda below reads it once it is built
    host = Host(
        settings=settings,
        report=report,
        engine=engine,
        mcp=_server(auth, lambda: host),
        registry=registry,
        audit=audit,
        ledger=ledger,
        metrics=metrics,
        cursors=CursorKey(engine),
        limiter=RateLimiter.from_settings(settings.rate_limit, registry.owners),
        exchanger=exchanger,
    )
    for plugin in report.loaded:
        _register(host, plugin)
    lifecycle.count_plugins(host.report, metrics)
    return host


def _engine(settings: HostSettings) -> Engine:
    """The one database engine, with the operator's pool and deadlines."""
    return build_engine(
        settings.resolved_database_url,
        pool_size=settings.database_pool_size,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout=settings.database_statement_timeout_seconds,
        pool_timeout=settings.database_pool_timeout_seconds,
    )


def _server(auth: AuthProvider, host: Any) -> FastMCP:
    """The FastMCP server; ``host()`` yields the `Host` once built, for the lifespan. The
    call policy's middleware is added by the app (`plughost.app`), above core."""

    @asynccontextmanager
    async def lifespan(_server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        async with lifecycle.running(host()):
            yield {}

    server = FastMCP(
        name="plughost",
        version=__version__,
        instructions="Tools from the plugins installed on this Plughost server.",
        auth=auth,
        lifespan=lifespan,
        mask_error_details=True,
        on_duplicate="error",
        # tools/list depends on the caller's scopes: clients may cache it, but only per token.
        cache_ttl=60,
        cache_scope="private",
    )
    _advertise_only_what_is_served(server)
    return server


def _advertise_only_what_is_served(server: FastMCP) -> None:
    """Capabilities that match what this host serves: tools, and nothing it cannot deliver.

    FastMCP advertises every feature it has a handler for: logging, prompts, resources, list
    change notifications and the MCP Apps extension. No plugin serves prompts or resources, and
    a stateless JSON server cannot push a notification, so a client that trusted those would
    wait for things that never come. FastMCP has no setting for this; its low-level server's
    `get_capabilities` is where both ``initialize`` and ``server/discover`` read them.
    """
    lowlevel = server._mcp_server
    lowlevel.notification_options = NotificationOptions(
        prompts_changed=False, resources_changed=False, tools_changed=False
    )
    derived = lowlevel.get_capabilities

    def get_capabilities(*args: Any, **kwargs: Any) -> ServerCapabilities:
        return derived(*args, **kwargs).model_copy(
            update={
                "logging": None,
                "prompts": None,
                "resources": None,
                "completions": None,
                "extensions": None,
                "tools": ToolsCapability(list_changed=False),
            }
        )

    lowlevel.get_capabilities = get_capabilities  # type: ignore[method-assign]


def _register(host: Host, plugin: LoadedPlugin) -> None:
    """Validate one plugin's settings and register its tools."""
    section = host.settings.plugins.get(plugin.namespace, {})
    plugin_settings = validate_plugin_settings(
        plugin, section, f"{ENV_PREFIX}PLUGINS__{plugin.namespace.upper()}"
    )
    runtime = PluginRuntime(
        namespace=plugin.namespace,
        version=plugin.version,
        settings=plugin_settings,
        engine=host.engine,
        logger=logging.getLogger(f"plughost.plugins.{plugin.namespace}"),
        data_dir=host.settings.data_dir / "plugins" / plugin.namespace,
    )
    host.runtimes[plugin.namespace] = runtime
    loop = host.loops[plugin.namespace] = PluginLoop(f"plugin-{plugin.namespace}")
    host.guard_loops[plugin.namespace] = PluginLoop(f"guardrails-{plugin.namespace}")
    engine = host.engine

    def storage_for(tenant_id: str) -> TenantStorage:
        return TenantStorage(engine, tenant_id)

    threads = anyio.CapacityLimiter(host.settings.plugin_threads)
    for spec, info in zip(plugin.tools, plugin.record.tools, strict=True):
        entry = RegisteredTool(
            name=info.name,
            plugin=plugin.namespace,
            plugin_version=plugin.version,
            scopes=tuple(info.scopes),
            conditional_scopes=dict(info.conditional_scopes),
        )
        tool = host.tools[entry.name] = build_tool(
            runtime=runtime,
            spec=spec,
            entry=entry,
            storage_for=storage_for,
            limits=CallLimits(
                timeout=spec.timeout or host.settings.tool_timeout_seconds,
                threads=threads,
                loop=loop,
                max_result_bytes=host.settings.max_result_bytes,
            ),
            plugin_scopes=frozenset(plugin.record.scopes),
            cursors=host.cursors,
            exchanger=host.exchanger,
        )
        host.mcp.add_tool(tool)
        host.registry.add(entry)
