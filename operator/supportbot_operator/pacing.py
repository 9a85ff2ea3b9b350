"""Fleet rollout pacing: how many tenants may roll new pods at the same time.

A change to what every tenant runs (the bot image in the chart, an operator upgrade that
renders the pods differently) would otherwise restart every tenant at once. With
`max_rolling_tenants` N > 0 the budget works like a Deployment's `maxUnavailable`, one level
up: a tenant whose pod templates would change first takes a rollout slot; while N other tenants
are rolling out or unavailable it waits, first come first served, serving the version it
already runs (status: Reconciling=True and Ready=False, reason `RolloutQueued`, with its place
in the line and who holds the slots). A slot is held until that tenant's Deployments are
rolled out (every replica updated and available: `kubectl rollout status`'s test), so a
rollout that never becomes ready (a broken image) stops the fleet at N tenants instead of
breaking every tenant.

Who is rolling is read from every tenant's live Deployments (so a restarted or newly elected
operator, which remembers nothing, still counts rollouts in flight), plus the slots this process
granted whose writes the watch has not shown yet. New tenants (no Deployments yet) and changes
that leave every pod template alone (replica floors, Services, autoscalers) never wait.

Pure decisions over plain data; the reconciler feeds it the view and applies the verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from supportbot_operator import drift

Key = tuple[str, str]
Body = dict[str, Any]


def rolls_pods(apply: Iterable[Mapping[str, Any]], live: Mapping[tuple[str, str], Body]) -> bool:
    """Would applying these manifests replace the pods of an existing Deployment?"""
    for manifest in apply:
        if manifest.get("kind") != "Deployment":
            continue
        have = live.get(("Deployment", manifest["metadata"]["name"]))
        if have is None:
            continue  # a new Deployment starts pods; it replaces none
        want = {"spec": {"template": manifest.get("spec", {}).get("template", {})}}
        if drift.differences(want, have):
            return True
    return False


def rolled_out(deployment: Mapping[str, Any]) -> bool:
    """`kubectl rollout status` says done: the controller saw the latest spec, every replica
    runs it, and each is available (no old pods left)."""
    meta, spec, st = (deployment.get(k) or {} for k in ("metadata", "spec", "status"))
    want = int(spec.get("replicas", 1))
    updated = int(st.get("updatedReplicas", 0))
    return (
        int(st.get("observedGeneration", 0)) >= int(meta.get("generation", 0))
        and updated >= want
        and int(st.get("replicas", 0)) <= updated
        and int(st.get("availableReplicas", 0)) >= updated
    )


def generations(deployments: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Deployment name -> metadata.generation (of the objects an apply returned)."""
    return {
        str(d["metadata"]["name"]): int(d["metadata"].get("generation") or 0) for d in deployments
    }


def busy(deployments: Mapping[str, Mapping[str, Any]], granted: Mapping[str, int] | None) -> bool:
    """Does a tenant hold a slot? `deployments` are its live ones by name; `granted` the
    generations this process's apply produced (None: no grant outstanding). A grant counts
    until the view shows those generations rolled out."""
    if any(not rolled_out(d) for d in deployments.values()):
        return True
    for name, generation in (granted or {}).items():
        live = deployments.get(name)
        if live is not None and int(live["metadata"].get("generation") or 0) < generation:
            return True  # the watch has not caught up with our write yet
    return False


@dataclass(frozen=True)
class Decision:
    granted: bool
    position: int = 0
    """1-based place in the line while waiting."""
    waiting: int = 0
    holders: tuple[Key, ...] = ()

    def message(self, limit: int) -> str:
        held = ", ".join(f"{ns}/{name}" for ns, name in self.holders[:5])
        more = f" and {len(self.holders) - 5} more" if len(self.holders) > 5 else ""
        return (
            f"waiting for a rollout slot ({len(self.holders)} of {limit} in use: {held}{more}); "
            f"number {self.position} of {self.waiting} in line; the running version is kept"
        )


@dataclass
class Pacer:
    """Slots and the line, for one operator process."""

    limit: int
    """At most this many tenants rolling at a time; 0: unpaced."""
    granted: dict[Key, dict[str, int] | None] = field(default_factory=dict)
    """Tenants this process let roll -> Deployment generations its apply produced (None
    while the apply is still on its way: the slot is reserved at the decision, so concurrent
    reconciles never hand out more slots than there are)."""
    waiting: dict[Key, None] = field(default_factory=dict)
    """The line, in arrival order."""

    def decide(self, key: Key, holders: Iterable[Key]) -> Decision:
        """May `key` roll now? `holders`: the other tenants holding a slot."""
        others = tuple(sorted(k for k in holders if k != key))
        self.waiting.setdefault(key, None)
        line = list(self.waiting)
        position = line.index(key)
        if position < self.limit - len(others):
            del self.waiting[key]
            self.granted[key] = None
            return Decision(True)
        return Decision(False, position + 1, len(line), others)

    def started(self, key: Key, generations: dict[str, int]) -> None:
        """The granted change was applied, producing these Deployment generations."""
        self.granted[key] = generations

    def failed(self, key: Key) -> None:
        """The granted change was not applied: the reserved slot is free again."""
        if key in self.granted and self.granted[key] is None:
            del self.granted[key]

    def holds(self, key: Key, deployments: Mapping[str, Mapping[str, Any]]) -> bool:
        """Does `key` hold a slot (see `busy`)? Forgets a grant that is over."""
        if key in self.granted and self.granted[key] is None:
            return True  # reserved, its apply still on its way
        if busy(deployments, self.granted.get(key)):
            return True
        self.granted.pop(key, None)
        return False

    def leave(self, key: Key) -> None:
        """`key` no longer waits (nothing to roll, gone, paused, withdrawn)."""
        self.waiting.pop(key, None)

    def forget(self, key: Key) -> None:
        self.waiting.pop(key, None)
        self.granted.pop(key, None)

    def next_up(self, holders: int) -> list[Key]:
        """The waiters that would get a slot now (to wake them)."""
        return list(self.waiting)[: max(0, self.limit - holders)]
