"""(f) The floor: a minimal ASGI endpoint doing only a tool call's essential work.

Read the body, parse the JSON-RPC message, look up the bearer token in a cache (verified with
PyJWT against the dev issuer's public key the first time), check the scope, validate the
arguments with pydantic, call the function, answer JSON. No MCP transport, no middleware: what
a call must cost at least in Python, to measure Plughost's per-call CPU against. Run as
``python -m bench.floor --port N`` with ``BENCH_PEER_*`` set as for the peer server.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from pydantic import TypeAdapter, ValidationError

from bench.plugins import ECHO_NAMESPACE
from bench.servers import UVICORN_OPTIONS, echo

SCOPE = f"{ECHO_NAMESPACE}:call"
ARGUMENTS = TypeAdapter(dict[str, str])


class Floor:
    def __init__(self, public_key: str, issuer: str, audience: str) -> None:
        self.key = public_key
        self.issuer = issuer
        self.audience = audience
        self.tokens: dict[str, set[str]] = {}

    def scopes(self, token: str) -> set[str] | None:
        if token not in self.tokens:
            try:
                claims = jwt.decode(
                    token,
                    self.key,
                    algorithms=["RS256"],
                    issuer=self.issuer,
                    audience=self.audience,
                )
            except jwt.PyJWTError:
                return None
            self.tokens[token] = set(str(claims.get("scope", "")).split())
        return self.tokens[token]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"")[7:].decode()
        granted = self.scopes(token)
        if granted is None:
            await _answer(send, 401, {"error": "invalid_token"})
            return
        request = json.loads(body)
        if SCOPE not in granted:
            await _answer(send, 403, {"jsonrpc": "2.0", "id": request["id"], "error": {}})
            return
        try:
            arguments = ARGUMENTS.validate_python(request["params"]["arguments"])
        except ValidationError as exc:
            await _answer(send, 200, _result(request["id"], str(exc), error=True))
            return
        text = await echo(**arguments)
        await _answer(send, 200, _result(request["id"], text))


def _result(request_id: Any, text: str, *, error: bool = False) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "result": {"content": [{"type": "text", "text": text}], "isError": error},
    }


async def _answer(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": data})


def floor_app() -> Floor:
    return Floor(
        Path(os.environ["BENCH_PEER_PUBLIC_KEY"]).read_text(),
        os.environ["BENCH_PEER_ISSUER"],
        os.environ["BENCH_PEER_AUDIENCE"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run("bench.floor:floor_app", factory=True, port=args.port, **UVICORN_OPTIONS)


if __name__ == "__main__":
    main()
