"""Whose object a child's name belongs to (pure): ours, adoptable, or someone else's."""

from __future__ import annotations

from typing import Any

from supportbot_operator import names
from supportbot_operator.ownership import Verdict, judge

LABELS = {names.LABEL_MANAGED_BY: names.MANAGED_BY, names.LABEL_INSTANCE: "acme"}


def _obj(owners: list[dict[str, Any]] | None = None, labels: dict[str, str] | None = None) -> Any:
    meta: dict[str, Any] = {"name": "acme-webhook", "labels": labels or {}}
    if owners is not None:
        meta["ownerReferences"] = owners
    return {"metadata": meta}


def _ref(kind: str, name: str, uid: str, controller: bool = True) -> dict[str, Any]:
    api = names.API_VERSION if kind == names.KIND else "v1"
    return {"apiVersion": api, "kind": kind, "name": name, "uid": uid, "controller": controller}


def test_owned_by_this_uid_is_ours() -> None:
    assert judge(_obj([_ref(names.KIND, "acme", "u1")]), "acme", "u1").verdict is Verdict.OURS


def test_orphan_with_our_labels_is_adopted() -> None:
    found = judge(_obj(None, LABELS), "acme", "u2")
    assert found.verdict is Verdict.ADOPT and "orphaned" in found.why
    # a non-controller owner (e.g. added by someone) does not stand in the way
    found = judge(_obj([_ref("ConfigMap", "x", "c1", controller=False)], LABELS), "acme", "u2")
    assert found.verdict is Verdict.ADOPT


def test_child_of_an_earlier_incarnation_is_adopted() -> None:
    found = judge(_obj([_ref(names.KIND, "acme", "old")], LABELS), "acme", "new")
    assert found.verdict is Verdict.ADOPT and "old" in found.why


def test_other_controllers_and_unlabelled_objects_are_conflicts() -> None:
    other_bot = judge(_obj([_ref(names.KIND, "globex", "g1")], LABELS), "acme", "u1")
    assert other_bot.verdict is Verdict.CONFLICT and "SupportBot globex" in other_bot.why
    other_kind = judge(_obj([_ref("ConfigMap", "someone", "c1")], LABELS), "acme", "u1")
    assert other_kind.verdict is Verdict.CONFLICT and "controlled by ConfigMap someone" in (
        other_kind.why
    )
    unlabelled = judge(_obj(None, {}), "acme", "u1")
    assert unlabelled.verdict is Verdict.CONFLICT and "not managed by this SupportBot" in (
        unlabelled.why
    )
    someone_elses = judge(_obj(None, {**LABELS, names.LABEL_INSTANCE: "globex"}), "acme", "u1")
    assert someone_elses.verdict is Verdict.CONFLICT
