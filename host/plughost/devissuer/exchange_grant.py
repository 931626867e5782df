"""The dev issuer's side of OAuth 2.0 Token Exchange (RFC 8693), so the host's on-behalf-of
tokens work and are tested offline.

The rules are those a real issuer would be configured with: only the host's own client (the
generated dev client) may exchange; the subject token must be an unexpired access token this
issuer signed for the MCP server; the audience and scopes must be ones the operator allowed
some plugin (``PLUGHOST_TOKEN_EXCHANGE__PLUGINS__*``). The new token is a JWT for that
audience with the subject's ``sub`` and tenant, an ``act`` claim naming the acting client
(§4.1), and a lifetime no longer than what the subject token has left. Refusals are the
RFC 6749 §5.2 / RFC 8693 §2.2.2 JSON errors; a revoked subject token is refused as the resource
server refuses it. The protocol's names are the client's
(`plughost.auth.token_exchange`): both sides of the exchange speak the same RFC.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from mcp.server.auth.middleware.client_auth import AuthenticationError, ClientAuthenticator
from starlette.datastructures import FormData
from starlette.requests import Request

from plughost.auth.token_exchange import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE
from plughost.devissuer.keys import DEV_TENANT, TENANT_CLAIM, InvalidDevToken

if TYPE_CHECKING:
    from plughost.devissuer.server import DevAuthorizationServer

log = logging.getLogger("plughost.auth.dev")


class ExchangeRefusal(Exception):
    """An exchange refused, as the token endpoint answers it (RFC 6749 §5.2)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


async def exchange(
    server: DevAuthorizationServer,
    authenticator: ClientAuthenticator,
    request: Request,
    form: FormData,
    client: tuple[str | None, str | None],
) -> dict[str, Any]:
    """The token response to one exchange request, or `ExchangeRefusal`; ``client`` is the
    client id and secret the request authenticated with. Checked in this order: the client,
    the form, the audience, the subject token, the audience's and scopes' allowance."""
    client_id = await _acting_client(server, authenticator, request, client)
    problem = _malformed(form)
    if problem:
        raise ExchangeRefusal(400, "invalid_request", problem)
    audience = _audience(form)
    subject = _subject(server, str(form["subject_token"]))
    if await server.is_revoked(subject):
        raise ExchangeRefusal(400, "invalid_grant", "subject_token was revoked")
    scopes = _scopes(server, audience, form)
    ttl = min(server.options.access_ttl, int(subject["exp"]) - int(time.time()))
    if ttl <= 0:
        raise ExchangeRefusal(400, "invalid_grant", "subject_token has expired")
    token = server.dev.mint(
        issuer=server.issuer,
        audience=audience,
        scopes=scopes,
        subject=str(subject.get("sub")),
        tenant=str(subject.get(TENANT_CLAIM, DEV_TENANT)),
        ttl=ttl,
        client_id=client_id,
        # The sign-in goes with it: revoking the sign-in names the exchanged tokens too.
        extra={"act": {"sub": client_id}, **({"sid": subject["sid"]} if "sid" in subject else {})},
    )
    log.info("token exchanged for subject %s, audience %s", subject.get("sub"), audience)
    return {
        "access_token": token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": " ".join(scopes),
    }


async def _acting_client(
    server: DevAuthorizationServer,
    authenticator: ClientAuthenticator,
    request: Request,
    client: tuple[str | None, str | None],
) -> str:
    """The generated dev client's id; any other client, even a registered one, is refused."""
    client_id, secret = client
    if client_id is None or secret is None:
        raise ExchangeRefusal(401, "invalid_client", "client authentication is required")
    if server.dev.check_secret(client_id, secret):
        return client_id
    try:
        await authenticator.authenticate_request(request)
    except AuthenticationError:
        raise ExchangeRefusal(401, "invalid_client", "client authentication failed") from None
    raise ExchangeRefusal(400, "unauthorized_client", f"client {client_id} may not exchange tokens")


def _malformed(form: FormData) -> str | None:
    if not form.get("subject_token"):
        return "subject_token is missing"
    if form.get("subject_token_type") not in (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
        return f"subject_token_type must be {ACCESS_TOKEN_TYPE}"
    if form.get("actor_token"):
        return "actor_token is not supported; the authenticated client is the actor"
    requested = form.get("requested_token_type")
    if requested and requested != ACCESS_TOKEN_TYPE:
        return f"requested_token_type must be {ACCESS_TOKEN_TYPE}"
    return None


def _audience(form: FormData) -> str:
    """The one audience (or resource, RFC 8693 allows either) the new token is for."""
    targets = {str(v) for name in ("audience", "resource") for v in form.getlist(name) if v}
    if len(targets) != 1:
        raise ExchangeRefusal(
            400,
            "invalid_request" if not targets else "invalid_target",
            "name exactly one audience (or resource) for the new token",
        )
    return targets.pop()


def _subject(server: DevAuthorizationServer, token: str) -> dict[str, Any]:
    """The subject token's claims: this issuer's, unexpired, and for this MCP server."""
    try:
        subject = server.dev.decode(token, issuer=server.issuer)
    except InvalidDevToken:
        raise ExchangeRefusal(
            400, "invalid_grant", "subject_token is not a valid, unexpired token of this issuer"
        ) from None
    granted_to = subject.get("aud")
    if server.resource not in (granted_to if isinstance(granted_to, list) else [granted_to]):
        raise ExchangeRefusal(
            400, "invalid_grant", "subject_token was not issued for this MCP server"
        )
    return subject


def _scopes(server: DevAuthorizationServer, audience: str, form: FormData) -> list[str]:
    """The scopes asked for, each one the operator allows some plugin on ``audience``."""
    allowed = server.options.exchange_targets.get(audience)
    if allowed is None:
        raise ExchangeRefusal(
            400, "invalid_target", f"tokens for {audience} are not exchanged here"
        )
    scopes = list(dict.fromkeys(str(form.get("scope") or "").split()))
    refused = [scope for scope in scopes if scope not in allowed]
    if refused:
        raise ExchangeRefusal(400, "invalid_scope", f"scope(s) {' '.join(refused)} not allowed")
    return scopes
