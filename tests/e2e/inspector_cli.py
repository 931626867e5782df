"""The MCP Inspector's CLI mode, run once per request against the server under test.

Shared by the Inspector tests: one run is one request, with JSON out and never an interactive
OAuth login (there is no one to ask), so a refusal is the CLI's error envelope on stderr.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from .conftest import NodeTools, Server

RUN_TIMEOUT = 120
# The Inspector CLI's exit codes (its EXIT_CODES): any error, a tool it cannot call, a login
# it needs.
ERROR = 1
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
