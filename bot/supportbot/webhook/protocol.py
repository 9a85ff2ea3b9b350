"""uvicorn's httptools protocol with request deadlines, a request cap and a connection cap.

`protocol_class` binds `ConnectionLimits` to a subclass of uvicorn's `HttpToolsProtocol` (passed
as ``http=`` to `uvicorn.Config`, on uvloop as before). Per connection it keeps one timer:

- armed when the connection opens, and when the first byte after a finished request arrives;
  later bytes never move it (moving it on every byte is what lets a slowloris live forever);
- when it fires before the head is complete: the connection is closed, after a 408 if the client
  had sent anything (a silent idle connection is just closed);
- when it fires during the body: re-armed for the rest of `request_timeout`, then 408 and close;
- cancelled when the request's last byte arrives (the app's own time-outs bound the rest).

Between requests uvicorn's keep-alive timer (``timeout_keep_alive``) runs as before; it is
restarted when a body ends after the app already answered (uvicorn leaves it cancelled then).

Requests beyond `max_requests` running at once are answered 503 with ``Retry-After`` and the
connection is closed (uvicorn's own ``limit_concurrency``, which counts connections, stays off).
Past `max_connections` open connections each new one closes the connection that has waited
longest without a request in the app (`WaitingConnections`), so silent clients can neither
exhaust descriptors nor lock providers out.

Hot-path cost per request: one timer handle and a few attribute updates.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

from supportbot.webhook.connections import (
    RETRY_AFTER_SECONDS,
    ConnectionLimits,
    IncidentLog,
    WaitingConnections,
)
from supportbot.webhook.errors import error_body


def _json_error(status: int, code: str, message: str, *extra: tuple[bytes, bytes]) -> bytes:
    body = json.dumps(error_body(code, message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *extra,
    ]
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return STATUS_LINE[status] + head + b"\r\n" + body


REQUEST_TIMEOUT_RESPONSE = _json_error(
    408, "request_timeout", "the request was not received in time"
)
OVERLOADED_STATUS = 503
OVERLOADED_HEADERS = [
    (b"content-type", b"application/json"),
    (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
    (b"connection", b"close"),
]
OVERLOADED_BODY = json.dumps(
    error_body("overloaded", "too many requests in progress; retry shortly")
).encode()


async def overloaded(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """The ASGI app run instead of the webhook for a request beyond the cap: 503, close."""
    await send(
        {"type": "http.response.start", "status": OVERLOADED_STATUS, "headers": OVERLOADED_HEADERS}
    )
    await send({"type": "http.response.body", "body": OVERLOADED_BODY})


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` enforcing `limits`; use a class from `protocol_class`."""

    limits: ClassVar[ConnectionLimits]
    waiting: ClassVar[WaitingConnections[GuardedHttpToolsProtocol]]
    incidents: ClassVar[IncidentLog]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._deadline: asyncio.TimerHandle | None = None
        self._started = 0.0
        """When the current request's clock started (`loop.time()`)."""
        self._received = False
        """Whether any byte arrived since the clock started."""
        self._head_done = False
        """Whether the current request's head is complete."""

    # Connection lifetime.

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        self.waiting.add(self)
        if len(self.connections) > self.limits.max_connections:
            oldest = self.waiting.pop_oldest()
            if oldest is not None:
                self.incidents.record("evicted", self.loop.time())
                oldest.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._disarm()
        self.waiting.discard(self)

    # Request progress (parser callbacks run inside data_received).

    def data_received(self, data: bytes) -> None:
        if self._deadline is None:
            self._arm()
        self._received = True
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head_done = True
        self.waiting.discard(self)
        if len(self.tasks) < self.limits.max_requests:
            super().on_headers_complete()
            return
        # Over the cap: this request runs `overloaded` instead. uvicorn takes the request's app
        # from `self.app` here (in every release since 0.34; a private hook came only later).
        self.incidents.record("shed", self.loop.time())
        app, self.app = self.app, overloaded
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
        if (
            self.cycle.response_complete
            and self.timeout_keep_alive_task is None
            and not self.transport.is_closing()
        ):
            # The app answered before the body ended, and the body's bytes cancelled uvicorn's
            # keep-alive timer: the connection is idle from now on, so restart it.
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # idle: nothing pipelined, not closing
            self.waiting.add(self)

    # The deadline.

    def _arm(self) -> None:
        self._started = self.loop.time()
        self._received = False
        self._head_done = False
        self._deadline = self.loop.call_at(
            self._started + self.limits.header_timeout, self._on_deadline
        )

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _on_deadline(self) -> None:
        self._deadline = None
        transport = self.transport
        if transport.is_closing():
            return
        if self._head_done:
            end = self._started + self.limits.request_timeout
            if self.loop.time() < end:
                self._deadline = self.loop.call_at(end, self._on_deadline)
                return
            self.incidents.record("request_timeout", self.loop.time())
            cycle: RequestResponseCycle | None = self.cycle
            if cycle is not None and not cycle.response_started:
                transport.write(REQUEST_TIMEOUT_RESPONSE)
        elif self._received:
            self.incidents.record("header_timeout", self.loop.time())
            cycle = self.cycle
            if cycle is None or cycle.response_complete:  # no earlier answer still to come
                transport.write(REQUEST_TIMEOUT_RESPONSE)
        else:
            self.incidents.record("idle_timeout", self.loop.time())
        transport.close()


def protocol_class(limits: ConnectionLimits) -> type[GuardedHttpToolsProtocol]:
    """A protocol class for one server: `limits`, with its own waiting set and incident log."""

    class BoundProtocol(GuardedHttpToolsProtocol):
        pass

    BoundProtocol.limits = limits
    BoundProtocol.waiting = WaitingConnections()
    BoundProtocol.incidents = IncidentLog()
    return BoundProtocol
