"""Fleet rollout pacing: which changes replace pods, when a tenant holds a slot, and the line."""

from __future__ import annotations

import copy
from typing import Any

from supportbot_operator import pacing


def _deployment(
    name: str = "acme-worker",
    image: str = "bot:1",
    gen: int = 3,
    observed: int = 3,
    replicas: int = 2,
    updated: int = 2,
    available: int = 2,
    total: int | None = None,
) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": name, "generation": gen},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "bot", "image": image}]}},
        },
        "status": {
            "observedGeneration": observed,
            "replicas": updated if total is None else total,
            "updatedReplicas": updated,
            "availableReplicas": available,
        },
    }


def _manifest(name: str = "acme-worker", image: str = "bot:1", replicas: int = 2) -> Any:
    body = _deployment(name, image, replicas=replicas)
    del body["status"]
    return body


def test_only_a_changed_pod_template_of_an_existing_deployment_rolls_pods() -> None:
    live = {("Deployment", "acme-worker"): _deployment()}
    assert pacing.rolls_pods([_manifest(image="bot:2")], live)
    assert not pacing.rolls_pods([_manifest(image="bot:1")], live)
    assert not pacing.rolls_pods([_manifest(replicas=5)], live)  # scaling replaces no pod
    assert not pacing.rolls_pods([_manifest("acme-webhook", image="bot:2")], live)  # new one
    service = {"kind": "Service", "metadata": {"name": "acme-worker"}, "spec": {"x": 1}}
    assert not pacing.rolls_pods([service], live)


def test_rolled_out_is_kubectl_rollout_status() -> None:
    assert pacing.rolled_out(_deployment())
    assert not pacing.rolled_out(_deployment(gen=4, observed=3))  # controller behind
    assert not pacing.rolled_out(_deployment(updated=1))  # old pods remain
    assert not pacing.rolled_out(_deployment(total=3))  # surge pod of the old version
    assert not pacing.rolled_out(_deployment(available=1))  # a new pod not available
    assert pacing.rolled_out(_deployment(replicas=0, updated=0, available=0))


def test_a_grant_holds_until_the_view_shows_its_generation_rolled_out() -> None:
    old = {"acme-worker": _deployment(gen=3)}
    assert not pacing.busy(old, None)
    assert pacing.busy(old, {"acme-worker": 4})  # the watch has not shown our write yet
    assert pacing.busy({"acme-worker": _deployment(gen=4, observed=4, updated=1)}, {"x": 1})
    assert not pacing.busy({"acme-worker": _deployment(gen=4, observed=4)}, {"acme-worker": 4})


def test_the_line_is_first_come_first_served_within_the_limit() -> None:
    pacer = pacing.Pacer(limit=2)
    holders = [("t", "a")]
    first = pacer.decide(("t", "b"), holders)
    assert first.granted and pacer.granted == {("t", "b"): None}  # reserved at once
    holders.append(("t", "b"))
    waiting = pacer.decide(("t", "c"), holders)
    assert not waiting.granted and (waiting.position, waiting.waiting) == (1, 1)
    assert waiting.holders == (("t", "a"), ("t", "b"))
    assert "2 of 2 in use: t/a, t/b" in waiting.message(2)
    second = pacer.decide(("t", "d"), holders)
    assert (second.granted, second.position, second.waiting) == (False, 2, 2)
    # a slot frees: the first in line gets it, not whoever asks first
    holders.remove(("t", "a"))
    assert pacer.next_up(len(holders)) == [("t", "c")]
    assert not pacer.decide(("t", "d"), holders).granted
    assert pacer.decide(("t", "c"), holders).granted
    assert list(pacer.waiting) == [("t", "d")]


def test_a_tenant_counts_itself_out_of_the_holders() -> None:
    pacer = pacing.Pacer(limit=1)
    assert pacer.decide(("t", "a"), [("t", "a")]).granted  # its own old rollout


def test_reservations_are_released_when_the_apply_fails_and_kept_when_it_lands() -> None:
    pacer = pacing.Pacer(limit=1)
    assert pacer.decide(("t", "a"), []).granted
    done = {"acme-worker": _deployment(gen=3)}
    assert pacer.holds(("t", "a"), done)  # reserved: the apply is on its way
    pacer.failed(("t", "a"))
    assert not pacer.holds(("t", "a"), done)
    assert pacer.decide(("t", "a"), []).granted
    pacer.started(("t", "a"), {"acme-worker": 4})
    pacer.failed(("t", "a"))  # a landed apply is not undone by a later failure
    assert pacer.holds(("t", "a"), done)
    rolled = {"acme-worker": _deployment(gen=4, observed=4)}
    assert not pacer.holds(("t", "a"), rolled) and ("t", "a") not in pacer.granted


def test_leaving_and_forgetting() -> None:
    pacer = pacing.Pacer(limit=1)
    pacer.decide(("t", "a"), [("t", "x")])
    pacer.decide(("t", "b"), [("t", "x")])
    pacer.leave(("t", "a"))
    assert list(pacer.waiting) == [("t", "b")]
    pacer.granted[("t", "b")] = {"w": 1}
    pacer.forget(("t", "b"))
    assert not pacer.waiting and not pacer.granted


def test_generations_of_applied_deployments() -> None:
    bodies = [_deployment("a", gen=5), copy.deepcopy(_deployment("b", gen=2))]
    assert pacing.generations(bodies) == {"a": 5, "b": 2}
