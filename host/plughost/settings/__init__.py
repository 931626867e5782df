"""Host settings, read from ``PLUGHOST_*`` environment variables and an optional TOML file.

Nested values use ``__``: ``PLUGHOST_PLUGINS__TODO__PAGE_SIZE=50`` sets ``page_size`` in the
todo plugin's section. ``PLUGHOST_CONFIG=/etc/plughost.toml`` names a settings file whose keys
are the same as the variables' without the prefix; environment variables win over the file.

Settings sit below everything else in the host: they import only the SDK and `plughost.errors`.
"""

from plughost.settings.audit import AuditSettings
from plughost.settings.auth import ASYMMETRIC_ALGORITHMS, MCP_PATH, AuthSettings, resource_url
from plughost.settings.console import ConsoleSettings
from plughost.settings.environment import (
    CONFIG_ENV,
    ENV_PREFIX,
    NameList,
    describe_validation_error,
    split_names,
)
from plughost.settings.host import HostSettings, default_database_url, load_settings
from plughost.settings.http import HttpSettings
from plughost.settings.isolation import Isolation, WorkerSettings
from plughost.settings.mounts import MountCredentials, MountSettings
from plughost.settings.ratelimit import RateLimitSettings
from plughost.settings.token_exchange import ExchangeGrant, TokenExchangeSettings

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "CONFIG_ENV",
    "ENV_PREFIX",
    "MCP_PATH",
    "AuditSettings",
    "AuthSettings",
    "ConsoleSettings",
    "ExchangeGrant",
    "HostSettings",
    "HttpSettings",
    "Isolation",
    "MountCredentials",
    "MountSettings",
    "NameList",
    "RateLimitSettings",
    "TokenExchangeSettings",
    "WorkerSettings",
    "default_database_url",
    "describe_validation_error",
    "load_settings",
    "resource_url",
    "split_names",
]
