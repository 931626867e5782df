"""Which OAuth client the console signs people in with, on this server's issuer.

With the embedded dev issuer: its own first-party public client, registered by the host on
the first sign-in (stored like every other client), the dev issuer's endpoints on this server.
With Scalekit or an OIDC issuer: the client the operator registered there and named in
``PLUGHOST_CONSOLE__CLIENT_ID``, the endpoints read from the issuer's metadata. Without one,
there is no client, only the text that tells the operator how to register it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from mcp.shared.auth import OAuthClientInformationFull
from pydantic import AnyUrl, ValidationError

from plughost.auth.issuers import Issuer
from plughost.auth.upstream_metadata import UpstreamMetadata, UpstreamUnavailable
from plughost.console.session import CALLBACK_PATH
from plughost.console.signin import ConsoleClient, Endpoints
from plughost.core.host_scopes import ADMIN_SCOPE
from plughost.devissuer.paths import AUTHORIZE_PATH, TOKEN_PATH
from plughost.devissuer.registration import CONSOLE_CLIENT_ID, CONSOLE_CLIENT_NAME
from plughost.devissuer.store import OAuthStore
from plughost.settings import ConsoleSettings

#: How the client reaches the database: `plughost.console.reads.DatabaseReads`.
Reads = Callable[..., Awaitable[Any]]


def console_client(
    issuer: Issuer,
    settings: ConsoleSettings,
    *,
    public_url: str,
    store: OAuthStore | None,
    reads: Reads,
) -> tuple[ConsoleClient | None, str | None]:
    """The console's client, or None and why it is not configured."""
    redirect_uri = public_url + CALLBACK_PATH
    client = partial(
        ConsoleClient, redirect_uri=redirect_uri, resource=issuer.resource, scope=ADMIN_SCOPE
    )
    if issuer.dev is not None and store is not None:
        return _dev_client(client, public_url, redirect_uri, store, reads), None
    if settings.client_id is None or not issuer.metadata_urls:
        return None, (
            f"The {issuer.kind} issuer signs people in to the console through a client "
            "registered there: register one with the redirect URI "
            f"{redirect_uri} and set PLUGHOST_CONSOLE__CLIENT_ID (and "
            "PLUGHOST_CONSOLE__CLIENT_SECRET if it is confidential)."
        )
    secret = settings.client_secret
    return client(
        client_id=settings.client_id,
        client_secret=secret.get_secret_value() if secret else None,
        endpoints=_upstream_endpoints(UpstreamMetadata(issuer.metadata_urls)),
    ), None


def _dev_client(
    client: Callable[..., ConsoleClient],
    base: str,
    redirect_uri: str,
    store: OAuthStore,
    reads: Reads,
) -> ConsoleClient:
    """The dev issuer's first-party client, registered on its first use; the dev issuer
    matches its one redirect URI exactly (not on any loopback port, as for native clients)."""
    registration = OAuthClientInformationFull(
        client_id=CONSOLE_CLIENT_ID,
        client_name=CONSOLE_CLIENT_NAME,
        redirect_uris=[AnyUrl(redirect_uri)],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code"],
        response_types=["code"],
        scope=ADMIN_SCOPE,
    )
    registered = False

    async def register() -> None:
        nonlocal registered
        if not registered:
            await reads(store.put_client, registration)
            registered = True

    async def endpoints() -> Endpoints:
        return Endpoints(issuer=base, authorize=base + AUTHORIZE_PATH, token=base + TOKEN_PATH)

    return client(
        client_id=CONSOLE_CLIENT_ID, client_secret=None, endpoints=endpoints, register=register
    )


def _upstream_endpoints(upstream: UpstreamMetadata) -> Callable[[], Awaitable[Endpoints]]:
    """The issuer's endpoints, from its (cached) metadata at each sign-in."""

    async def endpoints() -> Endpoints:
        document = await upstream.document()
        try:
            return Endpoints.model_validate(
                {
                    "issuer": document.get("issuer"),
                    "authorize": document.get("authorization_endpoint"),
                    "token": document.get("token_endpoint"),
                }
            )
        except ValidationError:
            raise UpstreamUnavailable(
                "the issuer's metadata names no authorization_endpoint or token_endpoint"
            ) from None

    return endpoints
