"""Client authentication at the dev issuer's token and revocation endpoints.

RFC 6749 §2.3.1: an authorization server must take a client's id and secret in HTTP Basic
(each part form-urlencoded), and may take them in the form. The SDK's authenticator insists
on ``client_id`` in the form and on the one method the client registered; this one takes
either place for any confidential client, the id from Basic alone included, and refuses a
form ``client_id`` that differs from the Basic one.

Wrong secrets are throttled (`SecretThrottle`): after ``limit`` failures in a minute for one
client id, or from one address, both are refused with `Throttled` (HTTP 429, Retry-After)
until the minute has passed, whatever secret is sent, so a secret cannot be guessed at speed.
The counts are per process (a replica's own), kept for a minute, and bounded in number.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlencode

from mcp.server.auth.middleware.client_auth import AuthenticationError, ClientAuthenticator
from mcp.server.auth.provider import OAuthAuthorizationServerProvider
from mcp.shared.auth import OAuthClientInformationFull
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.types import Message

WINDOW_SECONDS = 60.0
#: Clients and addresses whose failures are remembered at once; the oldest go first.
MAX_TRACKED = 10_000


class Throttled(Exception):
    """Too many wrong secrets for this client or from this address: wait ``retry_after``."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed client authentications; retry in {retry_after}s")
        self.retry_after = retry_after


class SecretThrottle:
    """Failed client authentications per client id and per address, over the last minute."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def check(self, client_id: str | None, address: str) -> None:
        """Raise `Throttled` when the client or the address failed too often lately."""
        now = self._clock()
        waits = [self._wait(key, now) for key in _keys(client_id, address)]
        longest = max(waits)
        if longest > 0:
            raise Throttled(math.ceil(longest))

    def failed(self, client_id: str | None, address: str) -> None:
        now = self._clock()
        for key in _keys(client_id, address):
            self._failures.setdefault(key, deque()).append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)

    def _wait(self, key: tuple[str, str], now: float) -> float:
        times = self._failures.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - WINDOW_SECONDS:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0
        return times[0] + WINDOW_SECONDS - now if len(times) >= self.limit else 0


def _keys(client_id: str | None, address: str) -> list[tuple[str, str]]:
    return [("address", address), *([("client", client_id)] if client_id else [])]


def address_of(request: Request) -> str:
    return request.client.host if request.client else ""


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """Client id and secret from an HTTP Basic header (URL-decoded), None without one;
    `AuthenticationError` for a header that is not valid Basic."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        raw = base64.b64decode(header[6:], validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise AuthenticationError("invalid HTTP Basic authentication header") from None
    client_id, colon, secret = raw.partition(":")
    if not colon:
        raise AuthenticationError("invalid HTTP Basic authentication header")
    return unquote(client_id), unquote(secret)


def offered(request: Request, form: FormData) -> tuple[str | None, str | None]:
    """The client id and secret a request offers, from Basic or else the form."""
    basic = basic_credentials(request)
    form_id = form.get("client_id")
    if basic is not None:
        if isinstance(form_id, str) and form_id and form_id != basic[0]:
            raise AuthenticationError("client_id in the form differs from the one in Basic")
        return basic[0] or None, basic[1] or None
    secret = form.get("client_secret")
    return (
        form_id if isinstance(form_id, str) and form_id else None,
        secret if isinstance(secret, str) and secret else None,
    )


class ClientAuth(ClientAuthenticator):
    """The SDK's authenticator, taking credentials from Basic or the form (RFC 6749 §2.3.1)
    for any confidential client, behind the wrong-secret throttle."""

    def __init__(
        self, provider: OAuthAuthorizationServerProvider[Any, Any, Any], throttle: SecretThrottle
    ) -> None:
        super().__init__(provider)
        self.throttle = throttle

    async def authenticate_request(self, request: Request) -> OAuthClientInformationFull:
        client_id, secret = offered(request, await request.form())
        if client_id is None:
            raise AuthenticationError("client_id is missing (send it in the form or HTTP Basic)")
        address = address_of(request)
        self.throttle.check(client_id, address)
        client = await self.provider.get_client(client_id)
        if client is None:
            self.throttle.failed(client_id, address)
            raise AuthenticationError("unknown client_id")
        if client.token_endpoint_auth_method == "none" and not client.client_secret:
            return client
        if not client.client_secret:
            raise AuthenticationError("the client is registered for a secret but has none")
        if secret is None:
            raise AuthenticationError("the client secret is required")
        if not hmac.compare_digest(client.client_secret.encode(), secret.encode()):
            self.throttle.failed(client_id, address)
            raise AuthenticationError("invalid client secret")
        expires = client.client_secret_expires_at
        if expires and expires < int(time.time()):
            raise AuthenticationError("the client secret has expired")
        return client


async def with_client_id(request: Request) -> Request:
    """The request, with the Basic client id also in its form when the form lacks one (the
    SDK's token handler reads the form's)."""
    basic = basic_credentials(request)
    form = await request.form()
    if basic is None or form.get("client_id"):
        return request
    items = [(name, str(value)) for name, value in form.multi_items()]
    body = urlencode([*items, ("client_id", basic[0])]).encode()
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-length"]
    scope = {**request.scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
    return Request(scope, receive)
