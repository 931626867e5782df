"""On-behalf-of tokens for plugins by OAuth 2.0 Token Exchange, RFC 8693
(``PLUGHOST_TOKEN_EXCHANGE__<FIELD>``): the host's client at the issuer, and what each plugin
may ask for (a plugin not named gets nothing).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from plughost.settings.environment import NameList
from plughost.settings.fields import bounded, names, wait


class ExchangeGrant(BaseModel):
    """What one plugin may ask for by token exchange
    (``PLUGHOST_TOKEN_EXCHANGE__PLUGINS__<NAMESPACE>__<FIELD>``)."""

    model_config = {"extra": "forbid"}

    audiences: NameList = names(
        "Audiences (downstream APIs) the plugin may get tokens for (comma-separated)."
    )
    scopes: NameList = names("Scopes the plugin may ask for on those tokens (comma-separated).")


class TokenExchangeSettings(BaseModel):
    """On-behalf-of tokens for plugins, by OAuth 2.0 Token Exchange (RFC 8693)
    (``PLUGHOST_TOKEN_EXCHANGE__<FIELD>``)."""

    model_config = {"extra": "forbid"}

    enabled: bool = Field(
        False, description="Let plugins ask for downstream tokens on behalf of the caller."
    )
    client_id: str | None = Field(
        None, description="The host's own client at the issuer; dev issuer: its generated client."
    )
    client_secret: SecretStr | None = Field(None, description="That client's secret.")
    client_auth: Literal["client_secret_basic", "client_secret_post"] = Field(
        "client_secret_basic", description="How the host authenticates at the token endpoint."
    )
    token_endpoint: str | None = Field(
        None, description="The issuer's token endpoint; default read from the issuer's metadata."
    )
    target_parameter: Literal["audience", "resource"] = Field(
        "audience",
        description="The request parameter naming the downstream API: RFC 8693 `audience` "
        "(Keycloak, Okta) or RFC 8707 `resource` (a URI).",
    )
    timeout_seconds: float = wait(
        5.0, "Longest wait for the issuer's answer to one exchange.", at_most=60
    )
    expiry_margin_seconds: int = bounded(
        30,
        "A cached token is exchanged anew this long before it expires.",
        at_least=0,
        at_most=600,
    )
    cache_size: int = bounded(
        10_000,
        "Tokens kept in memory per replica (0: no cache).",
        at_least=0,
        at_most=1_000_000,
    )
    plugins: dict[str, ExchangeGrant] = Field(
        default_factory=dict,
        description="Per plugin namespace, the audiences and scopes it may ask for; a plugin "
        "not named here gets no token.",
    )
