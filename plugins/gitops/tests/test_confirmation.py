"""A protected environment changes only once the user agrees: asked mid-call (MCP 2026-07-28),
or confirmed by argument from a client that cannot ask. And a change reports its progress."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from conftest import ALL, PROTECTED, assert_clean
from fastmcp import Client
from fastmcp.client.elicitation import ElicitResult
from fastmcp.client.transports import StreamableHttpTransport

DEPLOY = {"environment": "production", "app": "api", "version": "1.1.0", "reason": "ship it"}


def modern_call(host: Any, tool: str, arguments: dict[str, Any], answer: Any) -> Any:
    """``tool`` called by the Python SDK's client (MCP 2026-07-28), whose user answers with
    ``answer(message)``."""
    asked: list[str] = []

    async def handler(message, response_type, params, context):
        asked.append(message)
        return answer(message)

    async def run() -> Any:
        headers = {"Authorization": f"Bearer {host.token(PROTECTED)}"}
        transport = StreamableHttpTransport(host.mcp_url, headers=headers)
        async with Client(transport, elicitation_handler=handler) as client:
            return await client.call_tool(tool, arguments, raise_on_error=False)

    result = asyncio.run(run())
    result.asked = asked
    return result


def test_the_user_is_asked_before_production_changes(host, remote):
    result = modern_call(host, "gitops_deploy", DEPLOY, lambda _: ElicitResult(action="accept"))
    assert result.asked == ["Deploy api 1.1.0 to production (now 1.0.0)? ship it"]
    assert not result.is_error, result
    assert result.structured_content["commit"] == remote.head()
    assert remote.manifest("production", "api")["version"] == "1.1.0"
    assert_clean(host, remote)


@pytest.mark.parametrize("action", ["decline", "cancel"])
def test_a_user_who_says_no_changes_nothing(host, remote, action):
    before = remote.head()
    result = modern_call(host, "gitops_deploy", DEPLOY, lambda _: ElicitResult(action=action))
    assert result.is_error
    verb = "declined" if action == "decline" else "cancelled"
    assert result.structured_content["error"] == {
        "code": "not_confirmed",
        "message": f"the user {verb} the change to production: nothing was changed",
        "details": {"environment": "production", "action": action},
    }
    assert remote.head() == before
    assert_clean(host, remote)


def test_a_rollback_of_production_is_asked_about_too(host, remote):
    assert host.client(PROTECTED).call("gitops_deploy", **DEPLOY, confirm=True).ok
    arguments = {"environment": "production", "app": "api", "reason": "revert"}
    result = modern_call(
        host, "gitops_rollback", arguments, lambda _: ElicitResult(action="accept")
    )
    assert result.asked == ["Roll api in production back from 1.1.0 to 1.0.0? revert"]
    assert not result.is_error, result
    assert remote.manifest("production", "api")["version"] == "1.0.0"


def test_unprotected_environments_are_not_asked_about(host, remote):
    staging = {**DEPLOY, "environment": "staging", "version": "1.2.0"}
    result = modern_call(host, "gitops_deploy", staging, lambda _: ElicitResult(action="decline"))
    assert result.asked == []
    assert not result.is_error, result
    assert remote.manifest("staging", "api")["version"] == "1.2.0"


def test_a_change_made_while_the_user_was_asked_is_a_conflict(host, remote, writer):
    """The user agreed to go from 1.0.0; someone moved production on meanwhile."""
    before = remote.head()

    def agree_while_someone_else_deploys(_: str) -> ElicitResult:
        writer.set("production", "api", "hotfix by hand", version="1.0.1")
        return ElicitResult(action="accept")

    result = modern_call(host, "gitops_deploy", DEPLOY, agree_while_someone_else_deploys)
    assert result.is_error
    error = result.structured_content["error"]
    assert error["code"] == "conflict"
    assert error["details"] == {"current_version": "1.0.1"}
    assert remote.parent() == before  # only the writer's commit landed
    assert remote.manifest("production", "api")["version"] == "1.0.1"


def test_a_client_that_cannot_ask_confirms_by_argument(host, remote):
    before = remote.head()
    refused = host.client(PROTECTED).call("gitops_deploy", **DEPLOY)
    assert refused.error == {
        "code": "input_unavailable",
        "message": "production is a protected environment: show the user what will change, "
        "and once they agree call again with confirm=true",
        "details": {"question": "confirm"},
    }
    assert remote.head() == before
    confirmed = host.client(PROTECTED).call("gitops_deploy", **DEPLOY, confirm=True)
    assert confirmed.ok, confirmed.body
    assert remote.manifest("production", "api")["version"] == "1.1.0"


def test_the_operator_can_leave_the_protected_scope_as_the_only_guard(plughost_factory, remote):
    host = plughost_factory(plugins=["gitops"], settings=remote.settings(confirm_protected=False))
    deployed = host.client(PROTECTED).call("gitops_deploy", **DEPLOY)
    assert deployed.ok, deployed.body
    assert host.client(ALL).call("gitops_deploy", **DEPLOY).status_code == 403


def test_a_deployment_reports_its_progress(host, remote):
    body = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {
            "name": "gitops_deploy",
            "arguments": {**DEPLOY, "environment": "staging", "version": "1.3.0"},
            "_meta": {"progressToken": "d1"},
        },
    }
    headers = {
        "Authorization": f"Bearer {host.token(ALL)}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-11-25",
    }
    reply = httpx.post(host.mcp_url, json=body, headers=headers, timeout=30)
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(x[6:]) for x in reply.text.splitlines() if x.startswith("data: ")]
    progress = [e["params"] for e in events if e.get("method") == "notifications/progress"]
    assert [(p["progress"], p["total"]) for p in progress] == [(1, 3), (2, 3), (3, 3)]
    assert progress[0]["message"] == "read environments/staging/api.yaml: 1.1.0"
    assert progress[-1]["message"] == f"pushed {remote.head()[:12]}"
    assert events[-1]["result"]["structuredContent"]["version"] == "1.3.0"
