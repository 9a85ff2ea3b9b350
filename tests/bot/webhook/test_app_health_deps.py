"""``/healthz/deps``: per-dependency state; MSG91's comes from the workers' last send outcome
(a real MSG91 simulator, up and failing), never from a request per probe, never in readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.engine import testing as sim
from supportbot.messages import OutboundKind, OutboundMessage
from supportbot.msg91.client import Msg91Client
from supportbot.msg91.errors import AttemptOutcome
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import RunningSimulator
from supportbot.provider.attempts import SendContext
from supportbot.provider.backoff import RetryPolicy
from supportbot.provider.deliverer import Deliverer
from supportbot.provider.health import STALE_SECONDS, Msg91Health, SendHealth, read_health
from supportbot.provider.sending import DeliveryDeferred, Sender
from supportbot.settings import BotSettings
from supportbot.webhook import testing as t
from supportbot.webhook.app import DEPS_PATH, READY_PATH

SettingsFactory = Callable[..., BotSettings]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
CUSTOMER = "919876543210"
HI = OutboundMessage(kind=OutboundKind.TEXT, text="Hi")
CTX = SendContext(tenant_id=t.TENANT, customer_id=CUSTOMER, turn_id="turn-1", seq=0)


@pytest.fixture
async def sender(msg91_server: RunningSimulator, aredis: aioredis.Redis) -> AsyncIterator[Sender]:
    """A sender to the shared simulator (tests/bot/conftest.py) recording MSG91's health."""
    async with Msg91Client(
        base_url=msg91_server.url, integrated_number=sim.NUMBER, auth_key=sim.AUTH_KEY
    ) as client:
        health = SendHealth(aredis, t.TENANT, refresh_seconds=0)
        yield Sender(client, policy=RetryPolicy(max_attempts=1), health=health)


async def deps(client: httpx.AsyncClient) -> dict[str, object]:
    response = await client.get(DEPS_PATH)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_msg91_up_after_an_accepted_send(
    msg91: SimulatorClient,
    sender: Sender,
    make_settings: SettingsFactory,
    make_client: ClientFactory,
) -> None:
    await sender.send(CTX, CUSTOMER, HI)
    client = await make_client(make_settings(), readiness_ttl=0)
    body = await deps(client)
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["msg91"].startswith("ok (accepted"), checks
    assert checks["redis"] == "ok"
    assert body["status"] == "ok" or checks["postgres"].startswith("down")


async def test_msg91_down_after_failing_sends_and_up_again(
    msg91: SimulatorClient,
    sender: Sender,
    make_settings: SettingsFactory,
    make_client: ClientFactory,
) -> None:
    client = await make_client(make_settings(), readiness_ttl=0)
    await msg91.fail_next(503)
    with pytest.raises(DeliveryDeferred):
        await sender.send(CTX, CUSTOMER, HI)
    body = await deps(client)
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["msg91"].startswith("down: server_error"), checks
    assert body["status"] == "degraded"
    # Readiness never depends on MSG91: the webhook keeps acknowledging.
    ready = await client.get(READY_PATH)
    assert ready.status_code == 200 and "msg91" not in ready.json()["checks"]

    await sender.send(CTX, CUSTOMER, HI)
    checks = (await deps(client))["checks"]
    assert isinstance(checks, dict) and checks["msg91"].startswith("ok"), checks


async def test_unreachable_msg91_is_down(
    aredis: aioredis.Redis, make_settings: SettingsFactory, make_client: ClientFactory
) -> None:
    async with Msg91Client(
        base_url="http://127.0.0.1:9",
        integrated_number=sim.NUMBER,
        auth_key=sim.AUTH_KEY,
        timeout=2,
    ) as msg91:
        sender = Sender(
            msg91, policy=RetryPolicy(max_attempts=1), health=SendHealth(aredis, t.TENANT)
        )
        with pytest.raises(DeliveryDeferred):
            await sender.send(CTX, CUSTOMER, HI)
    client = await make_client(make_settings(), readiness_ttl=0)
    checks = (await deps(client))["checks"]
    assert isinstance(checks, dict) and checks["msg91"].startswith("down: connection_error")


async def test_probes_cost_msg91_nothing_and_quiet_is_unknown(
    msg91: SimulatorClient, make_settings: SettingsFactory, make_client: ClientFactory
) -> None:
    client = await make_client(make_settings(), readiness_ttl=0)
    for _ in range(5):
        body = await deps(client)
        checks = body["checks"]
        assert isinstance(checks, dict) and checks["msg91"].startswith("unknown: no send")
    assert await msg91.messages() == [], "no request to MSG91"


async def test_writes_only_on_change_or_refresh(aredis: aioredis.Redis) -> None:
    now = [1000.0]
    health = SendHealth(aredis, t.TENANT, clock=lambda: now[0], refresh_seconds=30)
    await health.observe(AttemptOutcome.ACCEPTED)
    await aredis.delete(keyspace.msg91_health_key(t.TENANT))
    now[0] += 10
    await health.observe(AttemptOutcome.REJECTED)  # still up, within refresh: no write
    assert (await read_health(aredis, t.TENANT, now[0])).outcome is None
    await health.observe(AttemptOutcome.TIMEOUT)  # verdict changed: written
    state = await read_health(aredis, t.TENANT, now[0] + 5)
    assert state == Msg91Health(AttemptOutcome.TIMEOUT, 5.0)
    assert await aredis.ttl(keyspace.msg91_health_key(t.TENANT)) == STALE_SECONDS


async def test_production_deliverer_records_health(
    aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    async with Msg91Client.from_settings(settings) as msg91:
        deliverer = Deliverer.from_settings(settings, aredis, msg91)
        assert isinstance(deliverer.sender.health, SendHealth)
