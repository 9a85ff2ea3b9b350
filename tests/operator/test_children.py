"""Planning a tenant's changes (pure parts): what a pause holds back, and remembering refused
changes so they are not sent again at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from supportbot_operator import children, names
from supportbot_operator.inputs import Problem

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _manifest(kind: str, name: str, applied: str = "h1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": name, "annotations": {names.ANNOTATION_APPLIED: applied}},
        "spec": spec,
    }


def test_differing_names_what_does_not_match_and_what_would_go() -> None:
    desired = [_manifest("Service", "acme-webhook", port=80), _manifest("Deployment", "acme")]
    live = {
        ("Service", "acme-webhook"): _manifest("Service", "acme-webhook", port=80),
        ("Deployment", "acme"): _manifest("Deployment", "acme", "h0"),
        ("Ingress", "acme"): _manifest("Ingress", "acme"),
    }
    assert children.differing(desired, live) == ["Deployment/acme", "Ingress/acme (to delete)"]
    assert children.differing(desired[:1], {}) == ["Service/acme-webhook"]


def test_a_refusal_holds_for_the_same_changes_for_a_while_only() -> None:
    plan = children.Plan(apply=[_manifest("Deployment", "acme-webhook")])
    refused = children.Rejection(plan.fingerprint(), Problem("ApplyRejected", "no"), T0)
    assert refused.holds(plan, T0 + timedelta(seconds=30))
    assert not refused.holds(plan, T0 + children.RETRY_REFUSED)
    edited = children.Plan(apply=[_manifest("Deployment", "acme-webhook", "h2")])
    assert not refused.holds(edited, T0), "another spec is another request"
