"""The phone page's ASGI app (`create_app(config)`): the static page plus a JSON backend that
proxies to the MSG91 simulator and the tenants' agent APIs, so the browser only talks to this
origin and never holds an agent token.

    GET  /                                           the page (static/index.html, app.js, style.css)
    GET  /api/config                                 tenants (name, number, agent view?) + presets
    POST /api/chat/{tenant}/send                     {customer, name?, text}: the customer writes
    POST /api/chat/{tenant}/reply                    {customer, name?, type, reply_id, title, ...}:
                                                     the customer taps a reply button / list row
    GET  /api/chat/{tenant}/{customer}?records=&webhooks=
                                                     new bubbles, ticks, cursor, handoff state
    GET  /api/agent/{tenant}/conversations?q=        agent API list, handed-off first
    GET  /api/agent/{tenant}/conversations/{customer}
    POST /api/agent/{tenant}/conversations/{customer}/messages   {text} (Idempotency-Key passed on)
    POST /api/agent/{tenant}/conversations/{customer}/handoff|handback
    GET  /healthz

Errors: ``{"error": {"code", "message"}}``. POSTs must be JSON (a cross-site form cannot post
here), and the Host header must be one of `PhoneConfig.allowed_hosts` (DNS-rebinding guard).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Annotated, Any, Literal
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, field_validator
from starlette.middleware.trustedhost import TrustedHostMiddleware

from supportbot_dev.phone import timeline
from supportbot_dev.phone.config import ConfigError, PhoneConfig, TenantConfig, phone_digits
from supportbot_dev.phone.upstream import AgentApi, Simulator, UpstreamError

STATIC = files("supportbot_dev.phone") / "static"


class CustomerIn(BaseModel):
    customer: str
    name: str | None = Field(default=None, max_length=60)

    @field_validator("customer")
    @classmethod
    def _phone(cls, value: str) -> str:
        try:
            return phone_digits(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


class TextIn(CustomerIn):
    text: str = Field(min_length=1, max_length=4096)


class ReplyIn(CustomerIn):
    type: Literal["button_reply", "list_reply"]
    reply_id: str = Field(min_length=1, max_length=256)
    title: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=100)
    context_id: str | None = Field(default=None, max_length=200)
    """The bot message whose button/row was tapped."""


class MediaIn(CustomerIn):
    """A file the customer sends, by URL (the simulator emits MSG91's media webhook)."""

    type: Literal["image", "document", "audio", "video", "sticker"]
    url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://")
    caption: str | None = Field(default=None, max_length=1024)
    filename: str | None = Field(default=None, max_length=240)


class AgentMediaIn(BaseModel):
    kind: Literal["image", "document", "video", "audio", "sticker"]
    url: str = Field(min_length=1, max_length=2000)
    filename: str | None = Field(default=None, max_length=240)


class AgentReplyIn(BaseModel):
    text: str | None = Field(default=None, min_length=1, max_length=4096)
    media: AgentMediaIn | None = None
    """Passed on to the agent API, which checks WhatsApp's limits (a 422 shows on the page)."""


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _tenant(request: Request, name: str) -> TenantConfig:
    config: PhoneConfig = request.app.state.config
    found = config.tenant(name)
    if found is None:
        raise UpstreamError(404, "unknown_tenant", f"no tenant named {name!r}")
    return found


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


def _agent(request: Request, tenant: TenantConfig) -> AgentApi:
    return AgentApi(request.app.state.http, tenant)


async def _emit(request: Request, tenant: TenantConfig, spec: dict[str, Any]) -> dict[str, Any]:
    spec = {"integrated_number": tenant.number, **spec}
    result = await _sim(request).inbound(spec)
    webhook = {
        "seq": 0,
        "at": None,
        "integrated_number": tenant.number,
        "payload": result["payload"],
        **(result["deliveries"][0] if result.get("deliveries") else {}),
    }
    items, _, _ = timeline.webhook_updates([webhook], tenant.name, tenant.number, spec["from"])
    return {"message_id": result["message_id"], "deliveries": result["deliveries"], "items": items}


async def _conversation(request: Request, tenant: TenantConfig, customer: str) -> dict[str, Any]:
    """Handoff state and agent authors of one conversation (empty without an agent API)."""
    if tenant.agent_api is None:
        return {"conversation": None, "authors": {}}
    try:
        doc = await _agent(request, tenant).request(
            "GET", f"/conversations/{quote(customer, safe='')}", params={"limit": 100}
        )
    except UpstreamError as exc:
        if exc.status == 404 and exc.code == "not_found":
            return {"conversation": None, "authors": {}}
        return {"conversation": None, "authors": {}, "agent_error": exc.message}
    return {"conversation": doc["conversation"], "authors": timeline.authors(doc["messages"])}


def _routes(app: FastAPI, config: PhoneConfig) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-store"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/config")
    async def page_config() -> dict[str, Any]:
        return {
            "tenants": [
                {"name": t.name, "number": t.number, "agent": t.agent_api is not None}
                for t in config.tenants
            ],
            "customers": [{"name": c.name, "phone": c.phone} for c in config.customers],
            "poll_ms": config.poll_ms,
        }

    @app.post("/api/chat/{tenant}/send")
    async def send(request: Request, tenant: str, body: TextIn) -> dict[str, Any]:
        spec = {"from": body.customer, "name": body.name, "type": "text", "text": body.text}
        return await _emit(request, _tenant(request, tenant), spec)

    @app.post("/api/chat/{tenant}/media")
    async def media(request: Request, tenant: str, body: MediaIn) -> dict[str, Any]:
        filename = body.filename
        if body.type == "document" and not filename:
            filename = body.url.rsplit("/", 1)[-1].split("?", 1)[0] or None
        spec = {
            "from": body.customer,
            "name": body.name,
            "type": body.type,
            "url": body.url,
            "text": body.caption,
            "filename": filename,
        }
        return await _emit(request, _tenant(request, tenant), spec)

    @app.post("/api/chat/{tenant}/reply")
    async def reply(request: Request, tenant: str, body: ReplyIn) -> dict[str, Any]:
        spec = {
            "from": body.customer,
            "name": body.name,
            "type": body.type,
            "reply_id": body.reply_id,
            "text": body.title,
            "description": body.description,
            "context_id": body.context_id,
        }
        return await _emit(request, _tenant(request, tenant), spec)

    @app.get("/api/chat/{tenant}/{customer}")
    async def chat(
        request: Request,
        tenant: str,
        customer: str,
        records: Annotated[int, Query(ge=0)] = 0,
        webhooks: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        found = _tenant(request, tenant)
        try:
            customer = phone_digits(customer)
        except ConfigError as exc:
            raise UpstreamError(400, "bad_customer", str(exc)) from None
        sim = _sim(request)
        update = timeline.chat_update(
            await sim.records(records),
            await sim.webhooks(webhooks),
            timeline.Cursor(records, webhooks),
            tenant=found.name,
            number=found.number,
            customer=customer,
        )
        return {
            "items": update.items,
            "ticks": update.ticks,
            "errors": update.errors,
            "cursor": {"records": update.cursor.records, "webhooks": update.cursor.webhooks},
            **(await _conversation(request, found, customer)),
        }

    @app.get("/api/agent/{tenant}/conversations")
    async def conversations(
        request: Request, tenant: str, q: Annotated[str | None, Query(max_length=200)] = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": 100} | ({"q": q} if q else {})
        doc = await _agent(request, _tenant(request, tenant)).request(
            "GET", "/conversations", params=params
        )
        return {"items": timeline.conversation_order(doc["items"])}

    @app.get("/api/agent/{tenant}/conversations/{customer}")
    async def conversation(request: Request, tenant: str, customer: str) -> Any:
        api = _agent(request, _tenant(request, tenant))
        return await api.request(
            "GET", f"/conversations/{quote(customer, safe='')}", params={"limit": 200}
        )

    @app.post("/api/agent/{tenant}/conversations/{customer}/messages")
    async def agent_reply(
        request: Request,
        tenant: str,
        customer: str,
        body: AgentReplyIn,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Any:
        api = _agent(request, _tenant(request, tenant))
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        path = f"/conversations/{quote(customer, safe='')}/messages"
        payload = body.model_dump(exclude_none=True)
        return await api.request("POST", path, json=payload, headers=headers)

    @app.post("/api/agent/{tenant}/conversations/{customer}/{action}")
    async def handoff(request: Request, tenant: str, customer: str, action: str) -> Any:
        if action not in ("handoff", "handback"):
            raise UpstreamError(404, "not_found", "no such action")
        api = _agent(request, _tenant(request, tenant))
        return await api.request(
            "POST", f"/conversations/{quote(customer, safe='')}/{action}", json={}
        )


def create_app(
    config: PhoneConfig, *, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The page for `config`; `transport` replaces the network for the upstream client."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=config.upstream_timeout, transport=transport) as http:
            app.state.http = http
            app.state.sim = Simulator(http, config.msg91_sim)
            yield

    app = FastAPI(
        title="supportbot phone simulator",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.config = config

    async def upstream_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UpstreamError)
        return JSONResponse(exc.body(), status_code=exc.status)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.middleware("http")
    async def json_posts_only(request: Request, call_next: Any) -> Response:
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and not content_type.startswith("application/json"):
            return _error(415, "unsupported_media_type", "POST bodies must be application/json")
        response: Response = await call_next(request)
        return response

    app.add_exception_handler(UpstreamError, upstream_error)
    app.add_exception_handler(RequestValidationError, invalid)
    if "*" not in config.allowed_hosts:
        hosts = [h.strip("[]") for h in config.allowed_hosts] + list(config.allowed_hosts)
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    _routes(app, config)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app
