"""The host's own errors: problems an operator fixes (a plugin that cannot load, a bad
setting, a scope that was never declared). Messages say what is wrong and what to do."""

from __future__ import annotations


class PlughostError(Exception):
    """Base class of the host's own errors, the ones an operator acts on."""


class PluginLoadError(PlughostError):
    """One or more plugins could not be loaded (raised in strict mode)."""


class PluginStartTimeout(PlughostError):
    """A plugin's import or start-up hooks did not finish within the start deadline."""


class ScopeError(PlughostError):
    """A plugin's scope declaration or use breaks the scope rules."""


class SettingsError(PlughostError):
    """A setting has a value the host cannot use; the message names the setting."""
