"""Connection abuse against the real `supportbot webhook` process (issue 11).

Idle connections, slowloris heads (fresh and on kept-alive connections) and slow bodies must
neither block signed POSTs nor stay open: each is cut at its deadline, no earlier, no later.
Overload protection (503 + Retry-After) counts in-flight requests, not connections; the cap on
open connections closes the oldest idle ones first. Timeouts are short flags so the tests are fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from supportbot.webhook import testing as t
from supportbot.webhook.app import HEALTH_PATH, INBOUND_PATH
from supportbot_dev import procs

pytestmark = pytest.mark.slow

ACK_BUDGET = 1.0
"""Seconds a signed POST may take to be acknowledged (the provider's ack budget)."""
CLOSE_SLACK = 2.5
"""Seconds after its deadline by which the server must have closed an abusive connection."""
EARLY_SLACK = 0.3
"""A connection closed this much before its deadline was closed too early."""


@dataclasses.dataclass(frozen=True)
class Webhook:
    """A running webhook process."""

    port: int
    pid: int

    def open_files(self) -> tuple[int, int]:
        """Its open descriptors and soft RLIMIT_NOFILE."""
        limits = Path(f"/proc/{self.pid}/limits").read_text().splitlines()
        soft = next(line.split()[3] for line in limits if line.startswith("Max open files"))
        return len(os.listdir(f"/proc/{self.pid}/fd")), int(soft)


StartWebhook = Callable[..., Webhook]
"""`start_webhook(*flags, nofile=None, **settings)`: a started webhook process."""


@pytest.fixture
def start_webhook(
    redis_url: str, postgres_server_url: str, tmp_path: Path
) -> Iterator[StartWebhook]:
    """Start `supportbot webhook` with extra CLI flags and settings (under `prlimit
    --nofile=<nofile>` if given). Stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*flags: str, nofile: str | None = None, **settings: object) -> Webhook:
        port = procs.free_port()
        settings = {"port": port, "log_level": "WARNING", **settings}
        env = {**os.environ, **t.settings_env(redis_url, postgres_server_url, **settings)}
        argv = [sys.executable, "-m", "supportbot.cli", "webhook", "--host", "127.0.0.1", *flags]
        if nofile is not None:
            prlimit = shutil.which("prlimit")
            if prlimit is None:
                pytest.skip("needs prlimit (util-linux)")
            argv = [prlimit, f"--nofile={nofile}", *argv]
        log = tmp_path / f"webhook-{port}.log"
        proc = procs.start(argv, log, env=env)
        started.append(proc)
        procs.wait_until(lambda: _healthy(port), 30, "webhook", proc, log)
        return Webhook(port, proc.pid)

    _raise_own_nofile(4096)
    try:
        yield start
    finally:
        for proc in started:
            procs.stop(proc)


def _healthy(port: int) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=1.0).status_code == 200
    return False


def _raise_own_nofile(wanted: int) -> None:
    """This test process holds over 1,000 sockets: make sure its soft limit allows them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@dataclasses.dataclass
class Held:
    """A client connection the test holds open and watches for the server closing it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    since: float
    """When the server's clock for this connection started at the earliest (connect, or first
    trickled byte)."""
    received: bytes = b""
    closed_at: float | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None

    async def watch(self) -> None:
        """Read until the server closes the connection; note when."""
        try:
            while chunk := await self.reader.read(65536):
                self.received += chunk
        except OSError:
            pass
        self.closed_at = asyncio.get_running_loop().time()

    async def trickle(self, data: bytes, interval: float) -> None:
        """Send `data` one byte per `interval` seconds (the slowloris pace) until closed."""
        for i in range(len(data)):
            if not self.open:
                return
            try:
                self.writer.write(data[i : i + 1])
                await self.writer.drain()
            except OSError:
                return
            await asyncio.sleep(interval)

    @property
    def lifetime(self) -> float:
        assert self.closed_at is not None
        return self.closed_at - self.since


class Clients:
    """The test's client connections to one webhook and their tasks; all ended on exit."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.held: list[Held] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for held in self.held:
            held.writer.close()
        await asyncio.gather(*(h.writer.wait_closed() for h in self.held), return_exceptions=True)

    def run(self, *coros: Coroutine[Any, Any, None]) -> None:
        self.tasks += [asyncio.create_task(coro) for coro in coros]

    async def connect(self) -> Held:
        since = asyncio.get_running_loop().time()  # the server's clock cannot start earlier
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        held = Held(reader, writer, since)
        self.held.append(held)
        return held

    async def connect_many(self, count: int, batch: int = 200) -> list[Held]:
        held: list[Held] = []
        for start in range(0, count, batch):
            size = min(batch, count - start)
            held += await asyncio.gather(*(self.connect() for _ in range(size)))
        return held

    async def kept_alive(self) -> Held:
        """A connection that has completed one request and now sits in keep-alive."""
        held = await self.connect()
        held.writer.write(f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: webhook\r\n\r\n".encode())
        head = await asyncio.wait_for(held.reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await asyncio.wait_for(held.reader.readexactly(length), 5)
        return held


async def until(check: Callable[[], bool], within: float, what: str) -> None:
    """Poll `check` every 50 ms until it holds; fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within:.1f} s: {what}")
        await asyncio.sleep(0.05)


async def until_async(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    """`until` for a check that does I/O (each try runs to its end)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within:.1f} s: {what}")
        await asyncio.sleep(0.05)


def signed_post(number: int) -> tuple[bytes, dict[str, str]]:
    body = t.encode(t.msg91_text(f"message {number}", uuid=f"wamid.abuse-{number}"))
    return body, t.headers()


async def post_fresh(port: int, number: int) -> tuple[int, float]:
    """A signed inbound POST on a new connection: its status and seconds to the answer."""
    body, headers = signed_post(number)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client:
        response = await client.post(INBOUND_PATH, content=body, headers=headers)
    return response.status_code, loop.time() - started


def slow_head() -> bytes:
    """A request head that never ends: a valid start, then an endless header value."""
    return b"POST " + INBOUND_PATH.encode() + b" HTTP/1.1\r\nHost: webhook\r\nX-Pad: " + b"a" * 200


def body_head(length: int) -> bytes:
    return (
        f"POST {INBOUND_PATH} HTTP/1.1\r\nHost: webhook\r\n"
        f"{t.HEADER}: {t.SECRET}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def test_idle_and_slowloris_connections_neither_block_posts_nor_stay_open(
    start_webhook: StartWebhook,
) -> None:
    header_timeout = 4.0
    webhook = start_webhook("--header-timeout", str(header_timeout))
    async with Clients(webhook.port) as clients:
        idle = await clients.connect_many(1000)
        slow = await clients.connect_many(20)
        ka_slow = [await clients.kept_alive() for _ in range(5)]
        ka_crlf = [await clients.kept_alive() for _ in range(5)]
        abusive = idle + slow + ka_slow + ka_crlf
        loop = asyncio.get_running_loop()
        for held in ka_slow + ka_crlf:
            held.since = loop.time()  # the first trickled byte goes out now
        clients.run(*(held.watch() for held in abusive))
        clients.run(*(held.trickle(slow_head(), 0.5) for held in slow + ka_slow))
        clients.run(*(held.trickle(b"\r\n" * 100, 0.5) for held in ka_crlf))
        for number in range(20):
            assert all(held.open for held in abusive), "a connection closed before the POSTs"
            status, elapsed = await post_fresh(webhook.port, number)
            assert status == 200, f"POST {number} answered {status}"
            assert elapsed < ACK_BUDGET, f"POST {number} took {elapsed:.3f} s"
        await until(
            lambda: not any(held.open for held in abusive),
            header_timeout + CLOSE_SLACK + 2,
            "the server closed every idle and slowloris connection",
        )
    lifetimes = sorted(held.lifetime for held in abusive)
    assert lifetimes[0] >= header_timeout - EARLY_SLACK, lifetimes[:5]
    assert lifetimes[-1] <= header_timeout + CLOSE_SLACK, lifetimes[-5:]
    # A client that started a request head is told why; an idle one is just closed.
    assert all(held.received == b"" for held in idle)
    assert all(held.received.startswith(b"HTTP/1.1 408") for held in slow + ka_slow)


async def test_slow_body_is_answered_408_at_the_request_deadline(
    start_webhook: StartWebhook,
) -> None:
    request_timeout = 3.0
    webhook = start_webhook("--header-timeout", "2", "--request-timeout", str(request_timeout))
    body, _ = signed_post(1)
    async with Clients(webhook.port) as clients:
        stalled, trickling = await clients.connect(), await clients.connect()
        stalled.writer.write(body_head(len(body)) + body[:10])
        trickling.writer.write(body_head(len(body)))
        clients.run(stalled.watch(), trickling.watch(), trickling.trickle(body, 0.25))
        await until(
            lambda: not (stalled.open or trickling.open),
            request_timeout + CLOSE_SLACK,
            "slow bodies cut at the request deadline",
        )
    for held in (stalled, trickling):
        assert held.received.startswith(b"HTTP/1.1 408"), held.received
        assert b"request_timeout" in held.received
        assert request_timeout - EARLY_SLACK <= held.lifetime <= request_timeout + CLOSE_SLACK
    status, _ = await post_fresh(webhook.port, 2)
    assert status == 200


async def test_overload_503_counts_in_flight_requests_not_connections(
    start_webhook: StartWebhook,
) -> None:
    webhook = start_webhook(
        "--limit-concurrency", "4", "--header-timeout", "30", "--request-timeout", "30"
    )
    async with Clients(webhook.port) as clients:
        await clients.connect_many(50)
        status, _ = await post_fresh(webhook.port, 0)
        assert status == 200, "idle connections must not count against the request cap"

        # Four requests whose bodies have not finished: four requests in flight.
        body, _ = signed_post(1)
        in_flight = [await clients.connect() for _ in range(4)]
        for held in in_flight:
            held.writer.write(body_head(len(body)) + body[:10])
            await held.writer.drain()
        body_post, headers = signed_post(2)
        answers: list[httpx.Response] = []

        async def overloaded() -> bool:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{webhook.port}", timeout=5
            ) as c:
                answers.append(await c.post(INBOUND_PATH, content=body_post, headers=headers))
            return answers[-1].status_code == 503

        await until_async(overloaded, 5, "a 503 with more requests in flight than the cap")
        shed = answers[-1]
        assert shed.headers["retry-after"] == "1"
        assert shed.headers["connection"] == "close"
        assert shed.json()["error"]["code"] == "overloaded"

        # The held requests finish normally; then the webhook accepts again.
        for held in in_flight:
            held.writer.write(body[10:])
        for held in in_flight:
            head = await asyncio.wait_for(held.reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200"), head
        status, _ = await post_fresh(webhook.port, 3)
        assert status == 200


async def test_connection_cap_closes_the_oldest_idle_connections(
    start_webhook: StartWebhook,
) -> None:
    webhook = start_webhook(
        "--limit-connections", "200", "--header-timeout", "30", "--request-timeout", "30"
    )
    async with Clients(webhook.port) as clients:
        old = [await clients.connect() for _ in range(100)]
        new = [await clients.connect() for _ in range(100)]
        newest = [await clients.connect() for _ in range(100)]
        clients.run(*(held.watch() for held in old + new + newest))
        await until(
            lambda: not any(held.open for held in old),
            5,
            "the 100 oldest idle connections closed to admit 100 new ones",
        )
        assert all(held.open for held in new + newest)
        status, elapsed = await post_fresh(webhook.port, 1)
        assert status == 200 and elapsed < ACK_BUDGET
        await until(lambda: not new[0].open, 5, "the POST's connection evicted the next oldest")
        assert all(held.open for held in new[1:] + newest)


async def test_soft_open_file_limit_is_raised_to_hold_the_connections(
    start_webhook: StartWebhook,
) -> None:
    webhook = start_webhook(
        "--header-timeout", "30", "--request-timeout", "30", nofile="1024:20000"
    )
    assert webhook.open_files()[1] >= 10_000 + 2048
    async with Clients(webhook.port) as clients:
        idle = await clients.connect_many(1500)
        clients.run(*(held.watch() for held in idle))
        status, elapsed = await post_fresh(webhook.port, 1)
        assert status == 200 and elapsed < ACK_BUDGET
        assert all(held.open for held in idle)
        assert webhook.open_files()[0] > 1500


async def test_a_connection_flood_cannot_exhaust_descriptors(start_webhook: StartWebhook) -> None:
    # Hard limit 512: the cap shrinks to fit it (a quarter, as the accept burst is reserved).
    webhook = start_webhook(nofile="512:512")
    async with Clients(webhook.port) as clients:
        await clients.connect_many(3000, batch=1000)
        assert webhook.open_files()[0] < 512
        for number in range(5):
            status, elapsed = await post_fresh(webhook.port, number)
            assert status == 200 and elapsed < ACK_BUDGET
        assert webhook.open_files()[0] < 512


async def test_a_body_sent_after_the_answer_does_not_keep_the_connection_open(
    start_webhook: StartWebhook,
) -> None:
    # The webhook refuses an over-long Content-Length before reading the body; the client sends
    # the body anyway. Its bytes cancel uvicorn's keep-alive timer, which must run again after.
    keep_alive = 5.0  # uvicorn's timeout_keep_alive
    webhook = start_webhook(
        "--header-timeout", "30", "--request-timeout", "30", max_body_bytes=1024
    )
    body = b"{" + b" " * 2046 + b"}"
    async with Clients(webhook.port) as clients:
        held = await clients.connect()
        held.writer.write(body_head(len(body)))
        head = await asyncio.wait_for(held.reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 413") and b"connection: close" not in head.lower()
        held.writer.write(body)
        held.since = asyncio.get_running_loop().time()
        clients.run(held.watch())
        await until(lambda: not held.open, keep_alive + CLOSE_SLACK, "keep-alive closed it")
    assert held.lifetime >= keep_alive - EARLY_SLACK
