"""Headless Chromium for the demo page's tests: Debian's browser driven by Playwright, never a downloaded one."""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.demo_server import BUNDLE

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = pathlib.Path(__file__).parents[2] / "test-artifacts"
WAIT_MS = 10_000


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Launch Chromium; fail (never skip) naming what to install when it or the page bundle is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's chromium package (make test does: apt-get install chromium)"
        )
    if not BUNDLE.exists():
        pytest.fail(f"{BUNDLE} is not built: run make test, or npm ci && npm run build in examples/chat/web")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            await browser.close()


async def open_chat(
    browser: Browser, url: str, user: str, chat: str, transport: str | None = None, *, joined: bool = True
) -> Page:
    """A new browser context (its own storage, like another person's browser) with the page signed in as ``user``."""
    context: BrowserContext = await browser.new_context(viewport={"width": 1100, "height": 720})
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    query = f"?user={user}&chat={chat}" + (f"&transport={transport}" if transport else "")
    await page.goto(url + "/" + query)
    await expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=WAIT_MS)
    if joined:
        await expect(page.locator("#text")).to_be_enabled(timeout=WAIT_MS)
    return page


async def screenshot(page: Page, name: str) -> pathlib.Path:
    """Save a screenshot under test-artifacts/ (kept by CI, ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
