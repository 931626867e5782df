"""Issuer presets: turn the auth settings into what the verifier and the metadata need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from plughost.auth.dev_issuer import JWKS_PATH, TENANT_CLAIM, DevIssuer
from plughost.auth.jwks import JWKSCache
from plughost.auth.verifier import TokenVerifier, VerifierConfig
from plughost.edge.asgi import MCP_PATH
from plughost.errors import SettingsError
from plughost.settings import AuthSettings


@dataclass
class Issuer:
    """Everything the resource server knows about the one issuer it trusts."""

    kind: str
    resource: str
    authorization_servers: list[str]
    verifier: TokenVerifier
    dev: DevIssuer | None = None
    issuer_url: str | None = None

    @property
    def keys(self) -> JWKSCache:
        return self.verifier.keys


def resolve_issuer(
    settings: AuthSettings,
    *,
    data_dir: Path,
    public_url: str,
    on_jwks_fetch: Callable[[bool], None] | None = None,
) -> Issuer:
    """Build the issuer a preset describes; ``public_url`` is the server's base URL."""
    base = public_url.rstrip("/")
    resource = base + MCP_PATH
    keys_kwargs: dict[str, Any] = {
        "refresh_seconds": settings.jwks_refresh_seconds,
        "min_refetch_seconds": settings.jwks_min_refetch_seconds,
        "on_fetch": on_jwks_fetch,
    }
    if settings.issuer == "dev":
        dev = DevIssuer(data_dir)
        issuers = [base]
        audiences = settings.audience or [resource]
        keys = JWKSCache(base + JWKS_PATH, **keys_kwargs)
        servers = [base]
        tenant_claim = settings.tenant_claim or TENANT_CLAIM
        issuer_url = base
    elif settings.issuer == "scalekit":
        env = str(settings.scalekit_environment_url).rstrip("/")
        rid = str(settings.scalekit_resource_id)
        dev = None
        issuers = [env, f"{env}/resources/{rid}"]
        audiences = settings.audience or [rid, resource]
        keys = JWKSCache(f"{env}/keys", **keys_kwargs)
        servers = [f"{env}/resources/{rid}"]
        tenant_claim = settings.tenant_claim or "oid"
        issuer_url = env
    else:
        issuer_url = str(settings.issuer_url).rstrip("/")
        dev = None
        issuers = [str(settings.issuer_url)]
        audiences = settings.audience or [resource]
        keys = JWKSCache(
            settings.jwks_uri, discover=lambda: discover_jwks_uri(issuer_url), **keys_kwargs
        )
        servers = [issuer_url]
        tenant_claim = settings.tenant_claim or "org_id"
    if not audiences:
        raise SettingsError("PLUGHOST_AUTH__AUDIENCE: at least one audience is needed")
    config = VerifierConfig(
        issuers=tuple(dict.fromkeys([*issuers, *settings.extra_issuers])),
        audiences=tuple(audiences),
        algorithms=tuple(settings.algorithms),
        leeway=settings.leeway_seconds,
        max_token_bytes=settings.max_token_bytes,
        tenant_claim=tenant_claim,
        default_tenant=settings.default_tenant,
        passthrough_claims=tuple(settings.passthrough_claims),
    )
    return Issuer(
        kind=settings.issuer,
        resource=resource,
        authorization_servers=servers,
        verifier=TokenVerifier(config, keys),
        dev=dev,
        issuer_url=issuer_url,
    )


async def discover_jwks_uri(issuer_url: str) -> str:
    """Read ``jwks_uri`` from the issuer's OpenID or OAuth metadata document."""
    candidates = [
        f"{issuer_url}/.well-known/openid-configuration",
        f"{issuer_url}/.well-known/oauth-authorization-server",
    ]
    errors = []
    async with httpx.AsyncClient(timeout=5.0) as client:
        for url in candidates:
            try:
                response = await client.get(url)
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                errors.append(f"{url}: {type(exc).__name__}")
                continue
            if document.get("issuer", "").rstrip("/") != issuer_url:
                errors.append(f"{url}: issuer {document.get('issuer')!r} does not match")
                continue
            if isinstance(document.get("jwks_uri"), str):
                return document["jwks_uri"]
            errors.append(f"{url}: no jwks_uri")
    raise LookupError("could not discover the JWKS URI: " + "; ".join(errors))
