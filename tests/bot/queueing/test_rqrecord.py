"""The async hot path of the rq bridge writes exactly what rq's own sync path writes.

`RqBridge.afetch/astart/asucceed` run rq's code against a recorder and send the writes in one
MULTI/EXEC each; `fetch/start/succeed` run the same code on a real sync connection. Both paths
run on a fresh Redis database for the same job and the whole database is compared after start
and after success (ids, timestamps and stream ids normalised).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import DataError, ResponseError

from supportbot.keyspace import conversation_ref, drain_job_id
from supportbot.queueing.adapters import jobhash
from supportbot.queueing.adapters.rqbridge import JobSlot, RqBridge
from supportbot.queueing.adapters.rqrecord import RecordingRedis, UnexpectedRead, send
from supportbot.settings import BotSettings

SettingsFactory = Callable[..., BotSettings]
REF = conversation_ref("919800000001")
AT = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)

_NORMALISE = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?"), "<ts>"),
    (re.compile(r"\b\d{13}-\d+\b"), "<stream-id>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<hex>"),
    (re.compile(r"\b\d+\.\d+(e-?\d+)?\b"), "<float>"),
]


def _norm(value: Any, job_id: str) -> str:
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.replace(job_id, "<job>")
    for pattern, repl in _NORMALISE:
        text = pattern.sub(repl, text)
    return text


def snapshot(client: Any, job_id: str) -> dict[str, Any]:
    """Every key of the database: type, normalised content, whether it expires."""
    out: dict[str, Any] = {}
    for raw_key in sorted(client.keys("*")):
        key = _norm(raw_key, job_id)
        kind = client.type(raw_key).decode()
        content: Any
        if kind == "hash":
            content = {
                _norm(f, job_id): _norm(v, job_id)
                for f, v in client.hgetall(raw_key).items()
                if f != b"ip_address"  # the registering connection's port
            }
        elif kind == "zset":
            content = sorted(_norm(m, job_id) for m in client.zrange(raw_key, 0, -1))
        elif kind == "set":
            content = sorted(_norm(m, job_id) for m in client.smembers(raw_key))
        elif kind == "list":
            content = [_norm(m, job_id) for m in client.lrange(raw_key, 0, -1)]
        elif kind == "stream":
            content = [
                {_norm(f, job_id): _norm(v, job_id) for f, v in fields.items()}
                for _, fields in client.xrange(raw_key)
            ]
        else:
            content = _norm(client.get(raw_key) or b"", job_id)
        out[key] = (kind, content, client.ttl(raw_key) > 0)
    return out


async def _run_path(
    redis_url: str, settings: BotSettings, *, recorded: bool
) -> tuple[dict[str, Any], dict[str, Any], JobSlot]:
    sync = redis.Redis.from_url(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    try:
        sync.flushdb()
        bridge = RqBridge(
            sync, settings.queue_name, "sb-test-worker", monitoring_interval=10, on_command=print
        )
        bridge.worker.register_birth()  # type: ignore[no-untyped-call]
        job_id = drain_job_id(REF)
        jobhash.build_rq_job(settings, REF, job_id, sync, at=AT).save()
        sync.rpush(bridge.intermediate_key, job_id)  # as the worker's BLMOVE leaves it
        if recorded:
            fetched = await bridge.afetch(client, job_id)
            assert fetched is not None
            job, has_dependents = fetched
            assert not has_dependents
            slot = await bridge.astart(client, job)
            assert slot.recorded
        else:
            found = bridge.fetch(job_id)
            assert found is not None
            slot = bridge.start(found)
        started = snapshot(sync, job_id)
        if recorded:
            await bridge.asucceed(client, slot, "done")
        else:
            bridge.succeed(slot, "done")
        finished = snapshot(sync, job_id)
        return started, finished, slot
    finally:
        sync.close()
        await client.aclose()


async def test_recorded_start_and_success_write_what_rq_writes(
    redis_url: str, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    sync_started, sync_finished, _ = await _run_path(redis_url, settings, recorded=False)
    rec_started, rec_finished, slot = await _run_path(redis_url, settings, recorded=True)

    assert rec_started == sync_started
    assert rec_finished == sync_finished
    # and the comparison is not vacuous: the job went STARTED -> FINISHED with rq's registries
    job_key = "rq:job:<job>"
    assert sync_started[job_key][1]["status"] == "started"
    assert sync_finished[job_key][1]["status"] == "finished"
    finished_registry = f"rq:finished:{settings.queue_name}"
    assert sync_finished[finished_registry][1] == ["<job>"]
    assert "rq:results:<job>" in sync_finished
    assert slot.view.connection is not None and not isinstance(slot.view.connection, RecordingRedis)


async def test_afetch_reports_dependents_and_missing_jobs(
    redis_url: str, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    sync = redis.Redis.from_url(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    try:
        bridge = RqBridge(
            sync, settings.queue_name, "sb-test-worker", monitoring_interval=10, on_command=print
        )
        job_id = drain_job_id(REF)
        sync.rpush(bridge.intermediate_key, job_id)
        assert await bridge.afetch(client, job_id) is None  # gone: dropped from the queue
        assert sync.llen(bridge.intermediate_key) == 0

        job = jobhash.build_rq_job(settings, REF, job_id, sync, at=AT)
        job.save()
        sync.sadd(job.dependents_key, "someone-else")
        fetched = await bridge.afetch(client, job_id)
        assert fetched is not None and fetched[1] is True
        assert tuple(fetched[0].args) == (settings.tenant_id, REF)
    finally:
        sync.close()
        await client.aclose()


def test_recorder_records_writes_and_refuses_reads() -> None:
    rec = RecordingRedis()
    rec.hset("h", mapping={"a": 1})
    with rec.pipeline() as pipe:
        pipe.expire("h", 10)
        pipe.zadd("z", {"m": 1.0})
        pipe.execute()
    commands = [args[0] for args, _ in rec.take()]
    assert commands == ["HSET", "EXPIRE", "ZADD"]
    assert rec.take() == []
    with pytest.raises(UnexpectedRead):
        rec.get("h")
    with pytest.raises(UnexpectedRead), rec.pipeline() as pipe:
        pipe.watch("k")  # type: ignore[no-untyped-call]
        pipe.hget("h", "a")
    rec.expect("deps", [b"x"])
    with rec.pipeline() as pipe:
        pipe.watch("deps")  # type: ignore[no-untyped-call]
        assert pipe.smembers("deps") == {b"x"}


async def test_send_is_one_transaction_and_reports_errors_with_a_clean_connection(
    redis_url: str,
) -> None:
    client = aioredis.Redis.from_url(redis_url, max_connections=1)  # one connection: reused
    try:
        await send(client, [(("RPUSH", "l", "a"), {}), (("HSET", "h", "f", 1.5), {})])
        assert await client.lrange("l", 0, -1) == [b"a"]
        assert await client.hget("h", "f") == b"1.5"
        # an error inside EXEC (wrong type): raised; the other command still ran (Redis MULTI)
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await send(client, [(("HSET", "l", "f", "x"), {}), (("SET", "k", "v"), {})])
        assert await client.get("k") == b"v"
        # refused while queuing (wrong arity): EXECABORT, nothing ran
        with pytest.raises(ResponseError):
            await send(client, [(("SET", "k2", "v"), {}), (("HSET", "h"), {})])
        assert await client.get("k2") is None
        assert await client.ping()  # the single connection is still in sync
        with pytest.raises(DataError):
            await send(client, [(("SET", "k3", None), {})])
    finally:
        await client.aclose()
