"""Plugins serve resources, resource templates, prompts and completions, behind the same
sign-in, scopes, step-up, rate limits, guardrails and audit as tools, over real HTTP; in the
host's process and isolated in a worker process of their own alike."""

from __future__ import annotations

import base64
import json
import logging
import time

import pytest

LIBRARY = '''
from plughost import NotFound, Plugin, ToolContext
from plughost.content import EmbeddedResource, Image, Message

plugin = Plugin(
    scopes={"lib:read": "Read the library", "lib:admin": "Administer the library"},
    baseline_scopes=["lib:read"],
)
SHELVES = {"fiction": ["Dune", "Emma"], "science": ["Cosmos"]}


def shelf_names(ctx: ToolContext, value: str) -> list[str]:
    return [name for name in sorted(SHELVES) if name.startswith(value)]


@plugin.resource("catalogue", scopes=["lib:read"], mime_type="text/plain")
def catalogue(ctx: ToolContext) -> str:
    """Every shelf, one a line."""
    return "\\n".join(sorted(SHELVES)) + f"\\nfor {ctx.caller.tenant_id}"


@plugin.resource("shelves/{shelf}", scopes=["lib:read"], complete={"shelf": shelf_names})
def shelf(ctx: ToolContext, shelf: str) -> dict:
    """The books on one shelf, as JSON."""
    if shelf not in SHELVES:
        raise NotFound(f"no shelf {shelf!r}", shelf=shelf)
    return {"shelf": shelf, "books": SHELVES[shelf]}


@plugin.resource("logo", scopes=["lib:read"], mime_type="image/png")
def logo(ctx: ToolContext) -> bytes:
    """The library's logo."""
    return b"\\x89PNG-not-really"


@plugin.resource("ledger", scopes=["lib:admin"])
def ledger(ctx: ToolContext) -> str:
    """Who borrowed what: administrators only."""
    return "secret ledger"


@plugin.prompt(scopes=["lib:read"], complete={"shelf": shelf_names})
def recommend(ctx: ToolContext, shelf: str, mood: str = "curious") -> str:
    """Ask for a recommendation from one shelf."""
    return f"Recommend a {mood} read from {shelf}: {', '.join(SHELVES.get(shelf, []))}"


@plugin.prompt(scopes=["lib:read"])
def show_logo(ctx: ToolContext) -> list:
    """A prompt with an image and an embedded resource."""
    return [
        "Here is the logo and the catalogue.",
        Message(Image(b"\\x89PNG", "image/png")),
        Message(EmbeddedResource("lib://catalogue", "fiction", "text/plain"), role="assistant"),
    ]


@plugin.prompt(scopes=["lib:read"])
def pick(ctx: ToolContext, count: int, shelf: str = "fiction") -> str:
    """Pick some books from a shelf."""
    return f"Pick {count + 1} books from {shelf}"


@plugin.prompt(scopes=["lib:admin"])
def audit_ledger(ctx: ToolContext) -> str:
    """Review the ledger."""
    return "Review the ledger"


@plugin.tool(scopes=["lib:read"], read_only=True)
def count(ctx: ToolContext) -> int:
    """How many shelves there are."""
    return len(SHELVES)
'''


@pytest.fixture(scope="module", params=["in-process", "isolated"])
def host(request, tmp_path_factory):
    """The library plugin in the host's process, and isolated in a worker process of its own
    (``PLUGHOST_ISOLATION__LIB=process``): the same plugin code, the same answers."""
    import os
    import sys

    from conftest import DistFactory

    from plughost.testing import LiveHost

    site = tmp_path_factory.mktemp("site")
    sys.path.insert(0, str(site))
    DistFactory(site)("acme-lib", LIBRARY, namespace="lib")
    settings = {}
    before = os.environ.get("PYTHONPATH")
    if request.param == "isolated":
        settings = {"isolation": {"lib": "process"}}
        os.environ["PYTHONPATH"] = str(site)  # the worker finds the plugin there too
    data_dir = tmp_path_factory.mktemp("lib")
    # The worker is reached over its own pipes; the isolated host keeps its real socket too.
    in_process = request.param == "in-process"
    started = LiveHost(
        data_dir=data_dir, plugins=["lib"], settings=settings, in_process=in_process
    ).start()
    yield started
    started.stop()
    sys.path.remove(str(site))
    if before is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = before


