"""Plughost: one shared, OAuth-protected MCP server that teams extend with plugin packages.

This module is the plugin SDK: the names here are what a tool author imports, and they are kept
stable. Two public sub-modules hold what fewer plugins need: `plughost.guardrails` (hooks around
every plugin's calls) and `plughost.tokens` (on-behalf-of tokens for other APIs); the test kit is
`plughost.testing`. Everything else (``sdk``, ``core``, ``edge``, ``auth``, ``ops``...) is the
host's own and may change in any release.
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

from plughost.sdk.context import Caller, PluginRuntime, ToolContext
from plughost.sdk.errors import Conflict, InvalidInput, NotFound, ToolError
from plughost.sdk.pagination import Cursor, Pages, PageSize
from plughost.sdk.plugin import Plugin
from plughost.sdk.tables import TenantStorage, UTCDateTime
from plughost.sdk.types import BoundedText, RowId

__all__ = [
    "BoundedText",
    "Caller",
    "Conflict",
    "Cursor",
    "InvalidInput",
    "NotFound",
    "PageSize",
    "Pages",
    "Plugin",
    "PluginRuntime",
    "RowId",
    "TenantStorage",
    "ToolContext",
    "ToolError",
    "UTCDateTime",
    "__version__",
]

_GUARDRAILS = "use plughost.guardrails"
_TOKENS = "use plughost.tokens"
_HOST_ONLY = "it is the host's own; plugins need not name it"

#: Names 0.2 exported from here that moved or left the SDK: still importable, with a
#: DeprecationWarning, until 0.4. Each maps to where it lives now, its name there, and what
#: to do instead.
_DEPRECATED = {
    "Id": ("plughost.sdk.types", "RowId", "use plughost.RowId"),
    "Text": ("plughost.sdk.types", "BoundedText", "use plughost.BoundedText"),
    "CallInfo": ("plughost.sdk.guardrails", "CallInfo", _GUARDRAILS),
    "CallOutput": ("plughost.sdk.guardrails", "CallOutput", _GUARDRAILS),
    "Deny": ("plughost.sdk.guardrails", "Deny", _GUARDRAILS),
    "Rewrite": ("plughost.sdk.guardrails", "Rewrite", _GUARDRAILS),
    "DownstreamToken": ("plughost.sdk.credentials", "DownstreamToken", _TOKENS),
    "TokenExchangeError": ("plughost.sdk.errors", "TokenExchangeError", _TOKENS),
    "TokenExchangeRefused": ("plughost.sdk.errors", "TokenExchangeRefused", _TOKENS),
    "TokenExchangeDenied": ("plughost.sdk.errors", "TokenExchangeDenied", _TOKENS),
    "TokenExchangeUnavailable": ("plughost.sdk.errors", "TokenExchangeUnavailable", _TOKENS),
    "InsufficientScope": (
        "plughost.sdk.errors",
        "InsufficientScope",
        "call ctx.require_scopes(...), which also checks the tool declared the scope",
    ),
    "CalledTool": ("plughost.sdk.context", "CalledTool", _HOST_ONLY),
    "TokenSource": ("plughost.sdk.credentials", "TokenSource", _HOST_ONLY),
}


def __getattr__(name: str) -> Any:
    if name not in _DEPRECATED:
        raise AttributeError(f"module 'plughost' has no attribute {name!r}")
    module, attribute, instead = _DEPRECATED[name]
    warnings.warn(
        f"plughost.{name} is deprecated and goes away in plughost 0.4; {instead}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(import_module(module), attribute)
