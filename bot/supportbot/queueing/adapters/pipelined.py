"""A small pipelined Redis client for the webhook's hot path: many callers, one connection.

redis-py's asyncio client lends each in-flight command a pooled connection: a lock, a timeout
task, a socket write and a socket read per command, and under load its blocking pool is unfair
(a task that just released a connection takes it straight back, so some waiters starve until
they time out). Here every caller's command is packed (hiredis), appended to one write buffer
that is flushed once per event-loop turn, and its reply is matched to it in order (Redis answers
the commands of one connection in the order it received them). Concurrent requests therefore
share syscalls, and the FIFO order makes waiting fair.

Failure behaviour: a reply that does not arrive within `reply_timeout` aborts the connection
(every caller waiting on it gets redis-py's ``TimeoutError``); a lost connection fails its
callers with redis-py's ``ConnectionError``; the next command reconnects (concurrent callers
share one attempt). Error replies raise redis-py's exception classes (``NoScriptError``, ...).
Only what the ingest path needs is here: plain commands and EVALSHA with a reload on NOSCRIPT
(the one way `Ingestor` and `ReportStore` run their scripts).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import (
    AuthenticationError,
    ConnectionError as RedisConnectionError,
    NoScriptError,
    ResponseError,
    TimeoutError as RedisTimeoutError,
)

Arg = str | bytes | int | float
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class LuaScript:
    """A Lua source and its SHA1 (what EVALSHA names)."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to connect (from a redis:// rediss:// or unix:// URL)."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        options = parse_url(url)
        tls: ssl.SSLContext | None = None
        if options.get("connection_class") is SSLConnection:
            tls = ssl.create_default_context()
            if options.get("ssl_cert_reqs") in ("none", ssl.CERT_NONE):
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
        return cls(
            host=str(options.get("host") or "127.0.0.1"),
            port=int(options.get("port") or 6379),
            path=options.get("path"),
            db=int(options.get("db") or 0),
            username=options.get("username"),
            password=options.get("password"),
            tls=tls,
        )


_parse_error = cast(Callable[[str], Exception], BaseParser.parse_error)


def _error(reply: ResponseError) -> ResponseError:
    """redis-py's exception for an error reply (NOSCRIPT -> NoScriptError, ...), as it parses."""
    found = _parse_error(str(reply))
    return found if isinstance(found, ResponseError) else reply


def _pack(args: tuple[Arg, ...]) -> bytes:
    """RESP encoding of one command (hiredis, in C; its stub types the tuple too narrowly)."""
    return cast(bytes, hiredis.pack_command(cast(Any, args)))


