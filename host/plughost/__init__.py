"""Plughost: one shared, OAuth-protected MCP server that teams extend with plugin packages.

This module is the plugin SDK: the names here are what plugins import, and they are kept stable.
Everything in submodules not re-exported here is the host's own and may change.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("plughost")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

from plughost.context import Caller, PluginRuntime, ToolContext
from plughost.errors import (
    Conflict,
    InsufficientScope,
    InvalidInput,
    NotFound,
    PlughostError,
    PluginLoadError,
    ScopeError,
    SettingsError,
    ToolError,
)
from plughost.hookspecs import hookimpl
from plughost.plugin import Plugin, ToolSpec
from plughost.storage import TenantStorage, UTCDateTime, tenant_table

__all__ = [
    "Caller",
    "Conflict",
    "InsufficientScope",
    "InvalidInput",
    "NotFound",
    "PlughostError",
    "Plugin",
    "PluginLoadError",
    "PluginRuntime",
    "ScopeError",
    "SettingsError",
    "TenantStorage",
    "ToolContext",
    "ToolError",
    "ToolSpec",
    "UTCDateTime",
    "__version__",
    "hookimpl",
    "tenant_table",
]
