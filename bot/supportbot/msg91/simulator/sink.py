"""A webhook sink: a tiny bot stand-in that records what the simulator POSTs to it.

Serves ``POST /webhooks/msg91/inbound`` and ``POST /webhooks/msg91/status`` on loopback inside
the caller's event loop (uvicorn), answering `status_code`; an optional `on_status` callback sees
each delivery report body. For tests and manual checks of the simulator's emitted payloads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from supportbot import asgiserver
from supportbot.msg91.simulator.config import INBOUND_PATH, STATUS_PATH
from supportbot.msg91.simulator.process import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes


@dataclass
class Sink:
    url: str
    requests: list[Received] = field(default_factory=list)
    status_code: int = 200
    on_status: Callable[[Any], Awaitable[None]] | None = None

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    @property
    def inbound(self) -> list[Received]:
        return self.on(INBOUND_PATH)

    @property
    def statuses(self) -> list[Received]:
        return self.on(STATUS_PATH)

    async def wait_for(self, count: int, path: str | None = None, wait: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while len(self.on(path) if path else self.requests) < count:
            if loop.time() > deadline:
                raise AssertionError(f"sink saw {len(self.requests)} POSTs, wanted {count}")
            await asyncio.sleep(0.02)


@asynccontextmanager
async def run_sink(host: str = "127.0.0.1", port: int | None = None) -> AsyncIterator[Sink]:
    port = port or free_port(host)
    sink = Sink(url=f"http://{host}:{port}")

    async def hook(request: Request) -> JSONResponse:
        raw = await request.body()
        body = json.loads(raw)
        sink.requests.append(Received(request.url.path, dict(request.headers), body, raw))
        if request.url.path == STATUS_PATH and sink.on_status is not None:
            await sink.on_status(body)
        return JSONResponse({"ok": True}, status_code=sink.status_code)

    app = Starlette(
        routes=[
            Route(INBOUND_PATH, hook, methods=["POST"]),
            Route(STATUS_PATH, hook, methods=["POST"]),
        ]
    )
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", ws="none"
    )
    async with asgiserver.serving(config, name="the webhook sink"):
        yield sink
