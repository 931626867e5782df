"""Plughost: one shared, OAuth-protected MCP server that teams extend with plugin packages.

This module is the plugin SDK: the names here are what plugins import, and they are kept stable.
Everything else (the subpackages ``core``, ``edge``, ``auth``, ``ops``) is the host's own and
may change in any release.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("plughost")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

from plughost.sdk.context import CalledTool, Caller, PluginRuntime, ToolContext
from plughost.sdk.credentials import DownstreamToken, TokenSource
from plughost.sdk.errors import (
    Conflict,
    InsufficientScope,
    InvalidInput,
    NotFound,
    TokenExchangeDenied,
    TokenExchangeError,
    TokenExchangeRefused,
    TokenExchangeUnavailable,
    ToolError,
)
from plughost.sdk.guardrails import CallInfo, CallOutput, Deny, Rewrite
from plughost.sdk.pagination import Cursor, Pages, PageSize
from plughost.sdk.plugin import Plugin
from plughost.sdk.tables import TenantStorage, UTCDateTime
from plughost.sdk.types import Id, Text

__all__ = [
    "CallInfo",
    "CallOutput",
    "CalledTool",
    "Caller",
    "Conflict",
    "Cursor",
    "Deny",
    "DownstreamToken",
    "Id",
    "InsufficientScope",
    "InvalidInput",
    "NotFound",
    "PageSize",
    "Pages",
    "Plugin",
    "PluginRuntime",
    "Rewrite",
    "TenantStorage",
    "Text",
    "TokenExchangeDenied",
    "TokenExchangeError",
    "TokenExchangeRefused",
    "TokenExchangeUnavailable",
    "TokenSource",
    "ToolContext",
    "ToolError",
    "UTCDateTime",
    "__version__",
]

#: Names 0.1 exported that are no longer part of the SDK: still importable, with a warning,
#: until 0.3. Each maps to where it lives now and what to use instead.
_DEPRECATED = {
    "ToolSpec": ("plughost.sdk.plugin", "declare tools with @plugin.tool"),
    "hookimpl": ("plughost.sdk.hookspecs", "declare the plugin with plughost.Plugin"),
    "tenant_table": ("plughost.sdk.tables", "declare tables with plugin.table(...)"),
    "PlughostError": ("plughost.errors", "it is the host's own error"),
    "PluginLoadError": ("plughost.errors", "import it from plughost.testing in tests"),
    "ScopeError": ("plughost.errors", "it is the host's own error"),
    "SettingsError": ("plughost.errors", "import it from plughost.testing in tests"),
}


def __getattr__(name: str) -> Any:
    if name not in _DEPRECATED:
        raise AttributeError(f"module 'plughost' has no attribute {name!r}")
    module, instead = _DEPRECATED[name]
    warnings.warn(
        f"plughost.{name} is no longer part of the plugin SDK and goes away in plughost 0.3; "
        f"{instead}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(import_module(module), name)
