"""The `seed` phase: ours vs the seed design's stack vs bare, figure by figure, in one run.

The seed stack (`loadtests/seedstack/`, Node 20: a Fastify webhook with the same secret check,
SET NX de-duplication and per-customer throttle, one Bull job per message, a Bull worker with a
concurrency setting calling the OpenRouter simulator then the MSG91 simulator) runs against the
same simulators, Redis build, driver and ledger as ours. "ours" here is `supportbot webhook` +
`supportbot worker --handler llm-echo`: the same two upstream requests per turn as the seed
worker's job, so both sides do the same I/O.

Parts (`seedstack.parts` in the scenario), each run per system in `seedstack.systems`:
- `ack`: closed-loop req/s + ack latency (wrk, 100 connections; bare FastAPI too, and the seed
  webhook on NestJS as `seed-nest` when `seedstack.nest`) and server CPU per request;
  open-loop ack p50/p99 at `ack.fixed_rate` + `ack.sweep_rates`.
- `overhead`: 0 ms LLM, open loop at each `seedstack.overhead_rates`: end-to-end overhead and
  turns answered per CPU-second of the system's own processes (webhook + worker; Redis apart).
- `inflight`: `seedstack.inflight_customers` messages queued through the webhook, then one
  worker process (LLM as `llm_latency`) takes them: peak turns in flight, worker RSS.
- `customers`: the scenario's crowd (bursts, button taps, duplicate deliveries) for
  `seedstack.customers_seconds`: the correctness ledger (lost / duplicated / reordered).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sbload import ackbench
from sbload.driver import Poster, ReplyCollector, Target, drain, open_loop
from sbload.ledger import Ledger
from sbload.phases import (
    REDIS_POOL,
    _fixed_rate,
    _measured,
    _run,
    _tail,
    _warm_up,
    _watch,
    drive_customers,
)
from sbload.rawhttp import ConnectionPool
from sbload.sampler import Sampler, progress_line
from sbload.scenario import Scenario
from sbload.stack import NUMBER, SECRET, SEEDSTACK, Proc, Stack, ensure_seedstack, stack
from sbload.timeline import Timeline
from supportbot.webhook.server import default_limit_concurrency

Log = Callable[[str], None]
INBOUND = "/webhooks/msg91/inbound"
WORKER_NAMES = {"ours": "worker", "seed": "seed-worker"}
WEBHOOK_NAMES = {"ours": "webhook", "seed": "seed-webhook"}


def seed_phase(sc: Scenario, workdir: Path, log: Log, quiet: bool) -> dict[str, Any]:
    p = sc.seedstack
    out: dict[str, Any] = {"systems": list(p.systems), "parts": list(p.parts)}
    if "seed" in p.systems:
        ensure_seedstack()
        out["versions"] = seedstack_versions()
        log(f"[seed] seed stack: {out['versions']}")
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "ack": lambda: ack_part(sc, workdir / "seed-ack", log),
        "overhead": lambda: {
            f"{rate:.0f}": {
                system: overhead_run(sc, system, rate, workdir, log, quiet) for system in p.systems
            }
            for rate in p.overhead_rates
        },
        "inflight": lambda: {
            system: inflight_run(sc, system, workdir, log, quiet) for system in p.systems
        },
        "customers": lambda: {
            system: customers_run(sc, system, workdir, log, quiet) for system in p.systems
        },
    }
    for part in p.parts:
        try:
            out[part] = steps[part]()
        except Exception as exc:  # the other parts still run; the failure is reported
            log(f"[seed] {part} FAILED: {type(exc).__name__}: {exc}")
            out[part] = {"failed": f"{type(exc).__name__}: {exc}"}
    return out


# --- starting either system ---------------------------------------------------------------------
def start_hook(st: Stack, system: str, throttle: int) -> Proc:
    if system == "seed":
        return st.start_seed_webhook(throttle_per_minute=throttle)
    return st.start_webhook(redis_max_connections=REDIS_POOL, throttle_per_minute=throttle)


def start_worker(
    st: Stack, system: str, sc: Scenario, *, concurrency: int, throttle: int, window: float
) -> Proc:
    if system == "seed":
        return st.start_seed_worker(concurrency, name=WORKER_NAMES["seed"])
    return st.start_worker(
        "llm-echo",
        name=WORKER_NAMES["ours"],
        worker_concurrency=concurrency,
        coalesce_window_seconds=window,
        throttle_per_minute=throttle,
        redis_max_connections=REDIS_POOL,
    )


def seedstack_versions() -> dict[str, str]:
    """Node's version and the installed versions of the seed stack's direct dependencies."""
    node = ensure_seedstack()
    found = {"node": subprocess.run([node, "--version"], capture_output=True, text=True).stdout}
    found["node"] = found["node"].strip()
    lock = json.loads((SEEDSTACK / "package-lock.json").read_text())
    direct = lock["packages"][""].get("dependencies", {})
    for name in sorted(direct):
        found[name] = lock["packages"].get(f"node_modules/{name}", {}).get("version", "?")
    return found


def _concurrency(sc: Scenario, system: str) -> int:
    return sc.seedstack.concurrency if system == "seed" else sc.worker_concurrency


def _cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    import psutil

    out: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        out[name] = t.user + t.system + t.children_user + t.children_system
    return out


# --- ack ------------------------------------------------------------------------------------------
def ack_part(sc: Scenario, workdir: Path, log: Log) -> dict[str, Any]:
    """req/s, latency and CPU per request at saturation (wrk), then the open-loop sweep; the
    webhooks run without a worker (as in the `ack` phase)."""
    import psutil

    a, p = sc.ack, sc.seedstack
    result: dict[str, Any] = {"connections": a.connections, "seconds": p.ack_seconds}
    with stack(workdir) as st:
        st.start_redis()
        targets: dict[str, Proc] = {"bare": st.start_bare(default_limit_concurrency(REDIS_POOL))}
        for system in p.systems:
            targets[system] = start_hook(st, system, throttle=1_000_000)
        if "seed" in p.systems and p.nest:
            targets["seed-nest"] = st.start_seed_webhook(1_000_000, "seed-nest-webhook", nest=True)
        closed: dict[str, Any] = {}
        for name, proc in targets.items():
            script = ackbench.lua_script(NUMBER, SECRET, "X-Webhook-Secret", f"s{name}", INBOUND)
            ackbench.run_wrk(proc.url + INBOUND, script, a.connections, 2)  # warm-up
            ps = psutil.Process(proc.pid)
            before = ps.cpu_times()
            res = ackbench.run_wrk(proc.url + INBOUND, script, a.connections, p.ack_seconds)
            after = ps.cpu_times()
            used = (after.user - before.user) + (after.system - before.system)
            row = res.as_dict()
            row["cpu_per_request_us"] = 1e6 * used / max(res.requests, 1)
            closed[name] = row
            log(
                f"[seed/ack] closed loop {name:6s} {res.requests_per_second:8.0f} req/s "
                f"p50 {res.latency_ms.get('p50', 0):.1f} ms p99 {res.latency_ms.get('p99', 0):.1f}"
                f" ms, {row['cpu_per_request_us']:.0f} µs CPU/request, non-2xx {res.non_2xx}"
            )
        result["closed"] = closed
        rates = [a.fixed_rate, *a.sweep_rates]
        result["sweep"] = [
            {
                name: _fixed_rate(proc.url, rate, a.sweep_seconds, a.connections, log, name)
                for name, proc in targets.items()
            }
            for rate in rates
        ]
    return result


# --- overhead and CPU per turn --------------------------------------------------------------------
def overhead_run(
    sc: Scenario, system: str, rate: float, workdir: Path, log: Log, quiet: bool
) -> dict[str, Any]:
    p = sc.seedstack
    with stack(workdir / f"seed-overhead-{system}-{rate:.0f}") as st:
        st.start_redis()
        st.start_openrouter("fixed:0")
        hook = start_hook(st, system, throttle=1000)
        st.start_msg91(hook.url, order=sc.status_order, duplicates=0, dlr=False)
        worker = start_worker(
            st, system, sc, concurrency=_concurrency(sc, system), throttle=1000, window=0.0
        )
        assert st.msg91 is not None
        sim_url = st.msg91.url
        pids = {"webhook": hook.pid, "worker": worker.pid}
        if st.redis and st.redis.proc:
            pids["redis"] = st.redis.proc.pid
        log(
            f"[seed/overhead] {system}: 0 ms LLM, {rate:.0f} msg/s for {p.overhead_seconds:.0f}s "
            f"after {p.warmup_seconds:.0f}s of warm-up"
        )
        target = Target(hook.url, NUMBER, SECRET)

        async def go() -> dict[str, Any]:
            pool = ConnectionPool(hook.url, 100)
            after = await _warm_up(
                target, pool, sim_url, rate, p.warmup_seconds, p.overhead_customers
            )
            tl, ledger = Timeline(), Ledger()
            poster = Poster(target, pool, ledger, tl)
            replies = ReplyCollector(sim_url, ledger, tl, interval=0.1)
            replies.after = after
            sampler = Sampler(
                tl, _watch(st), lambda: progress_line(tl, f"{system}-{rate:.0f}"), quiet=quiet
            )
            stop = asyncio.Event()
            bg = [asyncio.create_task(replies.run(stop)), asyncio.create_task(sampler.run(stop))]
            cpu_before, began = _cpu_seconds(pids), time.monotonic()
            await open_loop(poster, rate, p.overhead_seconds, p.overhead_customers)
            waited = await drain(ledger, replies, 120)
            cpu_after, wall = _cpu_seconds(pids), time.monotonic() - began
            stop.set()
            await asyncio.gather(*bg)
            await replies.aclose()
            await pool.aclose()
            cpu = {k: cpu_after[k] - cpu_before[k] for k in cpu_after if k in cpu_before}
            measured = _measured(tl, ledger, sampler)
            answered = measured["verdict"]["answered"]
            own = cpu.get("webhook", 0.0) + cpu.get("worker", 0.0)
            return {
                "system": system,
                "rate": rate,
                "seconds": p.overhead_seconds,
                "drain_seconds": waited,
                "wall_seconds": wall,
                "cpu_seconds": cpu,
                "turns_per_cpu_second": answered / own if own > 0 else None,
                "turns_per_cpu_second_with_redis": (
                    answered / (own + cpu.get("redis", 0.0)) if own > 0 else None
                ),
                **measured,
            }

        result: dict[str, Any] = _run(go)
        result["worker_log_tail"] = _tail(worker.log)
        e2e = result["summary"].get("e2e", {})
        log(
            f"[seed/overhead] {system} {rate:.0f} msg/s: e2e p50 {e2e.get('p50_ms', 0):.1f} "
            f"p99 {e2e.get('p99_ms', 0):.1f} ms; {result['verdict']['answered']} answered; "
            f"turns per CPU-second {result['turns_per_cpu_second'] or 0:.0f}; "
            f"lost/dup/reordered {result['verdict']['lost']}/{result['verdict']['duplicated']}/"
            f"{result['verdict']['reordered']}"
        )
        return result


# --- in flight ----------------------------------------------------------------------------------
def inflight_run(sc: Scenario, system: str, workdir: Path, log: Log, quiet: bool) -> dict[str, Any]:
    p = sc.seedstack
    customers = p.inflight_customers
    concurrency = max(_concurrency(sc, system), customers)
    with stack(workdir / f"seed-inflight-{system}") as st:
        st.start_redis()
        st.start_openrouter(sc.llm_latency)
        hook = start_hook(st, system, throttle=1000)
        st.start_msg91(hook.url, order=sc.status_order, duplicates=0, dlr=False)
        assert st.msg91 is not None
        sim_url = st.msg91.url
        log(
            f"[seed/inflight] {system}: {customers} messages queued first, then one worker "
            f"(LLM {sc.llm_latency}, concurrency {concurrency})"
        )
        tl, ledger = Timeline(), Ledger()
        holder: list[Proc] = []

        async def go() -> dict[str, Any]:
            pool = ConnectionPool(hook.url, 100)
            poster = Poster(Target(hook.url, NUMBER, SECRET), pool, ledger, tl)
            replies = ReplyCollector(sim_url, ledger, tl)
            rate = p.inflight_post_rate
            await open_loop(poster, rate, customers / rate, customers)
            posted = time.time() - tl.started
            worker = await asyncio.to_thread(
                start_worker,
                st,
                system,
                sc,
                concurrency=concurrency,
                throttle=1000,
                window=sc.coalesce_window_seconds,
            )
            holder.append(worker)
            started = time.time() - tl.started
            sampler = Sampler(
                tl,
                _watch(st),
                lambda: progress_line(tl, f"inflight-{system}"),
                every=0.5,
                quiet=quiet,
            )
            stop = asyncio.Event()
            bg = [asyncio.create_task(replies.run(stop)), asyncio.create_task(sampler.run(stop))]
            waited = await drain(ledger, replies, p.inflight_drain_seconds)
            stop.set()
            await asyncio.gather(*bg)
            await replies.aclose()
            await pool.aclose()
            return {
                "system": system,
                "customers": customers,
                "concurrency": concurrency,
                "posted_at": posted,
                "worker_started_at": started,
                "acting_seconds": posted,
                "drain_seconds": waited,
                **_measured(tl, ledger, sampler),
            }

        result: dict[str, Any] = _run(go)
        if holder:
            result["worker_log_tail"] = _tail(holder[0].log)
        peak = inflight_peak(result)
        rss = result["peak"].get(WORKER_NAMES[system], {}).get("rss_mb", 0.0)
        log(f"[seed/inflight] {system}: peak {peak:.0f} turns in flight, worker RSS {rss:.0f} MB")
        return result


def inflight_peak(result: dict[str, Any]) -> float:
    return max((s.get("in_flight", 0.0) for s in result.get("samples", [])), default=0.0)


# --- the ledger under the scenario's crowd ------------------------------------------------------
def customers_run(
    sc: Scenario,
    system: str,
    workdir: Path,
    log: Log,
    quiet: bool,
    redis_url: str | None = None,
) -> dict[str, Any]:
    p = sc.seedstack
    short = replace(
        sc,
        customers=p.customers or sc.customers,
        duration_seconds=p.customers_seconds,
        surge_at_seconds=min(sc.surge_at_seconds, p.customers_seconds / 3),
    )
    with stack(workdir / f"seed-customers-{system}") as st:
        st.start_redis(redis_url)
        st.start_openrouter(sc.llm_latency)
        hook = start_hook(st, system, throttle=short.throttle_per_minute)
        st.start_msg91(hook.url, order=sc.status_order, duplicates=0, dlr=False)
        worker = start_worker(
            st,
            system,
            short,
            concurrency=_concurrency(short, system),
            throttle=short.throttle_per_minute,
            window=short.coalesce_window_seconds,
        )
        log(
            f"[seed/customers] {system}: {short.customers} customers for "
            f"{p.customers_seconds:.0f}s, LLM {sc.llm_latency}"
        )
        out = drive_customers(st, hook.url, short, f"customers-{system}", engine=False, quiet=quiet)
        out["system"] = system
        out["worker_log_tail"] = _tail(worker.log)
        out["webhook_log_tail"] = _tail(hook.log)
        v = out["verdict"]
        log(
            f"[seed/customers] {system}: {v['expected']} expected, {v['answered']} answered; "
            f"lost {v['lost']} duplicated {v['duplicated']} reordered {v['reordered']}"
        )
        return out
