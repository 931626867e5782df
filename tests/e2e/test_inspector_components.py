"""The Inspector CLI lists and reads todo's resources and gets its prompt; scopes decide.

The bundled todo plugin serves ``todo://open`` (a Markdown checklist), the template
``todo://items/{id}`` and the prompt ``todo_plan_my_day``, all behind ``todo:read``. The
Inspector CLI (2.x) has no ``completion/complete`` method (it answers "Unsupported method" and
lists the ones it has), so completions are covered by the Python SDK's test instead.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from .conftest import NodeTools, Server
from .inspector_cli import ERROR, error, inspector, payload

PLAN = "todo_plan_my_day"


def seed(node_tools: NodeTools, server: Server, home: Path, tenant: str, title: str) -> int:
    """One open item in ``tenant``, created through the Inspector; returns its id."""
    token = server.token("todo:read todo:write", tenant=tenant)
    args = ["--method", "tools/call", "--tool-name", "todo_create", "--tool-arg", f"title={title}"]
    created = payload(inspector(node_tools, server, home, *args, token=token))
    return int(created["structuredContent"]["id"])


def scopes_of(listed: dict[str, Any]) -> list[str]:
    return list(listed["_meta"]["plughost"]["scopes"])


def test_a_read_token_lists_and_reads_resources_and_gets_the_prompt(
    node_tools: NodeTools, server: Server, tmp_path: Path
) -> None:
    tenant, title = f"t-{uuid.uuid4().hex[:8]}", "water the plants"
    item_id = seed(node_tools, server, tmp_path, tenant, title)
    token = server.token("todo:read", tenant=tenant)

    def run(*args: str) -> Any:
        return payload(inspector(node_tools, server, tmp_path, *args, token=token))

    resources = {r["uri"]: r for r in run("--method", "resources/list")["resources"]}
    assert scopes_of(resources["todo://open"]) == ["todo:read"]
    assert resources["todo://open"]["mimeType"] == "text/markdown"
    templates = run("--method", "resources/templates/list")["resourceTemplates"]
    assert "todo://items/{id}" in {t["uriTemplate"] for t in templates}

    (opened,) = run("--method", "resources/read", "--uri", "todo://open")["contents"]
    assert opened["text"] == f"# Open todo items (1)\n\n- [ ] {title} (#{item_id})\n"
    (one,) = run("--method", "resources/read", "--uri", f"todo://items/{item_id}")["contents"]
    assert one["mimeType"] == "application/json"
    assert json.loads(one["text"])["title"] == title

    prompts = {p["name"]: p for p in run("--method", "prompts/list")["prompts"]}
    assert scopes_of(prompts[PLAN]) == ["todo:read"]
    assert {a["name"] for a in prompts[PLAN]["arguments"]} == {"hours", "focus"}
    args = ["--prompt-args", "hours=3", f"focus={title}"]
    got = run("--method", "prompts/get", "--prompt-name", PLAN, *args)
    (message,) = got["messages"]
    assert message["role"] == "user"
    assert message["content"]["text"].startswith("I have 3 hours today.")
    assert f"Start with #{item_id}, {title!r}." in message["content"]["text"]

    # Another organisation's read token reads its own (empty) list, never this one's.
    other = server.token("todo:read", tenant=f"t-{uuid.uuid4().hex[:8]}")
    read = ["--method", "resources/read", "--uri", "todo://open"]
    (elsewhere,) = payload(inspector(node_tools, server, tmp_path, *read, token=other))["contents"]
    assert title not in elsewhere["text"]


def test_without_the_scope_nothing_is_listed_and_reads_are_refused(
    node_tools: NodeTools, server: Server, tmp_path: Path
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    item_id = seed(node_tools, server, tmp_path, tenant, "not yours to read")
    token = server.token("gitops:read", tenant=tenant)

    def run(*args: str) -> Any:
        return inspector(node_tools, server, tmp_path, *args, token=token)

    resources = payload(run("--method", "resources/list"))["resources"]
    assert not [r for r in resources if r["uri"].startswith("todo://")]
    templates = payload(run("--method", "resources/templates/list"))["resourceTemplates"]
    assert not [t for t in templates if t["uriTemplate"].startswith("todo://")]
    prompts = payload(run("--method", "prompts/list"))["prompts"]
    assert PLAN not in {p["name"] for p in prompts}

    # Each refusal is the 403 step-up challenge, which the CLI reports with the scope it
    # names: what the token has plus what the request needs.
    for refused in (
        run("--method", "resources/read", "--uri", "todo://open"),
        run("--method", "resources/read", "--uri", f"todo://items/{item_id}"),
        run("--method", "prompts/get", "--prompt-name", PLAN, "--prompt-args", "hours=3"),
    ):
        assert refused.returncode == ERROR
        assert error(refused)["message"] == 'Insufficient scope: required "gitops:read todo:read"'
        assert "not yours to read" not in refused.stdout + refused.stderr
