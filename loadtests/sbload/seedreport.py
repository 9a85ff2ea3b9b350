"""The report's section for the `seed` phase: ours vs the seed stack vs bare, a row per figure,
and comparison plots (ack p99 over the open-loop sweep, in-flight turns and worker RSS over
time, end-to-end overhead)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from sbload import plots
from sbload.report import _f, _table

COLUMNS = ("ours", "seed", "seed-nest", "bare")
LABELS = {
    "ours": "ours",
    "seed": "seed stack (Fastify)",
    "seed-nest": "seed webhook on NestJS",
    "bare": "bare FastAPI",
}
WORKERS = {"ours": "worker", "seed": "seed-worker"}


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _verdict_cell(run: Any) -> str:
    v = _get(run, "verdict")
    if not v:
        return "-"
    return f"{v['lost']} / {v['duplicated']} / {v['reordered']} (of {v['expected']})"


def _peak_in_flight(run: Any) -> float | None:
    samples = _get(run, "samples")
    if not samples:
        return None
    return float(max((s.get("in_flight", 0.0) for s in samples), default=0.0))


def _last_reply_s(run: Any) -> float | None:
    """Seconds from the worker's start to the last answer (the inflight runs)."""
    series = _get(run, "series")
    started = _get(run, "worker_started_at")
    if not series or started is None:
        return None
    ts = [t for t, n in zip(series.get("t", []), series.get("reply_rate", []), strict=False) if n]
    return float(max(ts) - started) if ts else None


def rows(seed: dict[str, Any]) -> list[list[Any]]:
    """A row per figure: [figure, ours, seed stack, bare]."""
    out: list[list[Any]] = []
    ack = seed.get("ack") or {}
    closed = ack.get("closed") or {}
    if closed:
        out.append(
            ["webhook req/s, closed loop, 100 connections (wrk)"]
            + [_f(_get(closed, s, "req_per_s"), 0) for s in COLUMNS]
        )
        out.append(
            ["ack p50 / p99 (ms), closed loop"]
            + [
                f"{_f(_get(closed, s, 'p50_ms'))} / {_f(_get(closed, s, 'p99_ms'))}"
                if s in closed
                else "-"
                for s in COLUMNS
            ]
        )
        out.append(
            ["server CPU per request (µs), closed loop"]
            + [_f(_get(closed, s, "cpu_per_request_us"), 0) for s in COLUMNS]
        )
    for point in ack.get("sweep") or []:
        rate = next((v.get("rate") for v in point.values()), 0)
        out.append(
            [f"ack p50 / p99 (ms), open loop {rate:.0f} req/s over 100 connections"]
            + [
                f"{_f(_get(point, s, 'p50_ms'))} / {_f(_get(point, s, 'p99_ms'))}"
                if s in point
                else "-"
                for s in COLUMNS
            ]
        )
    for rate, runs in (seed.get("overhead") or {}).items():
        if "failed" in runs:
            continue
        out.append(
            [f"turns/s per CPU-second (webhook + worker), 0 ms LLM, {rate} msg/s"]
            + [_f(_get(runs, s, "turns_per_cpu_second"), 0) for s in COLUMNS]
        )
        out.append(
            [f"... including Redis's CPU, {rate} msg/s"]
            + [_f(_get(runs, s, "turns_per_cpu_second_with_redis"), 0) for s in COLUMNS]
        )
        out.append(
            [f"end-to-end overhead p50 / p99 (ms), 0 ms LLM, {rate} msg/s"]
            + [
                f"{_f(_get(runs, s, 'summary', 'e2e', 'p50_ms'))} / "
                f"{_f(_get(runs, s, 'summary', 'e2e', 'p99_ms'))}"
                if s in runs
                else "-"
                for s in COLUMNS
            ]
        )
        out.append(
            [f"lost / duplicated / reordered, {rate} msg/s"]
            + [_verdict_cell(runs.get(s)) for s in COLUMNS]
        )
    inflight = seed.get("inflight") or {}
    if inflight and "failed" not in inflight:
        n = next((r.get("customers") for r in inflight.values() if isinstance(r, dict)), "?")
        out.append(
            [f"peak turns in flight, one worker process, {n} queued conversations"]
            + [_f(_peak_in_flight(inflight.get(s)), 0) for s in COLUMNS]
        )
        out.append(
            ["worker RSS peak (MB) at that load"]
            + [_f(_get(inflight, s, "peak", WORKERS.get(s, "-"), "rss_mb"), 0) for s in COLUMNS]
        )
        out.append(
            ["worker start -> last answer (s)"]
            + [_f(_last_reply_s(inflight.get(s))) for s in COLUMNS]
        )
        out.append(
            ["lost / duplicated / reordered (in-flight run)"]
            + [_verdict_cell(inflight.get(s)) for s in COLUMNS]
        )
    customers = seed.get("customers") or {}
    if customers and "failed" not in customers:
        out.append(
            ["**lost / duplicated / reordered**, the scenario's crowd (bursts, taps, duplicates)"]
            + [_verdict_cell(customers.get(s)) for s in COLUMNS]
        )
        out.append(
            ["end-to-end reply p50 / p99 (s), the crowd"]
            + [
                f"{_f(_get(customers, s, 'summary', 'e2e', 'p50_ms') / 1000, 2)} / "
                f"{_f(_get(customers, s, 'summary', 'e2e', 'p99_ms') / 1000, 2)}"
                if _get(customers, s, "summary", "e2e", "p99_ms") is not None
                else "-"
                for s in COLUMNS
            ]
        )
    return out


