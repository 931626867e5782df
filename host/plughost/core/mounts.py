"""Mounts: an existing MCP server served under a namespace, as if it were a plugin.

The operator declares each mount (`plughost.settings.MountSettings`): where the server is (a
streamable HTTP URL, or a command speaking stdio), what the host presents to it, and the scopes
each of its tools needs. At start the host connects, lists the server's tools and serves each
one the operator gave scopes to as ``<namespace>_<tool>`` (`plughost.core.forwarding`
`ForwardedTool`, in the registry with the mount as its plugin and the server's version as the
plugin's), so sign-in, scopes, step-up, rate limits, guardrails, audit, tracing and the console
treat it like any plugin's tool. A tool the operator declared no scopes for is not served
(unless ``default_scopes`` is set), nor is one whose public name breaks the naming rules.

Each mount is supervised on the host's loop: listed again every ``refresh_seconds`` (the
registry's generation changes, so cached tools/list answers follow), and when it is down (at
start, or a call found its connection gone) it is marked down in the registry, so its names
answer ``unavailable`` (503 with ``Retry-After``) at once instead of waiting for a deadline,
and retried after 1 s, then 2, 4... up to ``refresh_seconds``. Its resources, templates and
prompts are served the same way (`plughost.core.mount_components`, each with the scopes the
operator declared for it), and completed by asking it when it completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from plughost.core.callrecord import current_call
from plughost.core.forwarded_components import ForwardedSet
from plughost.core.forwarding import ForwardedTool, Upstream, UpstreamError, UpstreamUnavailable
from plughost.core.lifecycle import unserve
from plughost.core.mount_components import remote_uri, select_components, select_tools
from plughost.core.naming import check_namespace, check_vocabulary
from plughost.core.registry import RegisteredTarget
from plughost.core.upstream import (
    CallHeaders,
    Connector,
    Listing,
    UpstreamClient,
    http_connector,
    stdio_connector,
)
from plughost.errors import ScopeError, SettingsError
from plughost.sdk.errors import TokenExchangeRefused
from plughost.settings import ENV_PREFIX, MountCredentials, MountSettings

if TYPE_CHECKING:
    from plughost.core.host import Host

log = logging.getLogger("plughost.mounts")

Status = Literal["connecting", "up", "down"]
#: The first wait before retrying a mount that is down; it doubles up to its refresh interval.
_FIRST_RETRY_SECONDS = 1.0


@dataclass
class MountState:
    """What the CLI, `/healthz` and the console report of one mount (never a credential)."""

    namespace: str
    transport: Literal["http", "stdio"]
    where: str
    status: Status = "connecting"
    error: str | None = None
    server: str | None = None
    version: str = "unknown"
    last_refresh: float | None = None  # time.time() of the last listing
    served: list[str] = field(default_factory=list)
    #: Upstream targets not served, with why (no scopes declared, a name too long...).
    skipped: dict[str, str] = field(default_factory=dict)
    kind: str = "remote"


class Mount:
    """One mounted server: its client, its state, and its targets on the host."""

    def __init__(self, host: Host, namespace: str, settings: MountSettings) -> None:
        check_namespace(namespace)
        check_vocabulary(namespace, settings.scopes)
        self.host = host
        self.namespace = namespace
        self.settings = settings
        self.state = MountState(namespace, settings.kind, settings.where)
        self._wake = asyncio.Event()
        self.client = UpstreamClient(
            namespace,
            _connector(namespace, settings),
            connect_timeout=settings.connect_timeout_seconds,
            on_broken=self.broken,
            call_headers=_exchange_headers(host, namespace, settings.credentials),
        )

    async def refresh(self) -> bool:
        """Connect, list and serve what the upstream serves now; False when it is down."""
        try:
            listing = await self.client.connect()
        except (UpstreamUnavailable, UpstreamError) as exc:
            self.broken(str(exc))
            return False
        self._serve(listing)
        return True

    def broken(self, reason: str) -> None:
        """The upstream is not answering: its names are refused as unavailable until a
        retry (soon) lists it again."""
        if self.state.status != "down":
            log.warning("mount %s is down: %s", self.namespace, reason)
        self.state.status, self.state.error = "down", reason
        self.host.registry.mark_down(self.namespace, reason)
        self._wake.set()

    async def supervise(self) -> None:
        """List again every ``refresh_seconds``; retry a down upstream with backoff."""
        backoff = _FIRST_RETRY_SECONDS
        while True:
            if self.state.status == "up":
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.refresh_seconds)
                if self.state.status == "up":
                    await self.refresh()
                    continue
                backoff = _FIRST_RETRY_SECONDS  # a call found it gone: retry soon
            await asyncio.sleep(backoff)
            if await self.refresh():
                backoff = _FIRST_RETRY_SECONDS
            else:
                backoff = min(backoff * 2, self.settings.refresh_seconds)

    def _serve(self, listing: Listing) -> None:
        """Replace the mount's targets on the host with ``listing``'s (no await in here, so
        no request sees half of it)."""
        served = self._tools(listing)
        forwarded = forwarded_set(self.namespace, self.client, listing)
        tools = {entry.name for entry, _ in served}
        self.state.skipped.update(
            select_components(self.namespace, self.settings, listing, forwarded, tools)
        )
        unserve(self.host, self.host.registry.remove(self.namespace))
        for entry, tool in served:
            self.host.mcp.add_tool(tool)
            self.host.tools[entry.name] = tool
            self.host.registry.add(entry)
        forwarded.serve(self.host.mcp, self.host.registry, self.host.completions)
        self.host.registry.mark_up(self.namespace)
        state = self.state
        state.status, state.error, state.last_refresh = "up", None, time.time()
        state.server, state.version = listing.server_name, listing.server_version
        state.served = [entry.name for entry, _ in (*served, *forwarded.components)]

    def _tools(self, listing: Listing) -> list[tuple[RegisteredTarget, ForwardedTool]]:
        """The upstream's tools the operator declared scopes for, as the host serves them."""
        chosen, self.state.skipped = select_tools(self.namespace, self.settings, listing)
        return [
            (
                entry,
                ForwardedTool.build(
                    self.client,
                    listed,
                    entry,
                    deadline=self.settings.timeout_seconds,
                    max_result_bytes=self.host.settings.max_result_bytes,
                    meta={"mount": True},
                ),
            )
            for listed, entry in chosen
        ]


