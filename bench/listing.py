"""``tools/list`` latency with 10, 100 and 1,000 tools, with and without scope filtering.

Ten small plugins carry the tools (1, 10 or 100 each). "Filtered" is Plughost's default: each
caller sees only the tools its scopes allow (the token here holds every scope, so all tools
come back and both variants send the same answer); "unfiltered" sets
``PLUGHOST_AUTH__LIST_ALL_TOOLS=true``. Plughost answers a repeated question from its list
cache, so both cases are measured: "repeat" (a scope set asked before) and "first" (a token
with a scope set never seen, which FastMCP answers in full). Server time is what Plughost's
outermost middleware logs per request (``ms``, at log level info); client time is one
keep-alive client's round trip. A bare FastMCP server with as many tools is the reference.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench import plugins
from bench.options import Options
from bench.procs import PlughostSetup, Server, free_port, headers, python_module, rpc_body
from plughost.devissuer.keys import DevIssuer

SIZES = (10, 100, 1000)
PLUGINS = 10
WARMUP = 20
PER_ROUND = 30
LIST_BODY = rpc_body("tools/list")
VARIANTS = {"filtered": "false", "unfiltered": "true"}


class Lister:
    """One server under test, with a log of which kind of request it was sent, in order."""

    def __init__(self, server: Server, token: Callable[[int], str | None]) -> None:
        self.server = server
        self.token = token
        self.kinds: list[str] = []
        self.client_ms: dict[str, list[float]] = {"first": [], "repeat": []}

    def ask(self, client: httpx.Client, kind: str, fresh: int = 0) -> float:
        started = time.perf_counter()
        response = client.post(
            self.server.mcp_url, content=LIST_BODY, headers=headers(self.token(fresh))
        )
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or "result" not in response.json():
            raise RuntimeError(f"{self.server.name}: tools/list answered {response.status_code}")
        self.kinds.append(kind)
        return elapsed

    def round(self, client: httpx.Client, fresh: int) -> None:
        self.client_ms["first"].append(self.ask(client, "first", fresh))
        times = [self.ask(client, "repeat") for _ in range(PER_ROUND)]
        self.client_ms["repeat"].append(statistics.median(times))

    def server_ms(self) -> dict[str, list[float]]:
        """Per round: the first request's server time, and the median of the repeats."""
        logged = list(zip(self.kinds, _server_times(self.server.log), strict=False))
        measured = [(kind, ms) for kind, ms in logged if kind in ("first", "repeat")]
        found: dict[str, list[float]] = {"first": [], "repeat": []}
        for start in range(0, len(measured), 1 + PER_ROUND):
            chunk = measured[start : start + 1 + PER_ROUND]
            found["first"] += [ms for kind, ms in chunk if kind == "first"]
            repeats = [ms for kind, ms in chunk if kind == "repeat"]
            if repeats:
                found["repeat"].append(statistics.median(repeats))
        return found


def _listers(options: Options, size: int) -> dict[str, Lister]:
    workdir = options.dir(f"list-{size}")
    site = workdir / "site"
    namespaces = plugins.small_plugins(site, PLUGINS, tools=size // PLUGINS)
    scopes = plugins.scopes_of(namespaces)
    found: dict[str, Lister] = {}
    for variant, list_all in VARIANTS.items():
        setup = PlughostSetup(
            workdir / variant,
            site,
            namespaces,
            settings={"PLUGHOST_AUTH__LIST_ALL_TOOLS": list_all, "PLUGHOST_LOG_FORMAT": "json"},
        )
        port = free_port()
        setup.token(scopes, port)  # creates the dev issuer's key, as an operator would
        found[variant] = Lister(
            setup.server(variant, port, log_level="info"),
            _minter(setup.workdir / "data", f"http://127.0.0.1:{port}", scopes),
        )
    port = free_port()
    bare = Server(
        "fastmcp",
        python_module("bench.servers", "baseline", "--port", str(port)),
        port,
        env={"BENCH_TOOLS": str(size)},
        log=workdir / "fastmcp.log",
    )
    found["fastmcp"] = Lister(bare, lambda _fresh: None)
    return found


def _minter(data_dir: Path, base: str, scopes: list[str]) -> Callable[[int], str]:
    """Tokens holding every scope; ``fresh`` > 0 adds a scope no earlier token had."""
    dev = DevIssuer(data_dir)
    usual = dev.mint(issuer=base, audience=f"{base}/mcp", scopes=scopes)

    def token(fresh: int) -> str:
        if not fresh:
            return usual
        extra = [*scopes, f"bench:fresh{fresh}"]
        return dev.mint(issuer=base, audience=f"{base}/mcp", scopes=extra)

    return token


def _server_times(log: Path | None) -> list[float]:
    """The ``ms`` of every POST /mcp that Plughost's request log recorded, in order."""
    times = []
    for line in log.read_text().splitlines() if log else []:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = str(entry.get("message", ""))
        if entry.get("logger") == "plughost.http" and message.startswith("POST /mcp"):
            times.append(float(entry["ms"]))
    return times


def run(options: Options) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for size in SIZES:
        listers = _listers(options, size)
        try:
            for lister in listers.values():
                lister.server.start()
            for lister in listers.values():
                lister.server.wait_ready(LIST_BODY, lister.token(0), timeout=300)
                lister.kinds.append("ready")
            with httpx.Client(timeout=60) as client:
                for lister in listers.values():
                    for _ in range(WARMUP):
                        lister.ask(client, "warm-up")
                for rep in range(options.reps):
                    for lister in listers.values():
                        lister.round(client, fresh=rep + 1)
        finally:
            for lister in listers.values():
                lister.server.stop()
        result = {
            "client_ms": {name: lister.client_ms for name, lister in listers.items()},
            "server_ms": {name: listers[name].server_ms() for name in VARIANTS},
        }
        server = result["server_ms"]
        print(
            f"  tools/list {size:>5} tools, server ms (repeat / first): filtered "
            f"{statistics.median(server['filtered']['repeat']):.2f} / "
            f"{statistics.median(server['filtered']['first']):.2f}, unfiltered "
            f"{statistics.median(server['unfiltered']['repeat']):.2f} / "
            f"{statistics.median(server['unfiltered']['first']):.2f}; bare FastMCP client ms "
            f"{statistics.median(listers['fastmcp'].client_ms['repeat']):.2f}",
            flush=True,
        )
        results[str(size)] = result
    return results
