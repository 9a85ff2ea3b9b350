"""PNG plots of one run (matplotlib, Agg backend): latency percentiles over time, throughput,
in-flight turns, CPU and RSS per process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _samples(result: dict[str, Any]) -> list[dict[str, Any]]:
    return list(result.get("samples") or [])


def _turn_rate(samples: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    ts, rates = [], []
    for prev, cur in zip(samples, samples[1:], strict=False):
        if "turns_total" in cur and "turns_total" in prev:
            dt = max(cur["t"] - prev["t"], 1e-3)
            ts.append(cur["t"])
            rates.append((cur["turns_total"] - prev["turns_total"]) / dt)
    return ts, rates


def phase_plots(result: dict[str, Any], folder: Path, prefix: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    series = result.get("series") or {}
    samples = _samples(result)
    out: list[Path] = []
    if series.get("t"):
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
        for q in (50, 95, 99):
            a1.plot(series["t"], series[f"ack_p{q}_ms"], label=f"ack p{q}")
            a2.plot(series["t"], series[f"e2e_p{q}_s"], label=f"reply p{q}")
        a1.set_ylabel("webhook ack (ms)")
        a1.set_yscale("log")
        a2.set_ylabel("end-to-end reply (s)")
        a2.set_xlabel("seconds since start")
        a1.legend()
        a2.legend()
        a1.set_title(f"{prefix}: latency percentiles per second")
        out.append(_save(fig, folder / f"{prefix}-latency.png"))

        fig, ax = plt.subplots(figsize=(10, 4))
        ax.plot(series["t"], series["ack_rate"], label="webhook POSTs/s")
        ax.plot(series["t"], series["reply_rate"], label="messages answered/s")
        ts, rates = _turn_rate(samples)
        if ts:
            ax.plot(ts, rates, label="worker turns/s")
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("per second")
        ax.legend()
        ax.set_title(f"{prefix}: throughput")
        out.append(_save(fig, folder / f"{prefix}-throughput.png"))
    if samples:
        t = [s["t"] for s in samples]
        fig, ax = plt.subplots(figsize=(10, 4))
        plotted = False
        for key, label in (("in_flight", "turns in flight"), ("jobs_in_flight", "drain jobs")):
            if any(key in s for s in samples):
                ax.plot(t, [s.get(key, 0) for s in samples], label=label)
                plotted = True
        horses = [
            sum(v.get("children", 0) for n, v in s["procs"].items() if n.startswith("rq-worker"))
            for s in samples
        ]
        if any(horses):
            ax.plot(t, horses, label="rq jobs running (work horses)")
            plotted = True
        if plotted:
            ax.set_xlabel("seconds since start")
            ax.legend()
            ax.set_title(f"{prefix}: in-flight work")
            out.append(_save(fig, folder / f"{prefix}-inflight.png"))
        else:
            plt.close(fig)
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
        names = sorted({n for s in samples for n in s["procs"]})
        for name in names:
            a1.plot(t, [s["procs"].get(name, {}).get("rss_mb", 0) for s in samples], label=name)
            a2.plot(t, [s["procs"].get(name, {}).get("cpu", 0) for s in samples], label=name)
        a1.set_ylabel("RSS (MB)")
        a2.set_ylabel("CPU (% of one core)")
        a2.set_xlabel("seconds since start")
        a1.legend(fontsize=7, ncol=3)
        a1.set_title(f"{prefix}: RSS and CPU per process")
        out.append(_save(fig, folder / f"{prefix}-resources.png"))
    return out


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
