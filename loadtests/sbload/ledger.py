"""Correlation of customer messages with the bot's replies: lost, duplicated, reordered (pure).

Every customer message carries a token ``k<customer>x<seq>`` (seq counts up per customer). The
echo handlers echo the text and the OpenRouter simulator quotes it, so a reply names the messages
it answers. Replies the engine's flow sends itself (no LLM) carry a marker instead (``LT-WELCOME``
for the first contact, ``LT-ASK`` for the button tap); a marker reply answers the oldest message
of that customer still waiting for that marker.

Per customer, over the replies in the order the MSG91 simulator recorded them:
- lost: an accepted (not throttled) message that no reply answered;
- duplicated: a message answered by more than one reply (or a marker reply with nothing left to
  answer);
- reordered: a reply answering a message older than one a previous reply already answered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

TOKEN_RE = re.compile(r"\bk(\d+)x(\d+)\b")
MARKERS = ("LT-WELCOME", "LT-ASK")


def token(customer: int, seq: int) -> str:
    return f"k{customer}x{seq}"


def phone_of(customer: int) -> str:
    """A 12-digit E.164-style number per simulated customer."""
    return f"9198{customer:08d}"


def customer_of(phone: str) -> int | None:
    if len(phone) == 12 and phone.startswith("9198") and phone[4:].isdigit():
        return int(phone[4:])
    return None


@dataclass
class Item:
    """One customer message (deliveries of the same message id count once)."""

    customer: int
    seq: int
    kind: str
    """text | button"""
    sent_at: float
    """Epoch seconds just before the first POST."""
    expect: str
    """'token' or a marker the reply will carry."""
    ack: str = "pending"
    """accepted | throttled | duplicate | error | pending: the best answer over its deliveries."""
    deliveries: list[str] = field(default_factory=list)
    """The webhook's answer to each delivery (the first POST and any duplicate)."""
    answered_at: float | None = None
    answers: int = 0


@dataclass
class CustomerBook:
    items: dict[int, Item] = field(default_factory=dict)
    highest_answered: int = -1
    reordered: int = 0
    stray: int = 0
    """Marker replies with no message left to answer, and replies naming unknown tokens."""
    other: int = 0
    """Replies with neither token nor marker (throttle notice, fallback...)."""
    log: list[tuple[float, tuple[int, ...], str]] = field(default_factory=list)
    """(recorded at, seqs it answered, start of its text) per reply, for diagnosis."""


@dataclass(frozen=True)
class Verdict:
    messages: int
    expected: int
    answered: int
    lost: int
    duplicated: int
    reordered: int
    throttled: int
    errors: int
    stray: int
    other_replies: int
    lost_examples: tuple[str, ...]
    suspects: tuple[dict[str, Any], ...] = ()
    """Up to 5 customers with a lost/duplicated/reordered reply: their messages and replies."""

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.reordered == 0


