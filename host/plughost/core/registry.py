"""The tool registry: every tool agents can call, built once at load and read by every layer.

The gate, the list cache, the rate limiter, the call record and the metrics all ask this one
object which plugin owns a tool, at which version, and which scopes it needs, so those facts
cannot drift apart. It only changes at start-up, when a plugin whose start-up hook fails is
withdrawn; `generation` counts those changes so caches keyed on it never serve a stale list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RegisteredTool:
    """One public tool: its name, its plugin, the scopes every call needs, and the scopes some
    calls may need as well (``conditional_scopes``: scope to when), as the tool declared them."""

    name: str
    plugin: str
    plugin_version: str
    scopes: tuple[str, ...]
    conditional_scopes: Mapping[str, str] = field(default_factory=dict, compare=False)


class ToolRegistry(Mapping[str, RegisteredTool]):
    """Public tool name to `RegisteredTool`, plus the namespaces that did not load."""

    def __init__(self) -> None:
        self._tools: dict[str, RegisteredTool] = {}
        self._refused: dict[str, str] = {}
        self.generation = 0

    def __getitem__(self, name: str) -> RegisteredTool:
        return self._tools[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def add(self, tool: RegisteredTool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool
        self.generation += 1

    def withdraw(self, plugin: str, reason: str) -> list[str]:
        """Remove a plugin's tools (its start-up failed); return the names removed."""
        gone = [name for name, tool in self._tools.items() if tool.plugin == plugin]
        for name in gone:
            del self._tools[name]
        self.refuse(plugin, reason)
        return gone

    def refuse(self, plugin: str, reason: str) -> None:
        """Remember a namespace that is installed but not served, so its calls say so."""
        self._refused[plugin] = reason
        self.generation += 1

    def refused_owner(self, name: str) -> str | None:
        """The refused plugin a tool name belongs to (``<namespace>_...``), if any."""
        namespace = name.partition("_")[0]
        return namespace if namespace in self._refused else None

    @property
    def owners(self) -> Mapping[str, str]:
        """Tool name to plugin namespace (the rate limiter's per-plugin limits read this)."""
        return _Owners(self)


class _Owners(Mapping[str, str]):
    """A live view: tool name to the namespace of its plugin."""

    def __init__(self, registry: ToolRegistry) -> None:
        self._registry = registry

    def __getitem__(self, name: str) -> str:
        return self._registry[name].plugin

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry)

    def __len__(self) -> int:
        return len(self._registry)
