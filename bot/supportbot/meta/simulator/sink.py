"""A webhook sink: a tiny bot stand-in for the Meta simulator's webhooks.

Serves `WEBHOOK_PATH` on loopback inside the caller's event loop (uvicorn): ``GET`` answers the
verification handshake with `verification_challenge` (200 + challenge, else 403); ``POST``
checks ``X-Hub-Signature-256`` over the raw body with `verify_signature` BEFORE parsing, records
the request with the verdict, and answers 200 (401 on a bad signature when `reject_unsigned`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from supportbot import asgiserver
from supportbot.meta.signature import SIGNATURE_HEADER, verification_challenge, verify_signature
from supportbot.meta.simulator.config import WEBHOOK_PATH


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes
    signature_ok: bool
    body: Any


@dataclass
class Sink:
    url: str
    """The callback URL (base + `WEBHOOK_PATH`)."""
    app_secret: str
    verify_token: str
    requests: list[Received] = field(default_factory=list)
    handshakes: list[dict[str, str]] = field(default_factory=list)
    reject_unsigned: bool = True

    async def wait_for(self, count: int, wait: float = 10.0) -> list[Received]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while len(self.requests) < count:
            if loop.time() > deadline:
                raise AssertionError(f"sink saw {len(self.requests)} POSTs, wanted {count}")
            await asyncio.sleep(0.02)
        return self.requests


@asynccontextmanager
async def run_sink(
    app_secret: str, verify_token: str, host: str = "127.0.0.1"
) -> AsyncIterator[Sink]:
    sock = asgiserver.bind(host)
    sink = Sink(asgiserver.url_of(sock) + WEBHOOK_PATH, app_secret, verify_token)

    async def hook(request: Request) -> Response:
        if request.method == "GET":
            params = dict(request.query_params)
            sink.handshakes.append(params)
            challenge = verification_challenge(params, sink.verify_token)
            if challenge is None:
                return PlainTextResponse("forbidden", status_code=403)
            return PlainTextResponse(challenge)
        raw = await request.body()
        ok = verify_signature(sink.app_secret, raw, request.headers.get(SIGNATURE_HEADER))
        body = json.loads(raw) if ok else None
        sink.requests.append(Received(dict(request.headers), raw, ok, body))
        if not ok and sink.reject_unsigned:
            return JSONResponse({"ok": False}, status_code=401)
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route(WEBHOOK_PATH, hook, methods=["GET", "POST"])])
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none")
    async with asgiserver.serving(config, sock, name="the Meta webhook sink"):
        yield sink
