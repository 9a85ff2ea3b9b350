"""`supportbot webhook`: settings errors exit 2; a real uvicorn process serves and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from supportbot.settings import ENV_PREFIX
from supportbot.webhook import server, testing as t
from supportbot.webhook.app import HEALTH_PATH, INBOUND_PATH, READY_PATH


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_bad_settings_exit_2_naming_the_variables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) or name in {"REDIS_URL", "DATABASE_URL", "MSG91_SENDER_ID"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("SUPPORTBOT_WEBHOOK_SECRET", "do-not-print-me")
    assert server.main([]) == 2
    err = capsys.readouterr().err
    assert "SUPPORTBOT_TENANT_ID" in err and "SUPPORTBOT_REDIS_URL" in err
    assert "do-not-print-me" not in err


def test_default_limit_concurrency() -> None:
    assert server.default_limit_concurrency(64) == 256
    assert server.default_limit_concurrency(4) == 64


def wait_until_serving(base: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"webhook exited early with {proc.returncode}")
        try:
            if httpx.get(base + HEALTH_PATH, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("webhook did not start serving")


@pytest.mark.slow
def test_real_process_serves_and_shuts_down_gracefully(redis_url: str, database_url: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        **t.settings_env(redis_url, database_url, port=port, log_level="INFO"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "supportbot.cli", "webhook", "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, proc)
        with httpx.Client(base_url=base, timeout=5.0) as client:
            assert client.get(READY_PATH).status_code == 200
            body = t.encode(t.msg91_text("over real HTTP"))
            response = client.post(INBOUND_PATH, content=body, headers=t.headers())
            assert response.status_code == 200 and response.json()["status"] == "accepted"
            assert "server" not in response.headers
            denied = client.post(INBOUND_PATH, content=body, headers=t.headers("nope"))
            assert denied.status_code == 401
        proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises the captured signal after its graceful shutdown.
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _, stderr = proc.communicate()
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.strip()]
    messages = [rec["msg"] for rec in lines]
    assert "webhook started" in messages
    assert "webhook stopped" in messages  # the lifespan shutdown ran to its end
    assert all({"ts", "level", "logger", "msg"} <= set(rec) for rec in lines)
    assert t.SECRET not in stderr.decode()
    assert t.CUSTOMER not in stderr.decode()


def test_a_short_jwt_secret_stops_the_process_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in t.settings_env(
        "redis://127.0.0.1:1/0", "postgresql://x@127.0.0.1:1/x"
    ).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SUPPORTBOT_JWT_SECRET", "short-secret-do-not-print")
    assert server.main([]) == 2
    err = capsys.readouterr().err
    assert "SUPPORTBOT_JWT_SECRET" in err and "32 bytes" in err
    assert "short-secret-do-not-print" not in err
