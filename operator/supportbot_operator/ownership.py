"""Whose is an object that has the name of one of a tenant's children? Decided purely from the
live object, so the reconciler never overwrites what someone else controls and never strands
what is its own.

- **ours**: an owner reference names this SupportBot's uid;
- **adopt**: no other controller owns it and it is this bot's by every sign left: its
  controller is an earlier SupportBot of the same namespace and name (gone, since the name now
  belongs to this uid; with no garbage collector running, children outlive their owner), or it
  has no controller at all and carries the operator's labels for this bot (children orphaned by
  `kubectl delete supportbot NAME --cascade=orphan`);
- **conflict**: another controller owns it, or it lacks the operator's labels: never touched,
  the tenant reports `NameConflict` naming the owner.

Adopting is an ordinary server-side apply of the rendered child: it adds this bot's owner
reference (the earlier incarnation's, applied by the same field manager, is dropped by it) and
reverts the fields the operator owns; fields other managers set are left alone, as for drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from supportbot_operator import names


class Verdict(Enum):
    OURS = "ours"
    ADOPT = "adopt"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Ownership:
    verdict: Verdict
    why: str
    """Why it may be adopted or must be left alone (empty when it is ours)."""


def _is_earlier_self(ref: Mapping[str, Any], bot_name: str) -> bool:
    return (
        ref.get("kind") == names.KIND
        and str(ref.get("apiVersion", "")).split("/")[0] == names.GROUP
        and ref.get("name") == bot_name
    )


def judge(live: Mapping[str, Any], bot_name: str, uid: str) -> Ownership:
    """Ours, adoptable or someone else's: see the module docstring."""
    meta = live.get("metadata") or {}
    owners = meta.get("ownerReferences") or []
    if any(o.get("uid") == uid for o in owners):
        return Ownership(Verdict.OURS, "")
    controller = next((o for o in owners if o.get("controller")), None)
    if controller is not None:
        if _is_earlier_self(controller, bot_name):
            return Ownership(
                Verdict.ADOPT,
                f"its owner, an earlier SupportBot {bot_name!r} (uid {controller.get('uid')}), "
                "is gone",
            )
        return Ownership(
            Verdict.CONFLICT,
            f"exists and is controlled by {controller.get('kind')} {controller.get('name')}",
        )
    labels = meta.get("labels") or {}
    if (
        labels.get(names.LABEL_MANAGED_BY) == names.MANAGED_BY
        and labels.get(names.LABEL_INSTANCE) == bot_name
    ):
        return Ownership(Verdict.ADOPT, "orphaned: it has no controller and carries our labels")
    return Ownership(
        Verdict.CONFLICT,
        "exists and is not managed by this SupportBot (no controller, and not labelled "
        f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}, {names.LABEL_INSTANCE}={bot_name})",
    )
