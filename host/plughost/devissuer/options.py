"""What app assembly hands the dev issuer: the operator's settings for it, and each scope the
plugins and the host declare (the consent page shows their descriptions, the metadata and
the ``client_credentials`` grant their names), read again on every request, so a withdrawn
plugin's scopes go with it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from plughost.settings import AuthSettings, TokenExchangeSettings


class ScopeInfo(BaseModel):
    """One declared scope, as the consent page shows it."""

    name: str
    plugin: str
    description: str


class DevServerOptions(BaseModel):
    """The dev issuer's operator settings, as the authorization server uses them."""

    model_config = ConfigDict(frozen=True)

    access_ttl: int
    refresh_ttl: int
    auto_approve: bool
    #: Registrations one client address may make per hour.
    registrations_per_hour: int = 30
    #: Seconds after which a registration never issued a token is deleted.
    unused_client_ttl: int = 86_400
    #: Wrong client secrets taken per client id, and per address, in a minute.
    secret_failures_per_minute: int = 10
    #: Token exchange: each audience tokens may be exchanged for, with its allowed scopes.
    exchange_targets: dict[str, list[str]] = Field(default_factory=dict)

    @classmethod
    def from_settings(
        cls, auth: AuthSettings, exchange: TokenExchangeSettings | None = None
    ) -> DevServerOptions:
        return cls(
            access_ttl=auth.dev_token_ttl_seconds,
            refresh_ttl=auth.dev_refresh_token_ttl_seconds,
            auto_approve=auth.dev_auto_approve,
            registrations_per_hour=auth.dev_registrations_per_hour,
            unused_client_ttl=auth.dev_unused_client_ttl_seconds,
            secret_failures_per_minute=auth.dev_client_secret_failures_per_minute,
            exchange_targets=allowed_targets(exchange) if exchange else {},
        )


def allowed_targets(settings: TokenExchangeSettings) -> dict[str, list[str]]:
    """Audience to the scopes some plugin may ask for on it; nothing when exchange is off."""
    targets: dict[str, set[str]] = {}
    if settings.enabled:
        for grant in settings.plugins.values():
            for audience in grant.audiences:
                targets.setdefault(audience, set()).update(grant.scopes)
    return {audience: sorted(scopes) for audience, scopes in targets.items()}