def test_resources_and_templates_are_listed_by_scope(host):
    reader = host.client(["lib:read"])
    listed = reader.request("resources/list").result["resources"]
    assert sorted(r["uri"] for r in listed) == ["lib://catalogue", "lib://logo"]
    assert all(r["_meta"]["plughost"]["plugin"] == "lib" for r in listed)
    isolated = bool(host.settings.get("isolation"))
    assert all(r["_meta"]["plughost"].get("isolated", False) is isolated for r in listed)
    templates = reader.request("resources/templates/list").result["resourceTemplates"]
    assert [t["uriTemplate"] for t in templates] == ["lib://shelves/{shelf}"]
    admin = host.client(["lib:read", "lib:admin"])
    uris = {r["uri"] for r in admin.request("resources/list").result["resources"]}
    assert "lib://ledger" in uris


def test_a_reader_runs_for_its_callers_tenant(host):
    reader = host.client(["lib:read"], tenant="acme")
    text = reader.request("resources/read", {"uri": "lib://catalogue"}).result["contents"][0]
    assert text["text"].endswith("\nfor acme")


def test_a_resource_is_read_as_text_json_and_blob(host):
    reader = host.client(["lib:read"])
    text = reader.request("resources/read", {"uri": "lib://catalogue"}).result["contents"][0]
    assert text["mimeType"] == "text/plain" and text["text"].startswith("fiction\nscience")
    shelf = reader.request("resources/read", {"uri": "lib://shelves/fiction"})
    content = shelf.result["contents"][0]
    assert content["uri"] == "lib://shelves/fiction"
    assert content["mimeType"] == "application/json"
    assert json.loads(content["text"]) == {"shelf": "fiction", "books": ["Dune", "Emma"]}
    blob = reader.request("resources/read", {"uri": "lib://logo"}).result["contents"][0]
    assert blob["mimeType"] == "image/png"
    assert base64.b64decode(blob["blob"]) == b"\x89PNG-not-really"


def test_reading_without_the_scope_is_a_403_step_up(host):
    reply = host.client(["lib:read"]).request("resources/read", {"uri": "lib://ledger"})
    assert reply.status_code == 403
    assert reply.missing_scopes == ["lib:admin"]
    challenge = reply.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and "lib:admin" in challenge
    assert reply.jsonrpc_error["data"]["resource"] == "lib://ledger"


def test_no_token_is_a_401_and_an_unknown_resource_is_not_found(host):
    anonymous = host.anonymous().request("resources/read", {"uri": "lib://catalogue"})
    assert anonymous.status_code == 401
    missing = host.client(["lib:read"]).request("resources/read", {"uri": "lib://nothing"})
    assert missing.status_code == 200 and missing.jsonrpc_error["code"] == -32002
    other = host.client(["lib:read"]).request("resources/read", {"uri": "todo://lists/1"})
    assert other.jsonrpc_error["code"] == -32002


def test_a_plugins_error_in_a_reader_is_its_message(host):
    reply = host.client(["lib:read"]).request("resources/read", {"uri": "lib://shelves/poetry"})
    assert reply.status_code == 200
    assert "not_found: no shelf 'poetry'" in reply.jsonrpc_error["message"]


