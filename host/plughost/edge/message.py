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

from plughost.edge.asgi import INVALID_REQUEST, PARSE_ERROR

SCOPE_KEY = "plughost.message"

#: How much of a caller-chosen tool name is kept for logs and the audit trail.
MAX_NAME_CHARS = 128


class BadMessage(Exception):
    """The body is not a JSON-RPC message this host will read; ``code`` is the JSON-RPC one."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
        params = self.payload.get("params")
        if self.method != "tools/call" or not isinstance(params, dict):
            return None
        name = params.get("name")
        return name if isinstance(name, str) else None

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
    return Message(payload)


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


def bounded_name(name: str) -> str:
    """A caller-chosen name made fit for logs and audit columns: cut to a bounded length,
    without NUL characters or lone surrogates (which no database column or UTF-8 file takes)."""
    clean = name.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return clean if len(clean) <= MAX_NAME_CHARS else clean[: MAX_NAME_CHARS - 1] + "…"
