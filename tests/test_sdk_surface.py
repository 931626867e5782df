"""The SDK's public surface: small at the top, one home per name, old names warning until 0.4.

A plugin author reads `plughost.__all__` as the list of what to learn first, so it holds what
a tool needs and no more; guardrails, on-behalf-of tokens and rich results have sub-modules of
their own. A name that moved keeps working from its old place, with a warning naming the new
one, for one minor release.
"""

from __future__ import annotations

import warnings
from typing import Any, get_origin

import pytest

import plughost
import plughost.content
import plughost.elicitation
import plughost.guardrails
import plughost.tokens
from plughost.sdk import context, credentials, errors, guardrails, types

#: Names 0.2 exported from `plughost`, and the object each stands for now.
MOVED: dict[str, Any] = {
    "Id": types.RowId,
    "Text": types.BoundedText,
    "CallInfo": guardrails.CallInfo,
    "CallOutput": guardrails.CallOutput,
    "Deny": guardrails.Deny,
    "Rewrite": guardrails.Rewrite,
    "DownstreamToken": credentials.DownstreamToken,
    "TokenExchangeError": errors.TokenExchangeError,
    "TokenExchangeRefused": errors.TokenExchangeRefused,
    "TokenExchangeDenied": errors.TokenExchangeDenied,
    "TokenExchangeUnavailable": errors.TokenExchangeUnavailable,
    "InsufficientScope": errors.InsufficientScope,
    "CalledTool": context.CalledTool,
    "TokenSource": credentials.TokenSource,
}


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


@pytest.mark.parametrize("name", sorted(MOVED))
def test_a_name_that_moved_still_imports_with_a_warning(name: str) -> None:
    assert name not in plughost.__all__
    with pytest.warns(DeprecationWarning, match=rf"plughost\.{name} .*0\.4"):
        found = getattr(plughost, name)
    assert found is MOVED[name]


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
    ],
)
def test_the_names_deprecated_until_0_3_are_gone(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            getattr(plughost, name)


def test_the_context_is_generic_in_the_settings_model() -> None:
    """``ToolContext[MySettings]`` types ``ctx.settings``; the bare name still works."""
    assert get_origin(plughost.ToolContext[int]) is plughost.ToolContext
    assert get_origin(plughost.PluginRuntime[int]) is plughost.PluginRuntime
