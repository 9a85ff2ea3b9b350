"""The fault suite's pure parts: the results row and its verdict, the table, the plan, the
customers' schedule and texts. A row must fail for every way a customer can be let down, or the
suite's zeros would mean nothing."""

from __future__ import annotations

import json
import random

import pytest

from sbload.faults import report
from sbload.faults.cli import result_name
from sbload.faults.load import ODD_TEXTS, message_text, schedule
from sbload.faults.plan import FULL, SHORT, Fault, Load, PlanError, select
from sbload.faults.table import (
    HEADER,
    FaultRow,
    build_row,
    exit_code,
    failed_row,
    recover_seconds,
    render_row,
    render_table,
    row_from_dict,
    row_to_dict,
)
from sbload.ledger import Item, Ledger, token

PG_DOWN = Fault("pg-down", 10)
HEAL = 120.0


def _ledger(customer: int, sent: list[float], status: str = "accepted") -> Ledger:
    ledger = Ledger()
    for seq, at in enumerate(sent):
        item = Item(customer, seq, "text", at, "token")
        ledger.add(item)
        ledger.delivered(item, status)
    return ledger


def _row(
    ledger: Ledger,
    fault: Fault = PG_DOWN,
    *,
    dead: int | None = 0,
    ack_status: dict[str, int] | None = None,
    healed_at: float | None = HEAL,
) -> FaultRow:
    items = [i for b in ledger.books.values() for i in b.items.values()]
    return build_row(
        fault,
        ledger.verdict(),
        items,
        books=ledger.books.values(),
        ack_status=ack_status or {"200": len(items)},
        dead=dead,
        healed_at=healed_at,
        notes=["immediate stop"],
    )


def test_a_clean_run_passes_and_recovery_counts_to_the_last_answer_sent_before_the_heal() -> None:
    ledger = _ledger(1, [100.0, 115.0, 125.0])
    ledger.on_reply(1, token(1, 0), 101.0)
    ledger.on_reply(1, token(1, 1), 126.5)  # waited through the outage: 6.5 s after the heal
    ledger.on_reply(1, token(1, 2), 130.0)  # sent after the heal: not part of the recovery
    row = _row(ledger)
    assert row.ok and row.failures == ()
    assert (row.acked, row.answered, row.lost, row.duplicated, row.reordered) == (3, 3, 0, 0, 0)
    assert row.recover_seconds == pytest.approx(6.5)
    assert row.slowest_answer_seconds == pytest.approx(11.5)
    assert exit_code([row]) == 0
    assert "| pass |" in render_row(row)


def test_lost_dead_lettered_and_fallback_replies_fail_the_row() -> None:
    ledger = _ledger(2, [100.0, 110.0, 115.0])
    ledger.on_reply(2, token(2, 0), 101.0)
    ledger.on_reply(2, "LT-FALLBACK Sorry, I can't answer that right now.", 112.0)
    row = _row(ledger, dead=1)
    assert row.lost == 2 and row.fallback == 1 and row.dead_lettered == 1
    assert row.recover_seconds is None  # two messages sent before the heal never answered
    assert row.failures == ("2 lost", "1 dead-lettered", "1 fallback replies")
    rendered = render_row(row)
    assert "**FAIL**: 2 lost, 1 dead-lettered, 1 fallback replies" in rendered
    assert "not recovered" in rendered
    assert exit_code([row]) == 1


def test_duplicated_and_reordered_replies_fail_the_row() -> None:
    ledger = _ledger(3, [100.0, 101.0])
    ledger.on_reply(3, token(3, 1), 102.0)
    ledger.on_reply(3, token(3, 0), 103.0)  # older than an answered one
    ledger.on_reply(3, token(3, 0), 104.0)  # and twice
    row = _row(ledger)
    assert (row.lost, row.duplicated, row.reordered) == (0, 1, 2)  # both late replies
    assert not row.ok


def test_unacknowledged_messages_are_not_lost_but_fail_the_row() -> None:
    ledger = _ledger(4, [100.0], status="error")  # every retry answered 5xx
    row = _row(ledger, ack_status={"503": 8})
    assert (row.acked, row.lost, row.unacked, row.non_2xx) == (0, 0, 1, 8)
    assert row.failures == ("1 never acknowledged",)


