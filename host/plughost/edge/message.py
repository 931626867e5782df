"""The JSON-RPC message of an MCP request: parsed once, within bounds, kept on the request.

The gate parses the body once; every later layer (the list cache, the recorder) reads the
parsed message from the request's scope instead of parsing again. Bounds come first: a body
nested deeper than the host allows, a batch (which the protocol versions this host speaks do
not have) or something that is not JSON is refused here with a JSON-RPC error, before any
other code walks it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from plughost.core.registry import Kind
from plughost.edge.asgi import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR

SCOPE_KEY = "plughost.message"


class BadMessage(Exception):
    """The body is not a JSON-RPC message this host will read; ``code`` is the JSON-RPC one."""

    def __init__(self, code: int, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Target:
    """What a request asks a plugin for: a tool to call, a prompt to get, a resource to read,
    or (``completing``) values for an argument of a prompt or resource template."""

    kind: Kind
    name: str
    arguments: dict[str, Any]
    completing: bool = False

    @property
    def action(self) -> str:
        """What the audit trail calls the request: tool, prompt, resource or completion."""
        return "completion" if self.completing else self.kind


#: The methods that reach a plugin, and the kind of target each names.
_KINDS: dict[str, Kind] = {
    "tools/call": "tool",
    "prompts/get": "prompt",
    "resources/read": "resource",
}


@dataclass(frozen=True, slots=True)
class Message:
    """One parsed JSON-RPC request or notification."""

    payload: dict[str, Any]

    @property
    def id(self) -> Any:
        return self.payload.get("id")

    @property
    def method(self) -> Any:
        return self.payload.get("method")

    @property
    def tool_name(self) -> str | None:
        """The tool a ``tools/call`` names, or None for anything else."""
        target = self.target
        return target.name if target is not None and target.kind == "tool" else None

    @property
    def target(self) -> Target | None:
        """The plugin target this request names, or None (``initialize``, lists, ``ping``)."""
        params = self.payload.get("params")
        if not isinstance(params, dict):
            return None
        kind = _KINDS.get(self.method)
        if kind is not None:
            name = params.get("uri" if kind == "resource" else "name")
            return Target(kind, name, self.arguments) if isinstance(name, str) else None
        if self.method == "completion/complete":
            ref = params.get("ref")
            if isinstance(ref, dict) and ref.get("type") in ("ref/prompt", "ref/resource"):
                kind = "prompt" if ref["type"] == "ref/prompt" else "resource"
                name = ref.get("name" if kind == "prompt" else "uri")
                if isinstance(name, str):
                    return Target(kind, name, {}, completing=True)
        return None

    @property
    def arguments(self) -> dict[str, Any]:
        params = self.payload.get("params")
        arguments = params.get("arguments") if isinstance(params, dict) else None
        return arguments if isinstance(arguments, dict) else {}


def parse(body: bytes, *, max_depth: int) -> Message:
    """Parse a request body, or raise `BadMessage` saying what is wrong with it."""
    try:
        payload = json.loads(body)
    except RecursionError:
        raise BadMessage(INVALID_REQUEST, f"JSON nested deeper than {max_depth} levels") from None
    except ValueError:
        raise BadMessage(PARSE_ERROR, "parse error: the body is not JSON") from None
    if isinstance(payload, list):
        raise BadMessage(INVALID_REQUEST, "batch requests are not supported; send one message")
    if not isinstance(payload, dict):
        raise BadMessage(INVALID_REQUEST, "a JSON-RPC message is a JSON object")
    if not _within_depth(payload, max_depth):
        raise BadMessage(INVALID_REQUEST, f"JSON nested deeper than {max_depth} levels")
    try:
        _check_shape(payload)
    except BadMessage as exc:  # answer with the request's id where it has a valid one
        if _valid_id(payload.get("id")):
            exc.request_id = payload["id"]
        raise
    return Message(payload)


def _check_shape(payload: dict[str, Any]) -> None:
    """The JSON-RPC 2.0 envelope, named field by field, rather than a validator's dump."""
    if payload.get("jsonrpc") != "2.0":
        raise BadMessage(INVALID_REQUEST, 'a JSON-RPC message needs "jsonrpc": "2.0"')
    if "id" in payload and not _valid_id(payload["id"]):
        raise BadMessage(INVALID_REQUEST, '"id" must be a string or an integer')
    if "method" not in payload:
        if "result" in payload or "error" in payload:
            return  # a client's answer to a server request
        raise BadMessage(INVALID_REQUEST, 'a request needs a "method"')
    if not isinstance(payload["method"], str):
        raise BadMessage(INVALID_REQUEST, '"method" must be a string')
    params = payload.get("params", {})
    if not isinstance(params, dict):
        raise BadMessage(INVALID_PARAMS, '"params" must be an object')
    if not isinstance(params.get("_meta", {}), dict):
        raise BadMessage(INVALID_PARAMS, '"params._meta" must be an object')
    method = payload["method"]
    named = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}.get(method)
    if named is not None:
        if not isinstance(params.get(named), str):
            raise BadMessage(INVALID_PARAMS, f'{method} needs "params.{named}", a string')
        if not isinstance(params.get("arguments", {}), dict):
            raise BadMessage(INVALID_PARAMS, '"params.arguments" must be an object')


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _within_depth(value: Any, limit: int) -> bool:
    """Whether no container in ``value`` sits deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if _is_container(child))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if _is_container(child))
    return True


def _is_container(value: Any) -> bool:
    return isinstance(value, dict | list)


def message_of(scope: Scope) -> Message | None:
    """The message the gate parsed for this request, if it got that far."""
    state = scope.get("state")
    return state.get(SCOPE_KEY) if isinstance(state, dict) else None


def keep(scope: Scope, message: Message) -> None:
    scope.setdefault("state", {})[SCOPE_KEY] = message
