"""Which clients may talk to the host at all: an optional allow-list of networks.

The client address is the TCP peer, unless the peer is a configured trusted proxy: then it is
the right-most address in ``X-Forwarded-For`` that is not itself a trusted proxy. A header from
anyone else is ignored, so a client cannot claim an allowed address by sending one.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(cidrs: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def _inside(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(scope: Scope, trusted: list[Network]) -> str | None:
    peer = (scope.get("client") or (None, None))[0]
    if peer is None or not _inside(peer, trusted):
        return peer
    forwarded = [
        part.strip()
        for key, value in scope.get("headers", [])
        if key == b"x-forwarded-for"
        for part in value.decode("latin-1").split(",")
    ]
    for hop in reversed(forwarded):
        if not _inside(hop, trusted):
            return hop
    return peer


class NetworkAllowList:
    def __init__(
        self, app: ASGIApp, *, allowed: Sequence[str], trusted_proxies: Sequence[str]
    ) -> None:
        self.app = app
        self.allowed = _networks(allowed)
        self.trusted = _networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.allowed:
            await self.app(scope, receive, send)
            return
        address = client_address(scope, self.trusted)
        if address is not None and _inside(address, self.allowed):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"error": "forbidden", "error_description": "client network not allowed"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
