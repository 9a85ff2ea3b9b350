"""The simulators' shared machinery on its own (pure parts): the fault-rule queue, the status
order, the recording store's bounds and window, the CLI's secret list."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import pytest

from supportbot.msg91.simulator.config import FaultRule, SimConfig
from supportbot.msg91.simulator.state import SimMessage, SimState
from supportbot.simkit.cli import with_env_list
from supportbot.simkit.emitter import EmitError, inbound_identity, status_sequence
from supportbot.simkit.faults import take_rule


@dataclass
class Rule:
    name: str
    count: int | None = None


def test_a_counted_rule_serves_count_requests_then_leaves_the_queue() -> None:
    rules = deque([Rule("a", count=2), Rule("b")])
    first, second = (take_rule(rules, lambda r: r.name == "a") for _ in range(2))
    assert first is second and first is not None and first.name == "a"
    assert [r.name for r in rules] == ["b"]
    assert take_rule(rules, lambda r: r.name == "a") is None


def test_an_uncounted_rule_stays_and_the_first_match_wins() -> None:
    rules = [Rule("x"), Rule("y", count=1)]
    for _ in range(3):
        found = take_rule(rules, lambda r: True)
        assert found is not None and found.name == "x"
    assert [r.name for r in rules] == ["x", "y"]


def test_status_sequence() -> None:
    assert status_sequence(failed=True, final="read") == ["failed"]
    assert status_sequence(failed=False, final="none") is None
    assert status_sequence(failed=False, final="delivered") == ["sent", "delivered"]
    assert status_sequence(failed=False, final="read") == ["sent", "delivered", "read"]


def test_msg91_store_takes_faults_by_endpoint_and_bounds_messages() -> None:
    state = SimState(SimConfig(max_records=2))
    state.faults.extend([FaultRule(status=503, path="bulk"), FaultRule(status=429, count=2)])
    assert state.take_fault("session") == state.faults[1]
    rule = state.take_fault("bulk")
    assert rule is not None and rule.status == 503
    assert [(f.status, f.count) for f in state.faults] == [(429, 1)]
    assert state.stats()["pending_faults"] == 1
    for n in range(3):
        state.add_message(SimMessage(f"w{n}", f"r{n}", "91900", "91987", "text", None, 0.0))
    assert list(state.messages) == ["w1", "w2"]
    assert state.find_message("r0") is None and state.find_message("r2") is not None
    state.set_last_inbound("91900", "91987", 1000.0)
    assert state.window_open("91900", "91987", 1000.0 + 3600)
    assert not state.window_open("91900", "91987", 1000.0 + 24 * 3600)
    state.set_last_inbound("91900", "91987", None)
    assert not state.window_open("91900", "91987", 1000.0)
    state.reset()
    assert not state.faults and not state.messages and state.config.max_records == 2


def test_inbound_identity_needs_a_customer() -> None:
    @dataclass
    class Spec:
        phone: str | None = None
        bsuid: str | None = None
        message_id: str | None = None
        ts: float | None = None

    with pytest.raises(EmitError):
        inbound_identity(Spec())
    assert inbound_identity(Spec(phone="1", message_id="wamid.x", ts=5.0)) == ("wamid.x", 5.0)
    wamid, _ = inbound_identity(Spec(bsuid="US.1"))
    assert wamid.startswith("wamid.")


def test_secrets_from_the_environment_follow_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMKIT_TEST_KEYS", " k2, ,k3 ")
    assert with_env_list(["k1"], "SIMKIT_TEST_KEYS") == ["k1", "k2", "k3"]
    monkeypatch.delenv("SIMKIT_TEST_KEYS")
    assert with_env_list([], "SIMKIT_TEST_KEYS") == []
