"""Throwaway plugin distributions: a ``*.dist-info`` and a module per plugin on a path entry.

This is how an installed wheel looks to ``importlib.metadata``, without pip: put the directory
on ``PYTHONPATH`` and Plughost discovers the plugins through their ``mcp_tools`` entry points.
"""

from __future__ import annotations

from pathlib import Path

from plughost import __version__

#: The trivial tool, as the reference servers serve it: the host's overhead is all there is.
ECHO_PLUGIN = '''\
from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"{ns}:call": "Call the bench tools"})


@plugin.tool(scopes=["{ns}:call"], read_only=True)
async def echo(ctx: ToolContext, text: str) -> str:
    """Return the text unchanged."""
    return text
'''

#: A small plugin of the usual shape: two scopes, ``tools`` tools alternating between them.
SMALL_PLUGIN = '''\
from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"{ns}:read": "Read bench items", "{ns}:write": "Write bench items"})


def _make(index: int):
    async def item(ctx: ToolContext, key: str, limit: int = 10) -> dict:
        """Look up a bench item by key."""
        return {"key": key, "index": index, "limit": limit}

    return item


for _i in range({tools}):
    plugin.tool(
        name=f"item{_i}", scopes=["{ns}:read" if _i % 2 == 0 else "{ns}:write"], read_only=True
    )(_make(_i))
'''

#: A guardrail that lets every call through: what one more plugin's hooks cost each call.
GUARD_PLUGIN = '''\
from plughost import Plugin
from plughost.guardrails import CallInfo

plugin = Plugin(scopes={})


@plugin.before_call
async def allow(call: CallInfo) -> None:
    """Let every call through."""
    return None
'''

GUARD_NAMESPACE = "guard"
ECHO_NAMESPACE = "bench"
ECHO_TOOL = f"{ECHO_NAMESPACE}_echo"


def write_dist(root: Path, namespace: str, source: str) -> None:
    """Install plugin ``namespace`` (distribution ``plughost-<namespace>``) into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    module = f"plughost_{namespace}"
    (root / f"{module}.py").write_text(source.replace("{ns}", namespace))
    dist_info = root / f"plughost_{namespace}-1.0.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\n"
        f"Name: plughost-{namespace}\n"
        "Version: 1.0.0\n"
        f"Requires-Dist: plughost>={__version__}\n"
    )
    (dist_info / "entry_points.txt").write_text(f"[mcp_tools]\n{namespace} = {module}:plugin\n")


def echo_plugin(root: Path) -> list[str]:
    """The one plugin holding the trivial tool; returns its namespace list."""
    write_dist(root, ECHO_NAMESPACE, ECHO_PLUGIN)
    return [ECHO_NAMESPACE]


def guarded_echo_plugin(root: Path) -> list[str]:
    """The echo plugin and the allow-everything guardrail; returns their namespaces."""
    write_dist(root, GUARD_NAMESPACE, GUARD_PLUGIN)
    return [*echo_plugin(root), GUARD_NAMESPACE]


def small_plugins(root: Path, count: int, *, tools: int = 2) -> list[str]:
    """``count`` small plugins of ``tools`` tools each; returns their namespaces."""
    namespaces = [f"p{i:04d}" for i in range(count)]
    source = SMALL_PLUGIN.replace("{tools}", str(tools))
    for namespace in namespaces:
        write_dist(root, namespace, source)
    return namespaces


def scopes_of(namespaces: list[str]) -> list[str]:
    """Every scope the `small_plugins` namespaces declare."""
    return [f"{ns}:{action}" for ns in namespaces for action in ("read", "write")]
