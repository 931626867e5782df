"""OpenTelemetry traces over real HTTP: one trace per call, from the edge to the plugin's spans.

A ``shop`` plugin opens a span of its own with ``ctx.span``; a ``guard`` plugin's guardrail
allows everything but the text "secret". Spans are read from the SDK's in-memory exporter of a
host in this process; the console exporter is checked on a real ``plughost serve``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from processes import cli_env, serve

from plughost.ops.audit_query import read_database
from plughost.ops.otel import TracingUnavailable
from plughost.testing import LiveHost

SHOP = """
from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"shop:read": "Read the shop", "shop:write": "Change the shop"})


@plugin.tool(scopes=["shop:read"], read_only=True)
def note(ctx: ToolContext, text: str) -> str:
    "Echo a note, looking it up first."
    with ctx.span("shop lookup", attributes={"shop.source": "memory"}) as span:
        span.set_attribute("shop.hits", 1)
    return text


@plugin.tool(scopes=["shop:write"])
def wipe(ctx: ToolContext) -> str:
    "Wipe the shop."
    return "wiped"


@plugin.tool(scopes=["shop:read"], read_only=True)
async def crash(ctx: ToolContext, text: str) -> str:
    "A bug, inside a span of the plugin's own."
    with ctx.span("shop parse"):
        raise ValueError(f"cannot parse {text}")
"""

GUARD = """
from plughost import Plugin
from plughost.guardrails import CallInfo, Deny

plugin = Plugin(scopes={})


@plugin.before_call
def refuse_secrets(call: CallInfo):
    if call.arguments.get("text") == "secret":
        return Deny(rule="no-secrets", reason="notes may not say secret")
    return None
