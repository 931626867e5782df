"""Find plugins through the ``mcp_tools`` entry points and load each on its own.

The result is a `LoadReport`: one `PluginRecord` per entry point saying what happened, and the
live `LoadedPlugin` objects the server is built from. A plugin that cannot be loaded is recorded
and skipped so the others keep serving; `strict` turns any such failure into `PluginLoadError`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import importlib_metadata
import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, Field
from sqlalchemy import Table

from plughost.core.naming import check_namespace, check_tool, check_vocabulary
from plughost.errors import PluginLoadError, ScopeError
from plughost.sdk import hookspecs
from plughost.sdk.plugin import ToolSpec
from plughost.sdk.tables import TENANT_COLUMN

ENTRY_POINT_GROUP = "mcp_tools"
HOST_DISTRIBUTION = "plughost"

log = logging.getLogger("plughost.core.discovery")


class PluginStatus(StrEnum):
    LOADED = "loaded"
    FAILED = "failed"
    INCOMPATIBLE = "incompatible"
    DISABLED = "disabled"
    CONFLICT = "conflict"


class ToolInfo(BaseModel):
    """A tool as the load report shows it."""

    name: str
    scopes: list[str]
    title: str | None = None
    description: str | None = None


class PluginRecord(BaseModel):
    """What happened to one ``mcp_tools`` entry point."""

    namespace: str
    distribution: str | None
    version: str | None
    entry_point: str
    status: PluginStatus
    error: str | None = None
    scopes: dict[str, str] = Field(default_factory=dict)
    baseline_scopes: list[str] = Field(default_factory=list)
    tools: list[ToolInfo] = Field(default_factory=list)


@dataclass
class LoadedPlugin:
    """A plugin that passed every load check, with what the server needs to run it."""

    record: PluginRecord
    manager: pluggy.PluginManager
    tools: list[ToolSpec]
    settings_model: type[BaseModel] | None
    tables: list[Table]

    @property
    def namespace(self) -> str:
        return self.record.namespace

    @property
    def version(self) -> str:
        return self.record.version or "0"


@dataclass
class LoadReport:
    records: list[PluginRecord] = field(default_factory=list)
    loaded: list[LoadedPlugin] = field(default_factory=list)

    @property
    def problems(self) -> list[PluginRecord]:
        """Records an operator must look at (everything but loaded and disabled)."""
        ok = {PluginStatus.LOADED, PluginStatus.DISABLED}
        return [r for r in self.records if r.status not in ok]

    def mark_failed(self, namespace: str, error: str) -> None:
        """Withdraw a plugin that failed after loading (e.g. in its start-up hook)."""
        for plugin in self.loaded:
            if plugin.namespace == namespace:
                plugin.record.status = PluginStatus.FAILED
                plugin.record.error = error
        self.loaded = [p for p in self.loaded if p.namespace != namespace]

    def raise_for_problems(self) -> None:
        if self.problems:
            lines = [f"{r.namespace} ({r.status}): {r.error}" for r in self.problems]
            raise PluginLoadError("plugins failed to load (strict mode):\n  " + "\n  ".join(lines))


def discover(
    *,
    host_version: str,
    enabled: Sequence[str] | None = None,
    disabled: Sequence[str] = (),
    strict: bool = False,
) -> LoadReport:
    """Load every ``mcp_tools`` entry point visible on ``sys.path`` into a `LoadReport`."""
    report = LoadReport()
    claimed: dict[str, PluginRecord] = {}
    for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        record = PluginRecord(
            namespace=ep.name,
            distribution=dist.metadata["Name"] if dist else None,
            version=dist.version if dist else None,
            entry_point=ep.value,
            status=PluginStatus.LOADED,
        )
        report.records.append(record)
        if ep.name in claimed:
            first = claimed[ep.name]
            _refuse(
                record,
                PluginStatus.CONFLICT,
                f"namespace {ep.name!r} is already taken by {first.distribution} "
                f"{first.version}; {record.distribution} {record.version} was not loaded "
                "(uninstall one, or disable it by namespace)",
            )
            continue
        claimed[ep.name] = record
        if (enabled is not None and ep.name not in enabled) or ep.name in disabled:
            record.status = PluginStatus.DISABLED
            record.error = "disabled by settings (enabled_plugins / disabled_plugins)"
            continue
        incompatibility = _incompatibility(dist, host_version)
        if incompatibility:
            _refuse(record, PluginStatus.INCOMPATIBLE, incompatibility)
            continue
        try:
            loaded = _load(ep, record)
        except Exception as exc:
            _refuse(record, PluginStatus.FAILED, _one_line(exc))
            continue
        report.loaded.append(loaded)
    if strict:
        report.raise_for_problems()
    return report


def _refuse(record: PluginRecord, status: PluginStatus, error: str) -> None:
    record.status = status
    record.error = error
    log.warning("plugin %s not loaded (%s): %s", record.namespace, status.value, error)


def _incompatibility(dist: Any, host_version: str) -> str | None:
    """Why the running host does not fit the plugin's ``plughost`` requirement, if it does not."""
    if dist is None:
        return None
    for line in dist.requires or ():
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != HOST_DISTRIBUTION:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            ok = req.specifier.contains(Version(host_version), prereleases=True)
        except InvalidVersion:
            ok = False
        if not ok:
            return (
                f"{dist.metadata['Name']} {dist.version} requires plughost{req.specifier}, "
                f"but this host is plughost {host_version}; install a release of the plugin "
                "made for this host, or a host in that range"
            )
    return None


