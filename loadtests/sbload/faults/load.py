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

NUL_SUFFIX = "\x00nul\ud800"
"""U+0000 and a lone surrogate: `json.dumps` sends them as ``\\u0000`` and ``\\ud800``, as a
provider relaying a customer's odd text would."""


def schedule(rng: random.Random, load: Load, window: float) -> list[float]:
    """Seconds after the start at which one customer's messages are due (sorted; the first
    within the ramp, the others anywhere up to `window`)."""
    first = rng.uniform(0, load.ramp_seconds)
    later = sorted(rng.uniform(first, max(first, window)) for _ in range(load.messages - 1))
    return [first, *later]


def message_text(token: str, word: str, nul: bool) -> str:
    """A customer's text: its correlation token first (the LLM simulator quotes the start)."""
    return f"{token} {word}{NUL_SUFFIX if nul else ''}"


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
            word, nul = self.rng.choice(WORDS), self.rng.random() < self.nul_share
            self.sent += 1
            await self.poster.send(
                c,
                "text",
                functools.partial(message_text, word=word, nul=nul),
                "LT-WELCOME" if n == 0 else None,
                None,
                self._duplicate_after(),
            )

    async def run(self) -> None:
        """Every customer's messages; returns when the last one has been sent."""
        self.t0 = time.time()
        window = self.load.window(self.fault)
        plans = [schedule(self.rng, self.load, window) for _ in range(self.load.customers)]
        await asyncio.gather(*(self.customer(c, plan) for c, plan in enumerate(plans)))
