"""A plugin's resources and prompts as FastMCP resources, resource templates and prompts.

They run exactly like tools (`plughost.core.adapter.Invoker`): a `ToolContext` for the caller,
the plugin's own threads or event loop, a deadline, the outcome settled on the call record.
What differs is how a result and a failure are told: a resource's value becomes its contents
(text, a blob, or JSON), a prompt's its messages, and a failure a JSON-RPC error (MCP has no
error result for these), with the plugin's own message for its `ToolError`s and a request id
for its bugs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic_core
from fastmcp.exceptions import PromptError, ResourceError
from fastmcp.prompts import Message as PromptMessage
from fastmcp.prompts import Prompt
from fastmcp.resources import Resource, ResourceContent, ResourceResult, ResourceTemplate
from pydantic import TypeAdapter, ValidationError

from plughost.core.adapter import Convert, Invoker, agent_signature, target_meta
from plughost.core.callrecord import CallRecord, current_call
from plughost.core.registry import RegisteredTarget
from plughost.core.rich_results import to_block
from plughost.ops.audit import Outcome
from plughost.sdk.component_spec import PromptSpec, ResourceSpec
from plughost.sdk.content import Message
from plughost.sdk.context import ToolContext
from plughost.sdk.errors import ToolError


@dataclass(frozen=True)
class ComponentInvoker(Invoker):
    """An `Invoker` whose failures are raised as ``error`` (a FastMCP error type, so its
    message reaches the client) instead of returned as an error result."""

    error: type[Exception] = ResourceError

    async def _run(
        self, ctx: ToolContext, record: CallRecord, kwargs: dict[str, Any], convert: Convert
    ) -> Any:
        name, timeout, logger = self.called.name, self.limits.timeout, self.runtime.logger
        try:
            result, timed_out = await self._within_deadline(ctx, kwargs)
        except ToolError as exc:
            outcome = Outcome.INVALID_INPUT if exc.code == "invalid_input" else Outcome.TOOL_ERROR
            record.end(outcome, exc.code)
            raise self.error(f"{exc.code}: {exc.to_dict()['message']}") from None
        except Exception:
            logger.exception("%s failed", name)
            raise self._bug(record) from None
        if timed_out:
            logger.warning("%s timed out after %ss", name, timeout)
            record.end(Outcome.TOOL_ERROR, "timeout")
            raise self.error(f"{name} did not finish within {timeout}s")
        try:
            converted = convert(result)
        except Exception:
            logger.exception("%s returned a value it cannot be answered with", name)
            raise self._bug(record) from None
        record.end(Outcome.OK)
        return converted

    def _bug(self, record: CallRecord) -> Exception:
        record.end(Outcome.INTERNAL_ERROR, "internal_error")
        rid = record.request_id
        return self.error(f"failed unexpectedly; give this request id to the operator: {rid}")


def build_resource(
    spec: ResourceSpec, entry: RegisteredTarget, invoke: ComponentInvoker
) -> Resource | ResourceTemplate:
    """The resource (or template, with parameters in its path) at ``entry.name``."""
    convert = _contents(spec.mime_type)
    read = _bound(spec.fn, f"resource {entry.name!r}", invoke, convert)
    common: dict[str, Any] = {
        "name": spec.name,
        "title": spec.title,
        "description": spec.description or _first_paragraph(spec.fn),
        "mime_type": spec.mime_type,
        "meta": target_meta(entry),
    }
    if spec.is_template:
        return ResourceTemplate.from_function(read, uri_template=entry.name, **common)
    return Resource.from_function(read, uri=entry.name, **common)


def build_prompt(spec: PromptSpec, entry: RegisteredTarget, invoke: ComponentInvoker) -> Prompt:
    """The prompt ``entry.name``, its arguments from the function's typed parameters.

    MCP sends prompt arguments as strings; each is converted to its parameter's type here
    (the type's string form, else JSON), so one that does not fit is the caller's
    ``invalid_input`` naming the argument, never the value sent.
    """
    parameters, _ = agent_signature(spec.fn, f"prompt {entry.name!r}")
    typed = {p.name: TypeAdapter(p.annotation) for p in parameters if p.annotation is not str}

    async def get(**kwargs: Any) -> Any:
        return await invoke(_converted(entry.name, kwargs, typed), _messages)

    get.__name__ = get.__qualname__ = getattr(spec.fn, "__name__", "prompt")
    get.__doc__ = spec.fn.__doc__
    strings = [p.replace(annotation=str) for p in parameters]
    get.__signature__ = inspect.Signature(strings)  # type: ignore[attr-defined]
    get.__annotations__ = {p.name: str for p in strings}
    return Prompt.from_function(
        get,
        name=entry.name,
        title=spec.title,
        description=spec.description or _first_paragraph(spec.fn),
        meta=target_meta(entry),
    )


def _converted(
    prompt: str, arguments: dict[str, Any], typed: dict[str, TypeAdapter[Any]]
) -> dict[str, Any]:
    """The prompt's string arguments as their parameters' types, or an ``invalid_input``."""
    converted = dict(arguments)
    for name, adapter in typed.items():
        if not isinstance(arguments.get(name), str):
            continue
        try:
            converted[name] = adapter.validate_strings(arguments[name])
        except ValidationError as exc:
            try:  # lists and models arrive as JSON text
                converted[name] = adapter.validate_json(arguments[name])
            except ValidationError:
                record = current_call.get()
                if record is not None:
                    record.end(Outcome.INVALID_INPUT, "invalid_input")
                problem = exc.errors(include_url=False, include_input=False)[0]["msg"]
                raise PromptError(
                    f"invalid_input: argument {name!r} of {prompt}: {problem}"
                ) from None
    return converted


def _bound(
    fn: Callable[..., Any], what: str, invoke: ComponentInvoker, convert: Convert
) -> Callable[..., Any]:
    """A function with ``fn``'s signature minus the context, that runs it through ``invoke``."""
    parameters, _ = agent_signature(fn, what)

    async def run(**kwargs: Any) -> Any:
        return await invoke(kwargs, convert)

    run.__name__ = run.__qualname__ = getattr(fn, "__name__", "component")
    run.__doc__ = fn.__doc__
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run


def _contents(mime_type: str | None) -> Convert:
    """Text stays text and bytes a blob (in the declared type); anything else is sent as JSON."""

    def convert(value: Any) -> Any:
        if isinstance(value, str | bytes | ResourceResult):
            return value
        text = pydantic_core.to_json(value).decode()
        return ResourceResult([ResourceContent(text, mime_type=mime_type or "application/json")])

    return convert


def _messages(value: Any) -> Any:
    """A prompt's value as FastMCP takes it: a string, or a list of messages (a plain string
    in the list is a user message; a block is converted as a tool result's would be)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Message):
        value = [value]
    if not isinstance(value, list | tuple):
        raise TypeError(f"a prompt returns a str or a list of messages, not {type(value).__name__}")
    return [
        PromptMessage(to_block(item.content), role=item.role)
        if isinstance(item, Message)
        else PromptMessage(to_block(item))
        for item in value
    ]


def _first_paragraph(fn: Callable[..., Any]) -> str | None:
    doc = inspect.getdoc(fn)
    return doc.split("\n\n", 1)[0].strip() or None if doc else None
