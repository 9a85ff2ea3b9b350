"""The faults, each injected into a running stack and healed (the I/O edge of the suite).

- pg-down: PostgreSQL stopped at once (SIGQUIT to the postmaster, what `pg_ctl -m immediate`
  sends), restarted on the same port and data dir after `seconds`;
- msg91-5xx: the MSG91 simulator answers 500 to every send (its ``/_sim/faults`` admin API)
  for `seconds`;
- redis-sigkill: redis-server (AOF everysec) SIGKILLed, restarted on the same port and dir after
  `seconds` (it reloads its AOF);
- worker-sigkill: `count` SIGKILLs spread over `seconds`, round-robin over the workers, each
  restarted at once;
- idle-connections: `count` connections to the webhook held for `seconds`, 80 % silent and 20 %
  slowloris (a request line and one header byte every 2 s), then closed;
- nul-text: nothing to inject (the customers' texts carry it, `load`).

Each returns `FaultEvents`: when it started and was healed, and notes for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from sbload.faults.plan import Fault
from sbload.stack import Proc, Stack

ALWAYS = 1_000_000_000
"""A fault rule's count that outlasts any run."""


@dataclass
class FaultEvents:
    injected_at: float | None = None
    """Epoch seconds the fault started (None: no single moment, nul-text)."""
    healed_at: float | None = None
    """Epoch seconds the service was back (time to recover counts from here)."""
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Running:
    """What the injectors act on."""

    stack: Stack
    webhook: Proc
    workers: list[Proc]
    restart_worker: Callable[[str], Proc]
    """Start a worker process with this name (blocking: it waits for its metrics endpoint)."""


async def _until(at: float) -> None:
    delay = at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


class _Server(Protocol):
    def kill(self) -> None: ...
    def restart(self) -> None: ...


async def _down_for(server: _Server, fault: Fault, ev: FaultEvents) -> float:
    """Kill `server`, keep it down for the fault's seconds, restart it; records when it was
    injected and healed, and returns the seconds the restart took."""
    ev.injected_at = injected = time.time()
    await asyncio.to_thread(server.kill)
    await _until(injected + fault.seconds)
    began = time.time()
    await asyncio.to_thread(server.restart)
    ev.healed_at = healed = time.time()
    return healed - began


async def pg_down(fault: Fault, run: Running, ev: FaultEvents) -> None:
    pg = run.stack.postgres
    assert pg is not None
    back = await _down_for(pg, fault, ev)
    ev.notes.append(f"immediate stop; back {back:.1f} s after the restart")


async def msg91_5xx(fault: Fault, run: Running, ev: FaultEvents) -> None:
    assert run.stack.msg91 is not None
    async with httpx.AsyncClient(base_url=run.stack.msg91.url, timeout=10) as http:
        rule = {"status": 500, "count": ALWAYS}
        (await http.post("/_sim/faults", json=[rule])).raise_for_status()
        ev.injected_at = time.time()
        before = (await http.get("/_sim/stats")).json()
        await _until(ev.injected_at + fault.seconds)
        (await http.delete("/_sim/faults")).raise_for_status()
        ev.healed_at = time.time()
        after = (await http.get("/_sim/stats")).json()
    failed = after["outcomes"].get("fault", 0) - before["outcomes"].get("fault", 0)
    ev.details["sends_answered_500"] = failed
    ev.notes.append(f"{failed:,} sends answered 500")


async def redis_sigkill(fault: Fault, run: Running, ev: FaultEvents) -> None:
    server = run.stack.redis
    assert server is not None
    reloaded = await _down_for(server, fault, ev)
    ev.notes.append(f"AOF everysec; AOF reloaded in {reloaded:.1f} s")


async def worker_sigkill(fault: Fault, run: Running, ev: FaultEvents) -> None:
    ev.injected_at = start = time.time()
    restarts: list[float] = []
    for n in range(fault.count):
        await _until(start + n * fault.seconds / max(1, fault.count))
        index = n % len(run.workers)
        victim = run.workers[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(victim.pid, signal.SIGKILL)
        await asyncio.to_thread(victim.popen.wait, 10)
        if victim in run.stack.procs:
            run.stack.procs.remove(victim)
        began = time.time()
        run.workers[index] = await asyncio.to_thread(run.restart_worker, victim.name)
        restarts.append(time.time() - began)
    ev.healed_at = time.time()
    ev.details["restart_seconds"] = restarts
    if restarts:
        ev.notes.append(f"each worker back in {min(restarts):.1f}-{max(restarts):.1f} s")


@dataclass
class _Held:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    slow: bool


async def _open(host: str, port: int, slow: bool) -> _Held | None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except (OSError, TimeoutError):
        return None
    if slow:
        writer.write(b"POST /webhooks/msg91/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return _Held(reader, writer, slow)


async def _trickle(held: list[_Held], stop: asyncio.Event) -> None:
    """One header byte per slowloris connection every 2 s, until `stop`."""
    while not stop.is_set():
        for h in held:
            if h.slow and not h.writer.is_closing():
                h.writer.write(b"a")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2.0)


async def idle_connections(fault: Fault, run: Running, ev: FaultEvents) -> None:
    url = urlsplit(run.webhook.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    slow_every = 5  # every fifth connection is a slowloris one
    held: list[_Held] = []
    for first in range(0, fault.count, 100):
        batch = range(first, min(fault.count, first + 100))
        opened = await asyncio.gather(*(_open(host, port, n % slow_every == 0) for n in batch))
        held += [h for h in opened if h is not None]
    ev.injected_at = time.time()
    stop = asyncio.Event()
    trickling = asyncio.create_task(_trickle(held, stop))
    await _until(ev.injected_at + fault.seconds)
    stop.set()
    await trickling
    closed_by_server = sum(1 for h in held if h.reader.at_eof())
    for h in held:
        h.writer.close()
    ev.healed_at = time.time()
    ev.details.update(opened=len(held), closed_by_server=closed_by_server)
    ev.notes.append(
        f"{len(held):,} of {fault.count:,} opened ({fault.count // slow_every:,} slowloris); "
        f"the webhook closed {closed_by_server:,} before the end"
    )


async def nul_text(fault: Fault, run: Running, ev: FaultEvents) -> None:
    ev.notes.append(
        f"{fault.count} % of texts carry U+0000, a lone surrogate or both (JSON-escaped)"
    )


Injector = Callable[[Fault, Running, FaultEvents], Awaitable[None]]
INJECTORS: dict[str, Injector] = {
    "pg-down": pg_down,
    "msg91-5xx": msg91_5xx,
    "redis-sigkill": redis_sigkill,
    "worker-sigkill": worker_sigkill,
    "idle-connections": idle_connections,
    "nul-text": nul_text,
}
