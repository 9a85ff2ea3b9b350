"""The benchmark phases; each starts its own processes, drives load, and returns a result dict.

- `ack_phase`: bare FastAPI vs `supportbot webhook` req/s (wrk, closed loop, same uvicorn
  options, alternating rounds in the same run), ack latency at a fixed open-loop rate over 100
  connections, and a py-spy profile of the webhook at saturation.
- `customers_phase`: N customers through the whole stack (webhook -> Redis/rq -> worker ->
  handler -> MSG91 simulator), correctness verdict, latencies, in-flight turns, CPU/RSS.
- `inflight_phase`: N customers' messages queued through the webhook first, then ONE worker
  process (llm-echo, LLM 2-10 s) takes them all: turns held at once and RSS.
- `naive_phase`: our worker (llm-echo handler) vs enqueue-per-message + classic rq workers with
  the same memory budget, on the same customers.
- `overhead_phase`: 0 ms LLM (echo handler, no coalescing window) at a fixed message rate: the
  queue + worker + delivery overhead end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import httpx
import uvloop

from sbload import ackbench
from sbload.driver import Crowd, Poster, ReplyCollector, Target, drain, open_loop
from sbload.ledger import Ledger
from sbload.rawhttp import ConnectionPool
from sbload.sampler import Sampler, Watched, progress_line
from sbload.scenario import Scenario
from sbload.stack import NUMBER, SECRET, Proc, Stack, stack
from sbload.timeline import Timeline, stats
from supportbot.webhook.server import default_limit_concurrency

REDIS_POOL = 64


def _run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro_fn())  # type: ignore[arg-type]


def _watch(st: Stack, extra: list[Proc] | None = None) -> list[Watched]:
    out = [Watched("load-driver", os.getpid(), children=False)]
    if st.redis and st.redis.proc:
        out.append(Watched("redis", st.redis.proc.pid))
    if st.postgres and st.postgres.proc:
        out.append(Watched("postgres", st.postgres.proc.pid))
    if st.msg91:
        out.append(Watched("msg91-sim", st.msg91.proc.pid))
    for proc in st.procs + (extra or []):
        out.append(Watched(proc.name, proc.pid, proc.metrics_url))
    return out


# --- ack --------------------------------------------------------------------------------------
def ack_phase(sc: Scenario, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    a = sc.ack
    limit = default_limit_concurrency(REDIS_POOL)
    result: dict[str, Any] = {"connections": a.connections, "seconds": a.seconds, "rounds": []}
    with stack(workdir / "ack") as st:
        st.start_redis()
        hook = st.start_webhook(redis_max_connections=REDIS_POOL)
        bare = st.start_bare(limit)
        path = "/webhooks/msg91/inbound"
        for n in range(a.rounds):
            row: dict[str, Any] = {}
            for name, proc in (("bare", bare), ("webhook", hook)):
                script = ackbench.lua_script(
                    NUMBER, SECRET, "X-Webhook-Secret", f"r{n}{name}", path
                )
                ackbench.run_wrk(proc.url + path, script, a.connections, 2)  # warm-up
                res = ackbench.run_wrk(proc.url + path, script, a.connections, a.seconds)
                row[name] = res.as_dict()
                log(
                    f"[ack] round {n + 1}: {name:8s} {res.requests_per_second:8.0f} req/s "
                    f"p50 {res.latency_ms.get('p50', 0):.1f} ms "
                    f"p99 {res.latency_ms.get('p99', 0):.1f} ms non-2xx {res.non_2xx}"
                )
            result["rounds"].append(row)
        bare_rps = [r["bare"]["req_per_s"] for r in result["rounds"]]
        hook_rps = [r["webhook"]["req_per_s"] for r in result["rounds"]]
        result["bare_req_per_s"] = sum(bare_rps) / len(bare_rps)
        result["webhook_req_per_s"] = sum(hook_rps) / len(hook_rps)
        result["ratio"] = result["webhook_req_per_s"] / max(result["bare_req_per_s"], 1)
        result["fixed_rate"] = {
            name: _fixed_rate(proc.url, a.fixed_rate, a.fixed_seconds, a.connections, log, name)
            for name, proc in (("bare", bare), ("webhook", hook))
        }
        result["sweep"] = [
            {
                name: _fixed_rate(proc.url, rate, a.sweep_seconds, a.connections, log, name)
                for name, proc in (("bare", bare), ("webhook", hook))
            }
            for rate in a.sweep_rates
        ]
        result["cpu_per_request_us"] = _cpu_per_request(hook, bare, a, path, log)
        if a.profile_seconds > 0:
            result["profile"] = _profile(hook, a, path, workdir, log)
    return result


def _fixed_rate(
    url: str, rate: float, seconds: float, conns: int, log: Callable[[str], None], name: str
) -> dict[str, Any]:
    tl = Timeline()

    async def go() -> float:
        pool = ConnectionPool(url, conns)
        poster = Poster(Target(url, NUMBER, SECRET), pool, Ledger(), tl)
        began = time.monotonic()
        await open_loop(poster, rate, seconds, customers=int(rate * seconds))
        elapsed = time.monotonic() - began
        await pool.aclose()
        return elapsed

    elapsed = float(_run(go))
    acks = stats(tl.all_acks())
    out: dict[str, Any] = {"rate": rate, "seconds": seconds, **acks, "status": dict(tl.ack_status)}
    out["achieved_rate"] = acks.get("count", 0) / max(elapsed, 1e-9)
    log(
        f"[ack] fixed {rate:.0f}/s over {conns} conns: {name:8s} p50 {out.get('p50_ms', 0):.1f} "
        f"p99 {out.get('p99_ms', 0):.1f} max {out.get('max_ms', 0):.1f} ms "
        f"(achieved {out['achieved_rate']:.0f}/s)"
    )
    return out


def _cpu_per_request(
    hook: Proc, bare: Proc, a: Any, path: str, log: Callable[[str], None]
) -> dict[str, float]:
    """Server CPU seconds per request at saturation (psutil user+system over a wrk run)."""
    import psutil

    out: dict[str, float] = {}
    for name, proc in (("bare", bare), ("webhook", hook)):
        p = psutil.Process(proc.pid)
        before = p.cpu_times()
        script = ackbench.lua_script(NUMBER, SECRET, "X-Webhook-Secret", f"cpu{name}", path)
        res = ackbench.run_wrk(proc.url + path, script, a.connections, 5)
        after = p.cpu_times()
        used = (after.user - before.user) + (after.system - before.system)
        out[name] = 1e6 * used / max(res.requests, 1)
        log(f"[ack] {name}: {out[name]:.0f} µs CPU per request ({res.requests} requests)")
    return out


def _profile(hook: Proc, a: Any, path: str, workdir: Path, log: Callable[[str], None]) -> Any:
    raw = workdir / "webhook-profile.txt"
    prof = ackbench.start_profile(hook.pid, a.profile_seconds, raw)
    if prof is None:
        log("[ack] py-spy not installed: no profile")
        return None
    time.sleep(0.5)
    script = ackbench.lua_script(NUMBER, SECRET, "X-Webhook-Secret", "prof", path)
    ackbench.run_wrk(hook.url + path, script, a.connections, a.profile_seconds)
    prof.wait(60)
    if not raw.exists():
        return None
    summary = ackbench.summarise_profile(raw.read_text())
    log(f"[ack] profile: {summary['samples']} samples; top self: {summary['self_by_area'][:5]}")
    return summary


# --- customers ----------------------------------------------------------------------------------
def start_bot(
    st: Stack, sc: Scenario, handler: str, *, dlr: bool = True, redis_url: str | None = None
) -> tuple[Proc, Proc]:
    st.start_redis(redis_url)
    if handler == "engine":
        st.start_postgres()
    if handler in ("engine", "llm-echo"):
        st.start_openrouter(sc.llm_latency)
    hook = st.start_webhook(
        redis_max_connections=REDIS_POOL, throttle_per_minute=sc.throttle_per_minute
    )
    st.start_msg91(hook.url, order=sc.status_order, duplicates=sc.status_duplicates, dlr=dlr)
    return hook, start_bot_worker(st, sc, handler)


def start_bot_worker(st: Stack, sc: Scenario, handler: str, name: str = "worker") -> Proc:
    """One `supportbot worker` process with the scenario's worker settings."""
    return st.start_worker(
        handler,
        name=name,
        worker_concurrency=sc.worker_concurrency,
        coalesce_window_seconds=sc.coalesce_window_seconds,
        throttle_per_minute=sc.throttle_per_minute,
        redis_max_connections=REDIS_POOL,
        database_pool_max=40,
    )


