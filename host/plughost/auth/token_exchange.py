"""On-behalf-of tokens for plugins: OAuth 2.0 Token Exchange (RFC 8693) at the issuer.

A plugin asks, through `ToolContext.token_for`, for a token meant for another API. The host
checks the request against what the operator allowed that plugin (before any network call),
then posts the caller's own token as the ``subject_token`` to the issuer's token endpoint,
authenticated as the host's own client, and hands the plugin only the token it gets back.

Tokens are kept in memory (a cache of short-lived tokens, per replica) under the SHA-256 of the
subject token, the plugin, the audience and the scopes, until `expiry_margin_seconds` before
they expire; concurrent identical requests share one exchange. Every exchange has one deadline
covering discovery and the request, so an issuer that is down or slow fails the calling tool
with `TokenExchangeUnavailable`, never a hang. No token is ever logged or put in an error.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import anyio
import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from plughost.auth.issuers import Issuer
from plughost.auth.upstream_metadata import UpstreamMetadata, UpstreamUnavailable
from plughost.errors import SettingsError
from plughost.ops.loopback import is_loopback
from plughost.sdk.credentials import DownstreamToken
from plughost.sdk.errors import (
    TokenExchangeDenied,
    TokenExchangeRefused,
    TokenExchangeUnavailable,
)
from plughost.settings import ENV_PREFIX, TokenExchangeSettings

log = logging.getLogger("plughost.auth.exchange")

MAX_RESPONSE_BYTES = 64 * 1024
#: An OAuth error code as RFC 6749 §5.2 allows it; anything else is not repeated to anyone.
_ERROR_CODE = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}")
SETTING = f"{ENV_PREFIX}TOKEN_EXCHANGE"
#: RFC 8693's names: the grant, and the token types this client sends and asks for (an
#: issuer, the embedded dev one too, answers with the same names).
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"

CacheKey = tuple[str, str, str, tuple[str, ...]]


class _IssuerAnswer(BaseModel):
    """A successful token response (RFC 8693 §2.2.1), as far as the host reads it."""

    access_token: str
    token_type: str
    expires_in: int | None = None
    scope: str | None = None
    issued_token_type: str | None = None


@dataclass(frozen=True)
class ExchangeClient:
    """The host's own client at the issuer, and how it authenticates."""

    client_id: str
    client_secret: SecretStr
    method: str = "client_secret_basic"

    def apply(self, form: dict[str, str], headers: dict[str, str]) -> None:
        if self.method == "client_secret_post":
            form["client_id"] = self.client_id
            form["client_secret"] = self.client_secret.get_secret_value()
            return
        # RFC 6749 §2.3.1: each part form-urlencoded before Basic encoding.
        secret = self.client_secret.get_secret_value()
        pair = f"{quote(self.client_id, safe='')}:{quote(secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()


