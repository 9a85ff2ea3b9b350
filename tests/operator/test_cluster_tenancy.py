"""One WhatsApp number, one tenant, enforced by the reconciler on a real API server (the
admission webhook is not registered here: this is the path when it is down or bypassed)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from supportbot_operator.testing import Kubectl, OperatorProcess, unique_number, wait_for

pytestmark = pytest.mark.cluster
Docs = Callable[[str], list[dict[str, Any]]]
T = 30.0
WORKLOADS = [("deployment", "webhook"), ("deployment", "worker"), ("hpa", "worker")]


def _bot(docs: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in docs if d["kind"] == "SupportBot")
    return found


def _workloads(k: Kubectl, name: str, ns: str) -> list[str]:
    return [
        f"{kind}/{name}-{part}" for kind, part in WORKLOADS if k.get(kind, f"{name}-{part}", ns)
    ]


def _deployed(k: Kubectl, name: str, ns: str) -> None:
    wait_for(lambda: len(_workloads(k, name, ns)) == len(WORKLOADS), T, f"{ns}/{name} workloads")
    k.wait_condition(name, ns, "Degraded", "False")


def _after_creation_second(k: Kubectl, name: str, ns: str) -> None:
    """Wait until the clock is past the bot's creation second, so a bot created next is
    strictly younger (creationTimestamp has one-second resolution)."""
    created = datetime.strptime(
        (k.get("supportbot", name, ns) or {})["metadata"]["creationTimestamp"],
        "%Y-%m-%dT%H:%M:%SZ",
    ).replace(tzinfo=UTC)
    wait_for(lambda: (datetime.now(UTC) - created).total_seconds() >= 1.05, 5, "the next second")


def test_second_bot_with_a_number_in_another_namespace_gets_no_workload(
    kubectl: Kubectl,
    operator: OperatorProcess,
    make_namespace: Callable[[str], str],
    example_docs: Docs,
) -> None:
    first, second = make_namespace("op"), make_namespace("op")
    docs = example_docs("01-acme-retail")
    kubectl.apply(first, *docs)
    _deployed(kubectl, "acme", first)
    _after_creation_second(kubectl, "acme", first)

    kubectl.apply(second, *docs)  # the very same integratedNumber, another tenant namespace
    ready = kubectl.wait_condition("acme", second, "Ready", "False", reason="NumberConflict")
    degraded = kubectl.wait_condition("acme", second, "Degraded", "True", reason="NumberConflict")
    for cond in (ready, degraded):
        assert f"SupportBot {first}/acme" in cond["message"], cond
        assert _bot(docs)["spec"]["whatsapp"]["integratedNumber"] in cond["message"]
    assert _workloads(kubectl, "acme", second) == [], "the newer claimant serves nothing"
    warnings = [e for e in kubectl.items("events", second) if e["reason"] == "NumberConflict"]
    assert warnings and warnings[0]["type"] == "Warning"
    assert (kubectl.condition("acme", first, "Degraded") or {}).get("status") == "False", (
        "the older claimant keeps the number"
    )
    assert len(_workloads(kubectl, "acme", first)) == len(WORKLOADS)

    # The holder goes away: the number is free and the waiting tenant is deployed.
    kubectl.run("delete", "supportbot", "acme", "-n", first)
    _deployed(kubectl, "acme", second)


def test_second_bot_in_the_same_namespace_until_it_changes_its_number(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    docs = example_docs("01-acme-retail")
    kubectl.apply(ns, *docs)
    _deployed(kubectl, "acme", ns)
    _after_creation_second(kubectl, "acme", ns)

    twin = copy.deepcopy(_bot(docs))
    twin["metadata"]["name"] = "acme-twin"
    kubectl.apply(ns, twin)
    cond = kubectl.wait_condition("acme-twin", ns, "Degraded", "True", reason="NumberConflict")
    assert f"SupportBot {ns}/acme " in cond["message"]
    assert _workloads(kubectl, "acme-twin", ns) == []

    kubectl.patch(
        "supportbot", "acme-twin", ns, {"spec": {"whatsapp": {"integratedNumber": unique_number()}}}
    )
    _deployed(kubectl, "acme-twin", ns)
    assert len(_workloads(kubectl, "acme", ns)) == len(WORKLOADS)


def test_a_claimant_that_loses_its_number_loses_its_workload(
    kubectl: Kubectl,
    operator: OperatorProcess,
    make_namespace: Callable[[str], str],
    example_docs: Docs,
) -> None:
    """The older bot takes a number a younger one serves (an edit that bypassed admission):
    the younger one's serving workload is withdrawn, not left running beside the holder's."""
    older_ns, younger_ns = make_namespace("op"), make_namespace("op")
    older = example_docs("01-acme-retail")
    kubectl.apply(older_ns, *older)
    _deployed(kubectl, "acme", older_ns)
    _after_creation_second(kubectl, "acme", older_ns)
    younger = copy.deepcopy(older)
    taken = unique_number()
    _bot(younger)["spec"]["whatsapp"]["integratedNumber"] = taken
    kubectl.apply(younger_ns, *younger)
    _deployed(kubectl, "acme", younger_ns)

    kubectl.patch(
        "supportbot", "acme", older_ns, {"spec": {"whatsapp": {"integratedNumber": taken}}}
    )
    kubectl.wait_condition("acme", younger_ns, "Ready", "False", reason="NumberConflict")
    wait_for(lambda: _workloads(kubectl, "acme", younger_ns) == [], T, "the workload withdrawn")
    assert kubectl.get("service", "acme-webhook", younger_ns), "only the workload goes"
    kubectl.wait_condition("acme", older_ns, "Degraded", "False")
