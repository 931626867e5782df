"""Which of a mounted server's tools, resources, resource templates and prompts the host serves.

Each is served only when the operator declared the scopes it needs (``tools`` and ``prompts``
by upstream name, ``resources`` by upstream URI or URI template, else ``default_scopes``),
under the mount's namespace; one rule (`_declared`) chooses every kind:

- a tool or a prompt ``brief`` is ``<namespace>_brief``, as a plugin's is;
- a resource ``scheme://rest`` is ``<namespace>://scheme/rest``: the namespace is the scheme,
  as for a plugin's resources (``<namespace>://<path>``), and the upstream's scheme the first
  path segment, so two upstream schemes never collide and the mapping goes back exactly
  (`remote_uri`). A URI without ``scheme://`` (``urn:...``) is not served, and says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import TypeVar

from mcp import types as mcp

from plughost.core.components import PATH_RE
from plughost.core.forwarded_components import ForwardedSet
from plughost.core.naming import check_tool
from plughost.core.registry import Kind, RegisteredTarget
from plughost.core.upstream import Listing
from plughost.errors import ScopeError
from plughost.settings import MountSettings

T = TypeVar("T")

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def public_uri(namespace: str, uri: str) -> str:
    """The host's URI for an upstream resource (or template) ``uri``; `ScopeError` when it
    has no ``scheme://`` or its path is not one the host serves."""
    scheme, sep, rest = uri.partition("://")
    if not sep or not _SCHEME_RE.fullmatch(scheme):
        raise ScopeError("only scheme://... URIs are served under a namespace")
    if not PATH_RE.fullmatch(rest):
        raise ScopeError("its path is not a URI path with {name} parameters (RFC 6570 level 1)")
    return f"{namespace}://{scheme}/{rest}"


def remote_uri(namespace: str, uri: str) -> str:
    """The upstream's URI for the host's ``uri`` (the inverse of `public_uri`)."""
    scheme, _, rest = uri.removeprefix(f"{namespace}://").partition("/")
    return f"{scheme}://{rest}"


def select_tools(
    namespace: str, settings: MountSettings, listing: Listing
) -> tuple[list[tuple[mcp.Tool, RegisteredTarget]], dict[str, str]]:
    """Which listed tools are served (with their registry entries), and which not and why."""
    skipped: dict[str, str] = {}
    served = _declared(
        ((t.name, t) for t in listing.tools),
        settings.tools,
        settings.default_scopes,
        lambda remote, scopes: check_tool(namespace, remote, scopes, settings.scopes),
        skipped,
    )
    chosen = [(t, _entry(namespace, name, scopes, listing, "tool")) for t, name, scopes in served]
    return chosen, skipped


def select_components(
    namespace: str,
    settings: MountSettings,
    listing: Listing,
    forwarded: ForwardedSet,
    tools: Collection[str] = (),
) -> dict[str, str]:
    """Add to ``forwarded`` each listed resource, template and prompt the operator declared
    scopes for; return the others with why they are not served (a prompt named as one of the
    served ``tools`` too: the host's names are one namespace)."""
    skipped: dict[str, str] = {}
    deadline = settings.timeout_seconds
    resources: list[tuple[str, mcp.Resource | mcp.ResourceTemplate]] = [
        *((str(r.uri), r) for r in listing.resources),
        *((t.uri_template, t) for t in listing.templates),
    ]
    for listed, name, scopes in _declared(
        resources,
        settings.resources,
        settings.default_scopes,
        lambda remote, _scopes: public_uri(namespace, remote),
        skipped,
    ):
        forwarded.resource(listed, _entry(namespace, name, scopes, listing, "resource"), deadline)
    for prompt, name, scopes in _declared(
        ((p.name, p) for p in listing.prompts),
        settings.prompts,
        settings.default_scopes,
        lambda remote, scopes: check_tool(namespace, remote, scopes, settings.scopes),
        skipped,
    ):
        if name in tools:
            skipped[prompt.name] = f"{name} is the name of a tool it serves"
            continue
        forwarded.prompt(prompt, _entry(namespace, name, scopes, listing, "prompt"), deadline)
    return skipped


def _declared(
    listed: Iterable[tuple[str, T]],
    declared: Mapping[str, list[str]],
    default: list[str] | None,
    public: Callable[[str, list[str]], str],
    skipped: dict[str, str],
) -> Iterator[tuple[T, str, list[str]]]:
    """Each listed target (by its upstream name) the operator declared scopes for, with its
    public name (``public`` raises `ScopeError` for one the host cannot serve) and scopes;
    every other one into ``skipped`` with why, so each kind is chosen by the same rule."""
    for remote, target in listed:
        scopes = declared.get(remote, default)
        if scopes is None:
            skipped[remote] = "no scopes declared for it"
            continue
        try:
            name = public(remote, scopes)
        except ScopeError as exc:
            skipped[remote] = str(exc)
            continue
        yield target, name, scopes


def _entry(
    namespace: str, name: str, scopes: list[str], listing: Listing, kind: Kind
) -> RegisteredTarget:
    return RegisteredTarget(
        name=name,
        plugin=namespace,
        plugin_version=listing.server_version,
        scopes=tuple(scopes),
        kind=kind,
    )
