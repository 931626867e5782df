"""tools/list answers replayed from the cache are the answers FastMCP gives, per scope set."""

from __future__ import annotations

HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}


def _list(host, scopes, request_id, headers=HEADERS):
    return host.http.post(
        host.mcp_url,
        headers={**headers, "Authorization": f"Bearer {host.token(scopes)}"},
        json={"jsonrpc": "2.0", "id": request_id, "method": "tools/list"},
    )


def test_repeated_lists_match_the_first_answer_and_echo_each_id(plughost_factory):
    host = plughost_factory(plugins=["todo"], in_process=True)
    first = _list(host, ["todo:read"], 1)
    again = _list(host, ["todo:read"], "two")
    assert first.status_code == again.status_code == 200
    assert again.json() == {**first.json(), "id": "two"}
    assert again.headers["content-type"] == first.headers["content-type"]
    assert [t["name"] for t in again.json()["result"]["tools"]] == ["todo_list", "todo_get"]


def test_each_scope_set_gets_its_own_list(plughost_factory):
    host = plughost_factory(plugins=["todo"], in_process=True)
    names = {}
    for scopes in (["todo:read"], ["todo:write"], ["todo:read"], [], ["todo:write"]):
        reply = _list(host, scopes, 7)
        names.setdefault(tuple(scopes), []).append(
            sorted(t["name"] for t in reply.json()["result"]["tools"])
        )
    assert names[("todo:read",)] == [["todo_get", "todo_list"]] * 2
    assert names[("todo:write",)] == [["todo_create", "todo_delete", "todo_update"]] * 2
    assert names[()] == [[]]


def test_a_request_the_transport_would_refuse_is_still_refused(plughost_factory):
    host = plughost_factory(plugins=["todo"], in_process=True)
    assert _list(host, ["todo:read"], 1).status_code == 200
    refused = _list(host, ["todo:read"], 2, headers={**HEADERS, "Accept": "text/html"})
    assert refused.status_code == 406
    assert _list(host, ["todo:read"], 3).status_code == 200