def forwarded_set(namespace: str, upstream: Upstream, listing: Listing) -> ForwardedSet:
    """Where a mount's resources and prompts go: ``upstream``, their URIs mapped back."""
    return ForwardedSet(
        upstream,
        {"mount": True},
        remote_uri=lambda uri: remote_uri(namespace, uri),
        completes=listing.completes,
    )


async def probe(namespace: str, settings: MountSettings) -> MountState:
    """Connect once and say what the mount would serve (``plughost plugins``), then close."""
    state = MountState(namespace, settings.kind, settings.where)
    try:
        connector = _connector(namespace, settings)
    except SettingsError as exc:
        state.status, state.error = "down", str(exc)
        return state
    client = UpstreamClient(namespace, connector, connect_timeout=settings.connect_timeout_seconds)
    try:
        listing = await client.connect()
    except (UpstreamUnavailable, UpstreamError) as exc:
        state.status, state.error = "down", str(exc)
        return state
    finally:
        await client.close()
    chosen, state.skipped = select_tools(namespace, settings, listing)
    forwarded = forwarded_set(namespace, client, listing)
    tools = {entry.name for _, entry in chosen}
    state.skipped.update(select_components(namespace, settings, listing, forwarded, tools))
    state.status, state.last_refresh = "up", time.time()
    state.server, state.version = listing.server_name, listing.server_version
    state.served = [entry.name for _, entry in chosen]
    state.served += [entry.name for entry, _ in forwarded.components]
    return state


def build_mounts(host: Host) -> dict[str, Mount]:
    """Every mount the operator declared; one that clashes with a plugin's namespace stops
    the start (two owners of one set of names)."""
    taken = {plugin.namespace for plugin in host.report.loaded}
    mounts = {}
    for namespace, settings in host.settings.mounts.items():
        if namespace in taken:
            raise SettingsError(
                f"{ENV_PREFIX}MOUNTS__{namespace.upper()}: namespace {namespace!r} is a "
                "plugin's already; mount the server under another name"
            )
        try:
            mounts[namespace] = Mount(host, namespace, settings)
        except ScopeError as exc:
            raise SettingsError(f"{ENV_PREFIX}MOUNTS__{namespace.upper()}: {exc}") from None
    return mounts


@asynccontextmanager
async def running(mounts: Mapping[str, Mount]) -> AsyncIterator[None]:
    """Connect every mount (together, each within its connect deadline), supervise them
    while the host serves, and close them (stdio servers end) when it stops."""
    await asyncio.gather(*(mount.refresh() for mount in mounts.values()))
    tasks = [
        asyncio.create_task(mount.supervise(), name=f"mount-{name}")
        for name, mount in mounts.items()
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(
            *(mount.client.close() for mount in mounts.values()), return_exceptions=True
        )


def _connector(namespace: str, settings: MountSettings) -> Connector:
    """How to reach the upstream, with its static credential if it has one."""
    if settings.command is not None:
        return stdio_connector(settings.command, settings.env, settings.cwd)
    assert settings.url is not None
    headers: dict[str, str] = {}
    credentials = settings.credentials
    if credentials.kind == "static":
        assert credentials.env is not None
        secret = os.environ.get(credentials.env)
        if not secret:
            raise SettingsError(
                f"{ENV_PREFIX}MOUNTS__{namespace.upper()}__CREDENTIALS__ENV names "
                f"{credentials.env}, which is not set: set it to the upstream's secret"
            )
        headers[credentials.header] = f"{credentials.prefix}{secret}"
    return http_connector(settings.url, headers, settings.connect_timeout_seconds)


def _exchange_headers(
    host: Host, namespace: str, credentials: MountCredentials
) -> CallHeaders | None:
    """Each call's own ``Authorization``: the caller's token exchanged for the upstream's
    audience, within the grant ``PLUGHOST_TOKEN_EXCHANGE__PLUGINS__<NAMESPACE>``."""
    if credentials.kind != "exchange":
        return None
    audience = credentials.audience or ""

    async def headers() -> Mapping[str, str]:
        record = current_call.get()
        if host.exchanger is None or record is None:
            raise TokenExchangeRefused(
                "token exchange is off on this server", plugin=namespace, audience=audience
            )
        source = host.exchanger.source(namespace, record.subject_token)
        token = await source.token_for(audience, credentials.scopes)
        return token.headers()

    return headers
