"""The worker's answers for its plugin's resources, templates, prompts and completions.

The host forwards each use (`plughost.core.forwarded_components`) with the caller in
``_meta``; the worker runs it with the host's own component code, on the server
`build_host` made for the plugin (`FastMCP.read_resource`, `render_prompt`, the one
`Completions` handler: the same adapter, context, tenant storage and deadline as in-process),
for the caller its ``_meta`` names (`hosted.record_of`). How the plugin's function ended goes
back for the host's one audit record: in the result's ``_meta``, or in a JSON-RPC error's
``data`` (MCP has no error result for these), under `hosted.OUTCOME_META`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import FastMCPError, NotFoundError
from mcp import types as mcp

from plughost.core.callrecord import CallRecord, current_call
from plughost.core.completions import Completions
from plughost.core.isolation.hosted import OUTCOME_META, outcome_meta, record_of
from plughost.ops.audit import Outcome

_INVALID_PARAMS = -32602
_INTERNAL_ERROR = -32603
#: MCP's "resource not found".
_RESOURCE_NOT_FOUND = -32002


class AnswerError(Exception):
    """A request the worker answers with a JSON-RPC error (``code``, ``message``, ``data``)."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            self.error["data"] = data


class ComponentAnswers:
    """Answers the component methods of MCP for the plugin served in this worker, on the
    ``server`` and ``completions`` `build_host` made for it."""

    def __init__(self, server: FastMCP, completions: Completions) -> None:
        self.server = server
        self.completions = completions
        self.methods: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "resources/list": self._list_resources,
            "resources/templates/list": self._list_templates,
            "prompts/list": self._list_prompts,
            "resources/read": self._read,
            "prompts/get": self._get,
            "completion/complete": self._complete,
        }

    async def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The result of ``method``; `AnswerError` for an error answer; `LookupError` for a
        method this does not answer."""
        return await self.methods[method](params)

    async def _list_resources(self, _params: dict[str, Any]) -> dict[str, Any]:
        listed = await self.server.list_resources(run_middleware=False)
        return _dump(mcp.ListResourcesResult(resources=[r.to_mcp_resource() for r in listed]))

    async def _list_templates(self, _params: dict[str, Any]) -> dict[str, Any]:
        listed = await self.server.list_resource_templates(run_middleware=False)
        templates = [t.to_mcp_template() for t in listed]
        return _dump(mcp.ListResourceTemplatesResult(resource_templates=templates))

    async def _list_prompts(self, _params: dict[str, Any]) -> dict[str, Any]:
        listed = await self.server.list_prompts(run_middleware=False)
        return _dump(mcp.ListPromptsResult(prompts=[p.to_mcp_prompt() for p in listed]))

    async def _read(self, params: dict[str, Any]) -> dict[str, Any]:
        uri = str(params.get("uri"))

        async def read() -> Any:
            return (await self.server.read_resource(uri, run_middleware=False)).to_mcp_result(uri)

        return await _for_caller(params, "resource", read)

    async def _get(self, params: dict[str, Any]) -> dict[str, Any]:
        name, arguments = str(params.get("name")), params.get("arguments") or None

        async def get() -> Any:
            rendered = await self.server.render_prompt(name, arguments, run_middleware=False)
            return rendered.to_mcp_prompt_result()

        return await _for_caller(params, "prompt", get)

    async def _complete(self, params: dict[str, Any]) -> dict[str, Any]:
        request = mcp.CompleteRequestParams.model_validate(params)

        async def complete() -> Any:
            found = await self.completions(request.ref, request.argument, request.context)
            return mcp.CompleteResult(completion=mcp.Completion(values=found))

        return await _for_caller(params, "completion", complete)


async def _for_caller(
    params: dict[str, Any], kind: str, run: Callable[[], Awaitable[Any]]
) -> dict[str, Any]:
    """``run()`` for the caller ``params`` names; its outcome in the answer."""
    record = record_of(params.get("_meta"), kind)
    token = current_call.set(record)
    try:
        try:
            answer = _dump(await run())
        except NotFoundError as exc:
            record.end(Outcome.UNKNOWN_TOOL, "not found")
            raise AnswerError(_RESOURCE_NOT_FOUND, str(exc), _outcome(record)) from None
        except FastMCPError as exc:  # the plugin's own message, or a request id for its bug
            record.end(Outcome.TOOL_ERROR)
            invalid = record.outcome is Outcome.INVALID_INPUT
            code = _INVALID_PARAMS if invalid else _INTERNAL_ERROR
            raise AnswerError(code, str(exc), _outcome(record)) from None
        answer["_meta"] = {**(answer.get("_meta") or {}), **_outcome(record)}
        return answer
    finally:
        current_call.reset(token)


def _outcome(record: CallRecord) -> dict[str, Any]:
    return {OUTCOME_META: outcome_meta(record)}


def _dump(result: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped
