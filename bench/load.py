"""Load generators: wrk with `call.lua` (preferred), or N asyncio httpx clients as a fallback.

A point is C concurrent clients (keep-alive connections) calling one tool for T seconds. The
result is calls per second and latency percentiles; a run in which any call failed is refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.procs import answered, headers

LUA = Path(__file__).with_name("call.lua")


class LoadError(RuntimeError):
    """A run that cannot count: failed calls, socket errors, or a dead load generator."""


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int


def ensure_wrk() -> str | None:
    """The wrk binary, installed with apt-get when we are root and it is missing."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("wrk not found; installing it with apt-get", flush=True)
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        subprocess.run(argv, check=False, capture_output=True, timeout=300)
    return shutil.which("wrk")


class Generator:
    """Runs one load point with wrk if available, else with the Python fallback."""

    def __init__(self, *, prefer_wrk: bool = True) -> None:
        self.wrk = ensure_wrk() if prefer_wrk else None
        self.name = "wrk 4 + Lua" if self.wrk else "python asyncio + httpx (fallback)"

    def run(
        self,
        url: str,
        body: str,
        token: str | None,
        clients: int,
        seconds: float,
        cpus: frozenset[int] | None = None,
    ) -> Load:
        """One load point; wrk is kept to ``cpus`` when given (the fallback runs in process)."""
        if self.wrk:
            return self._wrk(url, body, token, clients, seconds, cpus)
        return asyncio.run(_python_load(url, body, token, clients, seconds))

    def _wrk(
        self,
        url: str,
        body: str,
        token: str | None,
        clients: int,
        seconds: float,
        cpus: frozenset[int] | None,
    ) -> Load:
        argv = [
            str(self.wrk),
            "-t1",
            f"-c{clients}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
        ]
        env = {**os.environ, "BENCH_BODY": body, "BENCH_TOKEN": token or ""}
        done = subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
        if done.returncode != 0 or line is None:
            raise LoadError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        stats = json.loads(line.removeprefix("BENCH "))
        if stats["failed"] or stats["socket_errors"]:
            raise LoadError(f"invalid run against {url}: {stats}")
        return Load(
            rps=stats["requests"] / (stats["duration_us"] / 1e6),
            p50_ms=stats["p50_us"] / 1000,
            p99_ms=stats["p99_us"] / 1000,
            requests=stats["requests"],
        )


async def _python_load(
    url: str, body: str, token: str | None, clients: int, seconds: float
) -> Load:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    latencies: list[float] = []
    failures = 0
    async with httpx.AsyncClient(limits=limits, timeout=10, headers=headers(token)) as client:
        deadline = time.perf_counter() + seconds

        async def one_client() -> None:
            nonlocal failures
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.post(url, content=body)
                latencies.append(time.perf_counter() - started)
                failures += not answered(response)

        began = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    if failures:
        raise LoadError(f"invalid run against {url}: {failures} failed call(s)")
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Load(
        rps=len(latencies) / elapsed,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        requests=len(latencies),
    )
