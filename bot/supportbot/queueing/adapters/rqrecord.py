"""Run rq's own bookkeeping code, record the Redis writes it makes, send them asynchronously.

rq's worker transitions (`prepare_execution`, `prepare_job_execution`, `handle_job_success`) are
sync code that builds its writes on a pipeline and reads nothing back (the only read on the
success path is the job's dependents set, under WATCH). Run in threads, they cost a thread hop
and 3-7 blocking round trips per job. Here the same rq code runs on the event loop against a
`RecordingRedis`: every command it issues, piped or direct, is appended to a list instead of
being sent, and the caller sends the list in ONE MULTI/EXEC on a `redis.asyncio` pool connection,
packed by hiredis (`send`).

Reads are answered only where rq's path needs them and the caller knows the answer:
`SMEMBERS <dependents key>` returns the `dependents` given to `RecordingRedis.expect` (fetched
in the same round trip as the job). Any other read raises `UnexpectedRead`, so a new rq version
that starts reading fails loudly in `tests/bot/queueing/test_rqrecord.py` instead of silently
recording a wrong transition. WATCH is dropped: the recorded commands run as one transaction,
and jobs with dependents never take this path (`RqBridge` falls back to rq's threads for them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import hiredis
import redis
import redis.asyncio as aioredis
from redis.client import Pipeline
from redis.exceptions import DataError, ResponseError

Command = tuple[tuple[Any, ...], dict[str, Any]]


class UnexpectedRead(RuntimeError):
    """rq's code asked Redis for something the recorder cannot answer."""


class RecordingPipeline(Pipeline):
    """A sync pipeline whose `execute` hands its commands to the recorder instead of Redis."""

    def __init__(self, recorder: RecordingRedis) -> None:
        super().__init__(recorder.connection_pool, {}, transaction=True, shard_hint=None)
        self._recorder = recorder

    def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        name = str(args[0]).upper()
        if name == "WATCH":
            self.watching = True
            return True
        if name == "UNWATCH":
            self.watching = False
            return True
        return self._recorder.answer(args)

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        self._recorder.commands.extend(self.command_stack)
        self.command_stack = []
        return []

    def reset(self) -> None:  # type: ignore[override]  # Pipeline.reset, not RESET
        self.command_stack = []
        self.scripts = set()
        self.watching = False
        self.explicit_transaction = False


class RecordingRedis(redis.Redis):
    """A `redis.Redis` that never connects: commands are recorded, known reads answered."""

    def __init__(self) -> None:
        # A pool is built but never used: no command reaches a socket.
        super().__init__(host="recording.invalid", single_connection_client=False)
        self.commands: list[Command] = []
        self._dependents: dict[str, set[bytes]] = {}

    def expect(self, dependents_key: str, dependents: Iterable[bytes]) -> None:
        self._dependents[dependents_key] = set(dependents)

    def answer(self, args: tuple[Any, ...]) -> Any:
        name = str(args[0]).upper()
        if name == "SMEMBERS" and len(args) == 2 and str(args[1]) in self._dependents:
            return self._dependents[str(args[1])]
        raise UnexpectedRead(f"rq bookkeeping read {name} {args[1:2]!r}; not recordable")

    def execute_command(self, *args: Any, **options: Any) -> Any:
        name = str(args[0]).upper()
        if name in _READS:
            return self.answer(args)
        self.commands.append((args, options))
        return None

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> RecordingPipeline:
        return RecordingPipeline(self)

    def take(self) -> list[Command]:
        taken, self.commands = self.commands, []
        self._dependents.clear()
        return taken


_READS = frozenset(
    {
        "GET",
        "MGET",
        "HGET",
        "HGETALL",
        "HMGET",
        "HEXISTS",
        "EXISTS",
        "SMEMBERS",
        "SISMEMBER",
        "SCARD",
        "LLEN",
        "LRANGE",
        "LPOS",
        "ZRANGE",
        "ZRANGEBYSCORE",
        "ZCARD",
        "ZSCORE",
        "TTL",
        "PTTL",
        "TYPE",
        "XRANGE",
        "XREVRANGE",
        "XLEN",
        "INFO",
        "TIME",
        "KEYS",
        "SCAN",
    }
)


_MULTI = b"*1\r\n$5\r\nMULTI\r\n"
_EXEC = b"*1\r\n$4\r\nEXEC\r\n"


def pack_transaction(commands: list[Command]) -> bytes:
    """MULTI, the commands, EXEC as RESP bytes (hiredis' packer: byte-identical to redis-py's,
    ~2x cheaper than a redis-py pipeline for rq's ~25-command success transaction)."""
    try:
        return b"".join([_MULTI, *(hiredis.pack_command(args) for args, _ in commands), _EXEC])
    except TypeError as exc:  # redis-py would refuse the same values
        raise DataError(f"rq bookkeeping produced an unsendable argument: {exc}") from exc


async def send(client: aioredis.Redis, commands: list[Command]) -> None:
    """Send recorded commands as one MULTI/EXEC (one round trip).

    The replies are all read even after an error reply, so the connection goes back to the pool
    clean; a connection error or cancellation mid-way disconnects it instead.
    """
    if not commands:
        return
    packed = pack_transaction(commands)
    pool = client.connection_pool
    conn = await pool.get_connection()  # type: ignore[no-untyped-call]
    errors: list[ResponseError] = []
    results: Any = None
    try:
        await conn.send_packed_command(packed, check_health=False)
        for _ in range(len(commands) + 1):  # +OK for MULTI, +QUEUED per command
            try:
                await conn.read_response()
            except ResponseError as exc:
                errors.append(exc)
        try:
            results = await conn.read_response()
        except ResponseError as exc:  # EXECABORT after a refused command
            errors.append(exc)
    except BaseException:
        await conn.disconnect()
        raise
    finally:
        await pool.release(conn)
    if errors:
        raise errors[0]
    for result in results or ():
        if isinstance(result, ResponseError):
            raise result
