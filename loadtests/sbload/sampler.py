"""Once a second: CPU and RSS of every process under test (psutil, children included: rq's
work horses), the worker's Prometheus gauges (turns in flight, queue depth), and a live progress
line on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

try:  # the `loadtest` extra; without it (CI smoke) processes are not sampled
    import psutil
except ImportError:  # pragma: no cover - depends on the installation
    psutil = None

from sbload.timeline import Timeline, percentile

WORKER_GAUGES = {
    "supportbot_worker_turns_in_flight": "in_flight",
    "supportbot_worker_jobs_in_flight": "jobs_in_flight",
    "supportbot_worker_queue_depth": "queue_depth",
}


@dataclass
class Watched:
    name: str
    pid: int
    metrics_url: str = ""
    children: bool = True
    """Count child processes too (rq's work horses); not for the driver, whose children are
    the processes under test."""


def parse_metrics(text: str) -> dict[str, float]:
    """The worker gauges and the total of `supportbot_worker_turns_total` from Prometheus text."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        base = name.split("{", 1)[0]
        if base in WORKER_GAUGES:
            out[WORKER_GAUGES[base]] = float(value)
        elif base == "supportbot_worker_turns_total":
            out["turns_total"] = out.get("turns_total", 0.0) + float(value)
    return out


class Sampler:
    def __init__(
        self,
        tl: Timeline,
        watched: Sequence[Watched],
        progress: Callable[[], str] | None = None,
        every: float = 1.0,
        quiet: bool = False,
    ) -> None:
        self.tl = tl
        self.watched = list(watched)
        self.progress = progress
        self.every = every
        self.quiet = quiet
        self._procs: dict[str, Any] = {}
        self._children: dict[int, Any] = {}
        self._family: dict[str, bool] = {}
        self.peak: dict[str, dict[str, float]] = {}
        for w in self.watched if psutil is not None else []:
            try:
                proc = psutil.Process(w.pid)
                proc.cpu_percent(None)
                self._procs[w.name] = proc
                self._family[w.name] = w.children
            except psutil.Error:
                continue

    def _proc_sample(self, name: str, proc: Any) -> dict[str, float]:
        try:
            kids = proc.children(recursive=True) if self._family.get(name, True) else []
            family = [proc, *kids]
        except psutil.Error:
            return {"cpu": 0.0, "rss_mb": 0.0, "children": 0}
        cpu = rss = 0.0
        for p in family:
            try:
                known = self._children.setdefault(p.pid, p) if p is not proc else proc
                cpu += known.cpu_percent(None)
                rss += p.memory_info().rss / 2**20
            except psutil.Error:
                continue
        return {"cpu": cpu, "rss_mb": rss, "children": len(family) - 1}

    async def _worker_gauges(self, http: httpx.AsyncClient) -> dict[str, float]:
        out: dict[str, float] = {}
        for w in self.watched:
            if not w.metrics_url:
                continue
            try:
                response = await http.get(w.metrics_url)
            except httpx.HTTPError:
                continue
            for key, value in parse_metrics(response.text).items():
                out[key] = out.get(key, 0.0) + value
        return out

    async def sample(self, http: httpx.AsyncClient) -> dict[str, Any]:
        row: dict[str, Any] = {"t": time.time() - self.tl.started, "procs": {}}
        for name, proc in self._procs.items():
            values = self._proc_sample(name, proc)
            row["procs"][name] = values
            peak = self.peak.setdefault(name, {"cpu": 0.0, "rss_mb": 0.0})
            peak["cpu"] = max(peak["cpu"], values["cpu"])
            peak["rss_mb"] = max(peak["rss_mb"], values["rss_mb"])
        row.update(await self._worker_gauges(http))
        self.tl.samples.append(row)
        return row

    async def run(self, stop: asyncio.Event) -> None:
        last_print = 0.0
        async with httpx.AsyncClient(timeout=2.0) as http:
            while not stop.is_set():
                await self.sample(http)
                if self.progress and not self.quiet and time.time() - last_print >= 2:
                    print(self.progress(), file=sys.stderr, flush=True)
                    last_print = time.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.every)


def progress_line(tl: Timeline, label: str, extra: Callable[[], str] = lambda: "") -> str:
    now = time.time() - tl.started
    second = int(now)
    recent = [v for s in range(second - 5, second + 1) for v in tl.acks.get(s, [])]
    e2e = [v for s in range(second - 10, second + 1) for v in tl.e2e.get(s, [])]
    last = tl.samples[-1] if tl.samples else {}
    inflight = last.get("in_flight")
    parts = [
        f"[{label}] t={now:5.0f}s",
        f"posts={sum(len(v) for v in tl.acks.values())}",
        f"ack/s={len(recent) / 6:6.0f}",
        f"ack p99={percentile(recent, 99) * 1000:6.1f}ms",
        f"replies={sum(len(v) for v in tl.e2e.values())}",
        f"e2e p50={percentile(e2e, 50):5.2f}s",
        f"in-flight={'-' if inflight is None else int(inflight)}",
        f"errors={tl.counters.get('errors', 0)}",
    ]
    return " ".join(parts) + extra()
