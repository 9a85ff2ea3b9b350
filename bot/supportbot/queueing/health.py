"""The worker's small HTTP side: `/metrics` (every registry of the process) and `/healthz`.

`/healthz` is 200 while the worker's heartbeat loop keeps completing round trips to Redis, and
503 once the last one is older than `max_heartbeat_age` (a wedged event loop or lost Redis), so
the kubelet restarts a worker that stopped working rather than one that merely idles. The body's
second line says how durable Redis is (`persistence`; informational, never a failure).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from supportbot.queueing.metrics import WorkerMetrics
from supportbot.settings import BotSettings

STARTUP_GRACE_SECONDS = 60.0


def max_heartbeat_age(settings: BotSettings) -> float:
    """Three missed heartbeats (10 s apart), at least the lease, before we call it dead."""
    return max(30.0, settings.lease_seconds)


class _Both(Collector):
    """The worker's own registry plus the process-wide default one (engine, LLM, MSG91...)."""

    def __init__(self, own: CollectorRegistry) -> None:
        self.own = own

    def collect(self) -> Iterable[Metric]:
        yield from self.own.collect()
        yield from REGISTRY.collect()


def healthy(metrics: WorkerMetrics, started: float, max_age: float, now: float) -> bool:
    last = metrics.heartbeat_at
    if last == 0:
        return now - started < STARTUP_GRACE_SECONDS
    return now - last < max_age


def serve(
    metrics: WorkerMetrics, *, port: int, addr: str, max_heartbeat_age: float
) -> ThreadingHTTPServer:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Both(metrics.registry))
    started = time.time()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/healthz":
                ok = healthy(metrics, started, max_heartbeat_age, time.time())
                detail = f"redis persistence: {metrics.redis_persistence}\n"
                text = ("ok\n" if ok else "heartbeat stale\n") + detail
                self._send(200 if ok else 503, text.encode(), "text/plain")
            elif self.path.split("?")[0] == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer((addr, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
