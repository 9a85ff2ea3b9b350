"""The receiver example in docs/handoff-webhook.md, run as written (stdlib `http.server` in a
thread) against the real sender: it accepts a signed notification once, and rejects a wrongly
signed one (which the sender then marks failed: 401 is permanent)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import httpx

from supportbot.engine.testing import CUSTOMER, TENANT, customer_message
from supportbot.notify import HandoffNotifier, NotifyConfig, enqueue, signing
from supportbot.storage import handoff, history
from supportbot.storage.db import Pool
from supportbot.storage.models import HandoffState

DOC = Path(__file__).resolve().parents[3] / "docs" / "handoff-webhook.md"
SECRET = b"the value of the Secret key"


def receiver_module() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    [code] = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "HTTPServer" in b]
    namespace: dict[str, Any] = {"__name__": "handoff_receiver_example"}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


@contextmanager
def running(module: dict[str, Any]) -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), module["Handoffs"])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def status(pool: Pool) -> list[tuple[str, str, int | None]]:
    async with pool.acquire() as conn:
        found = await conn.fetch(
            "SELECT turn_id, status, last_http_status FROM handoff_notifications ORDER BY id"
        )
    return [(r["turn_id"], r["status"], r["last_http_status"]) for r in found]


async def settle(pool: Pool, notifier: HandoffNotifier) -> None:
    deadline = time.monotonic() + 20
    while not all(s != "pending" for _, s, _ in await status(pool)):
        assert time.monotonic() < deadline, "timed out waiting for the notifications"
        await notifier.run_once()
        await asyncio.sleep(0.01)


def test_verify_request_agrees_with_the_sender() -> None:
    verify = receiver_module()["verify_request"]
    body, now = b'{"x":1}', int(time.time())
    headers = {
        "X-Supportbot-Timestamp": str(now),
        "X-Supportbot-Signature": signing.signature(SECRET, now, body),
    }
    assert verify(SECRET, headers, body, now)
    assert not verify(SECRET, headers, body + b" ", now)
    assert not verify(b"other", headers, body, now)
    assert not verify(SECRET, headers, body, now + 301), "older than 5 minutes"
    assert not verify(SECRET, {}, body, now)


async def test_the_documented_receiver_accepts_signed_events_once(pool: Pool) -> None:
    module = receiver_module()
    await history.record_inbound(pool, [customer_message("agent")])
    await handoff.set_handoff(pool, TENANT, CUSTOMER, HandoffState.PENDING, reason="keyword")
    with running(module) as url:
        good = NotifyConfig(url=url, secret=SECRET, retry_base_seconds=0.01, poll_seconds=0.02)
        bad = NotifyConfig(url=url, secret=b"not the shared secret!", poll_seconds=0.02)
        async with httpx.AsyncClient(timeout=5) as client:
            for turn, cfg in (("t-good", good), ("t-bad", bad)):
                await enqueue(
                    pool,
                    cfg,
                    tenant_id=TENANT,
                    customer_id=CUSTOMER,
                    turn_id=turn,
                    event="handoff.requested",
                    reason="keyword",
                )
                await settle(pool, HandoffNotifier(pool, TENANT, cfg, client))
    assert await status(pool) == [("t-good", "delivered", 204), ("t-bad", "failed", 401)]
    assert len(module["seen"]) == 1
