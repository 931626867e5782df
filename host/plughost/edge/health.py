"""``/healthz``, ``/readyz`` and ``/metrics``: what probes and scrapers ask of a replica.

``/healthz`` answers from memory and never touches a dependency, so it stays fast while a
database or Redis is sick. ``/readyz`` checks each dependency with its own deadline, off the
event loop, at most one database check at a time: a stalled database makes the replica
unready within the deadline and never freezes the server.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Engine, text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plughost import __version__
from plughost.core.discovery import PluginStatus
from plughost.core.host import Host

log = logging.getLogger("plughost.health")

KeysReady = Callable[[], Awaitable[bool]]


def health(host: Host) -> dict[str, Any]:
    """The public health body: statuses only, never error text (that is for operators)."""
    plugins = [
        {"namespace": r.namespace, "version": r.version, "status": r.status.value}
        for r in host.report.records
    ]
    ok = (PluginStatus.LOADED, PluginStatus.DISABLED)
    mounts = {
        name: {
            "kind": mount.state.kind,
            "status": mount.state.status,
            "version": mount.state.version,
            "last_refresh": _when(mount.state.last_refresh),
        }
        for name, mount in host.mounts.items()
    }
    degraded = any(p["status"] not in ok for p in plugins) or any(
        m["status"] != "up" for m in mounts.values()
    )
    body: dict[str, Any] = {
        "status": "degraded" if degraded else "ok",
        "version": __version__,
        "plugins": plugins,
    }
    if mounts:
        body["mounts"] = mounts  # where each upstream is stays for operators (CLI, console)
    return body


def _when(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


@dataclass(frozen=True)
class CheckResult:
    """One readiness check as it last ended: for the operator console."""

    ok: bool
    latency_ms: float
    at: datetime
    problem: str | None = None


class Readiness:
    """Whether this replica can serve: plugins loaded, signing keys held, backends reachable.

    Each check's last result and latency is kept in `last` (the console shows it).
    """

    def __init__(self, host: Host, keys_ready: KeysReady) -> None:
        self.host = host
        self.keys_ready = keys_ready
        self.timeout = host.settings.readiness_timeout_seconds
        self._database_probe = anyio.CapacityLimiter(1)
        self.last: dict[str, CheckResult] = {}

    async def check(self) -> tuple[bool, dict[str, Any]]:
        host = self.host
        checks: dict[str, Any] = {
            "plugins": bool(host.report.loaded) or not host.report.records,
            "signing_keys": await self._within("signing keys", self.keys_ready),
            "database": await self._within("database", self._database),
        }
        if not host.settings.rate_limit.storage_url.startswith("memory"):
            checks["rate_limit_storage"] = await self._within(
                "rate-limit storage", host.limiter.healthy
            )
        return all(checks.values()), checks

    async def _within(self, name: str, check: Callable[[], Awaitable[bool]]) -> bool:
        started = time.perf_counter()
        ok, problem = False, None
        try:
            with anyio.fail_after(self.timeout):
                ok = bool(await check())
        except TimeoutError:
            problem = f"no answer within {self.timeout}s"
            log.warning("readiness: %s did not answer within %ss", name, self.timeout)
        except Exception as exc:
            problem = f"unreachable ({type(exc).__name__})"
            log.warning("readiness: %s unreachable: %s", name, type(exc).__name__)
        latency = (time.perf_counter() - started) * 1000
        self.last[name] = CheckResult(ok, round(latency, 2), datetime.now(UTC), problem)
        return ok

    async def _database(self) -> bool:
        return await anyio.to_thread.run_sync(
            _ping, self.host.engine, abandon_on_cancel=True, limiter=self._database_probe
        )


def _ping(engine: Engine) -> bool:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return True


def routes(host: Host, keys_ready: KeysReady) -> Readiness:
    """Add the probe and scrape endpoints to the host's server; the `Readiness` they use."""
    readiness = Readiness(host, keys_ready)
    settings = host.settings

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse(health(host))

    async def readyz(_request: Request) -> JSONResponse:
        ready, checks = await readiness.check()
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        expected = settings.metrics_token
        if expected is not None:
            given = request.headers.get("authorization", "")
            wanted = f"Bearer {expected.get_secret_value()}"
            if not hmac.compare_digest(given.encode(), wanted.encode()):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
        body, content_type = host.metrics.exposition()
        return Response(body, media_type=content_type)

    host.mcp.custom_route("/healthz", methods=["GET"])(healthz)
    host.mcp.custom_route("/readyz", methods=["GET"])(readyz)
    if settings.metrics_enabled:
        host.mcp.custom_route("/metrics", methods=["GET"])(metrics)
    return readiness
