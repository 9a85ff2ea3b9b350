"""The fault suite's results: one row per fault, its pass/fail reasons, and the Markdown (pure).

A row fails when any acknowledged message was lost, duplicated or reordered, when a message was
never acknowledged although the driver retried it like a provider (it is lost to the customer),
when a turn was dead-lettered, when a reply was the LLM-failure fallback, and for
idle-connections when any signed POST got a non-2xx answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sbload.faults.plan import Fault
from sbload.ledger import CustomerBook, Item, Verdict

FALLBACK_MARKER = "LT-FALLBACK"
"""The load-test flow's LLM-failure message (scenarios/flow.yaml)."""


@dataclass(frozen=True)
class FaultRow:
    fault: str
    kind: str
    duration: str
    messages: int
    """Distinct customer messages (a duplicate delivery counts once)."""
    acked: int
    answered: int
    lost: int
    duplicated: int
    reordered: int
    unacked: int
    """Messages the webhook never acknowledged within the driver's retries."""
    non_2xx: int
    """Webhook answers other than 2xx, and failed connections, over all POST attempts."""
    dead_lettered: int | None
    fallback: int
    recover_seconds: float | None
    """From the heal to the last answer of a message sent before it (0 when everything was
    answered before the heal; None when something is still unanswered or nothing healed)."""
    slowest_answer_seconds: float | None
    notes: str
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


def non_2xx(ack_status: Mapping[str, int]) -> int:
    """Attempts the webhook did not answer 2xx (status codes, or 'conn_error')."""
    return sum(n for status, n in ack_status.items() if not status.startswith("2"))


def fallback_replies(books: Iterable[CustomerBook]) -> int:
    """Replies carrying the flow's LLM-failure text."""
    return sum(1 for b in books for _, _, text in b.log if FALLBACK_MARKER in text)


def recover_seconds(items: Iterable[Item], healed_at: float | None) -> float | None:
    """Seconds from the heal to the last first answer of an acknowledged message sent before
    it; None when there was no heal or one of those messages is unanswered."""
    if healed_at is None:
        return None
    last = healed_at
    for item in items:
        if item.sent_at > healed_at or item.ack in ("throttled", "error"):
            continue
        if item.answered_at is None:
            return None
        last = max(last, item.answered_at)
    return last - healed_at


def slowest_answer(items: Iterable[Item]) -> float | None:
    waits = [i.answered_at - i.sent_at for i in items if i.answered_at is not None]
    return max(waits) if waits else None


def failures(fault: Fault, v: Verdict, rest: Mapping[str, int | None]) -> tuple[str, ...]:
    """Why the row fails (empty: it passes)."""
    found = [
        f"{v.lost} lost" if v.lost else "",
        f"{v.duplicated} duplicated" if v.duplicated else "",
        f"{v.reordered} reordered" if v.reordered else "",
        f"{v.errors} never acknowledged" if v.errors else "",
        f"{rest['dead']} dead-lettered" if rest.get("dead") else "",
        f"{rest['fallback']} fallback replies" if rest.get("fallback") else "",
    ]
    if fault.kind == "idle-connections" and rest.get("non_2xx"):
        found.append(f"{rest['non_2xx']} non-2xx answers")
    return tuple(f for f in found if f)


def build_row(
    fault: Fault,
    verdict: Verdict,
    items: Sequence[Item],
    *,
    books: Iterable[CustomerBook],
    ack_status: Mapping[str, int],
    dead: int | None,
    healed_at: float | None,
    notes: Sequence[str],
) -> FaultRow:
    fallback = fallback_replies(books)
    bad = non_2xx(ack_status)
    return FaultRow(
        fault=fault.label,
        kind=fault.kind,
        duration=fault.duration,
        messages=verdict.messages,
        acked=verdict.expected,
        answered=verdict.answered,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        reordered=verdict.reordered,
        unacked=verdict.errors,
        non_2xx=bad,
        dead_lettered=dead,
        fallback=fallback,
        recover_seconds=recover_seconds(items, healed_at if fault.healed else None),
        slowest_answer_seconds=slowest_answer(items),
        notes="; ".join(notes),
        failures=failures(fault, verdict, {"dead": dead, "fallback": fallback, "non_2xx": bad}),
    )


def failed_row(fault: Fault, error: str) -> FaultRow:
    """The row of a run that could not be measured (the harness failed)."""
    return FaultRow(
        fault=fault.label,
        kind=fault.kind,
        duration=fault.duration,
        messages=0,
        acked=0,
        answered=0,
        lost=0,
        duplicated=0,
        reordered=0,
        unacked=0,
        non_2xx=0,
        dead_lettered=None,
        fallback=0,
        recover_seconds=None,
        slowest_answer_seconds=None,
        notes=error,
        failures=(f"run failed: {error}",),
    )


def row_from_dict(doc: Mapping[str, Any]) -> FaultRow:
    return FaultRow(**{**doc, "failures": tuple(doc.get("failures", ()))})


def row_to_dict(row: FaultRow) -> dict[str, Any]:
    return asdict(row)


def _seconds(value: float | None, unrecovered: str) -> str:
    if value is None or math.isnan(value):
        return unrecovered
    return f"{value:.1f} s"


HEADER = (
    "| fault | duration | acked | answered | lost | duplicated | reordered | unacked | "
    "webhook non-2xx | dead-lettered | fallback replies | time to recover | slowest answer | "
    "verdict | notes |"
)


def render_row(row: FaultRow) -> str:
    recover = _seconds(row.recover_seconds, "not recovered" if row.kind != "nul-text" else "–")
    cells = [
        row.fault,
        row.duration,
        f"{row.acked:,}",
        f"{row.answered:,}",
        f"**{row.lost}**" if row.lost else "0",
        f"**{row.duplicated}**" if row.duplicated else "0",
        f"**{row.reordered}**" if row.reordered else "0",
        f"**{row.unacked}**" if row.unacked else "0",
        f"{row.non_2xx:,}",
        "?" if row.dead_lettered is None else f"{row.dead_lettered:,}",
        f"**{row.fallback}**" if row.fallback else "0",
        recover,
        _seconds(row.slowest_answer_seconds, "–"),
        "pass" if row.ok else "**FAIL**: " + ", ".join(row.failures),
        row.notes,
    ]
    return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"


def render_table(rows: Sequence[FaultRow]) -> str:
    separator = "|" + "---|" * HEADER.count(" | ") + "---|"
    return "\n".join([HEADER, separator, *(render_row(r) for r in rows)])


def exit_code(rows: Sequence[FaultRow]) -> int:
    """0 when every row passes, 1 otherwise."""
    return 0 if rows and all(r.ok for r in rows) else 1
