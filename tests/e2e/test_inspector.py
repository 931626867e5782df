"""The MCP Inspector's CLI mode (``@modelcontextprotocol/inspector --cli``) against the server."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from .conftest import NodeTools, Server

RUN_TIMEOUT = 120
# The Inspector CLI's exit codes (its EXIT_CODES): a tool it cannot call, a login it needs.
TOOL_ERROR = 5
AUTH_REQUIRED = 3


def inspector(
    node_tools: NodeTools, server: Server, home: Path, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """One CLI run: JSON out, and never an interactive OAuth login (there is no one to ask)."""
    command = [str(node_tools.bin("mcp-inspector")), "--cli", server.mcp_url, "--transport", "http"]
    command += ["--format", "json", "--stored-auth-only", *args]
    if token is not None:
        command += ["--header", f"Authorization: Bearer {token}"]
    return subprocess.run(
        command,
        env=node_tools.env(home),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def payload(run: subprocess.CompletedProcess[str]) -> Any:
    """The MCP result of a successful run (``--format json`` wraps it as ``{"result": ...}``)."""
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    return json.loads(run.stdout)["result"]


def error(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The CLI's error envelope, printed as JSON on stderr."""
    lines = [line for line in run.stderr.splitlines() if line.startswith('{"error"')]
    assert lines, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    return dict(json.loads(lines[-1])["error"])


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
