"""Turn a plugin's `ToolSpec` into a FastMCP tool named ``<namespace>_<tool>``.

The plugin's function takes a `ToolContext` first; agents must never see that parameter. The
adapter builds a function with the same signature minus the context (type hints resolved in the
plugin's own module, so ``from __future__ import annotations`` works), which FastMCP turns into
the input schema and validates against. What the plugin's function did (returned, raised one of
the SDK's errors, timed out, crashed) is noted on the request's call record and becomes a
structured error result; a scope the function asked for and the caller lacks is noted there too,
and the gate answers it with HTTP 403.
What agents read before calling (hints, the output schema) is `plughost.core.tool_schema`'s;
rich results (images, resources...) become MCP content blocks in `plughost.core.rich_results`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import anyio.to_thread
from fastmcp.tools import Tool
from fastmcp.tools.base import ToolResult
from mcp.types import InputRequiredResult, ToolAnnotations
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from plughost.core.asking import input_required, rounds_of_call
from plughost.core.callrecord import CallRecord, current_call
from plughost.core.cursor_key import CursorKey
from plughost.core.db_outage import OutageLog, is_outage
from plughost.core.plain_results import PlainResults
from plughost.core.plugin_loop import HostLoopTokens, PluginLoop, contained
from plughost.core.registry import RegisteredTarget
from plughost.core.rich_results import ResultShape, result_size
from plughost.core.tool_schema import admit_errors, tool_hints
from plughost.core.verdicts import DatabaseUnavailable, MissingScopes
from plughost.ops.audit import Outcome
from plughost.ops.tracing import current_tracer, step
from plughost.sdk.context import CalledTool, PluginRuntime, ToolContext
from plughost.sdk.credentials import TokenSource
from plughost.sdk.elicitation import Ask, InputUnavailable, Rounds
from plughost.sdk.errors import InsufficientScope, ToolError, UndeclaredScope
from plughost.sdk.tables import TenantStorage
from plughost.sdk.tool_spec import ToolSpec

META_KEY = "plughost"
# What pydantic writes, and MCP's default dialect since 2025-11-25; said out loud for clients
# of earlier versions, which left the dialect unstated (many assumed draft-07).
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

StorageFactory = Callable[[str], TenantStorage]


@dataclass(frozen=True)
class CallLimits:
    """How long one call may run, and where: the worker threads its plugin's sync tools share,
    the event loop its async tools run on; and how large a result it may send.

    Each plugin has its own threads and its own loop: a plugin whose calls hang (a stalled
    database, a remote that never answers, a blocking call in an ``async def``) can exhaust
    only its own, and every call still ends at ``timeout``.
    """

    timeout: float
    threads: anyio.CapacityLimiter
    loop: PluginLoop
    max_result_bytes: int
    outages: OutageLog = field(default_factory=OutageLog)


def build_tool(
    *,
    runtime: PluginRuntime,
    spec: ToolSpec,
    entry: RegisteredTarget,
    storage_for: StorageFactory,
    limits: CallLimits,
    plugin_scopes: frozenset[str],
    cursors: CursorKey,
    exchanger: TokenExchange | None = None,
) -> Tool:
    """Adapt one plugin tool, registered as ``entry``; ``plugin_scopes`` is its vocabulary;
    ``exchanger`` gets its calls downstream tokens (`ToolContext.token_for`)."""
    parameters, declared = agent_signature(spec.fn, f"tool {entry.name!r}")
    shape, returns = ResultShape.of(declared, entry.name)
    called = CalledTool(
        name=entry.name,
        scopes=entry.scopes,
        conditional_scopes=entry.conditional_scopes,
        plugin_scopes=plugin_scopes,
    )
    invoke = Invoker(runtime, spec.fn, called, storage_for, limits, cursors, exchanger)
    convert: Callable[[Any], ToolResult] | None = None  # the served tool's, once built below

    async def call(**kwargs: Any) -> Any:
        assert convert is not None
        return await invoke(kwargs, convert)

    call.__name__ = call.__qualname__ = spec.name
    call.__doc__ = spec.fn.__doc__
    call.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in parameters}
    if returns is not inspect.Signature.empty:
        call.__annotations__["return"] = returns
    hints = tool_hints(spec)
    tool = Tool.from_function(
        call,
        name=entry.name,
        title=spec.title,
        description=spec.description,
        annotations=ToolAnnotations(
            title=spec.title,
            read_only_hint=hints["readOnlyHint"],
            destructive_hint=hints["destructiveHint"],
            idempotent_hint=hints["idempotentHint"],
            open_world_hint=hints["openWorldHint"],
        ),
        meta=target_meta(entry, {"conditional_scopes": dict(entry.conditional_scopes)}),
    )
    # The dialect, declared: a client never has to guess how to read $defs, $ref or "anyOf".
    schema = {"$schema": JSON_SCHEMA_DIALECT, **tool.parameters}
    served = tool.model_copy(
        update={"parameters": schema, "output_schema": admit_errors(tool.output_schema)}
    )
    convert = functools.partial(shape.convert, convert=PlainResults.of(served))
    return served


def target_meta(entry: RegisteredTarget, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``_meta`` a served tool, prompt or resource is listed with: who serves it and the
    scopes it needs, under ``plughost`` (then ``extra``), the same for every kind and origin
    so agents and the console read one shape."""
    served = {"plugin": entry.plugin, "version": entry.plugin_version, "scopes": list(entry.scopes)}
    return {META_KEY: {**served, **(extra or {})}}


