"""A mounted server's resources, templates, prompts and completions, over real HTTP.

The upstream is `tests/upstreams/weather.py` (streamable HTTP, its own process), mounted as
``weather`` with scopes per resource and prompt. Its ``weather://stations/{station}`` is served
as ``weather://weather/stations/{station}``, its ``file:///notes/today.txt`` as
``weather://file//notes/today.txt``, its prompt ``brief`` as ``weather_brief``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_mounts import Upstream, audited

from plughost.testing import LiveHost

SCOPES = {
    "weather:read": "Read forecasts",
    "weather:notes": "Read the notes",
    "weather:debug": "See what the host forwards",
}
STATION = "weather://weather/stations/{station}"
NOTES = "weather://file//notes/today.txt"
MOUNT: dict[str, Any] = {
    "scopes": SCOPES,
    "tools": {"toggle_extra": ["weather:debug"], "forecast": ["weather:read"], "extra": []},
    "resources": {
        "weather://stations/{station}": ["weather:read"],
        "weather://radar.png": ["weather:read"],
        "weather://caller": ["weather:debug"],
        "weather://extra": ["weather:read"],
        "file:///notes/today.txt": ["weather:notes"],
    },
    "prompts": {"brief": ["weather:read"], "forecast": ["weather:read"]},
    "timeout_seconds": 3.0,
    "refresh_seconds": 0.5,
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    served = Upstream()
    served.start()
    yield served
    served.kill()


@pytest.fixture(scope="module")
def audit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="module")
def live(
    upstream: Upstream, audit_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveHost]:
    host = LiveHost(
        data_dir=tmp_path_factory.mktemp("mount-components"),
        plugins=["todo"],
        settings={
            "mounts": {"weather": {"url": upstream.url, **MOUNT}},
            "audit": {"sink": "file", "file": str(audit_file)},
        },
    ).start()
    yield host
    host.stop()


def _uris(client: Any) -> set[str]:
    return {r["uri"] for r in client.request("resources/list").result["resources"]}


def _complete(client: Any, ref: dict[str, str], name: str, value: str) -> Any:
    params = {"ref": ref, "argument": {"name": name, "value": value}}
    return client.request("completion/complete", params)


def test_resources_templates_and_prompts_are_listed_by_scope(live: LiveHost):
    reader = live.client(["weather:read"])
    assert _uris(reader) == {"weather://weather/radar.png"}
    templates = reader.request("resources/templates/list").result["resourceTemplates"]
    assert [t["uriTemplate"] for t in templates] == [STATION]
    assert templates[0]["_meta"]["plughost"]["plugin"] == "weather"
    prompts = reader.request("prompts/list").result["prompts"]
    assert [p["name"] for p in prompts] == ["weather_brief"]
    assert prompts[0]["arguments"][0]["name"] == "city"
    everything = live.client(["weather:read", "weather:notes", "weather:debug"])
    assert _uris(everything) == {"weather://weather/radar.png", NOTES, "weather://weather/caller"}
    skipped = live.host.mounts["weather"].state.skipped
    assert skipped == {
        "forecast": "weather_forecast is the name of a tool it serves",
        **{
            name: "no scopes declared for it"
            for name in ("admin_reset", "last_meta", "remember", "slow", "fails")
        },
    }


def test_a_resource_a_template_and_a_blob_are_read_under_the_hosts_uris(live: LiveHost):
    reader = live.client(["weather:read", "weather:notes"])
    oslo = reader.request("resources/read", {"uri": "weather://weather/stations/oslo"})
    content = oslo.result["contents"][0]
    assert content == {
        "uri": "weather://weather/stations/oslo",
        "mimeType": "text/plain",
        "text": "station oslo",
    }
    notes = reader.request("resources/read", {"uri": NOTES}).result["contents"][0]
    assert notes["text"] == "sunny all day" and notes["uri"] == NOTES
    radar = reader.request("resources/read", {"uri": "weather://weather/radar.png"})
    blob = radar.result["contents"][0]
    assert blob["mimeType"] == "image/png"
    assert base64.b64decode(blob["blob"]) == b"\x89PNG-radar"
    broken = reader.request("resources/read", {"uri": "weather://weather/stations/broken"})
    assert broken.status_code == 200 and "the station is offline" in broken.jsonrpc_error["message"]


def test_a_read_carries_the_caller_in_meta_never_the_token(live: LiveHost):
    client = live.client(["weather:debug"], subject="ana", tenant="acme")
    read = client.request("resources/read", {"uri": "weather://weather/caller"})
    caller = json.loads(read.result["contents"][0]["text"])
    assert caller["subject"] == "ana" and caller["tenant"] == "acme"
    assert "token" not in json.dumps(caller).lower()


def test_a_prompt_is_got_and_its_arguments_completed(live: LiveHost):
    reader = live.client(["weather:read"])
    got = reader.request("prompts/get", {"name": "weather_brief", "arguments": {"city": "Oslo"}})
    assert got.result["messages"] == [
        {"role": "user", "content": {"type": "text", "text": "Write a weather brief for Oslo."}}
    ]
    prompt = _complete(reader, {"type": "ref/prompt", "name": "weather_brief"}, "city", "li")
    assert prompt.result["completion"]["values"] == ["Lima", "Lisbon"]
    template = _complete(reader, {"type": "ref/resource", "uri": STATION}, "station", "l")
    assert template.result["completion"]["values"] == ["Lima", "Lisbon", "London"]
    init = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    }
    assert "completions" in reader.request("initialize", init).result["capabilities"]


def test_without_the_scope_a_read_a_prompt_and_a_completion_get_a_step_up(live: LiveHost):
    client = live.client(["todo:read"])
    read = client.request("resources/read", {"uri": "weather://weather/stations/oslo"})
    assert read.status_code == 403 and read.missing_scopes == ["weather:read"]
    assert 'error="insufficient_scope"' in read.headers["www-authenticate"]
    notes = live.client(["weather:read"]).request("resources/read", {"uri": NOTES})
    assert notes.status_code == 403 and notes.missing_scopes == ["weather:notes"]
    prompt = client.request("prompts/get", {"name": "weather_brief", "arguments": {"city": "x"}})
    assert prompt.status_code == 403 and prompt.missing_scopes == ["weather:read"]
    completion = _complete(client, {"type": "ref/prompt", "name": "weather_brief"}, "city", "")
    assert completion.status_code == 403


def test_every_use_is_audited_with_its_kind_name_and_outcome(live: LiveHost, audit_file: Path):
    reader = live.client(["weather:read"], subject="audited")
    reader.request("resources/read", {"uri": "weather://weather/stations/lima"})
    reader.request("resources/read", {"uri": "weather://weather/stations/broken"})
    reader.request("resources/read", {"uri": NOTES})
    reader.request("prompts/get", {"name": "weather_brief", "arguments": {"city": "Lima"}})
    _complete(reader, {"type": "ref/prompt", "name": "weather_brief"}, "city", "L")
    live.host.audit.close()  # flush the file
    live.host.audit.start()
    seen = {
        (r["kind"], r["tool"], r["outcome"], r["plugin"])
        for r in audited(audit_file, subject="audited")
    }
    assert seen == {
        ("resource", "weather://weather/stations/lima", "ok", "weather"),
        ("resource", "weather://weather/stations/broken", "tool_error", "weather"),
        ("resource", NOTES, "denied", "weather"),
        ("prompt", "weather_brief", "ok", "weather"),
        ("completion", "weather_brief", "ok", "weather"),
    }


def test_a_refresh_adds_and_removes_the_upstreams_resources_and_tools(live: LiveHost):
    client = live.client(["weather:read", "weather:debug"])
    assert "weather_extra" not in client.tool_names()  # the list cache now keeps this answer

    def listed_after_toggle() -> bool:
        added = client.call("weather_toggle_extra").data["result"]
        deadline = time.monotonic() + 10
        # The same tools/list each time: a cached answer that a refresh did not invalidate
        # would be replayed for ever.
        while ("weather://weather/extra" in _uris(client)) != added or (
            "weather_extra" in client.tool_names()
        ) != added:
            assert time.monotonic() < deadline, "the refresh did not follow the upstream"
            time.sleep(0.1)
        return bool(added)

    assert listed_after_toggle() is True
    read = client.request("resources/read", {"uri": "weather://weather/extra"})
    assert read.result["contents"][0]["text"] == "extra"
    assert listed_after_toggle() is False
    gone = client.request("resources/read", {"uri": "weather://weather/extra"})
    assert gone.jsonrpc_error["code"] == -32002


GUARD = """
from plughost import Plugin
from plughost.guardrails import CallInfo, Deny

