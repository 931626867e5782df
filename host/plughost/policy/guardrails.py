"""`Guardrails`: every loaded plugin's before- and after-call hooks around every tool call.

The call policy runs them (`plughost.policy.call_policy`), for calls through the transport and
through the fast path alike. Order is fixed: plugins by namespace, for before and after alike; each
plugin's hooks see the arguments (or the result) as the previous plugin left them. A `Deny` is the
call's verdict, settled on the call record, and the edge answers it with HTTP 403 naming the rule;
a dry-run `Deny` is only noted in the audit detail. A hook that raises or overruns its deadline
refuses the call as ``guardrail:<namespace>.<hook>`` (fail closed). Each plugin's hook time is
observed in ``plughost_guardrail_seconds`` by namespace and hook.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import anyio
from fastmcp.tools.base import InputRequiredToolResult, ToolResult
from mcp.types import ContentBlock, TextContent
from pluggy import HookCaller

from plughost.core.adapter import error_result
from plughost.core.callrecord import CallRecord
from plughost.core.discovery import LoadedPlugin
from plughost.core.plugin_loop import PluginLoop
from plughost.core.verdicts import DeniedByRule
from plughost.ops.metrics import Metrics
from plughost.ops.tracing import step
from plughost.sdk.guardrails import CallInfo, CallOutput, Deny, GuardrailFailed, Rewrite
from plughost.sdk.plugin import Plugin

log = logging.getLogger("plughost.guardrails")

BEFORE, AFTER = "before_call", "after_call"


class GuardrailError(Exception):
    """A guardrail hook raised or overran its deadline; the call is refused under ``rule``."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


@dataclass(frozen=True)
class _Hook:
    """One plugin's hook, and the plugin's event loop, where it runs."""

    namespace: str
    name: str
    caller: HookCaller
    loop: PluginLoop


@dataclass(eq=False)
class Guardrails:
    """The loaded plugins' hooks, found again whenever the set of loaded plugins changes."""

    plugins: Callable[[], Sequence[LoadedPlugin]]
    _: KW_ONLY
    loops: Mapping[str, PluginLoop]
    timeout: float
    metrics: Metrics
    _seen: Sequence[LoadedPlugin] | None = field(default=None, init=False)
    _hooks: dict[str, list[_Hook]] = field(
        default_factory=lambda: {BEFORE: [], AFTER: []}, init=False
    )

    async def around(
        self, record: CallRecord, arguments: dict[str, Any], call: Callable[..., Awaitable[Any]]
    ) -> Any:
        """``call(arguments)`` between every plugin's before- and after-call hooks. A refusal
        is settled on the record (the edge answers it) and returned as an error result."""
        before, after = self._current(BEFORE), self._current(AFTER)
        entry = record.registered
        if (not before and not after) or record.caller is None or entry is None:
            return await call(arguments)
        info = CallInfo(
            caller=record.caller,
            tool=record.tool or entry.name,
            kind=entry.kind,
            plugin=entry.plugin,
            plugin_version=entry.plugin_version,
            arguments=arguments,
        )
        try:
            info = await self._before(before, info, record)
        except GuardrailError as exc:
            return _refused(record, DeniedByRule(info.tool, exc.rule, exc.reason, kind=entry.kind))
        if isinstance(record.verdict, DeniedByRule):
            return _refused(record, record.verdict)
        result = await call(dict(info.arguments))
        # A question for the user (input_required) is not the call's output: the after-call
        # hooks see the output of the round that answers.
        if (
            record.verdict is not None
            or not isinstance(result, ToolResult)
            or isinstance(result, InputRequiredToolResult)
        ):
            return result
        try:
            return await self._after(after, info, result)
        except GuardrailError as exc:
            return _refused(record, DeniedByRule(info.tool, exc.rule, exc.reason, kind=entry.kind))

    def _current(self, hook: str) -> list[_Hook]:
        """The hooks of the plugins loaded now, by namespace (a withdrawn plugin's are gone)."""
        plugins = self.plugins()
        if plugins is not self._seen:
            self._seen = plugins
            self._hooks = {name: _hooks(plugins, self.loops, name) for name in (BEFORE, AFTER)}
        return self._hooks[hook]

    async def _before(self, hooks: list[_Hook], call: CallInfo, record: CallRecord) -> CallInfo:
        for hook in hooks:
            for verdict in await self._run(hook, call=call):
                if isinstance(verdict, Deny) and verdict.dry_run:
                    record.notes.append(
                        f"dry run: rule {verdict.rule} would deny: {verdict.reason}"
                    )
                elif isinstance(verdict, Deny):
                    record.refuse(
                        DeniedByRule(call.tool, verdict.rule, verdict.reason, kind=call.kind)
                    )
                    return call
                elif isinstance(verdict, Rewrite):
                    record.notes.append(f"arguments rewritten by {hook.namespace}")
                    call = call.model_copy(update={"arguments": verdict.arguments})
        return call

    async def _after(self, hooks: list[_Hook], call: CallInfo, result: ToolResult) -> ToolResult:
        output = _output(result)
        replaced = False
        for hook in hooks:
            for changed in await self._run(hook, call=call, output=output):
                if isinstance(changed, CallOutput):
                    output, replaced = changed, True
        return _result(result, output) if replaced else result

    async def _run(self, hook: _Hook, **kwargs: Any) -> list[Any]:
        """One plugin's hook, traced as ``guardrail <namespace>.<hook>``."""
        attributes = {"plughost.plugin": hook.namespace, "plughost.guardrail.hook": hook.name}
        with step(f"guardrail {hook.namespace}.{hook.name}", attributes) as span:
            try:
                results = await self._timed(hook, **kwargs)
            except GuardrailError:
                span.set_attribute("plughost.guardrail.verdict", "failed")
                raise
            span.set_attribute("plughost.guardrail.verdict", _verdict(results))
            return results

    async def _timed(self, hook: _Hook, **kwargs: Any) -> list[Any]:
        """One plugin's hook within the deadline, timed; its failure is a `GuardrailError`."""
        started = time.perf_counter()
        name = f"{hook.namespace}.{hook.name}"
        try:
            with anyio.fail_after(self.timeout):
                return await hook.loop.run(lambda: _settled(hook.caller(**kwargs)))
        except TimeoutError:
            log.warning("guardrail %s overran its %ss deadline", name, self.timeout)
            raise GuardrailError(
                f"guardrail:{name}", f"guardrail {name} did not answer within {self.timeout:g}s"
            ) from None
        except GuardrailFailed as exc:
            log.exception("guardrail %s.%s failed", hook.namespace, exc.hook)
            raise GuardrailError(
                f"guardrail:{name}", f"guardrail {hook.namespace}.{exc.hook} failed"
            ) from None
        except Exception:
            log.exception("guardrail %s failed", name)
            raise GuardrailError(f"guardrail:{name}", f"guardrail {name} failed") from None
        finally:
            elapsed = time.perf_counter() - started
            metrics = self.metrics
            metrics.child(metrics.guardrail_latency, hook.namespace, hook.name).observe(elapsed)