class TokenExchanger:
    """Exchanges, caches and shares downstream tokens for every plugin of this replica."""

    def __init__(
        self,
        settings: TokenExchangeSettings,
        *,
        client: ExchangeClient | None,
        endpoint: Callable[[], Awaitable[str]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.client = client
        self._endpoint = endpoint
        self._clock = clock
        self._cache: OrderedDict[CacheKey, tuple[DownstreamToken, float]] = OrderedDict()
        self._inflight: dict[CacheKey, asyncio.Future[DownstreamToken]] = {}

    def source(self, plugin: str, subject: SecretStr | None) -> BoundTokenSource:
        """What one call's `ToolContext` gets: exchanges for ``plugin``, as ``subject``."""
        return BoundTokenSource(self, plugin, subject)

    async def exchange(
        self, plugin: str, subject: SecretStr | None, audience: str, scopes: Sequence[str]
    ) -> DownstreamToken:
        """A token for ``audience`` with ``scopes``, from the cache or the issuer."""
        wanted = tuple(sorted(set(scopes)))
        self._vet(plugin, audience, wanted)
        if subject is None:
            raise TokenExchangeRefused(
                "this call carries no bearer token to exchange", plugin=plugin, audience=audience
            )
        digest = hashlib.sha256(subject.get_secret_value().encode()).hexdigest()
        key = (digest, plugin, audience, wanted)
        cached = self._cache.get(key)
        if cached is not None:
            token, fresh_until = cached
            if self._clock() < fresh_until:
                self._cache.move_to_end(key)
                return token
            del self._cache[key]
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(key, subject, plugin, audience, wanted))
            self._inflight[key] = pending
            pending.add_done_callback(lambda done: self._settled(key, done))
        return await asyncio.shield(pending)

    def _settled(self, key: CacheKey, done: asyncio.Future[DownstreamToken]) -> None:
        self._inflight.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved here, so an abandoned failure is not logged as lost

    def _vet(self, plugin: str, audience: str, scopes: tuple[str, ...]) -> None:
        """Refuse, before any network call, what the operator did not allow this plugin."""
        section = f"{SETTING}__PLUGINS__{plugin.upper()}"
        if not self.settings.enabled:
            raise TokenExchangeRefused(
                "token exchange is off on this server (the operator turns it on with "
                f"{SETTING}__ENABLED=true)",
                plugin=plugin,
                audience=audience,
            )
        grant = self.settings.plugins.get(plugin)
        if grant is None:
            raise TokenExchangeRefused(
                f"plugin {plugin} may not get tokens for other APIs (the operator allows it "
                f"with {section}__AUDIENCES and {section}__SCOPES)",
                plugin=plugin,
                audience=audience,
            )
        if not isinstance(audience, str) or audience not in grant.audiences:
            raise TokenExchangeRefused(
                f"plugin {plugin} may not get tokens for audience {audience!r} (the operator "
                f"lists the allowed ones in {section}__AUDIENCES)",
                plugin=plugin,
                audience=audience,
            )
        refused = [scope for scope in scopes if scope not in grant.scopes]
        if refused:
            raise TokenExchangeRefused(
                f"plugin {plugin} may not ask for scope(s) {' '.join(refused)} (the operator "
                f"lists the allowed ones in {section}__SCOPES)",
                plugin=plugin,
                audience=audience,
                scopes=refused,
            )

    async def _fetch(
        self,
        key: CacheKey,
        subject: SecretStr,
        plugin: str,
        audience: str,
        scopes: tuple[str, ...],
    ) -> DownstreamToken:
        timeout = self.settings.timeout_seconds
        try:
            with anyio.fail_after(timeout):
                answer = await self._request(subject, audience, scopes)
        except TimeoutError:
            log.warning("token exchange for plugin %s (%s) timed out", plugin, audience)
            raise TokenExchangeUnavailable(
                f"the issuer did not answer the token exchange for {audience} within "
                f"{timeout}s; try again later",
                audience=audience,
            ) from None
        token = DownstreamToken(
            access_token=SecretStr(answer.access_token),
            token_type=answer.token_type,
            audience=audience,
            scopes=tuple(answer.scope.split()) if answer.scope is not None else scopes,
            expires_at=(
                datetime.now(UTC) + timedelta(seconds=answer.expires_in)
                if answer.expires_in is not None
                else None
            ),
        )
        log.info("token exchanged for plugin %s, audience %s", plugin, audience)
        self._keep(key, token, answer.expires_in)
        return token

    def _keep(self, key: CacheKey, token: DownstreamToken, lifetime: int | None) -> None:
        margin = self.settings.expiry_margin_seconds
        if lifetime is None or lifetime <= margin or self.settings.cache_size == 0:
            return
        self._cache[key] = (token, self._clock() + lifetime - margin)
        while len(self._cache) > self.settings.cache_size:
            self._cache.popitem(last=False)

    async def _request(
        self, subject: SecretStr, audience: str, scopes: tuple[str, ...]
    ) -> _IssuerAnswer:
        client = self.client
        assert client is not None, "build_exchanger refuses exchange without a client"
        try:
            endpoint = await self._endpoint()
        except UpstreamUnavailable:
            raise TokenExchangeUnavailable(
                "the issuer's token endpoint could not be discovered; try again later",
                audience=audience,
            ) from None
        form = {
            "grant_type": GRANT_TYPE,
            "subject_token": subject.get_secret_value(),
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            self.settings.target_parameter: audience,
        }
        if scopes:
            form["scope"] = " ".join(scopes)
        headers = {"Accept": "application/json"}
        client.apply(form, headers)
        try:
            async with httpx.AsyncClient(
                timeout=self.settings.timeout_seconds, follow_redirects=False
            ) as http:
                response = await http.post(endpoint, data=form, headers=headers)
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.HTTPError as exc:
            log.warning("token exchange: the issuer could not be reached: %s", type(exc).__name__)
            raise TokenExchangeUnavailable(
                f"the issuer could not be reached for a token for {audience} "
                f"({type(exc).__name__}); try again later",
                audience=audience,
            ) from None
        return self._read(response, audience)

    def _read(self, response: httpx.Response, audience: str) -> _IssuerAnswer:
        """The issuer's answer: a token, its OAuth error code, or nonsense. Only the error
        code is repeated: an issuer's description or body may echo what was sent."""
        body: object = None
        if len(response.content) <= MAX_RESPONSE_BYTES:
            try:
                body = response.json()
            except ValueError:
                body = None
        if response.status_code == 200 and isinstance(body, dict):
            try:
                return _IssuerAnswer.model_validate(body)
            except ValidationError:
                pass
        elif response.status_code in (400, 401, 403) and isinstance(body, dict):
            error = body.get("error")
            code = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else None
            if code is not None:
                if code == "invalid_client":
                    log.warning(
                        "token exchange: the issuer refused the host's client credentials "
                        "(%s__CLIENT_ID, __CLIENT_SECRET, __CLIENT_AUTH)",
                        SETTING,
                    )
                else:
                    log.info("token exchange for %s refused by the issuer: %s", audience, code)
                raise TokenExchangeDenied(
                    f"the issuer refused a token for {audience}: {code}",
                    audience=audience,
                    issuer_error=code,
                )
        log.warning("token exchange: the issuer answered HTTP %d", response.status_code)
        raise TokenExchangeUnavailable(
            f"the issuer's answer to the token exchange for {audience} was not usable "
            f"(HTTP {response.status_code}); try again later",
            audience=audience,
            status=response.status_code,
        )


class BoundTokenSource:
    """`TokenSource` for one call: the caller's token stays here, out of the plugin's way."""

    __slots__ = ("_exchanger", "_plugin", "_subject")

    def __init__(self, exchanger: TokenExchanger, plugin: str, subject: SecretStr | None) -> None:
        self._exchanger = exchanger
        self._plugin = plugin
        self._subject = subject

    async def token_for(self, audience: str, scopes: Sequence[str]) -> DownstreamToken:
        return await self._exchanger.exchange(self._plugin, self._subject, audience, scopes)

    def __repr__(self) -> str:
        return f"TokenSource(plugin={self._plugin!r})"


def build_exchanger(settings: TokenExchangeSettings, issuer: Issuer) -> TokenExchanger:
    """The exchanger for ``issuer``: the dev issuer's own client and endpoint unless set,
    otherwise the configured client and the endpoint set or read from the issuer's metadata."""
    client_id = settings.client_id
    secret = settings.client_secret
    if issuer.dev is not None:
        client_id = client_id or issuer.dev.client_id
        secret = secret or SecretStr(issuer.dev.client_secret)
    elif settings.enabled and not (client_id and secret):
        raise SettingsError(
            f"{SETTING}__CLIENT_ID and {SETTING}__CLIENT_SECRET are needed for token exchange "
            f"with the {issuer.kind} issuer"
        )
    client = (
        ExchangeClient(client_id, secret, settings.client_auth) if client_id and secret else None
    )
    if settings.token_endpoint:
        _check_endpoint(settings.token_endpoint)
        fixed = settings.token_endpoint

        async def endpoint() -> str:
            return fixed

    elif issuer.dev is not None:
        local = f"{str(issuer.issuer_url).rstrip('/')}{issuer.dev.token_path}"

        async def endpoint() -> str:
            return local

    else:
        metadata = UpstreamMetadata(issuer.metadata_urls)

        async def endpoint() -> str:
            found = (await metadata.document()).get("token_endpoint")
            if not isinstance(found, str):
                raise UpstreamUnavailable("the issuer's metadata names no token_endpoint")
            try:
                _check_endpoint(found)
            except SettingsError as exc:
                raise UpstreamUnavailable(str(exc)) from None
            return found

    return TokenExchanger(settings, client=client, endpoint=endpoint)


def _check_endpoint(url: str) -> None:
    """Caller tokens and the host's secret cross this hop: https, except on loopback."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname)):
        return
    raise SettingsError(
        f"{SETTING}__TOKEN_ENDPOINT {url!r} must be an https:// URL (or http:// on loopback)"
    )
