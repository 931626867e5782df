"""Build the one FastMCP server from a load report and settings, with the parts it runs on.

`build_host` validates each plugin's settings, registers every plugin's tools in the
`ToolRegistry` and on the FastMCP server, and returns the `Host`: the parts the HTTP edge, the
CLI and tests reach. Starting and stopping plugins is `plughost.core.lifecycle`'s.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastmcp import FastMCP
from fastmcp.exceptions import PromptError, ResourceError
from fastmcp.resources import ResourceTemplate
from fastmcp.server.auth import AuthProvider
from fastmcp.tools import Tool
from sqlalchemy import Engine

from plughost import __version__
from plughost.core import lifecycle, mounts
from plughost.core.adapter import CallLimits, TokenExchange, build_tool
from plughost.core.asking import RequestStateKey
from plughost.core.callrecord import CallLedger
from plughost.core.capabilities import acknowledge_subscriptions, advertise_only_what_is_served
from plughost.core.completions import Completions
from plughost.core.component_adapter import ComponentInvoker, build_prompt, build_resource
from plughost.core.components import resource_uri
from plughost.core.cursor_key import CursorKey
from plughost.core.database import build_engine
from plughost.core.db_outage import OutageLog
from plughost.core.discovery import LoadedPlugin, LoadReport, discover
from plughost.core.isolation import loading
from plughost.core.isolation.relay import WorkerRelay
from plughost.core.isolation.serving import worker_components, worker_tools
from plughost.core.isolation.supervisor import Workers
from plughost.core.plugin_loop import PluginLoop
from plughost.core.plugin_settings import validate_plugin_settings
from plughost.core.registry import Kind, RegisteredTarget, ToolRegistry
from plughost.core.stream_asking import StreamAsking, build_stream_asking
from plughost.ops.audit import AuditTrail, build_trail
from plughost.ops.metrics import Metrics
from plughost.ops.ratelimit import RateLimiter
from plughost.sdk.component_spec import Completer
from plughost.sdk.context import CalledTool, PluginRuntime
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
    #: Seals the request state of questions tools ask (`plughost.core.asking`).
    state_key: RequestStateKey
    runtimes: dict[str, PluginRuntime] = field(default_factory=dict)
    #: Every served tool by public name, as FastMCP serves it (the fast path calls these).
    tools: dict[str, Tool] = field(default_factory=dict)
    #: The one completion handler, with every plugin's completers.
    completions: Completions = field(default_factory=Completions)
    #: Each plugin's event loops: for its tools and lifecycle hooks, for its guardrail hooks.
    loops: dict[str, PluginLoop] = field(default_factory=dict)
    guard_loops: dict[str, PluginLoop] = field(default_factory=dict)
    exchanger: TokenExchange | None = None
    #: The workers of plugins isolated in processes of their own, kept running by the host.
    workers: Workers = field(default_factory=Workers)
    #: Existing MCP servers served under a namespace (`plughost.core.mounts`).
    mounts: dict[str, mounts.Mount] = field(default_factory=dict)
    #: The one log of database outages met by calls (a line per outage, not per call).
    outages: OutageLog = field(default_factory=OutageLog)
    #: Questions asked on calls' streams and their answers (None: not on these processes).
    asking: StreamAsking | None = None


def load_plugins(settings: HostSettings) -> LoadReport:
    """Discover plugins with the host's allow/deny lists and strictness; isolated plugins are
    not imported here but described by their workers (`plughost.core.isolation.loading`)."""
    isolated = loading.isolated_namespaces(settings)
    report = discover(
        host_version=__version__,
        enabled=settings.enabled_plugins,
        disabled=[*settings.disabled_plugins, *isolated],
        strict=settings.strict,
        import_timeout=settings.plugin_start_timeout_seconds,
    )
    if isolated:
        loading.adopt(report, loading.fetch_manifests(settings, isolated))
        if settings.strict:
            report.raise_for_problems()
    return report


def build_host(
    settings: HostSettings,
    *,
    auth: AuthProvider | None,
    report: LoadReport,
    metrics: Metrics,
    exchanger: TokenExchange | None = None,
    one_process: bool = True,
) -> Host:
    """Validate plugins' settings and register their tools on one FastMCP server behind
    ``auth``; ``exchanger`` gets tools their on-behalf-of tokens; ``one_process`` is False
    for each of several worker processes (answers then need Redis to find their call)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = _engine(settings)
    audit = build_trail(
        settings.audit.sink,
        settings.audit.file,
        engine if settings.audit.database else None,
        durable=settings.audit.holds_responses,
    )
    registry = ToolRegistry()
    for record in report.problems:
        registry.refuse(record.namespace, record.error or record.status.value)
    ledger = CallLedger(audit, metrics, include_arguments=settings.audit.include_arguments)
    state_key = RequestStateKey(engine)
    host: Host  # the server's lambda below reads it once it is built
    host = Host(
        settings=settings,
        report=report,
        engine=engine,
        mcp=_server(auth, lambda: host, state_key, inline_refs=settings.inline_schema_refs),
        registry=registry,
        audit=audit,
        ledger=ledger,
        metrics=metrics,
        cursors=CursorKey(engine),
        state_key=state_key,
        limiter=RateLimiter.from_settings(settings.rate_limit, registry.owners),
        exchanger=exchanger,
        asking=build_stream_asking(settings, one_process=one_process),
    )
    for plugin in report.loaded:
        _register(host, plugin)
    host.mounts = mounts.build_mounts(host)
    if host.completions or host.mounts:  # a mount's completions come once it is listed
        host.mcp.add_completion_handler(host.completions)
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