def _hooks(
    plugins: Sequence[LoadedPlugin], loops: Mapping[str, PluginLoop], name: str
) -> list[_Hook]:
    """Every plugin's implementation of hook ``name``, in namespace order."""
    found = []
    for plugin in sorted(plugins, key=lambda p: p.namespace):
        caller: HookCaller = getattr(plugin.manager.hook, f"plughost_{name}")
        if any(_guards(impl.plugin, name) for impl in caller.get_hookimpls()):
            found.append(_Hook(plugin.namespace, name, caller, loops[plugin.namespace]))
    return found


def _guards(obj: object, hook: str) -> bool:
    """A `Plugin` implements both hooks for every plugin; only declared guardrails count."""
    return not isinstance(obj, Plugin) or obj.guards(hook)  # type: ignore[arg-type]


def _verdict(results: list[Any]) -> str:
    """What a hook answered, in a word, for its span."""
    for result in results:
        if isinstance(result, Deny):
            return "dry_run_deny" if result.dry_run else "deny"
        if isinstance(result, Rewrite):
            return "rewrite"
        if isinstance(result, CallOutput):
            return "replace"
    return "allow"


async def _settled(results: list[Any]) -> list[Any]:
    """pluggy's results, each awaited if the implementation was async."""
    return [await result if isinstance(result, Awaitable) else result for result in results]


def _refused(record: CallRecord, verdict: DeniedByRule) -> ToolResult:
    """Refuse the call under a rule: HTTP 403 at the edge, an error result in-process."""
    record.refuse(verdict)
    return error_result(
        "denied", f"refused by rule {verdict.rule}: {verdict.reason}", {"rule": verdict.rule}
    )


def _output(result: ToolResult) -> CallOutput:
    return CallOutput(
        text=tuple(block.text for block in result.content if isinstance(block, TextContent)),
        structured=result.structured_content,
        is_error=result.is_error,
    )


def _result(result: ToolResult, output: CallOutput) -> ToolResult:
    """The tool's result with the guardrails' text and structured content; other blocks kept."""
    texts = iter(output.text)
    content: list[ContentBlock] = []
    for block in result.content:
        if isinstance(block, TextContent):
            text = next(texts, None)
            if text is not None:
                content.append(block.model_copy(update={"text": text}))
        else:
            content.append(block)
    content.extend(TextContent(type="text", text=text) for text in texts)
    return result.model_copy(
        update={
            "content": content,
            "structured_content": output.structured,
            "is_error": output.is_error,
        }
    )
