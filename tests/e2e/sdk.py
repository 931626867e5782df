"""The official MCP Python SDK's session over streamable HTTP, and what went over the wire.

Shared by the tests that drive the server with the SDK (``test_python_sdk``,
``test_mount_everything``): the SDK hides HTTP statuses and headers behind its own errors and
retries, so `Wire` records them for the tests to assert on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from .conftest import Server

CALL_TIMEOUT = 60

Exchange = tuple[str, str, int]


class Wire:
    """Every HTTP exchange an SDK session made, and every challenge it was given.

    The SDK hides statuses and ``WWW-Authenticate`` challenges behind its own errors and
    retries; a response hook records them so the tests can assert what went over the wire.
    """

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.challenges: list[str] = []
        self.retry_after: list[str] = []

    async def record(self, response: httpx2.Response) -> None:
        request = response.request
        self.exchanges.append((request.method, request.url.path, response.status_code))
        if "www-authenticate" in response.headers:
            self.challenges.append(response.headers["www-authenticate"])
        if "retry-after" in response.headers:
            self.retry_after.append(response.headers["retry-after"])


def run_session(
    server: Server,
    body: Callable[[ClientSession], Awaitable[Any]],
    wire: Wire | None = None,
    **http: Any,
) -> Any:
    """Run ``body`` in an initialised SDK session over streamable HTTP; return its result."""
    hooks = {"response": [wire.record]} if wire else {}

    async def main() -> Any:
        with anyio.fail_after(CALL_TIMEOUT):
            async with (
                httpx2.AsyncClient(event_hooks=hooks, **http) as client,
                streamable_http_client(server.mcp_url, http_client=client) as streams,
                ClientSession(streams[0], streams[1]) as session,
            ):
                await session.initialize()
                return await body(session)

    return anyio.run(main)


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, which the SDK's task groups raise."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def bearer(token: str) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {token}"}}


async def tool_names(session: ClientSession) -> set[str]:
    return {tool.name for tool in (await session.list_tools()).tools}