"""

SECRET_ARGUMENT = "hunter2-do-not-trace"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def host(plughost_factory, make_dist, tmp_path, exporter):
    make_dist("acme-shop", SHOP, namespace="shop", version="2.5.0")
    make_dist("acme-guard", GUARD, namespace="guard")
    return plughost_factory(
        plugins=["shop", "guard"],
        settings={"audit": {"sink": "off", "database": True}},
        span_exporter=exporter,
        in_process=True,
    )


def spans_of(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    """The finished spans by name (each name once per call in these tests)."""
    spans = exporter.get_finished_spans()
    found = {span.name: span for span in spans}
    assert len(found) == len(spans), [span.name for span in spans]
    return found


def roots(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


def root_of(spans: dict[str, ReadableSpan]) -> ReadableSpan:
    (root,) = [s for s in spans.values() if s.kind is SpanKind.SERVER]
    return root


def post(host: LiveHost, params: dict, headers: dict[str, str]) -> int:
    """A tools/call with extra HTTP headers and every scope; returns the HTTP status."""
    response = host.http.post(
        host.mcp_url,
        json={"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params},
        headers={
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "Authorization": f"Bearer {host.client().token}",
            **headers,
        },
    )
    return response.status_code


def test_a_call_is_one_trace_from_the_edge_to_the_plugins_own_span(host, exporter):
    assert host.client(tenant="acme").call("shop_note", text=SECRET_ARGUMENT).ok
    spans = spans_of(exporter)
    root = root_of(spans)
    assert set(spans) == {
        "tools/call shop_note",
        "verify token",
        "rate limit",
        "guardrail guard.before_call",
        "tool shop_note",
        "shop lookup",
    }, "only the guardrails a plugin declared run (and are traced)"
    assert root.parent is None
    assert {s.context.trace_id for s in spans.values()} == {root.context.trace_id}
    for name in set(spans) - {root.name, "shop lookup"}:
        assert spans[name].parent.span_id == root.context.span_id, name
    assert spans["shop lookup"].parent.span_id == spans["tool shop_note"].context.span_id
    assert dict(spans["shop lookup"].attributes) == {"shop.source": "memory", "shop.hits": 1}
    attributes = root.attributes
    assert attributes["plughost.tool"] == "shop_note"
    assert attributes["plughost.plugin"] == "shop"
    assert attributes["plughost.plugin.version"] == "2.5.0"
    assert attributes["plughost.outcome"] == "ok"
    assert attributes["plughost.tenant"] == "acme"
    assert attributes["plughost.client_id"]
    assert attributes["mcp.method.name"] == "tools/call"
    assert attributes["http.response.status_code"] == 200
    assert spans["guardrail guard.before_call"].attributes["plughost.guardrail.verdict"] == "allow"
    assert spans["rate limit"].attributes["plughost.rate_limit.result"] == "allowed"
    assert spans["tool shop_note"].attributes["plughost.outcome"] == "ok"
    # the timeline: the root starts at the edge, before the token was checked
    assert root.start_time <= spans["verify token"].start_time
    assert spans["verify token"].end_time <= spans["rate limit"].start_time
    assert root.end_time >= spans["tool shop_note"].end_time


@pytest.mark.parametrize("text", [SECRET_ARGUMENT, 31337001])
def test_no_span_holds_the_token_or_an_argument_value(host, exporter, text):
    """Also when FastMCP refuses the arguments: its error messages quote the input."""
    client = host.client()
    answer = client.call("shop_note", text=text)
    assert answer.ok == isinstance(text, str)
    dumped = "\n".join(span.to_json() for span in spans_of(exporter).values())
    assert str(text) not in dumped
    assert client.token not in dumped
    assert client.token.split(".")[2] not in dumped  # not even the signature


def test_a_crashing_tool_fails_its_spans_by_error_type_only(host, exporter):
    answer = host.client().call("shop_crash", text=SECRET_ARGUMENT)
    assert answer.error["code"] == "internal_error"
    spans = spans_of(exporter)
    root = root_of(spans)
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes["plughost.outcome"] == "internal_error"
    assert spans["tool shop_crash"].attributes["plughost.outcome"] == "internal_error"
    assert spans["shop parse"].attributes["error.type"] == "ValueError"
    assert spans["shop parse"].status.status_code is StatusCode.ERROR
    assert SECRET_ARGUMENT not in "\n".join(span.to_json() for span in spans.values())


def test_a_traceparent_header_is_continued(host, exporter):
    status = post(
        host,
        {"name": "shop_note", "arguments": {"text": "hi"}},
        {"traceparent": TRACEPARENT, "tracestate": "vendor=abc"},
    )
    assert status == 200
    spans = spans_of(exporter)
    root = root_of(spans)
    assert f"{root.context.trace_id:032x}" == TRACE_ID
    assert f"{root.parent.span_id:016x}" == PARENT_ID
    assert root.parent.is_remote
    assert root.context.trace_state.get("vendor") == "abc"
    assert {f"{s.context.trace_id:032x}" for s in spans.values()} == {TRACE_ID}


def test_a_traceparent_in_params_meta_is_continued(host, exporter):
    """Clients that cannot set headers put the context in the message (MCP's _meta)."""
    meta = {"traceparent": TRACEPARENT, "tracestate": "vendor=meta"}
    status = post(host, {"name": "shop_note", "arguments": {"text": "hi"}, "_meta": meta}, {})
    assert status == 200
    spans = spans_of(exporter)
    root = root_of(spans)
    assert f"{root.context.trace_id:032x}" == TRACE_ID
    assert f"{root.parent.span_id:016x}" == PARENT_ID
    assert root.context.trace_state.get("vendor") == "meta"
    assert spans["shop lookup"].context.trace_id == root.context.trace_id


def test_the_header_wins_over_params_meta(host, exporter):
    other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    params = {"name": "shop_note", "arguments": {"text": "hi"}, "_meta": {"traceparent": other}}
    assert post(host, params, {"traceparent": TRACEPARENT}) == 200
    assert f"{root_of(spans_of(exporter)).context.trace_id:032x}" == TRACE_ID


@pytest.mark.parametrize(
    ("call", "status", "outcome", "children"),
    [
        ("denied_by_rule", 403, "denied", {"guardrail guard.before_call"}),
        ("missing_scope", 403, "denied", set()),
        ("unknown_tool", 200, "unknown_tool", {"rate limit"}),
        ("bad_token", 401, "unauthenticated", set()),
    ],
)
def test_a_refused_call_is_traced_with_its_outcome(host, exporter, call, status, outcome, children):
    if call == "denied_by_rule":
        answer = host.client().call("shop_note", text="secret")
    elif call == "missing_scope":
        answer = host.client(scopes=["shop:read"]).call("shop_wipe")
    elif call == "unknown_tool":
        answer = host.client().call("shop_nothing")
    else:
        answer = host.client(token=host.client().token + "x").call("shop_note", text="x")
    assert answer.status_code == status
    spans = spans_of(exporter)
    root = root_of(spans)
    assert root.attributes["plughost.outcome"] == outcome
    assert root.attributes["error.type"] == outcome
    assert root.attributes["http.response.status_code"] == status
    assert root.status.status_code is StatusCode.UNSET  # a refusal is not the server failing
    assert "verify token" in spans
    assert children <= set(spans)
    assert "tool shop_note" not in spans
    if call == "denied_by_rule":
        assert root.attributes["plughost.rule"] == "no-secrets"
        verdict = spans["guardrail guard.before_call"].attributes["plughost.guardrail.verdict"]
        assert verdict == "deny"
    if call == "bad_token":
        assert spans["verify token"].attributes["plughost.auth.refusal"]
        assert "plughost.tenant" not in root.attributes


def test_the_audit_record_carries_the_trace_id(host, exporter):
    assert host.client().call("shop_note", text="hi").ok
    assert host.client().call("shop_note", text="secret").status_code == 403
    host.stop()  # flushes the audit trail
    records = list(read_database(host.host.engine))
    assert [r.trace_id for r in records] == [f"{s.context.trace_id:032x}" for s in roots(exporter)]
    assert [r.outcome.value for r in records] == ["ok", "denied"]


def test_tracing_off_installs_nothing_and_records_no_trace_id(plughost_factory):
    host = plughost_factory(
        plugins=["todo"], settings={"audit": {"sink": "off", "database": True}}, in_process=True
    )
    assert host.client().call("todo_list").ok
    assert not host.app.state.plughost_tracing.on
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert "TraceEdge" not in [m.cls.__name__ for m in host.app.user_middleware]
    host.stop()
    assert [r.trace_id for r in read_database(host.host.engine)] == [None]


def test_tracing_asked_for_without_the_sdk_stops_the_start(plughost_factory, monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(TracingUnavailable, match=re.escape("pip install 'plughost[otel]'")):
        plughost_factory(plugins=["todo"], in_process=True)


def test_an_exporter_plughost_does_not_have_is_refused_by_name(plughost_factory, monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(TracingUnavailable, match="console or otlp"):
        plughost_factory(plugins=["todo"], in_process=True)


def test_sdk_disabled_turns_tracing_off(plughost_factory, monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not plughost_factory(plugins=["todo"], in_process=True).app.state.plughost_tracing.on


def test_the_console_exporter_prints_spans_a_log_line_and_audit_record_join(tmp_path):
    """A real ``plughost serve``, whose tracer provider is OpenTelemetry's global one: FastMCP
    would record its own spans there too (a second SERVER span per call, quoting the invalid
    argument in its error), had the host not suppressed them."""
    audit = tmp_path / "audit.jsonl"
    env = cli_env(
        tmp_path / "data",
        OTEL_TRACES_EXPORTER="console",
        OTEL_SERVICE_NAME="plughost-test",
        PLUGHOST_ENABLED_PLUGINS="todo",
        PLUGHOST_AUDIT__SINK="file",
        PLUGHOST_AUDIT__FILE=str(audit),
    )
    served = serve(env)
    try:
        client = served.client("todo:read")
        assert client.call("todo_list").ok
        assert client.call("todo_list", completed=SECRET_ARGUMENT).error["code"] == "invalid_input"
    finally:
        out, err = served.stop()
    assert out.count('"kind": "SpanKind.SERVER"') == 2
    assert SECRET_ARGUMENT not in out
    record, invalid = [json.loads(line) for line in audit.read_text().splitlines()]
    assert invalid["outcome"] == "invalid_input" and invalid["trace_id"] != record["trace_id"]
    assert record["tool"] == "todo_list" and re.fullmatch(r"[0-9a-f]{32}", record["trace_id"])
    assert '"name": "tools/call todo_list"' in out
    assert f'"trace_id": "0x{record["trace_id"]}"' in out
    assert '"service.name": "plughost-test"' in out
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    lines = [e for e in logged if e.get("message", "").startswith("POST /mcp")]
    assert [line["trace_id"] for line in lines] == [record["trace_id"], invalid["trace_id"]]


def test_the_operators_guides_collector_example_turns_tracing_on(tmp_path):
    """The guide's OTLP settings, as a host reads them (no collector needed to start)."""
    from test_docs import OPERATORS, blocks

    (block,) = [b for b in blocks(OPERATORS) if "OTEL_EXPORTER_OTLP_ENDPOINT=" in b.body]
    variables = dict(line.split("=", 1) for line in block.body.split())
    check = (
        "from plughost.ops.tracing import Tracing; t = Tracing.from_environment(); "
        "print(t.on, t.provider.resource.attributes['service.name'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", check],
        env=cli_env(tmp_path, **variables),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "plughost"]
