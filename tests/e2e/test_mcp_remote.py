"""``mcp-remote``, the bridge for clients that only speak stdio, driven by the SDK's client."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from plughost.testing import free_port

from .browser import consent, headless_page
from .conftest import NodeTools, Server

RUN_TIMEOUT = 120


def through_bridge(
    node_tools: NodeTools,
    server: Server,
    token: str,
    home: Path,
    body: Callable[[ClientSession], Awaitable[Any]],
) -> Any:
    """Spawn ``mcp-remote <url> --header Authorization:...`` and run ``body`` over its stdio.

    ``http-only`` pins the streamable HTTP transport (no SSE fallback to mask a failure). The
    bridge's own log goes to ``home/mcp-remote.log`` for when a test fails.
    """
    header = f"Authorization:Bearer {token}"
    bridge = StdioServerParameters(
        command=str(node_tools.bin("mcp-remote")),
        args=[server.mcp_url, "--header", header, "--transport", "http-only"],
        env=node_tools.env(home),
    )

    async def main() -> Any:
        with (
            anyio.fail_after(RUN_TIMEOUT),
            (home / "mcp-remote.log").open("a") as log,
        ):
            async with (
                stdio_client(bridge, errlog=log) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                return await body(session)

    return anyio.run(main)


def test_the_bridge_passes_scopes_through(
    node_tools: NodeTools, server: Server, tmp_path: Path
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"

    async def read(session: ClientSession) -> Any:
        # (A call beyond the token's scopes would send the bridge through its own OAuth
        # flow to step up: test_the_bridge_signs_in_by_its_own_oauth_flow covers that.)
        return (await session.list_tools()).tools, await session.call_tool("todo_list", {})

    listed, listing = through_bridge(
        node_tools, server, server.token("todo:read", tenant=tenant), tmp_path, read
    )
    assert {t.name for t in listed if t.name.startswith("todo_")} == {"todo_get", "todo_list"}
    for tool in listed:
        assert set(tool.meta["plughost"]["scopes"]) <= {"todo:read"}, tool.name
    assert listing.structured_content == {"items": [], "next_cursor": None}

    async def write(session: ClientSession) -> Any:
        names = {t.name for t in (await session.list_tools()).tools}
        created = await session.call_tool("todo_create", {"title": "bridged"})
        listing = await session.call_tool("todo_list", {})
        return names, created, listing

    writer = server.token("todo:read todo:write", tenant=tenant)
    names, created, listing = through_bridge(node_tools, server, writer, tmp_path, write)
    assert {"todo_create", "todo_update", "todo_delete"} <= names
    assert created.structured_content["title"] == "bridged"
    assert [i["title"] for i in listing.structured_content["items"]] == ["bridged"]


AUTHORIZE_LINE = re.compile(r"Please authorize this client by visiting:\s+(\S+)")


async def authorization_url(log: Path, nth: int) -> str:
    """The ``nth`` URL mcp-remote asks its user to open, as it prints it (its browser launch
    is not relied on: a headless machine has no desktop to open it on)."""
    while True:
        found = AUTHORIZE_LINE.findall(log.read_text() if log.exists() else "")
        if len(found) >= nth:
            return str(found[nth - 1])
        await anyio.sleep(0.1)


def test_the_bridge_signs_in_by_its_own_oauth_flow(
    node_tools: NodeTools, server: Server, chromium: str, tmp_path: Path
) -> None:
    """No token given: mcp-remote registers, prints the authorization URL, headless Chromium
    answers the consent page (gitops:read unticked), the bridge's own callback takes the code,
    and tools are listed and called with the scopes granted. A write then gets a 403: the
    bridge goes back through consent for todo:write and the write succeeds."""
    log = tmp_path / "mcp-remote.log"
    bridge = StdioServerParameters(
        command=str(node_tools.bin("mcp-remote")),
        args=[server.mcp_url, str(free_port()), "--transport", "http-only"],
        env=node_tools.env(tmp_path),
    )
    listed: list[list[str]] = []
    title = f"stepped up through the bridge {uuid.uuid4().hex[:8]}"

    async def approve() -> None:
        async with headless_page(chromium) as page:
            for nth in (1, 2):
                await page.goto(await authorization_url(log, nth))
                listed.append(await consent(page, untick=("gitops:read",)))
                await page.get_by_text("Authorization successful").wait_for()

    async def main() -> Any:
        with anyio.fail_after(RUN_TIMEOUT), log.open("a") as errlog:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(approve)
                async with (
                    stdio_client(bridge, errlog=errlog) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    names = {tool.name for tool in (await session.list_tools()).tools}
                    listing = await session.call_tool("todo_list", {})
                    created = await session.call_tool("todo_create", {"title": title})
                tasks.cancel_scope.cancel()
            return names, listing, created

    names, listing, created = anyio.run(main)
    first, second = listed
    assert "gitops:read" in first and "todo:read" in first and "todo:write" not in first
    assert {"todo:read", "todo:write"} <= set(second)
    assert {"todo_list", "todo_get"} <= names
    assert not any(name.startswith(("gitops_", "todo_create")) for name in names)
    assert listing.structured_content is not None and "items" in listing.structured_content
    assert created.structured_content["title"] == title
