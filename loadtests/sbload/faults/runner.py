"""One fault's run: a fresh stack, the customers, the fault mid-load, the wait for answers.

The stack is the load test's (`sbload.stack`): private Redis (AOF everysec) and PostgreSQL
(synchronous commits, so a crash keeps what was committed, as in production), the OpenRouter and
MSG91 simulators, `supportbot webhook` and 1-2 `supportbot worker` processes with the engine
handler and the load-test flow. Everything it starts is stopped by its own id.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from sbload.driver import Poster, ReplyCollector, Target, drain
from sbload.faults.inject import INJECTORS, FaultEvents, Running
from sbload.faults.load import FaultCrowd
from sbload.faults.plan import Fault, Load
from sbload.faults.table import FaultRow, build_row
from sbload.ledger import Ledger
from sbload.phases import _run, start_bot, start_bot_worker
from sbload.rawhttp import ConnectionPool
from sbload.scenario import Scenario, validate
from sbload.stack import NUMBER, SECRET, TENANT, Stack, stack
from sbload.timeline import Timeline
from supportbot.keyspace import dead_letter_key

LOG_MARKERS = ("dead-lettering", "Traceback", "ERROR", "lease lost")
"""Lines counted in each process's log for the report."""


def fault_scenario(load: Load) -> Scenario:
    """The stack settings of a fault run: engine handler, no throttling in the way."""
    return validate(
        Scenario(
            name="faults",
            customers=load.customers,
            handler="engine",
            llm_latency=load.llm_latency,
            duplicate_share=load.duplicate_share,
            throttle_per_minute=1000,
            worker_concurrency=500,
            phases=(),
            seed=load.seed,
        )
    )


@dataclass
class Driven:
    ledger: Ledger
    tl: Timeline
    events: FaultEvents
    load_seconds: float = 0.0
    wait_seconds: float = 0.0
    sim_stats: dict[str, Any] = field(default_factory=dict)


def run_fault(
    load: Load, fault: Fault, workdir: Path, log: Callable[[str], None], quiet: bool = False
) -> tuple[FaultRow, dict[str, Any]]:
    """Run one fault; returns its table row and the details for the JSON report."""
    sc = fault_scenario(load)
    with stack(workdir / fault.slug) as st:
        st.durable_postgres = True
        hook, first = start_bot(st, sc, "engine")
        workers = [first] + [
            start_bot_worker(st, sc, "engine", name=f"worker-{n + 1}")
            for n in range(1, fault.workers)
        ]
        running = Running(
            st, hook, workers, lambda name: start_bot_worker(st, sc, "engine", name=name)
        )
        log(
            f"[{fault.label}] {load.customers} customers x {load.messages} messages over "
            f"{load.window(fault):.0f} s, fault at +{load.fault_at:g} s, "
            f"{len(workers)} worker(s); logs in {st.workdir}"
        )
        driven: Driven = _run(lambda: _drive(load, fault, running, log, quiet))
        dead = _dead_letters(st)
        items = [i for b in driven.ledger.books.values() for i in b.items.values()]
        verdict = driven.ledger.verdict()
        row = build_row(
            fault,
            verdict,
            items,
            books=driven.ledger.books.values(),
            ack_status=driven.tl.ack_status,
            dead=dead,
            healed_at=driven.events.healed_at,
            notes=driven.events.notes,
        )
        t0 = driven.tl.started
        details = {
            "injected_at": _relative(driven.events.injected_at, t0),
            "healed_at": _relative(driven.events.healed_at, t0),
            "load_seconds": driven.load_seconds,
            "wait_seconds": driven.wait_seconds,
            "fault_details": driven.events.details,
            "verdict": asdict(verdict),
            "ack_status": dict(driven.tl.ack_status),
            "driver_errors": driven.tl.errors,
            "sim_stats": driven.sim_stats,
            "process_logs": {p.name: _log_summary(p.log) for p in [hook, *running.workers]},
        }
        return row, details


async def _drive(
    load: Load, fault: Fault, running: Running, log: Callable[[str], None], quiet: bool
) -> Driven:
    st, hook = running.stack, running.webhook
    assert st.msg91 is not None
    tl, ledger = Timeline(), Ledger()
    pool = ConnectionPool(hook.url, 100)
    target = Target(hook.url, NUMBER, SECRET)
    poster = Poster(target, pool, ledger, tl, retries=load.webhook_attempts)
    replies = ReplyCollector(st.msg91.url, ledger, tl)
    crowd = FaultCrowd(load, fault, poster, replies)
    driven = Driven(ledger, tl, FaultEvents())
    stop = asyncio.Event()
    background = [asyncio.create_task(replies.run(stop))]
    if not quiet:
        background.append(asyncio.create_task(_progress(fault, crowd, ledger, stop, log)))
    try:
        acting = asyncio.create_task(crowd.run())
        await asyncio.sleep(load.fault_at)
        await INJECTORS[fault.kind](fault, running, driven.events)
        limit = load.window(fault) + load.messages * load.reply_timeout_seconds + 60
        await asyncio.wait_for(acting, max(1.0, crowd.t0 + limit - time.time()))
        driven.load_seconds = time.time() - crowd.t0
        within = load.recover_seconds
        driven.wait_seconds = await drain(ledger, replies, within, quiet_for=within)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*poster.tasks), 10)
        await replies.poll_safely()
        try:
            driven.sim_stats = (await replies.http.get("/_sim/stats")).json()
        except httpx.HTTPError as exc:
            driven.sim_stats = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        stop.set()
        await asyncio.gather(*background, return_exceptions=True)
        await replies.aclose()
        await pool.aclose()
    return driven


async def _progress(
    fault: Fault,
    crowd: FaultCrowd,
    ledger: Ledger,
    stop: asyncio.Event,
    log: Callable[[str], None],
    every: float = 10.0,
) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        items = [i for b in ledger.books.values() for i in b.items.values()]
        acked = sum(1 for i in items if i.ack == "accepted")
        answered = sum(1 for i in items if i.answers)
        log(
            f"[{fault.label}] +{time.time() - crowd.t0:.0f} s: sent {crowd.sent}, acked "
            f"{acked}, answered {answered}"
        )


def _dead_letters(st: Stack) -> int | None:
    """LLEN of the tenant's dead-letter list (None when Redis does not answer)."""
    if st.redis is None:
        return None
    client = redis.Redis.from_url(st.redis.url, socket_timeout=5)
    try:
        return int(client.llen(dead_letter_key(TENANT)))
    except redis.RedisError:
        return None
    finally:
        client.close()


def _log_summary(path: Path, tail: int = 8) -> dict[str, Any]:
    if not path.exists():
        return {}
    lines = path.read_text(errors="replace").splitlines()
    counts = {m: sum(1 for line in lines if m in line) for m in LOG_MARKERS}
    return {"counts": counts, "tail": [line[:300] for line in lines[-tail:]]}


def _relative(at: float | None, t0: float) -> float | None:
    return None if at is None else at - t0
