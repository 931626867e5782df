"""Fixtures for the crm tests: a real host over HTTP on a real SQLite file, and agents on it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import text

from plughost.testing import LiveHost, McpClient, ToolCall

READ = ["crm:read"]
WRITE = ["crm:read", "crm:write"]
ALL = ["crm:read", "crm:write", "crm:delete"]
SETTINGS = {"plugins": {"crm": {"page_size": 2, "latest_activities": 3}}}


class Agent:
    """An MCP client for the crm tools: ``agent.ok("create_contact", name=...)``.

    Calls go through ``tools/call`` directly: in plughost 0.1.0 the test kit's ``McpClient.call``
    takes the tool's name as a keyword parameter called ``name``, which clashes with the crm
    tools' own ``name`` argument.
    """

    def __init__(self, client: McpClient) -> None:
        self.client = client

    def call(self, tool: str, **arguments: Any) -> ToolCall:
        return self.client.request("tools/call", {"name": f"crm_{tool}", "arguments": arguments})

    def ok(self, tool: str, **arguments: Any) -> Any:
        """The tool's result; fails the test unless the call succeeded."""
        result = self.call(tool, **arguments)
        assert result.ok, result.body
        return result.data

    def error(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """The tool's structured error; fails the test unless the tool refused the call."""
        result = self.call(tool, **arguments)
        assert result.status_code == 200, result.body
        assert result.error is not None and result.error["code"], result.body
        return result.error

    def invalid(self, tool: str, **arguments: Any) -> str:
        """The message of a call refused as invalid input (by validation or by the tool).

        The host states the code ``invalid_input`` in ``structuredContent``; a host that
        answers validation failures with text alone gives no code, and that is accepted too.
        """
        result = self.call(tool, **arguments)
        assert result.status_code == 200, result.body
        assert result.result.get("isError"), result.body
        assert result.error is not None and result.error["code"] in (None, "invalid_input"), (
            result.body
        )
        return result.text


Connect = Callable[..., Agent]


@pytest.fixture
def host(plughost_factory: Any) -> LiveHost:
    return plughost_factory(plugins=["crm"], settings=SETTINGS)


@pytest.fixture
def connect(host: LiveHost) -> Connect:
    """``connect(scopes, tenant=...)``: an agent of one tenant holding exactly these scopes."""

    def make(scopes: Sequence[str] = ALL, *, tenant: str = "acme") -> Agent:
        return Agent(host.client(list(scopes), tenant=tenant))

    return make


@pytest.fixture
def agent(connect: Connect) -> Agent:
    return connect()


@pytest.fixture
def count_rows(host: LiveHost) -> Callable[[str], int]:
    """Rows in a crm table, all tenants, read straight from the host's database."""

    def count(table: str) -> int:
        with host.host.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())

    return count


def deleted(record_id: str, *, activities_removed: int, records_detached: int) -> dict[str, Any]:
    """What a delete tool returns, so each test states only the counts that are its point."""
    return {
        "id": record_id,
        "deleted": True,
        "activities_removed": activities_removed,
        "records_detached": records_detached,
    }


def all_pages(agent: Agent, tool: str, key: str, **arguments: Any) -> list[dict[str, Any]]:
    """Every row a paginated tool returns, following `next_cursor` to the end."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = agent.ok(tool, **arguments, **({"cursor": cursor} if cursor else {}))
        rows += page[key]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows
