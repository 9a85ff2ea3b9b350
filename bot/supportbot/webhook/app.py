"""The tenant's webhook FastAPI app: routes, lifespan (Redis pool), error shape, metrics.

Routes (the operator exposes the two POST paths publicly; the rest are for the cluster):

    POST /webhooks/msg91/inbound   customer messages (a status payload posted here is accepted too)
    POST /webhooks/msg91/status    delivery/read reports (a message posted here is accepted too)
    GET  /webhooks/meta            Meta's verification handshake (``hub.*``; 200 raw challenge,
                                   else 403)
    POST /webhooks/meta            Meta Cloud API messages and statuses, signed
                                   (``X-Hub-Signature-256`` over the raw body, checked first)
    GET  /healthz                  liveness: the process answers
    GET  /readyz                   readiness: Redis PING (PostgreSQL and Redis persistence are
                                   reported, not required: `readiness`; cached ~2 s); 503
    GET  /healthz/deps             every dependency's state for humans and dashboards (Redis,
                                   PostgreSQL, persistence, the provider's last send outcome:
                                   `dependencies`); always 200, ``status`` ok/degraded
    GET  /metrics                  Prometheus text format

Both POST routes take either payload family (MSG91 flat or Meta envelope) and either kind, because
MSG91's event-to-URL mapping is configured by hand per tenant and a mistake must not lose data.
The POST routes are served by `WebhookRoutes` before FastAPI's stack (`fastpath`: the hot
path); their FastAPI routes remain for other methods (405) and give the same answers if reached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import redis.asyncio as aioredis
from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from supportbot.provider.webhooks import meta_challenge
from supportbot.queueing.adapters.pipelined import PipelinedRedis
from supportbot.queueing.ingest import AcceptOutcome, Ingestor
from supportbot.settings import BotSettings
from supportbot.webhook.dependencies import DependencyProbe
from supportbot.webhook.errors import INTERNAL_ERROR_MESSAGE, error_body, error_response
from supportbot.webhook.fastpath import WebhookApp, WebhookRoutes
from supportbot.webhook.handling import Sinks, WebhookHandler
from supportbot.webhook.metrics import CONTENT_TYPE, MetricsMiddleware, WebhookMetrics
from supportbot.webhook.readiness import ReadinessProbe
from supportbot.webhook.reports import ReportStore

log = logging.getLogger(__name__)
T = TypeVar("T")

INBOUND_PATH = "/webhooks/msg91/inbound"
STATUS_PATH = "/webhooks/msg91/status"
META_PATH = "/webhooks/meta"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
DEPS_PATH = "/healthz/deps"
METRICS_PATH = "/metrics"

REDIS_POOL_WAIT_SECONDS = 2.0
"""How long a request waits for a free pooled Redis connection before answering 503."""
REDIS_CONNECT_TIMEOUT_SECONDS = 2.0
REDIS_SOCKET_TIMEOUT_SECONDS = 5.0

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def redis_pool(settings: BotSettings) -> aioredis.BlockingConnectionPool:
    """A pool that waits (bounded) for a free connection instead of failing "too many"."""
    return aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=REDIS_POOL_WAIT_SECONDS,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
        socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )


def _started(request: Request, name: str, kind: type[T]) -> T | None:
    """What the lifespan put in ``app.state.<name>``; None before it ran (or after)."""
    found = getattr(request.app.state, name, None)
    return found if isinstance(found, kind) else None


def _not_started() -> Response:
    return error_response(503, "not_ready", "the webhook has not started")


def create_app(
    settings: BotSettings,
    *,
    clock: Callable[[], float] = time.time,
    readiness_ttl: float = 2.0,
    readiness_timeout: float = 1.5,
) -> FastAPI:
    metrics = WebhookMetrics(outcomes=[o.value for o in AcceptOutcome])
    handler = WebhookHandler(settings, metrics, clock)
    meta_handler = WebhookHandler(settings, metrics, clock, meta_signed=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = redis_pool(settings)
        client = aioredis.Redis(connection_pool=pool)
        pipeline = PipelinedRedis.from_url(
            settings.redis_url,
            connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
            reply_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        )
        app.state.sinks = Sinks(
            Ingestor(client, settings, pipeline=pipeline),
            ReportStore(settings, pipeline=pipeline),
        )
        app.state.readiness = ReadinessProbe(
            client,
            settings.database_url,
            ttl=readiness_ttl,
            timeout=readiness_timeout,
            on_persistence=lambda durable: metrics.redis_durable.set(1 if durable else 0),
        )
        app.state.dependencies = DependencyProbe(
            app.state.readiness,
            client,
            settings.tenant_id,
            ttl=readiness_ttl,
            timeout=readiness_timeout,
            provider=settings.provider,
        )
        await app.state.readiness.check()  # logs at start when Redis is not durable
        log.info("webhook started", extra={"tenant": settings.tenant_id})
        try:
            yield
        finally:
            app.state.sinks = None
            await pipeline.aclose()
            await client.aclose()
            await pool.aclose()
            log.info("webhook stopped", extra={"tenant": settings.tenant_id})

    app = WebhookApp(
        title=f"supportbot webhook ({settings.tenant_id})",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Prometheus (`/metrics`) is this service's telemetry. FastAPI's built-in OpenTelemetry
        # hooks would look up the global providers (environment reads) on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )

    def sinks_of() -> Sinks | None:
        found = getattr(app.state, "sinks", None)
        return found if isinstance(found, Sinks) else None

    @app.post(INBOUND_PATH, response_model=None)
    async def inbound(request: Request) -> Response:
        reply = await handler.handle(request.scope, request.receive, sinks_of())
        return reply.response()

    @app.post(STATUS_PATH, response_model=None)
    async def status(request: Request) -> Response:
        reply = await handler.handle(request.scope, request.receive, sinks_of())
        return reply.response()

    @app.post(META_PATH, response_model=None)
    async def meta_events(request: Request) -> Response:
        reply = await meta_handler.handle(request.scope, request.receive, sinks_of())
        return reply.response()

    @app.get(META_PATH, response_model=None)
    async def meta_verification(request: Request) -> Response:
        challenge = meta_challenge(settings, request.query_params)
        if challenge is None:
            return error_response(
                403, "verification_failed", "hub.mode or hub.verify_token does not match"
            )
        return PlainTextResponse(challenge)

    @app.get(HEALTH_PATH, response_model=None)
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get(READY_PATH, response_model=None)
    async def readyz(request: Request) -> Response:
        probe = _started(request, "readiness", ReadinessProbe)
        if probe is None:
            return _not_started()
        result = await probe.check()
        if result.ready:
            return JSONResponse({"status": "ready", "checks": result.checks})
        body = {**error_body("not_ready", "a dependency is unreachable"), "checks": result.checks}
        return JSONResponse(body, status_code=503)

    @app.get(DEPS_PATH, response_model=None)
    async def dependencies(request: Request) -> Response:
        deps = _started(request, "dependencies", DependencyProbe)
        if deps is None:
            return _not_started()
        return JSONResponse((await deps.check()).as_json())

    @app.get(METRICS_PATH, response_model=None)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def internal_error(request: Request, exc: Exception) -> Response:
        # A bug, not bad input: answer in the usual shape; uvicorn still logs the traceback.
        return error_response(500, "internal_error", INTERNAL_ERROR_MESSAGE)

    async def http_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, StarletteHTTPException):
            return await internal_error(request, exc)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
    app.add_middleware(
        MetricsMiddleware,
        metrics=metrics,
        routes=[
            INBOUND_PATH,
            STATUS_PATH,
            META_PATH,
            HEALTH_PATH,
            READY_PATH,
            DEPS_PATH,
            METRICS_PATH,
        ],
        timed_routes=[INBOUND_PATH, STATUS_PATH, META_PATH],
    )
    app.webhook_routes = WebhookRoutes(
        handler=handler,
        sinks=sinks_of,
        metrics=metrics,
        paths=[INBOUND_PATH, STATUS_PATH],
        others={META_PATH: meta_handler},
    )
    # The agent API (handoff, agent replies) lives beside the webhook under /api/v1. It opens
    # its own small PostgreSQL pool lazily, so the ack path never waits on PostgreSQL.
    from supportbot.agentapi.app import mount

    mount(app, settings)
    return app
