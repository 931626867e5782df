"""Host settings, read from ``PLUGHOST_*`` environment variables and an optional TOML file.

Nested values use ``__``: ``PLUGHOST_PLUGINS__TODO__PAGE_SIZE=50`` sets ``page_size`` in the
todo plugin's section. ``PLUGHOST_CONFIG=/etc/plughost.toml`` names a settings file whose keys
are the same as the variables' without the prefix; environment variables win over the file.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from plughost.errors import SettingsError

ENV_PREFIX = "PLUGHOST_"
#: Where the MCP endpoint is served; the protected resource is ``<public url>/mcp``.
MCP_PATH = "/mcp"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "plughost"


def split_names(value: Any) -> Any:
    """Accept ``todo,crm`` as well as a JSON list for lists set from the environment."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


NameList = Annotated[list[str], NoDecode]

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
    leeway_seconds: int = Field(30, ge=0, le=300, description="Clock skew allowed on exp/nbf/iat.")
    max_token_bytes: int = Field(8192, ge=512, le=65536, description="Longer tokens are refused.")
    jwks_refresh_seconds: int = Field(
        300, ge=10, description="How long fetched keys are trusted before a background refetch."
    )
    jwks_min_refetch_seconds: int = Field(
        5,
        ge=1,
        description="An unknown key id triggers at most one JWKS fetch per this interval: a "
        "rotated key is accepted within it, and a flood of made-up key ids costs one fetch.",
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
    dev_token_ttl_seconds: int = Field(
        3600, ge=60, le=86400, description="Dev issuer token lifetime."
    )
    dev_refresh_token_ttl_seconds: int = Field(
        1_209_600,
        ge=300,
        le=7_776_000,
        description="Lifetime of a dev-issuer refresh token; each use rotates it for a new one.",
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


class AuditSettings(BaseModel):
    """Where audit records go (``PLUGHOST_AUDIT__<FIELD>``)."""

    model_config = {"extra": "forbid"}

    sink: Literal["stdout", "file", "off"] = Field(
        "stdout", description="JSON lines to stdout, to `file`, or nowhere."
    )
    file: Path | None = Field(None, description="The JSON-lines file when sink is 'file'.")
    database: bool = Field(
        False, description="Also keep records in the database (table plughost_audit)."
    )
    include_arguments: bool = Field(
        False, description="Record argument values, not only their names. Mind what tools receive."
    )
    durable: bool = Field(
        False,
        description="Hold each response until its audit record is committed (group commit): "
        "no acknowledged call is ever without a record, at the cost of latency.",
    )

    @model_validator(mode="after")
    def _file_needs_path(self) -> AuditSettings:
        if self.sink == "file" and self.file is None:
            raise ValueError("sink 'file' needs PLUGHOST_AUDIT__FILE")
        return self


class RateLimitSettings(BaseModel):
    """Per-client limits on tool calls (``PLUGHOST_RATE_LIMIT__<FIELD>``), e.g. ``100/minute``."""

    model_config = {"extra": "forbid"}

    default: str | None = Field("600/minute", description="Every tool without its own limit.")
    plugins: dict[str, str] = Field(default_factory=dict, description="Limit per plugin namespace.")
    tools: dict[str, str] = Field(default_factory=dict, description="Limit per tool name.")
    storage_url: str = Field(
        "memory://", description="memory:// (this process) or redis://host:6379/0 (all replicas)."
    )
    key_prefix: str = Field("plughost", description="Redis key prefix, to share one Redis safely.")
    key: Literal["client_and_subject", "client"] = Field(
        "client_and_subject",
        description="Whose budget a call counts against: each user of each client, "
        "or each client as a whole (client id, else subject).",
    )
    storage_timeout_seconds: float = Field(
        0.5,
        gt=0,
        le=30,
        description="Longest wait on the rate-limit storage (connect and reply) per call.",
    )
    storage_retry_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="After the storage fails, calls skip it for this long (applying "
        "on_storage_error at once); then one call tries it again.",
    )
    on_storage_error: Literal["open", "closed"] = Field(
        "open",
        description="When the storage fails or times out: 'open' lets the call proceed "
        "(logged, counted and marked on the audit record); 'closed' answers HTTP 503 "
        "with Retry-After.",
    )

    @field_validator("default", "plugins", "tools")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        import limits

        for item in [value] if isinstance(value, str) else (value or {}).values():
            try:
                limits.parse(item)
            except ValueError:
                raise ValueError(f"{item!r} is not a rate like '100/minute'") from None
        return value


class ExchangeGrant(BaseModel):
    """What one plugin may ask for by token exchange
    (``PLUGHOST_TOKEN_EXCHANGE__PLUGINS__<NAMESPACE>__<FIELD>``)."""

    model_config = {"extra": "forbid"}

    audiences: NameList = Field(
        default_factory=list,
        description="Audiences (downstream APIs) the plugin may get tokens for (comma-separated).",
    )
    scopes: NameList = Field(
        default_factory=list,
        description="Scopes the plugin may ask for on those tokens (comma-separated).",
    )

    _split = field_validator("audiences", "scopes", mode="before")(split_names)


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
    timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="Longest wait for the issuer's answer to one exchange."
    )
    expiry_margin_seconds: int = Field(
        30,
        ge=0,
        le=600,
        description="A cached token is exchanged anew this long before it expires.",
    )
    cache_size: int = Field(
        10_000, ge=0, le=1_000_000, description="Tokens kept in memory per replica (0: no cache)."
    )
    plugins: dict[str, ExchangeGrant] = Field(
        default_factory=dict,
        description="Per plugin namespace, the audiences and scopes it may ask for; a plugin "
        "not named here gets no token.",
    )


