"""The target registry: every tool, resource and prompt agents can reach, built once at load.

The call policy, the list cache, the rate limiter, the call record and the metrics all ask this
one object which plugin owns a target, at which version, and which scopes it needs, so those
facts cannot drift apart. It only changes at start-up, when a plugin whose start-up hook fails
is withdrawn, and when a mounted server's targets are listed again (`plughost.core.mounts`);
`generation` counts those changes so caches keyed on it never serve a stale list. A namespace
served by another MCP server that is not answering is marked down: its names are refused as
unavailable until it is marked up. As a mapping it holds the tools, by public name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["tool", "resource", "prompt"]


@dataclass(frozen=True, slots=True)
class RegisteredTarget:
    """One public target: a tool (``name`` its public name), a prompt (likewise) or a resource
    (``name`` its URI, or its URI template); its plugin, the scopes every use needs, and the
    scopes some calls may need as well (``conditional_scopes``: scope to when)."""

    name: str
    plugin: str
    plugin_version: str
    scopes: tuple[str, ...]
    conditional_scopes: Mapping[str, str] = field(default_factory=dict, compare=False)
    kind: Kind = "tool"


class ToolRegistry(Mapping[str, RegisteredTarget]):
    """Public tool name to its target; prompts and resources by `lookup`; the namespaces that
    did not load."""

    def __init__(self) -> None:
        self._tools: dict[str, RegisteredTarget] = {}
        self._others: dict[tuple[Kind, str], RegisteredTarget] = {}
        self._templates: list[tuple[re.Pattern[str], RegisteredTarget]] = []
        self._refused: dict[str, str] = {}
        self._down: dict[str, str] = {}
        self.generation = 0

    def __getitem__(self, name: str) -> RegisteredTarget:
        return self._tools[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def add(self, target: RegisteredTarget) -> None:
        key = (target.kind, target.name)
        if target.name in self._tools or key in self._others:
            raise ValueError(f"{target.kind} {target.name!r} is registered twice")
        if target.kind == "tool":
            self._tools[target.name] = target
        else:
            self._others[key] = target
            if target.kind == "resource" and "{" in target.name:
                self._templates.append((template_pattern(target.name), target))
        self.generation += 1

    def lookup(self, kind: Kind, name: str) -> RegisteredTarget | None:
        """The target of ``kind`` named ``name``; a resource URI may match a template."""
        if kind == "tool":
            return self._tools.get(name)
        found = self._others.get((kind, name))
        if found is None and kind == "resource":
            found = next((t for pattern, t in self._templates if pattern.fullmatch(name)), None)
        return found

    def targets(self, kind: Kind) -> list[RegisteredTarget]:
        """Every target of ``kind`` (templates included for resources)."""
        if kind == "tool":
            return list(self._tools.values())
        return [t for (k, _), t in self._others.items() if k == kind]

    def withdraw(self, plugin: str, reason: str) -> list[str]:
        """Remove a plugin's targets (its start-up failed); return the names removed."""
        gone = [target.name for target in self.remove(plugin)]
        self.refuse(plugin, reason)
        return gone

    def remove(self, plugin: str) -> list[RegisteredTarget]:
        """Remove every target of ``plugin`` (to withdraw it, or list it anew); return them."""
        gone = [tool for tool in self._tools.values() if tool.plugin == plugin]
        for tool in gone:
            del self._tools[tool.name]
        for key in [key for key, target in self._others.items() if target.plugin == plugin]:
            gone.append(self._others.pop(key))
        self._templates = [(p, t) for p, t in self._templates if t.plugin != plugin]
        self.generation += 1
        return gone

    def mark_down(self, plugin: str, reason: str) -> None:
        """``plugin``'s server is not answering: its names are refused as unavailable."""
        self._down[plugin] = reason

    def mark_up(self, plugin: str) -> None:
        self._down.pop(plugin, None)

    def down(self, name: str, kind: Kind = "tool") -> tuple[str, str] | None:
        """The namespace ``name`` belongs to and why it is down, if it is."""
        if not self._down:
            return None
        found = self.lookup(kind, name)
        namespace = found.plugin if found is not None else _namespace_of(name, kind)
        reason = self._down.get(namespace)
        return None if reason is None else (namespace, reason)

    def refuse(self, plugin: str, reason: str) -> None:
        """Remember a namespace that is installed but not served, so its calls say so."""
        self._refused[plugin] = reason
        self.generation += 1

    def refused_owner(self, name: str, kind: Kind = "tool") -> str | None:
        """The refused plugin a name belongs to (``<namespace>_...``, ``<namespace>://...``)."""
        namespace = _namespace_of(name, kind)
        return namespace if namespace in self._refused else None

    @property
    def owners(self) -> Mapping[str, str]:
        """Target name to plugin namespace (the rate limiter's per-plugin limits read this)."""
        return _Owners(self)


def _namespace_of(name: str, kind: Kind) -> str:
    """The namespace a public name is under (``<namespace>_...``, ``<namespace>://...``)."""
    return name.partition("://")[0] if kind == "resource" else name.partition("_")[0]


def template_pattern(template: str) -> re.Pattern[str]:
    """A URI template's matcher: each ``{name}`` matches one path segment (RFC 6570 level 1)."""
    parts = re.split(r"(\{[^{}]+\})", template)
    return re.compile(
        "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    )


class _Owners(Mapping[str, str]):
    """A live view: a target's name (tool, prompt, resource URI) to its plugin's namespace."""

    def __init__(self, registry: ToolRegistry) -> None:
        self._registry = registry

    def __getitem__(self, name: str) -> str:
        for kind in ("tool", "prompt", "resource"):
            found = self._registry.lookup(kind, name)  # type: ignore[arg-type]
            if found is not None:
                return found.plugin
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry)

    def __len__(self) -> int:
        return len(self._registry)
