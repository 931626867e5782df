"""A plugin's resources and prompts, checked at load and described in its load report.

Names follow the tools' rules: a prompt is ``<namespace>_<name>``, a resource lives at
``<namespace>://<path>``, so two plugins can never collide; every scope a resource or prompt
needs must be one the plugin declared. A completer must name an argument its prompt or
template has.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, Field

from plughost.core.naming import check_tool
from plughost.errors import ScopeError
from plughost.sdk.component_spec import PromptSpec, ResourceSpec

#: A resource path: URI path characters, with ``{parameter}`` placeholders for templates.
PATH_RE = re.compile(
    r"[A-Za-z0-9._~!$&'()*+,;=:@/%-]*(\{[A-Za-z_][A-Za-z0-9_]*\}[A-Za-z0-9._~!$&'()*+,;=:@/%-]*)*"
)
PARAMETER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
S = TypeVar("S", ResourceSpec, PromptSpec)


class ComponentInfo(BaseModel):
    """A resource, resource template or prompt as the load report shows it."""

    kind: str = Field(description="resource, template or prompt")
    name: str = Field(description="The prompt's public name, or the resource's URI (template).")
    scopes: list[str]
    description: str | None = None
    mime_type: str | None = None
    completes: list[str] = Field(default_factory=list)


def resource_uri(namespace: str, path: str) -> str:
    """The public URI of a plugin's resource: its namespace is the scheme."""
    return f"{namespace}://{path.lstrip('/')}"


def check_resources(
    namespace: str, specs: Sequence[object], vocabulary: dict[str, str]
) -> list[ComponentInfo]:
    """Check every resource's path, scopes and completers; describe each."""
    infos: list[ComponentInfo] = []
    for spec in _made_by(specs, ResourceSpec, "resource"):
        uri = resource_uri(namespace, spec.path)
        if not spec.path.strip("/") or not PATH_RE.fullmatch(spec.path):
            raise ScopeError(f"resource path {spec.path!r} is not a URI path (see RFC 3986)")
        _check_scopes(f"resource {uri!r}", spec.scopes, vocabulary)
        parameters = PARAMETER_RE.findall(spec.path)
        _check_completers(f"resource {uri!r}", spec.complete, parameters)
        _check_parameters(uri, spec, parameters)
        kind = "template" if parameters else "resource"
        infos.append(_info(kind, uri, spec.scopes, spec.description, spec.fn, spec.complete))
        infos[-1].mime_type = spec.mime_type
    _refuse_twice(infos)
    return infos


def check_prompts(
    namespace: str, specs: Sequence[object], vocabulary: dict[str, str]
) -> list[ComponentInfo]:
    """Check every prompt's name, scopes and completers; describe each."""
    infos: list[ComponentInfo] = []
    for spec in _made_by(specs, PromptSpec, "prompt"):
        public = check_tool(namespace, spec.name, spec.scopes, vocabulary)
        arguments = list(inspect.signature(spec.fn).parameters)[1:]
        _check_completers(f"prompt {public!r}", spec.complete, arguments)
        infos.append(_info("prompt", public, spec.scopes, spec.description, spec.fn, spec.complete))
    _refuse_twice(infos)
    return infos


def _made_by(specs: Sequence[object], spec_type: type[S], decorator: str) -> list[S]:
    """The specs a hook returned, each one `Plugin.<decorator>` made (a hook written by hand
    may return anything)."""
    made: list[S] = []
    for spec in specs:
        if not isinstance(spec, spec_type):
            raise ScopeError(
                f"plughost_{decorator}s returned {spec!r}; declare with @plugin.{decorator}"
            )
        made.append(spec)
    return made


def _info(
    kind: str,
    name: str,
    scopes: Sequence[str],
    description: str | None,
    fn: object,
    complete: object,
) -> ComponentInfo:
    doc = inspect.getdoc(fn)
    first = doc.split("\n\n", 1)[0].strip() if doc else None
    return ComponentInfo(
        kind=kind,
        name=name,
        scopes=list(scopes),
        description=description or first,
        completes=sorted(complete) if isinstance(complete, dict) else [],
    )


def _check_scopes(what: str, scopes: Sequence[str], vocabulary: dict[str, str]) -> None:
    undeclared = sorted(set(scopes) - set(vocabulary))
    if undeclared:
        raise ScopeError(
            f"{what} requires undeclared scope(s) {', '.join(undeclared)}; "
            "add them to the plugin's scopes with a description"
        )


def _check_completers(what: str, complete: object, arguments: Sequence[str]) -> None:
    unknown = sorted(set(complete) - set(arguments)) if isinstance(complete, dict) else []
    if unknown:
        raise ScopeError(
            f"{what} has completers for {', '.join(unknown)}, which it does not take "
            f"(it takes: {', '.join(arguments) or 'nothing'})"
        )


def _check_parameters(uri: str, spec: ResourceSpec, parameters: list[str]) -> None:
    """The reader takes the context, then exactly the template's parameters."""
    taken = list(inspect.signature(spec.fn).parameters)[1:]
    if sorted(taken) != sorted(parameters):
        raise ScopeError(
            f"resource {uri!r}: the reader takes ({', '.join(taken) or 'nothing'}) after the "
            f"ToolContext, but the path has ({', '.join(parameters) or 'no parameters'})"
        )


def _refuse_twice(infos: list[ComponentInfo]) -> None:
    seen: set[str] = set()
    for info in infos:
        if info.name in seen:
            raise ScopeError(f"{info.kind} {info.name!r} is declared twice")
        seen.add(info.name)
