"""`McpClient`, a minimal MCP client over HTTP, and `ToolCall`, one answer as the agent saw it.

Real MCP clients hide the HTTP status and headers; a plugin's tests are about them (a 403 and
its challenge, a 429's Retry-After), so this client keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

PROTOCOL_VERSION = "2025-11-25"

#: One TLS context for every request. httpx builds a new one (loading the CA bundle, ~20 ms)
#: for each ``httpx.post``; sharing it keeps each call on a fresh connection, as before, at a
#: fraction of the cost.
TLS = httpx.create_ssl_context()


class Answer(Protocol):
    """An HTTP response as `McpClient` reads it (httpx's, or the test client's httpx2 one)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Any: ...
    @property
    def content(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


class Poster(Protocol):
    """What `McpClient` can send through: an `httpx.Client`, or Starlette's `TestClient`."""

    def post(self, url: str, *, json: Any, headers: dict[str, str]) -> Answer: ...


@dataclass
class ToolCall:
    """One ``tools/call`` as the agent saw it: HTTP status, headers and JSON-RPC body."""

    status_code: int
    headers: httpx.Headers
    body: Any

    @property
    def result(self) -> dict[str, Any]:
        return (self.body or {}).get("result") or {}

    @property
    def ok(self) -> bool:
        """HTTP 200 and a result that is not a tool error."""
        return (
            self.status_code == 200
            and "result" in (self.body or {})
            and not self.result.get("isError")
        )

    @property
    def data(self) -> Any:
        """The tool's structured output (or its error object when the tool failed)."""
        return self.result.get("structuredContent")

    @property
    def error(self) -> dict[str, Any] | None:
        """The structured tool error (``code``, ``message``, ``details``), if the tool failed."""
        if self.result.get("isError"):
            structured = self.result.get("structuredContent") or {}
            return structured.get("error") or {"code": None, "message": self.text}
        return None

    @property
    def text(self) -> str:
        return "\n".join(c.get("text", "") for c in self.result.get("content", []))

    @property
    def jsonrpc_error(self) -> dict[str, Any] | None:
        return (self.body or {}).get("error") if isinstance(self.body, dict) else None

    @property
    def missing_scopes(self) -> list[str]:
        """The scopes a 403 said were missing."""
        error = self.jsonrpc_error or {}
        return list((error.get("data") or {}).get("missing", []))


class McpClient:
    """A minimal MCP client over HTTP that keeps what real clients hide: status and headers.

    Each request goes over a fresh connection to ``url``, or through ``http`` when given: a
    client of the caller's, such as the test client an in-process `LiveHost` drives its app
    with, where there is no socket at all.
    """

    def __init__(self, url: str, token: str | None, *, http: Poster | None = None) -> None:
        self.url = url
        self.token = token
        self._http = http
        self._ids = iter(range(1, 1_000_000))

    def request(self, method: str, params: Mapping[str, Any] | None = None) -> ToolCall:
        headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "MCP-Protocol-Version": PROTOCOL_VERSION,
        }
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = dict(params)
        response: Answer
        if self._http is not None:
            response = self._http.post(self.url, json=message, headers=headers)
        else:
            response = httpx.post(self.url, json=message, headers=headers, timeout=30, verify=TLS)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        # The test client's headers are httpx2's: copied, so every ToolCall holds httpx's.
        return ToolCall(response.status_code, httpx.Headers(response.headers.multi_items()), body)

    def list_tools(self) -> list[dict[str, Any]]:
        reply = self.request("tools/list")
        assert reply.status_code == 200, f"tools/list answered {reply.status_code}: {reply.body}"
        return list(reply.result["tools"])

    def tool_names(self) -> list[str]:
        return [tool["name"] for tool in self.list_tools()]

    def call(self, tool: str, /, **arguments: Any) -> ToolCall:
        """Call ``tool`` with keyword ``arguments`` (any name, ``name`` and ``tool`` included)."""
        return self.request("tools/call", {"name": tool, "arguments": arguments})
