"""The naming rules for namespaces, scopes and tools, checked when a plugin loads."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from plughost.core.host_scopes import HOST_NAMESPACE
from plughost.errors import ScopeError

NAMESPACE_RE = re.compile(r"[a-z][a-z0-9]*")
SCOPE_RE = re.compile(r"[a-z][a-z0-9]*(:[a-z0-9][a-z0-9_.-]*)+")
TOOL_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
MAX_TOOL_NAME = 64


def check_namespace(namespace: str) -> None:
    if not NAMESPACE_RE.fullmatch(namespace):
        raise ScopeError(
            f"namespace {namespace!r} is not allowed: use lowercase letters and digits, "
            "starting with a letter (the entry-point name in [project.entry-points.mcp_tools])"
        )
    if namespace == HOST_NAMESPACE:
        raise ScopeError(
            f"namespace {namespace!r} is the host's own (its scopes, such as plughost:admin, "
            "grant no tool): choose another entry-point name"
        )


def check_vocabulary(namespace: str, scopes: Mapping[str, str]) -> None:
    """Every declared scope is well-formed, under the namespace, and described."""
    for scope, description in scopes.items():
        if not SCOPE_RE.fullmatch(scope):
            raise ScopeError(
                f"scope {scope!r} is malformed: use '{namespace}:<action>' "
                "(lowercase letters, digits, '.', '_', '-')"
            )
        if scope.split(":", 1)[0] != namespace:
            raise ScopeError(
                f"scope {scope!r} is outside the plugin's namespace: rename it to "
                f"'{namespace}:{scope.split(':', 1)[1]}'"
            )
        if not isinstance(description, str) or not description.strip():
            raise ScopeError(f"scope {scope!r} needs a description saying what it allows")


def check_tool(
    namespace: str, tool: str, required: Iterable[str], declared: Mapping[str, str]
) -> str:
    """Validate one tool's name and scopes; return the name agents will see."""
    public_name = f"{namespace}_{tool}"
    if not TOOL_NAME_RE.fullmatch(tool):
        raise ScopeError(f"tool name {tool!r} may only use letters, digits, '_' and '-'")
    if len(public_name) > MAX_TOOL_NAME:
        raise ScopeError(
            f"tool name {public_name!r} is {len(public_name)} characters; "
            f"the limit is {MAX_TOOL_NAME} (namespace + '_' + tool name)"
        )
    undeclared = sorted(set(required) - set(declared))
    if undeclared:
        raise ScopeError(
            f"tool {public_name!r} requires undeclared scope(s) {', '.join(undeclared)}; "
            "add them to the plugin's scopes with a description"
        )
    return public_name


def missing_scopes(required: Iterable[str], granted: Iterable[str]) -> list[str]:
    """The required scopes a caller lacks, in declaration order."""
    have = set(granted)
    return [scope for scope in required if scope not in have]


def check_conditional(
    public_name: str,
    required: Iterable[str],
    conditional: Mapping[str, str],
    declared: Mapping[str, str],
) -> None:
    """A tool's conditional scopes are declared by its plugin, described, and not also required.

    Refused at load, so a 403 never names a scope no issuer can grant.
    """
    undeclared = sorted(set(conditional) - set(declared))
    if undeclared:
        raise ScopeError(
            f"tool {public_name!r} lists undeclared conditional scope(s) "
            f"{', '.join(undeclared)}; add them to the plugin's scopes with a description"
        )
    both = sorted(set(conditional) & set(required))
    if both:
        raise ScopeError(
            f"tool {public_name!r} lists {', '.join(both)} in both scopes and "
            "conditional_scopes; a scope every call needs belongs in scopes only"
        )
    for scope, when in conditional.items():
        if not isinstance(when, str) or not when.strip():
            raise ScopeError(
                f"tool {public_name!r}: conditional scope {scope!r} needs a description of "
                "when it is needed, e.g. 'when paging beyond the primary on-call'"
            )


#: Longest caller-chosen name (a tool the caller asked for) kept in logs and audit columns.
MAX_NAME_CHARS = 128


def bounded_name(name: str) -> str:
    """A caller-chosen name made fit for logs and audit columns: cut to a bounded length,
    without NUL characters or lone surrogates (which no database column or UTF-8 file takes)."""
    clean = name.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return clean if len(clean) <= MAX_NAME_CHARS else clean[: MAX_NAME_CHARS - 1] + "…"
