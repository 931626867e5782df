"""The official MCP Python SDK (``mcp``) against a running ``plughost serve``."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from mcp.shared.exceptions import MCPError
from mcp.types import PromptReference

from plughost.testing import free_port

from .browser import Callback, consent, headless_page
from .conftest import Server
from .sdk import CALL_TIMEOUT, Wire, bearer, leaves, run_session, tool_names

READ_TOOLS = {"todo_get", "todo_list"}
WRITE_TOOLS = {"todo_create", "todo_delete", "todo_update"}


class MemoryStorage:
    """The SDK's token storage, kept in memory; a test may seed it with a token."""

    def __init__(self, tokens: OAuthToken | None = None) -> None:
        self.tokens = tokens
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def test_a_read_token_sees_and_calls_only_read_tools(server: Server) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    token = server.token("todo:read", tenant=tenant)

    async def body(session: ClientSession) -> Any:
        listed = (await session.list_tools()).tools
        listing = await session.call_tool("todo_list", {})
        with pytest.raises(MCPError) as refused:
            await session.call_tool("todo_create", {"title": "not allowed"})
        return listed, listing, refused.value

    wire = Wire()
    listed, listing, refused = run_session(server, body, wire, **bearer(token))

    assert {t.name for t in listed if t.name.startswith("todo_")} == READ_TOOLS
    for tool in listed:  # other bundled plugins' tools only where their scopes are held
        assert set(tool.meta["plughost"]["scopes"]) <= {"todo:read"}, tool.name
    assert listing.structured_content == {"items": [], "next_cursor": None}
    assert refused.error.data["missing"] == ["todo:write"]
    assert ("POST", "/mcp", 403) in wire.exchanges
    assert any(
        'error="insufficient_scope"' in c and 'scope="todo:read todo:write"' in c
        for c in wire.challenges
    )


def test_a_write_token_creates_what_a_read_token_then_lists(server: Server) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    title = f"written through the SDK {tenant}"

    async def write(session: ClientSession) -> Any:
        assert await tool_names(session) >= READ_TOOLS | WRITE_TOOLS
        return await session.call_tool("todo_create", {"title": title})

    async def read(session: ClientSession) -> Any:
        return await session.call_tool("todo_list", {})

    writer = bearer(server.token("todo:read todo:write", tenant=tenant))
    created = run_session(server, write, **writer)
    listed = run_session(server, read, **bearer(server.token("todo:read", tenant=tenant)))
    others = run_session(server, read, **bearer(server.token("todo:read", tenant="other")))

    assert created.structured_content["title"] == title
    assert [i["title"] for i in listed.structured_content["items"]] == [title]
    assert title not in [i["title"] for i in others.structured_content["items"]]


def test_no_token_is_a_401_pointing_at_the_metadata(server: Server) -> None:
    wire = Wire()
    with pytest.raises(BaseException) as failed:
        run_session(server, tool_names, wire)
    assert any(isinstance(e, MCPError) for e in leaves(failed.value)), failed.value
    assert wire.exchanges == [("POST", "/mcp", 401)]
    metadata = f"{server.base_url}/.well-known/oauth-protected-resource/mcp"
    (challenge,) = wire.challenges
    assert challenge.startswith("Bearer scope=") and f'resource_metadata="{metadata}"' in challenge
    baseline = set(challenge.split('scope="')[1].split('"')[0].split())
    assert "todo:read" in baseline and "todo:write" not in baseline  # least privilege first


def credentials_provider(server: Server, storage: MemoryStorage) -> ClientCredentialsOAuthProvider:
    client = server.dev_client()
    return ClientCredentialsOAuthProvider(
        server_url=server.mcp_url,
        storage=storage,
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        issuer=server.base_url,
    )


def test_a_least_privilege_client_signs_in_with_the_baseline_then_steps_up(
    server: Server,
) -> None:
    """From nothing: the 401 names the baseline, the SDK asks for just that, reads, and when a
    write is refused with 403 it asks for what it had plus the write scope, and writes."""
    storage = MemoryStorage()
    title = f"via client credentials {uuid.uuid4().hex[:8]}"
    scopes_seen: list[str] = []

    async def body(session: ClientSession) -> Any:
        names = await tool_names(session)
        assert storage.tokens is not None
        scopes_seen.append(storage.tokens.scope or "")
        created = await session.call_tool("todo_create", {"title": title})
        return names, created

    wire = Wire()
    names, created = run_session(server, body, wire, auth=credentials_provider(server, storage))

    assert wire.exchanges[:4] == [
        ("POST", "/mcp", 401),
        ("GET", "/.well-known/oauth-protected-resource/mcp", 200),
        ("GET", "/.well-known/oauth-authorization-server", 200),
        ("POST", "/oauth/token", 200),
    ]
    signed_in_with = set(scopes_seen[0].split())
    assert "todo:read" in signed_in_with and "todo:write" not in signed_in_with
    assert {n for n in names if n.startswith("todo_")} == READ_TOOLS
    refused = wire.exchanges.index(("POST", "/mcp", 403))
    assert ("POST", "/oauth/token", 200) in wire.exchanges[refused:]
    assert created.structured_content["title"] == title
    assert storage.tokens is not None and storage.tokens.scope is not None
    assert signed_in_with | {"todo:write"} <= set(storage.tokens.scope.split())


