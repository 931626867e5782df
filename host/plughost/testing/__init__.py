"""Test kit for plugin authors: a real host on 127.0.0.1, real tokens, real HTTP.

Installed as a pytest plugin (entry point ``pytest11``), so its fixtures are available to any
project that has ``plughost`` installed. A plugin's test reads like::

    def test_list_needs_read_scope(plughost_factory):
        host = plughost_factory(plugins=["todo"])
        assert host.client(scopes=["todo:read"]).call("todo_list").ok
        refused = host.client(scopes=[]).call("todo_list")
        assert refused.status_code == 403 and refused.missing_scopes == ["todo:read"]

Every call goes through the whole stack: token verification against the dev issuer's JWKS,
the scope gate, FastMCP's input validation, the tool, and the database; over a socket, or with
``in_process=True`` through Starlette's test client, with no socket at all. The kit's
modules: `client` (`McpClient`, `ToolCall`), `live_host` (`LiveHost`), `serving` (which named
plugins are not serving), `databases` (`TestDatabase`, throwaway PostgreSQL databases),
`fixtures` (the fixtures, imported here so that pytest finds them) and `faults` (`FaultProxy`).
"""

from __future__ import annotations

from plughost.errors import PluginLoadError, SettingsError
from plughost.testing.client import McpClient, ToolCall
from plughost.testing.databases import TestDatabase
from plughost.testing.faults import FaultProxy
from plughost.testing.fixtures import HostFactory

# The fixtures by name (the "as" keeps them here): pytest finds them in this module.
from plughost.testing.fixtures import plughost_database as plughost_database
from plughost.testing.fixtures import plughost_factory as plughost_factory
from plughost.testing.live_host import LiveHost, ScopeNotDeclared, free_port
from plughost.testing.serving import PluginNotLoaded

__all__ = [
    "FaultProxy",
    "HostFactory",
    "LiveHost",
    "McpClient",
    "PluginLoadError",
    "PluginNotLoaded",
    "ScopeNotDeclared",
    "SettingsError",
    "TestDatabase",
    "ToolCall",
    "free_port",
]