class Ledger:
    def __init__(self) -> None:
        self.books: dict[int, CustomerBook] = {}
        self.latencies: list[tuple[float, float]] = []
        """(reply recorded at, end-to-end seconds) per answered message."""

    def book(self, customer: int) -> CustomerBook:
        found = self.books.get(customer)
        if found is None:
            found = self.books[customer] = CustomerBook()
        return found

    def delivered(self, item: Item, status: str) -> None:
        """Record the webhook's answer to one delivery of `item`."""
        item.deliveries.append(status)
        for best in ("accepted", "throttled", "duplicate", "error"):
            if best in item.deliveries:
                item.ack = best
                return

    def add(self, item: Item) -> None:
        self.book(item.customer).items[item.seq] = item

    def waiting(self, customer: int) -> bool:
        """Does this customer still wait for an answer to an accepted message?"""
        return any(
            i.ack not in ("throttled", "error") and i.answers == 0
            for i in self.book(customer).items.values()
        )

    def on_reply(self, customer: int, text: str, recorded_at: float) -> list[Item]:
        """Account one recorded reply; returns the messages it answered (first answers only)."""
        book = self.book(customer)
        seqs = [int(s) for c, s in TOKEN_RE.findall(text) if int(c) == customer]
        answered = self._match(book, seqs, text, recorded_at)
        book.log.append((recorded_at, tuple(i.seq for i in answered), text[:90]))
        return [i for i in answered if i.answers == 1 and i.answered_at == recorded_at]

    def _match(self, book: CustomerBook, seqs: list[int], text: str, at: float) -> list[Item]:
        recorded_at = at
        matched: list[Item] = []
        for seq in seqs:
            item = book.items.get(seq)
            if item is None:
                book.stray += 1
                continue
            matched.append(item)
        if not seqs:
            marker = next((m for m in MARKERS if m in text), None)
            if marker is None:
                book.other += 1
                return []
            pending = [
                i
                for i in book.items.values()
                if i.expect == marker and i.answers == 0 and i.ack != "throttled"
            ]
            # A message the webhook never acknowledged is the least likely one answered.
            pending = [i for i in pending if i.ack != "error"] or pending
            if not pending:
                book.stray += 1
                return []
            matched.append(min(pending, key=lambda i: i.seq))
        for item in matched:
            item.answers += 1
            if item.answers == 1:
                item.answered_at = recorded_at
                self.latencies.append((recorded_at, recorded_at - item.sent_at))
        if matched:
            low = min(i.seq for i in matched)
            if low < book.highest_answered:
                book.reordered += 1
            book.highest_answered = max(book.highest_answered, max(i.seq for i in matched))
        return matched

    def verdict(self) -> Verdict:
        counts = {"messages": 0, "expected": 0, "answered": 0, "lost": 0, "dup": 0}
        throttled = errors = reordered = stray = other = 0
        examples: list[str] = []
        for customer, book in self.books.items():
            reordered += book.reordered
            stray += book.stray
            other += book.other
            for item in book.items.values():
                counts["messages"] += 1
                if item.ack == "throttled":
                    throttled += 1
                    continue
                if item.ack == "error":
                    errors += 1
                    continue
                counts["expected"] += 1
                if item.answers:
                    counts["answered"] += 1
                if item.answers == 0:
                    counts["lost"] += 1
                    if len(examples) < 10:
                        examples.append(f"customer {customer} seq {item.seq} ({item.ack})")
                elif item.answers > 1:
                    counts["dup"] += item.answers - 1
        return Verdict(
            messages=counts["messages"],
            expected=counts["expected"],
            answered=counts["answered"],
            lost=counts["lost"],
            duplicated=counts["dup"] + stray_markers(self.books.values()),
            reordered=reordered,
            throttled=throttled,
            errors=errors,
            stray=stray,
            other_replies=other,
            lost_examples=tuple(examples),
            suspects=tuple(self._suspects()),
        )

    def _suspects(self, limit: int = 5) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for customer, book in sorted(self.books.items()):
            bad = (
                book.reordered
                or book.stray
                or any(
                    (i.answers > 1) or (i.answers == 0 and i.ack not in ("throttled", "error"))
                    for i in book.items.values()
                )
            )
            if not bad:
                continue
            t0 = min((i.sent_at for i in book.items.values()), default=0.0)
            out.append(
                {
                    "customer": customer,
                    "messages": [
                        f"seq {i.seq} {i.kind} expect={i.expect} sent=+{i.sent_at - t0:.1f}s "
                        f"ack={'/'.join(i.deliveries)} answers={i.answers}"
                        for i in sorted(book.items.values(), key=lambda i: i.seq)
                    ],
                    "replies": [
                        f"+{at - t0:.1f}s {list(seqs)} {text!r}" for at, seqs, text in book.log
                    ],
                }
            )
            if len(out) >= limit:
                break
        return out


def stray_markers(books: Iterable[CustomerBook]) -> int:
    """Marker replies beyond the messages expecting them count as duplicates."""
    return sum(b.stray for b in books)