def test_client_credentials_step_up_on_a_403(server: Server) -> None:
    """A read-only token hits a write tool: the SDK reads the 403 challenge and asks for more."""
    read_only = OAuthToken(
        access_token=server.token("todo:read"), token_type="Bearer", scope="todo:read"
    )
    storage = MemoryStorage(read_only)

    async def body(session: ClientSession) -> Any:
        before = await tool_names(session)
        created = await session.call_tool("todo_create", {"title": "after step-up"})
        after = await tool_names(session)
        return before, created, after

    wire = Wire()
    before, created, after = run_session(
        server, body, wire, auth=credentials_provider(server, storage)
    )

    assert {n for n in before if n.startswith("todo_")} == READ_TOOLS
    assert any('scope="todo:read todo:write"' in c for c in wire.challenges)
    refused = wire.exchanges.index(("POST", "/mcp", 403))
    assert ("POST", "/oauth/token", 200) in wire.exchanges[refused:]
    assert created.structured_content["title"] == "after step-up"
    assert after >= READ_TOOLS | WRITE_TOOLS
    assert storage.tokens is not None and storage.tokens.scope is not None
    assert {"todo:read", "todo:write"} <= set(storage.tokens.scope.split())


class BrowserSignIn:
    """The SDK's redirect and callback handlers, with headless Chromium as the user.

    ``open`` sends the browser to the authorization URL and answers the real consent page
    (recording which scopes it listed); ``result`` hands the SDK what arrived at the
    redirect URI, exactly as a desktop client's local callback would.
    """

    def __init__(self, page: Any, callback: Callback) -> None:
        self.page = page
        self.callback = callback
        self.consents: list[list[str]] = []

    async def open(self, url: str) -> None:
        await self.page.goto(url)
        self.consents.append(await consent(self.page))

    async def result(self) -> AuthorizationCodeResult:
        params = parse_qs(urlsplit(await self.callback.wait()).query)
        return AuthorizationCodeResult(
            code=params["code"][0], state=params["state"][0], iss=params["iss"][0]
        )


def test_the_sdk_signs_in_through_the_consent_page_and_steps_up(
    server: Server, chromium: str
) -> None:
    """OAuthClientProvider from nothing: 401, discovery, registration, the consent page in a
    real browser for the baseline scopes, list and call; then a write is refused with 403,
    the SDK goes back through consent for the added scope, and the new token carries both."""
    storage = MemoryStorage()
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    title = f"signed in through the browser {uuid.uuid4().hex[:8]}"
    wire = Wire()

    async def main() -> Any:
        async with headless_page(chromium) as page:
            callback = Callback(redirect)
            await callback.install(page)
            sign_in = BrowserSignIn(page, callback)
            provider = OAuthClientProvider(
                server_url=server.mcp_url,
                client_metadata=OAuthClientMetadata(
                    client_name="Plughost e2e (MCP Python SDK)",
                    redirect_uris=[redirect],
                    token_endpoint_auth_method="none",
                ),
                storage=storage,
                redirect_handler=sign_in.open,
                callback_handler=sign_in.result,
            )
            with anyio.fail_after(CALL_TIMEOUT):
                async with (
                    httpx2.AsyncClient(
                        auth=provider, event_hooks={"response": [wire.record]}
                    ) as http,
                    streamable_http_client(server.mcp_url, http_client=http) as streams,
                    ClientSession(streams[0], streams[1]) as session,
                ):
                    await session.initialize()
                    before = await tool_names(session)
                    listing = await session.call_tool("todo_list", {})
                    created = await session.call_tool("todo_create", {"title": title})
                    after = await tool_names(session)
            return sign_in.consents, before, listing, created, after

    consents, before, listing, created, after = anyio.run(main)

    first, second = consents
    assert "todo:read" in first and "todo:write" not in first  # the 401's baseline
    assert {"todo:read", "todo:write"} <= set(second)  # what it had plus what the call needs
    assert {n for n in before if n.startswith("todo_")} == READ_TOOLS
    assert listing.structured_content is not None and "items" in listing.structured_content
    assert ("POST", "/oauth/register", 201) in wire.exchanges
    assert ("POST", "/mcp", 403) in wire.exchanges
    assert created.structured_content["title"] == title
    assert after >= READ_TOOLS | WRITE_TOOLS
    assert storage.tokens is not None and storage.tokens.scope is not None
    assert storage.tokens.refresh_token
    assert {"todo:read", "todo:write"} <= set(storage.tokens.scope.split())


def test_resources_prompts_and_completions_through_the_sdk(server: Server) -> None:
    """The SDK lists and reads todo's resources, gets its prompt and completes an argument;
    a token without todo:read is refused the read (the 403 the SDK raises)."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    writer = server.token("todo:read todo:write", tenant=tenant)

    async def seed(session: ClientSession) -> Any:
        return await session.call_tool("todo_create", {"title": "water the plants"})

    run_session(server, seed, **bearer(writer))

    async def body(session: ClientSession) -> Any:
        resources = (await session.list_resources()).resources
        templates = (await session.list_resource_templates()).resource_templates
        opened = await session.read_resource("todo://open")
        prompt = await session.get_prompt("todo_plan_my_day", {"hours": "2"})
        completed = await session.complete(
            PromptReference(type="ref/prompt", name="todo_plan_my_day"),
            {"name": "focus", "value": "wat"},
        )
        return resources, templates, opened, prompt, completed

    reader = server.token("todo:read", tenant=tenant)
    resources, templates, opened, prompt, completed = run_session(server, body, **bearer(reader))
    assert "todo://open" in {str(r.uri) for r in resources}
    assert "todo://items/{id}" in {t.uri_template for t in templates}
    assert "water the plants" in opened.contents[0].text
    assert prompt.messages and prompt.messages[0].role == "user"
    assert completed.completion.values == ["water the plants"]

    other = server.token("gitops:read", tenant=tenant)

    async def refused(session: ClientSession) -> Any:
        with pytest.raises(MCPError) as error:
            await session.read_resource("todo://open")
        return error.value

    assert run_session(server, refused, **bearer(other)).error.data["missing"] == ["todo:read"]