def _server(
    auth: AuthProvider | None, host: Any, state_key: RequestStateKey, *, inline_refs: bool
) -> FastMCP:
    """The FastMCP server; ``host()`` yields the `Host` once built, for the lifespan. The
    call policy's middleware is added by the app (`plughost.app`), above core. Request state
    is sealed with ``state_key``, which every replica shares (FastMCP's default key would be
    this process's alone); its name is the state's audience.

    ``inline_refs`` (``PLUGHOST_INLINE_SCHEMA_REFS``, on by default) is FastMCP's
    ``dereference_schemas``: tools/list inlines every ``$ref`` and drops ``$defs``. A
    ``$ref`` is plain JSON Schema 2020-12, the dialect every tool declares, yet many clients
    agents run in still cannot resolve one (VS Code and CLI Copilot, Claude Code, Cursor,
    opencode, the Inspector's form: they drop ``$defs`` and send the model a dangling ``$ref``,
    or refuse the whole list), so a host serving whoever connects must inline. Which clients
    connect is the operator's knowledge, not the plugin author's, so this is a host setting
    rather than a flag per tool; where every client resolves ``$ref`` (and for the MCP
    conformance suite, which checks ``$defs``), false keeps schemas compact and exact.
    Recursive types cannot be inlined and keep their ``$defs`` either way.
    """

    @asynccontextmanager
    async def lifespan(_server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        async with lifecycle.running(host()), mounts.running(host().mounts):
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
        dereference_schemas=inline_refs,
        request_state_security=state_key.security(),
    )
    advertise_only_what_is_served(server, lambda: host().registry, lambda: host().completions)
    acknowledge_subscriptions(server)
    return server


def _register(host: Host, plugin: LoadedPlugin) -> None:
    """Validate one plugin's settings and register its tools, resources and prompts."""
    if plugin.isolated:
        _register_isolated(host, plugin)
        return
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
    host.loops[plugin.namespace] = PluginLoop(f"plugin-{plugin.namespace}")
    host.guard_loops[plugin.namespace] = PluginLoop(f"guardrails-{plugin.namespace}")
    runs = _PluginRuns(host, plugin, runtime, anyio.CapacityLimiter(host.settings.plugin_threads))
    for spec, info in zip(plugin.tools, plugin.record.tools, strict=True):
        entry = runs.target(info.name, info.scopes, "tool", info.conditional_scopes)
        tool = host.tools[entry.name] = build_tool(
            runtime=runtime,
            spec=spec,
            entry=entry,
            storage_for=runs.storage_for,
            limits=runs.limits(spec.timeout),
            plugin_scopes=frozenset(plugin.record.scopes),
            cursors=host.cursors,
            exchanger=host.exchanger,
        )
        host.mcp.add_tool(tool)
        host.registry.add(entry)
    for resource in plugin.resources:
        entry = runs.target(resource_uri(plugin.namespace, resource.path), resource.scopes)
        invoke = runs.invoker(resource.fn, entry, ResourceError, resource.timeout)
        served = build_resource(resource, entry, invoke)
        if isinstance(served, ResourceTemplate):
            host.mcp.add_template(served)
        else:
            host.mcp.add_resource(served)
        runs.completers(resource.complete, entry)
    for prompt in plugin.prompts:
        entry = runs.target(f"{plugin.namespace}_{prompt.name}", prompt.scopes, "prompt")
        invoke = runs.invoker(prompt.fn, entry, PromptError, prompt.timeout)
        host.mcp.add_prompt(build_prompt(prompt, entry, invoke))
        runs.completers(prompt.complete, entry)


