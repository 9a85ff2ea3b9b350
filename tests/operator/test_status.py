"""Status conditions, replica summaries and the events their transitions produce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from supportbot_operator import status
from supportbot_operator.inputs import Problem

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _deployment(
    desired: int = 2,
    ready: int = 2,
    updated: int = 2,
    gen: int = 3,
    observed: int = 3,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": "acme-webhook", "generation": gen},
        "spec": {"replicas": desired},
        "status": {
            "observedGeneration": observed,
            "replicas": updated,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            **extra,
        },
    }


def _obs(**kw: Any) -> status.Observation:
    base: dict[str, Any] = {
        "generation": 4,
        "paused": False,
        "problems": [],
        "webhook": status.component(_deployment()),
        "worker": status.component(_deployment(desired=1, ready=1, updated=1)),
        "endpoint": "http://e/in",
        "status_endpoint": "http://e/st",
        "running": {"image": "bot:1", "flowHash": "f", "secretsHash": "s"},
    }
    base.update(kw)
    return status.Observation(**base)


def _conds(st: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in st["conditions"]}


def test_healthy_tenant_is_ready() -> None:
    st = status.compute(_obs(), None, T0)
    c = _conds(st)
    assert (c["Ready"]["status"], c["Ready"]["reason"]) == ("True", "Available")
    assert c["Reconciling"]["status"] == "False" and c["Degraded"]["status"] == "False"
    assert c["Paused"]["status"] == "False"
    assert all(x["observedGeneration"] == 4 for x in st["conditions"])
    assert all(x["lastTransitionTime"] == "2026-05-01T12:00:00Z" for x in st["conditions"])
    assert st["webhook"] == {
        "desiredReplicas": 2,
        "readyReplicas": 2,
        "updatedReplicas": 2,
        "ready": "2/2",
    }
    assert st["worker"]["ready"] == "1/1"
    assert (st["endpoint"], st["statusEndpoint"], st["flowHash"]) == (
        "http://e/in",
        "http://e/st",
        "f",
    )


def test_rollout_in_progress_is_reconciling_not_ready() -> None:
    st = status.compute(_obs(webhook=status.component(_deployment(ready=1, updated=1))), None, T0)
    c = _conds(st)
    assert (c["Reconciling"]["status"], c["Reconciling"]["reason"]) == ("True", "RollingOut")
    assert (c["Ready"]["status"], c["Ready"]["reason"]) == ("False", "RollingOut")


def test_unobserved_generation_is_not_rolled_out() -> None:
    assert not status.component(_deployment(gen=4, observed=3)).rolled_out
    assert status.component(_deployment()).rolled_out


def test_problems_make_it_degraded_and_not_ready() -> None:
    problems = [Problem("SecretNotFound", "Secret 'wa' does not exist")]
    c = _conds(status.compute(_obs(problems=problems), None, T0))
    assert (c["Degraded"]["status"], c["Degraded"]["reason"]) == ("True", "SecretNotFound")
    assert "Secret 'wa' does not exist" in c["Degraded"]["message"]
    assert (c["Ready"]["status"], c["Ready"]["reason"]) == ("False", "SecretNotFound")


def test_progress_deadline_is_pods_failing() -> None:
    failing = _deployment(
        ready=0,
        conditions=[
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": "timed out",
            }
        ],
    )
    c = _conds(status.compute(_obs(webhook=status.component(failing)), None, T0))
    assert (c["Degraded"]["status"], c["Degraded"]["reason"]) == ("True", "PodsFailing")


def test_paused() -> None:
    c = _conds(status.compute(_obs(paused=True), None, T0))
    assert (c["Paused"]["status"], c["Reconciling"]["reason"]) == ("True", "Paused")


def test_missing_deployments() -> None:
    st = status.compute(
        _obs(webhook=status.component(None), worker=status.component(None)), None, T0
    )
    c = _conds(st)
    assert (c["Ready"]["status"], c["Ready"]["reason"]) == ("False", "Deploying")
    assert st["webhook"]["ready"] == "0/0"


def test_unchanged_status_is_identical_and_keeps_transition_times() -> None:
    first = status.compute(_obs(), None, T0)
    again = status.compute(_obs(), first, T0 + timedelta(hours=1))
    assert again == first
    assert not status.changed({**first, "kopf": {"x": 1}}, again)


def test_transition_time_moves_only_for_flipped_conditions() -> None:
    first = status.compute(_obs(), None, T0)
    later = status.compute(
        _obs(problems=[Problem("InvalidFlow", "bad")]), first, T0 + timedelta(minutes=5)
    )
    c = _conds(later)
    assert c["Degraded"]["lastTransitionTime"] == "2026-05-01T12:05:00Z"
    assert c["Paused"]["lastTransitionTime"] == "2026-05-01T12:00:00Z"
    assert status.changed(first, later)


def test_events_on_transitions() -> None:
    ready = status.compute(_obs(), None, T0)
    assert [e.reason for e in status.transitions(None, ready)] == ["Ready"]
    degraded = status.compute(_obs(problems=[Problem("InvalidFlow", "line 3: bad")]), ready, T0)
    (event,) = status.transitions(ready, degraded)
    assert (event.type, event.reason, event.message) == ("Warning", "InvalidFlow", "line 3: bad")
    other = status.compute(_obs(problems=[Problem("SecretNotFound", "gone")]), degraded, T0)
    assert [e.reason for e in status.transitions(degraded, other)] == ["SecretNotFound"]
    assert status.transitions(other, other) == []
    recovered = status.compute(_obs(), other, T0)
    assert [e.reason for e in status.transitions(other, recovered)] == ["Recovered", "Ready"]
    paused = status.compute(_obs(paused=True), recovered, T0)
    assert [e.reason for e in status.transitions(recovered, paused)] == ["Paused"]
    assert [e.reason for e in status.transitions(paused, recovered)] == ["Resumed"]


def test_min_replicas_floor_counts_as_desired_until_the_hpa_scales() -> None:
    one = _deployment(desired=1, ready=1, updated=1)
    assert status.component(one).rolled_out
    floored = status.component(one, min_replicas=2)
    assert (floored.desired, floored.rolled_out) == (2, False)
    assert floored.as_status()["ready"] == "1/2"


def test_vanished_running_values_are_cleared_once() -> None:
    st = status.compute(_obs(), None, T0)
    gone = status.compute(_obs(running={}), st, T0)
    assert gone["image"] is None and gone["flowHash"] is None
    assert status.changed(st, gone)
    stored = {k: v for k, v in gone.items() if v is not None}  # what the API server keeps
    assert not status.changed(stored, status.compute(_obs(running={}), stored, T0))


def _hpa(name: str, **conditions: tuple[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {
            "conditions": [
                {"type": kind, "status": st, "reason": reason, "message": f"{kind} says {reason}"}
                for kind, (st, reason) in conditions.items()
            ]
        },
    }


def test_autoscalers_that_cannot_scale_are_degraded_and_not_ready() -> None:
    broken = status.autoscaling(
        [
            _hpa("acme-webhook", AbleToScale=("True", "SucceededGetScale")),
            _hpa(
                "acme-worker",
                AbleToScale=("True", "SucceededGetScale"),
                ScalingActive=("False", "FailedGetExternalMetric"),
            ),
        ]
    )
    assert (broken.status, broken.reason) == ("False", "FailedGetExternalMetric")
    assert "HorizontalPodAutoscaler acme-worker: ScalingActive=False" in broken.message
    c = _conds(status.compute(_obs(autoscaling=broken), None, T0))
    assert (c["Autoscaling"]["status"], c["Autoscaling"]["reason"]) == (
        "False",
        "FailedGetExternalMetric",
    )
    assert (c["Degraded"]["status"], c["Degraded"]["reason"]) == ("True", "FailedGetExternalMetric")
    assert (c["Ready"]["status"], c["Ready"]["reason"]) == ("False", "FailedGetExternalMetric")


def test_autoscalers_not_yet_evaluated_are_unknown_and_harmless() -> None:
    assert status.autoscaling([]).status == "Unknown"
    waiting = status.autoscaling([_hpa("acme-worker")])
    assert (waiting.status, waiting.reason) == ("Unknown", "Pending")
    c = _conds(status.compute(_obs(autoscaling=waiting), None, T0))
    assert c["Autoscaling"]["status"] == "Unknown" and c["Ready"]["status"] == "True"
    active = status.autoscaling([_hpa("acme-worker", ScalingActive=("True", "ValidMetricFound"))])
    assert active.status == "True" and not active.problems


def test_a_deployment_scaled_to_zero_by_hand_says_why_not_rolling_out() -> None:
    zero = _deployment(desired=0, ready=0, updated=0)
    worker = status.component(zero, min_replicas=1)
    assert worker.failure is not None and worker.failure.reason == "ScaledToZero"
    assert "kubectl scale deployment acme-webhook --replicas=1" in worker.failure.message
    c = _conds(status.compute(_obs(worker=worker), None, T0))
    assert c["Reconciling"]["reason"] != "RollingOut"
    assert (c["Ready"]["status"], c["Ready"]["reason"]) == ("False", "ScaledToZero")


def test_changes_held_by_a_pause_are_not_observed_as_done() -> None:
    before = status.compute(_obs(generation=4), None, T0)
    held = status.compute(
        _obs(generation=5, paused=True, pending=["Deployment/acme-worker"]), before, T0
    )
    c = _conds(held)
    assert held["observedGeneration"] == 4
    assert (c["Ready"]["status"], c["Ready"]["reason"]) == ("False", "Paused")
    assert "not applied: Deployment/acme-worker" in c["Reconciling"]["message"]
    nothing = status.compute(_obs(generation=5, paused=True), before, T0)
    assert nothing["observedGeneration"] == 5 and _conds(nothing)["Ready"]["status"] == "True"


def test_held_states_say_what_is_deployed() -> None:
    missing = status.component(None)
    new = _conds(
        status.compute(
            _obs(
                webhook=missing,
                worker=missing,
                problems=[Problem("SecretNotFound", "gone")],
                held="nothing applied until the inputs are fixed",
            ),
            None,
            T0,
        )
    )
    assert new["Reconciling"]["reason"] == "Held"
    assert new["Reconciling"]["message"] == (
        "nothing applied until the inputs are fixed; nothing is deployed yet"
    )
    running = _conds(status.compute(_obs(problems=[Problem("X", "y")], held="refused"), None, T0))
    assert running["Reconciling"]["message"] == "refused; the running version is kept"


def test_recovered_claims_healthy_pods_only_when_ready() -> None:
    missing = status.component(None)
    degraded = status.compute(
        _obs(webhook=missing, worker=missing, problems=[Problem("SecretNotFound", "gone")]),
        None,
        T0,
    )
    deploying = status.compute(
        _obs(webhook=status.component(_deployment(ready=0)), worker=missing), degraded, T0
    )
    (event,) = status.transitions(degraded, deploying)
    assert event.reason == "Recovered" and "pods healthy" not in event.message
    assert "not ready yet" in event.message


def test_a_change_waiting_for_a_rollout_slot_is_reconciling_not_ready_and_not_observed() -> None:
    previous = status.compute(_obs(generation=3), None, T0)
    line = "waiting for a rollout slot (2 of 2 in use: t/a, t/b); number 1 of 3 in line"
    st = status.compute(_obs(generation=4, queued=line), previous, T0)
    c = _conds(st)
    assert (c["Reconciling"]["status"], c["Reconciling"]["reason"]) == ("True", "RolloutQueued")
    assert (c["Ready"]["status"], c["Ready"]["reason"]) == ("False", "RolloutQueued")
    assert line in c["Ready"]["message"] and line in c["Reconciling"]["message"]
    assert c["Degraded"]["status"] == "False"  # waiting is not a fault
    assert st["observedGeneration"] == 3  # the new spec is not applied yet
    assert status.compute(_obs(generation=4), st, T0)["observedGeneration"] == 4


def test_missing_keda_is_reported_first_degraded_and_not_ready() -> None:
    missing = Problem("KEDANotInstalled", "QueueDepth works through KEDA ...")
    scaling = status.autoscaling(
        [_hpa("acme-webhook", ScalingActive=("True", "ValidMetricFound"))], [], [missing]
    )
    assert (scaling.status, scaling.reason) == ("False", "KEDANotInstalled")
    c = _conds(status.compute(_obs(autoscaling=scaling), None, T0))
    assert (c["Autoscaling"]["status"], c["Autoscaling"]["reason"]) == ("False", "KEDANotInstalled")
    assert (c["Degraded"]["status"], c["Degraded"]["reason"]) == ("True", "KEDANotInstalled")
    assert (c["Ready"]["status"], c["Ready"]["reason"]) == ("False", "KEDANotInstalled")
    # Even with no autoscaler object at all, a missing prerequisite is a verdict, not "Unknown".
    assert status.autoscaling([], [], [missing]).status == "False"


def _scaled_object(name: str, **conditions: tuple[str, str]) -> dict[str, Any]:
    return _hpa(name, **conditions)


def test_scaled_objects_are_read_by_their_ready_condition() -> None:
    webhook = _hpa("acme-webhook", ScalingActive=("True", "ValidMetricFound"))
    ok = status.autoscaling(
        [webhook],
        [_scaled_object("acme-worker", Ready=("True", "ScaledObjectReady"), Active=("False", "x"))],
    )
    assert ok.status == "True" and not ok.problems
    waiting = status.autoscaling([webhook], [_scaled_object("acme-worker")])
    assert (waiting.status, waiting.reason) == ("Unknown", "Pending")
    assert "acme-worker" in waiting.message
    broken = status.autoscaling(
        [webhook], [_scaled_object("acme-worker", Ready=("False", "ScaledObjectCheckFailed"))]
    )
    assert (broken.status, broken.reason) == ("False", "ScaledObjectCheckFailed")
    assert "ScaledObject acme-worker: Ready=False (ScaledObjectCheckFailed)" in broken.message
    c = _conds(status.compute(_obs(autoscaling=broken), None, T0))
    assert c["Ready"]["status"] == "False" and c["Degraded"]["status"] == "True"
