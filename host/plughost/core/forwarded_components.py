"""Forwarded resources, resource templates, prompts and completions: served by another MCP
server (a mount's, or an isolated plugin's worker), as the host's client.

They are to `ForwardedTool` (`plughost.core.forwarding`) what a plugin's resources and prompts
(`plughost.core.component_adapter`) are to its tools: FastMCP components registered on the
host's server and in the registry like a plugin's, so the one call policy (scopes, step-up,
rate limits, guardrails through `PolicyMiddleware`), the audit record (kind, name, outcome),
tracing and listing by scope treat them as any other. Each use is sent by one `Forwarder`
with the caller in ``_meta`` (`caller_meta`), within its deadline, and settles the outcome:

- the upstream's answer: ``ok`` (an isolated plugin's worker settles its own first);
- a JSON-RPC error it answers: ``invalid_input`` (-32602) or ``tool_error``, raised as the
  component kind's FastMCP error with the upstream's message (MCP has no error result here);
- no answer: the verdict `TargetUnavailable` (503 with ``Retry-After`` at the edge).

A resource's public URI differs from the upstream's only for a mount (`ForwardedSet.remote_uri`
maps it back); an isolated plugin's names are the same on both sides.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import pydantic_core
from fastmcp import FastMCP
from fastmcp.exceptions import PromptError, ResourceError
from fastmcp.prompts import Message, Prompt, PromptResult
from fastmcp.prompts.base import PromptArgument
from fastmcp.resources import Resource, ResourceContent, ResourceResult, ResourceTemplate
from mcp import types as mcp

from plughost.core.adapter import target_meta
from plughost.core.callrecord import CallRecord, current_call
from plughost.core.completions import MAX_VALUES, Completions, Forwarded
from plughost.core.forwarding import (
    Upstream,
    UpstreamError,
    UpstreamUnavailable,
    caller_meta,
    refuse_unavailable,
)
from plughost.core.registry import RegisteredTarget, ToolRegistry
from plughost.ops.audit import Outcome
from plughost.ops.tracing import step
from plughost.sdk.errors import ToolError

T = TypeVar("T")
#: JSON-RPC's "invalid params": an upstream refusing the arguments.
_INVALID_PARAMS = -32602
#: Sends one request upstream with the given ``_meta``.
Send = Callable[[Mapping[str, Any]], Awaitable[T]]


@dataclass(frozen=True)
class Forwarder:
    """How uses of one forwarded target reach its upstream: within ``deadline``, failures
    raised as ``error`` (`ResourceError`, `PromptError`), the outcome settled on the record."""

    upstream: Upstream
    entry: RegisteredTarget
    deadline: float
    error: type[Exception]

    async def __call__(self, send: Send[T]) -> T:
        record = current_call.get()
        if record is None or record.caller is None:
            raise PermissionError("no verified caller for this request")
        entry = self.entry
        attributes = {"plughost.tool": entry.name, "plughost.plugin": entry.plugin}
        with step(f"{entry.kind} {entry.name}", attributes) as span:
            try:
                return await self._send(record, send)
            finally:
                if record.outcome is not None:
                    span.set_attribute("plughost.outcome", record.outcome.value)

    async def _send(self, record: CallRecord, send: Send[T]) -> T:
        try:
            with anyio.fail_after(self.deadline):
                answer = await send(caller_meta(record))
        except TimeoutError:
            raise self._unavailable(record, f"no answer within {self.deadline:g}s") from None
        except UpstreamUnavailable as exc:
            raise self._unavailable(record, str(exc)) from None
        except ToolError as exc:  # the host's own part failed: a token exchange refused
            record.end(Outcome.TOOL_ERROR, exc.code)
            raise self.error(f"{exc.code}: {exc.to_dict()['message']}") from None
        except UpstreamError as exc:
            invalid = exc.code == _INVALID_PARAMS
            record.end(Outcome.INVALID_INPUT if invalid else Outcome.TOOL_ERROR, "upstream error")
            raise self.error(exc.message) from None
        record.end(Outcome.OK)
        return answer

    def _unavailable(self, record: CallRecord, reason: str) -> Exception:
        verdict = refuse_unavailable(record, self.entry, reason)
        return self.error(
            f"{verdict.target} is unavailable ({reason}); retry after {verdict.retry_after}s"
        )


class ForwardedResource(Resource):
    """A resource read by forwarding to its upstream, at ``_remote`` there."""

    _forward: Forwarder
    _remote: str

    async def read(self) -> ResourceResult:
        return await self._read()

    async def _read(self) -> ResourceResult:
        upstream, remote = self._forward.upstream, self._remote
        return _contents(await self._forward(lambda meta: upstream.read_resource(remote, meta)))


class ForwardedResourceTemplate(ResourceTemplate):
    """A resource template whose reads are forwarded, each URI mapped by ``_remote_uri``."""

    _forward: Forwarder
    _remote: str  # the template upstream (what its completions name)
    _remote_uri: Callable[[str], str]

    async def _read(self, uri: str, params: dict[str, Any]) -> ResourceResult:
        upstream, remote = self._forward.upstream, self._remote_uri(uri)
        return _contents(await self._forward(lambda meta: upstream.read_resource(remote, meta)))


class ForwardedPrompt(Prompt):
    """A prompt got by forwarding to its upstream, named ``_remote`` there."""

    _forward: Forwarder
    _remote: str

    async def render(self, arguments: dict[str, Any] | None = None) -> PromptResult:
        return await self._render(arguments)

    async def _render(self, arguments: dict[str, Any] | None = None) -> PromptResult:
        upstream, remote = self._forward.upstream, self._remote
        sent = {key: _text(value) for key, value in (arguments or {}).items()}
        got = await self._forward(lambda meta: upstream.get_prompt(remote, sent, meta))
        messages = [Message(content=m.content, role=m.role) for m in got.messages]
        return PromptResult(messages=messages, description=got.description)


@dataclass
class ForwardedSet:
    """What one upstream serves the host besides tools: built here, put on the host (and
    taken off again, by `plughost.core.lifecycle.unserve`) as a whole."""

    upstream: Upstream
    #: Added to what agents read under ``_meta.plughost`` (``{"mount": True}``...).
    meta: Mapping[str, Any]
    #: A public resource URI to the upstream's (identity for an isolated plugin).
    remote_uri: Callable[[str], str] = lambda uri: uri
    #: Whether the upstream answers ``completion/complete``.
    completes: bool = False
    components: list[tuple[RegisteredTarget, Resource | ResourceTemplate | Prompt]] = field(
        default_factory=list
    )

    def resource(
        self, listed: mcp.Resource | mcp.ResourceTemplate, entry: RegisteredTarget, deadline: float
    ) -> None:
        """Serve the upstream's resource (or template) ``listed`` as ``entry``."""
        forward = Forwarder(self.upstream, entry, deadline, ResourceError)
        common: dict[str, Any] = {
            "name": listed.name,
            "title": listed.title,
            "description": listed.description,
            "mime_type": listed.mime_type,
            "annotations": listed.annotations,
            "meta": self._meta(entry),
        }
        served: Resource | ResourceTemplate
        if isinstance(listed, mcp.ResourceTemplate):
            template = ForwardedResourceTemplate(uri_template=entry.name, parameters={}, **common)
            template._forward, template._remote = forward, listed.uri_template
            template._remote_uri = self.remote_uri
            served = template
        else:
            resource = ForwardedResource(uri=entry.name, **common)
            resource._forward, resource._remote = forward, str(listed.uri)
            served = resource
        self.components.append((entry, served))

    def prompt(self, listed: mcp.Prompt, entry: RegisteredTarget, deadline: float) -> None:
        """Serve the upstream's prompt ``listed`` as ``entry``."""
        prompt = ForwardedPrompt(
            name=entry.name,
            title=listed.title,
            description=listed.description,
            arguments=[
                PromptArgument(
                    name=a.name, title=a.title, description=a.description, required=a.required
                )
                for a in listed.arguments or []
            ],
            meta=self._meta(entry),
        )
        prompt._forward = Forwarder(self.upstream, entry, deadline, PromptError)
        prompt._remote = listed.name
        self.components.append((entry, prompt))

    def serve(self, server: FastMCP, registry: ToolRegistry, completions: Completions) -> None:
        """Put every component on the host's ``server``, ``registry`` and ``completions``."""
        for entry, served in self.components:
            if isinstance(served, Prompt):
                server.add_prompt(served)
            elif isinstance(served, ResourceTemplate):
                server.add_template(served)
            else:
                server.add_resource(served)
            registry.add(entry)
            if self.completes and isinstance(served, ForwardedPrompt | ForwardedResourceTemplate):
                completions.forward(entry.kind, entry.name, _completer(served))

    def _meta(self, entry: RegisteredTarget) -> dict[str, Any]:
        return target_meta(entry, self.meta)


