"""``plughost worker <namespace>``: one plugin, served as an MCP server on stdio to its host.

The worker loads only its plugin (`discover` with ``enabled=[namespace]``) and builds it with
the host's own code (`build_host`: the same adapter, settings section, ``ctx.storage`` on the
same database, migrations and lifecycle hooks), so plugin code cannot tell the difference.
It has no sign-in of its own: it trusts whoever holds its pipes, so it refuses to start unless
the host started it (`WORKER_ENV` names its namespace, stdin is not a terminal). Its audit
trail is off: the host writes the one record of each call from the outcome the worker returns.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, BinaryIO, Literal

from pydantic import SecretStr

from plughost import __version__
from plughost.core import lifecycle
from plughost.core.adapter import TokenExchange
from plughost.core.components import resource_uri
from plughost.core.discovery import LoadedPlugin, LoadReport, PluginRecord, PluginStatus, discover
from plughost.core.host import Host, build_host
from plughost.core.isolation.host_link import HostLink
from plughost.core.isolation.limits import limit_self
from plughost.core.isolation.manifest import WorkerManifest
from plughost.core.isolation.stdio import WorkerServer
from plughost.core.isolation.supervisor import WORKER_ENV
from plughost.core.isolation.worker_components import ComponentAnswers
from plughost.errors import PlughostError
from plughost.ops.metrics import Metrics
from plughost.sdk.credentials import DownstreamToken, TokenSource
from plughost.sdk.errors import TokenExchangeRefused
from plughost.sdk.plugin import Plugin
from plughost.settings import AuditSettings, HostSettings


class WorkerRefused(PlughostError):
    """The worker was not started by a host (by hand, or on a terminal)."""


def check_hosted(namespace: str) -> None:
    """Refuse to serve unless a host started this process for ``namespace`` on pipes: the
    worker believes the caller the request says, which only its host may say."""
    if os.environ.get(WORKER_ENV) != namespace or sys.stdin.isatty():
        raise WorkerRefused(
            f"plughost worker serves {namespace!r} to the host that starts it, without sign-in; "
            f"it is not for running by hand: set PLUGHOST_ISOLATION__{namespace.upper()}=process "
            "and run `plughost serve`"
        )


def load(
    namespace: str, settings: HostSettings, exchanger: TokenExchange | None = None
) -> tuple[LoadReport, Host | None]:
    """The plugin, loaded and built as the host would; no host when it failed to load.
    ``exchanger`` gets its calls' downstream tokens (from the host, `HostLink`)."""
    worker = settings.worker(namespace)
    limit_self(worker.memory_mib, worker.nice)
    report = discover(
        host_version=__version__,
        enabled=[namespace],
        import_timeout=settings.plugin_start_timeout_seconds,
    )
    if not report.loaded:
        return report, None
    own = settings.model_copy(
        update={"audit": AuditSettings(sink="off"), "isolation": {}, "mounts": {}}
    )
    exchanger = exchanger or NoExchange()
    host = build_host(own, auth=None, report=report, metrics=Metrics(), exchanger=exchanger)
    return report, host


async def manifest(namespace: str, settings: HostSettings) -> WorkerManifest:
    """What the host must know to serve the plugin (`WorkerManifest`)."""
    report, host = load(namespace, settings)
    record = next((r for r in report.records if r.namespace == namespace), None)
    if record is None:
        return WorkerManifest(record=_not_installed(namespace))
    if host is None:
        return WorkerManifest(record=record)
    plugin = report.loaded[0]
    mcp = host.mcp
    dump: dict[str, Any] = {"by_alias": True, "mode": "json", "exclude_none": True}
    timeouts = {
        **_timeouts(plugin.tools, settings, f"{namespace}_"),
        **_timeouts(plugin.prompts, settings, f"{namespace}_"),
        **{
            resource_uri(namespace, r.path): r.timeout or settings.tool_timeout_seconds
            for r in plugin.resources
        },
    }
    return WorkerManifest(
        record=record,
        guardrails=any(_guards(plugin, hook) for hook in ("before_call", "after_call")),
        tools=[t.to_mcp_tool().model_dump(**dump) for t in await mcp.list_tools()],
        resources=[r.to_mcp_resource().model_dump(**dump) for r in await mcp.list_resources()],
        templates=[
            t.to_mcp_template().model_dump(**dump) for t in await mcp.list_resource_templates()
        ],
        prompts=[p.to_mcp_prompt().model_dump(**dump) for p in await mcp.list_prompts()],
        timeouts=timeouts,
    )


def _guards(plugin: LoadedPlugin, hook: Literal["before_call", "after_call"]) -> bool:
    """Whether the plugin declares guardrail hooks named ``hook`` (a `Plugin` implements
    both for every plugin; only its declared guardrails count)."""
    caller = getattr(plugin.manager.hook, f"plughost_{hook}")
    return any(
        not isinstance(impl.plugin, Plugin) or impl.plugin.guards(hook)
        for impl in caller.get_hookimpls()
    )


def _timeouts(specs: list[Any], settings: HostSettings, prefix: str) -> dict[str, float]:
    return {f"{prefix}{s.name}": s.timeout or settings.tool_timeout_seconds for s in specs}


def _not_installed(namespace: str) -> PluginRecord:
    return PluginRecord(
        namespace=namespace,
        distribution=None,
        version=None,
        entry_point="",
        status=PluginStatus.FAILED,
        error=f"no plugin {namespace!r} is installed in the worker's environment "
        f"({sys.executable}): install it there (`plughost isolate create`)",
    )


async def serve(namespace: str, settings: HostSettings) -> None:
    """Serve the plugin on stdio until the host closes the pipe."""
    link = HostLink()
    report, host = load(namespace, settings, link)
    if host is None:
        problem = report.problems[0].error if report.problems else "not installed"
        raise WorkerRefused(f"plugin {namespace!r} did not load in its worker: {problem}")
    async with lifecycle.running(host):
        components = ComponentAnswers(host.mcp, host.completions)
        await WorkerServer(host.tools, components, link).serve()


def write_manifest(found: WorkerManifest, out: BinaryIO) -> None:
    """The manifest as one JSON line on ``out`` (the real stdout: the plugin's prints were
    sent to stderr, so they cannot corrupt it)."""
    out.write(json.dumps(found.model_dump(mode="json")).encode() + b"\n")
    out.flush()


class NoExchange:
    """Token exchange in a worker not serving the host (listing its manifest): refused with a
    typed error saying why (a serving worker asks its host, `HostLink`)."""

    def source(self, plugin: str, subject: SecretStr | None) -> TokenSource:
        return _Refused(plugin)


class _Refused:
    def __init__(self, plugin: str) -> None:
        self.plugin = plugin

    async def token_for(self, audience: str, scopes: Any) -> DownstreamToken:
        raise TokenExchangeRefused(
            f"plugin {self.plugin!r} is loaded in a worker that serves no host's calls, so "
            "there is no caller whose token the host could exchange: call the tool through "
            "`plughost serve`",
            plugin=self.plugin,
        )