def section(seed: dict[str, Any], folder: Path, name: str) -> list[str]:
    out = ["## Ours vs the seed stack vs bare", ""]
    versions = seed.get("versions") or {}
    out += [
        "Seed stack: `loadtests/seedstack/` (Fastify webhook with the same secret check, SET NX "
        "de-duplication and per-customer throttle; one Bull job per message; a Bull worker "
        "calling the OpenRouter simulator then the MSG91 simulator). Ours: `supportbot webhook` "
        "+ `supportbot worker --handler llm-echo` (the same two upstream requests per turn). "
        "Same simulators, Redis, driver and ledger; systems run one after the other on the same "
        "shared cores."
        + (
            " Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."
            if versions
            else ""
        ),
        "",
    ]
    for part in ("ack", "overhead", "inflight", "customers"):
        failed = _get(seed, part, "failed")
        if failed:
            out += [f"- `{part}` FAILED: {failed}", ""]
    table = rows(seed)
    if table:
        out += _table(["figure", *(LABELS[c] for c in COLUMNS)], table)
    for path in comparison_plots(seed, folder / name):
        out += [f"![{path.stem}]({name}/{path.name})", ""]
    for system in seed.get("systems") or []:
        run = _get(seed, "inflight", system)
        if isinstance(run, dict) and "samples" in run:
            for path in plots.phase_plots(run, folder / name, f"seed-inflight-{system}"):
                out += [f"![{path.stem}]({name}/{path.name})", ""]
    return out


def comparison_plots(seed: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    sweep = _get(seed, "ack", "sweep") or []
    if sweep:
        fig, ax = plt.subplots(figsize=(8, 4))
        for s in COLUMNS:
            pts = [(p[s]["rate"], p[s].get("p99_ms", math.nan)) for p in sweep if s in p]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=LABELS[s])
        ax.set_xlabel("open-loop rate (req/s), 100 connections")
        ax.set_ylabel("ack p99 (ms)")
        ax.set_yscale("log")
        ax.legend()
        ax.set_title("webhook ack p99 vs arrival rate")
        out.append(plots._save(fig, folder / "seed-ack-sweep.png"))
    inflight = seed.get("inflight") or {}
    series = {s: r for s, r in inflight.items() if isinstance(r, dict) and r.get("samples")}
    if series:
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
        for s, run in series.items():
            t = [x["t"] - run.get("worker_started_at", 0.0) for x in run["samples"]]
            a1.plot(t, [x.get("in_flight", 0) for x in run["samples"]], label=LABELS[s])
            rss = [x["procs"].get(WORKERS[s], {}).get("rss_mb", 0) for x in run["samples"]]
            a2.plot(t, rss, label=LABELS[s])
        a1.set_ylabel("turns in flight")
        a2.set_ylabel("worker RSS (MB)")
        a2.set_xlabel("seconds since the worker started")
        a1.legend()
        a1.set_title("queued conversations taken by one worker process")
        out.append(plots._save(fig, folder / "seed-inflight.png"))
    overhead = seed.get("overhead") or {}
    rates = [r for r, runs in overhead.items() if "failed" not in runs]
    if rates:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        width = 0.35
        for i, s in enumerate(("ours", "seed")):
            xs = [n + i * width for n in range(len(rates))]
            p99 = [_get(overhead, r, s, "summary", "e2e", "p99_ms") or 0 for r in rates]
            tpc = [_get(overhead, r, s, "turns_per_cpu_second") or 0 for r in rates]
            a1.bar(xs, p99, width, label=LABELS[s])
            a2.bar(xs, tpc, width, label=LABELS[s])
        for ax in (a1, a2):
            ax.set_xticks([n + width / 2 for n in range(len(rates))], [f"{r} msg/s" for r in rates])
            ax.legend()
        a1.set_ylabel("end-to-end overhead p99 (ms)")
        a1.set_yscale("log")
        a2.set_ylabel("turns/s per CPU-second")
        a1.set_title("0 ms LLM")
        out.append(plots._save(fig, folder / "seed-overhead.png"))
    return out