class _Link(asyncio.Protocol):
    """One connection: an ordered queue of waiting callers and a write buffer."""

    def __init__(self, reply_timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._reader = hiredis.Reader(replyError=ResponseError)
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._transport: asyncio.Transport | None = None
        self._reply_timeout = reply_timeout
        self._watchdog: asyncio.TimerHandle | None = None
        self._failure: Exception | None = None
        self.usable = False

    # --- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self.usable = True

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self._waiting
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as exc:
                self.abort(RedisConnectionError(f"Redis protocol error: {exc}"))
                return
            if reply is False:
                return
            if not waiting:
                self.abort(RedisConnectionError("Redis sent a reply nobody asked for"))
                return
            future, _ = waiting.popleft()
            if future.done():  # the caller went away; its command still ran
                continue
            if isinstance(reply, ResponseError):
                future.set_exception(_error(reply))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        failure = self._failure or RedisConnectionError(
            f"Redis connection lost: {exc}" if exc else "Redis closed the connection"
        )
        self._fail_all(failure)

    # --- commands ---------------------------------------------------------------------------
    def submit(self, packed: bytes) -> asyncio.Future[Any]:
        if not self.usable:
            raise RedisConnectionError(str(self._failure or "Redis connection is closed"))
        future: asyncio.Future[Any] = self._loop.create_future()
        self._waiting.append((future, self._loop.time() + self._reply_timeout))
        self._out.append(packed)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(self._reply_timeout, self._check)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self._transport is not None and self.usable:
            out, self._out = self._out, []
            self._transport.writelines(out)

    def _check(self) -> None:
        """Abort when the oldest waiting command is past its deadline, else re-arm."""
        self._watchdog = None
        if not self._waiting or not self.usable:
            return
        deadline = self._waiting[0][1]
        now = self._loop.time()
        if now >= deadline:
            self.abort(RedisTimeoutError(f"no reply from Redis within {self._reply_timeout:g} s"))
            return
        self._watchdog = self._loop.call_later(deadline - now, self._check)

    def abort(self, failure: Exception) -> None:
        self._failure = failure
        self.usable = False
        if self._transport is not None:
            self._transport.abort()  # connection_lost fails the waiting callers
        self._fail_all(failure)

    def _fail_all(self, failure: Exception) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._out = []
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():  # one exception object per caller (tracebacks attach to it)
                future.set_exception(type(failure)(*failure.args))


class PipelinedRedis:
    """Commands from any number of tasks over one lazily (re)connected connection."""

    def __init__(
        self, endpoint: Endpoint, *, connect_timeout: float = 2.0, reply_timeout: float = 5.0
    ) -> None:
        self._endpoint = endpoint
        self._connect_timeout = connect_timeout
        self._reply_timeout = reply_timeout
        self._link: _Link | None = None
        self._connecting: asyncio.Future[_Link] | None = None
        self._closed = False

    @classmethod
    def from_url(
        cls, url: str, *, connect_timeout: float = 2.0, reply_timeout: float = 5.0
    ) -> PipelinedRedis:
        return cls(
            Endpoint.from_url(url), connect_timeout=connect_timeout, reply_timeout=reply_timeout
        )

    async def execute(self, *args: Arg) -> Any:
        """Send one command and wait for its reply (raises redis-py exceptions)."""
        link = self._link
        if link is None or not link.usable:
            link = await self._connected()
        return await link.submit(_pack(args))

    async def evalsha(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """EVALSHA; on NOSCRIPT (Redis restarted or flushed) load the script and run it again."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        return await self._loading_on_noscript(script, lambda: self.execute(*command))

    async def evalsha_many(
        self, script: LuaScript, calls: Sequence[tuple[Sequence[Arg], Sequence[Arg]]]
    ) -> list[Any]:
        """Several EVALSHA (keys, args) calls sent together, replies in order. On NOSCRIPT the
        script is loaded and the whole batch runs again (so its calls must be idempotent)."""
        return await self._loading_on_noscript(script, lambda: self._batch(script, calls))

    async def _loading_on_noscript(self, script: LuaScript, run: Callable[[], Awaitable[_T]]) -> _T:
        """`run()`; on NOSCRIPT, SCRIPT LOAD `script` and `run()` once more."""
        try:
            return await run()
        except NoScriptError:
            await self.execute("SCRIPT", "LOAD", script.source)
            return await run()

    async def _batch(
        self, script: LuaScript, calls: Sequence[tuple[Sequence[Arg], Sequence[Arg]]]
    ) -> list[Any]:
        link = self._link
        if link is None or not link.usable:
            link = await self._connected()
        futures = [
            link.submit(_pack(("EVALSHA", script.sha, len(keys), *keys, *args)))
            for keys, args in calls
        ]
        replies = await asyncio.gather(*futures, return_exceptions=True)
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        return replies

    async def aclose(self) -> None:
        self._closed = True
        if self._link is not None:
            self._link.abort(RedisConnectionError("the client was closed"))
            self._link = None

    async def _connected(self) -> _Link:
        if self._closed:
            raise RedisConnectionError("the client was closed")
        if self._connecting is None:  # one attempt shared by every caller that needs it
            self._connecting = asyncio.ensure_future(self._open())
            self._connecting.add_done_callback(self._attempt_done)
        return await asyncio.shield(self._connecting)

    def _attempt_done(self, attempt: asyncio.Future[_Link]) -> None:
        self._connecting = None
        if attempt.cancelled() or attempt.exception() is not None:
            return
        if self._closed:  # closed while connecting
            attempt.result().abort(RedisConnectionError("the client was closed"))
        else:
            self._link = attempt.result()

    async def _open(self) -> _Link:
        loop = asyncio.get_running_loop()
        ep = self._endpoint
        made: list[_Link] = []

        def protocol() -> _Link:
            made.append(_Link(self._reply_timeout))
            return made[-1]

        try:
            async with asyncio.timeout(self._connect_timeout):
                if ep.path is not None:
                    await loop.create_unix_connection(protocol, ep.path)
                else:
                    await loop.create_connection(protocol, ep.host, ep.port, ssl=ep.tls)
                await self._handshake(made[-1])
        except BaseException as exc:
            for link in made:
                link.abort(RedisConnectionError("connection setup failed"))
            if isinstance(exc, TimeoutError):
                raise RedisTimeoutError("connecting to Redis timed out") from None
            if isinstance(exc, OSError):
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from None
            raise
        return made[-1]

    async def _handshake(self, link: _Link) -> None:
        ep = self._endpoint
        try:
            if ep.password is not None:
                auth: tuple[Arg, ...] = (
                    (ep.username, ep.password) if ep.username else (ep.password,)
                )
                await link.submit(_pack(("AUTH", *auth)))
            if ep.db:
                await link.submit(_pack(("SELECT", ep.db)))
        except ResponseError as exc:
            raise AuthenticationError(f"Redis refused the connection setup: {exc}") from None
