"""A mounted server's resources, resource templates and prompts, as the host serves them.

Like its tools (`plughost.core.mounts.select_tools`), each is served only when the operator
declared the scopes it needs (``resources`` by upstream URI or URI template, ``prompts`` by
upstream name, else ``default_scopes``), under the mount's namespace:

- a prompt ``brief`` is ``<namespace>_brief``, as a plugin's prompt is;
- a resource ``scheme://rest`` is ``<namespace>://scheme/rest``: the namespace is the scheme,
  as for a plugin's resources (``<namespace>://<path>``), and the upstream's scheme the first
  path segment, so two upstream schemes never collide and the mapping goes back exactly
  (`remote_uri`). A URI without ``scheme://`` (``urn:...``) is not served, and says why.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from mcp import types as mcp

from plughost.core.components import PATH_RE
from plughost.core.forwarded_components import ForwardedSet
from plughost.core.naming import check_tool
from plughost.core.registry import Kind, RegisteredTarget
from plughost.core.upstream import Listing
from plughost.errors import ScopeError
from plughost.settings import MountSettings

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
    for uri, listed in resources:
        scopes = settings.resources.get(uri, settings.default_scopes)
        if scopes is None:
            skipped[uri] = "no scopes declared for it"
            continue
        try:
            name = public_uri(namespace, uri)
        except ScopeError as exc:
            skipped[uri] = str(exc)
            continue
        forwarded.resource(listed, _entry(namespace, name, scopes, listing, "resource"), deadline)
    for prompt in listing.prompts:
        scopes = settings.prompts.get(prompt.name, settings.default_scopes)
        if scopes is None:
            skipped[prompt.name] = "no scopes declared for it"
            continue
        try:
            name = check_tool(namespace, prompt.name, scopes, settings.scopes)
        except ScopeError as exc:
            skipped[prompt.name] = str(exc)
            continue
        if name in tools:
            skipped[prompt.name] = f"{name} is the name of a tool it serves"
            continue
        forwarded.prompt(prompt, _entry(namespace, name, scopes, listing, "prompt"), deadline)
    return skipped


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
