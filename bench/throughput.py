"""Tool-call throughput and latency: (a) bare FastMCP, (b) FastMCP + JWTVerifier, (c) Plughost.

The servers run side by side, warm, and are measured in turn at each concurrency (the order
rotating between repetitions), so a noisy neighbour hurts all of them alike. Besides calls per
second and latency, the server's own CPU time per call is recorded: on a shared machine it is
the steadiest figure of what a call costs. (a') is (a) with the garbage-collector settings
``plughost serve`` applies, to tell what Plughost's layers cost apart from what its process
tuning saves. Plughost runs with everything on: JWT auth, the scope gate, audit to a file, the
rate limiter (its limit too high to trigger), metrics.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import psutil
from cryptography.hazmat.primitives import serialization

from bench import plugins
from bench.load import Load, LoadError
from bench.options import Options
from bench.procs import (
    PlughostSetup,
    Server,
    call_body,
    core_split,
    free_port,
    python_module,
)
from bench.servers import TOOL

#: (a) bare FastMCP, (a') the same with Plughost's GC settings, (b) the peer, (c) Plughost,
#: (f) the floor: a minimal ASGI endpoint doing only a call's essential work.
KINDS = ("baseline", "baseline_gc", "peer", "plughost", "floor")
MODULES = {"peer": ("bench.servers", "peer"), "floor": ("bench.floor",)}
ARGUMENTS = {"text": "hello"}


class Target:
    """One server under load: how to call it and what a call costs it.

    ``upstream`` is a server it calls on each call's behalf that is not its child process (a
    mounted remote MCP server): started before it, and its CPU counted with the server's, the
    server's own share then recorded as ``host_cpu_us``.
    """

    def __init__(
        self,
        server: Server,
        body: str,
        token: str | None,
        load_cpus: frozenset[int] | None = None,
        upstream: tuple[Server, str] | None = None,
    ) -> None:
        self.server = server
        self.body = body
        self.token = token
        self.load_cpus = load_cpus
        self.upstream = upstream  # the server, and a call body it answers (to wait for it)

    def start(self) -> None:
        if self.upstream is not None:
            upstream, body = self.upstream
            upstream.start().wait_ready(body, None)
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        if self.upstream is not None:
            self.upstream[0].stop()

    def measure(self, options: Options, clients: int, seconds: float) -> dict[str, float]:
        processes = [self.server, *([self.upstream[0]] if self.upstream else [])]
        before = [_cpu_seconds(_process(server)) for server in processes]
        try:
            load: Load = options.generator.run(
                self.server.mcp_url, self.body, self.token, clients, seconds, self.load_cpus
            )
        except LoadError as exc:
            raise LoadError(f"{self.server.name}: {exc}\n{self.server.describe()}") from None
        cpu = [_cpu_seconds(_process(s)) - b for s, b in zip(processes, before, strict=True)]
        result = {
            "rps": load.rps,
            "p50_ms": load.p50_ms,
            "p99_ms": load.p99_ms,
            "cpu_us": sum(cpu) / load.requests * 1e6,
        }
        if self.upstream is not None:
            result["host_cpu_us"] = cpu[0] / load.requests * 1e6
        return result


def _process(server: Server) -> psutil.Process:
    assert server.proc is not None, f"{server.name} is not running"
    return psutil.Process(server.proc.pid)


def _cpu_seconds(process: psutil.Process) -> float:
    """CPU time of a server and its worker processes."""
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        times = p.cpu_times()
        total += times.user + times.system
    return total


def public_key_pem(data_dir: Path) -> bytes:
    """The dev issuer's public key, so the peer verifies the very tokens Plughost accepts."""
    private = serialization.load_pem_private_key(
        (data_dir / "dev-issuer" / "signing-key.pem").read_bytes(), password=None
    )
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def targets(workdir: Path) -> dict[str, Target]:
    """The four servers (not started), with a token for the two that check one."""
    setup = PlughostSetup(workdir, workdir / "site", plugins.echo_plugin(workdir / "site"))
    ports = {kind: free_port() for kind in KINDS}
    issuer = f"http://127.0.0.1:{ports['plughost']}"
    token = setup.token([f"{plugins.ECHO_NAMESPACE}:call"], ports["plughost"])
    pem = workdir / "peer-public-key.pem"
    pem.write_bytes(public_key_pem(workdir / "data"))
    peer_env = {
        "BENCH_PEER_PUBLIC_KEY": str(pem),
        "BENCH_PEER_ISSUER": issuer,
        "BENCH_PEER_AUDIENCE": f"{issuer}/mcp",
    }
    env = {"baseline": {}, "baseline_gc": {"BENCH_TUNED_GC": "1"}, "peer": peer_env}
    env["floor"] = peer_env
    body = call_body(TOOL, ARGUMENTS)
    found = {
        kind: Target(
            Server(
                kind,
                python_module(
                    *MODULES.get(kind, ("bench.servers", "baseline")), "--port", str(port)
                ),
                port,
                env=env[kind],
                log=workdir / f"{kind}.log",
            ),
            body,
            token if kind in ("peer", "floor") else None,
        )
        for kind, port in ports.items()
        if kind != "plughost"
    }
    found["plughost"] = Target(
        setup.server("plughost", ports["plughost"]), call_body(plugins.ECHO_TOOL, ARGUMENTS), token
    )
    split = core_split()
    if split:
        for target in found.values():
            target.server.cpus, target.load_cpus = split
    return found


