"""Export (JSONL/CSV, via the CLI) and retention."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from supportbot.messages import (
    DeliveryState,
    InboundMessage,
    MessageKind,
    OutboundKind,
    OutboundMessage,
)
from supportbot.storage import delivery, history, migrations
from supportbot.storage.cli import main, parse_when
from supportbot.storage.db import Pool, connection, create_pool
from supportbot.storage.export import FIELDS, ExportFormat, export
from supportbot.storage.models import TurnRecord
from supportbot.storage.retention import apply_retention

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def epoch(days_ago: float) -> float:
    return (NOW - timedelta(days=days_ago)).timestamp()


async def populate(pool: Pool, tenant: str = "acme") -> None:
    for customer, days_ago, text in [
        ("c1", 40, 'He said "hi", ok'),
        ("c1", 1, "Ünïcode ✓"),
        ("c2", 2, "line1\nline2"),
    ]:
        msg = InboundMessage(
            tenant_id=tenant,
            customer_id=customer,
            message_id=f"{customer}-{days_ago}",
            kind=MessageKind.TEXT,
            received_at=epoch(days_ago),
            phone="91980000" + customer,
            text=text,
            customer_name=f"Name {customer}",
        )
        await history.record_inbound(pool, [msg])
    reply = OutboundMessage(OutboundKind.TEXT, "On it")
    await history.record_outbound(pool, tenant, "c1", "t1", 0, reply, at=epoch(1))
    await delivery.update_outbound(
        pool, tenant, "t1", 0, DeliveryState.SENT, provider_message_id=f"{tenant}-o1", at=epoch(1)
    )


async def test_export_jsonl_content(pool: Pool) -> None:
    await populate(pool)
    await populate(pool, "beta")
    out = io.StringIO()
    assert await export(pool, "acme", out, ExportFormat.JSONL) == 4
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["tenant_id"] for r in records] == ["acme"] * 4
    assert [(r["customer_id"], r["direction"], r["text"]) for r in records] == [
        ("c1", "inbound", 'He said "hi", ok'),
        ("c1", "inbound", "Ünïcode ✓"),
        ("c1", "outbound", "On it"),
        ("c2", "inbound", "line1\nline2"),
    ]
    assert list(records[0]) == list(FIELDS)
    assert records[0]["created_at"] == datetime.fromtimestamp(epoch(40), UTC).isoformat()
    assert records[2]["delivery_state"] == "sent" and records[2]["turn_id"] == "t1"
    assert records[2]["body"]["kind"] == "text"
    assert records[0]["name"] == "Name c1" and records[0]["phone"] == "91980000c1"


def test_cli_export_csv_and_jsonl_files(migrated_url: str, tmp_path: Path) -> None:
    async def setup() -> None:
        pool = await create_pool(migrated_url, min_size=1, max_size=2)
        try:
            await populate(pool)
        finally:
            await pool.close()

    asyncio.run(setup())
    target = tmp_path / "acme.csv"
    args = ["export", "--database-url", migrated_url, "--tenant", "acme", "--format", "csv"]
    assert main([*args, "--customer", "c1", "--since", "2026-05-01", "-o", str(target)]) == 0
    with target.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["text"] for r in rows] == ["Ünïcode ✓", "On it"], "since filters, customer filters"
    assert rows[1]["delivery_state"] == "sent" and rows[0]["delivery_state"] == ""
    assert json.loads(rows[1]["body"])["text"] == "On it"

    jsonl = tmp_path / "all.jsonl"
    args[-1] = "jsonl"
    assert main([*args, "--until", "2026-05-31", "-o", str(jsonl)]) == 0
    texts = [json.loads(line)["text"] for line in jsonl.read_text("utf-8").splitlines()]
    assert texts == ['He said "hi", ok', "line1\nline2"]


def test_parse_when_accepts_dates_and_ages() -> None:
    assert parse_when("2026-05-01") == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_when("2026-05-01T10:00:00+05:30").utcoffset() == timedelta(hours=5, minutes=30)
    assert parse_when("7d", now=NOW) == NOW - timedelta(days=7)
    assert parse_when("90m", now=NOW) == NOW - timedelta(minutes=90)
    with pytest.raises(Exception, match="relative age"):
        parse_when("last tuesday")


async def table_counts(pool: Pool, tenant: str) -> dict[str, int]:
    counts = {}
    async with connection(pool) as conn:
        for table in migrations.OWNED_TABLES[:-1]:
            counts[table] = int(
                await conn.fetchval(
                    f"SELECT count(*) FROM {table} WHERE tenant_id = $1",  # noqa: S608
                    tenant,
                )
            )
    return counts


async def test_retention_deletes_only_old_rows_of_one_tenant(pool: Pool) -> None:
    for tenant in ("acme", "beta"):
        await populate(pool, tenant)
        # c3 is entirely old: its conversation goes too
        old = InboundMessage(tenant, "c3", "old-c3", MessageKind.TEXT, epoch(50), text="old")
        await history.record_inbound(pool, [old])
        await history.record_turn(
            pool, TurnRecord(tenant, "c3", "t-old", 1, "replied", at=epoch(50))
        )
        async with connection(pool) as conn:
            # a report an older version parked (the table is no longer written)
            await conn.execute(
                "INSERT INTO unmatched_delivery_states"
                " (tenant_id, provider_message_id, delivery_state, delivery_updated_at, sent_at)"
                " VALUES ($1, 'ghost', 'sent', $2, $2)",
                tenant,
                datetime.fromtimestamp(epoch(45), UTC),
            )
            await conn.execute(
                "INSERT INTO raw_webhooks (tenant_id, stream_id, kind, received_at, body)"
                " VALUES ($1, '1-0', 'message', $2, 'x'), ($1, '2-0', 'message', $3, 'y')",
                tenant,
                datetime.fromtimestamp(epoch(60), UTC),
                datetime.fromtimestamp(epoch(1), UTC),
            )
    before = await table_counts(pool, "beta")
    report = await apply_retention(pool, "acme", 30, now=NOW, batch=1)
    assert report.cutoff == NOW - timedelta(days=30)
    assert report.deleted == {
        "delivery_attempts": 0,
        "messages": 2,
        "turns": 1,
        "unmatched_delivery_states": 1,
        "raw_webhooks": 1,
        "handoff_notification_attempts": 0,
        "handoff_notifications": 0,
        "conversations": 1,
    }
    assert await table_counts(pool, "beta") == before, "other tenant untouched"
    after = await table_counts(pool, "acme")
    assert after["messages"] == 3 and after["conversations"] == 2 and after["raw_webhooks"] == 1
    again = await apply_retention(pool, "acme", 30, now=NOW)
    assert again.total == 0


def test_cli_retention_uses_settings_defaults(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUPPORTBOT_TENANT_ID", "acme")
    monkeypatch.setenv("SUPPORTBOT_INTEGRATED_NUMBER", "919000000000")
    monkeypatch.setenv("SUPPORTBOT_WEBHOOK_SECRET", "s")
    monkeypatch.setenv("SUPPORTBOT_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", migrated_url)
    monkeypatch.setenv("SUPPORTBOT_HISTORY_RETENTION_DAYS", "3")

    async def setup() -> None:
        pool = await create_pool(migrated_url, min_size=1, max_size=2)
        try:
            old = InboundMessage("acme", "c1", "m", MessageKind.TEXT, time.time() - 5 * 86400)
            await history.record_inbound(pool, [old])
        finally:
            await pool.close()

    asyncio.run(setup())
    assert main(["retention"]) == 0
    out = capsys.readouterr().out
    assert "retention 3 d for acme" in out and "messages 1" in out and "conversations 1" in out
