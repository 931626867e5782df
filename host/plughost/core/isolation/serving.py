"""An isolated plugin's targets as the host serves them: forwarded to its worker.

Each tool its worker listed becomes a `ForwardedTool` (`core/forwarding.py`), each resource,
template and prompt a forwarded component (`core/forwarded_components.py`, completed by the
worker when the plugin declared completers), with the scopes the plugin declared (from its
load record, not from anything the worker sends per call) and a deadline a little past the
target's own (`Worker.answer_grace`): the worker's adapter answers a plain timeout itself, and
only a worker that cannot (its GIL held by a C call) is answered for by the host.
"""

from __future__ import annotations

from fastmcp.tools import Tool
from mcp import types as mcp

from plughost.core.forwarded_components import ForwardedSet
from plughost.core.forwarding import ForwardedTool
from plughost.core.isolation.manifest import WorkerManifest
from plughost.core.isolation.supervisor import Worker
from plughost.core.isolation.upstream import WorkerUpstream
from plughost.core.registry import RegisteredTarget
from plughost.settings import HostSettings


def worker_tools(
    manifest: WorkerManifest, worker: Worker, settings: HostSettings
) -> list[tuple[RegisteredTarget, Tool]]:
    """Every tool of the isolated plugin, with its registry entry."""
    record, upstream = manifest.record, WorkerUpstream(worker)
    declared = {info.name: info for info in record.tools}
    served: list[tuple[RegisteredTarget, Tool]] = []
    for listed in manifest.tools:
        tool = mcp.Tool.model_validate(listed)
        info = declared.get(tool.name)
        if info is None:
            continue  # the worker serves nothing the plugin did not declare at load
        entry = RegisteredTarget(
            name=tool.name,
            plugin=record.namespace,
            plugin_version=record.version or "0",
            scopes=tuple(info.scopes),
            conditional_scopes=dict(info.conditional_scopes),
            kind="tool",
        )
        timeout = manifest.timeouts.get(tool.name, settings.tool_timeout_seconds)
        forwarded = ForwardedTool.build(
            upstream,
            tool,
            entry,
            deadline=timeout + worker.answer_grace,
            max_result_bytes=settings.max_result_bytes,
            meta={"isolated": True},
        )
        served.append((entry, forwarded))
    return served


def worker_components(
    manifest: WorkerManifest, worker: Worker, settings: HostSettings
) -> ForwardedSet:
    """Every resource, template and prompt of the isolated plugin, forwarded to ``worker``."""
    record = manifest.record
    declared = {info.name: info for info in record.components}
    forwarded = ForwardedSet(
        WorkerUpstream(worker),
        {"isolated": True},
        completes=any(info.completes for info in record.components),
    )
    listed: list[tuple[str, mcp.Resource | mcp.ResourceTemplate | mcp.Prompt]] = [
        *((r["uri"], mcp.Resource.model_validate(r)) for r in manifest.resources),
        *((t["uriTemplate"], mcp.ResourceTemplate.model_validate(t)) for t in manifest.templates),
        *((p["name"], mcp.Prompt.model_validate(p)) for p in manifest.prompts),
    ]
    for name, target in listed:
        info = declared.get(name)
        if info is None:
            continue  # the worker serves nothing the plugin did not declare at load
        entry = RegisteredTarget(
            name=name,
            plugin=record.namespace,
            plugin_version=record.version or "0",
            scopes=tuple(info.scopes),
            kind="prompt" if info.kind == "prompt" else "resource",
        )
        timeout = manifest.timeouts.get(name, settings.tool_timeout_seconds)
        deadline = timeout + worker.answer_grace
        if isinstance(target, mcp.Prompt):
            forwarded.prompt(target, entry, deadline)
        else:
            forwarded.resource(target, entry, deadline)
    return forwarded
