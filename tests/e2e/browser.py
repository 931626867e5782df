"""Headless Chromium (Debian's ``chromium``, driven by Playwright) as the user's browser.

The ``e2e`` nox session installs both (``apt-get install chromium`` as root, ``pip install
playwright``); Playwright's own browser download is never used, so ``PLUGHOST_E2E_CHROMIUM``
or ``chromium`` on PATH names the browser. Every wait is short: the consent page and the
clients' callbacks answer within a second on one machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from playwright.async_api import Page, Route

CHROMIUM_ENV = "PLUGHOST_E2E_CHROMIUM"
SCREENSHOTS_ENV = "PLUGHOST_E2E_SCREENSHOTS"
#: Longest wait for any one page or element, in milliseconds.
STEP_MS = 15_000


class NoBrowser(RuntimeError):
    """Chromium or Playwright is not installed; the message says which and how to get it."""


def chromium_path() -> str:
    """The Chromium executable, or `NoBrowser` naming what to install."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        raise NoBrowser("Playwright is not installed (pip install playwright)") from None
    path = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")
    if not path or not Path(path).exists():
        raise NoBrowser("Chromium is not installed (apt-get install chromium)")
    return path


@asynccontextmanager
async def headless_page(executable: str) -> AsyncIterator[Page]:
    """A page in a fresh headless Chromium (no profile, no cookies) for one test."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 760})
            page.set_default_timeout(STEP_MS)
            yield page
        finally:
            await browser.close()


async def consent(page: Page, *, untick: tuple[str, ...] = ()) -> list[str]:
    """On the dev issuer's consent page: untick those of ``untick`` it lists, Allow; returns
    the scopes it listed."""
    await page.get_by_role("button", name="Allow").wait_for()
    listed = await page.locator('input[name="scope"]').evaluate_all(
        "boxes => boxes.map(b => b.value)"
    )
    for scope in untick:
        if scope in listed:
            await page.get_by_label(scope).uncheck()
    await page.get_by_role("button", name="Allow").click()
    return [str(scope) for scope in listed]


async def keep_screenshot(page: Page, shot: Path, also_in: Path | None) -> None:
    """Screenshot the page's ``main`` element to ``shot``, and a copy into ``also_in``."""
    await page.locator("main").screenshot(path=str(shot))
    if also_in is not None:
        shutil.copyfile(shot, also_in / shot.name)


class Callback:
    """A client's redirect URI, answered inside the browser: the URL it was sent to is kept.

    For clients whose callback is their own code rather than a listening server (the SDK's
    ``callback_handler``), the page's navigation to ``url`` is intercepted and answered.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._arrived = anyio.Event()
        self.received: str | None = None
        self._page: Page | None = None

    async def install(self, page: Page) -> None:
        self._page = page
        await page.route(f"{self.url}*", self._answer)

    async def _answer(self, route: Route) -> None:
        self.received = route.request.url
        self._arrived.set()
        await route.fulfill(status=200, content_type="text/html", body="<p>Signed in.</p>")

    async def wait(self) -> str:
        """The callback URL with its query, once the browser got there; then ready again.

        "Got there" is the page showing it, not only its request answered: a client that
        sends the browser on at once (a step-up's second sign-in) would otherwise find it
        still loading the callback, which then interrupts the new navigation.
        """
        assert self._page is not None, "install the callback on a page first"
        with anyio.fail_after(STEP_MS / 1000):
            await self._arrived.wait()
        await self._page.wait_for_url(f"{self.url}*")
        self._arrived = anyio.Event()
        assert self.received is not None
        return self.received
