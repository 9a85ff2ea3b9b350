"""The fault suite's customers: N customers x M messages spread over the fault's window.

Each customer sends its first message within the ramp (the flow answers it with LT-WELCOME),
then its other messages at random moments until `after_heal_seconds` past the heal, each only
after the previous one was answered or `reply_timeout_seconds` passed (as a person writes again
when nobody answers). A share of messages is delivered twice (same message id, 0-2 s apart, the
copy sometimes first), and the Poster retries 5xx and connection errors like a provider.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time

from sbload.driver import WORDS, Poster, ReplyCollector, wait_answers
from sbload.faults.plan import Fault, Load

ODD_TEXTS = ("\x00nul", "lone\ud800", "\ud83d\x00both")
"""What a nul-text message carries after its words, in turn: U+0000, a lone surrogate, both.
`json.dumps` sends them escaped (``\\u0000``, ``\\ud800``), as a provider relaying a customer's
odd text would."""


def schedule(rng: random.Random, load: Load, window: float) -> list[float]:
    """Seconds after the start at which one customer's messages are due (sorted; the first
    within the ramp, the others anywhere up to `window`)."""
    first = rng.uniform(0, load.ramp_seconds)
    later = sorted(rng.uniform(first, max(first, window)) for _ in range(load.messages - 1))
    return [first, *later]


def message_text(token: str, word: str, odd: str = "") -> str:
    """A customer's text: its correlation token first (the LLM simulator quotes the start),
    then `odd` (one of `ODD_TEXTS`, or nothing)."""
    return f"{token} {word} {odd}" if odd else f"{token} {word}"


class FaultCrowd:
    def __init__(self, load: Load, fault: Fault, poster: Poster, replies: ReplyCollector) -> None:
        self.load = load
        self.fault = fault
        self.poster = poster
        self.replies = replies
        self.rng = random.Random(load.seed)
        self.nul_share = fault.count / 100 if fault.kind == "nul-text" else 0.0
        self.t0 = time.time()
        self.sent = 0

    def _duplicate_after(self) -> float | None:
        return self.rng.uniform(0, 2) if self.rng.random() < self.load.duplicate_share else None

    async def customer(self, c: int, times: list[float]) -> None:
        for n, at in enumerate(times):
            if n:
                await wait_answers(self.replies, c, self.load.reply_timeout_seconds)
            delay = self.t0 + at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if n == 0:
                await self.first_contact(c)
                continue
            word = self.rng.choice(WORDS)
            odd = self.rng.choice(ODD_TEXTS) if self.rng.random() < self.nul_share else ""
            self.sent += 1
            await self.poster.send(
                c,
                "text",
                functools.partial(message_text, word=word, odd=odd),
                None,
                None,
                self._duplicate_after(),
            )

    async def first_contact(self, c: int, tries: int = 3) -> None:
        """The customer's first message (plain text; the flow answers it with LT-WELCOME),
        written again while the webhook never acknowledged it: the bot's first contact must
        be a message the ledger expects the welcome for."""
        for _ in range(tries):
            self.sent += 1
            item = await self.poster.send(
                c,
                "text",
                functools.partial(message_text, word="hello"),
                "LT-WELCOME",
                None,
                self._duplicate_after(),
            )
            if item.ack != "error":
                return

    async def run(self) -> None:
        """Every customer's messages; returns when the last one has been sent."""
        self.t0 = time.time()
        window = self.load.window(self.fault)
        plans = [schedule(self.rng, self.load, window) for _ in range(self.load.customers)]
        await asyncio.gather(*(self.customer(c, plan) for c, plan in enumerate(plans)))
