"""Scopes a plugin's code asks for with ``require_scopes``, read from its source at load.

``ctx.require_scopes("oncall:page:escalate")`` names its scope in the code. When that scope is
not in the plugin's vocabulary the plugin is refused at load, with the file and line, instead of
failing on the first call that reaches the line. Only string literals and module-level string
constants can be known before a call; `plughost.sdk.context.CalledTool.vet` checks every scope
again when the call happens.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType

CALL = "require_scopes"


@dataclass(frozen=True)
class ScopeUse:
    """One scope named in a ``require_scopes(...)`` call, and where."""

    scope: str
    file: str
    line: int


def scope_uses(entry_module: str, tool_modules: Iterable[str]) -> list[ScopeUse]:
    """Every knowable scope the plugin's modules pass to ``require_scopes``.

    The plugin's modules are its entry point's module with its imported submodules, and the
    modules its tools are defined in; never a sibling that may belong to another plugin.
    """
    names = {entry_module, *tool_modules}
    names |= {name for name in list(sys.modules) if name.startswith(f"{entry_module}.")}
    modules = [sys.modules[name] for name in sorted(names) if sys.modules.get(name) is not None]
    return [use for module in modules for use in _uses(module)]


def _uses(module: ModuleType) -> Iterator[ScopeUse]:
    try:
        source = inspect.getsource(module)
        file = inspect.getsourcefile(module) or module.__name__
    except (OSError, TypeError):
        return
    if CALL not in source:
        return
    constants = vars(module)
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or _called_name(node.func) != CALL:
            continue
        for arg in node.args:
            scope = _known_string(arg, constants)
            if scope is not None:
                yield ScopeUse(scope, file, node.lineno)


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _known_string(arg: ast.expr, constants: dict[str, object]) -> str | None:
    """A literal, or a module-level UPPER_CASE constant holding a string.

    Other names may be locals or change at run time; the call-time check covers them.
    """
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.Name) and arg.id.isupper() and isinstance(constants.get(arg.id), str):
        return str(constants[arg.id])
    return None