def interleaved(
    options: Options, targets: dict[str, Target], clients: tuple[int, ...], label: str
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Measure every (running, warm) target at every concurrency, ``options.reps`` times.

    Targets take turns at each point and the order rotates between repetitions, so drift on
    a shared machine lands on all of them alike.
    """
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {str(c): [] for c in clients} for name in targets
    }
    names = list(targets)
    for rep in range(options.reps):
        for count in clients:
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:
                result = targets[name].measure(options, count, options.seconds)
                runs[name][str(count)].append(result)
                print(
                    f"  {label} rep {rep + 1} {name:>11} {count:>3} clients: "
                    f"{result['rps']:7.0f}/s p50 {result['p50_ms']:6.1f} ms "
                    f"p99 {result['p99_ms']:6.1f} ms cpu {result['cpu_us']:5.0f} us/call",
                    flush=True,
                )
    return runs


def start(targets: dict[str, Target], options: Options) -> None:
    """Start every target, wait for its first answered call, then warm it up."""
    for target in targets.values():
        target.start()
    for target in targets.values():
        target.server.wait_ready(target.body, target.token)
    for target in targets.values():
        target.measure(options, 16, 2)


def stop(targets: dict[str, Target]) -> None:
    for target in targets.values():
        target.stop()


def run(options: Options) -> dict[str, Any]:
    workdir = options.dir("throughput")
    servers = targets(workdir)
    try:
        start(servers, options)
        before = _plughost_counters(servers["plughost"].server)
        runs = interleaved(options, servers, options.clients, "throughput")
        after = _plughost_counters(servers["plughost"].server)
        memory = {kind: t.server.rss_bytes() for kind, t in servers.items()}
    finally:
        stop(servers)
    return {
        "runs": runs,
        "rss_bytes": memory,
        "plughost_calls": after["calls"] - before["calls"],
        "jwks_fetches_under_load": after["jwks"] - before["jwks"],
        "jwks_fetches_total": after["jwks"],
        "audit_lines": _count_lines(workdir / "audit.jsonl"),
    }


def _plughost_counters(server: Server) -> dict[str, float]:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    return {
        "calls": _metric_sum(text, r'plughost_tool_calls_total\{[^}]*outcome="ok"[^}]*\}'),
        "jwks": _metric_sum(text, r'plughost_jwks_fetches_total\{[^}]*result="ok"[^}]*\}'),
    }


def _metric_sum(text: str, pattern: str) -> float:
    found = re.findall(rf"^{pattern} ([0-9.e+]+)$", text, flags=re.MULTILINE)
    return sum(float(x) for x in found)


def _count_lines(path: Path) -> int:
    return sum(1 for _ in path.open()) if path.exists() else 0
