"""What the Plugins and Health pages show, gathered from the running host.

Plain data for the templates, built from what the host already knows: the load report and
the registry (plugins; their tools, resources and prompts; scopes), the readiness checks, the
issuer's key cache and the settings. Nothing here holds a token, a secret or a password:
URLs are shown without their credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

from plughost import __version__
from plughost.auth.issuers import Issuer
from plughost.core.discovery import PluginRecord, PluginStatus
from plughost.core.host import Host
from plughost.core.host_scopes import HOST_SCOPES
from plughost.core.isolation.supervisor import Worker
from plughost.core.mounts import MountState
from plughost.core.tool_schema import hint_labels
from plughost.edge.health import CheckResult


class ScopeView(BaseModel):
    name: str
    description: str


class ToolView(BaseModel):
    name: str
    title: str | None
    description: str | None
    scopes: list[ScopeView]
    conditional: list[tuple[ScopeView, str]]
    hints: list[str]


class ComponentView(BaseModel):
    """A resource, resource template or prompt: what it is, what it needs, what completes."""

    name: str
    kind: str
    description: str | None
    mime_type: str | None
    scopes: list[ScopeView]
    completes: list[str]


class PluginView(BaseModel):
    namespace: str
    distribution: str | None
    version: str | None
    status: str
    reason: str | None
    location: str | None
    scopes: list[ScopeView]
    tools: list[ToolView]
    components: list[ComponentView]
    #: Where it runs: "host process", or "own process" with its worker's state.
    runs: str = "host process"
    worker: str | None = None
    restarts: int = 0


class MountView(BaseModel):
    """A mounted MCP server: where it is (never a credential), whether it answers, what of
    it is served."""

    namespace: str
    kind: str
    transport: str
    where: str
    status: str
    error: str | None
    server: str | None
    version: str
    last_refresh: datetime | None
    served: list[str]
    skipped: list[tuple[str, str]]


class PluginsPage(BaseModel):
    plugins: list[PluginView]
    mounts: list[MountView]
    host_scopes: list[ScopeView]
    loaded: int
    problems: int
    tools: int


def plugins_page(host: Host) -> PluginsPage:
    """Every installed plugin as the load report has it, loaded or not, with its tools,
    resources and prompts."""
    views = [_placed(_plugin(record), host.workers.workers) for record in host.report.records]
    return PluginsPage(
        plugins=views,
        mounts=[_mount(mount.state) for mount in host.mounts.values()],
        host_scopes=[ScopeView(name=n, description=d) for n, d in HOST_SCOPES.items()],
        loaded=sum(1 for v in views if v.status == PluginStatus.LOADED.value),
        problems=len(host.report.problems),
        tools=len(host.registry),
    )


def _placed(view: PluginView, workers: Mapping[str, Worker]) -> PluginView:
    """The plugin's view with where it runs: an isolated plugin's worker, its restarts."""
    worker = workers.get(view.namespace)
    if worker is None:
        return view
    state = f"running (pid {worker.pid})" if worker.running else "not running"
    if worker.last_exit:
        state += f"; last ended: {worker.last_exit}"
    return view.model_copy(
        update={"runs": "own process", "worker": state, "restarts": worker.restarts}
    )


def _plugin(record: PluginRecord) -> PluginView:
    def scope(name: str) -> ScopeView:
        described = record.scopes.get(name) or HOST_SCOPES.get(name) or "(not declared)"
        return ScopeView(name=name, description=described)

    return PluginView(
        namespace=record.namespace,
        distribution=record.distribution,
        version=record.version,
        status=record.status.value,
        reason=record.error,
        location=record.location,
        scopes=[ScopeView(name=n, description=d) for n, d in record.scopes.items()],
        tools=[
            ToolView(
                name=tool.name,
                title=tool.title,
                description=tool.description,
                scopes=[scope(name) for name in tool.scopes],
                conditional=[(scope(name), when) for name, when in tool.conditional_scopes.items()],
                hints=hint_labels(tool.annotations),
            )
            for tool in record.tools
        ],
        components=[
            ComponentView(
                name=component.name,
                kind=component.kind,
                description=component.description,
                mime_type=component.mime_type,
                scopes=[scope(name) for name in component.scopes],
                completes=component.completes,
            )
            for component in record.components
        ],
    )


def _mount(state: MountState) -> MountView:
    refreshed = state.last_refresh
    return MountView(
        namespace=state.namespace,
        kind=state.kind,
        transport=state.transport,
        where=without_credentials(state.where) if state.transport == "http" else state.where,
        status=state.status,
        error=state.error,
        server=state.server,
        version=state.version,
        last_refresh=None if refreshed is None else datetime.fromtimestamp(refreshed, UTC),
        served=state.served,
        skipped=sorted(state.skipped.items()),
    )


class CheckView(BaseModel):
    name: str
    ok: bool
    latency_ms: float
    at: datetime
    problem: str | None


class KeyView(BaseModel):
    kid: str
    held_since: datetime | None
    age: str


class HealthPage(BaseModel):
    version: str
    ready: bool
    checks: list[CheckView]
    issuer_kind: str
    jwks_uri: str | None
    keys: list[KeyView]
    last_jwks_fetch: datetime | None
    jwks_problem: str | None
    database: str
    rate_limit_storage: str
    rate_limit_policy: list[tuple[str, str]]
    audit: list[tuple[str, str]]


def health_page(
    host: Host, issuer: Issuer, ready: bool, checks: dict[str, CheckResult]
) -> HealthPage:
    """The readiness checks just run, the issuer's keys, and how storage is configured."""
    settings = host.settings
    limits = settings.rate_limit
    keys = issuer.keys
    now = datetime.now(UTC)
    policy = [
        ("when the storage fails", f"fail {limits.on_storage_error}"),
        ("default limit", limits.default or "none"),
        ("budget per", limits.key.replace("_", " ")),
        ("storage deadline", f"{limits.storage_timeout_seconds}s"),
        *((f"plugin {name}", rate) for name, rate in sorted(limits.plugins.items())),
        *((f"tool {name}", rate) for name, rate in sorted(limits.tools.items())),
    ]
    audit = settings.audit
    return HealthPage(
        version=__version__,
        ready=ready,
        checks=[CheckView(name=name, **result.__dict__) for name, result in sorted(checks.items())],
        issuer_kind=issuer.kind,
        jwks_uri=keys.uri,
        keys=[
            KeyView(kid=kid, held_since=since, age=_age(now, since))
            for kid in keys.key_ids
            for since in [keys.first_seen.get(kid)]
        ],
        last_jwks_fetch=keys.last_fetch_at,
        jwks_problem=keys.last_error,
        database=without_credentials(settings.resolved_database_url),
        rate_limit_storage=without_credentials(limits.storage_url),
        rate_limit_policy=policy,
        audit=[
            ("sink", audit.sink),
            ("kept in the database", "yes" if audit.database else "no"),
            ("argument values", "recorded" if audit.include_arguments else "names only"),
            ("durable", "yes" if audit.holds_responses else "no"),
        ],
    )


def without_credentials(url: str) -> str:
    """A URL with any user name and password taken out (database and Redis URLs carry them)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, "", ""))


def _age(now: datetime, since: datetime | None) -> str:
    if since is None:
        return "unknown"
    seconds = int((now - since).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
