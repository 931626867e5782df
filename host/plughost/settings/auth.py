"""Who may call: the one resource server in front of every plugin (``PLUGHOST_AUTH__<FIELD>``).

The issuer presets' requirements are checked here, at start, so a half-configured issuer is
a settings error naming the missing variable rather than every call refused later.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator

from plughost.settings.fields import bounded, wait

#: Where the MCP endpoint is served; the protected resource is ``<public url>/mcp``.
MCP_PATH = "/mcp"


def resource_url(base_url: str) -> str:
    """The protected resource a host served at ``base_url`` is known by: the audience its
    tokens name, and the URL agents post MCP requests to."""
    return base_url + MCP_PATH


ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


class AuthSettings(BaseModel):
    """The one resource server in front of every plugin (``PLUGHOST_AUTH__<FIELD>``)."""

    model_config = {"extra": "forbid"}

    issuer: Literal["dev", "scalekit", "oidc"] = Field(
        "dev",
        description="Who issues tokens: the embedded dev issuer, Scalekit, or any OIDC issuer.",
    )
    public_url: str | None = Field(
        None,
        description="The server's public base URL (https://mcp.example.com); "
        "default http://<bind host>:<port>. The resource is <public_url>/mcp.",
    )
    scalekit_environment_url: str | None = Field(
        None, description="Scalekit environment URL (also read from SCALEKIT_ENVIRONMENT_URL)."
    )
    scalekit_resource_id: str | None = Field(
        None, description="Scalekit resource id of this server (also SCALEKIT_RESOURCE_ID)."
    )
    issuer_url: str | None = Field(None, description="OIDC: the issuer (`iss`) URL.")
    audience: list[str] = Field(
        default_factory=list,
        description="Accepted `aud` values; default the resource URL (Scalekit: the resource id).",
    )
    jwks_uri: str | None = Field(
        None, description="OIDC: JWKS URL; default discovered from the issuer's metadata."
    )
    extra_issuers: list[str] = Field(
        default_factory=list, description="Further accepted `iss` values (exact match)."
    )
    algorithms: list[str] = Field(
        default_factory=lambda: list(ASYMMETRIC_ALGORITHMS),
        description="Accepted signature algorithms; asymmetric only.",
    )
    leeway_seconds: int = bounded(30, "Clock skew allowed on exp/nbf/iat.", at_least=0, at_most=300)
    max_token_bytes: int = bounded(8192, "Longer tokens are refused.", at_least=512, at_most=65536)
    jwks_refresh_seconds: int = bounded(
        300, "How long fetched keys are trusted before a background refetch.", at_least=10
    )
    jwks_min_refetch_seconds: int = bounded(
        5,
        "An unknown key id triggers at most one JWKS fetch per this interval: a "
        "rotated key is accepted within it, and a flood of made-up key ids costs one fetch.",
        at_least=1,
    )
    max_token_lifetime_seconds: int = bounded(
        86_400,
        "Longest lifetime an access token may claim (exp - iat, or exp - now without iat), "
        "whoever issued it; a longer-lived token is refused.",
        at_least=60,
    )
    revocation_poll_seconds: float = wait(
        2.0,
        "How often each replica reads the sign-ins and console sessions revoked since its last "
        "read (one database query per interval, not per request): a revoked embedded-issuer "
        "token or signed-out console session is refused within this.",
        at_most=60,
    )
    tenant_claim: str | None = Field(
        None,
        description="Claim holding the tenant id; default `oid` (dev, Scalekit), `org_id` (OIDC).",
    )
    default_tenant: str | None = Field(
        None, description="Tenant for tokens without the tenant claim; unset refuses such tokens."
    )
    passthrough_claims: list[str] = Field(
        default_factory=lambda: ["email", "name"],
        description="Token claims handed to tools in ToolContext.caller.claims.",
    )
    list_all_tools: bool = Field(
        False,
        description="Show every tool in tools/list, not only those the caller's scopes allow.",
    )
    tls_terminated_elsewhere: bool = Field(
        False,
        description="Accept a plain http:// public_url with a real issuer, because a proxy in "
        "front terminates TLS; bearer tokens then cross that hop unencrypted.",
    )
    allow_remote_dev_issuer: bool = Field(
        False,
        description="Let the dev issuer serve on a non-loopback address (never in production).",
    )
    dev_token_ttl_seconds: int = bounded(
        3600, "Dev issuer token lifetime.", at_least=60, at_most=86400
    )
    dev_refresh_token_ttl_seconds: int = bounded(
        14 * 86_400,
        "Lifetime of a dev-issuer refresh token; each use rotates it for a new one.",
        at_least=300,
        at_most=90 * 86_400,
    )
    dev_registrations_per_hour: int = bounded(
        30,
        "Dynamic client registrations the dev issuer accepts from one client address per "
        "hour; more are answered 429 with Retry-After.",
        at_least=1,
    )
    dev_unused_client_ttl_seconds: int = bounded(
        86_400,
        "A dev-issuer client registration never issued a token is deleted this long after it "
        "was made (checked at each registration).",
        at_least=0,
    )
    dev_client_secret_failures_per_minute: int = bounded(
        10,
        "Wrong client secrets the dev issuer's token and revocation endpoints take per client "
        "id, and per client address, in a minute; after that both are answered 429 with "
        "Retry-After until the minute has passed.",
        at_least=1,
    )
    dev_auto_approve: bool = Field(
        False,
        description="Approve every authorization request of the dev issuer without showing the "
        "consent page (scripted tests only: any local program then gets any scope).",
    )

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        bad = [alg for alg in value if alg not in ASYMMETRIC_ALGORITHMS]
        if bad:
            raise ValueError(
                f"{bad} not allowed: only asymmetric algorithms {list(ASYMMETRIC_ALGORITHMS)}"
            )
        if not value:
            raise ValueError("at least one algorithm is needed")
        return value

    @model_validator(mode="after")
    def _preset_complete(self) -> AuthSettings:
        if self.issuer == "scalekit" and not (
            self.scalekit_environment_url and self.scalekit_resource_id
        ):
            raise ValueError(
                "issuer 'scalekit' needs SCALEKIT_ENVIRONMENT_URL and SCALEKIT_RESOURCE_ID"
            )
        if self.issuer == "oidc" and not self.issuer_url:
            raise ValueError("issuer 'oidc' needs PLUGHOST_AUTH__ISSUER_URL")
        if self.issuer != "dev" and not self.public_url:
            raise ValueError(
                f"issuer {self.issuer!r} needs PLUGHOST_AUTH__PUBLIC_URL, the URL agents reach"
            )
        if self.issuer != "dev" and not self.tls_terminated_elsewhere:
            _require_https(str(self.public_url))
        return self


def _require_https(url: str) -> None:
    """Bearer tokens must not cross the network in clear: https, except on loopback."""
    parsed = urlsplit(url)
    if parsed.scheme == "https":
        return
    host = parsed.hostname or ""
    loopback = host == "localhost" or _is_loopback_ip(host)
    if parsed.scheme == "http" and loopback:
        return
    raise ValueError(
        f"public_url {url!r} must be https:// (bearer tokens would cross the network in "
        "clear); if a proxy in front terminates TLS, set PLUGHOST_AUTH__TLS_TERMINATED_ELSEWHERE"
        "=true"
    )


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
