"""The agent API as an ASGI app: standalone (`create_app`) or mounted into the webhook (`mount`).

    from supportbot import agentapi
    agentapi.mount(app, settings)          # in webhook.app.create_app, before returning app

serves the API under ``/api/v1`` with its OpenAPI document at ``/api/v1/openapi.json`` and
Swagger UI at ``/api/v1/docs``. The mounted sub-application's resources (PostgreSQL pool, Redis
client, MSG91 client + `Deliverer`) are opened by the host app's lifespan, which `mount` wraps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import redis.exceptions as redis_errors
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request

from supportbot.agentapi.routes import AgentResources, ApiError, create_router
from supportbot.outbound import open_delivery
from supportbot.settings import BotSettings
from supportbot.storage.db import create_pool

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
REDIS_POOL_WAIT_SECONDS = 5.0
API_POOL_MAX = 5
"""The API's own PostgreSQL pool is small: agents are few next to customers."""


def error_response(error: ApiError) -> JSONResponse:
    detail = {"code": error.code, "message": error.message}
    if error.field is not None:
        detail["field"] = error.field
    return JSONResponse({"error": detail}, status_code=error.status, headers=error.headers)


MAX_REPORTED_ERRORS = 5


def invalid_request(errors: Sequence[Any]) -> ApiError:
    """A 422 naming the invalid inputs (``query.before_id: Input should be ...``); the inputs
    themselves are never echoed (they may be personal data, or the NUL that was refused)."""
    described: list[tuple[str, str]] = []
    for found in errors[:MAX_REPORTED_ERRORS]:
        where = ".".join(str(part) for part in found.get("loc", ())) or "request"
        described.append((where, str(found.get("msg", "invalid"))))
    if not described:
        described.append(("request", "invalid"))
    message = "; ".join(f"{where}: {msg}" for where, msg in described)
    return ApiError(422, "invalid_request", message, field=described[0][0])


UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
)
"""A dependency (PostgreSQL, Redis) is unreachable: 503, the client may retry."""


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("agent API dependency unavailable", extra={"error": type(exc).__name__})
        return error_response(
            ApiError(503, "dependency_unavailable", "the database or Redis is unreachable")
        )

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(invalid_request(exc.errors()))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)  # unknown route, wrong method, unreadable body
        code = "not_found" if exc.status_code == 404 else f"http_{exc.status_code}"
        headers = dict(exc.headers) if exc.headers else None
        return error_response(ApiError(exc.status_code, code, str(exc.detail), headers))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, unavailable)


@asynccontextmanager
async def open_agent_resources(settings: BotSettings) -> AsyncIterator[AgentResources]:
    # min_size 0: no connection at start, so the host (the webhook, which must keep accepting
    # customer messages) starts even while PostgreSQL is down; requests then answer 503.
    pool = await create_pool(
        settings.database_url, min_size=0, max_size=min(API_POOL_MAX, settings.database_pool_max)
    )
    redis_pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=16, timeout=REDIS_POOL_WAIT_SECONDS
    )
    redis = aioredis.Redis(connection_pool=redis_pool)
    try:
        async with open_delivery(settings, redis, pool) as (_, deliverer):
            yield AgentResources(settings, pool, redis, deliverer)
    finally:
        await redis.aclose()
        await redis_pool.aclose()
        await pool.close()


def _build(
    settings: BotSettings,
    clock: Callable[[], float],
    lifespan: Callable[[FastAPI], Any] | None,
) -> FastAPI:
    app = FastAPI(
        title=f"supportbot agent API ({settings.tenant_id})",
        version="1",
        description="Human agents: list/search conversations, read them, reply through the "
        "bot's delivery path, take conversations over and hand them back to the bot.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.resources = None
    app.include_router(create_router(settings, lambda: app.state.resources, clock=clock))
    install_error_handlers(app)
    return app


def create_app(settings: BotSettings, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """A standalone agent API (routes at the root); its lifespan opens the resources."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_agent_resources(settings) as resources:
            app.state.resources = resources
            try:
                yield
            finally:
                app.state.resources = None

    return _build(settings, clock, lifespan)


def mount(
    host: FastAPI,
    settings: BotSettings,
    *,
    prefix: str = API_PREFIX,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Serve the agent API under `prefix` of `host`; returns the mounted sub-application.

    The host's lifespan is wrapped so the API's resources open after the host's own start-up and
    close before its shutdown (a mounted app's own lifespan would never run).
    """
    api = _build(settings, clock, None)
    host.mount(prefix, api)
    inner = host.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state, open_agent_resources(settings) as resources:
            api.state.resources = resources
            try:
                yield state
            finally:
                api.state.resources = None

    host.router.lifespan_context = lifespan
    return api
