"""Dead-lettered turns: decode, select and format them (pure), and list/replay/drop them (edge).

A turn that exhausted its retries is moved by `scripts.DEAD` to ``sb:{t}:dead`` (LIST, newest
first, never trimmed: the worker's ``supportbot_dead_letters`` gauge shows how many) as the JSON
``{ref, reason, failed_at, attempts, entries}``, where ``entries`` are the turn's inbox entries
(flag character + message JSON, see `entries`). Records are never rewritten, so the id of a dead
letter is a hash of its stored bytes: the same for every reader and stable while the record
exists. An operator addresses one by that id or a unique
prefix of it (`select`).

Replaying (`replay`, `scripts.REPLAY`) removes the records and puts their messages back at the
FRONT of their conversation's inbox in their original order, in one script per conversation, and
enqueues a drain unless one holds the lease; a message already back in the inbox (or in the turn
being processed) is not added again, and a record that is already gone replays nothing, so a
replay can safely be repeated. Dropping removes exactly the records the operator saw (`LREM` of
the stored bytes), never one that was dead-lettered since.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, astuple, dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import InboundMessage
from supportbot.observability import mask_phone, scrub
from supportbot.queueing import rqjobs, scripts
from supportbot.queueing.adapters import jobhash
from supportbot.queueing.entries import EntryError, decode_entry
from supportbot.settings import BotSettings

MIN_PREFIX = 4
"""Shortest id prefix `select` accepts."""
_REF = re.compile(r"^[0-9a-f]{24}$")
_LIST_REASON_CHARS = 60
_TEXT_CHARS = 200


class DeadLetterError(LookupError):
    """No dead letter, or more than one, matches the id an operator gave."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered turn as stored (`raw`) and as read from it."""

    id: str
    raw: bytes
    tenant_id: str
    ref: str
    reason: str
    failed_at: float | None
    attempts: int | None
    entries: tuple[str, ...]
    messages: tuple[InboundMessage | None, ...]
    """One per entry; None where an entry is not a message (shown, replayed as it is)."""
    readable: bool = True
    """False when the record itself is not the JSON DEAD writes: it can only be dropped."""

    @property
    def first(self) -> InboundMessage | None:
        return next((m for m in self.messages if m is not None), None)

    @property
    def customer_id(self) -> str | None:
        first = self.first
        return first.customer_id if first else None

    @property
    def message_ids(self) -> tuple[str | None, ...]:
        return tuple(m.message_id if m else None for m in self.messages)

    @property
    def replayable(self) -> bool:
        return self.readable and bool(_REF.match(self.ref)) and bool(self.entries)


# --- decoding (pure) ------------------------------------------------------------------------


def letter_id(raw: bytes) -> str:
    """Stable id of a stored record (16 hex characters)."""
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


