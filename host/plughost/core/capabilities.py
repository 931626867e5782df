"""The capabilities this host advertises: what it serves, and nothing it cannot deliver.

FastMCP advertises every feature it has a handler for: logging, prompts, resources, list
change notifications and the MCP Apps extension. A client that trusted a capability the host
does not serve would wait for things that never come, so prompts, resources and completions
are advertised only while some plugin or mount serves them (read from the registry at each
``initialize`` / ``server/discover``, so they follow a mount that is listed again), and list
changes never: the set of targets does change when a mount is listed again, but a stateless
host has no channel to push ``notifications/*/list_changed`` on, so clients list again when
they need a fresh list (and the list cache, keyed on the registry's generation, answers it
anew). Logging is advertised: a tool's log messages reach a
client that reads its call's event stream (`plughost.core.call_stream`). FastMCP has no
setting for this; its low-level server's `get_capabilities` is where both ``initialize`` and
``server/discover`` read them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastmcp import FastMCP
from mcp.server.lowlevel import NotificationOptions
from mcp.types import (
    CompletionsCapability,
    EmptyResult,
    LoggingCapability,
    PromptsCapability,
    ResourcesCapability,
    ServerCapabilities,
    SubscribeRequestParams,
    ToolsCapability,
    UnsubscribeRequestParams,
)

from plughost.core.completions import Completions
from plughost.core.registry import ToolRegistry


def advertise_only_what_is_served(
    server: FastMCP,
    registry: Callable[[], ToolRegistry],
    completions: Callable[[], Completions],
) -> None:
    """Make ``server`` advertise what the (lazily given) registry and completions serve."""
    lowlevel = server._mcp_server
    lowlevel.notification_options = NotificationOptions(
        prompts_changed=False, resources_changed=False, tools_changed=False
    )
    derived = lowlevel.get_capabilities

    def get_capabilities(*args: Any, **kwargs: Any) -> ServerCapabilities:
        served = registry()
        prompts = served.targets("prompt")
        resources = served.targets("resource")
        return derived(*args, **kwargs).model_copy(
            update={
                "logging": LoggingCapability(),
                "prompts": PromptsCapability(list_changed=False) if prompts else None,
                "resources": ResourcesCapability(subscribe=False, list_changed=False)
                if resources
                else None,
                "completions": CompletionsCapability() if completions() else None,
                "extensions": None,
                "tools": ToolsCapability(list_changed=False),
            }
        )

    lowlevel.get_capabilities = get_capabilities  # type: ignore[method-assign]


def acknowledge_subscriptions(server: FastMCP) -> None:
    """Answer ``resources/subscribe`` and ``resources/unsubscribe`` with an empty result.

    A stateless host has no channel to push ``notifications/resources/updated`` on, so it
    never advertises subscriptions (above) and never sends updates; but a client that asks
    anyway gets a plain acknowledgement rather than "method not found", and keeps working
    by reading the resource again when it needs it fresh.
    """

    async def acknowledge(_context: Any, _params: Any) -> EmptyResult:
        return EmptyResult()

    lowlevel = server._mcp_server
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, acknowledge)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, acknowledge)
