"""The HTTP answer to each verdict of the call policy: one place for every refusal's shape.

| verdict | status | body |
| --- | --- | --- |
| `Unauthenticated` | 401 + RFC 6750 challenge | OAuth error (empty when no token was sent) |
| `IssuerUnavailable` | 503 + ``Retry-After`` | OAuth ``temporarily_unavailable`` |
| `MissingScopes` | 403 + ``insufficient_scope`` challenge | JSON-RPC error -32003 |
| `DeniedByRule` | 403 | JSON-RPC error -32005 |
| `RateLimited` | 429 + ``Retry-After`` | JSON-RPC error -32029 |
| `LimitsUnavailable` | 503 + ``Retry-After`` | JSON-RPC error -32004 |
| `TargetUnavailable` | 503 + ``Retry-After`` | JSON-RPC error -32004 (an upstream gave no answer) |
| `UnknownTarget` | 200 | JSON-RPC error -32602 (a resource: -32002, not found) |
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import Send

from plughost.core import verdicts
from plughost.edge.asgi import (
    DENIED_BY_RULE,
    INSUFFICIENT_SCOPE,
    INVALID_PARAMS,
    RATE_LIMITED,
    RESOURCE_NOT_FOUND,
    UNAVAILABLE,
    jsonrpc_error,
    send_json,
)

#: What FastMCP's bearer middleware says of a refused token, kept word for word for clients
#: that show it.
INVALID_TOKEN_HELP = (
    "Authentication failed. The provided bearer token is invalid, expired, or no longer "
    "recognized by the server. To resolve: clear authentication tokens in your MCP client and "
    "reconnect. Your client should automatically re-register and obtain new tokens."
)

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Answers:
    """Answers verdicts for one server: its metadata URL and the scopes a 401 asks for."""

    resource_metadata_url: str
    challenge_scopes: Callable[[], list[str]]

    async def send(self, send: Send, verdict: verdicts.Refused, request_id: Any = None) -> None:
        """Send the HTTP answer to ``verdict`` for the JSON-RPC request ``request_id``."""
        if isinstance(verdict, verdicts.Unauthenticated):
            await self._unauthenticated(send, verdict)
            return
        status, body, headers = self._answer(verdict, request_id)
        await send_json(send, status, body, headers)

    def body(self, verdict: verdicts.Refused, request_id: Any) -> bytes:
        """The JSON-RPC error of ``verdict`` alone, for an answer already under way as an
        event stream (its status was sent with the first progress or log message)."""
        _, body, _ = self._answer(verdict, request_id)
        return json.dumps(body, separators=(",", ":")).encode()

    def _answer(self, verdict: verdicts.Refused, rid: Any) -> tuple[int, dict[str, Any], Headers]:
        if isinstance(verdict, verdicts.MissingScopes):
            return 403, _scope_error(verdict, rid), [(b"www-authenticate", self._step_up(verdict))]
        if isinstance(verdict, verdicts.DeniedByRule):
            text = f"{verdict.target} refused by rule {verdict.rule}: {verdict.reason}"
            data: dict[str, Any] = {
                verdict.kind: verdict.target,
                "rule": verdict.rule,
                "reason": verdict.reason,
            }
            return 403, jsonrpc_error(rid, DENIED_BY_RULE, text, data), []
        if isinstance(verdict, verdicts.RateLimited):
            text = f"rate limit reached for {verdict.target}; retry later"
            data = {verdict.kind: verdict.target, "retry_after": verdict.retry_after}
            return 429, jsonrpc_error(rid, RATE_LIMITED, text, data), _retry(verdict.retry_after)
        if isinstance(verdict, verdicts.LimitsUnavailable):
            text = "the server cannot check rate limits right now; retry shortly"
            data = {"retry_after": verdict.retry_after}
            return 503, jsonrpc_error(rid, UNAVAILABLE, text, data), _retry(verdict.retry_after)
        if isinstance(verdict, verdicts.TargetUnavailable):
            text = f"{verdict.target} is unavailable ({verdict.reason}); retry shortly"
            data = {
                verdict.kind: verdict.target,
                "plugin": verdict.plugin,
                "retry_after": verdict.retry_after,
            }
            return 503, jsonrpc_error(rid, UNAVAILABLE, text, data), _retry(verdict.retry_after)
        if isinstance(verdict, verdicts.IssuerUnavailable):
            body = {
                "error": "temporarily_unavailable",
                "error_description": "the token issuer cannot be reached to check tokens; "
                "retry shortly",
            }
            return 503, body, _retry(verdict.retry_after)
        if isinstance(verdict, verdicts.UnknownTarget):
            return 200, _unknown(verdict, rid), []
        raise TypeError(f"no HTTP answer for {type(verdict).__name__}")

    async def _unauthenticated(self, send: Send, verdict: verdicts.Unauthenticated) -> None:
        """401 with the challenge: no error when no token was sent (RFC 6750 §3.1), the
        baseline scopes whenever the client is asked to sign in."""
        parts = []
        if verdict.error is not None:
            description = verdict.description or INVALID_TOKEN_HELP
            parts += [f'error="{verdict.error}"', f'error_description="{description}"']
        scopes = self.challenge_scopes() if verdict.error != "invalid_request" else []
        if scopes:
            parts.append(f'scope="{" ".join(scopes)}"')
        parts.append(f'resource_metadata="{self.resource_metadata_url}"')
        challenge = [(b"www-authenticate", ("Bearer " + ", ".join(parts)).encode())]
        if verdict.error is None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-length", b"0"), *challenge],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        body = {"error": verdict.error, "error_description": description}
        await send_json(send, 401, body, challenge)

    def _step_up(self, verdict: verdicts.MissingScopes) -> bytes:
        """The ``insufficient_scope`` challenge: its ``scope`` is what the token already has
        plus what the call needs, so a client that replaces its scopes on step-up (rather
        than adding) keeps what it had."""
        scopes = " ".join(dict.fromkeys([*verdict.granted, *verdict.required]))
        return (
            f'Bearer error="insufficient_scope", scope="{scopes}", '
            f'resource_metadata="{self.resource_metadata_url}", '
            f'error_description="the token lacks scope(s) {" ".join(verdict.missing)}"'
        ).encode()


def _scope_error(verdict: verdicts.MissingScopes, rid: Any) -> dict[str, Any]:
    missing = list(verdict.missing)
    return jsonrpc_error(
        rid,
        INSUFFICIENT_SCOPE,
        f"insufficient scope for {verdict.target}: missing {' '.join(missing)}",
        {verdict.kind: verdict.target, "required": list(verdict.required), "missing": missing},
    )


def _unknown(verdict: verdicts.UnknownTarget, rid: Any) -> dict[str, Any]:
    """A name no loaded plugin serves: say whether its plugin failed to load. A resource
    nobody serves is the spec's "resource not found" (-32002)."""
    kind, name = verdict.kind, verdict.name
    code = RESOURCE_NOT_FOUND if kind == "resource" else INVALID_PARAMS
    if verdict.plugin is None:
        text = "Resource not found" if kind == "resource" else f"Unknown {kind}: {name!r}"
        return jsonrpc_error(rid, code, text, {"uri" if kind == "resource" else kind: name})
    text = f"{kind} {name!r} belongs to plugin {verdict.plugin!r}, which is not loaded here"
    data = {kind: name, "plugin": verdict.plugin, "reason": "plugin not loaded"}
    return jsonrpc_error(rid, code, text, data)


def _retry(seconds: float) -> Headers:
    return [(b"retry-after", str(int(seconds)).encode())]
