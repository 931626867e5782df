"""The SDK's public surface: small at the top, one home per name, deprecated names gone.

A plugin author reads `plughost.__all__` as the list of what to learn first, so it holds what
a tool needs and no more; guardrails, on-behalf-of tokens and rich results have sub-modules of
their own. A name that moved keeps working from its old place, with a warning naming the new
one, for one minor release, and is then gone.
"""

from __future__ import annotations

import warnings
from typing import get_origin

import pytest

import plughost
import plughost.content
import plughost.elicitation
import plughost.guardrails
import plughost.tokens


def test_the_top_level_holds_at_most_sixteen_names_with_the_version() -> None:
    assert len(plughost.__all__) <= 16, plughost.__all__
    assert "__version__" in plughost.__all__


def test_every_public_name_has_one_home() -> None:
    modules = (
        plughost,
        plughost.guardrails,
        plughost.tokens,
        plughost.content,
        plughost.elicitation,
    )
    names = [name for module in modules for name in module.__all__]
    assert len(names) == len(set(names)), names
    for module in modules:
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


@pytest.mark.parametrize(
    "name",
    [
        "ToolSpec",
        "hookimpl",
        "tenant_table",
        "PlughostError",
        "PluginLoadError",
        "ScopeError",
        "SettingsError",
        # deprecated in 0.3, gone in 0.4
        "Id",
        "Text",
        "CallInfo",
        "CallOutput",
        "Deny",
        "Rewrite",
        "DownstreamToken",
        "TokenExchangeError",
        "TokenExchangeRefused",
        "TokenExchangeDenied",
        "TokenExchangeUnavailable",
        "InsufficientScope",
        "CalledTool",
        "TokenSource",
    ],
)
def test_the_deprecated_names_are_gone(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            getattr(plughost, name)


def test_the_context_is_generic_in_the_settings_model() -> None:
    """``ToolContext[MySettings]`` types ``ctx.settings``; the bare name still works."""
    assert get_origin(plughost.ToolContext[int]) is plughost.ToolContext
    assert get_origin(plughost.PluginRuntime[int]) is plughost.PluginRuntime