def test_non_2xx_answers_fail_only_the_idle_connections_row() -> None:
    ledger = _ledger(5, [100.0])
    ledger.on_reply(5, token(5, 0), 101.0)
    flaky = {"200": 1, "503": 2, "conn_error": 1}
    assert _row(ledger, ack_status=flaky).ok  # retried like a provider: no loss
    idle = _row(ledger, Fault("idle-connections", 15, count=1000), ack_status=flaky)
    assert idle.non_2xx == 3
    assert idle.failures == ("3 non-2xx answers",)


def test_recovery_is_zero_when_all_was_answered_before_the_heal_and_none_without_one() -> None:
    item = Item(6, 0, "text", 100.0, "token", ack="accepted", answered_at=101.0, answers=1)
    assert recover_seconds([item], 110.0) == 0.0
    assert recover_seconds([item], None) is None
    ledger = _ledger(6, [100.0])
    ledger.on_reply(6, token(6, 0), 101.0)
    assert _row(ledger, Fault("nul-text", count=20)).recover_seconds is None
    assert "| – |" in render_row(_row(ledger, Fault("nul-text", count=20)))


def test_the_table_has_a_cell_per_column_and_rows_survive_json() -> None:
    ledger = _ledger(7, [100.0])
    rows = [_row(ledger), failed_row(Fault("redis-sigkill", 3), "HarnessError: no | pipe")]
    table = render_table(rows).splitlines()
    columns = HEADER.count("|")
    assert len(table) == 4
    assert all(line.count("|") == columns for line in table)  # notes' pipes are escaped
    assert [row_from_dict(json.loads(json.dumps(row_to_dict(r)))) for r in rows] == rows
    assert exit_code([]) == 1  # nothing measured is not a pass


def test_the_report_renders_the_table_and_the_verdict() -> None:
    ledger = _ledger(8, [100.0])
    row = _row(ledger)
    doc = {
        "name": "2026-12-03-faults-short",
        "command": "python loadtests/faults.py --short",
        "started": "s",
        "finished": "f",
        "machine": {"load_average_at_start": [1.0, 1.0, 1.0], "cores": 2},
        "suite": {
            "name": "short",
            "load": {
                "customers": 1,
                "messages": 1,
                "duplicate_share": 0.05,
                "llm_latency": "fixed:0",
                "fault_at": 8,
                "recover_seconds": 90,
                "webhook_attempts": 8,
            },
        },
        "rows": [row_to_dict(row)],
        "runs": {row.fault: {"injected_at": 8.0, "healed_at": 18.0, "ack_status": {"200": 1}}},
    }
    text = report.render(doc)
    assert render_row(row) in text
    assert "**Verdict: FAIL** (0 of 1 faults pass)" in text
    assert "injected at +8.0 s, healed at +18.0 s" in text


def test_plan_selection_and_labels() -> None:
    assert [f.label for f in select(FULL, "pg-down").faults] == [
        "pg-down 3 s",
        "pg-down 10 s",
        "pg-down 60 s",
    ]
    picked = select(SHORT, "nul-text, worker-sigkill", customers=7)
    assert [f.kind for f in picked.faults] == ["nul-text", "worker-sigkill"]
    assert picked.load.customers == 7
    assert Fault("worker-sigkill", 100, count=20, workers=2).duration == (
        "20 kills over 100 s (2 workers)"
    )
    assert Fault("nul-text", count=20).slug == "nul-text-20pct"
    with pytest.raises(PlanError, match="unknown fault"):
        select(SHORT, "pg-down,disk-full")
    assert result_name("2026-12-03", SHORT, True, "") == "2026-12-03-faults-short"
    assert result_name("2026-12-03", FULL, False, "x") == "2026-12-03-faults-partial-x"


def test_each_customer_schedule_starts_in_the_ramp_and_stays_in_the_window() -> None:
    load = Load(customers=1, messages=4, ramp_seconds=5, fault_at=8, after_heal_seconds=10)
    window = load.window(Fault("pg-down", 10))
    assert window == 28
    rng = random.Random(1)
    for _ in range(200):
        times = schedule(rng, load, window)
        assert len(times) == 4 and times == sorted(times)
        assert 0 <= times[0] <= 5 and times[-1] <= window


def test_nul_texts_keep_the_token_first_and_travel_json_escaped() -> None:
    texts = [message_text("k3x1", "where", odd) for odd in ODD_TEXTS]
    assert all(t.startswith("k3x1 where ") for t in texts)
    wire = json.dumps(texts)
    assert wire.count("\\u0000") == 2 and "\\ud800" in wire and "\\ud83d" in wire
    assert message_text("k3x1", "where") == "k3x1 where"
