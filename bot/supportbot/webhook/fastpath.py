"""Pure ASGI serving of the webhook POST routes, ahead of FastAPI's own stack.

Providers post every message and delivery report here, so this path is the webhook's hot path.
`WebhookApp` (a `FastAPI`) hands ``POST`` on the webhook paths to `WebhookRoutes` before its
middleware stack, router, `Request`, dependency solving and response classes: the handler reads
the ASGI scope and body, and the reply goes out as two ASGI messages. Any other method or path (a
``GET`` on a webhook path answers 405 there) goes through FastAPI as usual.

`WebhookRoutes` does for these requests what the skipped layers did: it counts and times them
(the same series `MetricsMiddleware` writes for every other route), and like Starlette's
`ServerErrorMiddleware` it answers an unexpected exception with the usual 500 JSON body and
re-raises it, so the server logs the traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from supportbot.webhook.errors import INTERNAL_ERROR_MESSAGE, error_body
from supportbot.webhook.handling import Reply, Sinks, WebhookHandler
from supportbot.webhook.metrics import WebhookMetrics

INTERNAL_ERROR = Reply.json(500, error_body("internal_error", INTERNAL_ERROR_MESSAGE))


class WebhookRoutes:
    """Serves ``POST`` on `paths` with `handler` (and on the paths of `others` with theirs: the
    Meta route's signature-checking handler), recording metrics."""

    def __init__(
        self,
        *,
        handler: WebhookHandler,
        sinks: Callable[[], Sinks | None],
        metrics: WebhookMetrics,
        paths: Iterable[str],
        others: Mapping[str, WebhookHandler] | None = None,
    ) -> None:
        self._handlers = dict.fromkeys(paths, handler) | dict(others or {})
        self._sinks = sinks
        self._metrics = metrics
        self._paths = frozenset(self._handlers)

    def claims(self, scope: Scope) -> bool:
        return (
            scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self._paths
        )

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: str = scope["path"]
        started = time.perf_counter()
        try:
            reply = await self._handlers[route].handle(scope, receive, self._sinks())
        except Exception:
            await self._send(send, route, INTERNAL_ERROR, None)
            raise
        await self._send(send, route, reply, started)

    async def _send(self, send: Send, route: str, reply: Reply, started: float | None) -> None:
        status = reply.status
        try:
            if started is not None:
                self._metrics.ack(route, time.perf_counter() - started)
            await send({"type": "http.response.start", "status": status, "headers": reply.headers})
            await send({"type": "http.response.body", "body": reply.body})
        finally:
            self._metrics.request(route, status)


class WebhookApp(FastAPI):
    """A FastAPI app whose webhook POSTs are served by `webhook_routes` (when set) directly."""

    webhook_routes: WebhookRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        routes = self.webhook_routes
        if routes is not None and routes.claims(scope):
            await routes.serve(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