def test_prompts_are_listed_by_scope_and_filled_in(host):
    reader = host.client(["lib:read"])
    prompts = reader.request("prompts/list").result["prompts"]
    assert sorted(p["name"] for p in prompts) == ["lib_pick", "lib_recommend", "lib_show_logo"]
    recommend = next(p for p in prompts if p["name"] == "lib_recommend")
    arguments = {a["name"]: a.get("required", False) for a in recommend["arguments"]}
    assert arguments == {"shelf": True, "mood": False}
    got = reader.request(
        "prompts/get", {"name": "lib_recommend", "arguments": {"shelf": "science"}}
    )
    message = got.result["messages"][0]
    assert message["role"] == "user"
    assert message["content"]["text"] == "Recommend a curious read from science: Cosmos"


def test_a_prompt_with_an_image_and_an_embedded_resource(host):
    got = host.client(["lib:read"]).request("prompts/get", {"name": "lib_show_logo"})
    messages = got.result["messages"]
    assert [(m["role"], m["content"]["type"]) for m in messages] == [
        ("user", "text"),
        ("user", "image"),
        ("assistant", "resource"),
    ]
    assert base64.b64decode(messages[1]["content"]["data"]) == b"\x89PNG"
    assert messages[2]["content"]["resource"] == {
        "uri": "lib://catalogue",
        "mimeType": "text/plain",
        "text": "fiction",
    }


def test_a_prompts_arguments_are_converted_to_their_types_or_refused(host):
    reader = host.client(["lib:read"])
    got = reader.request("prompts/get", {"name": "lib_pick", "arguments": {"count": "2"}})
    assert got.result["messages"][0]["content"]["text"] == "Pick 3 books from fiction"
    bad = {"name": "lib_pick", "arguments": {"count": "a-secret-value"}}
    refused = reader.request("prompts/get", bad)
    message = refused.jsonrpc_error["message"]
    assert message.startswith("invalid_input: argument 'count' of lib_pick")
    assert "a-secret-value" not in message


def test_a_prompt_without_the_scope_is_a_403(host):
    reply = host.client(["lib:read"]).request("prompts/get", {"name": "lib_audit_ledger"})
    assert reply.status_code == 403 and reply.missing_scopes == ["lib:admin"]
    unknown = host.client(["lib:read"]).request("prompts/get", {"name": "lib_nope"})
    assert unknown.jsonrpc_error["code"] == -32602


def test_completions_for_prompt_arguments_and_template_parameters(host):
    reader = host.client(["lib:read"])
    prompt = reader.request(
        "completion/complete",
        {
            "ref": {"type": "ref/prompt", "name": "lib_recommend"},
            "argument": {"name": "shelf", "value": "fi"},
        },
    )
    assert prompt.result["completion"]["values"] == ["fiction"]
    template = reader.request(
        "completion/complete",
        {
            "ref": {"type": "ref/resource", "uri": "lib://shelves/{shelf}"},
            "argument": {"name": "shelf", "value": ""},
        },
    )
    assert template.result["completion"]["values"] == ["fiction", "science"]
    none = reader.request(
        "completion/complete",
        {
            "ref": {"type": "ref/prompt", "name": "lib_recommend"},
            "argument": {"name": "mood", "value": ""},
        },
    )
    assert none.result["completion"]["values"] == []


