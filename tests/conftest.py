"""Shared fixtures: throwaway plugin distributions and a stand-in OAuth issuer on 127.0.0.1."""

from __future__ import annotations

import json
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plughost.testing import free_port

#: Test plugins kept as real modules, linted and readable; `DistFactory` installs one by path.
TEST_PLUGINS = Path(__file__).parent / "plugins"


@dataclass
class DistFactory:
    """Writes real installed distributions (``*.dist-info`` + module) into a path entry."""

    root: Path

    def __call__(
        self,
        name: str,
        source: str | Path,
        *,
        namespace: str | None = None,
        module: str | None = None,
        version: str = "1.0.0",
        requires: str | None = "plughost>=0.1",
        obj: str = "plugin",
    ) -> str:
        """Install distribution ``name`` whose entry point ``namespace`` is ``module:obj``; its
        module is ``source``, the code or a file of it (under `TEST_PLUGINS`)."""
        module = module or f"{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        namespace = namespace or name.split("-")[-1]
        code = source.read_text() if isinstance(source, Path) else textwrap.dedent(source)
        (self.root / f"{module}.py").write_text(code)
        dist_info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir()
        metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        if requires:
            metadata.append(f"Requires-Dist: {requires}")
        (dist_info / "METADATA").write_text("\n".join(metadata) + "\n")
        (dist_info / "entry_points.txt").write_text(f"[mcp_tools]\n{namespace} = {module}:{obj}\n")
        return module


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DistFactory:
    """Install throwaway plugins for this test only (a fresh ``sys.path`` entry)."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return DistFactory(root)


SIMPLE_PLUGIN = """
from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"{ns}:read": "Read things"})

@plugin.tool(scopes=["{ns}:read"], read_only=True)
def echo(ctx: ToolContext, text: str) -> dict:
    \"\"\"Echo text back with who asked.\"\"\"
    return {"text": text, "tenant": ctx.caller.tenant_id, "subject": ctx.caller.subject}
"""


def simple_plugin(namespace: str) -> str:
    return SIMPLE_PLUGIN.replace("{ns}", namespace)


@dataclass
class StandInIssuer:
    """An OAuth issuer on 127.0.0.1 serving a JWKS we control: rotate keys, go down, count hits."""

    port: int = field(default_factory=free_port)
    keys: dict[str, Any] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    up: bool = True
    jwks_hits: int = 0
    metadata: dict[str, Any] | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_key(self, kind: str = "rsa", *, publish: bool = True) -> str:
        kid = f"k-{uuid.uuid4().hex[:8]}"
        if kind == "rsa":
            self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        if publish:
            self.published.append(kid)
        return kid

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid in self.published:
            key = self.keys[kid]
            if isinstance(key, rsa.RSAPrivateKey):
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
                jwk["alg"] = "RS256"
            else:
                jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
                jwk["alg"] = "ES256"
            out.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": out}

    def sign(
        self, claims: dict[str, Any], *, kid: str | None = None, alg: str | None = None
    ) -> str:
        kid = kid or self.published[-1]
        key = self.keys[kid]
        alg = alg or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})

    def start(self) -> StandInIssuer:
        async def keys_route(_request: Request) -> JSONResponse:
            self.jwks_hits += 1
            if not self.up:
                return JSONResponse({"error": "down"}, status_code=503)
            return JSONResponse(self.jwks())

        async def metadata_route(_request: Request) -> JSONResponse:
            if self.metadata is None:
                return JSONResponse({}, status_code=404)
            return JSONResponse(self.metadata)

        app = Starlette(
            routes=[
                Route("/keys", keys_route),
                Route("/.well-known/openid-configuration", metadata_route),
            ]
        )
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server and self._thread:
            self._server.should_exit = True
            self._thread.join(timeout=10)


@pytest.fixture
def stand_in_issuer() -> Iterator[StandInIssuer]:
    issuer = StandInIssuer()
    issuer.new_key()
    issuer.start()
    yield issuer
    issuer.stop()


@pytest.fixture(autouse=True)
def _no_plughost_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure hosts explicitly; stray PLUGHOST_* (or OTEL_*) variables must not leak in."""
    import os

    for name in list(os.environ):
        if name.startswith(("PLUGHOST_", "SCALEKIT_", "OTEL_")) and not name.startswith(
            "PLUGHOST_TEST_"
        ):
            monkeypatch.delenv(name)


def now() -> int:
    return int(time.time())


@dataclass
class ManualClock:
    """A monotonic clock that moves only when the test says: a host's intervals pass at once."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


__all__ = [
    "TEST_PLUGINS",
    "DistFactory",
    "ManualClock",
    "StandInIssuer",
    "now",
    "simple_plugin",
    "sys",
]