def _float(value: Any) -> float | None:
    """DEAD stores numbers as Redis strings, and a missing attempt counter as ``false``."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _message(entry: str) -> InboundMessage | None:
    try:
        return decode_entry(entry)
    except EntryError:
        return None


def decode(raw: bytes, tenant_id: str) -> DeadLetter:
    """Read one stored record; an unreadable one is kept (readable=False) so it can be dropped."""
    ident = letter_id(raw)
    try:
        record = json.loads(raw)
        if not isinstance(record, dict) or not isinstance(record.get("entries"), list):
            raise TypeError("not a DEAD record")
        texts = tuple(str(e) for e in record["entries"])
    except (ValueError, TypeError):
        return DeadLetter(ident, raw, tenant_id, "", "unreadable record", None, None, (), (), False)
    attempts = _float(record.get("attempts"))
    return DeadLetter(
        id=ident,
        raw=raw,
        tenant_id=tenant_id,
        ref=str(record.get("ref") or ""),
        reason=str(record.get("reason") or ""),
        failed_at=_float(record.get("failed_at")),
        attempts=None if attempts is None else int(attempts),
        entries=texts,
        messages=tuple(_message(e) for e in texts),
    )


# --- selecting (pure) -----------------------------------------------------------------------


def for_customer(letters: Iterable[DeadLetter], customer: str) -> list[DeadLetter]:
    """The letters of one customer, given as its customer id, BSUID or phone (``+`` optional)."""
    wanted = customer.strip().removeprefix("+")
    ref = keyspace.conversation_ref(wanted)
    out = []
    for letter in letters:
        ids = {letter.customer_id} | {m.phone for m in letter.messages if m}
        ids |= {m.bsuid for m in letter.messages if m}
        if letter.ref == ref or wanted in ids:
            out.append(letter)
    return out


def select(letters: Sequence[DeadLetter], wanted: str) -> DeadLetter:
    """The one letter whose id is `wanted` or starts with it (at least `MIN_PREFIX` chars)."""
    wanted = wanted.strip().lower()
    exact = [x for x in letters if x.id == wanted]
    if exact:
        return exact[0]
    if len(wanted) < MIN_PREFIX:
        raise DeadLetterError(f"id {wanted!r} is too short (give at least {MIN_PREFIX} characters)")
    found = [x for x in letters if x.id.startswith(wanted)]
    if not found:
        raise DeadLetterError(f"no dead letter {wanted!r} (already replayed or dropped?)")
    if len({x.id for x in found}) > 1:
        listed = ", ".join(sorted({x.id for x in found}))
        raise DeadLetterError(f"id {wanted!r} is ambiguous: {listed}")
    return found[0]


# --- formatting (pure) ----------------------------------------------------------------------


def mask_customer(message: InboundMessage | None) -> str:
    """The customer as an operator may see it: a masked phone, else a masked customer id."""
    if message is None:
        return "?"
    if message.phone:
        return mask_phone(message.phone)
    cid = message.customer_id
    return f"{cid[:3]}***{cid[-3:]}" if len(cid) > 8 else "***"


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


LIST_HEADER = f"{'ID':<16}  {'CUSTOMER':<14}  {'FAILED (UTC)':<20}  ATT  MSGS  REASON"


def list_line(letter: DeadLetter) -> str:
    """One row of `supportbot deadletters list` (phone masked, reason scrubbed and clipped)."""
    attempts = "?" if letter.attempts is None else str(letter.attempts)
    reason = _clip(scrub(letter.reason), _LIST_REASON_CHARS)
    return (
        f"{letter.id:<16}  {mask_customer(letter.first):<14}  {_when(letter.failed_at):<20}  "
        f"{attempts:>3}  {len(letter.entries):>4}  {reason}"
    )


def details(letter: DeadLetter) -> str:
    """What `supportbot deadletters show ID` prints (phones masked in texts and reason)."""
    attempts = "?" if letter.attempts is None else str(letter.attempts)
    lines = [
        f"dead letter {letter.id} (tenant {letter.tenant_id})",
        f"  conversation  {letter.ref or '?'}  customer {mask_customer(letter.first)}",
        f"  failed at     {_when(letter.failed_at)} after {attempts} attempt(s)",
        f"  reason        {scrub(letter.reason)}",
        f"  messages      {len(letter.entries)}",
    ]
    for n, (entry, message) in enumerate(zip(letter.entries, letter.messages, strict=True), 1):
        if message is None:
            lines.append(f"    {n}. (not a message) {_clip(scrub(entry), _TEXT_CHARS)}")
            continue
        flags = " (throttled)" if message.throttled else ""
        text = _clip(scrub(message.text or ""), _TEXT_CHARS)
        lines.append(
            f"    {n}. {message.message_id}  {message.kind.value}  "
            f"{_when(message.received_at)}{flags}  {text!r}"
        )
    if not letter.replayable:
        lines.append("  (cannot be replayed: the record is not readable; drop it)")
    return "\n".join(lines)


def to_json(letter: DeadLetter) -> dict[str, Any]:
    """The full record for `--json` (unmasked: for tools run by an authorised operator)."""
    return {
        "id": letter.id,
        "tenant": letter.tenant_id,
        "ref": letter.ref,
        "customer_id": letter.customer_id,
        "reason": letter.reason,
        "failed_at": letter.failed_at,
        "failed_at_utc": _when(letter.failed_at) if letter.failed_at is not None else None,
        "attempts": letter.attempts,
        "message_ids": list(letter.message_ids),
        "messages": [
            asdict(m) if m is not None else {"unreadable_entry": e}
            for e, m in zip(letter.entries, letter.messages, strict=True)
        ],
        "replayable": letter.replayable,
    }


# --- Redis edge -----------------------------------------------------------------------------


async def count(redis: aioredis.Redis, tenant_id: str) -> int:
    """How many dead letters the tenant has (one LLEN: cheap enough for every heartbeat)."""
    return int(await redis.llen(keyspace.dead_letter_key(tenant_id)))


async def read_all(redis: aioredis.Redis, tenant_id: str) -> list[DeadLetter]:
    """Every dead letter of the tenant, newest first."""
    raws = await redis.lrange(keyspace.dead_letter_key(tenant_id), 0, -1)
    return [decode(raw if isinstance(raw, bytes) else raw.encode(), tenant_id) for raw in raws]


@dataclass(frozen=True, slots=True)
class ReplayReport:
    records: int = 0
    """Dead letters removed from the list (their messages are back in their inbox)."""
    messages: int = 0
    duplicates: int = 0
    """Messages not put back because they were already in the inbox or being processed."""
    drains: int = 0
    """Drain jobs enqueued (a conversation whose lease is live is drained by its holder)."""
    missing: int = 0
    """Records that were already gone (replayed or dropped by someone else meanwhile)."""

    def __add__(self, other: ReplayReport) -> ReplayReport:
        return ReplayReport(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def _by_conversation(letters: Iterable[DeadLetter]) -> dict[str, list[DeadLetter]]:
    groups: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        if not letter.replayable:
            raise ValueError(f"dead letter {letter.id} cannot be replayed (unreadable record)")
        groups.setdefault(letter.ref, []).append(letter)
    return groups


async def replay(
    redis: aioredis.Redis, settings: BotSettings, letters: Sequence[DeadLetter]
) -> ReplayReport:
    """Put the letters' messages back in their conversations (one atomic script each).

    `letters` in list order (newest first), as `read_all` returns them: within a conversation
    the older turn's messages end up ahead of the newer one's. Raises ValueError, before
    touching Redis, if one of them is not replayable.
    """
    script = redis.register_script(scripts.REPLAY)
    dead = keyspace.dead_letter_key(settings.tenant_id)
    total = ReplayReport()
    for ref, group in _by_conversation(letters).items():
        k = keyspace.conversation_keys(settings.tenant_id, ref)
        job = jobhash.prepare_drain_job(settings, ref, redis)
        rq_keys = [job.key, jobhash.queue_key(settings.queue_name), jobhash.queues_key()]
        reply = await script(
            keys=[dead, k.lease, k.inbox, k.processing, keyspace.active_key(settings.tenant_id)]
            + rq_keys,
            args=[
                ref,
                job.id,
                rqjobs.pending_lease_ms(settings),
                len(group),
                *(x.raw for x in group),
                *job.fields,
            ],
        )
        records, messages, duplicates, drains = (int(v) for v in reply)
        total += ReplayReport(records, messages, duplicates, drains, len(group) - records)
    return total


async def drop(redis: aioredis.Redis, tenant_id: str, letters: Sequence[DeadLetter]) -> int:
    """Remove exactly these records (one transaction); how many were still there."""
    if not letters:
        return 0
    dead = keyspace.dead_letter_key(tenant_id)
    async with redis.pipeline(transaction=True) as pipe:
        for letter in letters:
            pipe.execute_command("LREM", dead, 1, letter.raw)
        removed = await pipe.execute()
    return sum(int(n) for n in removed)