def _measured(tl: Timeline, ledger: Ledger, sampler: Sampler) -> dict[str, Any]:
    """What every driven run reports: the correctness verdict, latency summary, per-second
    series, the sampler's rows and per-process peaks."""
    return {
        "verdict": asdict(ledger.verdict()),
        "summary": tl.summary(),
        "series": tl.series(),
        "samples": tl.samples,
        "peak": sampler.peak,
    }


def drive_customers(
    st: Stack,
    hook_url: str,
    sc: Scenario,
    label: str,
    *,
    engine: bool,
    quiet: bool,
    extra: list[Proc] | None = None,
) -> dict[str, Any]:
    tl, ledger = Timeline(), Ledger()
    assert st.msg91 is not None
    sim_url = st.msg91.url

    async def go() -> dict[str, Any]:
        pool = ConnectionPool(hook_url, 100)
        poster = Poster(Target(hook_url, NUMBER, SECRET), pool, ledger, tl)
        replies = ReplyCollector(sim_url, ledger, tl)
        crowd = Crowd(sc, poster, replies, engine=engine)
        sampler = Sampler(tl, _watch(st, extra), lambda: progress_line(tl, label), quiet=quiet)
        stop = asyncio.Event()
        background = [
            asyncio.create_task(replies.run(stop)),
            asyncio.create_task(sampler.run(stop)),
        ]
        acting = time.time()
        await asyncio.wait_for(crowd.run(sc.customers), sc.duration_seconds + sc.ramp_seconds + 120)
        acted = time.time() - acting
        waited = await drain(ledger, replies, sc.drain_seconds)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*poster.tasks), 10)
        await replies.poll_safely()
        stop.set()
        await asyncio.gather(*background)
        try:
            sim_stats = (await replies.http.get("/_sim/stats")).json()
        except httpx.HTTPError as exc:
            sim_stats = {"error": f"{type(exc).__name__}: {exc}"}
        await replies.aclose()
        await pool.aclose()
        surge = (sc.surge_at_seconds, sc.surge_at_seconds + sc.surge_window_seconds + 10)
        outside = [v for t, vs in tl.acks.items() if not surge[0] <= t < surge[1] for v in vs]
        return {
            "ack_outside_surge": stats(outside),
            "surge_seconds": list(surge),
            "label": label,
            "acting_seconds": acted,
            "drain_seconds": waited,
            **_measured(tl, ledger, sampler),
            "replies_recorded": replies.replies,
            "sim_stats": sim_stats,
        }

    return _run(go)  # type: ignore[no-any-return]


