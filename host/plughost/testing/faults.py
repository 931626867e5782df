"""A TCP proxy on 127.0.0.1 that fails on command, to test how the host lives with broken services.

Mocks cannot show what a real driver does when its server stops answering: whether libpq's
connect timeout covers the handshake, whether the Redis client gives up or retries for a minute.
`FaultProxy` sits between the client and the real PostgreSQL or Redis and, switched at run time,
passes bytes, refuses new connections, drops all of them, or stalls: keeps every connection open
and forwards nothing, the "connection accepted, no reply" case no error path is ever triggered by.

It runs its own asyncio loop on a daemon thread, so a synchronous test and a test serving a host
in this process can both drive it; a mode switch has taken effect when the method returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

from plughost.ops.loopback import is_loopback

__all__ = ["FaultProxy"]

LOOPBACK = "127.0.0.1"
_CHUNK = 65536
_SWITCH_SECONDS = 10


@dataclass(eq=False)
class _Link:
    """One proxied connection: the client's side, the service's side once open, and its task."""

    client: asyncio.StreamWriter
    task: asyncio.Task[None] | None
    upstream: asyncio.StreamWriter | None = None
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self) -> None:
        """Abort both sides with a TCP reset, as a crashed server or a firewall would."""
        for writer in (self.client, self.upstream):
            if writer is not None:
                _reset(writer)
        for task in (*self.pumps, self.task):
            if task is not None:
                task.cancel()


class FaultProxy:
    """Forward 127.0.0.1:<port> to a loopback service, and break the path on command.

    ``with FaultProxy("127.0.0.1", 5432) as proxy:`` starts it on a free port in pass-through
    mode; `url_for` points a service URL at it. Only loopback targets are accepted, so a test
    can never send bytes to a real network service by mistake.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        if not is_loopback(target_host):
            raise ValueError(f"FaultProxy forwards to loopback only, not to {target_host!r}")
        self.target_host = target_host
        self.target_port = target_port
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._accepting = True
        self._flowing: asyncio.Event | None = None
        self._stopping: asyncio.Event | None = None
        self._links: set[_Link] = set()

    @property
    def port(self) -> int:
        """The port the proxy listens on (127.0.0.1), once started."""
        if self._port is None:
            raise RuntimeError("FaultProxy is not started; use it as a context manager or start()")
        return self._port

    def url_for(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's; user, path and query kept.

        ``proxy.url_for("redis://127.0.0.1:6379/0")`` is ``redis://127.0.0.1:<port>/0``.
        """
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{LOOPBACK}:{self.port}" if userinfo else f"{LOOPBACK}:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def start(self) -> FaultProxy:
        """Listen on a free port and forward, on a thread of its own; returns when listening."""
        if self._thread is not None:
            raise RuntimeError("FaultProxy is already started")
        self._started.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="plughost-fault-proxy", daemon=True)
        self._thread.start()
        if not self._started.wait(_SWITCH_SECONDS) or self._error is not None:
            raise RuntimeError("FaultProxy failed to start") from self._error
        return self

    def stop(self) -> None:
        """Reset every connection, close the listener, and wait for the thread to end."""
        if self._thread is None or self._loop is None or self._stopping is None:
            return
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(_SWITCH_SECONDS)
        self._thread = self._loop = None

    def pass_through(self) -> None:
        """Accept new connections and forward bytes both ways on all of them."""
        self._switch(accepting=True, flowing=True)

    def refuse(self) -> None:
        """Reset every new connection at once; open connections keep working."""
        self._switch(accepting=False, flowing=True)

    def drop(self) -> None:
        """Reset every open connection and every new one: the service has gone away."""
        self._switch(accepting=False, flowing=True, reset=True)

    def stall(self) -> None:
        """Accept connections and hold all of them open, forwarding nothing either way."""
        self._switch(accepting=True, flowing=False)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _switch(self, *, accepting: bool, flowing: bool, reset: bool = False) -> None:
        """Apply a mode on the proxy's loop and wait until it has taken effect."""
        if self._loop is None:
            raise RuntimeError("FaultProxy is not started; use it as a context manager or start()")

        async def apply() -> None:
            assert self._flowing is not None
            self._accepting = accepting
            if reset:
                for link in list(self._links):
                    link.reset()
                self._links.clear()
            if flowing:
                self._flowing.set()
            else:
                self._flowing.clear()

        asyncio.run_coroutine_threadsafe(apply(), self._loop).result(_SWITCH_SECONDS)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # start() waits on this thread and re-raises it
            self._error = exc
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._accepting = True
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        self._port = int(server.sockets[0].getsockname()[1])
        self._started.set()
        async with server:
            await self._stopping.wait()
            server.close()
            links = list(self._links)
            for link in links:
                link.reset()
            tasks = [link.task for link in links if link.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        if not self._accepting:
            _reset(client)
            return
        link = _Link(client=client, task=asyncio.current_task())
        self._links.add(link)
        try:
            await self._forward(link, reader)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._links.discard(link)
            for pump in link.pumps:
                pump.cancel()
            for writer in (link.client, link.upstream):
                if writer is not None:
                    writer.close()

    async def _forward(self, link: _Link, client_reader: asyncio.StreamReader) -> None:
        """Open the service's side (not while stalled) and pump both ways until one side ends."""
        assert self._flowing is not None
        await self._flowing.wait()
        upstream_reader, link.upstream = await asyncio.open_connection(
            self.target_host, self.target_port
        )
        link.pumps = [
            asyncio.create_task(self._pump(client_reader, link.upstream)),
            asyncio.create_task(self._pump(upstream_reader, link.client)),
        ]
        await asyncio.wait(link.pumps, return_when=asyncio.FIRST_COMPLETED)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy bytes, pausing before each read and each write while the proxy is stalled."""
        assert self._flowing is not None
        with contextlib.suppress(OSError):
            while True:
                await self._flowing.wait()
                data = await reader.read(_CHUNK)
                await self._flowing.wait()
                if not data:
                    return
                writer.write(data)
                await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN, so the peer sees 'connection reset' straight away."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
