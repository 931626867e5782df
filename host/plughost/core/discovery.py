"""Find plugins through the ``mcp_tools`` entry points and load each on its own.

The result is a `LoadReport`: one `PluginRecord` per entry point saying what happened, and the
live `LoadedPlugin` objects the server is built from. A plugin that cannot be loaded is recorded
and skipped so the others keep serving; `strict` turns any such failure into `PluginLoadError`.
"""

from __future__ import annotations

import inspect
import logging
import traceback
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

from plughost.core.components import ComponentInfo, check_prompts, check_resources
from plughost.core.naming import check_conditional, check_namespace, check_tool, check_vocabulary
from plughost.core.plugin_import import import_entry_point
from plughost.core.rich_results import check_result_type
from plughost.core.scope_use import scope_uses
from plughost.core.tool_schema import tool_hints
from plughost.errors import PluginLoadError, ScopeError
from plughost.sdk import hookspecs
from plughost.sdk.component_spec import PromptSpec, ResourceSpec
from plughost.sdk.tables import TENANT_COLUMN
from plughost.sdk.tool_spec import ToolSpec

ENTRY_POINT_GROUP = "mcp_tools"
HOST_DISTRIBUTION = "plughost"

log = logging.getLogger("plughost.core.discovery")


class ToolInfo(BaseModel):
    """A tool as the load report shows it."""

    name: str
    scopes: list[str]
    conditional_scopes: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, bool] = Field(default_factory=dict)
    title: str | None = None
    description: str | None = None


class PluginStatus(StrEnum):
    """What became of one entry point: loaded, or not, and why not: it failed to load, needs
    another host version, is disabled by settings, or its namespace is already taken."""

    LOADED = "loaded"
    FAILED = "failed"
    INCOMPATIBLE = "incompatible"
    DISABLED = "disabled"
    CONFLICT = "conflict"


class PluginRecord(BaseModel):
    """What happened to one ``mcp_tools`` entry point."""

    namespace: str
    distribution: str | None
    version: str | None
    entry_point: str
    status: PluginStatus
    error: str | None = None
    exception: str | None = Field(None, description="The exception's type, when one was raised.")
    location: str | None = Field(None, description="file:line inside the plugin that raised it.")
    traceback: str | None = Field(None, description="The whole traceback, for --verbose.")
    scopes: dict[str, str] = Field(default_factory=dict)
    baseline_scopes: list[str] = Field(default_factory=list)
    tools: list[ToolInfo] = Field(default_factory=list)
    components: list[ComponentInfo] = Field(default_factory=list)


@dataclass
class LoadedPlugin:
    """A plugin that passed every load check, with what the server needs to run it."""

    record: PluginRecord
    manager: pluggy.PluginManager
    tools: list[ToolSpec]
    settings_model: type[BaseModel] | None
    tables: list[Table]
    resources: list[ResourceSpec] = field(default_factory=list)
    prompts: list[PromptSpec] = field(default_factory=list)
    #: Served by a worker process of its own (`plughost.core.isolation`): the host holds its
    #: record only, never its code.
    isolated: bool = False

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
    #: Each isolated plugin's `WorkerManifest` (`plughost.core.isolation.manifest`), by namespace.
    manifests: dict[str, Any] = field(default_factory=dict)

    @property
    def problems(self) -> list[PluginRecord]:
        """Records an operator must look at (everything but loaded and disabled)."""
        ok = {PluginStatus.LOADED, PluginStatus.DISABLED}
        return [r for r in self.records if r.status not in ok]

    def mark_failed(self, namespace: str, error: str, exc: BaseException | None = None) -> None:
        """Withdraw a plugin that failed after loading (e.g. in its start-up hook)."""
        for plugin in self.loaded:
            if plugin.namespace == namespace:
                plugin.record.status = PluginStatus.FAILED
                plugin.record.error = error
                if exc is not None:
                    _note_exception(plugin.record, exc)
        self.loaded = [p for p in self.loaded if p.namespace != namespace]

    def raise_for_problems(self) -> None:
        if self.problems:
            lines = [f"{r.namespace} ({r.status}): {r.error}{_at(r)}" for r in self.problems]
            raise PluginLoadError("plugins failed to load (strict mode):\n  " + "\n  ".join(lines))


def discover(
    *,
    host_version: str,
    enabled: Sequence[str] | None = None,
    disabled: Sequence[str] = (),
    strict: bool = False,
    import_timeout: float | None = None,
) -> LoadReport:
    """Load every ``mcp_tools`` entry point visible on ``sys.path`` into a `LoadReport`;
    a plugin whose import takes longer than ``import_timeout`` seconds fails to load."""
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
            loaded = _load(ep, record, import_timeout)
        except Exception as exc:
            _note_exception(record, exc)
            _refuse(record, PluginStatus.FAILED, _failure_message(exc, record), exc)
            continue
        report.loaded.append(loaded)
    if strict:
        report.raise_for_problems()
    return report


def _refuse(
    record: PluginRecord, status: PluginStatus, error: str, exc: BaseException | None = None
) -> None:
    record.status = status
    record.error = error
    log.warning(
        "plugin %s not loaded (%s): %s%s",
        record.namespace,
        status.value,
        error,
        _at(record),
        exc_info=exc,
    )


def _at(record: PluginRecord) -> str:
    return f" (at {record.location})" if record.location else ""


