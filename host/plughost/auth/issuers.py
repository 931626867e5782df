"""Issuer presets: turn the auth settings into what the verifier and the metadata need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from plughost.auth.dev_issuer import JWKS_PATH, TENANT_CLAIM, DevIssuer
from plughost.auth.jwks import JWKSCache
from plughost.auth.upstream_metadata import metadata_urls
from plughost.auth.verifier import TokenVerifier, VerifierConfig
from plughost.errors import SettingsError
from plughost.settings import MCP_PATH, AuthSettings


@dataclass
class Issuer:
    """Everything the resource server knows about the one issuer it trusts."""

    kind: str
    resource: str
    authorization_servers: list[str]
    verifier: TokenVerifier
    dev: DevIssuer | None = None
    issuer_url: str | None = None
    #: Where a real issuer's authorization-server metadata is, to answer on our own origin.
    metadata_urls: list[str] = field(default_factory=list)

    @property
    def keys(self) -> JWKSCache:
        return self.verifier.keys


@dataclass(frozen=True)
class _Preset:
    """What one kind of issuer means for the verifier and the metadata."""

    issuers: list[str]
    audiences: list[str]
    jwks_uri: str | None
    servers: list[str]
    tenant_claim: str
    issuer_url: str
    metadata_urls: list[str]


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
    preset = _PRESETS[settings.issuer](settings, base, resource)
    if not preset.audiences:
        raise SettingsError("PLUGHOST_AUTH__AUDIENCE: at least one audience is needed")
    issuer_url = preset.issuer_url
    keys = JWKSCache(
        preset.jwks_uri,
        discover=None if preset.jwks_uri else (lambda: discover_jwks_uri(issuer_url)),
        refresh_seconds=settings.jwks_refresh_seconds,
        min_refetch_seconds=settings.jwks_min_refetch_seconds,
        on_fetch=on_jwks_fetch,
    )
    config = VerifierConfig(
        issuers=tuple(dict.fromkeys([*preset.issuers, *settings.extra_issuers])),
        audiences=tuple(preset.audiences),
        algorithms=tuple(settings.algorithms),
        leeway=settings.leeway_seconds,
        max_token_bytes=settings.max_token_bytes,
        tenant_claim=preset.tenant_claim,
        default_tenant=settings.default_tenant,
        passthrough_claims=tuple(settings.passthrough_claims),
    )
    return Issuer(
        kind=settings.issuer,
        resource=resource,
        authorization_servers=preset.servers,
        verifier=TokenVerifier(config, keys),
        dev=DevIssuer(data_dir) if settings.issuer == "dev" else None,
        issuer_url=issuer_url,
        metadata_urls=preset.metadata_urls,
    )


def _dev(settings: AuthSettings, base: str, resource: str) -> _Preset:
    return _Preset(
        issuers=[base],
        audiences=settings.audience or [resource],
        jwks_uri=base + JWKS_PATH,
        servers=[base],
        tenant_claim=settings.tenant_claim or TENANT_CLAIM,
        issuer_url=base,
        metadata_urls=[],
    )


def _scalekit(settings: AuthSettings, base: str, resource: str) -> _Preset:
    env = str(settings.scalekit_environment_url).rstrip("/")
    rid = str(settings.scalekit_resource_id)
    return _Preset(
        issuers=[env, f"{env}/resources/{rid}"],
        audiences=settings.audience or [rid, resource],
        jwks_uri=f"{env}/keys",
        servers=[f"{env}/resources/{rid}"],
        tenant_claim=settings.tenant_claim or "oid",
        issuer_url=env,
        # Scalekit publishes each resource's authorization-server metadata under its id.
        metadata_urls=[f"{env}/.well-known/oauth-authorization-server/resources/{rid}"],
    )


def _oidc(settings: AuthSettings, base: str, resource: str) -> _Preset:
    issuer_url = str(settings.issuer_url).rstrip("/")
    return _Preset(
        issuers=[str(settings.issuer_url)],
        audiences=settings.audience or [resource],
        jwks_uri=settings.jwks_uri,
        servers=[issuer_url],
        tenant_claim=settings.tenant_claim or "org_id",
        issuer_url=issuer_url,
        metadata_urls=metadata_urls(issuer_url),
    )


_PRESETS: dict[str, Callable[[AuthSettings, str, str], _Preset]] = {
    "dev": _dev,
    "scalekit": _scalekit,
    "oidc": _oidc,
}


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
