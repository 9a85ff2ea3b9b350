"""Scenario files (YAML) -> a typed `Scenario`: who chats how, for how long, and which phases run.

A scenario describes one tenant's customers (count, ramp, think times, the mix of actions:
single texts, bursts, button taps), the share of duplicate webhook deliveries, the delivery
reports the MSG91 simulator sends back (order, duplicates), the worker's turn handler and the
OpenRouter simulator's latency, plus the settings of each benchmark phase. Pure: no I/O besides
reading the file in `load_scenario`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import yaml

Handler = Literal["echo", "llm-echo", "engine"]
HANDLERS: tuple[Handler, ...] = ("echo", "llm-echo", "engine")
PHASES = ("ack", "customers", "inflight", "naive", "overhead")
"""The phases a scenario without `phases:` runs."""
KNOWN_PHASES = (*PHASES, "seed")
"""`seed`: ours vs the seed design's Node stack vs bare, figure by figure (`sbload.seedphases`)."""
SYSTEMS = ("ours", "seed")


class ScenarioError(ValueError):
    """The scenario file is invalid; the message names the field."""


@dataclass(frozen=True)
class Span:
    """A uniform random range [low, high]."""

    low: float
    high: float

    @classmethod
    def parse(cls, value: Any, what: str) -> Span:
        if isinstance(value, int | float):
            return cls(float(value), float(value))
        if isinstance(value, list | tuple) and len(value) == 2:
            low, high = (float(v) for v in value)
            if 0 <= low <= high:
                return cls(low, high)
        raise ScenarioError(f"{what}: expected a number or [low, high] with 0 <= low <= high")


@dataclass(frozen=True)
class Actions:
    """Relative weights of what a customer does next, and the burst shape."""

    text: float = 60
    burst: float = 25
    button: float = 15
    burst_messages: Span = Span(2, 4)
    burst_gap_seconds: Span = Span(0.2, 1.0)


@dataclass(frozen=True)
class AckPhase:
    connections: int = 100
    seconds: float = 10
    rounds: int = 2
    fixed_rate: float = 300
    """Open-loop rate (req/s) for the latency-at-load measurement (100 connections)."""
    fixed_seconds: float = 10
    sweep_rates: tuple[float, ...] = (1000, 2000, 3000, 4000)
    """More open-loop rates over the same 100 connections (webhook and bare, `sweep_seconds`
    each): up to which rate the ack p99 stays within its target."""
    sweep_seconds: float = 5
    profile_seconds: float = 10
    """py-spy sampling of the webhook under closed-loop load (0 = no profile)."""


@dataclass(frozen=True)
class NaivePhase:
    seconds: float = 90
    """Customers act for this long in both runs (ours with llm-echo, then naive rq)."""
    drain_seconds: float = 30
    customers: int = 0
    """0 = the scenario's customer count."""


@dataclass(frozen=True)
class InflightPhase:
    customers: int = 1500
    """Each sends one message through the webhook BEFORE the worker starts; then one worker
    process (llm-echo handler, the scenario's LLM latency) takes them all: how many turns one
    process holds at once, and its RSS, without the webhook's admission rate in the way."""
    post_rate: float = 1000
    drain_seconds: float = 120


@dataclass(frozen=True)
class OverheadPhase:
    rate: float = 300
    low_rate: float = 100
    """Run first at this lower rate (0 = skip): the overhead when the worker keeps up."""
    seconds: float = 20
    warmup_seconds: float = 3
    """First drive the same rate this long and wait for its answers; not measured (pools and
    connections fill; the first second of a cold process is not the overhead)."""
    customers: int = 4000
    """Spread over enough customers to stay under the per-customer throttle."""
    replicas: int = 2
    """Then the target rate again with this many worker processes (0 or 1 = skip): the worker
    Deployment's HPA scales out the same way."""


@dataclass(frozen=True)
class SeedPhase:
    """The `seed` phase: the same measurements on each of `systems` (ours = `supportbot webhook`
    + `supportbot worker --handler llm-echo`; seed = `loadtests/seedstack`, Fastify + Bull), in
    the same run, with the same driver and ledger; bare FastAPI joins the webhook figures."""

    systems: tuple[str, ...] = SYSTEMS
    parts: tuple[str, ...] = ("ack", "overhead", "inflight", "customers")
    concurrency: int = 2000
    """The seed worker's Bull concurrency (ours: the scenario's `worker.concurrency`)."""
    nest: bool = True
    """The `ack` part also measures the seed webhook on NestJS (+ Fastify adapter), `seed-nest`."""
    ack_seconds: float = 10
    """Closed loop (wrk, `ack.connections`) per system; the open-loop sweep uses `ack`'s
    `fixed_rate` + `sweep_rates` for `ack.sweep_seconds` each."""
    overhead_rates: tuple[float, ...] = (100, 300)
    """0 ms LLM, open loop: end-to-end overhead and turns per CPU-second at each rate."""
    overhead_seconds: float = 20
    warmup_seconds: float = 3
    overhead_customers: int = 4000
    inflight_customers: int = 1500
    """Queued through the webhook first, then one worker process takes them (LLM as the
    scenario's `llm_latency`)."""
    inflight_post_rate: float = 1000
    inflight_drain_seconds: float = 120
    customers: int = 0
    """The ledger run (the scenario's crowd: bursts, taps, duplicates; 0 = `customers`)."""
    customers_seconds: float = 60


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    customers: int = 1000
    handler: Handler = "engine"
    llm_latency: str = "uniform:2:10"
    ramp_seconds: float = 20
    duration_seconds: float = 150
    drain_seconds: float = 60
    think_seconds: Span = Span(3, 15)
    reply_timeout_seconds: float = 30
    surge_at_seconds: float = 40
    """Every customer's first question lands in [at, at + window]: the in-flight peak."""
    surge_window_seconds: float = 2
    actions: Actions = Actions()
    duplicate_share: float = 0.05
    duplicate_delay_seconds: Span = Span(0, 2)
    status_order: Literal["in_order", "reverse", "shuffle"] = "shuffle"
    status_duplicates: int = 1
    worker_concurrency: int = 2000
    coalesce_window_seconds: float = 1.5
    throttle_per_minute: int = 10
    phases: tuple[str, ...] = PHASES
    ack: AckPhase = AckPhase()
    naive: NaivePhase = NaivePhase()
    inflight: InflightPhase = InflightPhase()
    overhead: OverheadPhase = OverheadPhase()
    seedstack: SeedPhase = SeedPhase()
    seed: int = 7
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def end_seconds(self) -> float:
        return self.duration_seconds


