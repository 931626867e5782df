"""The operator console in a real browser: headless Chromium signs in through the consent
page and reads the Plugins, Health and Traffic pages of a ``plughost serve`` that has served
real MCP calls; a caller without ``plughost:admin`` is turned away. With
``PLUGHOST_E2E_SCREENSHOTS=docs`` the pages' screenshots refresh the guide's."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from conftest import DistFactory

from plughost.testing import McpClient

from .browser import consent, headless_page
from .conftest import Server, serving

BROKEN = """\
import os

from plughost import Plugin

PAGER_URL = os.environ["BOOM_PAGER_URL"]

plugin = Plugin(scopes={"boom:read": "Read"})
"""
ARGUMENT = "quarterly-llama-review"
PHONE = {"width": 390, "height": 844}
#: How many times a page is reloaded while the audit writer catches up (it batches for 50 ms).
RELOADS = 40


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The bundled plugins, one that fails to import, and the audit trail in the database."""
    root = tmp_path_factory.mktemp("e2e-console")
    site = root / "site"
    site.mkdir()
    DistFactory(site)("acme-boom", BROKEN, namespace="boom")
    with serving(root, PYTHONPATH=str(site), PLUGHOST_AUDIT__DATABASE="true") as server:
        yield server


def make_calls(server: Server) -> None:
    writer = McpClient(server.mcp_url, server.token("todo:read todo:write"))
    assert writer.call("todo_create", title=ARGUMENT).ok
    for _ in range(3):
        assert writer.call("todo_list").ok
    reader = McpClient(server.mcp_url, server.token("todo:read"))
    assert reader.call("todo_create", title=ARGUMENT).status_code == 403


async def shoot(page, shot: Path, also_in: Path | None, *, full: bool = True) -> None:
    await page.screenshot(path=str(shot), full_page=full)
    if also_in is not None:
        shutil.copyfile(shot, also_in / shot.name)


def test_sign_in_and_read_every_page(
    console_server: Server, chromium: str, screenshots: Path | None, tmp_path: Path
) -> None:
    base = console_server.base_url
    make_calls(console_server)

    async def main() -> dict[str, str]:
        seen: dict[str, str] = {}
        async with headless_page(chromium) as page:
            await page.goto(f"{base}/console")
            await page.wait_for_url(f"{base}/oauth/consent?*")
            seen["consent"] = ",".join(await consent(page))
            await page.wait_for_url(f"{base}/console")
            await page.get_by_role("heading", name="Plugins", level=1).wait_for()
            seen["plugins"] = await page.locator("main").inner_text()
            await shoot(page, tmp_path / "console-plugins.png", screenshots, full=False)

            await page.get_by_role("link", name="Health").click()
            await page.get_by_role("heading", name="Health", level=1).wait_for()
            seen["health"] = await page.locator("main").inner_text()
            await shoot(page, tmp_path / "console-health.png", screenshots)

            for _ in range(RELOADS):
                await page.goto(f"{base}/console/traffic")
                seen["traffic"] = await page.locator("main").inner_text()
                if "missing todo:write" in seen["traffic"]:
                    break
                await anyio.sleep(0.1)
            await shoot(page, tmp_path / "console-traffic.png", screenshots)

            await page.set_viewport_size(PHONE)
            await page.reload()
            await shoot(page, tmp_path / "console-phone.png", screenshots, full=False)
            seen["phone_width"] = str(await page.evaluate("document.documentElement.scrollWidth"))

            await page.get_by_role("button", name="Sign out").click()
            await page.get_by_role("heading", name="Signed out").wait_for()
        return seen

    seen = anyio.run(main)
    assert "plughost:admin" in seen["consent"].split(",")
    plugins = seen["plugins"]
    for namespace in ("todo", "crm", "gitops", "policy", "boom"):
        assert namespace in plugins
    assert "todo_create" in plugins and "LOADED" in plugins.upper()
    assert "KeyError: 'BOOM_PAGER_URL'" in plugins
    assert "Ready: this replica can serve." in seen["health"]
    traffic = seen["traffic"]
    assert "todo_list\t3" in traffic or "todo_list 3" in traffic, traffic
    assert "403 denied" in traffic and "missing todo:write" in traffic
    assert ARGUMENT not in traffic
    # Usable on a phone: the page itself does not scroll sideways (wide tables scroll inside).
    assert int(seen["phone_width"]) <= PHONE["width"]


def test_a_caller_without_the_admin_scope_is_turned_away(
    console_server: Server, chromium: str
) -> None:
    base = console_server.base_url
    token = console_server.token("todo:read")

    async def main() -> tuple[int, str, int, str]:
        async with headless_page(chromium) as page:
            await page.set_extra_http_headers({"Authorization": f"Bearer {token}"})
            answer = await page.goto(f"{base}/console")
            assert answer is not None
            bearer = (answer.status, await page.locator("main").inner_text())
        async with headless_page(chromium) as page:
            await page.goto(f"{base}/console")
            async with page.expect_response(lambda r: "/console/callback" in r.url) as back:
                await consent(page, untick=("plughost:admin",))
            callback = await back.value
            await page.get_by_role("heading", name="Sign-in not completed").wait_for()
            unticked = (callback.status, await page.locator("main").inner_text())
        return (*bearer, *unticked)

    status, text, unticked_status, unticked = anyio.run(main)
    assert status == 403 and "needs the plughost:admin scope" in text
    assert unticked_status == 403 and "it was not granted" in unticked
