"""The MCP project's reference TypeScript server mounted under a namespace, driven by the SDK.

``@modelcontextprotocol/server-everything`` runs over stdio as a child of ``plughost serve``
(the mount's ``command``: Node and the package's ``dist/index.js stdio``), mounted as
``everything`` with the scopes the operator declared for four of its tools; the rest are not
served. The official MCP Python SDK calls it over real HTTP with dev-issuer tokens, and `Wire`
records what the SDK does not show: statuses, challenges and ``Retry-After``.

When its process dies, the host answers its names ``unavailable`` (503) and starts it again
(the mount reconnects after 1 s, then 2, 4... up to ``refresh_seconds``); todo keeps serving.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError

from .conftest import EVERYTHING, NodeTools, Server, serving
from .sdk import Wire, bearer, run_session, tool_names

T = TypeVar("T")

SCOPES = {
    "everything:read": "Call the reference server's harmless tools",
    "everything:env": "See the reference server's environment variables",
}
TOOLS = {
    "echo": ["everything:read"],
    "get-sum": ["everything:read"],
    "trigger-long-running-operation": ["everything:read"],
    "get-env": ["everything:env"],
}
LONG = "everything_trigger-long-running-operation"
SERVED = {f"everything_{name}" for name in TOOLS}
#: The mount's call deadline: a call the upstream does not answer ends unavailable by then.
DEADLINE = 15
#: How soon a killed upstream must serve again (its first retry comes after 1 s).
BACK_WITHIN = 20
RATE = 2  # calls of everything_get-sum per minute, per client and subject
SUMS = range(RATE)


@dataclass
class Mounted:
    """The host serving the mount, and its audit file (written before each answer)."""

    server: Server
    audit: Path
    entry: Path

    def upstream_pids(self) -> list[int]:
        """The reference server's processes: descendants of ``plughost serve`` running it."""
        return [pid for pid in descendants(self.server.pid) if str(self.entry) in cmdline(pid)]

    def audited(self, **match: Any) -> list[dict[str, Any]]:
        records = [json.loads(line) for line in self.audit.read_text().splitlines()]
        return [r for r in records if all(r.get(k) == v for k, v in match.items())]


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (Linux /proc; the portable Node is Linux-only anyway)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture(scope="module")
def mounted(node_tools: NodeTools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mounted]:
    if not Path("/proc/self/stat").exists():
        pytest.skip("finding the mounted server's process to kill reads /proc (Linux)")
    root = tmp_path_factory.mktemp("e2e-everything")
    entry = node_tools.root / "node_modules" / EVERYTHING / "dist" / "index.js"
    audit = root / "audit.jsonl"
    command = [node_tools.node(), str(entry), "stdio"]
    settings = {
        "PLUGHOST_MOUNTS__EVERYTHING__COMMAND": json.dumps(command),
        "PLUGHOST_MOUNTS__EVERYTHING__SCOPES": json.dumps(SCOPES),
        "PLUGHOST_MOUNTS__EVERYTHING__TOOLS": json.dumps(TOOLS),
        "PLUGHOST_MOUNTS__EVERYTHING__TIMEOUT_SECONDS": str(DEADLINE),
        "PLUGHOST_RATE_LIMIT__TOOLS": json.dumps({"everything_get-sum": f"{RATE}/minute"}),
        "PLUGHOST_AUDIT__SINK": "file",
        "PLUGHOST_AUDIT__FILE": str(audit),
        "PLUGHOST_AUDIT__DURABLE": "true",  # each answer waits for its record
    }
    with serving(root, **settings) as server:
        yield Mounted(server, audit, entry)


def test_the_mount_is_up_and_its_tools_are_listed_by_scope(mounted: Mounted) -> None:
    health = httpx.get(f"{mounted.server.base_url}/healthz", timeout=10).json()
    assert health["mounts"]["everything"]["status"] == "up"
    assert len(mounted.upstream_pids()) == 1

    async def listed(session: ClientSession) -> Any:
        return (await session.list_tools()).tools

    reader = mounted.server.token("everything:read todo:read")
    tools = {t.name: t for t in run_session(mounted.server, listed, **bearer(reader))}
    assert {n for n in tools if n.startswith("everything_")} == SERVED - {"everything_get-env"}
    assert "todo_list" in tools
    echo = tools["everything_echo"]
    assert echo.meta is not None and echo.meta["plughost"]["plugin"] == "everything"
    assert echo.meta["plughost"]["scopes"] == ["everything:read"]
    assert "message" in echo.input_schema["properties"]

    both = mounted.server.token("everything:read everything:env")
    names = run_session(mounted.server, tool_names, **bearer(both))
    assert {n for n in names if n.startswith("everything_")} == SERVED  # undeclared: never


