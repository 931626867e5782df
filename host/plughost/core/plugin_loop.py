"""Each plugin's own event loop, on a thread of its own: async plugin code cannot freeze the host.

An ``async def`` tool that calls something blocking (``time.sleep``, a synchronous HTTP client,
a long computation) holds the event loop it runs on until it returns. On the host's loop that
would stall every request to every plugin, health checks included, and no deadline could fire.
So a plugin's async code runs on loops of the plugin's own, and the host's loop only awaits
the result, within the call's deadline: its tools and its start-up and shutdown hooks on one
(so what start-up creates, tools can use), its guardrail hooks on another (they gate every
plugin's calls, so a slow tool of the plugin must not hold them up). A plugin that blocks a
loop delays only what runs there, which then times out. Host services a plugin awaits
(`ToolContext.token_for`) hop back to the host's loop, where their caches and in-flight
requests live.

Plugin code that raises `SystemExit` or `KeyboardInterrupt` (a ``sys.exit`` copied from a
script) would end the loop or thread it runs on, or reach the server as a plain-text 500;
`contained` makes it a `PluginExit`, an ordinary failure of that one call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from plughost.core.loop_hop import PluginExit, run_on
from plughost.sdk.credentials import DownstreamToken, TokenSource

T = TypeVar("T")

log = logging.getLogger("plughost.plugins")


def contained(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, with a `SystemExit` or `KeyboardInterrupt` as `PluginExit`."""
    try:
        return fn(*args, **kwargs)
    except (SystemExit, KeyboardInterrupt) as exc:
        raise PluginExit(f"plugin code raised {type(exc).__name__}") from exc


class PluginLoop:
    """An event loop for one plugin's code, on a daemon thread named ``name``, started on
    first use.

    A daemon thread, because a plugin that never gives its loop back must not keep the process
    from exiting: `close` waits a bounded time and then leaves it behind.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()`` on this loop (see `run_on`)."""
        return await run_on(self._running(), fn)

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_serve, args=(loop,), name=f"plughost-{self.name}", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def close(self, timeout: float) -> None:
        """Stop the loop; its thread cancels what the plugin left running there, and ends.

        Waits at most ``timeout``: a loop the plugin still blocks is left to its thread
        (Python cannot stop a thread), with a warning.
        """
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        await anyio.to_thread.run_sync(thread.join, timeout, abandon_on_cancel=True)
        if thread.is_alive():
            log.warning("event loop %s is still blocked by its plugin; leaving it", self.name)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """A loop thread's life: run until stopped, then end what the plugin left, as `asyncio.run`."""
    asyncio.set_event_loop(loop)
    try:
        while True:
            try:
                loop.run_forever()
                break
            except (SystemExit, KeyboardInterrupt) as exc:  # from a task the plugin started
                log.error(
                    "a task on event loop %s raised %s",
                    threading.current_thread().name,
                    type(exc).__name__,
                )
        loop.run_until_complete(_cancel_the_rest())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


async def _cancel_the_rest() -> None:
    """Cancel every other task on the loop (a plugin's background work) and let them end."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class HostLoopTokens:
    """A call's `TokenSource`, answered on the host's loop, whatever loop the tool awaits it on.

    The exchanger's cache and its shared in-flight requests belong to the host's loop.
    """

    __slots__ = ("_loop", "_source")

    def __init__(self, source: TokenSource, loop: asyncio.AbstractEventLoop) -> None:
        self._source = source
        self._loop = loop

    async def token_for(self, audience: str, scopes: Sequence[str]) -> DownstreamToken:
        return await run_on(self._loop, lambda: self._source.token_for(audience, scopes))

    def __repr__(self) -> str:
        return repr(self._source)
