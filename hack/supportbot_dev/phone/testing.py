"""Helpers for tests of the phone page: a flow with reply buttons, a list and a handoff, an
agent token for the engine-test tenant, and `Chat`, a client of the page's poll endpoint that
merges updates the way the browser does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from supportbot.agentapi.tokens import mint_token
from supportbot.engine.testing import JWT_SECRET, TENANT
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot_dev.phone.timeline import TICK_RANK

FLOW = """\
version: 1
name: phone-shop
start: menu
greeting: "Hi {{customer_name|there}}!"
steps:
  menu:
    text: "How can we help?"
    buttons:
      - {id: hours, title: "Opening hours", goto: hours}
      - {id: topics, title: "Browse topics", goto: topics}
      - {id: human, title: "Talk to us", action: handoff}
  hours:
    text: "We're open 9-18, Monday to Friday."
    action: end
  topics:
    text: "Pick a topic:"
    list:
      button: "Topics"
      sections:
        - title: "Orders"
          rows:
            - {id: returns, title: "Returns", description: "Free within 30 days", goto: returns}
            - {id: delivery, title: "Delivery times", goto: delivery}
  returns:
    text: "Returns are free within 30 days of delivery."
    action: end
  delivery:
    text: "Orders arrive in 2-3 working days."
    action: end
  damaged:
    text: "Sorry! Please send a photo of the damaged item."
    accept: [image]
    on_media: label
  label:
    media: {kind: image, url: "https://cdn.example.com/media/return-label.png"}
    text: "Thanks for the photo. Print this return label."
    next: guide
  guide:
    media:
      kind: document
      url: "https://cdn.example.com/media/returns-guide.pdf"
      filename: returns-guide.pdf
    text: "How returns work"
    action: end
intents:
  - {id: damaged, keywords: ["damaged", "broken"], goto: damaged}
llm:
  system_prompt: "You are the assistant of the phone test shop."
  history_messages: 6
fallback:
  message: "Sorry, I can't answer that right now."
  offer_human: true
  human_button: "Talk to a human"
handoff:
  keywords: ["agent", "human"]
  message: "Connecting you to our team."
"""

GREETING = "Hi Asha!"
MENU = "How can we help?"
HOURS = "We're open 9-18, Monday to Friday."


def agent_token(agent: str = "alice", tenant: str = TENANT) -> str:
    return mint_token(
        JWT_SECRET.encode(), agent=agent, tenant=tenant, ttl_seconds=600, now=time.time()
    )


@dataclass
class Stack:
    """A running tenant bot behind the simulator, and the phone page in front of it."""

    bot_url: str
    page_url: str
    sim: SimulatorClient
    page: httpx.AsyncClient


class Chat:
    """A test's view of one chat through the page's poll endpoint (merges like the browser)."""

    def __init__(self, page: httpx.AsyncClient, tenant: str, customer: str) -> None:
        self.page = page
        self.path = f"/api/chat/{tenant}/{customer}"
        self.items: dict[str, dict[str, Any]] = {}
        self.ticks: dict[str, str] = {}
        self.cursor = {"records": 0, "webhooks": 0}
        self.polls: list[dict[str, Any]] = []
        self.last: dict[str, Any] = {}

    async def poll(self) -> dict[str, Any]:
        response = await self.page.get(self.path, params=self.cursor)
        assert response.status_code == 200, response.text
        doc: dict[str, Any] = response.json()
        for item in doc["items"]:
            self.items[item["key"]] = item
        for message_id, tick in doc["ticks"].items():
            if TICK_RANK[tick] > TICK_RANK.get(self.ticks.get(message_id, ""), 0):
                self.ticks[message_id] = tick
        self.cursor = doc["cursor"]
        self.polls.append(doc)
        self.last = doc
        return doc

    def bubbles(self, side: str | None = None) -> list[dict[str, Any]]:
        found = sorted(self.items.values(), key=lambda i: int(i["seq"]))
        return [i for i in found if side is None or i["side"] == side]

    def texts(self, side: str | None = None) -> list[str]:
        return [str(i.get("text")) for i in self.bubbles(side)]

    async def until(self, check: Callable[[Chat], bool], what: str, wait: float = 30) -> None:
        deadline = time.monotonic() + wait
        while True:
            await self.poll()
            if check(self):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; saw {self.texts()}")
            await asyncio.sleep(0.1)
