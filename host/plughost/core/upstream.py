"""`UpstreamClient`: the host as the MCP client of one upstream server, off the host's loop.

One client session per upstream is kept open (connecting costs a handshake, and a stdio
server a process) on an event loop of the upstream's own (`PluginLoop`), so its I/O, its
parsing and a transport that misbehaves never hold up the host's loop or any other upstream;
the host's loop only awaits each answer within the caller's deadline, and cancelling that wait
abandons the request upstream (the SDK tells the server it was cancelled).

A call that finds the transport gone (the server's process died, its socket closed or refused)
raises `UpstreamUnavailable` and reports the session broken through ``on_broken``; the owner
(`plughost.core.mounts`) reconnects with backoff. A call with credentials of its own (a token
exchanged for the caller) cannot share the session, whose HTTP headers are fixed when it
opens: it opens a connection of its own for that one request.

How to reach the upstream is a `Connector`: extra HTTP headers in, an MCP SDK transport out
(`http_connector`, `stdio_connector`; an isolated plugin's supervised worker can be another).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, TypeVar, cast

import anyio
import httpx2
from mcp import types as mcp
from mcp.client import Client
from mcp.client._transport import Transport, TransportStreams
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, PaginatedRequestParams, RequestParamsMeta

from plughost.core.forwarding import UpstreamError, UpstreamUnavailable
from plughost.core.plugin_loop import PluginLoop

log = logging.getLogger("plughost.upstream")

T = TypeVar("T")

#: Extra HTTP headers in (a per-call credential; empty for the shared session), a transport out.
Connector = Callable[[Mapping[str, str]], Transport]
#: The HTTP headers one call presents upstream (its own credential), read on the host's loop.
CallHeaders = Callable[[], Awaitable[Mapping[str, str]]]

#: Most pages of one list the host reads from an upstream (a paginator that never ends).
_MAX_PAGES = 50


def http_connector(url: str, headers: Mapping[str, str], timeout: float) -> Connector:
    """Streamable HTTP to ``url`` with ``headers`` on every request (a static credential)."""

    @asynccontextmanager
    async def connect(extra: Mapping[str, str]) -> AsyncIterator[TransportStreams]:
        http = httpx2.AsyncClient(
            headers={**headers, **extra},
            timeout=httpx2.Timeout(timeout, read=max(timeout, 300.0)),
            follow_redirects=False,
        )
        async with http, streamable_http_client(url, http_client=http) as streams:
            yield streams

    return connect  # type: ignore[return-value]


def stdio_connector(command: Sequence[str], env: Mapping[str, str], cwd: str | None) -> Connector:
    """A process started with ``command`` speaking MCP on its stdin and stdout (headers are
    meaningless there); it inherits only the SDK's safe variables plus ``env``."""
    params = StdioServerParameters(
        command=command[0], args=list(command[1:]), env=dict(env), cwd=cwd
    )
    return lambda _extra: stdio_client(params)


@dataclass
class Listing:
    """What an upstream serves, as it listed it."""

    server_name: str
    server_version: str
    tools: list[mcp.Tool] = field(default_factory=list)
    resources: list[mcp.Resource] = field(default_factory=list)
    templates: list[mcp.ResourceTemplate] = field(default_factory=list)
    prompts: list[mcp.Prompt] = field(default_factory=list)
    #: Whether it answers ``completion/complete`` (it advertises the capability).
    completes: bool = False


@dataclass
class _Live:
    """The open session and how to close it (its keeper task waits for ``stop``)."""

    session: ClientSession
    stop: asyncio.Event
    keeper: asyncio.Task[None]


