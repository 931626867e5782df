"""Plughost: one shared, OAuth-protected MCP server that teams extend with plugin packages.

This module is the plugin SDK: the names here are what a tool author imports, and they are kept
stable. Two public sub-modules hold what fewer plugins need: `plughost.guardrails` (hooks around
every plugin's calls) and `plughost.tokens` (on-behalf-of tokens for other APIs); the test kit is
`plughost.testing`. Everything else (``sdk``, ``core``, ``edge``, ``auth``, ``ops``...) is the
host's own and may change in any release.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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
