"""``/_sim`` admin API of the Meta simulator (as the MSG91 simulator's).

- ``GET /_sim/health``; ``GET /_sim/stats``; ``POST /_sim/reset``;
- ``GET /_sim/config`` (secrets masked); ``PATCH /_sim/config`` (top-level fields replaced);
- ``GET|POST|DELETE /_sim/faults`` (`FaultRule`: a Graph error, 5xx or hang for the next N);
- ``POST /_sim/tokens/expire`` ``{"token"}``: that token now fails with 190 / 463;
- ``GET /_sim/messages?to=&outcome=&endpoint=&after=&limit=``: recorded requests (exact
  bodies); ``GET /_sim/messages/{wamid}``: an accepted message and the statuses emitted for it;
- ``GET /_sim/receipts?customer=&typing=``: accepted read receipts / typing indicators, each
  with the reply that followed it (``reply_message_id``, ``reply_seq``,
  ``reply_within_indicator``) or None;
- ``GET /_sim/webhooks?kind=&message_id=&after=``: webhooks POSTed to the bot (raw body and
  signature included);
- ``POST /_sim/inbound`` (`InboundSpec`): emit a customer message; ``POST /_sim/status``: emit a
  status for an accepted message now; ``PUT /_sim/window``: set a customer's last inbound time;
- ``POST /_sim/verify`` ``{"url","verify_token","challenge"}``: run Meta's GET handshake
  against the bot and report whether it echoed the challenge.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from supportbot.meta.simulator.config import FaultRule, MetaSimConfig
from supportbot.meta.simulator.emitter import EmitError, Emitter
from supportbot.meta.simulator.state import SimState
from supportbot.meta.simulator.webhooks import InboundSpec

router = APIRouter(prefix="/_sim", tags=["simulator"])


class StatusSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str
    status: Literal["sent", "delivered", "read", "failed"]
    error_code: int | None = None
    error_details: str | None = None
    duplicates: int = 0


class WindowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str
    last_inbound_at: float | None
    phone_number_id: str | None = None


class VerifySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    verify_token: str | None = None
    challenge: str | None = None


class ExpireSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str


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
        state.config = MetaSimConfig.model_validate({**state.config.model_dump(), **patch})
    except ValidationError as exc:
        raise HTTPException(422, exc.errors(include_url=False, include_input=False)) from None
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


@router.post("/tokens/expire")
async def expire_token(request: Request, spec: ExpireSpec) -> dict[str, bool]:
    _state(request).expired_tokens.add(spec.token)
    return {"ok": True}


@router.get("/messages")
async def messages(
    request: Request,
    to: str | None = None,
    outcome: str | None = None,
    endpoint: str | None = None,
    after: int = 0,
    limit: int | None = None,
) -> dict[str, Any]:
    found = _state(request).query(
        to=to, outcome=outcome, endpoint=endpoint, after=after, limit=limit
    )
    return {"messages": [r.as_dict() for r in found]}


@router.get("/messages/{message_id}")
async def message(request: Request, message_id: str) -> dict[str, Any]:
    found = _state(request).messages.get(message_id)
    if found is None:
        raise HTTPException(404, "no such message")
    return dataclasses.asdict(found)


@router.get("/receipts")
async def receipts(
    request: Request, customer: str | None = None, typing: bool | None = None
) -> dict[str, Any]:
    state = _state(request)
    found = [
        state.receipt_view(r)
        for r in state.receipts
        if (customer is None or r.customer == customer) and (typing is None or r.typing == typing)
    ]
    return {"receipts": found}


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


def _deliveries(sent: list[Any]) -> list[dict[str, Any]]:
    return [{"http_status": e.http_status, "error": e.error, "attempts": e.attempts} for e in sent]


@router.post("/inbound")
async def inbound(request: Request, spec: InboundSpec) -> dict[str, Any]:
    try:
        wamid, sent = await _emitter(request).emit_inbound(spec)
    except EmitError as exc:
        raise HTTPException(400, str(exc)) from None
    return {
        "message_id": wamid,
        "payload": sent[0].payload,
        "signature": sent[0].signature,
        "deliveries": _deliveries(sent),
    }


@router.post("/status")
async def status(request: Request, spec: StatusSpec) -> dict[str, Any]:
    found = _state(request).messages.get(spec.message_id)
    if found is None:
        raise HTTPException(404, "no such message")
    try:
        sent = [
            await _emitter(request).emit_status(
                found, spec.status, error_code=spec.error_code, error_details=spec.error_details
            )
            for _ in range(spec.duplicates + 1)
        ]
    except EmitError as exc:
        raise HTTPException(400, str(exc)) from None
    return {"payload": sent[0].payload, "deliveries": _deliveries(sent)}


@router.put("/window")
async def window(request: Request, spec: WindowSpec) -> dict[str, bool]:
    state = _state(request)
    number_id = spec.phone_number_id or state.config.default_phone_number_id()
    if not number_id:
        raise HTTPException(400, "phone_number_id is required (none configured)")
    if spec.last_inbound_at is None:
        state.last_inbound.pop((number_id, spec.customer), None)
    else:
        state.last_inbound[(number_id, spec.customer)] = spec.last_inbound_at
    return {"ok": True}


@router.post("/verify")
async def verify(request: Request, spec: VerifySpec) -> dict[str, Any]:
    try:
        return await _emitter(request).verify(
            url=spec.url, verify_token=spec.verify_token, challenge=spec.challenge
        )
    except EmitError as exc:
        raise HTTPException(400, str(exc)) from None
