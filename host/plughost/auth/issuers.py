"""Issuer presets: turn the auth settings into what the verifier and the metadata need.

The ``dev`` preset trusts the embedded dev issuer (`plughost.devissuer`), which serves on this
server's own origin. That issuer sits above the resource server: app assembly builds it and
hands it in, and the resource server knows it only as `EmbeddedIssuer`. Its keys are read
in-process (`EmbeddedIssuer.published_keys`), a real issuer's fetched over HTTP; the checks
on a token are the same for both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from plughost.auth.jwks import JWKSCache
from plughost.auth.upstream_metadata import (
    AS_METADATA_PATH,
    OPENID_CONFIGURATION_PATH,
    metadata_urls,
)
from plughost.auth.verifier import TokenVerifier, VerifierConfig
from plughost.errors import SettingsError
from plughost.settings import AuthSettings, resource_url


class EmbeddedIssuer(Protocol):
    """What the host reads of the embedded dev issuer: where it serves its keys and token
    endpoint on this origin, its tenant claim, and its one generated client."""

    jwks_path: str
    token_path: str
    tenant_claim: str
    kid: str
    client_id: str
    #: Where its keys and client are kept, for the start banner.
    dir: Path

    @property
    def client_secret(self) -> str: ...

    async def published_keys(self) -> dict[str, Any]:
        """Its JWKS document, read from its key store (what ``jwks_path`` serves)."""
        ...


@dataclass
class Issuer:
    """Everything the resource server knows about the one issuer it trusts."""

    kind: str
    resource: str
    authorization_servers: list[str]
    verifier: TokenVerifier
    dev: EmbeddedIssuer | None = None
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
    public_url: str,
    dev: EmbeddedIssuer | None = None,
    on_jwks_fetch: Callable[[bool], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Issuer:
    """Build the issuer a preset describes; ``public_url`` is the server's base URL, ``dev``
    the embedded issuer, given exactly when the preset is ``dev``; ``clock`` times the key
    cache's refresh and refetch intervals (tests advance their own instead of sleeping)."""
    if (settings.issuer == "dev") != (dev is not None):
        raise ValueError("the embedded dev issuer is given for the dev preset, and only for it")
    base = public_url.rstrip("/")
    resource = resource_url(base)
    if dev is not None:
        preset = _dev(settings, base, resource, dev)
    else:
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
        clock=clock,
        load=dev.published_keys if dev is not None else None,
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
        max_lifetime=settings.max_token_lifetime_seconds,
    )
    return Issuer(
        kind=settings.issuer,
        resource=resource,
        authorization_servers=preset.servers,
        verifier=TokenVerifier(config, keys),
        dev=dev,
        issuer_url=issuer_url,
        metadata_urls=preset.metadata_urls,
    )


def _dev(settings: AuthSettings, base: str, resource: str, dev: EmbeddedIssuer) -> _Preset:
    return _Preset(
        issuers=[base],
        audiences=settings.audience or [resource],
        jwks_uri=base + dev.jwks_path,
        servers=[base],
        tenant_claim=settings.tenant_claim or dev.tenant_claim,
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


#: The presets of real issuers (the ``dev`` one needs the embedded issuer, see `_dev`).
_PRESETS: dict[str, Callable[[AuthSettings, str, str], _Preset]] = {
    "scalekit": _scalekit,
    "oidc": _oidc,
}


async def discover_jwks_uri(issuer_url: str) -> str:
    """Read ``jwks_uri`` from the issuer's OpenID or OAuth metadata document."""
    candidates = [f"{issuer_url}{OPENID_CONFIGURATION_PATH}", f"{issuer_url}{AS_METADATA_PATH}"]
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
