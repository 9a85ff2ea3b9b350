"""Leader election on a `coordination.k8s.io/v1` Lease: the decisions, no I/O (`leader` does it).

The semantics are client-go's `tools/leaderelection` (what controller-runtime's `--leader-elect`
uses), so the Lease reads the same to `kubectl` and to anyone who knows Go operators:

- `holderIdentity` names the leader, `leaseDurationSeconds` how long its claim lasts,
  `acquireTime` when it took the lease, `renewTime` its last renewal, `leaseTransitions` how
  many times the holder changed.
- A candidate judges expiry by its **own clock**: the lease is free once the record it observed
  has not changed for the record's `leaseDurationSeconds` (observed time, never the holder's
  `renewTime`, so clock skew between nodes does not matter). An empty `holderIdentity` (a
  released lease) is free at once.
- Writes are optimistic (`resourceVersion`): of two candidates racing for a free lease one gets
  a 409 Conflict and stays a candidate.
- The leader renews every `retryPeriod`; when no renewal succeeds for `renewDeadline` it stops
  leading (it may have been replaced), and it also stops the moment it reads another holder.
- A leader that shuts down cleanly releases the lease (empty holder, duration 1 s), so the
  standby takes over within one `retryPeriod` instead of a whole `leaseDuration`.

Why not a library: kopf has no Lease election (its peering pauses by priority on a 60 s
keep-alive and needs cluster-wide peering CRDs); the official `kubernetes` client's
`leaderelection` is synchronous (threads), runs once (no way back to candidate), neither counts
`leaseTransitions` nor releases on shutdown, and would bring a second API client configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class ElectionTiming:
    """client-go's three durations (controller-runtime defaults: 15 / 10 / 2 s)."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs retryPeriod < renewDeadline < leaseDuration, got "
                f"{self.retry_period} / {self.renew_deadline} / {self.lease_duration}"
            )


@dataclass(frozen=True)
class LeaseRecord:
    """The election fields of a Lease's spec (client-go's LeaderElectionRecord)."""

    holder: str = ""
    duration_seconds: int = 0
    acquire_time: str = ""
    renew_time: str = ""
    transitions: int = 0

    @classmethod
    def of(cls, lease: dict[str, Any]) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime") or "",
            renew_time=spec.get("renewTime") or "",
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration_seconds,
            "acquireTime": self.acquire_time or None,
            "renewTime": self.renew_time or None,
            "leaseTransitions": self.transitions,
        }


@dataclass(frozen=True)
class Observation:
    """What a candidate last saw of the Lease and when (its own monotonic clock)."""

    record: LeaseRecord
    at: float


def microtime(when: datetime) -> str:
    """A `metav1.MicroTime` string (RFC 3339, microseconds, UTC)."""
    return when.astimezone(UTC).strftime(MICROTIME)


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """The observation after reading `record`: its time moves only when the record changed."""
    if previous is not None and previous.record == record:
        return previous
    return Observation(record, now)


def held_by_another(observed: Observation, me: str, now: float) -> bool:
    """True while someone else holds the lease: a holder is named and the record changed less
    than its own `leaseDurationSeconds` ago (as client-go's `isLeaseValid`)."""
    record = observed.record
    return (
        bool(record.holder)
        and record.holder != me
        and (observed.at + record.duration_seconds > now)
    )


def claim(current: LeaseRecord, me: str, duration: float, wall: datetime) -> LeaseRecord:
    """The record to write to acquire (or, when we hold it, renew) the lease."""
    stamp = microtime(wall)
    if current.holder == me:
        return replace(current, duration_seconds=_seconds(duration), renew_time=stamp)
    return LeaseRecord(
        holder=me,
        duration_seconds=_seconds(duration),
        acquire_time=stamp,
        renew_time=stamp,
        transitions=current.transitions + 1 if current.holder else current.transitions,
    )


def released(current: LeaseRecord, wall: datetime) -> LeaseRecord:
    """client-go's release on shutdown: no holder, 1 s duration, transitions kept."""
    stamp = microtime(wall)
    return LeaseRecord(
        holder="",
        duration_seconds=1,
        acquire_time=stamp,
        renew_time=stamp,
        transitions=current.transitions,
    )


def lease_body(
    name: str, namespace: str, record: LeaseRecord, resource_version: str | None
) -> dict[str, Any]:
    """A full Lease for create (no resourceVersion) or optimistic update (with one)."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": record.spec(),
    }


def transition(
    *,
    leading: bool,
    held: bool,
    holder: str,
    me: str,
    last_renewed: float,
    timing: ElectionTiming,
    now: float,
) -> tuple[str, str]:
    """What an attempt's outcome means: ("start" | "stop" | "stay", why).

    `held` is whether the attempt left us holding the lease; `holder` who the last record we
    read names. A leader stops at once when another holder is named, and otherwise only when no
    renewal succeeded for `renewDeadline` (a transient API error is not a lost lease)."""
    if not leading:
        return ("start", "acquired") if held else ("stay", "candidate")
    if held:
        return "stay", "renewed"
    if holder != me:
        return "stop", f"the lease is now held by {holder or 'nobody'}"
    if now - last_renewed > timing.renew_deadline:
        return "stop", f"no renewal for {timing.renew_deadline:g} s"
    return "stay", "renewal failed, retrying"


def _seconds(duration: float) -> int:
    return max(1, round(duration))


def wall_now() -> datetime:
    return datetime.now(UTC)


def jittered(period: float, fraction: float) -> float:
    """client-go's `wait.Jitter(period, 1.2)`: candidates spread their retries."""
    return period + period * 1.2 * fraction