def test_capabilities_advertise_what_plugins_serve(host):
    reply = host.client(["lib:read"]).request(
        "initialize",
        {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    )
    capabilities = reply.result["capabilities"]
    assert "prompts" in capabilities and "resources" in capabilities
    assert "completions" in capabilities and "logging" in capabilities


def _isolation(where: str, make_dist, monkeypatch) -> dict:
    """The settings that run the library where ``where`` says (its worker finds it on the
    PYTHONPATH)."""
    if where == "in-process":
        return {}
    monkeypatch.setenv("PYTHONPATH", str(make_dist.root))
    return {"isolation": {"lib": "process"}}


@pytest.mark.parametrize("where", ["in-process", "isolated"])
def test_every_kind_is_audited(plughost_factory, make_dist, monkeypatch, tmp_path, where):
    make_dist("acme-lib", LIBRARY, namespace="lib")
    trail_file = tmp_path / "audit.jsonl"
    settings = {"audit": {"sink": "file", "file": str(trail_file)}}
    settings |= _isolation(where, make_dist, monkeypatch)
    host = plughost_factory(plugins=["lib"], settings=settings, in_process=where == "in-process")
    reader = host.client(["lib:read"])
    reader.request("resources/read", {"uri": "lib://catalogue"})
    reader.request("prompts/get", {"name": "lib_recommend", "arguments": {"shelf": "fiction"}})
    reader.request("resources/read", {"uri": "lib://ledger"})
    reader.request(
        "completion/complete",
        {
            "ref": {"type": "ref/prompt", "name": "lib_recommend"},
            "argument": {"name": "shelf", "value": "f"},
        },
    )
    host.stop()  # flushes the trail
    trail = [json.loads(line) for line in trail_file.read_text().splitlines()]
    seen = {(r["kind"], r["tool"], r["outcome"]) for r in trail}
    assert seen == {
        ("resource", "lib://catalogue", "ok"),
        ("prompt", "lib_recommend", "ok"),
        ("resource", "lib://ledger", "denied"),
        ("completion", "lib_recommend", "ok"),
    }


GUARD = """
from plughost import Plugin
from plughost.guardrails import CallInfo, Deny

plugin = Plugin(scopes={})


@plugin.before_call
def no_logos_no_grumpy_moods(call: CallInfo) -> Deny | None:
    if call.kind == "resource" and call.tool == "lib://logo":
        return Deny(rule="guard.no-logos", reason="logos are off today")
    if call.kind == "prompt" and call.arguments.get("mood") == "grumpy":
        return Deny(rule="guard.mood", reason="be kind")
    return None
"""


@pytest.fixture(params=["in-process", "isolated"])
def guarded(request, plughost_factory, make_dist, monkeypatch):
    make_dist("acme-lib", LIBRARY, namespace="lib")
    make_dist("acme-guard", GUARD, namespace="guard")
    settings = {"rate_limit": {"plugins": {"lib": "4/minute"}}}
    settings |= _isolation(request.param, make_dist, monkeypatch)
    in_process = request.param == "in-process"
    return plughost_factory(plugins=["lib", "guard"], settings=settings, in_process=in_process)


def test_a_guardrail_denies_a_resource_read_and_a_prompt(guarded):
    reader = guarded.client(["lib:read"])
    logo = reader.request("resources/read", {"uri": "lib://logo"})
    assert logo.status_code == 403
    assert logo.jsonrpc_error["data"] == {
        "resource": "lib://logo",
        "rule": "guard.no-logos",
        "reason": "logos are off today",
    }
    grumpy = {"name": "lib_recommend", "arguments": {"shelf": "fiction", "mood": "grumpy"}}
    refused = reader.request("prompts/get", grumpy)
    assert refused.status_code == 403 and refused.jsonrpc_error["data"]["rule"] == "guard.mood"
    kind = {"name": "lib_recommend", "arguments": {"shelf": "fiction", "mood": "kind"}}
    assert reader.request("prompts/get", kind).status_code == 200


BROKEN = """

@plugin.resource("broken", scopes=["lib:read"])
def broken(ctx: ToolContext) -> str:
    \"\"\"A reader with a bug.\"\"\"
    raise RuntimeError("a genuine bug")
"""


def _logged(caplog) -> list[logging.LogRecord]:
    """Each record once (one can reach caplog's handler on FastMCP's logger and on the root)."""
    return list({id(record): record for record in caplog.records}.values())


def test_refusals_are_logged_once_at_info_and_a_crash_stays_an_error(
    plughost_factory, make_dist, caplog, monkeypatch
):
    make_dist("acme-lib", LIBRARY + BROKEN, namespace="lib")
    make_dist("acme-guard", GUARD, namespace="guard")
    host = plughost_factory(plugins=["lib", "guard"], in_process=True)
    monkeypatch.setattr(logging.getLogger("fastmcp"), "propagate", True)  # into caplog
    caplog.set_level(logging.INFO)
    reader = host.client(["lib:read"])
    grumpy = {"name": "lib_recommend", "arguments": {"shelf": "fiction", "mood": "grumpy"}}
    assert reader.request("resources/read", {"uri": "lib://logo"}).status_code == 403
    assert reader.request("prompts/get", grumpy).status_code == 403
    missing = reader.request("resources/read", {"uri": "lib://shelves/nope"})
    assert "no shelf 'nope'" in missing.jsonrpc_error["message"]
    assert [r for r in _logged(caplog) if r.levelno >= logging.WARNING] == []
    noted = [r for r in _logged(caplog) if "lib://shelves/nope" in r.getMessage()]
    assert [(r.levelname, r.exc_info) for r in noted] == [("INFO", None)]
    assert "not_found: no shelf 'nope'" in noted[0].getMessage()

    caplog.clear()
    crash = reader.request("resources/read", {"uri": "lib://broken"})
    assert "give this request id to the operator" in crash.jsonrpc_error["message"]
    assert "genuine bug" not in json.dumps(crash.body) and "Traceback" not in json.dumps(crash.body)
    errors = [r for r in _logged(caplog) if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelname) for r in errors] == [("plughost.plugins.lib", "ERROR")]
    assert errors[0].exc_info and "a genuine bug" in str(errors[0].exc_info[1])


