"""Smoke run of the seed stack (`loadtests/seedstack/`: Node, Fastify webhook + Bull worker)
through the load driver: 20 customers for ~8 s against the OpenRouter (0 ms) and MSG91
simulators; every accepted message answered exactly once, duplicate deliveries de-duplicated.

Per-customer order is not asserted: the seed design (one Bull job per message, N jobs at a time)
does not promise it; the `seed` phase reports what it does. Skipped without `node`/`npm`.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from sbload.scenario import load_scenario
from sbload.seedphases import customers_run

SMOKE = Path(__file__).resolve().parents[2] / "loadtests" / "scenarios" / "smoke.yaml"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="the seed stack needs Node 20+ (`node` and `npm` on PATH)",
)


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_seed_stack_answers_every_message_once(redis_url: str, tmp_path: Path) -> None:
    base = load_scenario(SMOKE)
    scenario = replace(
        base,
        customers=20,
        llm_latency="fixed:0",
        seedstack=replace(base.seedstack, customers=20, customers_seconds=8, concurrency=50),
    )
    lines: list[str] = []
    result = customers_run(scenario, "seed", tmp_path, lines.append, True, redis_url=redis_url)

    verdict = result["verdict"]
    counters = result["summary"]["counters"]
    assert verdict["expected"] >= 30, verdict  # the customers really chatted
    assert verdict["answered"] == verdict["expected"], verdict["lost_examples"]
    assert verdict["lost"] == 0
    assert verdict["duplicated"] == 0
    assert verdict["errors"] == 0, result["summary"]["errors"]
    assert counters.get("duplicate_deliveries", 0) > 0
    assert counters.get("accepted_twice", 0) == 0  # SET NX de-duplication
    # The sampler read the seed worker's /metrics gauges (in flight, turns done).
    assert max(s.get("turns_total", 0) for s in result["samples"]) >= verdict["answered"]
