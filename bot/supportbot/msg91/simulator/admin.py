"""``/_sim`` admin API: configuration, fault injection, recordings, and webhook emission.

- ``GET /_sim/health``; ``GET /_sim/stats``; ``POST /_sim/reset`` (forget everything, back to
  the start configuration);
- ``GET /_sim/config`` (secrets masked); ``PATCH /_sim/config`` (top-level fields replaced);
- ``PUT /_sim/routes/{number}`` (`Route`: bot webhook URLs + secret for one integrated number);
- ``GET|POST|DELETE /_sim/faults`` (`FaultRule`: answer the next N sends with a status);
- ``GET /_sim/messages?to=&outcome=&integrated_number=&endpoint=&after=&limit=``: recorded send
  requests with their exact bodies; ``GET /_sim/messages/{id}``: an accepted message by wamid or
  request id, with the statuses emitted for it;
- ``GET /_sim/webhooks?kind=&message_id=&after=``: webhooks POSTed to the bot;
- ``POST /_sim/inbound`` (`InboundSpec`): emit a customer message to the bot;
- ``POST /_sim/status``: emit a delivery report for an accepted message now;
- ``PUT /_sim/window``: set a customer's last inbound time (24 h window enforcement).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from supportbot.msg91.simulator.config import FaultRule, Route, SimConfig
from supportbot.msg91.simulator.emitter import EmitError, Emitter
from supportbot.msg91.simulator.specs import InboundSpec
from supportbot.msg91.simulator.state import SimState

router = APIRouter(prefix="/_sim", tags=["simulator"])


class StatusSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str
    status: Literal["sent", "delivered", "read", "failed"]
    error_code: str | None = None
    error_reason: str | None = None
    format: Literal["msg91", "meta"] | None = None
    duplicates: int = 0


class WindowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str
    last_inbound_at: float | None
    integrated_number: str | None = None


def _state(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


def _emitter(request: Request) -> Emitter:
    emitter: Emitter = request.app.state.emitter
    return emitter


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
    return _state(request).config.public()


@router.patch("/config")
async def patch_config(request: Request, patch: dict[str, Any]) -> dict[str, Any]:
    state = _state(request)
    try:
        state.config = SimConfig.model_validate({**state.config.model_dump(), **patch})
    except ValidationError as exc:
        raise HTTPException(422, exc.errors(include_url=False, include_input=False)) from None
    return state.config.public()


@router.put("/routes/{integrated_number}")
async def put_route(request: Request, integrated_number: str, route: Route) -> dict[str, Any]:
    """Webhooks for `integrated_number` go to `route` (several tenants on one simulator)."""
    state = _state(request)
    state.config.routes = {**state.config.routes, integrated_number: route}
    return state.config.public()


@router.get("/faults")
async def get_faults(request: Request) -> list[dict[str, Any]]:
    return [f.model_dump() for f in _state(request).faults]


@router.post("/faults")
async def add_faults(request: Request, rules: list[FaultRule]) -> list[dict[str, Any]]:
    _state(request).faults.extend(rules)
    return await get_faults(request)


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, bool]:
    _state(request).faults.clear()
    return {"ok": True}


@router.get("/messages")
async def messages(
    request: Request,
    to: str | None = None,
    outcome: str | None = None,
    integrated_number: str | None = None,
    endpoint: str | None = None,
    after: int = 0,
    limit: int | None = None,
) -> dict[str, Any]:
    found = _state(request).query(
        to=to,
        outcome=outcome,
        integrated_number=integrated_number,
        endpoint=endpoint,
        after=after,
        limit=limit,
    )
    return {"messages": [r.as_dict() for r in found]}


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


@router.post("/inbound")
async def inbound(request: Request, spec: InboundSpec) -> dict[str, Any]:
    try:
        wamid, sent = await _emitter(request).emit_inbound(spec)
    except EmitError as exc:
        raise HTTPException(400, str(exc)) from None
    return {
        "message_id": wamid,
        "payload": sent[0].payload,
        "deliveries": [
            {"http_status": e.http_status, "error": e.error, "attempts": e.attempts} for e in sent
        ],
    }


@router.post("/status")
async def status(request: Request, spec: StatusSpec) -> dict[str, Any]:
    found = _state(request).find_message(spec.message_id)
    if found is None:
        raise HTTPException(404, "no such message")
    sent = [
        await _emitter(request).emit_status(
            found,
            spec.status,
            error_code=spec.error_code,
            error_reason=spec.error_reason,
            fmt=spec.format,
        )
        for _ in range(spec.duplicates + 1)
    ]
    return {
        "payload": sent[0].payload,
        "deliveries": [
            {"http_status": e.http_status, "error": e.error, "attempts": e.attempts} for e in sent
        ],
    }


@router.put("/window")
async def window(request: Request, spec: WindowSpec) -> dict[str, bool]:
    state = _state(request)
    number = spec.integrated_number or (state.config.numbers[0] if state.config.numbers else "")
    if not number:
        raise HTTPException(400, "integrated_number is required (no --number configured)")
    if spec.last_inbound_at is None:
        state.last_inbound.pop((number, spec.customer), None)
    else:
        state.last_inbound[(number, spec.customer)] = spec.last_inbound_at
    return {"ok": True}
