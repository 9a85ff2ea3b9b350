"""Conversation leases under pressure, and fencing of a run that lost its lease.

- A starved Redis pool (the handlers hold every connection) and a single rq bookkeeping thread
  must not cost any drain its lease: renewals run on the lease keeper's own connection.
- A lease lost mid-turn (the key expires while the handler is blocked): the old owner, even if
  it keeps running, sends nothing; the new owner sends the turn's reply exactly once, before the
  next turn's (real MSG91 simulator over HTTP)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import OutboundKind, OutboundMessage, Turn
from supportbot.msg91.client import Msg91Client
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import RunningSimulator, free_port, start_simulator
from supportbot.provider.backoff import RetryPolicy
from supportbot.provider.deliverer import Deliverer, Recipient, SendFence, SendFenced
from supportbot.provider.sending import Sender
from supportbot.queueing.adapters.pipelined import PipelinedRedis
from supportbot.queueing.ingest import Ingestor
from supportbot.queueing.leases import LeaseKeeper, fence_margin, renew_interval
from supportbot.queueing.main import MAX_POOL, redis_pool_size
from supportbot.queueing.metrics import WorkerMetrics
from supportbot.queueing.testing import TENANT, background_worker, make_message, wait_until
from supportbot.queueing.worker import WorkerTuning
from supportbot.settings import BotSettings

SettingsFactory = Callable[..., BotSettings]
NUMBER, AUTH_KEY, CUSTOMER = "919000000001", "lease-test-authkey", "919844444444"


def _count(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def _idle(r: aioredis.Redis) -> bool:
    return int(await r.scard(keyspace.active_key(TENANT))) == 0


# --- a starved pool ------------------------------------------------------------------------
class PoolHog:
    """Holds a connection of the worker's own pool for `hold` seconds per turn (a handler that
    talks to Redis a lot), then records the turn."""

    def __init__(self, redis: aioredis.Redis, hold: float) -> None:
        self.redis = redis
        self.hold = hold

    async def handle_turn(self, turn: Turn) -> None:
        await self.redis.blpop([f"sb:{TENANT}:test:never"], timeout=self.hold)
        record = {"turn_id": turn.turn_id, "attempt": turn.attempt, "text": turn.messages[0].text}
        await self.redis.rpush(f"sb:{TENANT}:test:hog", json.dumps(record))


async def test_a_starved_pool_and_slow_bookkeeping_cost_no_lease(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(
        lease_seconds=4, coalesce_window_seconds=0, coalesce_max_wait_seconds=0
    )
    conversations = 48
    ingestor = Ingestor(aredis, settings, pipeline=pipelined)
    for n in range(conversations):
        await ingestor.accept(make_message(f"9197{n:08d}", 0), b"{}")
    pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=6, timeout=120)
    starved = aioredis.Redis.from_pool(pool)
    tuning = WorkerTuning(monitoring_interval=1, maintenance_interval=2.0, bookkeeping_threads=1)
    try:
        async with background_worker(settings, starved, PoolHog(starved, 1.5), tuning) as worker:

            async def all_done() -> bool:
                return int(await aredis.llen(f"sb:{TENANT}:test:hog")) >= conversations

            await wait_until(all_done, 150, "every conversation's turn")
            await wait_until(lambda: _idle(aredis), 30, "conversations idle")
    finally:
        await starved.aclose()
    records = [json.loads(r) for r in await aredis.lrange(f"sb:{TENANT}:test:hog", 0, -1)]
    assert len(records) == conversations
    assert {r["attempt"] for r in records} == {1}, "no turn had to be re-run"
    assert len({r["turn_id"] for r in records}) == conversations
    assert _count(worker.metrics, "supportbot_worker_leases_lost_total") == 0
    assert _count(worker.metrics, "supportbot_worker_jobs_total", result="lease_lost") == 0
    assert _count(worker.metrics, "supportbot_worker_jobs_total", result="done") == conversations


# --- fencing -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim_server() -> Iterator[RunningSimulator]:
    args = ["--number", NUMBER, "--auth-key", AUTH_KEY, "--dlr-final", "none"]
    with start_simulator(args) as sim:
        yield sim


@pytest.fixture
async def sim(sim_server: RunningSimulator) -> AsyncIterator[SimulatorClient]:
    async with SimulatorClient(sim_server.url) as driver:
        await driver.reset()
        yield driver


@pytest.fixture
async def deliverer(
    sim_server: RunningSimulator, aredis: aioredis.Redis
) -> AsyncIterator[Deliverer]:
    async with Msg91Client(
        base_url=sim_server.url, integrated_number=NUMBER, auth_key=AUTH_KEY
    ) as client:
        sender = Sender(client, policy=RetryPolicy(max_attempts=2, base_delay=0.01))
        yield Deliverer(tenant_id=TENANT, redis=aredis, sender=sender, in_flight_seconds=5)


class ZombieHandler:
    """Replies "<texts> a<attempt>" through the fenced deliverer. The first attempt of the
    turn starting with "m0" blocks until released and ignores cancellation (an owner that does
    not notice it lost its lease); the retry of that turn waits until the zombie has tried."""

    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer
        self.starts: list[tuple[str, int]] = []
        self.release = asyncio.Event()
        self.zombie_done = asyncio.Event()
        self.zombie_error: BaseException | None = None
        self.tasks: list[asyncio.Task[None]] = []

    async def _reply(self, turn: Turn) -> None:
        text = "+".join(m.text or "" for m in turn.messages) + f" a{turn.attempt}"
        recipient = Recipient(CUSTOMER, phone=CUSTOMER, last_inbound_at=time.time())
        await self.deliverer.send_turn_replies(
            turn.turn_id,
            recipient,
            [OutboundMessage(kind=OutboundKind.TEXT, text=text)],
            fence=SendFence.for_turn(turn),
        )

    async def _zombie(self, turn: Turn) -> None:
        await self.release.wait()
        try:
            await self._reply(turn)
        except Exception as exc:
            self.zombie_error = exc
        finally:
            self.zombie_done.set()

    async def handle_turn(self, turn: Turn) -> None:
        first = turn.messages[0].text or ""
        self.starts.append((first, turn.attempt))
        if first == "m0" and turn.attempt == 1:
            zombie = asyncio.create_task(self._zombie(turn))
            self.tasks.append(zombie)
            await asyncio.shield(zombie)
            return
        if first == "m0":
            await asyncio.wait_for(self.zombie_done.wait(), 30)
        await self._reply(turn)


async def test_lease_lost_mid_turn_old_owner_sends_nothing_new_owner_once_in_order(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    make_settings: SettingsFactory,
    sim: SimulatorClient,
    deliverer: Deliverer,
) -> None:
    settings = make_settings(
        lease_seconds=1.5, coalesce_window_seconds=0, coalesce_max_wait_seconds=0
    )
    ingestor = Ingestor(aredis, settings, pipeline=pipelined)
    handler = ZombieHandler(deliverer)
    lease = keyspace.conversation_keys(TENANT, keyspace.conversation_ref(CUSTOMER)).lease
    await ingestor.accept(make_message(CUSTOMER, 0), b"{}")
    async with background_worker(settings, aredis, handler) as worker:

        def started(attempt: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return ("m0", attempt) in handler.starts

            return check

        await wait_until(started(1), 20, "the first attempt")
        await aredis.delete(lease)  # the lease expires while the handler is blocked
        await wait_until(started(2), 20, "another drain taking the turn over")

        handler.release.set()  # the old owner wakes up and tries to reply
        await asyncio.wait_for(handler.zombie_done.wait(), 20)
        await ingestor.accept(make_message(CUSTOMER, 1), b"{}")

        async def two_replies() -> bool:
            return len(await sim.accepted(CUSTOMER)) >= 2

        await wait_until(two_replies, 30, "both replies")
        await wait_until(lambda: _idle(aredis), 20, "conversation idle")
    await asyncio.gather(*handler.tasks)
    texts = [r["body"].get("text") for r in await sim.accepted(CUSTOMER)]
    assert texts == ["m0 a2", "m1 a1"], "the loser sent nothing; the turns replied in order"
    assert isinstance(handler.zombie_error, SendFenced)
    assert _count(worker.metrics, "supportbot_worker_leases_lost_total") >= 1


def test_the_worker_pool_grows_with_its_concurrency(make_settings: SettingsFactory) -> None:
    assert redis_pool_size(make_settings(worker_concurrency=2000)) == 516
    assert redis_pool_size(make_settings(worker_concurrency=10)) == 64  # redis_max_connections
    assert redis_pool_size(make_settings(worker_concurrency=10_000)) == MAX_POOL


def test_a_lease_is_renewed_often_and_given_up_before_it_can_expire() -> None:
    assert renew_interval(30) == 5 and fence_margin(30) == 5
    # four rounds can fail before the drain fences itself, still 5 s before the expiry
    assert 30 - fence_margin(30) >= 5 * renew_interval(30)


async def test_keeper_reports_a_taken_lease_but_not_one_its_drain_is_releasing(
    aredis: aioredis.Redis,
) -> None:
    keeper = LeaseKeeper(aredis, 30, WorkerMetrics())
    lost: list[str] = []
    finishing = keeper.hold("sb:acme:c:a:lease", "r:a", "a", time.monotonic(), lost.append)
    running = keeper.hold("sb:acme:c:b:lease", "r:b", "b", time.monotonic(), lost.append)
    kept = keeper.hold("sb:acme:c:c:lease", "r:c", "c", time.monotonic(), lost.append)
    await aredis.set("sb:acme:c:c:lease", "r:c", px=30_000)
    await aredis.set("sb:acme:c:b:lease", "q:next-job")  # another drain owns b now
    finishing.settling = True  # a's FINISH already released its lease: the race is expected
    await keeper.renew_once()
    assert lost == ["taken"]
    assert running.lost == "taken" and finishing.lost is None and kept.lost is None
    assert 29_000 < int(await aredis.pttl("sb:acme:c:c:lease")) <= 30_000


async def test_keeper_fences_a_lease_it_cannot_confirm() -> None:
    unreachable = aioredis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2
    )
    keeper = LeaseKeeper(unreachable, 0.9, WorkerMetrics())
    reasons: list[str] = []
    held = keeper.hold("sb:acme:c:d:lease", "r:d", "d", time.monotonic(), reasons.append)
    closing = asyncio.Event()
    task = asyncio.create_task(keeper.run(closing))
    try:
        await wait_until(lambda: _done(reasons), 10, "the keeper to give the lease up")
    finally:
        closing.set()
        await asyncio.wait_for(task, 5)
        await unreachable.aclose()
    assert reasons == ["unconfirmed"] and held.lost == "unconfirmed"


async def _done(reasons: list[str]) -> bool:
    return bool(reasons)
