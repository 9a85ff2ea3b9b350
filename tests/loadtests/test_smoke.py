"""CI smoke run of the load driver: 50 customers for ~10 s through the real processes
(`supportbot webhook`, `supportbot worker` with the echo handler, the MSG91 simulator, Redis).

Asserts the correctness figures only (no timings): every accepted message answered exactly once,
in order per customer, and every duplicate delivery de-duplicated by the webhook.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sbload.phases import customers_phase
from sbload.scenario import load_scenario

SMOKE = Path(__file__).resolve().parents[2] / "loadtests" / "scenarios" / "smoke.yaml"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_smoke_50_customers_no_loss_no_duplicates_no_reordering(
    redis_url: str, tmp_path: Path
) -> None:
    scenario = replace(load_scenario(SMOKE), customers=50, duration_seconds=10)
    lines: list[str] = []
    result = customers_phase(scenario, tmp_path, lines.append, quiet=True, redis_url=redis_url)

    verdict = result["verdict"]
    counters = result["summary"]["counters"]
    assert verdict["expected"] >= 100, verdict  # 50 customers really chatted
    assert verdict["answered"] == verdict["expected"], verdict["lost_examples"]
    assert verdict["lost"] == 0
    assert verdict["duplicated"] == 0
    assert verdict["reordered"] == 0
    assert verdict["errors"] == 0, result["summary"]["errors"]
    assert counters.get("duplicate_deliveries", 0) > 0
    assert counters.get("accepted_twice", 0) == 0
    # Every customer got its own answers: the replies reached the simulator per recipient.
    assert result["replies_recorded"] >= verdict["expected"] // 4