def test_a_call_is_answered_by_the_upstream_and_audited(mounted: Mounted) -> None:
    subject = f"caller-{uuid.uuid4().hex[:8]}"
    token = mounted.server.token("everything:read", subject=subject)

    async def call(session: ClientSession) -> Any:
        return await session.call_tool("everything_echo", {"message": "hello from plughost"})

    result = run_session(mounted.server, call, **bearer(token))
    assert result.is_error is False
    assert [c.text for c in result.content] == ["Echo: hello from plughost"]
    (record,) = mounted.audited(tool="everything_echo", subject=subject)
    assert record["outcome"] == "ok" and record["plugin"] == "everything"
    assert record["kind"] == "tool"


def test_a_token_without_the_scope_gets_a_step_up_challenge(mounted: Mounted) -> None:
    subject = f"caller-{uuid.uuid4().hex[:8]}"
    token = mounted.server.token("everything:read", subject=subject)

    async def call(session: ClientSession) -> MCPError:
        with pytest.raises(MCPError) as refused:
            await session.call_tool("everything_get-env", {})
        return refused.value

    wire = Wire()
    refused = run_session(mounted.server, call, wire, **bearer(token))
    assert refused.error.data["missing"] == ["everything:env"]
    assert ("POST", "/mcp", 403) in wire.exchanges
    (challenge,) = wire.challenges
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="everything:read everything:env"' in challenge  # held + needed
    (record,) = mounted.audited(tool="everything_get-env", subject=subject)
    assert record["outcome"] == "denied"


def test_calls_past_the_rate_limit_get_429_with_retry_after(mounted: Mounted) -> None:
    token = mounted.server.token("everything:read", subject=f"caller-{uuid.uuid4().hex[:8]}")

    async def calls(session: ClientSession) -> tuple[list[Any], MCPError]:
        sums = [
            await session.call_tool("everything_get-sum", {"a": i, "b": 1}) for i in range(RATE)
        ]
        with pytest.raises(MCPError) as limited:
            await session.call_tool("everything_get-sum", {"a": 1, "b": 1})
        return sums, limited.value

    wire = Wire()
    sums, limited = run_session(mounted.server, calls, wire, **bearer(token))
    assert [s.content[0].text for s in sums] == [
        f"The sum of {i} and 1 is {i + 1}." for i in range(RATE)
    ]
    assert ("POST", "/mcp", 429) in wire.exchanges
    assert wire.retry_after and int(wire.retry_after[-1]) > 0
    assert "rate" in limited.error.message.lower()


def test_the_upstream_killed_mid_call_is_unavailable_then_started_again(
    mounted: Mounted,
) -> None:
    """The reference server's process is killed while it runs a 30 s operation: that call
    answers 503 well before its deadline, todo keeps serving, and the host starts the server
    again (a new process) so its tools answer once more."""
    subject = f"caller-{uuid.uuid4().hex[:8]}"
    token = mounted.server.token("everything:read todo:read", subject=subject)
    (first,) = mounted.upstream_pids()
    wire, outcome = Wire(), []

    async def long_call(session: ClientSession) -> Any:
        args = {"duration": 30, "steps": 3}
        return await outcome_of(
            session.call_tool("everything_trigger-long-running-operation", args)
        )

    caller = threading.Thread(
        target=lambda: outcome.append(run_session(mounted.server, long_call, wire, **bearer(token)))
    )
    caller.start()
    caller.join(timeout=0.5)  # let the call reach the upstream
    os.kill(first, signal.SIGKILL)
    caller.join(timeout=DEADLINE)
    assert not caller.is_alive(), "the call did not end when its upstream died"
    (refused,) = outcome
    assert isinstance(refused, MCPError), refused
    assert "unavailable" in refused.error.message and refused.error.data["plugin"] == "everything"
    assert ("POST", "/mcp", 503) in wire.exchanges
    (record,) = mounted.audited(tool=LONG, subject=subject)
    assert record["outcome"] == "unavailable"

    async def todo(session: ClientSession) -> Any:
        return await session.call_tool("todo_list", {})

    assert run_session(mounted.server, todo, **bearer(token)).is_error is False

    async def echo(session: ClientSession) -> Any:
        return await outcome_of(session.call_tool("everything_echo", {"message": "back"}))

    deadline = time.monotonic() + BACK_WITHIN
    while isinstance(back := run_session(mounted.server, echo, **bearer(token)), MCPError):
        assert back.error.data["plugin"] == "everything", back  # unavailable until restarted
        assert time.monotonic() < deadline, f"the mount was not back in {BACK_WITHIN}s"
        time.sleep(0.2)
    assert back.content[0].text == "Echo: back"
    (second,) = mounted.upstream_pids()
    assert second != first


async def outcome_of(call: Awaitable[T]) -> T | MCPError:
    """The call's result, or the JSON-RPC error it was answered with."""
    try:
        return await call
    except MCPError as exc:
        return exc
