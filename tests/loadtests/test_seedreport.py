"""The `seed` phase's scenario block and report rows (pure; no processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbload.scenario import ScenarioError, load_scenario, parse_scenario
from sbload.seedreport import rows

ROOT = Path(__file__).resolve().parents[2] / "loadtests"


def test_seedstack_scenario_runs_only_the_seed_phase() -> None:
    sc = load_scenario(ROOT / "scenarios" / "seedstack.yaml")
    assert sc.phases == ("seed",)
    assert sc.seedstack.systems == ("ours", "seed")
    assert sc.seedstack.inflight_customers == 1500
    assert [float(r) for r in sc.seedstack.overhead_rates] == [100.0, 300.0]
    # Scenarios without a `phases:` key do not run it.
    assert "seed" not in parse_scenario({"name": "x"}).phases


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"systems": ["ours", "nope"]}, "seedstack.systems"),
        ({"parts": ["ack", "later"]}, "seedstack.parts"),
        ({"colour": 1}, "seedstack: unknown field"),
    ],
)
def test_bad_seedstack_blocks_are_rejected(block: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario({"name": "x", "seedstack": block})


def test_rows_from_the_committed_smoke_run() -> None:
    doc = json.loads((ROOT / "results" / "2026-12-03-seedstack-smoke-smoke.json").read_text())
    table = {r[0]: r[1:] for r in rows(doc["phases"]["seed"])}
    closed = table["webhook req/s, closed loop, 100 connections (wrk)"]
    assert closed[0] == "2,631" and closed[1] == "5,779" and closed[3] == "5,623"
    crowd = next(v for k, v in table.items() if k.startswith("**lost"))
    assert crowd[0].startswith("0 / 0 / 0") and crowd[1].startswith("0 / 0 / 15")
    assert table["peak turns in flight, one worker process, 400 queued conversations"][:2] == [
        "400",
        "400",
    ]
