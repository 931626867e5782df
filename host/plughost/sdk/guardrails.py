"""What a guardrail hook sees and what it may answer.

Guardrails are hooks any plugin may implement that run for every tool call of every plugin:
``@plugin.before_call`` sees the call before it runs and may let it through, refuse it with a
`Deny`, or change its arguments with a `Rewrite`; ``@plugin.after_call`` sees the `CallOutput`
and may let it through or return a changed one (to redact or replace it). The host runs them in
a fixed order (plugins by namespace, each plugin's hooks in the order it declared them) and a
hook that raises or overruns its deadline refuses the call: a broken guardrail never lets a call
through unchecked.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import anyio
import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field, field_validator

from plughost.sdk.context import Caller

#: What a rule id may look like: it reaches the caller, the audit trail and the operator's log.
RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}")


class CallInfo(BaseModel):
    """A call as guardrails see it, for whichever plugin's tool, prompt or resource it is."""

    model_config = ConfigDict(frozen=True)

    caller: Caller = Field(description="Who is calling (never their token).")
    tool: str = Field(
        description="The public name agents use: `<namespace>_<tool>` or `<namespace>_<prompt>`, "
        "or the resource's URI `<namespace>://...`."
    )
    kind: Literal["tool", "prompt", "resource"] = Field(
        "tool", description="What is used: a tool called, a prompt got, a resource read."
    )
    plugin: str = Field(description="The namespace of the plugin that owns the tool.")
    plugin_version: str = Field(description="That plugin's installed version.")
    arguments: Mapping[str, Any] = Field(
        description="The arguments as sent (before validation); return a `Rewrite` to change them."
    )


class Deny(BaseModel):
    """A before-call verdict: refuse the call (HTTP 403 naming ``rule``, audited as denied)."""

    model_config = ConfigDict(frozen=True)

    rule: str = Field(description="A stable id of the rule that refused: `[A-Za-z0-9_.:-]`.")
    reason: str = Field(description="Why, in words the agent can act on (500 characters).")
    dry_run: bool = Field(
        False, description="Only audit what would have been refused; let the call through."
    )

    @field_validator("rule")
    @classmethod
    def _rule_id(cls, rule: str) -> str:
        if not RULE_ID.fullmatch(rule):
            raise ValueError(
                f"rule {rule[:40]!r} is not a rule id: 1 to 80 of letters, digits and _ . : - "
                "(it reaches the caller, the audit trail and the log)"
            )
        return rule

    @field_validator("reason")
    @classmethod
    def _short_reason(cls, reason: str) -> str:
        if len(reason) > 500:
            raise ValueError("a reason is at most 500 characters; the agent reads it")
        return reason


class Rewrite(BaseModel):
    """A before-call verdict: run the call with these arguments instead (validated as usual)."""

    model_config = ConfigDict(frozen=True)

    arguments: dict[str, Any] = Field(description="The arguments the tool is called with.")


class CallOutput(BaseModel):
    """A tool's result as after-call guardrails see it; return a changed copy to replace it.

    ``text`` holds the result's text blocks in order and ``structured`` its structured content
    (None when there is none); other blocks (images) pass through untouched.
    """

    model_config = ConfigDict(frozen=True)

    text: tuple[str, ...] = Field(description="The text blocks of the result, in order.")
    structured: dict[str, Any] | None = Field(description="The structured content, if any.")
    is_error: bool = Field(description="True when the result is an error.")


BeforeCall = Callable[[CallInfo], Deny | Rewrite | Awaitable[Deny | Rewrite | None] | None]
AfterCall = Callable[[CallInfo, CallOutput], CallOutput | Awaitable[CallOutput | None] | None]


class GuardrailFailed(Exception):
    """A guardrail raised: carries the hook's name so the refusal and the audit can say which."""

    def __init__(self, hook: str) -> None:
        super().__init__(f"guardrail {hook} failed")
        self.hook = hook


async def run_before(hooks: list[BeforeCall], call: CallInfo) -> Deny | Rewrite | None:
    """A plugin's before-call hooks in order: the first `Deny` (even a dry-run one) ends them,
    rewrites accumulate."""
    arguments = call.arguments
    for fn in hooks:
        verdict = await _run(fn, call.model_copy(update={"arguments": arguments}))
        if isinstance(verdict, Deny):
            return verdict
        if isinstance(verdict, Rewrite):
            arguments = verdict.arguments
    return Rewrite(arguments=dict(arguments)) if arguments is not call.arguments else None


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    """Await an async hook; run a sync one in a worker thread, so it never blocks the loop."""
    try:
        if inspect.iscoroutinefunction(fn):
            return await fn(*args)
        return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)
    except Exception as exc:
        raise GuardrailFailed(getattr(fn, "__qualname__", repr(fn))) from exc


async def run_after(
    hooks: list[AfterCall], call: CallInfo, output: CallOutput
) -> CallOutput | None:
    """A plugin's after-call hooks in order, each seeing the output the previous one left."""
    current = output
    for fn in hooks:
        replaced = await _run(fn, call, current)
        if isinstance(replaced, CallOutput):
            current = replaced
    return current if current is not output else None
