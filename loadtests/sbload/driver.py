"""The load driver: simulated customers posting MSG91 webhooks, and the reply collector.

- `Poster` builds MSG91 flat inbound bodies (the simulator's own pure builder, so the shape is
  exactly what MSG91 posts), POSTs them with the tenant secret over the raw keep-alive client,
  retries 5xx/connection errors like MSG91 does, re-delivers a share of them (duplicates), and
  records every attempt's ack latency.
- `ReplyCollector` polls the MSG91 simulator's recordings (``GET /_sim/messages?after=``) and
  feeds each reply, with the simulator's own arrival timestamp, to the `Ledger`.
- `Crowd` runs N customer coroutines: ramp-up, an opening message, a surge (everyone's first
  question within a short window: the in-flight peak), then think -> act cycles (text, burst,
  button tap), each customer waiting for the answers to its last action like a person would.
- `open_loop` posts at a fixed rate regardless of answers (overhead and ack-latency runs).

Everything is bounded in time; loopback only.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from sbload.ledger import Item, Ledger, customer_of, phone_of, token
from sbload.rawhttp import ConnectionPool, HttpError
from sbload.scenario import Scenario
from sbload.timeline import Timeline
from supportbot.msg91.simulator.specs import InboundSpec
from supportbot.msg91.simulator.webhooks import flat_inbound

INBOUND_PATH = "/webhooks/msg91/inbound"
RETRIES = 4
BACKOFF_CAP = 4.0
WORDS = ("where", "parcel", "refund", "size", "price", "colour", "thanks", "help", "when")
ButtonMode = str  # "engine": tap the flow's button; otherwise the title carries the token


@dataclass(frozen=True)
class Target:
    base_url: str
    number: str
    secret: str
    secret_header: str = "X-Webhook-Secret"  # noqa: S105 - a header name


class Poster:
    def __init__(
        self,
        target: Target,
        pool: ConnectionPool,
        ledger: Ledger,
        tl: Timeline,
        retries: int = RETRIES,
    ) -> None:
        self.target = target
        self.retries = retries
        """POST attempts per delivery (backoff 0.25 s doubling, at most `BACKOFF_CAP`)."""
        self.pool = pool
        self.ledger = ledger
        self.tl = tl
        self.nonce = secrets.token_hex(3)
        self.seqs: dict[int, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.headers = {target.secret_header: target.secret, "Content-Type": "application/json"}

    def next_seq(self, customer: int) -> int:
        seq = self.seqs.get(customer, 0)
        self.seqs[customer] = seq + 1
        return seq

    def body(self, customer: int, seq: int, kind: str, text: str, reply_id: str | None) -> bytes:
        spec = InboundSpec(
            phone=phone_of(customer),
            name=f"Customer {customer}",
            type="button_reply" if kind == "button" else "text",
            text=text,
            reply_id=reply_id,
        )
        wamid = f"wamid.LT{self.nonce}{customer}x{seq}"
        payload = flat_inbound(
            spec,
            self.target.number,
            wamid,
            f"{self.nonce}{customer:07d}{seq:05d}",
            time.time(),
            ts_format="iso",
            placeholders=True,
        )
        return json.dumps(payload, separators=(",", ":")).encode()

    async def _post(self, raw: bytes) -> str:
        """POST until the webhook answers < 500 (MSG91 retries); returns the item status."""
        for attempt in range(self.retries):
            started = time.time()
            try:
                response = await self.pool.request(raw)
            except HttpError as exc:
                self.tl.ack(started, time.time() - started, "conn_error")
                self.tl.error(f"POST failed: {exc}")
            else:
                code = response.status
                self.tl.ack(started, time.time() - started, str(code))
                if code < 500:
                    if code >= 400:
                        self.tl.error(f"webhook answered {code}: {response.body[:200]!r}")
                        return "error"
                    return str(json.loads(response.body).get("status", "accepted"))
                self.tl.counters[f"http_{code}"] += 1
            if attempt + 1 < self.retries:
                await asyncio.sleep(min(BACKOFF_CAP, 0.25 * 2**attempt))
        return "error"

    async def send(
        self,
        customer: int,
        kind: str,
        text_of: Callable[[str], str],
        expect: str | None,
        reply_id: str | None = None,
        duplicate_after: float | None = None,
    ) -> Item:
        seq = self.next_seq(customer)
        tok = token(customer, seq)
        raw = self.pool.build(
            "POST",
            INBOUND_PATH,
            self.body(customer, seq, kind, text_of(tok), reply_id),
            self.headers,
        )
        item = Item(customer, seq, kind, time.time(), expect or "token")
        self.ledger.add(item)
        if duplicate_after is not None:
            self._spawn(self._duplicate(item, raw, duplicate_after))
        self.ledger.delivered(item, await self._post(raw))
        return item

    async def _duplicate(self, item: Item, raw: bytes, delay: float) -> None:
        await asyncio.sleep(delay)
        self.tl.counters["duplicate_deliveries"] += 1
        self.ledger.delivered(item, await self._post(raw))
        if item.deliveries.count("accepted") > 1:
            self.tl.counters["accepted_twice"] += 1

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class ReplyCollector:
    """Polls the MSG91 simulator and accounts every accepted send as a reply."""

    def __init__(self, sim_url: str, ledger: Ledger, tl: Timeline, interval: float = 0.25):
        self.http = httpx.AsyncClient(base_url=sim_url, timeout=30)
        self.ledger = ledger
        self.tl = tl
        self.interval = interval
        self.after = 0
        self.replies = 0
        self.events: dict[int, asyncio.Event] = {}

    def event(self, customer: int) -> asyncio.Event:
        found = self.events.get(customer)
        if found is None:
            found = self.events[customer] = asyncio.Event()
        return found

    async def poll_once(self) -> int:
        params: dict[str, str | int] = {"after": self.after, "outcome": "accepted", "limit": 5000}
        response = await self.http.get("/_sim/messages", params=params)
        response.raise_for_status()
        records = response.json()["messages"]
        for rec in records:
            self.after = max(self.after, int(rec["seq"]))
            body = rec.get("body") or {}
            text = body.get("text") or ((body.get("interactive") or {}).get("body") or {}).get(
                "text", ""
            )
            for to in rec.get("to") or []:
                customer = customer_of(str(to))
                if customer is None:
                    continue
                self.replies += 1
                at = float(rec["received_at"])
                for item in self.ledger.on_reply(customer, str(text), at):
                    self.tl.reply(at, at - item.sent_at)
                self.event(customer).set()
        return len(records)

    async def poll_safely(self) -> None:
        try:
            while await self.poll_once() >= 5000:
                pass
        except httpx.HTTPError as exc:
            self.tl.error(f"reply poll failed: {type(exc).__name__} {exc}")

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if await self.poll_once() >= 5000:
                    continue
            except httpx.HTTPError as exc:
                self.tl.error(f"reply poll failed: {exc}")
            await asyncio.sleep(self.interval)

    async def aclose(self) -> None:
        await self.http.aclose()


async def wait_answers(replies: ReplyCollector, customer: int, within: float) -> None:
    """Wait (at most `within` seconds) until `customer` has no accepted message unanswered."""
    deadline = time.time() + within
    event = replies.event(customer)
    while replies.ledger.waiting(customer) and time.time() < deadline:
        event.clear()
        try:
            await asyncio.wait_for(event.wait(), max(0.01, deadline - time.time()))
        except TimeoutError:
            return


class Crowd:
    """Closed-loop customers following the scenario."""

    def __init__(
        self, sc: Scenario, poster: Poster, replies: ReplyCollector, *, engine: bool
    ) -> None:
        self.sc = sc
        self.poster = poster
        self.replies = replies
        self.engine = engine
        self.rng = random.Random(sc.seed)
        self.t0 = time.time()

    def _dup(self) -> float | None:
        if self.rng.random() >= self.sc.duplicate_share:
            return None
        span = self.sc.duplicate_delay_seconds
        return self.rng.uniform(span.low, span.high)

    async def text(self, c: int, expect: str | None = None) -> None:
        word = self.rng.choice(WORDS)
        await self.poster.send(c, "text", lambda t: f"{t} {word}", expect, None, self._dup())

    async def button(self, c: int) -> None:
        if self.engine:
            await self.poster.send(
                c, "button", lambda t: "Ask a question", "LT-ASK", "ask", self._dup()
            )
        else:
            await self.poster.send(c, "button", lambda t: f"{t} ask", None, "ask", self._dup())

    async def burst(self, c: int) -> None:
        a = self.sc.actions
        count = self.rng.randint(int(a.burst_messages.low), int(a.burst_messages.high))
        for n in range(count):
            if n:
                await asyncio.sleep(
                    self.rng.uniform(a.burst_gap_seconds.low, a.burst_gap_seconds.high)
                )
            await self.text(c)

    async def wait_answers(self, c: int, within: float) -> None:
        await wait_answers(self.replies, c, within)

    async def customer(self, c: int) -> None:
        sc, rng = self.sc, self.rng
        await asyncio.sleep(rng.uniform(0, sc.ramp_seconds))
        await self.text(c, "LT-WELCOME" if self.engine else None)
        surge = sc.surge_window_seconds > 0
        a = sc.actions
        choices, weights = ("text", "burst", "button"), (a.text, a.burst, a.button)
        while True:
            await self.wait_answers(c, sc.reply_timeout_seconds)
            action = rng.choices(choices, weights)[0]
            target = self.t0 + sc.surge_at_seconds + rng.uniform(0, sc.surge_window_seconds)
            if surge and time.time() < target:
                await asyncio.sleep(target - time.time())
                action = "text"
            else:
                await asyncio.sleep(rng.uniform(sc.think_seconds.low, sc.think_seconds.high))
            surge = False
            if time.time() - self.t0 >= sc.duration_seconds:
                return
            await getattr(self, action)(c)

    async def run(self, customers: int) -> None:
        self.t0 = time.time()
        await asyncio.gather(*(self.customer(c) for c in range(customers)))


async def open_loop(
    poster: Poster, rate: float, seconds: float, customers: int, duplicate_share: float = 0.0
) -> None:
    """Post `rate` messages per second for `seconds`, round-robin over `customers`."""
    rng = random.Random(11)
    start = time.time()
    total = int(rate * seconds)
    pending: set[asyncio.Task[Item]] = set()
    for n in range(total):
        delay = start + n / rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        dup = rng.uniform(0, 1) if rng.random() < duplicate_share else None
        task = asyncio.create_task(
            poster.send(n % customers, "text", lambda t: f"{t} where", None, None, dup)
        )
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=60)


async def drain(
    ledger: Ledger, replies: ReplyCollector, within: float, quiet_for: float = 20.0
) -> float:
    """Wait until every accepted message was answered, or no answer arrived for `quiet_for`
    seconds, or `within` seconds passed; returns the seconds waited."""
    start = last_progress = time.time()
    seen = replies.replies
    while time.time() - start < within and time.time() - last_progress < quiet_for:
        if not any(ledger.waiting(c) for c in list(ledger.books)):
            break
        await asyncio.sleep(0.5)
        if replies.replies != seen:
            seen, last_progress = replies.replies, time.time()
    await asyncio.sleep(1.0)  # late duplicates would show up now
    await replies.poll_safely()
    return time.time() - start