def agent_signature(fn: Callable[..., Any], what: str) -> tuple[list[inspect.Parameter], Any]:
    """The parameters agents see (the function's, minus the context) and the return type."""
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise TypeError(f"{what} must take a ToolContext as its first parameter")
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        raise TypeError(f"{what} may not take *args or **kwargs; name each argument")
    hints = typing.get_type_hints(fn, include_extras=True)
    arguments = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in params[1:]]
    return arguments, hints.get("return", signature.return_annotation)


class TokenExchange(Protocol):
    """What a call's `ToolContext.token_for` needs of the host's token exchanger
    (`plughost.auth.token_exchange`, a layer above core)."""

    def source(self, plugin: str, subject: SecretStr | None) -> TokenSource: ...


#: Turns what a plugin function returned into what FastMCP answers with.
Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class Invoker:
    """Runs the plugin's function for the current caller and settles the call's outcome.

    The function's value is converted here (``convert``, the served tool's), not after the
    call has been settled as a success: a value that does not fit the declared return type
    is a bug in the tool, answered as one.
    """

    runtime: PluginRuntime
    fn: Callable[..., Any]
    called: CalledTool
    storage_for: StorageFactory
    limits: CallLimits
    cursors: CursorKey
    exchanger: TokenExchange | None

    async def __call__(self, kwargs: dict[str, Any], convert: Convert) -> Any:
        record = current_call.get()
        if record is None or record.caller is None:
            raise PermissionError("no verified caller for this request")
        attributes = {
            "plughost.tool": self.called.name,
            "plughost.plugin": self.runtime.namespace,
            "plughost.plugin.version": self.runtime.version,
        }
        with step(f"tool {self.called.name}", attributes) as span:
            result = await self._run(self._context(record), record, kwargs, convert)
            while isinstance(result, Ask):  # asked on the call's stream: run again, answered
                result = await self._answered(result, record, kwargs, convert)
            if record.outcome is not None:
                span.set_attribute("plughost.outcome", record.outcome.value)
        return result

    def _context(self, record: CallRecord) -> ToolContext:
        """What the function is handed: the caller, its tenant's storage, the plugin's own."""
        runtime, caller = self.runtime, record.caller
        assert caller is not None
        tokens = None
        if self.exchanger is not None:
            source = self.exchanger.source(runtime.namespace, record.subject_token)
            tokens = HostLoopTokens(source, asyncio.get_running_loop())
        return ToolContext(
            caller=caller,
            settings=runtime.settings,
            storage=self.storage_for(caller.tenant_id),
            logger=runtime.logger,
            plugin=runtime.namespace,
            plugin_version=runtime.version,
            data_dir=runtime.data_dir,
            state=runtime.state,
            tool=self.called,
            pages=self.cursors.pages(self.called.name, caller.tenant_id),
            tokens=tokens,
            tracer=current_tracer(),
            updates=record.stream,
            rounds=_rounds(record),
            sampler=record.questions,
        )

    async def _answered(
        self, ask: Ask, record: CallRecord, kwargs: dict[str, Any], convert: Convert
    ) -> ToolResult | InputRequiredResult | Ask:
        """Ask ``ask`` on the call's stream, then run the function again with the answer."""
        assert record.questions is not None
        try:
            await record.questions.put(ask)
        except ToolError as exc:
            return _refused(record, exc)
        return await self._run(self._context(record), record, kwargs, convert)

    async def _run(
        self, ctx: ToolContext, record: CallRecord, kwargs: dict[str, Any], convert: Convert
    ) -> ToolResult | InputRequiredResult | Ask:
        """The plugin's function within its deadline; what it did settled on the record (an
        `Ask` to put on the call's stream is returned as it is, the call unsettled)."""
        name, timeout, logger = self.called.name, self.limits.timeout, self.runtime.logger
        try:
            result, timed_out = await self._within_deadline(ctx, kwargs)
            if timed_out:
                logger.warning("tool %s timed out after %ss", name, timeout)
                message = f"{name} did not finish within {timeout}s"
                return _error_result(record, Outcome.TOOL_ERROR, "timeout", message)
        except InsufficientScope as exc:
            try:
                self.called.vet(*exc.details["missing_scopes"])
            except UndeclaredScope:
                logger.exception("tool %s failed", name)
                return _internal_error(record)
            return _refused(record, exc)
        except ToolError as exc:
            return _refused(record, exc)
        except Exception as exc:
            if is_outage(exc):
                return self._database_down(record, exc)
            logger.exception("tool %s failed", name)
            return _internal_error(record)
        if isinstance(result, Ask):
            if record.questions is not None and record.questions.can_ask:
                return result
            return _asked(record, ctx, result)
        return self._settled(record, result, convert)

    async def _within_deadline(self, ctx: ToolContext, kwargs: dict[str, Any]) -> tuple[Any, bool]:
        """The function's value, and whether its deadline cut it off first.

        A `TimeoutError` the function raises itself is its own bug, not the host's deadline:
        only the deadline's own expiry counts as timed out.
        """
        deadline = asyncio.timeout(self.limits.timeout)
        try:
            async with deadline:
                return await self._execute(ctx, kwargs), False
        except TimeoutError:
            if deadline.expired():
                return None, True
            raise

    async def _execute(self, ctx: ToolContext, kwargs: dict[str, Any]) -> Any:
        """On the plugin's own event loop if async, else on one of its own worker threads."""
        fn = self.fn
        if inspect.iscoroutinefunction(fn):
            return await self.limits.loop.run(lambda: fn(ctx, **kwargs))
        return await anyio.to_thread.run_sync(
            functools.partial(contained, fn, ctx, **kwargs),
            abandon_on_cancel=True,
            limiter=self.limits.threads,
        )

    def _database_down(self, record: CallRecord, error: Exception) -> ToolResult:
        """The database did not answer the plugin: the call is ``unavailable`` (HTTP 503 with
        Retry-After at the edge), logged once per outage rather than as this tool's bug."""
        self.limits.outages.failed(self.called.name, error)
        verdict = DatabaseUnavailable()
        record.refuse(verdict)
        return error_result(
            "unavailable", verdict.explanation, {"retry_after": verdict.retry_after}
        )

    def _settled(self, record: CallRecord, result: Any, convert: Convert) -> ToolResult:
        """The function's value as a result, within the size cap; the call ends ``ok``."""
        name, logger, limit = self.called.name, self.runtime.logger, self.limits.max_result_bytes
        try:
            converted = convert(result)
        except Exception:
            logger.exception("tool %s returned a value its result type cannot hold", name)
            return _internal_error(record)
        size = result_size(converted)
        if size > limit:
            logger.warning("tool %s returned %d bytes, over the limit", name, size)
            return _error_result(
                record,
                Outcome.TOOL_ERROR,
                "result_too_large",
                f"{name} returned {size} bytes, more than this server sends "
                f"({limit}, PLUGHOST_MAX_RESULT_BYTES): ask for less, "
                "such as a smaller page or a narrower query",
                {"bytes": size, "limit": limit},
            )
        record.end(Outcome.OK)
        return converted


