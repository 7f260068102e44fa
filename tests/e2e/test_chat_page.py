"""The demo page in headless Chromium: what people see when typed events flow between browsers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, expect

from tests.demo_server import DemoServer
from tests.e2e.browser import WAIT_MS, chromium, open_chat, screenshot

# One Chromium for the module (launching it is most of a test's time), so one event loop for the module too.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

OpenChat = Callable[..., Awaitable[Page]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="module")
async def person(browser: Browser) -> AsyncIterator[OpenChat]:
    """``page = await person(url, "alice", "general")``: each person in a browser context of their own."""
    pages: list[Page] = []

    async def open_as(url: str, user: str, chat: str, transport: str | None = None, *, joined: bool = True) -> Page:
        pages.append(await open_chat(browser, url, user, chat, transport, joined=joined))
        return pages[-1]

    yield open_as
    for page in pages:
        await page.context.close()


@pytest.fixture
def demo() -> Iterator[DemoServer]:
    # One per test: chats keep their history, which a page opening a chat loads.
    with DemoServer(test_hooks=True) as server:
        yield server


def texts(page: Page) -> Locator:
    return page.locator("#messages .message .text")


async def post(url: str, token: str, chat: str, text: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        reply = await http.post(
            f"/api/chats/{chat}/messages", json={"text": text}, headers={"Authorization": f"Bearer {token}"}
        )
    assert reply.status_code == 202, reply.text


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_two_people_chat_live(demo: DemoServer, person: OpenChat, transport: str) -> None:
    url = demo.url
    alice = await person(url, "alice", "design", transport)
    bob = await person(url, "bob", "design", transport)
    for page in (alice, bob):  # the page really uses the transport asked for (polling never upgrades)
        await expect(page.locator("#transport")).to_have_text(transport)

    await alice.fill("#text", "Hello Bob!")
    await alice.press("#text", "Enter")
    await expect(texts(bob)).to_have_text(["Hello Bob!"])
    await expect(texts(alice)).to_have_text(["Hello Bob!"])
    await expect(bob.locator(".message").first).to_have_attribute("data-author", "alice")

    await bob.locator("#text").press_sequentially("Hi Al", delay=20)
    await expect(alice.locator("#typing")).to_have_text("Bob is typing…")
    # Anything sent to bob before alice's HTTP post reaches him before it: then his indicator is known to be empty.
    await post(url, demo.token("alice"), "design", "Posted over HTTP")
    for page in (alice, bob):
        await expect(texts(page)).to_have_text(["Hello Bob!", "Posted over HTTP"])
        await expect(page.locator(".message .via")).to_have_text(["via HTTP"])
    await expect(bob.locator("#typing")).to_have_text("")
    await expect(alice.locator("#typing")).to_have_text("Bob is typing…")

    carol = await person(url, "carol", "design", transport, joined=False)
    notice = carol.locator("#notice")
    await expect(notice).to_have_text(
        "You are not a member of “Design review”: the server refused to let you join chat:design."
    )
    await expect(carol.locator("#text")).to_be_disabled()
    await expect(carol.locator(".message")).to_have_count(0)

    await screenshot(alice, f"chat-{transport}-alice")
    await screenshot(bob, f"chat-{transport}-bob")
    await screenshot(carol, f"chat-{transport}-carol-refused")


async def test_page_renews_its_token_when_the_session_expires(person: OpenChat) -> None:
    with DemoServer(token_ttl=4) as demo:
        alice = await person(demo.url, "alice", "general")
        # session_expired, then the server's disconnect: the page logs in again and rejoins its chat.
        await expect(alice.locator("#logins")).to_have_text("tokens renewed: 1", timeout=WAIT_MS)
        await expect(alice.locator("#status")).to_have_attribute("data-state", "connected")
        await expect(alice.locator("#text")).to_be_enabled()
        await post(demo.url, demo.token("bob"), "general", "still here?")
        await expect(texts(alice)).to_have_text(["still here?"], timeout=2_000)


async def test_page_reconnects_after_a_server_restart_with_a_fresh_token(person: OpenChat) -> None:
    with DemoServer(secret="first-process-secret-0123456789abcdef") as demo:
        alice = await person(demo.url, "alice", "general")
        bob = await person(demo.url, "bob", "general")

        demo.stop()
        await expect(alice.locator("#status")).not_to_have_attribute("data-state", "connected")
        # A new process with a new secret: the pages' tokens are worthless; their auth callback logs in anew.
        demo.restart(secret="second-process-secret-0123456789abcdef")
        for page in (alice, bob):
            await expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=15_000)
            await expect(page.locator("#text")).to_be_enabled()
            await expect(page.locator("#logins")).to_have_text("tokens renewed: 1")
        await alice.fill("#text", "back after the restart")
        await alice.press("#text", "Enter")
        await expect(texts(bob)).to_have_text(["back after the restart"])
        await screenshot(bob, "chat-after-restart-bob")


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_page_that_lost_its_connection_recovers_what_it_missed(
    demo: DemoServer, person: OpenChat, transport: str
) -> None:
    alice = await person(demo.url, "alice", "design", transport)
    await post(demo.url, demo.token("bob"), "design", "before")
    await expect(texts(alice)).to_have_text(["before"])
    # The network drops (the engine.io connection closes, not the socket); the page stays away until told.
    await alice.evaluate("() => { chatSocket.io.reconnection(false); chatSocket.io.engine.close(); }")
    await expect(alice.locator("#status")).to_have_attribute("data-state", "reconnecting")
    await post(demo.url, demo.token("bob"), "design", "while away 1")
    await post(demo.url, demo.token("bob"), "design", "while away 2")
    await alice.evaluate("() => { chatSocket.io.reconnection(true); chatSocket.connect(); }")
    await expect(alice.locator("#notice")).to_have_text("Reconnected: 2 missed messages recovered.")
    await expect(texts(alice)).to_have_text(["before", "while away 1", "while away 2"])
    await post(demo.url, demo.token("bob"), "design", "after")  # still in the chat: no rejoin needed
    await expect(texts(alice)).to_have_text(["before", "while away 1", "while away 2", "after"])
    await screenshot(alice, f"chat-recovered-{transport}")


async def test_page_opened_later_loads_the_chat_history(demo: DemoServer, person: OpenChat) -> None:
    for n in range(3):
        await post(demo.url, demo.token("bob"), "design", f"earlier {n}")
    alice = await person(demo.url, "alice", "design")
    await expect(texts(alice)).to_have_text([f"earlier {n}" for n in range(3)])  # the history query on first join
    await post(demo.url, demo.token("bob"), "design", "later")
    await expect(texts(alice)).to_have_text([*(f"earlier {n}" for n in range(3)), "later"])
    await alice.reload()  # a fresh page: it loads the chat's last messages again
    await post(demo.url, demo.token("bob"), "design", "during the reload")
    await expect(alice.locator("#status")).to_have_attribute("data-state", "connected")
    await expect(texts(alice)).to_have_text([*(f"earlier {n}" for n in range(3)), "later", "during the reload"])


def members(page: Page) -> Locator:
    return page.locator("#members li")


async def test_page_shows_who_is_in_the_chat_live(demo: DemoServer, person: OpenChat) -> None:
    alice = await person(demo.url, "alice", "general")
    await expect(members(alice)).to_have_text(["Alice"])

    bob = await person(demo.url, "bob", "general")
    # Bob's list comes from his join ack; Alice's from presence_join, typed per room: info.name is the display name.
    for page in (alice, bob):
        await expect(members(page)).to_have_text(["Alice", "Bob"])
    await expect(alice.locator("#members li[data-user=bob]")).to_have_text("Bob")
    await screenshot(alice, "chat-members-alice")

    # His only connection closes cleanly: presence_leave (a lost one is first kept for recovery, two minutes here).
    await bob.evaluate("() => chatSocket.disconnect()")
    await expect(members(alice)).to_have_text(["Alice"])


async def test_a_malformed_event_is_reported_not_rendered(demo: DemoServer, person: OpenChat) -> None:
    alice = await person(demo.url, "alice", "general")
    await expect(alice.locator("#status")).to_have_attribute("data-state", "connected")
    await expect(members(alice)).to_have_text(["Alice"])
    broken = {"id": "m-1", "chat_id": "general", "author": "bob", "text": 42, "sent_at": "yesterday", "via": "pigeon"}

    async with httpx.AsyncClient(base_url=demo.url) as http:  # python-socketio's own emit: no type checks this
        reply = await http.post("/api/test/emit", json={"event": "message", "room": "chat:general", "payload": broken})
    assert reply.status_code == 202, reply.text

    invalid = alice.locator("#invalid")
    await expect(invalid).to_be_visible()
    await expect(invalid).to_have_attribute("data-event", "message")
    await expect(invalid).to_contain_text("text: ")
    await expect(invalid).to_contain_text("via: ")
    await expect(alice.locator(".message")).to_have_count(0)
    await screenshot(alice, "chat-invalid-event-alice")
    # The page still works: a well-formed message renders.
    await post(demo.url, demo.token("bob"), "general", "a real one")
    await expect(texts(alice)).to_have_text(["a real one"])