def _note_exception(record: PluginRecord, exc: BaseException) -> None:
    """Keep what an author needs to fix a failure: its type, the plugin's line, the traceback."""
    record.exception = type(exc).__name__
    record.location = _plugin_line(exc, _package(record.entry_point))
    record.traceback = "".join(traceback.format_exception(exc)).rstrip()


def _package(entry_point: str) -> str:
    """The top-level package an entry point's object lives in (``plughost_x.tools:plugin``)."""
    return entry_point.partition(":")[0].strip().split(".")[0]


def _plugin_line(exc: BaseException, package: str) -> str | None:
    """``file:line`` of the innermost frame in the plugin's own package, if any.

    The frame that raised may be in the standard library (``os.environ[...]``) or a dependency;
    the line to fix is the plugin's own. A syntax error has no frame in the plugin: its file
    and line are on the exception.
    """
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    found = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        module = str(frame.f_globals.get("__name__", ""))
        if module.split(".")[0] == package:
            found = f"{frame.f_code.co_filename}:{lineno}"
    return found


def _failure_message(exc: BaseException, record: PluginRecord) -> str:
    """The one-line error, plus who should declare a module that is not installed."""
    text = _one_line(exc)
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return text
    missing, package = exc.name, _package(record.entry_point)
    if missing.split(".")[0] == package:
        return (
            f"{text}: the plugin's own module {missing!r} is missing (a typo in an import, or a "
            "file left out of the distribution)"
        )
    who = _importer(exc) or record.distribution or package
    return (
        f"{text}: {who} imports {missing.split('.')[0]!r}, which is not installed; {who} "
        "should declare the distribution that provides it in its dependencies "
        "([project] dependencies in pyproject.toml), then reinstall"
    )


def _importer(exc: ModuleNotFoundError) -> str | None:
    """The distribution whose code ran the failing import (the innermost non-importlib frame)."""
    importer = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        module = str(frame.f_globals.get("__name__", ""))
        if module and not module.startswith("importlib"):
            importer = module.split(".")[0]
    if importer is None:
        return None
    owners = importlib_metadata.packages_distributions().get(importer)
    return owners[0] if owners else None


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


def _load(
    ep: importlib_metadata.EntryPoint, record: PluginRecord, import_timeout: float | None
) -> LoadedPlugin:
    namespace = ep.name
    check_namespace(namespace)
    obj = import_entry_point(ep, import_timeout)
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
    infos = _tool_infos(namespace, tools, vocabulary)
    resources = [spec for part in manager.hook.plughost_resources() for spec in part]
    prompts = [spec for part in manager.hook.plughost_prompts() for spec in part]
    components = check_resources(namespace, resources, vocabulary)
    components += check_prompts(namespace, prompts, vocabulary)
    functions = [*tools, *resources, *prompts]
    _check_scope_uses(ep.module, [spec.fn.__module__ for spec in functions], vocabulary)

    tables = [t for part in manager.hook.plughost_tables() for t in part]
    _check_tables(namespace, tables)

    record.scopes = vocabulary
    record.baseline_scopes = list(dict.fromkeys(baseline))
    record.tools = infos
    record.components = components
    return LoadedPlugin(
        record=record,
        manager=manager,
        tools=tools,
        settings_model=manager.hook.plughost_settings_model(),
        tables=tables,
        resources=resources,
        prompts=prompts,
    )


def _check_tables(namespace: str, tables: list[Table]) -> None:
    """Refuse a table outside the plugin's namespace, or one whose rows belong to no tenant."""
    for table in tables:
        if not table.name.startswith(f"{namespace}_"):
            raise ScopeError(f"table {table.name!r} must be named '{namespace}_<name>'")
        if TENANT_COLUMN not in table.c:
            raise ScopeError(
                f"table {table.name!r} has no {TENANT_COLUMN} column; declare it with "
                "plugin.table(...) so rows stay within their tenant"
            )


def _tool_infos(
    namespace: str, tools: list[ToolSpec], vocabulary: dict[str, str]
) -> list[ToolInfo]:
    """Check every tool's name and scopes; describe each as the load report shows it."""
    seen: set[str] = set()
    infos = []
    for tool in tools:
        if not isinstance(tool, ToolSpec):
            raise ScopeError(f"plughost_tools returned {tool!r}; declare tools with @plugin.tool")
        public = check_tool(namespace, tool.name, tool.scopes, vocabulary)
        check_conditional(public, tool.scopes, tool.conditional_scopes, vocabulary)
        check_result_type(tool.fn, public)
        if public in seen:
            raise ScopeError(f"tool {public!r} is declared twice")
        seen.add(public)
        infos.append(
            ToolInfo(
                name=public,
                scopes=list(tool.scopes),
                conditional_scopes=dict(tool.conditional_scopes),
                annotations=tool_hints(tool),
                title=tool.title,
                description=tool.description or _first_paragraph(tool.fn.__doc__),
            )
        )
    return infos


def _check_scope_uses(
    entry_module: str, tool_modules: list[str], vocabulary: dict[str, str]
) -> None:
    """Refuse a ``require_scopes`` call in the plugin's code that names an undeclared scope."""
    for use in scope_uses(entry_module, tool_modules):
        if use.scope not in vocabulary:
            raise ScopeError(
                f"require_scopes({use.scope!r}) at {use.file}:{use.line} names a scope the "
                "plugin never declared; add it to Plugin(scopes={...}) with a description and "
                "to the tool's conditional_scopes={...}"
            )


def _first_paragraph(doc: str | None) -> str | None:
    if not doc:
        return None
    return inspect.cleandoc(doc).split("\n\n", 1)[0].strip() or None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