def _completer(served: ForwardedPrompt | ForwardedResourceTemplate) -> Forwarded:
    """Complete an argument of ``served`` by asking its upstream, under the upstream's name."""
    forward = served._forward
    ref: mcp.PromptReference | mcp.ResourceTemplateReference
    if isinstance(served, ForwardedPrompt):
        ref = mcp.PromptReference(type="ref/prompt", name=served._remote)
    else:
        ref = mcp.ResourceTemplateReference(type="ref/resource", uri=served._remote)

    async def complete(
        argument: mcp.CompletionArgument, context: Mapping[str, str] | None
    ) -> list[str]:
        upstream = forward.upstream
        params = mcp.CompleteRequestParams(
            ref=ref,
            argument=argument,
            context=mcp.CompletionContext(arguments=dict(context)) if context else None,
        )
        got = await forward(lambda meta: upstream.complete(params, meta))
        return [str(value) for value in got.completion.values[:MAX_VALUES]]

    return complete


def _text(value: Any) -> str:
    """A prompt argument as MCP sends it: a string (anything else as JSON)."""
    return value if isinstance(value, str) else pydantic_core.to_json(value).decode()


def _contents(answer: mcp.ReadResourceResult) -> ResourceResult:
    """The upstream's contents as the host answers them (under the URI the caller read)."""
    contents = []
    for item in answer.contents:
        if isinstance(item, mcp.BlobResourceContents):
            data: str | bytes = base64.b64decode(item.blob)
        else:
            data = item.text
        contents.append(ResourceContent(data, mime_type=item.mime_type))
    return ResourceResult(contents)