def _sub(cls: type[Any], raw: Any, what: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ScenarioError(f"{what}: expected a mapping")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ScenarioError(f"{what}: unknown field(s) {', '.join(unknown)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def _actions(raw: Any) -> Actions:
    if raw is None:
        return Actions()
    if not isinstance(raw, dict):
        raise ScenarioError("actions: expected a mapping")
    burst = raw.get("burst") or {}
    return Actions(
        text=float((raw.get("text") or {}).get("weight", 0)),
        burst=float(burst.get("weight", 0)),
        button=float((raw.get("button") or {}).get("weight", 0)),
        burst_messages=Span.parse(burst.get("messages", [2, 4]), "actions.burst.messages"),
        burst_gap_seconds=Span.parse(burst.get("gap_seconds", [0.2, 1.0]), "actions.burst.gap"),
    )


def parse_scenario(doc: dict[str, Any], source: str = "") -> Scenario:
    """Validate a scenario document (see loadtests/scenarios/default.yaml)."""
    if not isinstance(doc, dict) or not doc.get("name"):
        raise ScenarioError("a scenario is a mapping with at least `name`")
    d = dict(doc)
    surge = d.pop("surge", None) or {}
    statuses = d.pop("statuses", None) or {}
    worker = d.pop("worker", None) or {}
    scenario = Scenario(
        name=str(d.pop("name")),
        description=str(d.pop("description", "")),
        actions=_actions(d.pop("actions", None)),
        think_seconds=Span.parse(d.pop("think_seconds", [3, 15]), "think_seconds"),
        duplicate_delay_seconds=Span.parse(
            d.pop("duplicate_delay_seconds", [0, 2]), "duplicate_delay_seconds"
        ),
        surge_at_seconds=float(surge.get("at_seconds", 40)),
        surge_window_seconds=float(surge.get("window_seconds", 2)),
        status_order=statuses.get("order", "shuffle"),
        status_duplicates=int(statuses.get("duplicates", 1)),
        worker_concurrency=int(worker.get("concurrency", 2000)),
        coalesce_window_seconds=float(worker.get("coalesce_window_seconds", 1.5)),
        ack=_sub(AckPhase, d.pop("ack", None), "ack"),
        naive=_sub(NaivePhase, d.pop("naive", None), "naive"),
        inflight=_sub(InflightPhase, d.pop("inflight", None), "inflight"),
        overhead=_sub(OverheadPhase, d.pop("overhead", None), "overhead"),
        seedstack=_sub(SeedPhase, d.pop("seedstack", None), "seedstack"),
        phases=tuple(d.pop("phases", PHASES)),
        source=source,
    )
    simple = {f.name for f in fields(Scenario)} - {"extra", "source"}
    unknown = sorted(set(d) - simple)
    if unknown:
        raise ScenarioError(f"unknown scenario field(s): {', '.join(unknown)}")
    scenario = replace(scenario, **d)
    return validate(scenario)


def validate(s: Scenario) -> Scenario:
    if s.handler not in HANDLERS:
        raise ScenarioError(f"handler: one of {', '.join(HANDLERS)}")
    if not 1 <= s.customers <= 20_000:
        raise ScenarioError("customers: 1..20000")
    if not 0 <= s.duplicate_share <= 1:
        raise ScenarioError("duplicate_share: 0..1")
    if s.actions.text + s.actions.burst + s.actions.button <= 0:
        raise ScenarioError("actions: at least one positive weight")
    bad = sorted(set(s.phases) - set(KNOWN_PHASES))
    if bad:
        raise ScenarioError(f"phases: unknown {', '.join(bad)} (known: {', '.join(KNOWN_PHASES)})")
    bad = sorted(set(s.seedstack.systems) - set(SYSTEMS))
    if bad:
        raise ScenarioError(f"seedstack.systems: unknown {', '.join(bad)} (known: ours, seed)")
    parts = ("ack", "overhead", "inflight", "customers")
    bad = sorted(set(s.seedstack.parts) - set(parts))
    if bad:
        known = ", ".join(parts)
        raise ScenarioError(f"seedstack.parts: unknown {', '.join(bad)} (known: {known})")
    if s.duration_seconds <= 0 or s.duration_seconds > 3600:
        raise ScenarioError("duration_seconds: 0..3600 (load runs are bounded)")
    if s.status_order not in ("in_order", "reverse", "shuffle"):
        raise ScenarioError("statuses.order: in_order | reverse | shuffle")
    return s


def load_scenario(path: Path) -> Scenario:
    doc = yaml.safe_load(path.read_text())
    return parse_scenario(doc, source=str(path))
