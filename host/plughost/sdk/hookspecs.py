# mypy: disable-error-code="empty-body"
# A pluggy hookspec is a signature and a docstring: its body never runs, so it returns nothing.
"""The hooks a plugin implements.

Every plugin is registered in a pluggy `PluginManager` of its own, so each hook below answers for
exactly one plugin: results and failures are attributable, and no plugin can see or wrap another
plugin's hooks. Most plugins never write these by hand: `plughost.Plugin` implements all of them.
A plugin may instead be any object (often a module) with `@hookimpl` functions of these names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel
    from sqlalchemy import Table

    from plughost.sdk.component_spec import PromptSpec, ResourceSpec
    from plughost.sdk.context import PluginRuntime
    from plughost.sdk.guardrails import CallInfo, CallOutput, Deny, Rewrite
    from plughost.sdk.tool_spec import ToolSpec

PROJECT = "plughost"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def plughost_scopes() -> Mapping[str, str]:
    """Return the plugin's scope vocabulary: scope name to a one-line description.

    Every scope must live under the plugin's namespace (``todo:read`` for namespace ``todo``).
    Tools may only require scopes declared here. The host advertises the union of all plugins'
    scopes in its protected-resource metadata, with these descriptions in the docs.
    """


@hookspec
def plughost_baseline_scopes() -> Sequence[str]:
    """Return the plugin's least-privilege scopes: what a client asks for before it knows more.

    Each must be one of the plugin's declared scopes. The host's 401 challenge names the union
    of every plugin's baseline (``scope=`` in ``WWW-Authenticate``), so a client signs in with
    the least it needs and steps up on a 403 instead of asking for every scope of every plugin.
    """


@hookspec
def plughost_tools() -> Sequence[ToolSpec]:
    """Return the plugin's tools.

    Each tool is exposed to agents as ``<namespace>_<name>``, must state the scopes it needs
    (an empty list on purpose for a public tool), and receives a `ToolContext` first.
    """


@hookspec
def plughost_resources() -> Sequence[ResourceSpec]:
    """Return the plugin's resources and resource templates (``<namespace>://<path>``).

    Each states the scopes reading it needs and receives a `ToolContext` first.
    """


@hookspec
def plughost_prompts() -> Sequence[PromptSpec]:
    """Return the plugin's prompts, exposed as ``<namespace>_<name>``, each with its scopes."""


@hookspec(firstresult=True)
def plughost_settings_model() -> type[BaseModel] | None:
    """Return the pydantic model of the plugin's settings, or None for a plugin without any.

    The host validates the plugin's settings section against it at start-up and refuses to
    start, naming the setting, when a value does not fit.
    """


@hookspec
def plughost_tables() -> Sequence[Table]:
    """Return the SQLAlchemy tables the plugin stores data in.

    Each table's name starts with ``<namespace>_`` and carries a ``tenant_id`` column
    (`Plugin.table` gets both right). A plugin without migrations gets its missing
    tables, and missing nullable columns, created at start-up.
    """


@hookspec(firstresult=True)
def plughost_migrations() -> str | None:
    """Return the package holding the plugin's Alembic revisions, or None for a plugin without.

    The host runs them (``plughost db upgrade``, or at start-up by setting) with the plugin's
    own version table, ``<namespace>_alembic_version``. The first revision is the baseline: a
    database whose tables were made before the plugin had migrations is stamped there.
    """


@hookspec
def plughost_startup(runtime: PluginRuntime) -> Awaitable[None] | None:
    """Prepare the plugin before the first call: open clients, seed data, check settings.

    Runs once per host process, after the plugin's tables exist. May return an awaitable. A
    plugin whose start-up raises is reported as failed and its tools are withdrawn.
    """


@hookspec
def plughost_shutdown(runtime: PluginRuntime) -> Awaitable[None] | None:
    """Release what `plughost_startup` acquired. Runs once, when the host stops."""


@hookspec
def plughost_before_call(
    call: CallInfo,
) -> Awaitable[Deny | Rewrite | None] | Deny | Rewrite | None:
    """See every tool call of every plugin before it runs: None lets it through, a `Deny`
    refuses it (HTTP 403 naming the rule), a `Rewrite` replaces its arguments.

    Runs for plugins in namespace order; each sees the arguments as the previous one left them,
    and the first `Deny` ends the call. A hook that raises or overruns
    ``PLUGHOST_GUARDRAIL_TIMEOUT_SECONDS`` refuses the call. May return an awaitable; a sync
    hook runs in a worker thread.
    """


@hookspec
def plughost_after_call(
    call: CallInfo, output: CallOutput
) -> Awaitable[CallOutput | None] | CallOutput | None:
    """See every tool call's result before the caller does: None passes it on, a `CallOutput`
    replaces it (to redact or rewrite it).

    Runs in the same order as `plughost_before_call`, each hook seeing the previous one's
    output; a hook that raises or overruns its deadline withholds the result and refuses the
    call.
    """
