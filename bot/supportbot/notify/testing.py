"""A business's handoff webhook for tests and demos: a real HTTP server (uvicorn in this loop,
`asgiserver`) that records every request (headers, raw body), checks its signature with
`signing.verify`, and answers from a script (default 200).

    receiver = Receiver(secret)
    async with receiver.serving() as url:   # or serving(port=...) to come back after an outage
        receiver.answer(500, (429, {"Retry-After": "1"}), 200)
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from supportbot import asgiserver
from supportbot.notify import signing

Response = int | tuple[int, dict[str, str]]


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes
    status: int
    """What the receiver answered."""
    signed: bool
    """The signature and timestamp checked out (`signing.verify`, 5 min tolerance)."""

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.requests: list[Received] = []
        self._script: deque[Response] = deque()

    def answer(self, *responses: Response) -> None:
        """Answer the next requests with these (a status, or a status and headers)."""
        self._script.extend(responses)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scripted = self._script.popleft() if self._script else 200
        status, extra = scripted if isinstance(scripted, tuple) else (scripted, {})
        signed = signing.verify(
            self.secret,
            headers.get(signing.SIGNATURE_HEADER.lower()),
            headers.get(signing.TIMESTAMP_HEADER.lower()),
            body,
            now=time.time(),
        )
        self.requests.append(Received(headers, body, status, signed))
        reply = [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": reply})
        await send({"type": "http.response.body", "body": b"{}"})

    @asynccontextmanager
    async def serving(self, port: int = 0) -> AsyncIterator[str]:
        """Serve on 127.0.0.1:`port` (0: a free one); yields the webhook URL."""
        sock = asgiserver.bind("127.0.0.1", port)
        config = uvicorn.Config(
            self,
            log_level="warning",
            lifespan="off",
            ws="none",
            http="h11",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        url = asgiserver.url_of(sock) + "/hooks/handoff"
        async with asgiserver.serving(config, sock, name="handoff receiver"):
            yield url


def free_port() -> int:
    """A loopback port nothing listens on (yet): a receiver that is down."""
    sock = asgiserver.bind("127.0.0.1")
    try:
        port: int = sock.getsockname()[1]
        return port
    finally:
        sock.close()
