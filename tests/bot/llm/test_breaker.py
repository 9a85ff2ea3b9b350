"""Circuit breaker: the state machine on a fake clock, and wired into the client against the
simulator (opens after N failures, skips the model, half-opens after the cooldown, closes on a
good probe), with the state exported as `supportbot_llm_breaker_state`."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from supportbot.llm import BreakerState, CircuitBreaker, LLMConfig, OpenRouterClient
from supportbot.llm.simulator.testing import RunningSimulator

PRIMARY = "openai/gpt-4o-mini"
SECOND = "google/gemini-2.5-flash"
API_KEY = "sk-or-v1-test"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state(breaker: CircuitBreaker) -> BreakerState:
    """Read through a function so mypy does not narrow the property between calls."""
    return breaker.state


def test_breaker_state_machine() -> None:
    clock = Clock()
    changes: list[tuple[str, BreakerState]] = []
    breaker = CircuitBreaker(
        "m",
        failure_threshold=3,
        cooldown_seconds=10,
        clock=clock,
        on_change=lambda m, s: changes.append((m, s)),
    )
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert state(breaker) is BreakerState.CLOSED
    breaker.record_success()  # a success resets the count
    for _ in range(3):
        breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN and not breaker.allow()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.allow() and not breaker.allow(), "one probe at a time"
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN, "a failed probe re-opens"
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED and breaker.allow()
    assert [s for _, s in changes] == [
        BreakerState.CLOSED,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_released_probe_can_be_retried() -> None:
    clock = Clock()
    breaker = CircuitBreaker("m", failure_threshold=1, cooldown_seconds=1, clock=clock)
    breaker.record_failure()
    clock.now += 1
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker("m", failure_threshold=0)


def gauge(model: str) -> float | None:
    return REGISTRY.get_sample_value("supportbot_llm_breaker_state", {"model": model})


async def test_breaker_opens_skips_and_half_opens(sim: RunningSimulator) -> None:
    clock = Clock()
    config = LLMConfig(
        base_url=sim.base_url,
        api_key=API_KEY,
        models=(PRIMARY, SECOND),
        breaker_failure_threshold=2,
        breaker_cooldown_seconds=30,
    )
    async with OpenRouterClient(config, clock=clock) as client:
        fault = await sim.add_fault("server_error", model=PRIMARY)
        for _ in range(2):
            assert (await client.answer(None, "q")).model == SECOND
        assert client.breakers[PRIMARY].state is BreakerState.OPEN
        assert gauge(PRIMARY) == 2
        # open: the primary is not called at all
        result = await client.answer(None, "q")
        assert [a.outcome for a in result.attempts] == ["breaker_open", "ok"]
        assert [r["model"] for r in await sim.requests()].count(PRIMARY) == 2
        # the primary recovers; after the cooldown one probe goes through and closes the breaker
        (await sim.admin.delete(f"/_sim/faults/{fault['id']}")).raise_for_status()
        clock.now += 30
        assert gauge(PRIMARY) == 2
        assert client.breakers[PRIMARY].state is BreakerState.HALF_OPEN and gauge(PRIMARY) == 1
        result = await client.answer(None, "q")
        assert result.model == PRIMARY and not result.fallback_used
        assert client.breakers[PRIMARY].state is BreakerState.CLOSED and gauge(PRIMARY) == 0
        assert [r["model"] for r in await sim.requests()].count(PRIMARY) == 3


async def test_failed_half_open_probe_reopens(sim: RunningSimulator) -> None:
    clock = Clock()
    config = LLMConfig(
        base_url=sim.base_url,
        api_key=API_KEY,
        models=(PRIMARY, SECOND),
        breaker_failure_threshold=1,
        breaker_cooldown_seconds=5,
    )
    async with OpenRouterClient(config, clock=clock) as client:
        await sim.add_fault("bad_gateway", model=PRIMARY)
        await client.answer(None, "q")
        clock.now += 5
        result = await client.answer(None, "q")
        assert [a.outcome for a in result.attempts] == ["http_502", "ok"]
        assert client.breakers[PRIMARY].state is BreakerState.OPEN


async def test_all_breakers_open_gives_typed_failure_without_requests(
    sim: RunningSimulator,
) -> None:
    from supportbot.llm import LLMUnavailable

    config = LLMConfig(
        base_url=sim.base_url,
        api_key=API_KEY,
        models=(PRIMARY, SECOND),
        breaker_failure_threshold=1,
    )
    async with OpenRouterClient(config) as client:
        await sim.add_fault("unavailable")
        with pytest.raises(LLMUnavailable):
            await client.answer(None, "q")
        with pytest.raises(LLMUnavailable) as info:
            await client.answer(None, "q")
        assert [a.outcome for a in info.value.attempts] == ["breaker_open", "breaker_open"]
        assert len(await sim.requests()) == 2
