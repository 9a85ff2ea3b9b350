"""The worker's /healthz reflects its heartbeat loop; /metrics exports every registry."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client import Counter

from supportbot.queueing import health
from supportbot.queueing.metrics import WorkerMetrics
from supportbot_dev.procs import free_port


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_healthy_tracks_heartbeat_age() -> None:
    m = WorkerMetrics()
    assert health.healthy(m, started=1000.0, max_age=30, now=1010.0), "startup grace"
    assert not health.healthy(m, started=1000.0, max_age=30, now=1000.0 + 61), "no beat in 60 s"
    m.heartbeat_at = 2000.0
    assert health.healthy(m, started=1000.0, max_age=30, now=2029.0)
    assert not health.healthy(m, started=1000.0, max_age=30, now=2031.0)


def test_http_endpoints() -> None:
    m = WorkerMetrics()
    m.beat()
    engine_counter = Counter("supportbot_test_engine_side_total", "a default-registry metric")
    engine_counter.inc()
    port = free_port()
    server = health.serve(m, port=port, addr="127.0.0.1", max_heartbeat_age=30)
    try:
        assert _get(port, "/healthz") == (200, "ok\nredis persistence: not checked yet\n")
        code, text = _get(port, "/metrics")
        assert code == 200
        assert "supportbot_worker_turns_in_flight" in text
        assert "supportbot_test_engine_side_total 1.0" in text
        assert _get(port, "/nope")[0] == 404
        m.heartbeat_at = 1.0
        assert _get(port, "/healthz")[0] == 503
    finally:
        server.shutdown()
        server.server_close()
