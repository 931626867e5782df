"""What optional features cost per tool call: tracing on, an empty guardrail hook, and the
audit trail kept in the database, durable (the default there) or not.

Three ``plughost serve`` processes, each with (c)'s settings (JWT auth, the scope gate, audit
to a file, the rate limiter, metrics), measured side by side at 16 clients, taking turns:

- "off": tracing off and the echo plugin alone: (c) itself, the baseline of the ratios;
- "traced": ``OTEL_TRACES_EXPORTER=console``, every span formatted as JSON and written to
  stdout (/dev/null here) as it ends, on the request path: an upper bound of tracing's cost;
- "traced_otlp": ``OTEL_TRACES_EXPORTER=otlp`` to a stand-in collector in this process (it
  answers 200 to every batch), batched by the SDK in a background thread, as in production;
- "guarded": tracing off, plus a plugin whose ``before_call`` guardrail returns None (allow);
- "audit_db": (c) with the audit also kept in the database (SQLite here), not durable: the
  response never waits for its record;
- "audit_durable": the same with the default for a database trail, durable: each response
  waits for its record's commit (group commit). Its ratio to "audit_db" is durability's cost.

What tracing off costs cannot be run against a host without the tracing code, so it is
measured directly: the `step` calls a traced call makes (token check, rate limit, the
guardrail hooks, the function) timed in a loop with no trace, set against (c)'s CPU per call.
"""

from __future__ import annotations

import threading
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench import plugins
from bench.options import Options
from bench.procs import PlughostSetup, call_body, core_split, free_port
from bench.throughput import ARGUMENTS, Target, interleaved, start, stop

CLIENTS = (16,)
VARIANTS = ("off", "traced", "traced_otlp", "guarded", "audit_db", "audit_durable")
#: `step` calls in one traced call of the echo tool: verify, rate limit, the echo plugin's two
#: guardrail hooks, the function.
STEPS_PER_CALL = 5


class _Collector(BaseHTTPRequestHandler):
    """Takes OTLP batches and drops them; counts the bytes it was sent."""

    received = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        _Collector.received += len(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


@contextmanager
def collector() -> Iterator[str]:
    """A stand-in OTLP/HTTP collector on 127.0.0.1 for the run; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def targets(options: Options, collector_url: str) -> dict[str, Target]:
    found: dict[str, Target] = {}
    split = core_split()
    for variant in VARIANTS:
        workdir = options.dir(f"features-{variant}")
        site = workdir / "site"
        if variant == "guarded":
            namespaces = plugins.guarded_echo_plugin(site)
        else:
            namespaces = plugins.echo_plugin(site)
        settings = {
            "traced": {"OTEL_TRACES_EXPORTER": "console"},
            "audit_db": {"PLUGHOST_AUDIT__DATABASE": "true", "PLUGHOST_AUDIT__DURABLE": "false"},
            "audit_durable": {"PLUGHOST_AUDIT__DATABASE": "true"},
            "traced_otlp": {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector_url,
            },
        }.get(variant, {})
        setup = PlughostSetup(workdir, site, namespaces, settings=settings)
        port = free_port()
        token = setup.token([f"{plugins.ECHO_NAMESPACE}:call"], port)
        server = setup.server(variant, port)
        server.quiet_stdout = variant == "traced"
        target = Target(server, call_body(plugins.ECHO_TOOL, ARGUMENTS), token)
        if split:
            target.server.cpus, target.load_cpus = split
        found[variant] = target
    return found


def step_off_ns() -> float:
    """Nanoseconds one `step` costs on a call that is not traced (enter, set, exit)."""
    from plughost.ops.tracing import step

    def once() -> None:
        with step("rate limit") as span:
            span.set_attribute("plughost.rate_limit.result", "allowed")

    loops = 200_000
    return min(timeit.repeat(once, number=loops, repeat=5)) / loops * 1e9


def run(options: Options) -> dict[str, Any]:
    with collector() as url:
        servers = targets(options, url)
        try:
            start(servers, options)
            runs = interleaved(options, servers, CLIENTS, "features")
        finally:
            stop(servers)
    return {
        "runs": runs,
        "step_off_ns": step_off_ns(),
        "steps_per_call": STEPS_PER_CALL,
        "otlp_bytes": _Collector.received,
    }