def _asked(record: CallRecord, ctx: ToolContext, ask: Ask) -> ToolResult | InputRequiredResult:
    """The tool asked its user: this round ends with the question (FastMCP hands it to the
    client as ``input_required``), or, where the client cannot answer, as a clear error."""
    if not ctx.can_ask:
        message = f"{ctx.tool.name} needs an answer from the user, and this client cannot ask"
        return _refused(record, InputUnavailable(message, question=ask.key))
    record.end(Outcome.OK, "input_required")
    return input_required(ask, ctx.rounds or Rounds())


def _internal_error(record: CallRecord) -> ToolResult:
    """A bug in the tool: the agent gets a request id, the operator's log has the traceback."""
    rid = record.request_id
    message = f"the tool failed unexpectedly; give this request id to the operator: {rid}"
    return _error_result(
        record, Outcome.INTERNAL_ERROR, "internal_error", message, {"request_id": rid}
    )


def _rounds(record: CallRecord) -> Rounds:
    """What the function reads of earlier rounds: its stream's, none in a handshake version
    the edge answers itself, else what FastMCP's transport carried (2026-07-28)."""
    if record.questions is not None:
        return record.questions.rounds()
    if record.protocol_version is not None:
        return Rounds()
    return rounds_of_call()


def _refused(record: CallRecord, exc: ToolError) -> ToolResult:
    """A plugin's own error: a scope it asked for, bad input, or a failure it reports."""
    if isinstance(exc, InsufficientScope) and record.caller is not None:
        entry = record.registered
        scopes = entry.scopes if entry is not None else ()
        target = entry.name if entry is not None else record.tool or ""
        missing = exc.details["missing_scopes"]
        record.refuse(MissingScopes.of(target, scopes, missing, record.caller.scopes))
    outcome = Outcome.INVALID_INPUT if exc.code == "invalid_input" else Outcome.TOOL_ERROR
    error = exc.to_dict()
    return _error_result(record, outcome, exc.code, error["message"], error.get("details"))


def _error_result(
    record: CallRecord,
    outcome: Outcome,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
) -> ToolResult:
    record.end(outcome, code)
    return error_result(code, message, details)


def error_result(code: str, message: str, details: dict[str, Any] | None = None) -> ToolResult:
    """A tool error as agents get it: the text, and ``structuredContent.error`` to act on."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return ToolResult(
        content=f"{code}: {message}", structured_content={"error": error}, is_error=True
    )


def invalid_arguments(tool: str, error: PydanticValidationError) -> ToolResult:
    """Arguments refused by validation, as a structured ``invalid_input`` error naming the
    public tool and each bad field (never the values sent, which may be large or secret)."""
    problems = [
        {
            "field": ".".join(str(part) for part in detail["loc"]) or "(arguments)",
            "message": detail["msg"],
            "type": detail["type"],
        }
        for detail in error.errors(include_url=False, include_context=False, include_input=False)
    ]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return error_result(
        "invalid_input",
        f"invalid arguments for {tool}: {summary}",
        {"tool": tool, "errors": problems},
    )
