"""Whether the plugins a test named are serving, and `PluginNotLoaded` when one is not.

A test that names a plugin wants its tools; failing at start-up on the plugin's own load error
(its line and traceback) beats failing later on an "unknown tool".
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from plughost.errors import PlughostError


class PluginNotLoaded(PlughostError):
    """A plugin a test asked for is not serving: not installed, or it failed to load or start.

    Raised by `plughost_factory` (the host is stopped first), so the test fails on the cause,
    not later on an unknown tool. The message names the plugin and its error, the line in the
    plugin that raised, and the traceback.
    """


def not_serving(report: Any, requested: Sequence[str] | None) -> str | None:
    """Why plugins a test named are not serving, or None when all of them are (or none named)."""
    records = {r.namespace: r for r in report.records}
    problems = []
    for name in requested or ():
        record = records.get(name)
        if record is None:
            problems.append(_not_installed(name, sorted(records)))
        elif record.status != "loaded":
            problems.append(_did_not_load(record))
    return "\n\n".join(problems) or None


def _not_installed(name: str, installed: list[str]) -> str:
    close = difflib.get_close_matches(name, installed, n=1)
    return (
        f"no plugin {name!r} is installed; installed: {', '.join(installed) or 'none'}"
        + (f" (did you mean {close[0]!r}?)" if close else "")
        + ". A plugin is a distribution with an [project.entry-points.mcp_tools] entry; "
        "install its project (pip install -e .) in the environment running the tests"
    )


def _did_not_load(record: Any) -> str:
    lines = [
        f"plugin {record.namespace!r} ({record.distribution} {record.version}) did not load "
        f"({record.status.value}): {record.error}"
    ]
    if record.location:
        lines.append(f"  at {record.location}")
    lines.append(
        "Calls to its tools are refused as 'plugin not loaded'; to test that on purpose, "
        "pass allow_failures=True to plughost_factory."
    )
    if record.traceback:
        lines.append(record.traceback)
    return "\n".join(lines)