def _register_isolated(host: Host, plugin: LoadedPlugin) -> None:
    """An isolated plugin: a worker to supervise, and its tools, resources, prompts and
    completions forwarded to it."""
    settings, namespace, registry = host.settings, plugin.namespace, host.registry

    def on_change(up: bool, why: str) -> None:
        registry.mark_up(namespace) if up else registry.mark_down(namespace, why)

    on_change(False, "its worker process is starting")
    worker = host.workers.add(namespace, settings, on_change)
    manifest = host.report.manifests[namespace]
    worker.on_message = WorkerRelay(namespace, host.exchanger)
    for entry, tool in worker_tools(manifest, worker, settings):
        host.tools[entry.name] = tool
        host.mcp.add_tool(tool)
        host.registry.add(entry)
    worker_components(manifest, worker, settings).serve(host.mcp, registry, host.completions)


@dataclass
class _PluginRuns:
    """Where and how one plugin's functions run: its threads, loop, deadline and storage."""

    host: Host
    plugin: LoadedPlugin
    runtime: PluginRuntime
    threads: anyio.CapacityLimiter

    def storage_for(self, tenant_id: str) -> TenantStorage:
        return TenantStorage(self.host.engine, tenant_id)

    def limits(self, timeout: float | None) -> CallLimits:
        settings = self.host.settings
        return CallLimits(
            timeout=timeout or settings.tool_timeout_seconds,
            threads=self.threads,
            loop=self.host.loops[self.plugin.namespace],
            max_result_bytes=settings.max_result_bytes,
            outages=self.host.outages,
        )

    def target(
        self,
        name: str,
        scopes: Sequence[str],
        kind: Kind = "resource",
        conditional: Mapping[str, str] | None = None,
    ) -> RegisteredTarget:
        """The registry entry for one of the plugin's targets (registered unless a tool's)."""
        entry = RegisteredTarget(
            name=name,
            plugin=self.plugin.namespace,
            plugin_version=self.plugin.version,
            scopes=tuple(scopes),
            conditional_scopes=dict(conditional or {}),
            kind=kind,
        )
        if kind != "tool":
            self.host.registry.add(entry)
        return entry

    def invoker(
        self,
        fn: Callable[..., Any],
        entry: RegisteredTarget,
        error: type[Exception],
        timeout: float | None = None,
    ) -> ComponentInvoker:
        """How one of the plugin's resources, prompts or completers runs."""
        called = CalledTool(
            name=entry.name,
            scopes=entry.scopes,
            conditional_scopes={},
            plugin_scopes=frozenset(self.plugin.record.scopes),
        )
        return ComponentInvoker(
            self.runtime,
            fn,
            called,
            self.storage_for,
            self.limits(timeout),
            self.host.cursors,
            self.host.exchanger,
            error=error,
        )

    def completers(self, complete: Mapping[str, Completer], entry: RegisteredTarget) -> None:
        """Register the completers of a prompt's arguments or a template's parameters."""
        error = PromptError if entry.kind == "prompt" else ResourceError
        for argument, fn in complete.items():
            invoke = self.invoker(fn, entry, error)
            self.host.completions.add(entry.kind, entry.name, argument, invoke)
