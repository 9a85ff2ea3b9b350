"""One WhatsApp number, one tenant: which SupportBot holds an `integratedNumber`, decided purely.

MSG91 and Meta each deliver a number's messages to exactly one webhook, so two tenants
claiming the same number would silently split (or steal) a business's traffic. The rule,
shared by the reconciler and the admission webhook so both always agree:

- the **older claimant keeps the number**: the SupportBot with the earliest
  `metadata.creationTimestamp`; equal timestamps (one-second resolution) are broken by
  namespace, then name, so every replica and every pass decides the same way;
- every other claimant is in conflict (`NumberConflict`): not Ready, no serving workload, its
  condition names the holder.

Known limit: the order is by creation, not by when a bot started using the number, so an older
bot edited to a younger bot's number takes it over when the admission webhook is bypassed (the
webhook rejects such an update while it is up).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from supportbot_operator.inputs import Problem

REASON = "NumberConflict"
"""Reason of the Ready/Degraded conditions of a tenant that lost its number."""


@dataclass(frozen=True, order=True)
class Claim:
    """One SupportBot claiming a number; ordering puts the holder first."""

    created: str
    """`metadata.creationTimestamp` (RFC 3339, UTC, `Z`: sorts like the time it names)."""
    namespace: str
    name: str
    uid: str = ""

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def number_of(body: Mapping[str, Any]) -> str | None:
    """The `spec.whatsapp.integratedNumber` of a SupportBot body (None when absent)."""
    number = ((body.get("spec") or {}).get("whatsapp") or {}).get("integratedNumber")
    return str(number) if number else None


def claim_of(body: Mapping[str, Any]) -> Claim:
    meta = body.get("metadata") or {}
    return Claim(
        created=str(meta.get("creationTimestamp") or ""),
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
    )


def holder(claims: Iterable[Claim]) -> Claim | None:
    """The claimant that keeps the number (the oldest), None when there is none."""
    return min(claims, default=None)


def _same_bot(a: Claim, b: Claim) -> bool:
    return (a.namespace, a.name) == (b.namespace, b.name)


def conflict(me: Claim, number: str, claims: Iterable[Claim]) -> Problem | None:
    """Why `me` may not serve `number`, or None when it holds it. `claims` are every known
    claimant of `number` (`me` may or may not be among them: a stale index entry of `me`
    itself, e.g. of an earlier incarnation with another uid, never counts against it)."""
    others = [c for c in claims if not _same_bot(c, me)]
    first = holder([me, *others])
    if first is None or first is me or _same_bot(first, me):
        return None
    return Problem(
        REASON,
        f"integratedNumber {number} is already served by SupportBot {first.ref} "
        f"(created {first.created}); a WhatsApp number's messages go to one webhook only "
        "(MSG91's or Meta's), so this bot runs no workload until the number is changed or the "
        "other bot is deleted",
    )


def admission_conflict(
    me: Claim, number: str, claims: Iterable[Claim], *, number_changed: bool
) -> str | None:
    """Why an admission request must be refused, or None. Refused: a create, or an update that
    changes the number, naming a number some other SupportBot claims. An update that keeps the
    number is let through (the holder must stay editable, and a bot already in conflict is
    reported by the reconciler and may always move to another number)."""
    if not number_changed:
        return None
    first = holder(c for c in claims if not _same_bot(c, me))
    if first is None:
        return None
    return (
        f"integratedNumber {number} is already used by SupportBot {first.ref}: a WhatsApp "
        "number's messages go to one webhook only (MSG91's or Meta's), so a number may belong "
        "to one SupportBot in the cluster"
    )
