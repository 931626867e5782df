"""The MCP Inspector against the server: its CLI mode, and its web UI in headless Chromium."""

from __future__ import annotations

import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx

from plughost.testing import free_port

from .browser import STEP_MS, consent, headless_page, keep_screenshot
from .conftest import NodeTools, Server
from .inspector_cli import AUTH_REQUIRED, RUN_TIMEOUT, TOOL_ERROR, error, inspector, payload


def test_a_read_token_lists_and_calls_only_read_tools(
    node_tools: NodeTools, server: Server, tmp_path: Path
) -> None:
    token = server.token("todo:read", tenant=f"t-{uuid.uuid4().hex[:8]}")

    tools = payload(inspector(node_tools, server, tmp_path, "--method", "tools/list", token=token))
    listed = {tool["name"]: tool for tool in tools["tools"]}
    assert {name for name in listed if name.startswith("todo_")} == {"todo_get", "todo_list"}
    for name, tool in listed.items():
        assert set(tool["_meta"]["plughost"]["scopes"]) <= {"todo:read"}, name

    args = ["--method", "tools/call", "--tool-name", "todo_list"]
    called = payload(inspector(node_tools, server, tmp_path, *args, token=token))
    assert called["isError"] is False
    assert called["structuredContent"] == {"items": [], "next_cursor": None}

    # The write tool is not even offered to this token, so the Inspector refuses to call it.
    args = ["--method", "tools/call", "--tool-name", "todo_create", "--tool-arg", "title=no"]
    refused = inspector(node_tools, server, tmp_path, *args, token=token)
    assert refused.returncode == TOOL_ERROR
    assert error(refused)["code"] == "tool_not_found"


def test_a_write_token_calls_a_write_tool(
    node_tools: NodeTools, server: Server, tmp_path: Path
) -> None:
    token = server.token("todo:read todo:write", tenant=f"t-{uuid.uuid4().hex[:8]}")
    args = ["--method", "tools/call", "--tool-name", "todo_create", "--tool-arg", "title=inspected"]
    created = payload(inspector(node_tools, server, tmp_path, *args, token=token))
    assert created["isError"] is False
    assert created["structuredContent"]["title"] == "inspected"


def test_without_a_token_the_server_refuses(
    node_tools: NodeTools, server: Server, tmp_path: Path
) -> None:
    refused = inspector(node_tools, server, tmp_path, "--method", "tools/list")
    assert refused.returncode == AUTH_REQUIRED
    assert error(refused)["code"] == "auth_required"


@contextmanager
def inspector_web(node_tools: NodeTools, server: Server, home: Path) -> Iterator[str]:
    """``mcp-inspector --web`` for this server on a free port; yields the URL to open.

    Its API token is set here and passed in the URL, as the Inspector's own banner does; its
    secrets stay in memory, so every run signs in from scratch.
    """
    port, token = free_port(), secrets.token_hex(16)
    env = node_tools.env(home) | {
        "CLIENT_PORT": str(port),
        "MCP_SANDBOX_PORT": "0",
        "MCP_APP_ORIGIN_PORT": "0",
        "MCP_AUTO_OPEN_ENABLED": "false",
        "MCP_INSPECTOR_API_TOKEN": token,
        "MCP_INSPECTOR_SECRET_STORE": "memory",
    }
    command = [str(node_tools.bin("mcp-inspector")), "--web"]
    command += ["--server-url", server.mcp_url, "--transport", "http"]
    with (home / "inspector.log").open("w") as log:
        proc = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(proc, f"{base}/", home / "inspector.log")
        yield f"{base}/?MCP_INSPECTOR_API_TOKEN={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_for(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the Inspector exited:\n{log.read_text()}"
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"the Inspector did not start:\n{log.read_text()}")


async def connect(page: Any, consent_url: str) -> None:
    """Flip the Inspector's connect switch until its sign-in reaches ``consent_url``: a click
    that lands while the Inspector's app is still starting is lost, so it is tried again (the
    consent page itself must come within the usual step's time)."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    switch = page.get_by_role("switch").first
    for _ in range(3):
        await switch.click(force=True)
        try:
            await page.wait_for_url(consent_url, timeout=5_000)
            return
        except PlaywrightTimeout:
            continue
    await page.wait_for_url(consent_url)


def test_the_web_ui_signs_in_through_consent_and_calls_a_tool(
    node_tools: NodeTools,
    server: Server,
    chromium: str,
    screenshots: Path | None,
    tmp_path: Path,
) -> None:
    """Connect in the Inspector's web UI: it discovers and registers, the browser lands on
    the consent page (screenshot kept for the docs), crm:read is unticked, and back in the
    Inspector the tool list is exactly what the granted scopes allow; a tool is called."""

    async def main() -> tuple[list[str], list[str], str]:
        async with headless_page(chromium) as page:
            await page.goto(url)
            await connect(page, f"{server.base_url}/oauth/consent?*")
            await keep_screenshot(page, tmp_path / "consent-page.png", screenshots)
            listed = await consent(page, untick=("crm:read",))
            await page.get_by_text("Connected", exact=True).wait_for()
            await page.get_by_text("Tools", exact=True).first.click()
            await page.get_by_text("todo_list", exact=True).wait_for()
            tools = await page.get_by_role("button").all_inner_texts()
            names = sorted({line for text in tools for line in text.split() if "_" in line})
            await page.get_by_text("todo_list", exact=True).click()
            await page.get_by_role("button", name="Execute Tool").click()
            result = page.get_by_text('"next_cursor"').first
            await result.wait_for(timeout=STEP_MS)
            return listed, names, await page.locator("main").inner_text()

    with inspector_web(node_tools, server, tmp_path) as url:
        listed, names, shown = anyio.run(main)

    assert {"crm:read", "gitops:read", "todo:read"} <= set(listed)  # the 401's baseline
    assert "todo_list" in names and "gitops_list_environments" in names
    assert not [n for n in names if n.startswith("crm_") or n in ("todo_create", "todo_delete")]
    assert '"items"' in shown