plugin = Plugin(scopes={})


@plugin.before_call
def no_radar_no_mordor(call: CallInfo) -> Deny | None:
    if call.kind == "resource" and call.tool == "weather://weather/radar.png":
        return Deny(rule="guard.no-radar", reason="the radar is off today")
    if call.kind == "prompt" and call.arguments.get("city") == "Mordor":
        return Deny(rule="guard.city", reason="not there")
    return None
"""


def test_guardrails_and_rate_limits_apply_to_a_mounts_reads_and_prompts(
    upstream: Upstream, plughost_factory: Any, make_dist: Any
):
    make_dist("acme-guard", GUARD, namespace="guard")
    host = plughost_factory(
        plugins=["guard"],
        settings={
            "mounts": {"weather": {"url": upstream.url, **MOUNT}},
            "rate_limit": {"plugins": {"weather": "2/minute"}},
        },
    )
    reader = host.client(["weather:read"])
    radar = reader.request("resources/read", {"uri": "weather://weather/radar.png"})
    assert radar.status_code == 403
    assert radar.jsonrpc_error["data"]["rule"] == "guard.no-radar"
    mordor = {"name": "weather_brief", "arguments": {"city": "Mordor"}}
    refused = reader.request("prompts/get", mordor)
    assert refused.status_code == 403 and refused.jsonrpc_error["data"]["rule"] == "guard.city"
    oslo = reader.request("resources/read", {"uri": "weather://weather/stations/oslo"})
    assert oslo.status_code == 429 and "retry-after" in oslo.headers


def test_a_forwarded_read_is_traced_under_the_requests_span(
    upstream: Upstream, plughost_factory: Any
):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    host = plughost_factory(
        plugins=["todo"],
        settings={"mounts": {"weather": {"url": upstream.url, **MOUNT}}},
        span_exporter=exporter,
    )
    reader = host.client(["weather:read"])
    assert reader.request("resources/read", {"uri": "weather://weather/stations/oslo"}).ok
    spans = {span.name: span for span in exporter.get_finished_spans()}
    forwarded = spans[f"resource {STATION}"]
    assert forwarded.attributes["plughost.plugin"] == "weather"
    assert forwarded.attributes["plughost.outcome"] == "ok"
    root = next(span for span in spans.values() if span.parent is None)
    assert forwarded.context.trace_id == root.context.trace_id
    assert root.attributes["plughost.outcome"] == "ok"


def test_the_upstream_down_makes_reads_and_prompts_unavailable(plughost_factory: Any):
    upstream = Upstream()
    upstream.start()
    try:
        host = plughost_factory(
            plugins=["todo"], settings={"mounts": {"weather": {"url": upstream.url, **MOUNT}}}
        )
        client = host.client(["weather:read", "todo:read"])
        oslo = {"uri": "weather://weather/stations/oslo"}
        assert client.request("resources/read", oslo).status_code == 200
    finally:
        upstream.kill()
    read = client.request("resources/read", oslo)
    assert read.status_code == 503, read.body
    assert read.headers["retry-after"]
    assert read.jsonrpc_error["data"]["plugin"] == "weather"
    assert "weather://weather/stations/oslo" in read.jsonrpc_error["message"]
    prompt = client.request("prompts/get", {"name": "weather_brief", "arguments": {"city": "x"}})
    assert prompt.status_code == 503
    assert client.call("todo_list").ok