def customers_phase(
    sc: Scenario,
    workdir: Path,
    log: Callable[[str], None],
    quiet: bool,
    redis_url: str | None = None,
) -> dict[str, Any]:
    with stack(workdir / "customers") as st:
        hook, worker = start_bot(st, sc, sc.handler, redis_url=redis_url)
        log(f"[customers] {sc.customers} customers, handler {sc.handler}, LLM {sc.llm_latency}")
        out = drive_customers(
            st, hook.url, sc, "customers", engine=sc.handler == "engine", quiet=quiet
        )
        out["worker_log_tail"] = _tail(worker.log)
        out["webhook_log_tail"] = _tail(hook.log)
        return out


def _tail(path: Path, lines: int = 15) -> list[str]:
    if not path.exists():
        return []
    return path.read_text(errors="replace").splitlines()[-lines:]


# --- in flight in one worker ------------------------------------------------------------------
def inflight_phase(
    sc: Scenario, workdir: Path, log: Callable[[str], None], quiet: bool
) -> dict[str, Any]:
    f = sc.inflight
    wide = replace(
        sc, worker_concurrency=max(sc.worker_concurrency, f.customers), throttle_per_minute=1000
    )
    with stack(workdir / "inflight") as st:
        st.start_redis()
        st.start_openrouter(sc.llm_latency)
        hook = st.start_webhook(
            redis_max_connections=REDIS_POOL, throttle_per_minute=wide.throttle_per_minute
        )
        st.start_msg91(hook.url, order=sc.status_order, duplicates=0, dlr=False)
        tl, ledger = Timeline(), Ledger()
        assert st.msg91 is not None
        sim_url = st.msg91.url
        log(
            f"[inflight] {f.customers} customers post first ({f.post_rate:.0f}/s), then one "
            f"worker process (llm-echo, LLM {sc.llm_latency}, concurrency "
            f"{wide.worker_concurrency})"
        )

        async def go() -> dict[str, Any]:
            pool = ConnectionPool(hook.url, 100)
            poster = Poster(Target(hook.url, NUMBER, SECRET), pool, ledger, tl)
            replies = ReplyCollector(sim_url, ledger, tl)
            await open_loop(poster, f.post_rate, f.customers / f.post_rate, f.customers)
            posted = time.time() - tl.started
            worker = await asyncio.to_thread(start_bot_worker, st, wide, "llm-echo")
            started = time.time() - tl.started
            sampler = Sampler(
                tl, _watch(st), lambda: progress_line(tl, "inflight"), every=0.5, quiet=quiet
            )
            stop = asyncio.Event()
            bg = [asyncio.create_task(replies.run(stop)), asyncio.create_task(sampler.run(stop))]
            waited = await drain(ledger, replies, f.drain_seconds)
            stop.set()
            await asyncio.gather(*bg)
            await replies.aclose()
            await pool.aclose()
            rows = tl.samples
            above = sum(
                b["t"] - a["t"]
                for a, b in zip(rows, rows[1:], strict=False)
                if a.get("in_flight", 0) >= 1000
            )
            return {
                "customers": f.customers,
                "posted_at": posted,
                "worker_started_at": started,
                "seconds_at_or_above_1000": above,
                "acting_seconds": posted,
                "drain_seconds": waited,
                **_measured(tl, ledger, sampler),
                "worker_log_tail": _tail(worker.log),
            }

        result: dict[str, Any] = _run(go)
        return result


