"""The ``/_sim`` admin routes every WhatsApp simulator has, and the app skeleton they hang on.

- ``GET /_sim/health``; ``GET /_sim/stats``; ``POST /_sim/reset`` (forget everything, back to
  the start configuration);
- ``GET /_sim/config`` (secrets masked by the config's ``public()``); ``PATCH /_sim/config``
  (top-level fields replaced, 422 with pydantic's errors when invalid);
- ``GET|POST|DELETE /_sim/faults`` (the simulator's fault-rule model);
- ``GET /_sim/messages/{id}``: an accepted message (404 ``no such message``);
- ``GET /_sim/webhooks?kind=&message_id=&after=``: webhooks POSTed to the bot.

`add_admin_routes` and `add_recording_routes` add them to a simulator's router, which adds its
own (recorded-request queries, emission, windows, ...). `create_sim_app` makes the FastAPI app
whose ``state.sim`` is the simulator's store and whose lifespan owns its webhook emitter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar, cast

from fastapi import APIRouter, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from supportbot.simkit.emitter import WebhookEmitter
from supportbot.simkit.recording import RecordingState

AnyState = RecordingState[Any, Any, Any, Any, Any]


class StatusSpecBase(BaseModel):
    """``POST /_sim/status``: a status for an accepted message; each simulator adds its error
    fields and ``duplicates``."""

    model_config = ConfigDict(extra="forbid")

    message_id: str
    status: Literal["sent", "delivered", "read", "failed"]


class WindowSpecBase(BaseModel):
    """``PUT /_sim/window``: a customer's last inbound time (None: forgotten); each simulator
    adds the business number field."""

    model_config = ConfigDict(extra="forbid")

    customer: str
    last_inbound_at: float | None


T = TypeVar("T")


def sim_state(request: Request, kind: type[T]) -> T:
    """The simulator's store (``app.state.sim``), as its `kind`."""
    return cast(T, request.app.state.sim)


def sim_emitter(request: Request, kind: type[T]) -> T:
    """The simulator's webhook emitter (``app.state.emitter``), as its `kind`."""
    return cast(T, request.app.state.emitter)


def _state(request: Request) -> AnyState:
    return sim_state(request, RecordingState)


def deliveries(sent: list[Any]) -> list[dict[str, Any]]:
    """How the bot answered each emitted webhook (``POST /_sim/inbound`` and ``/_sim/status``)."""
    return [{"http_status": e.http_status, "error": e.error, "attempts": e.attempts} for e in sent]


def add_admin_routes(
    router: APIRouter, *, config_type: type[BaseModel], rule_type: type[BaseModel]
) -> None:
    """health, stats, reset, config (`config_type`) and faults (`rule_type`)."""

    @router.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @router.get("/stats")
    async def stats(request: Request) -> dict[str, Any]:
        return _state(request).stats()

    @router.post("/reset")
    async def reset(request: Request) -> dict[str, bool]:
        _state(request).reset()
        return {"ok": True}

    @router.get("/config")
    async def get_config(request: Request) -> dict[str, Any]:
        public: dict[str, Any] = _state(request).config.public()
        return public

    @router.patch("/config")
    async def patch_config(request: Request, patch: dict[str, Any]) -> dict[str, Any]:
        state = _state(request)
        try:
            state.config = config_type.model_validate({**state.config.model_dump(), **patch})
        except ValidationError as exc:
            raise HTTPException(422, exc.errors(include_url=False, include_input=False)) from None
        public: dict[str, Any] = state.config.public()
        return public

    @router.get("/faults")
    async def get_faults(request: Request) -> list[dict[str, Any]]:
        return [f.model_dump() for f in _state(request).faults]

    async def add_faults(request: Request, rules: list[Any]) -> list[dict[str, Any]]:
        _state(request).faults.extend(rules)
        return await get_faults(request)

    # FastAPI validates the body against the simulator's own rule model.
    add_faults.__annotations__["rules"] = list[rule_type]  # type: ignore[valid-type]
    router.post("/faults")(add_faults)

    @router.delete("/faults")
    async def clear_faults(request: Request) -> dict[str, bool]:
        _state(request).faults.clear()
        return {"ok": True}


def add_recording_routes(router: APIRouter) -> None:
    """One accepted message by id, and the webhooks emitted."""

    @router.get("/messages/{message_id}")
    async def message(request: Request, message_id: str) -> dict[str, Any]:
        found = _state(request).find_message(message_id)
        if found is None:
            raise HTTPException(404, "no such message")
        return dataclasses.asdict(found)

    @router.get("/webhooks")
    async def webhooks(
        request: Request, kind: str | None = None, message_id: str | None = None, after: int = 0
    ) -> dict[str, Any]:
        found = [
            e.as_dict()
            for e in _state(request).emitted
            if e.seq > after
            and (kind is None or e.kind == kind)
            and (message_id is None or e.message_id == message_id)
        ]
        return {"webhooks": found}


def create_sim_app(
    title: str,
    state: AnyState,
    make_emitter: Callable[[Any], WebhookEmitter[Any]],
) -> FastAPI:
    """The app of a simulator: ``app.state.sim`` is `state`; the emitter lives as long as the
    app serves (made at start-up, closed with its background tasks at shutdown)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.emitter = make_emitter(state)
        try:
            yield
        finally:
            await app.state.emitter.aclose()

    app = FastAPI(title=title, lifespan=lifespan)
    app.state.sim = state
    return app
