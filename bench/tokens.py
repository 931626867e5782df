"""Token verification cost per call, cold and warm, in process, against a real JWKS over HTTP.

A Plughost server supplies the dev issuer's JWKS; the verifier here is the host's own
(`resolve_issuer`, as ``plughost serve`` builds it). "First call" includes fetching the JWKS;
"cold" is a token never seen before (signature and claims checked, keys cached); "warm" is a
token verified before (a hash and a dictionary lookup). FastMCP's `JWTVerifier` checks the
signature on every call; it is timed on the same tokens.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from fastmcp.server.auth.providers.jwt import JWTVerifier

from bench import plugins
from bench.options import Options
from bench.procs import PlughostSetup, call_body, free_port
from bench.throughput import public_key_pem
from plughost.auth.issuers import Issuer, resolve_issuer
from plughost.auth.provider import PlughostAuth
from plughost.devissuer.keys import DevIssuer, embedded_issuer
from plughost.settings import load_settings

COLD_TOKENS = 300
WARM_CALLS = 20_000


def _issuer(setup: PlughostSetup, base: str) -> Issuer:
    settings = load_settings(data_dir=setup.workdir / "data")
    dev = embedded_issuer(settings.auth, settings.data_dir)
    return resolve_issuer(settings.auth, public_url=base, dev=dev)


async def _per_call_us(verify: Any, tokens: list[str]) -> float:
    started = time.perf_counter()
    for token in tokens:
        if await verify(token) is None:
            raise RuntimeError("a bench token was refused")
    return (time.perf_counter() - started) / len(tokens) * 1e6


async def _measure(setup: PlughostSetup, base: str, options: Options) -> dict[str, list[float]]:
    dev = DevIssuer(setup.workdir / "data")
    claims = {"issuer": base, "audience": f"{base}/mcp", "scopes": ["bench:call"]}
    peer = JWTVerifier(
        public_key=public_key_pem(setup.workdir / "data").decode(),
        issuer=base,
        audience=f"{base}/mcp",
        algorithm="RS256",
    )
    runs: dict[str, list[float]] = {
        "first_call": [],
        "cold": [],
        "warm": [],
        "warm_provider": [],
        "peer": [],
        "jwks_fetches": [],
    }
    for _ in range(options.reps):
        issuer = _issuer(setup, base)
        auth = PlughostAuth(issuer, base_url=base, scopes_supported=list)
        fresh = [dev.mint(**claims) for _ in range(COLD_TOKENS)]
        runs["first_call"].append(await _per_call_us(issuer.verifier.verify, fresh[:1]))
        runs["cold"].append(await _per_call_us(issuer.verifier.verify, fresh[1:]))
        runs["warm"].append(await _per_call_us(issuer.verifier.verify, fresh[:1] * WARM_CALLS))
        runs["warm_provider"].append(await _per_call_us(auth.verify_token, fresh[:1] * WARM_CALLS))
        runs["peer"].append(await _per_call_us(peer.verify_token, fresh[1:]))
        runs["jwks_fetches"].append(float(issuer.keys.fetch_count))
    return runs


def run(options: Options) -> dict[str, Any]:
    workdir = options.dir("tokens")
    setup = PlughostSetup(workdir, workdir / "site", plugins.echo_plugin(workdir / "site"))
    port = free_port()
    token = setup.token([f"{plugins.ECHO_NAMESPACE}:call"], port)
    server = setup.server("plughost", port)
    server.start()
    try:
        server.wait_ready(call_body(plugins.ECHO_TOOL, {"text": "hi"}), token)
        runs = asyncio.run(_measure(setup, server.base_url, options))
    finally:
        server.stop()
    for name, values in runs.items():
        print(f"  tokens {name:>13}: {statistics.median(values):9.1f}", flush=True)
    return {"runs": runs, "cold_tokens": COLD_TOKENS - 1, "warm_calls": WARM_CALLS}