def test_reads_and_prompts_spend_the_plugins_rate_limit(guarded):
    reader = guarded.client(["lib:read"])
    within = [
        reader.request("resources/read", {"uri": "lib://catalogue"}),
        reader.request("prompts/get", {"name": "lib_recommend", "arguments": {"shelf": "x"}}),
        reader.call("lib_count"),
        reader.request("resources/read", {"uri": "lib://shelves/fiction"}),
    ]
    assert [reply.status_code for reply in within] == [200, 200, 200, 200]
    limited = reader.request("resources/read", {"uri": "lib://catalogue"})
    assert limited.status_code == 429 and "retry-after" in limited.headers
    assert limited.jsonrpc_error["data"]["resource"] == "lib://catalogue"


def test_a_subscription_is_acknowledged_but_never_advertised(host):
    reader = host.client(["lib:read"])
    subscribed = reader.request("resources/subscribe", {"uri": "lib://catalogue"})
    assert subscribed.status_code == 200 and subscribed.result == {}
    assert reader.request("resources/unsubscribe", {"uri": "lib://catalogue"}).result == {}
    init = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    }
    resources = reader.request("initialize", init).result["capabilities"]["resources"]
    assert resources.get("subscribe") is not True


CRASHING = """
import os

from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"crash:read": "Read"})


@plugin.resource("notes", scopes=["crash:read"])
def notes(ctx: ToolContext) -> str:
    \"\"\"Some notes.\"\"\"
    return "notes"


@plugin.resource("boom", scopes=["crash:read"])
def boom(ctx: ToolContext) -> str:
    \"\"\"Ends the worker process serving it.\"\"\"
    os._exit(3)
"""


def test_a_reader_that_kills_its_worker_is_unavailable_and_served_again(
    plughost_factory, make_dist, monkeypatch
):
    make_dist("acme-crash", CRASHING, namespace="crash")
    monkeypatch.setenv("PYTHONPATH", str(make_dist.root))
    host = plughost_factory(plugins=["crash"], settings={"isolation": {"crash": "process"}})
    reader = host.client(["crash:read"])
    boom = reader.request("resources/read", {"uri": "crash://boom"})
    assert boom.status_code == 503 and boom.headers["retry-after"]
    assert boom.jsonrpc_error["data"]["plugin"] == "crash"
    deadline = time.monotonic() + 10
    while (notes := reader.request("resources/read", {"uri": "crash://notes"})).status_code != 200:
        assert notes.status_code == 503, notes.body
        assert time.monotonic() < deadline, "the worker was not restarted"
        time.sleep(0.1)
    assert notes.result["contents"][0]["text"] == "notes"
