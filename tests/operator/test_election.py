"""Leader-election decisions (client-go semantics) and the probes' verdicts, without a cluster.
The same code against a real API server: test_cluster_ha.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from supportbot_operator import election, health
from supportbot_operator.election import ElectionTiming, LeaseRecord, Observation
from supportbot_operator.leader import ElectionState

WALL = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
TIMING = ElectionTiming(lease_duration=15, renew_deadline=10, retry_period=2)


def test_timing_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="retryPeriod < renewDeadline < leaseDuration"):
        ElectionTiming(lease_duration=10, renew_deadline=10, retry_period=2)
    with pytest.raises(ValueError):
        ElectionTiming(lease_duration=15, renew_deadline=10, retry_period=0)


def test_record_round_trips_the_lease_spec() -> None:
    spec = {
        "holderIdentity": "pod-a_1",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-12-03T10:00:00.000000Z",
        "renewTime": "2026-12-03T10:00:04.000000Z",
        "leaseTransitions": 3,
    }
    record = LeaseRecord.of({"spec": spec})
    assert record.spec() == spec
    assert LeaseRecord.of({}) == LeaseRecord(), "a Lease with no spec yet is free"


def test_microtime_is_rfc3339_with_microseconds() -> None:
    assert election.microtime(WALL) == "2026-12-03T10:00:00.123456Z"


def test_first_claim_and_takeover_count_transitions() -> None:
    first = election.claim(LeaseRecord(), "a", 15, WALL)
    assert first == LeaseRecord("a", 15, election.microtime(WALL), election.microtime(WALL), 0)
    taken = election.claim(first, "b", 15, WALL)
    assert taken.holder == "b" and taken.transitions == 1
    released = election.released(taken, WALL)
    assert released.holder == "" and released.duration_seconds == 1 and released.transitions == 1
    after_release = election.claim(released, "a", 15, WALL)
    assert after_release.transitions == 1, "taking a released (holderless) lease is no transition"


def test_renewal_keeps_acquire_time_and_transitions() -> None:
    held = LeaseRecord("a", 15, "2026-12-03T09:00:00.000000Z", "2026-12-03T09:59:58.000000Z", 4)
    renewed = election.claim(held, "a", 15, WALL)
    assert renewed.acquire_time == held.acquire_time and renewed.transitions == 4
    assert renewed.renew_time == election.microtime(WALL)


def test_expiry_is_judged_on_the_observers_clock() -> None:
    record = LeaseRecord("a", 15, "x", "2020-01-01T00:00:00.000000Z", 0)  # renewTime far past
    seen = election.observe(None, record, now=100.0)
    assert election.held_by_another(seen, "b", now=114.9), "holder's renewTime is not trusted"
    assert not election.held_by_another(seen, "b", now=115.1)
    assert election.observe(seen, record, now=110.0) is seen, "unchanged record: same time"
    renewed = LeaseRecord("a", 15, "x", "2020-01-01T00:00:02.000000Z", 0)
    assert election.observe(seen, renewed, now=110.0).at == 110.0
    assert not election.held_by_another(seen, "a", now=101.0), "our own lease is never held"
    released = Observation(LeaseRecord("", 1, "x", "x", 0), at=100.0)
    assert not election.held_by_another(released, "b", now=100.0), "released: free at once"


@pytest.mark.parametrize(
    ("leading", "held", "holder", "last_renewed", "expected"),
    [
        (False, True, "me", 0.0, "start"),
        (False, False, "other", 0.0, "stay"),
        (True, True, "me", 0.0, "stay"),
        (True, False, "other", 99.0, "stop"),  # someone else holds it: stop at once
        (True, False, "me", 95.0, "stay"),  # a transient error within renewDeadline
        (True, False, "me", 89.0, "stop"),  # no renewal for renewDeadline
    ],
)
def test_transition(
    leading: bool, held: bool, holder: str, last_renewed: float, expected: str
) -> None:
    step, why = election.transition(
        leading=leading,
        held=held,
        holder=holder,
        me="me",
        last_renewed=last_renewed,
        timing=TIMING,
        now=100.0,
    )
    assert step == expected, why


def _state(**kw: object) -> ElectionState:
    base: dict[str, object] = {
        "identity": "me",
        "leading": False,
        "holder": "other",
        "last_ok": 100.0,
        "last_attempt": 100.0,
        "last_error": "",
        "timing": TIMING,
        "started": 0.0,
    }
    base.update(kw)
    return ElectionState(**base)  # type: ignore[arg-type]


def test_probes_without_election() -> None:
    snap = health.Snapshot(tasks_alive=True, election=None, now=0.0)
    assert health.liveness(snap)[0] and health.readiness(snap)[0]
    dead = health.Snapshot(tasks_alive=False, election=None, now=0.0)
    alive, body = health.liveness(dead)
    assert not alive and "task" in body["reason"]
    assert not health.readiness(dead)[0]


def test_a_fresh_standby_is_ready_and_alive() -> None:
    snap = health.Snapshot(tasks_alive=True, election=_state(), now=101.0)
    ready, body = health.readiness(snap)
    assert ready and body["leader"] is False and body["holder"] == "other"


def test_a_replica_that_cannot_reach_the_lease_is_not_ready_but_alive() -> None:
    state = _state(last_ok=100.0, last_attempt=114.0, last_error="403 Forbidden: leases")
    snap = health.Snapshot(tasks_alive=True, election=state, now=115.0)
    ready, body = health.readiness(snap)
    assert not ready and "403 Forbidden" in body["reason"]
    assert health.liveness(snap)[0], "a short API blip costs readiness only"
    for last_ok in (100.0, None):  # 3 lease durations without a round trip: restart
        state = _state(last_ok=last_ok, last_attempt=145.5, last_error="403 Forbidden: leases")
        alive, body = health.liveness(health.Snapshot(True, state, now=146.0))
        assert not alive and "no Lease round trip" in body["reason"], last_ok
    starting = health.Snapshot(
        tasks_alive=True, election=_state(last_ok=None, last_attempt=None), now=0.0
    )
    assert not health.readiness(starting)[0]


def test_a_wedged_elector_fails_liveness() -> None:
    snap = health.Snapshot(tasks_alive=True, election=_state(last_attempt=80.0), now=100.0)
    alive, body = health.liveness(snap)
    assert not alive and "stuck" in body["reason"]
