"""Handoff notifications from the outbox to a real HTTP receiver, over real PostgreSQL: the
signature and headers, the payload against its JSON Schema, masking, idempotent enqueue, retries
after 5xx / an outage / Retry-After, permanent 4xx, giving up, the delivery log and metrics."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import pytest
from prometheus_client import REGISTRY

from supportbot.engine.testing import CUSTOMER, TENANT, customer_message
from supportbot.notify import HandoffNotifier, NotifyConfig, enqueue, idempotency_key, schema
from supportbot.notify.testing import Receiver, free_port
from supportbot.settings import SettingsError, load_settings
from supportbot.storage import handoff, history
from supportbot.storage.db import Pool
from supportbot.storage.models import HandoffState

SECRET = b"handoff-test-secret-0123456789"


def config(url: str, **overrides: Any) -> NotifyConfig:
    fields: dict[str, Any] = {
        "url": url,
        "secret": SECRET,
        "retry_base_seconds": 0.01,
        "retry_max_delay_seconds": 0.05,
        "poll_seconds": 0.02,
        "max_attempts": 6,
        "timeout_seconds": 2.0,
    }
    fields.update(overrides)
    return NotifyConfig(**fields)


async def rows(pool: Pool, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def eventually(check: Callable[[], Awaitable[bool]], what: str, wait: float = 20) -> None:
    deadline = time.monotonic() + wait
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def handed_off(pool: Pool, *texts: str) -> None:
    """A conversation whose customer wrote `texts` and that the bot handed to a human."""
    await history.record_inbound(pool, [customer_message(t) for t in texts])
    await handoff.set_handoff(pool, TENANT, CUSTOMER, HandoffState.PENDING, reason="keyword")


async def notify(pool: Pool, cfg: NotifyConfig, turn: str = "turn-1", **kw: Any) -> bool:
    return await enqueue(
        pool,
        cfg,
        tenant_id=TENANT,
        customer_id=CUSTOMER,
        turn_id=turn,
        event=kw.pop("event", "handoff.requested"),
        reason=kw.pop("reason", "keyword"),
        **kw,
    )


@asynccontextmanager
async def sending(pool: Pool, cfg: NotifyConfig) -> AsyncIterator[HandoffNotifier]:
    """The sender loop running as the worker runs it."""
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=cfg.timeout_seconds) as client:
        notifier = HandoffNotifier(pool, TENANT, cfg, client)
        task = asyncio.create_task(notifier.run(stop))
        try:
            yield notifier
        finally:
            stop.set()
            await task


async def status_of(pool: Pool) -> dict[str, Any]:
    [row] = await rows(
        pool, "SELECT status, attempts, last_http_status, last_error FROM handoff_notifications"
    )
    return row


async def attempts_of(pool: Pool) -> list[tuple[int, str, int | None]]:
    found = await rows(
        pool,
        "SELECT attempt, outcome, http_status FROM handoff_notification_attempts ORDER BY id",
    )
    return [(r["attempt"], r["outcome"], r["http_status"]) for r in found]


async def test_delivered_signed_with_headers_schema_and_masked_phone(pool: Pool) -> None:
    await handed_off(pool, "Hello", "I want an agent")
    receiver = Receiver(SECRET)
    delivered = sample(
        "supportbot_handoff_notifications_total", event="handoff.requested", outcome="delivered"
    )
    async with receiver.serving() as url:
        cfg = config(url)
        assert await notify(pool, cfg)
        async with sending(pool, cfg):
            await eventually(lambda: _status_is(pool, "delivered"), "delivery")

    [got] = receiver.requests
    key = idempotency_key(TENANT, "turn-1", "handoff.requested")
    assert got.signed
    stamp = got.headers["x-supportbot-timestamp"]
    expected = hmac.new(SECRET, stamp.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-supportbot-signature"] == "sha256=" + expected
    assert abs(int(stamp) - time.time()) < 60
    assert got.headers["x-supportbot-event"] == "handoff.requested"
    assert got.headers["idempotency-key"] == key
    assert got.headers["x-supportbot-attempt"] == "1"
    assert got.headers["content-type"] == "application/json"

    body = got.json()
    jsonschema.validate(body, schema(), format_checker=jsonschema.FormatChecker())
    assert body["id"] == key and body["event"] == "handoff.requested"
    assert body["tenant"] == TENANT and body["turn_id"] == "turn-1"
    assert body["reason"] == "keyword" and body["out_of_hours"] is False
    assert body["customer"] == {"phone": "91******3210", "phone_masked": True, "name": "Asha"}
    assert CUSTOMER not in got.body.decode()
    assert body["conversation"]["state"] == "pending"
    assert isinstance(body["conversation"]["id"], int)
    assert [(m["direction"], m["author"], m["text"]) for m in body["messages"]] == [
        ("inbound", "customer", "Hello"),
        ("inbound", "customer", "I want an agent"),
    ]
    assert await status_of(pool) == {
        "status": "delivered",
        "attempts": 1,
        "last_http_status": 200,
        "last_error": None,
    }
    assert await attempts_of(pool) == [(1, "delivered", 200)]
    assert (
        sample(
            "supportbot_handoff_notifications_total", event="handoff.requested", outcome="delivered"
        )
        == delivered + 1
    )


async def _status_is(pool: Pool, status: str) -> bool:
    found = await rows(pool, "SELECT status FROM handoff_notifications")
    return bool(found) and all(r["status"] == status for r in found)


async def test_tampered_body_or_old_timestamp_fails_verification() -> None:
    from supportbot.notify import signing

    body = b'{"a":1}'
    now = int(time.time())
    good = signing.signature(SECRET, now, body)
    assert signing.verify(SECRET, good, str(now), body, now=now)
    assert not signing.verify(SECRET, good, str(now), b'{"a":2}', now=now)
    assert not signing.verify(b"another-secret-0123456789", good, str(now), body, now=now)
    old = now - 301
    assert not signing.verify(SECRET, signing.signature(SECRET, old, body), str(old), body, now=now)
    assert not signing.verify(SECRET, None, str(now), body, now=now)
    assert not signing.verify(SECRET, good, "soon", body, now=now)


async def test_full_phone_when_configured(pool: Pool) -> None:
    await handed_off(pool, "agent")
    receiver = Receiver(SECRET)
    async with receiver.serving() as url:
        cfg = config(url, include_phone=True, last_messages=0)
        await notify(pool, cfg)
        async with sending(pool, cfg):
            await eventually(lambda: _status_is(pool, "delivered"), "delivery")
    body = receiver.requests[0].json()
    jsonschema.validate(body, schema())
    assert body["customer"]["phone"] == CUSTOMER and body["customer"]["phone_masked"] is False
    assert body["messages"] == []


async def test_enqueue_is_idempotent_per_turn_and_event(pool: Pool) -> None:
    await handed_off(pool, "agent")
    cfg = config("https://hooks.example.com/x")
    assert await notify(pool, cfg, "turn-a")
    assert not await notify(pool, cfg, "turn-a"), "a retried turn writes no second row"
    assert await notify(pool, cfg, "turn-a", event="handoff.customer_message", reason=None)
    assert await notify(pool, cfg, "turn-b")
    found = await rows(pool, "SELECT turn_id, event FROM handoff_notifications ORDER BY id")
    assert [(r["turn_id"], r["event"]) for r in found] == [
        ("turn-a", "handoff.requested"),
        ("turn-a", "handoff.customer_message"),
        ("turn-b", "handoff.requested"),
    ]
    [row] = await rows(
        pool, "SELECT payload FROM handoff_notifications WHERE event = 'handoff.customer_message'"
    )
    assert row["payload"]["reason"] == "keyword", "the stored handoff reason"
    assert not await enqueue(
        pool,
        cfg,
        tenant_id=TENANT,
        customer_id="910000000000",
        turn_id="t",
        event="handoff.requested",
        reason="keyword",
    ), "no conversation, nothing to tell"


async def test_retries_after_server_errors_then_delivers(pool: Pool) -> None:
    await handed_off(pool, "agent")
    receiver = Receiver(SECRET)
    receiver.answer(500, 502, 503)
    async with receiver.serving() as url:
        cfg = config(url)
        await notify(pool, cfg)
        async with sending(pool, cfg):
            await eventually(lambda: _status_is(pool, "delivered"), "delivery after 5xx")
    assert [r.status for r in receiver.requests] == [500, 502, 503, 200]
    assert {r.headers["idempotency-key"] for r in receiver.requests} == {
        idempotency_key(TENANT, "turn-1", "handoff.requested")
    }
    assert [r.headers["x-supportbot-attempt"] for r in receiver.requests] == ["1", "2", "3", "4"]
    assert all(r.signed for r in receiver.requests)
    assert await attempts_of(pool) == [
        (1, "retry", 500),
        (2, "retry", 502),
        (3, "retry", 503),
        (4, "delivered", 200),
    ]
    log = await rows(pool, "SELECT latency_ms, error FROM handoff_notification_attempts")
    assert all(r["latency_ms"] > 0 for r in log)
    assert [r["error"] for r in log] == ["HTTP 500", "HTTP 502", "HTTP 503", None]


async def test_receiver_outage_then_delivers(pool: Pool) -> None:
    await handed_off(pool, "agent")
    port = free_port()
    receiver = Receiver(SECRET)
    cfg = config(
        f"http://127.0.0.1:{port}/hooks/handoff", max_attempts=1000, retry_max_delay_seconds=0.1
    )
    await notify(pool, cfg)
    async with sending(pool, cfg):
        await eventually(lambda: _count(pool, "outcome = 'retry'", 3), "failed attempts while down")
        assert receiver.requests == []
        async with receiver.serving(port):
            await eventually(lambda: _status_is(pool, "delivered"), "delivery once back")
    log = await rows(
        pool, "SELECT outcome, http_status, error FROM handoff_notification_attempts ORDER BY id"
    )
    down, last = log[:-1], log[-1]
    assert all(r["outcome"] == "retry" and r["http_status"] is None for r in down)
    assert all("ConnectError" in r["error"] for r in down)
    assert last == {"outcome": "delivered", "http_status": 200, "error": None}
    assert len(receiver.requests) == 1


async def _count(pool: Pool, where: str, at_least: int) -> bool:
    [row] = await rows(
        pool,
        f"SELECT count(*) AS n FROM handoff_notification_attempts WHERE {where}",  # noqa: S608
    )
    return int(row["n"]) >= at_least


async def test_retry_after_is_honoured(pool: Pool) -> None:
    await handed_off(pool, "agent")
    receiver = Receiver(SECRET)
    receiver.answer((429, {"Retry-After": "30"}))
    async with receiver.serving() as url:
        cfg = config(url)
        await notify(pool, cfg)
        async with sending(pool, cfg) as notifier:
            await eventually(lambda: _count(pool, "outcome = 'retry'", 1), "the 429")
            [row] = await rows(
                pool, "SELECT next_attempt_at - now() AS wait, status FROM handoff_notifications"
            )
            assert row["status"] == "pending"
            assert timedelta(seconds=25) < row["wait"] <= timedelta(seconds=30)
            assert await notifier.run_once() == 0, "not due before Retry-After"
            async with pool.acquire() as conn:  # time passes
                await conn.execute("UPDATE handoff_notifications SET next_attempt_at = now()")
            await eventually(lambda: _status_is(pool, "delivered"), "delivery after the wait")
    assert [r.status for r in receiver.requests] == [429, 200]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422, 301])
async def test_a_permanent_status_fails_at_once(pool: Pool, status: int) -> None:
    await handed_off(pool, "agent")
    receiver = Receiver(SECRET)
    receiver.answer(status)
    failed = sample(
        "supportbot_handoff_notifications_total", event="handoff.requested", outcome="failed"
    )
    async with receiver.serving() as url:
        cfg = config(url)
        await notify(pool, cfg)
        async with sending(pool, cfg):
            await eventually(lambda: _status_is(pool, "failed"), "the permanent failure")
    assert len(receiver.requests) == 1
    assert await status_of(pool) == {
        "status": "failed",
        "attempts": 1,
        "last_http_status": status,
        "last_error": f"HTTP {status}",
    }
    assert await attempts_of(pool) == [(1, "failed", status)]
    assert (
        sample(
            "supportbot_handoff_notifications_total", event="handoff.requested", outcome="failed"
        )
        == failed + 1
    )


async def test_408_and_429_are_retried(pool: Pool) -> None:
    await handed_off(pool, "agent")
    receiver = Receiver(SECRET)
    receiver.answer(408, 429)
    async with receiver.serving() as url:
        cfg = config(url)
        await notify(pool, cfg)
        async with sending(pool, cfg):
            await eventually(lambda: _status_is(pool, "delivered"), "delivery")
    assert [r.status for r in receiver.requests] == [408, 429, 200]


async def test_gives_up_after_max_attempts(pool: Pool) -> None:
    await handed_off(pool, "agent")
    receiver = Receiver(SECRET)
    receiver.answer(*[500] * 10)
    async with receiver.serving() as url:
        cfg = config(url, max_attempts=3)
        await notify(pool, cfg)
        async with sending(pool, cfg):
            await eventually(lambda: _status_is(pool, "failed"), "giving up")
    assert len(receiver.requests) == 3
    assert await attempts_of(pool) == [(1, "retry", 500), (2, "retry", 500), (3, "failed", 500)]
    state = await status_of(pool)
    assert state["last_error"] == "gave up after 3 attempts: HTTP 500"


async def test_gives_up_after_the_time_budget(pool: Pool) -> None:
    await handed_off(pool, "agent")
    receiver = Receiver(SECRET)
    receiver.answer(503)
    async with receiver.serving() as url:
        cfg = config(url, give_up_seconds=60)
        long_ago = datetime.now(UTC) - timedelta(seconds=120)
        await notify(pool, cfg, now=long_ago)
        async with sending(pool, cfg):
            await eventually(lambda: _status_is(pool, "failed"), "giving up")
    assert await attempts_of(pool) == [(1, "failed", 503)]


async def test_pending_gauges(pool: Pool) -> None:
    await handed_off(pool, "agent")
    cfg = config(f"http://127.0.0.1:{free_port()}/x", max_attempts=1000)
    await notify(pool, cfg, now=datetime.now(UTC) - timedelta(seconds=90))
    async with sending(pool, cfg):
        await eventually(
            lambda: _gauge_at_least("supportbot_handoff_notifications_pending", 1), "pending gauge"
        )
    assert sample("supportbot_handoff_notification_oldest_pending_seconds") >= 90


async def _gauge_at_least(name: str, value: float) -> bool:
    return sample(name) >= value


def test_settings_require_https_and_a_secret() -> None:
    base = {
        "SUPPORTBOT_TENANT_ID": TENANT,
        "SUPPORTBOT_INTEGRATED_NUMBER": "919000000001",
        "SUPPORTBOT_WEBHOOK_SECRET": "x" * 20,
        "SUPPORTBOT_REDIS_URL": "redis://localhost:6379/0",
        "SUPPORTBOT_DATABASE_URL": "postgresql://localhost/db",
    }
    assert NotifyConfig.from_settings(load_settings(base)) is None
    hook = {**base, "SUPPORTBOT_HANDOFF_WEBHOOK_SECRET": "s" * 16}
    ok = load_settings({**hook, "SUPPORTBOT_HANDOFF_WEBHOOK_URL": "https://crm.example.com/h"})
    cfg = NotifyConfig.from_settings(ok)
    assert cfg is not None and cfg.secret == b"s" * 16 and not cfg.include_phone
    assert "ssss" not in repr(cfg)
    with pytest.raises(SettingsError, match="must be https"):
        load_settings({**hook, "SUPPORTBOT_HANDOFF_WEBHOOK_URL": "http://crm.example.com/h"})
    allowed = load_settings(
        {
            **hook,
            "SUPPORTBOT_HANDOFF_WEBHOOK_URL": "http://receiver.crm.svc:8080/h",
            "SUPPORTBOT_HANDOFF_WEBHOOK_ALLOW_HTTP_HOSTS": "127.0.0.1, receiver.crm.svc",
        }
    )
    assert allowed.handoff_webhook_allow_http_hosts == ["127.0.0.1", "receiver.crm.svc"]
    with pytest.raises(SettingsError, match="HANDOFF_WEBHOOK_SECRET"):
        load_settings({**base, "SUPPORTBOT_HANDOFF_WEBHOOK_URL": "https://crm.example.com/h"})
    with pytest.raises(SettingsError, match="HANDOFF_WEBHOOK_SECRET"):
        load_settings(
            {
                **base,
                "SUPPORTBOT_HANDOFF_WEBHOOK_URL": "https://crm.example.com/h",
                "SUPPORTBOT_HANDOFF_WEBHOOK_SECRET": "short",
            }
        )
    for bad in ("ftp://crm.example.com/h", "crm.example.com/h", "https://u:p@crm.example.com/h"):
        with pytest.raises(SettingsError):
            load_settings({**hook, "SUPPORTBOT_HANDOFF_WEBHOOK_URL": bad})


async def test_two_senders_never_send_the_same_notification(pool: Pool) -> None:
    await handed_off(pool, "agent")
    receiver = Receiver(SECRET)
    async with receiver.serving() as url:
        cfg = config(url, batch=3)
        for i in range(24):
            assert await notify(pool, cfg, f"turn-{i}")
        async with sending(pool, cfg), sending(pool, cfg):
            await eventually(lambda: _status_is(pool, "delivered"), "every notification")
    keys = [r.headers["idempotency-key"] for r in receiver.requests]
    assert len(keys) == 24 and len(set(keys)) == 24
    assert await _count(pool, "outcome = 'delivered'", 24)
    assert not await _count(pool, "outcome = 'delivered'", 25)


async def test_a_dead_senders_claim_is_taken_over_and_fenced(pool: Pool) -> None:
    from supportbot.notify import store

    await handed_off(pool, "agent")
    receiver = Receiver(SECRET)
    async with receiver.serving() as url:
        cfg = config(url)
        await notify(pool, cfg)
        # a sender claims the row and dies before recording anything
        [dead] = await store.claim(pool, TENANT, limit=5, claim_seconds=0.2)
        assert await store.claim(pool, TENANT, limit=5, claim_seconds=30) == [], "still claimed"
        async with sending(pool, cfg):
            await eventually(lambda: _status_is(pool, "delivered"), "the takeover")
        # the dead sender's late outcome changes nothing
        assert not await store.record(
            pool, TENANT, dead, "failed", http_status=500, latency_ms=1.0, error="late"
        )
    assert await status_of(pool) == {
        "status": "delivered",
        "attempts": 2,
        "last_http_status": 200,
        "last_error": None,
    }
    [got] = receiver.requests
    assert got.headers["x-supportbot-attempt"] == "2"


async def test_cli_lists_and_resends_failed_notifications(
    pool: Pool, migrated_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from supportbot.notify import cli

    await handed_off(pool, "agent")
    receiver = Receiver(SECRET)
    receiver.answer(401)
    env = {
        "SUPPORTBOT_TENANT_ID": TENANT,
        "SUPPORTBOT_INTEGRATED_NUMBER": "919000000001",
        "SUPPORTBOT_WEBHOOK_SECRET": "x" * 20,
        "SUPPORTBOT_REDIS_URL": "redis://localhost:6379/0",
        "SUPPORTBOT_DATABASE_URL": migrated_url,
    }
    settings = load_settings(env)
    parser = cli.build_parser()
    async with receiver.serving() as url:
        cfg = config(url, give_up_seconds=60)
        await notify(pool, cfg, now=datetime.now(UTC) - timedelta(seconds=600))
        async with sending(pool, cfg):
            await eventually(lambda: _status_is(pool, "failed"), "the 401")

        assert await cli._run(settings, parser.parse_args(["list", "--status", "failed"])) == 0
        out = capsys.readouterr().out
        assert "handoff.requested" in out and "failed" in out and "http=401" in out
        assert CUSTOMER not in out and "91******3210" in out
        assert await cli._run(settings, parser.parse_args(["list", "--json"])) == 0
        [record] = json.loads(capsys.readouterr().out)
        assert record["status"] == "failed" and record["last_error"] == "HTTP 401"

        # the secret is fixed; the notification (made 10 min ago, past its 60 s budget) is resent
        assert await cli._run(settings, parser.parse_args(["resend", "--failed"])) == 0
        assert "1 notification(s) pending again" in capsys.readouterr().out
        async with sending(pool, cfg):
            await eventually(lambda: _status_is(pool, "delivered"), "the resend")
    assert [r.status for r in receiver.requests] == [401, 200]
    assert len({r.headers["idempotency-key"] for r in receiver.requests}) == 1
    assert await attempts_of(pool) == [(1, "failed", 401), (1, "delivered", 200)]


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from supportbot.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["notifications", "resend"])
    assert exit_info.value.code == 2
    assert "give IDs or --failed" in capsys.readouterr().err
