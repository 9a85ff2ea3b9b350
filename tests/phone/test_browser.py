"""The phone page in a real headless Chromium (Debian's chromium driven by playwright-core; no
browser download) against the real bot stack: send a message, see the bot's reply and its
buttons, click one, open the list it leads to, pick a row, see the next step; then hand off,
answer as the agent in the agent view and see the agent's message and banner on the phone; send
a photo from the phone and see it, and the bot's image and document, rendered."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from supportbot_dev.phone.browser import (
    Browser,
    BrowserUnavailable,
    ensure_chromium,
    ensure_playwright,
    open_browser,
)
from supportbot_dev.phone.testing import MENU, Stack

pytestmark = pytest.mark.slow

RECTS = """(() => {
  const box = (sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                         return {left: r.left, right: r.right}; };
  return {bot: box('.bubble.bot'), customer: box('.bubble.customer'), chat: box('#chat')};
})()"""


@pytest.fixture(scope="session")
def browser_tools() -> Iterator[tuple[Path, Path]]:
    try:
        yield ensure_chromium(install=True), ensure_playwright()
    except BrowserUnavailable as exc:
        pytest.skip(f"no headless browser: {exc}")


@pytest.fixture
async def browser(browser_tools: tuple[Path, Path], tmp_path: Path) -> AsyncIterator[Browser]:
    chromium, playwright = browser_tools
    async with open_browser(chromium, playwright, log=tmp_path / "bridge.log") as found:
        yield found


def keep_png(path: Path) -> None:
    """Check the screenshot is a PNG and keep a copy where a person can look at it."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = Path(tempfile.gettempdir()) / "supportbot-phone-screenshots"
    keep.mkdir(exist_ok=True)
    shutil.copy(path, keep / path.name)


async def shot(browser: Browser, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    await browser.call("screenshot", path=str(path))
    keep_png(path)


async def test_chat_buttons_list_handoff_and_agent_reply_in_a_real_browser(
    stack: Stack, browser: Browser, tmp_path: Path
) -> None:
    b = browser
    await b.call("goto", url=stack.page_url)
    await b.call("click", selector=".preset", text="Asha")
    await b.call("fill", selector="#chat-input", value="Hello")
    await b.call("press", selector="#chat-input", key="Enter")

    await b.call("wait", selector=".bubble.customer", text="Hello")
    await b.call("wait", selector=".bubble.bot", text="Hi Asha!")
    await b.call("wait", selector=".bubble.bot", text=MENU)
    assert await b.call("count", selector=".reply-button") == 3
    await b.call("wait", selector=".bubble.bot .tick.read")  # delivery reports -> blue ticks
    rects = await b.call("evaluate", expression=RECTS)
    assert rects["customer"]["right"] > rects["bot"]["right"], "customer right, bot left"
    assert rects["bot"]["left"] - rects["chat"]["left"] < 30
    await shot(b, tmp_path, "1-menu")

    await b.call("click", selector=".reply-button", text="Browse topics")
    await b.call("wait", selector=".bubble.bot", text="Pick a topic:")
    await b.call("wait", selector=".bubble.customer", text="Browse topics")
    await b.call("click", selector=".list-open", text="Topics")
    await b.call("wait", selector="#list-sheet .list-row", text="Returns")
    await shot(b, tmp_path, "2-list")
    await b.call("click", selector=".list-row", text="Returns")
    await b.call("wait", selector=".bubble.bot", text="Returns are free within 30 days")
    await b.call("wait", selector="#list-sheet", state="hidden")

    await b.call("fill", selector="#chat-input", value="agent")
    await b.call("click", selector="#chat-send")
    await b.call("wait", selector=".bubble.bot", text="Connecting you to our team.")
    await b.call("wait", selector="#handoff-banner", text="waiting")
    assert not await b.call("visible", selector="#typing"), "no typing while handed off"

    await b.call("click", selector="#tab-agent")
    await b.call("wait", selector=".conv-item[data-state=pending]", text="Asha")
    await b.call("click", selector=".conv-item", text="Asha")
    await b.call("wait", selector="#agent-messages .bubble", text="Returns are free")
    await b.call("fill", selector="#agent-input", value="Hi Asha, Alice here.")
    await b.call("click", selector="#agent-send")
    await b.call("wait", selector="#agent-messages .row.by-agent", text="Alice here")
    await b.call("wait", selector=".conv-item[data-state=human]", text="Asha")
    await shot(b, tmp_path, "3-agent")

    await b.call("click", selector="#tab-phone")
    await b.call("wait", selector=".bubble.bot", text="Hi Asha, Alice here.")
    await b.call("wait", selector=".bubble.bot .author", text="Agent alice")
    await b.call("wait", selector="#handoff-banner", text="human agent (alice)")
    await shot(b, tmp_path, "4-phone-handoff")

    await b.call("click", selector="#tab-agent")
    await b.call("click", selector="#agent-handback")
    await b.call("wait", selector=".conv-item[data-state=bot]", text="Asha")
    await b.call("click", selector="#tab-phone")
    await b.call("wait", selector="#handoff-banner", state="hidden")
    bubbles = await b.call("texts", selector=".bubble")
    print(json.dumps(bubbles, ensure_ascii=False))


async def test_customer_photo_and_bot_media_render_in_a_real_browser(
    stack: Stack, browser: Browser, tmp_path: Path
) -> None:
    b = browser
    await b.call("goto", url=stack.page_url)
    await b.call("click", selector=".preset", text="Asha")
    await b.call("fill", selector="#chat-input", value="My kettle arrived damaged")
    await b.call("press", selector="#chat-input", key="Enter")
    await b.call("wait", selector=".bubble.bot", text="Please send a photo")

    await b.call("click", selector="#chat-attach")
    await b.call("click", selector="#attach-sample")
    await b.call("fill", selector="#attach-caption", value="The spout is cracked")
    await b.call("click", selector="#attach-send")
    # the customer's photo: served by the page, loaded from its own URL
    await b.call("wait", selector=".bubble.customer img.media-img[data-loaded=url]")
    await b.call("wait", selector=".bubble.customer", text="The spout is cracked")
    # the bot's image (an example host: previewed from the page's sample) and document link
    await b.call("wait", selector=".bubble.bot img.media-img[data-loaded=sample]")
    await b.call("wait", selector=".bubble.bot", text="Print this return label.")
    await b.call("wait", selector=".bubble.bot a.doc", text="returns-guide.pdf")
    await b.call("wait", selector=".bubble.bot .tick.read")
    await shot(b, tmp_path, "5-media")
    sources = await b.call(
        "evaluate",
        expression="[...document.querySelectorAll('img.media-img')].map((i) => i.dataset.url)",
    )
    assert sources[-1] == "https://cdn.example.com/media/return-label.png"
    assert sources[0].endswith("/static/samples/damaged-kettle.png")
