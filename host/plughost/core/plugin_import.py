"""Import a plugin's entry point within a deadline, so a module that hangs at import time
(a service called at import that never answers) cannot keep the host from starting."""

from __future__ import annotations

import threading
from typing import Any

import importlib_metadata

from plughost.errors import PluginStartTimeout


def import_entry_point(ep: importlib_metadata.EntryPoint, timeout: float | None) -> Any:
    """The entry point's object, imported on a thread of its own within ``timeout``.

    A module that calls a service at import time and never hears back would otherwise keep
    the host from starting at all. Python cannot stop the thread: the import is left to
    finish on its own, and the plugin is not served.
    """
    if timeout is None:
        return ep.load()
    outcome: dict[str, Any] = {}

    def load() -> None:
        try:
            outcome["object"] = ep.load()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=load, name=f"plughost-import-{ep.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise PluginStartTimeout(
            f"importing {ep.value} did not finish within {timeout:g}s "
            "(PLUGHOST_PLUGIN_START_TIMEOUT_SECONDS); is the module calling a service that does "
            "not answer? Connect in an on_startup hook instead"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["object"]
