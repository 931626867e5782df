"""`Plugin`: the one object a plugin package creates, and what it declares."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from sqlalchemy import MetaData, Table

from plughost.sdk.component_spec import Completer, PromptSpec, ResourceSpec
from plughost.sdk.context import PluginRuntime
from plughost.sdk.guardrails import (
    AfterCall,
    BeforeCall,
    CallInfo,
    CallOutput,
    Deny,
    Rewrite,
    run_after,
    run_before,
)
from plughost.sdk.hookspecs import hookimpl
from plughost.sdk.tables import tenant_column
from plughost.sdk.tool_spec import ToolSpec

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", ToolSpec, ResourceSpec, PromptSpec)
Hook = Callable[[PluginRuntime], Awaitable[None] | None]


class Plugin:
    """A plugin: its scope vocabulary, settings model, tables, tools and lifecycle hooks.

    Create one per package and point the ``mcp_tools`` entry point at it::

        plugin = Plugin(scopes={"todo:read": "Read todos", "todo:write": "Change todos"})

        @plugin.tool(scopes=["todo:read"], read_only=True)
        def count(ctx: ToolContext) -> int:
            "How many todos the caller's organisation has."

    The entry point's name is the namespace; scopes and table names must start with it.
    ``baseline_scopes`` are the plugin's least-privilege default (usually its read scopes):
    clients that are not told otherwise sign in with these and step up when a call needs more.
    ``migrations`` names the package of the plugin's Alembic revisions
    (``"plughost_todo.migrations"``); without it the host only creates missing tables and
    nullable columns.
    """

    def __init__(
        self,
        *,
        scopes: Mapping[str, str],
        baseline_scopes: Sequence[str] = (),
        settings: type[BaseModel] | None = None,
        migrations: str | None = None,
    ) -> None:
        if isinstance(baseline_scopes, str):
            raise TypeError("baseline_scopes is a list of scope names: ['todo:read']")
        self.scopes: dict[str, str] = dict(scopes)
        self.baseline_scopes = tuple(baseline_scopes)
        self.settings_model = settings
        self.migrations = migrations
        self.metadata = MetaData()
        self._tools: list[ToolSpec] = []
        self._resources: list[ResourceSpec] = []
        self._prompts: list[PromptSpec] = []
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._before: list[BeforeCall] = []
        self._after: list[AfterCall] = []

    def tool(
        self,
        *,
        scopes: Sequence[str],
        conditional_scopes: Mapping[str, str] | None = None,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        read_only: bool | None = None,
        destructive: bool | None = None,
        idempotent: bool | None = None,
        open_world: bool | None = None,
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Declare a tool. ``scopes`` is required: every listed scope is needed to call it.

        ``conditional_scopes`` maps each scope the tool may additionally ask for with
        ``ctx.require_scopes`` (depending on its arguments) to when it is needed, so agents and
        operators see it before the first 403. ``read_only``, ``destructive``, ``idempotent``
        and ``open_world`` become the MCP tool annotations agents use to decide whether to ask
        before calling. ``timeout`` (seconds) cuts a call off with a clear error.
        """
        _check_scopes(scopes)
        if conditional_scopes is not None and not isinstance(conditional_scopes, Mapping):
            raise TypeError(
                "conditional_scopes maps each scope to when it is needed, e.g. "
                "conditional_scopes={'oncall:page:escalate': 'when paging beyond the primary'}"
            )
        if read_only and destructive:
            raise TypeError("a tool cannot be both read_only and destructive; drop one")

        return _recording(
            self._tools,
            ToolSpec,
            scopes,
            name,
            conditional_scopes=dict(conditional_scopes or {}),
            title=title,
            description=description,
            read_only=read_only,
            destructive=destructive,
            idempotent=idempotent,
            open_world=open_world,
            timeout=timeout,
        )

    def resource(
        self,
        path: str,
        *,
        scopes: Sequence[str],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
        complete: Mapping[str, Completer] | None = None,
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Declare a resource at ``<namespace>://<path>``; reading it needs every scope listed.

        With ``{parameters}`` in ``path`` (``"lists/{list_id}"``) it is a resource template: the
        function takes each parameter by name. ``complete`` maps a parameter to a function
        ``fn(ctx, value)`` returning the values it may take (``completion/complete``).
        """
        _check_scopes(scopes)

        return _recording(
            self._resources,
            ResourceSpec,
            scopes,
            name,
            path=path,
            title=title,
            description=description,
            mime_type=mime_type,
            complete=dict(complete or {}),
            timeout=timeout,
        )

    def prompt(
        self,
        *,
        scopes: Sequence[str],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        complete: Mapping[str, Completer] | None = None,
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Declare a prompt, ``<namespace>_<name>``; getting it needs every scope listed.

        Its arguments come from the function's parameters after the `ToolContext`.
        ``complete`` maps an argument to a function ``fn(ctx, value)`` returning the values it
        may take (``completion/complete``).
        """
        _check_scopes(scopes)

        return _recording(
            self._prompts,
            PromptSpec,
            scopes,
            name,
            title=title,
            description=description,
            complete=dict(complete or {}),
            timeout=timeout,
        )

    def table(self, name: str, *columns: Any, **kwargs: Any) -> Table:
        """Declare a plugin table whose rows belong to a tenant.

        Adds an indexed, non-null ``tenant_id`` column in front of ``columns``. ``name`` must
        start with the plugin's namespace and an underscore (``todo_items``); the host checks
        this at load.
        """
        return Table(name, self.metadata, tenant_column(), *columns, **kwargs)

    def on_startup(self, fn: Hook) -> Hook:
        """Run ``fn(runtime)`` once when the host starts (may be async)."""
        self._startup.append(fn)
        return fn

    def on_shutdown(self, fn: Hook) -> Hook:
        """Run ``fn(runtime)`` once when the host stops (may be async)."""
        self._shutdown.append(fn)
        return fn

    def before_call(self, fn: BeforeCall) -> BeforeCall:
        """Guard every tool call of every plugin: ``fn(call)`` returns None, `Deny` or `Rewrite`.

        May be async; a sync guardrail runs in a worker thread. A plugin's guardrails run in the
        order declared; the first `Deny` ends them.
        """
        self._before.append(fn)
        return fn

    def after_call(self, fn: AfterCall) -> AfterCall:
        """See every tool call's result: ``fn(call, output)`` returns None or a new `CallOutput`.

        May be async; a sync guardrail runs in a worker thread.
        """
        self._after.append(fn)
        return fn

    def guards(self, hook: Literal["before_call", "after_call"]) -> bool:
        """Whether this plugin declared a guardrail for ``hook``: the host calls no others."""
        return bool(self._before if hook == "before_call" else self._after)

    @hookimpl
    def plughost_scopes(self) -> Mapping[str, str]:
        return self.scopes

    @hookimpl
    def plughost_baseline_scopes(self) -> Sequence[str]:
        return self.baseline_scopes

    @hookimpl
    def plughost_tools(self) -> Sequence[ToolSpec]:
        return list(self._tools)

    @hookimpl
    def plughost_resources(self) -> Sequence[ResourceSpec]:
        return list(self._resources)

    @hookimpl
    def plughost_prompts(self) -> Sequence[PromptSpec]:
        return list(self._prompts)

    @hookimpl
    def plughost_settings_model(self) -> type[BaseModel] | None:
        return self.settings_model

    @hookimpl
    def plughost_tables(self) -> Sequence[Table]:
        return list(self.metadata.sorted_tables)

    @hookimpl
    def plughost_migrations(self) -> str | None:
        return self.migrations

    @hookimpl
    async def plughost_startup(self, runtime: PluginRuntime) -> None:
        for fn in self._startup:
            await maybe_await(fn(runtime))

    @hookimpl
    async def plughost_shutdown(self, runtime: PluginRuntime) -> None:
        for fn in reversed(self._shutdown):
            await maybe_await(fn(runtime))

    @hookimpl
    async def plughost_before_call(self, call: CallInfo) -> Deny | Rewrite | None:
        return await run_before(self._before, call) if self._before else None

    @hookimpl
    async def plughost_after_call(self, call: CallInfo, output: CallOutput) -> CallOutput | None:
        return await run_after(self._after, call, output) if self._after else None


async def maybe_await(value: Awaitable[None] | None) -> None:
    """Lifecycle hooks may be sync or async; await the result only when there is one."""
    if inspect.isawaitable(value):
        await value


def _check_scopes(scopes: Sequence[str]) -> None:
    if isinstance(scopes, str):
        raise TypeError("scopes must be a list of scope names, e.g. scopes=['todo:read']")


def _recording(
    specs: list[S], spec: type[S], scopes: Sequence[str], name: str | None, **options: Any
) -> Callable[[F], F]:
    """The decorator `Plugin.tool`, `resource` and `prompt` return: it records the ``spec``
    of ``fn`` (needing ``scopes``, named ``name`` or after ``fn``, with the kind's own
    ``options``) and hands ``fn`` back unchanged, so the function stays callable as written
    (and in tests)."""

    def register(fn: F) -> F:
        specs.append(spec(fn=fn, scopes=tuple(scopes), name=name or fn.__name__, **options))
        return fn

    return register