@dataclass(eq=False)
class UpstreamClient:
    """`plughost.core.forwarding.Upstream` over one kept-open MCP session."""

    name: str
    connector: Connector
    _: KW_ONLY
    connect_timeout: float
    on_broken: Callable[[str], None] = lambda _reason: None
    call_headers: CallHeaders | None = None
    _loop: PluginLoop = field(init=False)
    _live: _Live | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._loop = PluginLoop(f"upstream-{self.name}")

    async def connect(self) -> Listing:
        """List everything the upstream serves, on the open session or a new one, within
        the connect deadline; `UpstreamUnavailable` (or `UpstreamError`) when it cannot."""
        try:
            with anyio.fail_after(self.connect_timeout):
                return await self._loop.run(self._connect_and_list)
        except TimeoutError:
            await self.disconnect()
            raise UpstreamUnavailable(
                f"no answer within {self.connect_timeout:g}s of connecting"
            ) from None

    async def disconnect(self) -> None:
        """Close the session (a stdio server's process ends with it)."""
        await self._loop.run(self._drop)

    async def close(self) -> None:
        """Close the session and stop this upstream's loop."""
        await self.disconnect()
        await self._loop.close(timeout=2.0)

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any], meta: Mapping[str, Any]
    ) -> mcp.CallToolResult:
        return await self._request(lambda s: s.call_tool(name, dict(arguments), meta=_meta(meta)))

    async def read_resource(self, uri: str, meta: Mapping[str, Any]) -> mcp.ReadResourceResult:
        return await self._request(lambda s: s.read_resource(uri, meta=_meta(meta)))

    async def get_prompt(
        self, name: str, arguments: Mapping[str, str], meta: Mapping[str, Any]
    ) -> mcp.GetPromptResult:
        return await self._request(lambda s: s.get_prompt(name, dict(arguments), meta=_meta(meta)))

    async def complete(
        self, params: mcp.CompleteRequestParams, meta: Mapping[str, Any]
    ) -> mcp.CompleteResult:
        sent = params.model_copy(update={"meta": _meta(meta)})
        request = mcp.CompleteRequest(params=sent)
        return await self._request(lambda s: s.send_request(request, mcp.CompleteResult))

    async def _request(self, send: Callable[[ClientSession], Awaitable[T]]) -> T:
        """``send`` on the upstream's loop, its failures as the forwarding errors."""
        headers = await self.call_headers() if self.call_headers is not None else {}
        try:
            if headers:
                return await self._loop.run(lambda: self._one_shot(headers, send))
            return await self._loop.run(lambda: self._on_session(send))
        except UpstreamUnavailable as exc:
            if not headers:
                self.on_broken(str(exc))
            raise

    async def _on_session(self, send: Callable[[ClientSession], Awaitable[T]]) -> T:
        live = self._live
        if live is None or live.keeper.done():
            raise UpstreamUnavailable("not connected")
        return await _classified(send(live.session))

    async def _one_shot(
        self, headers: Mapping[str, str], send: Callable[[ClientSession], Awaitable[T]]
    ) -> T:
        try:
            async with Client(self.connector(headers), cache=None) as client:
                return await _classified(send(client.session))
        except (UpstreamError, UpstreamUnavailable):
            raise
        except Exception as exc:
            raise UpstreamUnavailable(_describe(exc)) from None

    async def _connect_and_list(self) -> Listing:
        """List on the open session (calls in flight on it go on); connect anew when there
        is none or it no longer answers."""
        live = self._live
        if live is not None and not live.keeper.done():
            try:
                return await _classified(_list_all(live.session))
            except (UpstreamUnavailable, UpstreamError) as exc:
                log.info("upstream %s: listing again on a new session (%s)", self.name, exc)
        await self._drop()
        ready: asyncio.Future[ClientSession] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        keeper = asyncio.create_task(self._keep(ready, stop), name=f"upstream-{self.name}")
        try:
            session = await asyncio.shield(ready)
        except BaseException:
            stop.set()
            raise
        self._live = _Live(session, stop, keeper)
        return await _classified(_list_all(session))

    async def _keep(self, ready: asyncio.Future[ClientSession], stop: asyncio.Event) -> None:
        """Own the session for its whole life: entered and left in this one task, as the
        transport's task groups require."""
        try:
            async with Client(self.connector({}), cache=None) as client:
                ready.set_result(client.session)
                await stop.wait()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(UpstreamUnavailable(_describe(exc)))
            else:
                log.warning("upstream %s: the session ended: %s", self.name, _describe(exc))

    async def _drop(self) -> None:
        live, self._live = self._live, None
        if live is None:
            return
        live.stop.set()
        with anyio.move_on_after(5.0):
            await asyncio.wait({live.keeper})
        if not live.keeper.done():
            live.keeper.cancel()


async def _classified(pending: Awaitable[T]) -> T:
    """An upstream answer; a JSON-RPC error as `UpstreamError`, no answer (the connection
    closed or failed) as `UpstreamUnavailable`."""
    try:
        return await pending
    except MCPError as exc:
        if exc.error.code == CONNECTION_CLOSED:
            raise UpstreamUnavailable("the connection closed") from None
        raise UpstreamError(exc.error.code, exc.error.message) from None
    except RuntimeError as exc:  # the SDK's check of a result against its output schema
        raise UpstreamError(-32603, f"invalid result: {exc}") from None
    except (OSError, httpx2.HTTPError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
        raise UpstreamUnavailable(_describe(exc)) from None


async def _list_all(session: ClientSession) -> Listing:
    """Every tool, resource, template and prompt the upstream advertises, page by page."""
    info = session.server_info
    capabilities = session.server_capabilities
    listing = Listing(
        server_name=info.name if info is not None else "",
        server_version=info.version if info is not None else "unknown",
    )
    if capabilities is None or capabilities.tools is not None:
        listing.tools = await _pages(session.list_tools, "tools")
    if capabilities is not None and capabilities.resources is not None:
        listing.resources = await _pages(session.list_resources, "resources")
        listing.templates = await _pages(session.list_resource_templates, "resource_templates")
    if capabilities is not None and capabilities.prompts is not None:
        listing.prompts = await _pages(session.list_prompts, "prompts")
    listing.completes = capabilities is not None and capabilities.completions is not None
    return listing


async def _pages(fetch: Callable[..., Awaitable[Any]], attribute: str) -> list[Any]:
    found: list[Any] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = await fetch(params=PaginatedRequestParams(cursor=cursor))
        found.extend(getattr(page, attribute))
        cursor = page.next_cursor
        if not cursor:
            break
    return found


def _meta(meta: Mapping[str, Any]) -> RequestParamsMeta:
    return cast(RequestParamsMeta, dict(meta))


def _describe(exc: BaseException) -> str:
    """What went wrong, for logs and agents: the error's type and the first line of its
    message, bounded (never a header or a credential: those are not in transport errors)."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