class ConsoleSettings(BaseModel):
    """The read-only operator console at ``/console`` (``PLUGHOST_CONSOLE__<FIELD>``)."""

    model_config = {"extra": "forbid"}

    enabled: bool = Field(
        True,
        description="Serve the console. It is off regardless when the embedded dev issuer is "
        "reachable from the network (a non-loopback bind): anyone there could mint the admin "
        "scope.",
    )
    client_id: str | None = Field(
        None,
        description="The console's OAuth client id at a real issuer (Scalekit or OIDC), "
        "registered with the redirect URI <public URL>/console/callback. The dev issuer "
        "registers the console itself.",
    )
    client_secret: SecretStr | None = Field(
        None, description="The console client's secret, if the issuer made it confidential."
    )


class HostSettings(BaseSettings):
    """Everything an operator can set. Every field is also ``PLUGHOST_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the host keeps its SQLite database and dev-issuer keys.",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL for plugin data; default: SQLite in data_dir."
    )
    database_pool_size: int = Field(5, ge=1, le=200, description="Connections per replica.")
    database_connect_timeout_seconds: int = Field(
        5,
        ge=2,
        description="Give up connecting to the database after this long (whole seconds, min 2).",
    )
    database_statement_timeout_seconds: float = Field(
        30,
        gt=0,
        description="The server cancels any statement running longer (SQLite: longest lock wait).",
    )
    database_pool_timeout_seconds: float = Field(
        5, gt=0, description="Longest wait for a free pooled connection before failing."
    )
    migrate_on_start: Literal["auto", "upgrade", "refuse"] = Field(
        "auto",
        description="At start: 'upgrade' runs pending schema migrations; 'refuse' serves no "
        "plugin whose database is behind (run `plughost db upgrade` in the deploy); 'auto' "
        "upgrades SQLite and refuses elsewhere.",
    )
    migration_timeout_seconds: float = Field(
        300,
        gt=0,
        description="Longest start-up wait for one schema check or upgrade; a plugin still "
        "waiting is withdrawn (strict mode: the host stops).",
    )
    strict: bool = Field(False, description="Refuse to start if any plugin fails to load or start.")
    enabled_plugins: NameList | None = Field(
        None, description="If set, only these plugin namespaces are loaded (comma-separated)."
    )
    disabled_plugins: NameList = Field(
        default_factory=list, description="Plugin namespaces never loaded (comma-separated)."
    )
    max_request_bytes: int = Field(
        1_048_576, ge=1024, description="Larger MCP request bodies are refused with 413."
    )
    max_result_bytes: int = Field(
        8_388_608,
        ge=1024,
        description="A tool result larger than this (its text, data and structured content, "
        "in bytes) is not sent: the call ends with the error code result_too_large.",
    )
    max_json_depth: int = Field(
        64, ge=8, le=512, description="MCP messages nested deeper are refused (JSON-RPC -32600)."
    )
    tool_timeout_seconds: float = Field(
        60.0,
        gt=0,
        description="A tool call running longer ends with the error code `timeout`; "
        "a tool's own timeout= wins.",
    )
    plugin_threads: int = Field(
        16,
        ge=1,
        le=256,
        description="Worker threads each plugin's synchronous tools may use at once; a plugin "
        "whose calls hang exhausts only its own.",
    )
    guardrail_timeout_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="How long one plugin's guardrail hooks may take per call; one that takes "
        "longer (or raises) refuses the call.",
    )
    plugin_start_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=600,
        description="How long importing one plugin, then its start-up hooks, may each take "
        "(a plugin that takes longer is not served; the others are); its shutdown hooks get "
        "as long.",
    )
    fast_path: bool = Field(
        True,
        description="Answer plain stateless tools/call requests without the transport's "
        "per-request session (same middleware, validation and results); false routes every "
        "request through the transport.",
    )
    readiness_timeout_seconds: float = Field(
        2.0, gt=0, le=30, description="Each /readyz check (database, Redis, keys) gives up after."
    )
    plugins: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-plugin settings sections, keyed by namespace."
    )

    auth: AuthSettings = Field(default_factory=AuthSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    token_exchange: TokenExchangeSettings = Field(default_factory=TokenExchangeSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at /metrics.")
    metrics_token: SecretStr | None = Field(
        None, description="If set, /metrics requires 'Authorization: Bearer <this>'."
    )
    cors_origins: NameList = Field(
        default_factory=list, description="Browser origins allowed to call /mcp (comma-separated)."
    )
    allowed_hosts: NameList = Field(
        default_factory=list,
        description="Host header values /mcp accepts besides the public URL's and loopback "
        "(comma-separated, e.g. mcp.internal:8443): the guard against DNS rebinding.",
    )
    allowed_networks: NameList = Field(
        default_factory=list, description="If set, only clients in these CIDRs are served."
    )
    trusted_proxies: NameList = Field(
        default_factory=list,
        description="Proxies (CIDRs) whose X-Forwarded-For names the real client.",
    )
    log_format: Literal["json", "text"] = Field("json", description="Log line format.")

    _split = field_validator(
        "enabled_plugins",
        "disabled_plugins",
        "cors_origins",
        "allowed_hosts",
        "allowed_networks",
        "trusted_proxies",
        mode="before",
    )(split_names)

    @field_validator("allowed_networks", "trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an IP network like 10.0.0.0/8") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _scalekit_env(cls, data: Any) -> Any:
        """Scalekit's own variable names work too, as its docs and dashboards use them."""
        if not isinstance(data, dict):
            return data
        auth = data.get("auth")
        if isinstance(auth, BaseModel):
            return data
        auth = dict(auth or {})
        for field, env in (
            ("scalekit_environment_url", "SCALEKIT_ENVIRONMENT_URL"),
            ("scalekit_resource_id", "SCALEKIT_RESOURCE_ID"),
        ):
            if field not in auth and os.environ.get(env):
                auth[field] = os.environ[env]
        if auth:
            data["auth"] = auth
        return data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(f"{ENV_PREFIX}CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        from plughost.core.database import default_database_url

        return self.database_url or default_database_url(self.data_dir)


def load_settings(**overrides: Any) -> HostSettings:
    """Read the settings, turning a validation failure into a `SettingsError` naming the setting."""
    config_file = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if config_file and not Path(config_file).is_file():
        raise SettingsError(f"{ENV_PREFIX}CONFIG names {config_file}, which is not a file")
    try:
        return HostSettings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc, ENV_PREFIX)) from None


def describe_validation_error(exc: ValidationError, prefix: str) -> str:
    """One line per problem, each naming the environment variable an operator would set."""
    lines = []
    for err in exc.errors():
        path = "__".join(str(part) for part in err["loc"]).upper()
        lines.append(f"{prefix}{path}: {err['msg']}")
    return "invalid settings:\n  " + "\n  ".join(lines)