def _load(ep: importlib_metadata.EntryPoint, record: PluginRecord) -> LoadedPlugin:
    namespace = ep.name
    check_namespace(namespace)
    obj = ep.load()
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(obj, name=namespace)
    manager.check_pending()  # a misspelled hook name is an error, not a silently ignored function

    vocabulary: dict[str, str] = {}
    for part in manager.hook.plughost_scopes():
        vocabulary.update(part)
    check_vocabulary(namespace, vocabulary)
    baseline = [scope for part in manager.hook.plughost_baseline_scopes() for scope in part]
    undeclared = sorted(set(baseline) - set(vocabulary))
    if undeclared:
        raise ScopeError(
            f"baseline scope(s) {', '.join(undeclared)} are not declared; baseline_scopes must "
            "name scopes from the plugin's own scopes={...}"
        )

    tools = [tool for part in manager.hook.plughost_tools() for tool in part]
    seen: set[str] = set()
    infos = []
    for tool in tools:
        if not isinstance(tool, ToolSpec):
            raise ScopeError(f"plughost_tools returned {tool!r}; return plughost.ToolSpec objects")
        public = check_tool(namespace, tool.name, tool.scopes, vocabulary)
        if public in seen:
            raise ScopeError(f"tool {public!r} is declared twice")
        seen.add(public)
        infos.append(
            ToolInfo(
                name=public,
                scopes=list(tool.scopes),
                title=tool.title,
                description=tool.description or _first_paragraph(tool.fn.__doc__),
            )
        )

    settings_model = manager.hook.plughost_settings_model()
    tables = [t for part in manager.hook.plughost_tables() for t in part]
    for table in tables:
        if not table.name.startswith(f"{namespace}_"):
            raise ScopeError(f"table {table.name!r} must be named '{namespace}_<name>'")
        if TENANT_COLUMN not in table.c:
            raise ScopeError(
                f"table {table.name!r} has no {TENANT_COLUMN} column; declare it with "
                "plughost.tenant_table so rows stay within their tenant"
            )

    record.scopes = vocabulary
    record.baseline_scopes = list(dict.fromkeys(baseline))
    record.tools = infos
    return LoadedPlugin(
        record=record,
        manager=manager,
        tools=tools,
        settings_model=settings_model,
        tables=tables,
    )


def _first_paragraph(doc: str | None) -> str | None:
    if not doc:
        return None
    return inspect.cleandoc(doc).split("\n\n", 1)[0].strip() or None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
