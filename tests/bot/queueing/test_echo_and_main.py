"""The echo handler (MSG91 send, idempotent on turn_id) and `supportbot worker` start-up."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import Turn
from supportbot.queueing.adapters.pipelined import PipelinedRedis
from supportbot.queueing.echo import (
    OUTBOUND_PATH,
    SLOW_DOWN_TEXT,
    EchoHandler,
    EchoSendError,
    echo_text,
)
from supportbot.queueing.handler_factory import ECHO_HANDLER, HandlerSpecError, load_factory
from supportbot.queueing.ingest import Ingestor
from supportbot.queueing.main import main
from supportbot.queueing.testing import (
    TENANT,
    WorkerProcess,
    make_message,
    settings_env,
    wait_until,
)
from supportbot.settings import BotSettings

SettingsFactory = Callable[..., BotSettings]


class Sink:
    """A loopback MSG91 stand-in that records POSTs and answers with `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.status = 200
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.requests.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(sink.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status":"success"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    thread = threading.Thread(target=s.server.serve_forever, daemon=True)
    thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()


def _turn(*texts: str, throttled: bool = False, notice: bool = False) -> Turn:
    msgs = tuple(
        dataclasses.replace(
            make_message("919890000001", i, text=t),
            throttled=throttled or notice,
            throttle_notice=notice,
        )
        for i, t in enumerate(texts)
    )
    return Turn("tabc", TENANT, "919890000001", msgs)


def test_echo_text_skips_throttled_and_notifies_once() -> None:
    assert echo_text(_turn("hi", "there")) == "hi\nthere"
    assert echo_text(_turn("spam", throttled=True)) is None
    assert echo_text(_turn("spam", notice=True)) == SLOW_DOWN_TEXT


async def test_echo_sends_once_per_turn(
    aredis: aioredis.Redis, sink: Sink, make_settings: SettingsFactory
) -> None:
    settings = make_settings(msg91_base_url=sink.url, msg91_auth_key="k-123")
    async with httpx.AsyncClient() as http:
        handler = EchoHandler(settings, aredis, http)
        turn = _turn("hello", "world")
        await handler.handle_turn(turn)
        await handler.handle_turn(Turn(turn.turn_id, TENANT, turn.customer_id, turn.messages, 2))
    assert len(sink.requests) == 1
    path, headers, body = sink.requests[0]
    assert path == OUTBOUND_PATH
    assert headers["authkey"] == "k-123"
    assert body == {
        "integrated_number": "919100000001",
        "recipient_number": "919890000001",
        "content_type": "text",
        "text": "hello\nworld",
    }
    assert await aredis.get(keyspace.sent_key(TENANT, "tabc")) == b"sent"


async def test_failed_send_raises_and_a_retry_sends_again(
    aredis: aioredis.Redis, sink: Sink, make_settings: SettingsFactory
) -> None:
    settings = make_settings(msg91_base_url=sink.url)
    async with httpx.AsyncClient() as http:
        handler = EchoHandler(settings, aredis, http)
        sink.status = 500
        with pytest.raises(EchoSendError):
            await handler.handle_turn(_turn("hello"))
        assert await aredis.get(keyspace.sent_key(TENANT, "tabc")) is None
        sink.status = 200
        await handler.handle_turn(_turn("hello"))
    assert len(sink.requests) == 2
    assert "authkey" not in sink.requests[1][1]


def test_handler_specs_are_validated() -> None:
    assert callable(load_factory("supportbot.queueing.testing:recording_handler"))
    for bad in ("nocolon", "no.such.module:f", "supportbot.queueing.echo:nothing_here"):
        with pytest.raises(HandlerSpecError):
            load_factory(bad)


def test_worker_main_exits_2_on_bad_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("SUPPORTBOT_") or name in {"REDIS_URL", "DATABASE_URL"}:
            monkeypatch.delenv(name)
    assert main([]) == 2
    assert "SUPPORTBOT_TENANT_ID" in capsys.readouterr().err


def test_worker_main_exits_2_on_bad_handler(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in settings_env(redis_url).items():
        monkeypatch.setenv(name, value)
    assert main(["--handler", "nope:nothing", "--no-metrics"]) == 2
    assert "cannot import handler module" in capsys.readouterr().err


async def test_worker_process_with_echo_handler_replies(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    sink: Sink,
    workers: Callable[..., WorkerProcess],
    make_settings: SettingsFactory,
) -> None:
    knobs = {"msg91_base_url": sink.url, "coalesce_window_seconds": 0.2}
    workers(handler=ECHO_HANDLER, **knobs)
    ingestor = Ingestor(aredis, make_settings(**knobs), pipeline=pipelined)
    await ingestor.accept(make_message("919890000002", 0, text="ping"), b"{}")
    await ingestor.accept(make_message("919890000002", 1, text="pong"), b"{}")

    async def replied() -> bool:
        return bool(sink.requests) and int(await aredis.scard(keyspace.active_key(TENANT))) == 0

    await wait_until(replied, 30, "the echo")
    assert [r[2]["text"] for r in sink.requests] == ["ping\npong"]
    assert sink.requests[0][2]["recipient_number"] == "919890000002"
