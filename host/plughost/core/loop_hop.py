"""`run_on`: await a coroutine on another thread's event loop, with as few wake-ups as possible.

A plugin's async code runs on loops of its own (`plughost.core.plugin_loop`), so every call
hops from the host's loop to the plugin's and back. A hop is cheap in Python terms but each
wake-up of a sleeping loop is a write to its self-pipe, a thread switch and a hand-over of the
GIL: under load the wake-ups cost a call more than the host's own code.
`asyncio.run_coroutine_threadsafe` wakes the target loop for every call and adds a
`concurrent.futures.Future` (a lock, a condition, a chain of callbacks) to carry the result.

Here each loop has a `_Mailbox`: work posted to a loop waits in its box, and only the first
post into an empty box wakes the loop, once the poster's own loop has run what was ready;
the woken loop then runs everything in the box at once. With many calls in flight, one
wake-up carries many of them, both ways; with one call in flight this costs what a plain
``call_soon_threadsafe`` does. The outcome crosses back as the task's
own result, into an `asyncio.Future` of the caller's loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class PluginExit(Exception):
    """Plugin code raised `SystemExit` or `KeyboardInterrupt`: a failure of that call only."""


async def run_on(loop: asyncio.AbstractEventLoop, fn: Callable[[], Awaitable[T]]) -> T:
    """``await fn()`` on ``loop``, from a coroutine on any loop.

    The caller's context variables (the call record, the trace) go along; cancelling the
    caller's wait (its deadline) cancels the work on ``loop`` as soon as that loop is free.
    A `SystemExit` or `KeyboardInterrupt` from ``fn`` arrives as `PluginExit`.
    """
    here = asyncio.get_running_loop()
    if here is loop:
        return await fn()
    hop = _Hop(here, loop, here.create_future())
    _mailbox(loop).post(hop.start, fn, contextvars.copy_context())
    try:
        return await hop.waiter
    except asyncio.CancelledError:
        _mailbox(loop).post(hop.cancel)
        raise


class _Mailbox:
    """Callbacks posted to one loop from other threads, run on it in the order posted."""

    __slots__ = ("__weakref__", "_items", "_lock", "_scheduled", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._items: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def post(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop soon; wake it only if nothing waits already
        (a wake-up already on its way runs this too).

        The wake-up leaves once the posting thread's own loop has run what is ready now, so
        what the other calls it is serving post in the meantime travels with it.
        """
        with self._lock:
            self._items.append((callback, args))
            if self._scheduled:
                return
            self._scheduled = True
        try:
            asyncio.get_running_loop().call_soon(self._wake)
        except RuntimeError:  # posted from a thread without a running loop
            self._wake()

    def _wake(self) -> None:
        self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, deque()
            self._scheduled = False
        for callback, args in items:
            try:
                callback(*args)
            except Exception as exc:  # one failed hand-off must not strand the others
                self.loop.call_exception_handler(
                    {"message": "a hand-off between event loops failed", "exception": exc}
                )


_boxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Mailbox] = weakref.WeakKeyDictionary()
_boxes_lock = threading.Lock()


def _mailbox(loop: asyncio.AbstractEventLoop) -> _Mailbox:
    box = _boxes.get(loop)
    if box is None:
        with _boxes_lock:
            box = _boxes.get(loop)
            if box is None:
                box = _boxes[loop] = _Mailbox(loop)
    return box


class _Hop:
    """One ``await fn()`` handed from the caller's loop (``here``) to another (``there``)."""

    __slots__ = ("here", "task", "there", "waiter")

    def __init__(
        self,
        here: asyncio.AbstractEventLoop,
        there: asyncio.AbstractEventLoop,
        waiter: asyncio.Future[Any],
    ) -> None:
        self.here, self.there, self.waiter = here, there, waiter
        self.task: asyncio.Task[Any] | None = None

    def start(self, fn: Callable[[], Awaitable[Any]], context: contextvars.Context) -> None:
        """On ``there``: run ``fn`` as a task in the caller's context."""
        if self.waiter.cancelled():  # the caller gave up before the loop got to it
            return
        self.task = self.there.create_task(_contained(fn), context=context)
        self.task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        if not self.here.is_closed():  # the caller's loop ended first (shutdown)
            _mailbox(self.here).post(self._settle, task)

    def _settle(self, task: asyncio.Task[Any]) -> None:
        """On ``here``: the task's outcome becomes the caller's."""
        if self.waiter.done():
            return
        if task.cancelled():
            self.waiter.cancel()
        elif (error := task.exception()) is not None:
            self.waiter.set_exception(error)
        else:
            self.waiter.set_result(task.result())

    def cancel(self) -> None:
        """On ``there``: the caller stopped waiting."""
        if self.task is not None:
            self.task.cancel()


async def _contained(fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return await fn()
    except (SystemExit, KeyboardInterrupt) as exc:
        raise PluginExit(f"plugin code raised {type(exc).__name__}") from exc