# --- naive vs ours -----------------------------------------------------------------------------
def naive_phase(
    sc: Scenario, workdir: Path, log: Callable[[str], None], quiet: bool
) -> dict[str, Any]:
    n = sc.naive
    short = replace(
        sc,
        duration_seconds=n.seconds,
        drain_seconds=n.drain_seconds,
        customers=n.customers or sc.customers,
        surge_at_seconds=min(sc.surge_at_seconds, n.seconds / 3),
    )
    with stack(workdir / "ours") as st:
        hook, worker = start_bot(st, short, "llm-echo", dlr=False)
        log(f"[naive] ours: {short.customers} customers for {n.seconds:.0f}s, llm-echo handler")
        ours = drive_customers(st, hook.url, short, "ours", engine=False, quiet=quiet)
    budget = ours["peak"].get("worker", {}).get("rss_mb", 100.0)
    with stack(workdir / "naive") as st:
        st.start_redis()
        st.start_openrouter(sc.llm_latency)
        st.start_msg91("http://127.0.0.1:1", order=sc.status_order, duplicates=0, dlr=False)
        web = st.start_naive_web()
        workers = st.start_naive_workers(1)
        time.sleep(2)
        one = _rss_mb(workers[0].pid)
        count = max(1, int(budget // one))
        workers += st.start_naive_workers(count - 1, first=1)
        log(f"[naive] budget {budget:.0f} MB = {count} rq worker(s) of {one:.0f} MB idle RSS")
        naive = drive_customers(st, web.url, short, "naive", engine=False, quiet=quiet)
    return {
        "seconds": n.seconds,
        "customers": short.customers,
        "memory_budget_mb": budget,
        "rq_worker_idle_rss_mb": one,
        "rq_workers": count,
        "ours": ours,
        "naive": naive,
    }


def _rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss / 2**20)


# --- overhead ------------------------------------------------------------------------------------
def overhead_phase(
    sc: Scenario, workdir: Path, log: Callable[[str], None], quiet: bool
) -> dict[str, Any]:
    """The target rate, and first a lower one the worker sustains (overhead below saturation)."""
    o = sc.overhead
    plan = [(r, 1) for r in (o.low_rate, o.rate) if r > 0]
    if o.replicas > 1 and o.rate > 0:
        plan.append((o.rate, o.replicas))
    runs = [_overhead_run(sc, rate, n, workdir, log, quiet) for rate, n in plan]
    return {"runs": runs}


def _overhead_run(
    sc: Scenario,
    rate: float,
    replicas: int,
    workdir: Path,
    log: Callable[[str], None],
    quiet: bool,
) -> dict[str, Any]:
    o = replace(sc.overhead, rate=rate)
    flat = replace(sc, coalesce_window_seconds=0.0, throttle_per_minute=1000)
    with stack(workdir / f"overhead-{rate:.0f}-x{replicas}") as st:
        hook, worker = start_bot(st, flat, "echo", dlr=False)
        for n in range(1, replicas):
            start_bot_worker(st, flat, "echo", name=f"worker-{n + 1}")
        assert st.msg91 is not None
        sim_url = st.msg91.url
        log(
            f"[overhead] echo handler, no coalescing, {o.rate:.0f} msg/s for {o.seconds:.0f}s "
            f"after {o.warmup_seconds:.0f}s of warm-up, {replicas} worker process(es)"
        )
        target = Target(hook.url, NUMBER, SECRET)

        async def go() -> dict[str, Any]:
            pool = ConnectionPool(hook.url, 100)
            after = await _warm_up(target, pool, sim_url, o.rate, o.warmup_seconds, o.customers)
            tl, ledger = Timeline(), Ledger()
            poster = Poster(target, pool, ledger, tl)
            replies = ReplyCollector(sim_url, ledger, tl, interval=0.1)
            replies.after = after  # the warm-up's replies are not measured
            sampler = Sampler(tl, _watch(st), lambda: progress_line(tl, "overhead"), quiet=quiet)
            stop = asyncio.Event()
            bg = [asyncio.create_task(replies.run(stop)), asyncio.create_task(sampler.run(stop))]
            await open_loop(poster, o.rate, o.seconds, o.customers)
            waited = await drain(ledger, replies, 180)
            stop.set()
            await asyncio.gather(*bg)
            await replies.aclose()
            await pool.aclose()
            return {
                "rate": o.rate,
                "replicas": replicas,
                "seconds": o.seconds,
                "warmup_seconds": o.warmup_seconds,
                "drain_seconds": waited,
                **_measured(tl, ledger, sampler),
            }

        result: dict[str, Any] = _run(go)
        result["worker_log_tail"] = _tail(worker.log)
        return result


async def _warm_up(
    target: Target, pool: ConnectionPool, sim_url: str, rate: float, seconds: float, customers: int
) -> int:
    """Drive the stack at `rate` for `seconds` (connection pools fill, code paths warm up) and
    wait for those answers; returns the simulator's record position after them."""
    tl, ledger = Timeline(), Ledger()
    replies = ReplyCollector(sim_url, ledger, tl, interval=0.1)
    try:
        if seconds > 0:
            stop = asyncio.Event()
            polling = asyncio.create_task(replies.run(stop))
            await open_loop(Poster(target, pool, ledger, tl), rate, seconds, customers)
            await drain(ledger, replies, 60, quiet_for=10)
            stop.set()
            await polling
        await replies.poll_safely()
        return replies.after
    finally:
        await replies.aclose()
