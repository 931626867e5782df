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
    """The dev issuer's operator settings, as the authorization server uses them.

    Each field's alias is the `AuthSettings` field it is read from, so the mapping from the
    operator's names to the server's is declared once, next to the field.
    """

    model_config = ConfigDict(frozen=True, from_attributes=True)

    access_ttl: int = Field(alias="dev_token_ttl_seconds")
    refresh_ttl: int = Field(alias="dev_refresh_token_ttl_seconds")
    auto_approve: bool = Field(alias="dev_auto_approve")
    #: Registrations one client address may make per hour.
    registrations_per_hour: int = Field(30, alias="dev_registrations_per_hour")
    #: Seconds after which a registration never issued a token is deleted.
    unused_client_ttl: int = Field(86_400, alias="dev_unused_client_ttl_seconds")
    #: Wrong client secrets taken per client id, and per address, in a minute.
    secret_failures_per_minute: int = Field(10, alias="dev_client_secret_failures_per_minute")
    #: Token exchange: each audience tokens may be exchanged for, with its allowed scopes.
    exchange_targets: dict[str, list[str]] = Field(default_factory=dict)

    @classmethod
    def from_settings(
        cls, auth: AuthSettings, exchange: TokenExchangeSettings | None = None
    ) -> DevServerOptions:
        options = cls.model_validate(auth)
        if exchange is None:
            return options
        return options.model_copy(update={"exchange_targets": allowed_targets(exchange)})


def allowed_targets(settings: TokenExchangeSettings) -> dict[str, list[str]]:
    """Audience to the scopes some plugin may ask for on it; nothing when exchange is off."""
    targets: dict[str, set[str]] = {}
    if settings.enabled:
        for grant in settings.plugins.values():
            for audience in grant.audiences:
                targets.setdefault(audience, set()).update(grant.scopes)
    return {audience: sorted(scopes) for audience, scopes in targets.items()}
