"""`HostSettings`, every operator setting, and `load_settings`, which reads them.

The host's own settings are flat (``PLUGHOST_<FIELD>``); each concern with more than a few
settings is a section of its own module (``PLUGHOST_AUTH__<FIELD>`` and so on). Sources, first
wins: keyword overrides, the environment, then the TOML file ``PLUGHOST_CONFIG`` names.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from plughost.errors import SettingsError
from plughost.settings.audit import AuditSettings
from plughost.settings.auth import AuthSettings
from plughost.settings.console import ConsoleSettings
from plughost.settings.environment import (
    CONFIG_ENV,
    ENV_PREFIX,
    NameList,
    config_file,
    describe_validation_error,
)
from plughost.settings.fields import bounded, names, wait
from plughost.settings.http import HttpSettings
from plughost.settings.isolation import Isolation, WorkerSettings
from plughost.settings.mounts import MountSettings
from plughost.settings.ratelimit import RateLimitSettings
from plughost.settings.token_exchange import TokenExchangeSettings


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "plughost"


def default_database_url(data_dir: Path) -> str:
    """The zero-configuration database: an SQLite file in the host's data directory."""
    return f"sqlite:///{data_dir / 'plughost.db'}"


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
    database_pool_size: int = bounded(5, "Connections per replica.", at_least=1, at_most=200)
    database_connect_timeout_seconds: int = bounded(
        5,
        "Give up connecting to the database after this long (whole seconds, min 2).",
        at_least=2,
    )
    database_statement_timeout_seconds: float = wait(
        30, "The server cancels any statement running longer (SQLite: longest lock wait)."
    )
    database_pool_timeout_seconds: float = wait(
        5, "Longest wait for a free pooled connection before failing."
    )
    migrate_on_start: Literal["auto", "upgrade", "refuse"] = Field(
        "auto",
        description="At start: 'upgrade' runs pending schema migrations; 'refuse' serves no "
        "plugin whose database is behind (run `plughost db upgrade` in the deploy); 'auto' "
        "upgrades SQLite and refuses elsewhere.",
    )
    migration_timeout_seconds: float = wait(
        300,
        "Longest start-up wait for one schema check or upgrade; a plugin still "
        "waiting is withdrawn (strict mode: the host stops).",
    )
    strict: bool = Field(False, description="Refuse to start if any plugin fails to load or start.")
    enabled_plugins: NameList | None = Field(
        None, description="If set, only these plugin namespaces are loaded (comma-separated)."
    )
    disabled_plugins: NameList = names("Plugin namespaces never loaded (comma-separated).")
    max_request_bytes: int = bounded(
        1_048_576, "Larger MCP request bodies are refused with 413.", at_least=1024
    )
    max_json_depth: int = bounded(
        64, "MCP messages nested deeper are refused (JSON-RPC -32600).", at_least=8, at_most=512
    )
    max_result_bytes: int = bounded(
        8_388_608,
        "A tool result larger than this (its text, data and structured content, "
        "in bytes) is not sent: the call ends with the error code result_too_large.",
        at_least=1024,
    )
    tool_timeout_seconds: float = wait(
        60.0,
        "A tool call running longer ends with the error code `timeout`; "
        "a tool's own timeout= wins.",
    )
    ask_timeout_seconds: float = wait(
        300.0,
        "How long a call waits for its user's answer to a question a tool asked on the call's "
        "stream (clients on MCP 2025-06-18 and 2025-11-25); then the call ends with the error "
        "code `unanswered`.",
        at_most=3600,
    )
    plugin_threads: int = bounded(
        16,
        "Worker threads each plugin's synchronous tools may use at once; a plugin "
        "whose calls hang exhausts only its own.",
        at_least=1,
        at_most=256,
    )
    guardrail_timeout_seconds: float = wait(
        2.0,
        "How long one plugin's guardrail hooks may take per call; one that takes "
        "longer (or raises) refuses the call.",
        at_most=60,
    )
    plugin_start_timeout_seconds: float = wait(
        30.0,
        "How long importing one plugin, then its start-up hooks, may each take "
        "(a plugin that takes longer is not served; the others are); its shutdown hooks get "
        "as long.",
        at_most=600,
    )
    fast_path: bool = Field(
        True,
        description="Answer plain stateless tools/call requests without the transport's "
        "per-request session (same middleware, validation and results); false routes every "
        "request through the transport.",
    )
    inline_schema_refs: bool = Field(
        True,
        description="Inline every $ref of the tool schemas tools/list sends (no $defs), for "
        "the many clients that cannot resolve $ref; false sends schemas with their $defs as "
        "the plugin's types produced them.",
    )
    readiness_timeout_seconds: float = wait(
        2.0, "Each /readyz check (database, Redis, keys) gives up after.", at_most=30
    )
    plugins: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-plugin settings sections, keyed by namespace."
    )
    isolation: dict[str, Isolation] = Field(
        default_factory=dict,
        description="Per namespace, where the plugin runs: 'in_process' (the default) or "
        "'process', a supervised worker process of its own.",
    )
    workers: dict[str, WorkerSettings] = Field(
        default_factory=dict,
        description="Per namespace, the limits of an isolated plugin's worker process.",
    )

    mounts: dict[str, MountSettings] = Field(
        default_factory=dict,
        description="Existing MCP servers served under a namespace, keyed by namespace.",
    )

    auth: AuthSettings = Field(default_factory=AuthSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    token_exchange: TokenExchangeSettings = Field(default_factory=TokenExchangeSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at /metrics.")
    metrics_token: SecretStr | None = Field(
        None, description="If set, /metrics requires 'Authorization: Bearer <this>'."
    )
    cors_origins: NameList = names("Browser origins allowed to call /mcp (comma-separated).")
    allowed_hosts: NameList = names(
        "Host header values /mcp accepts besides the public URL's and loopback "
        "(comma-separated, e.g. mcp.internal:8443): the guard against DNS rebinding."
    )
    allowed_networks: NameList = names("If set, only clients in these CIDRs are served.")
    trusted_proxies: NameList = names(
        "Proxies (CIDRs) whose X-Forwarded-For names the real client."
    )
    log_format: Literal["json", "text"] = Field("json", description="Log line format.")

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
        toml_file = config_file()
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def isolated(self, namespace: str) -> bool:
        """Whether the plugin ``namespace`` runs in a worker process of its own."""
        return self.isolation.get(namespace) == "process"

    def worker(self, namespace: str) -> WorkerSettings:
        """The limits of ``namespace``'s worker (the defaults when it has no section)."""
        return self.workers.get(namespace) or WorkerSettings()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or default_database_url(self.data_dir)


def load_settings(**overrides: Any) -> HostSettings:
    """Read the settings, turning a validation failure into a `SettingsError` naming the setting."""
    toml_file = config_file()
    if toml_file and not Path(toml_file).is_file():
        raise SettingsError(f"{CONFIG_ENV} names {toml_file}, which is not a file")
    try:
        return HostSettings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc, ENV_PREFIX)) from None
