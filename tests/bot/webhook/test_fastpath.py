"""The webhook POSTs served ahead of FastAPI: same answers as the FastAPI routes, 500 shape,
metrics, and the pipelined Redis hand-over under concurrent load."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from supportbot.queueing.adapters.pipelined import PipelinedRedis
from supportbot.queueing.ingest import Ingestor
from supportbot.settings import BotSettings
from supportbot.webhook import testing as t
from supportbot.webhook.app import INBOUND_PATH, METRICS_PATH, STATUS_PATH, create_app
from supportbot.webhook.fastpath import WebhookApp
from supportbot.webhook.handling import Sinks

SettingsFactory = Callable[..., BotSettings]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics output")


REQUESTS: list[tuple[str, bytes, dict[str, str]]] = [
    (INBOUND_PATH, t.encode(t.msg91_text("hi there")), t.headers()),
    (INBOUND_PATH, t.encode(t.msg91_text("hi there")), t.headers()),  # duplicate
    (STATUS_PATH, t.encode(t.msg91_status()), t.headers()),
    (INBOUND_PATH, t.encode(t.msg91_text()), t.headers("wrong")),
    (INBOUND_PATH, t.encode(t.msg91_text()), {"Content-Type": "application/json"}),
    (INBOUND_PATH, b"{}", {**t.headers(), "Content-Type": "text/plain"}),
    (INBOUND_PATH, b"{not json", t.headers()),
    (INBOUND_PATH, b"[]", t.headers()),
    (INBOUND_PATH, t.encode(t.msg91_text(number="919999999999")), t.headers()),
]


@pytest.fixture
async def both(
    make_settings: SettingsFactory, aredis: aioredis.Redis
) -> AsyncIterator[tuple[WebhookApp, WebhookApp]]:
    """Two apps of one tenant: one serving POSTs ahead of FastAPI, one through its routes."""
    fast, slow = create_app(make_settings()), create_app(make_settings())
    assert isinstance(fast, WebhookApp) and isinstance(slow, WebhookApp)
    slow.webhook_routes = None
    async with fast.router.lifespan_context(fast), slow.router.lifespan_context(slow):
        yield fast, slow


async def _answers(app: WebhookApp) -> list[tuple[int, dict[str, Any], list[tuple[str, str]]]]:
    transport = httpx.ASGITransport(app=app)
    out = []
    async with httpx.AsyncClient(transport=transport, base_url="http://webhook.test") as client:
        for path, body, headers in REQUESTS:
            r = await client.post(path, content=body, headers=headers | {"X-Request-ID": "r-1"})
            out.append((r.status_code, r.json(), sorted(r.headers.items())))
    return out


async def test_fast_path_answers_exactly_like_the_fastapi_routes(
    both: tuple[WebhookApp, WebhookApp], aredis: aioredis.Redis
) -> None:
    fast, slow = both
    first = await _answers(fast)
    await aredis.flushdb()
    assert await _answers(slow) == first
    statuses = [status for status, _, _ in first]
    assert statuses == [200, 200, 200, 401, 401, 415, 400, 422, 403]
    assert first[1][1]["status"] == "duplicate"
    assert ("www-authenticate", "Secret") in first[3][2]
    assert all(("x-request-id", "r-1") in headers for _, _, headers in first)


async def test_unexpected_error_is_500_in_the_error_shape_and_counted(
    pipelined: PipelinedRedis, make_settings: SettingsFactory, aredis: aioredis.Redis
) -> None:
    app = create_app(make_settings())
    async with app.router.lifespan_context(app):
        sinks = app.state.sinks
        assert isinstance(sinks, Sinks)
        # An ingestor bound to another tenant refuses the message: a bug, not bad input.
        other = Ingestor(aredis, make_settings(tenant_id="other"), pipeline=pipelined)
        app.state.sinks = Sinks(other, sinks.reports)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://w.test") as client:
            r = await client.post(
                INBOUND_PATH, content=t.encode(t.msg91_text()), headers=t.headers()
            )
            assert r.status_code == 500
            assert r.json()["error"]["code"] == "internal_error"
            text = (await client.get(METRICS_PATH)).text
        app.state.sinks = sinks
    assert (
        metric(text, f'supportbot_webhook_requests_total{{code="500",route="{INBOUND_PATH}"}}') == 1
    )


async def test_many_concurrent_posts_share_the_pipeline(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    async def post(n: int) -> httpx.Response:
        body = t.msg91_text(f"m{n}", uuid=f"wamid.CONC{n}", customer=f"9198765{n:05d}")
        return await client.post(INBOUND_PATH, content=t.encode(body), headers=t.headers())

    responses = await asyncio.gather(*(post(n) for n in range(200)))
    assert [r.status_code for r in responses] == [200] * 200
    assert {json.loads(r.content)["status"] for r in responses} == {"accepted"}
    assert await aredis.scard(f"sb:{t.TENANT}:active") == 200
    assert await aredis.llen(f"rq:queue:supportbot-{t.TENANT}") == 200
    assert await aredis.xlen(f"sb:{t.TENANT}:raw") == 200
