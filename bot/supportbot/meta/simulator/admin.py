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

Shared with the MSG91 simulator through `supportbot.simkit.admin`: health, stats, reset, config,
faults, ``/messages/{wamid}``, ``/webhooks``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict

from supportbot.meta.simulator.config import FaultRule, MetaSimConfig
from supportbot.meta.simulator.emitter import EmitError, Emitter
from supportbot.meta.simulator.state import SimState
from supportbot.meta.simulator.webhooks import InboundSpec
from supportbot.simkit import admin as simkit

router = APIRouter(prefix="/_sim", tags=["simulator"])


class StatusSpec(simkit.StatusSpecBase):
    error_code: int | None = None
    error_details: str | None = None
    duplicates: int = 0


class WindowSpec(simkit.WindowSpecBase):
    phone_number_id: str | None = None


class VerifySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    verify_token: str | None = None
    challenge: str | None = None


class ExpireSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str


_state = partial(simkit.sim_state, kind=SimState)
_emitter = partial(simkit.sim_emitter, kind=Emitter)


simkit.add_admin_routes(router, config_type=MetaSimConfig, rule_type=FaultRule)


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


simkit.add_recording_routes(router)


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
        "deliveries": simkit.deliveries(sent),
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
    return {"payload": sent[0].payload, "deliveries": simkit.deliveries(sent)}


@router.put("/window")
async def window(request: Request, spec: WindowSpec) -> dict[str, bool]:
    state = _state(request)
    number_id = spec.phone_number_id or state.config.default_phone_number_id()
    if not number_id:
        raise HTTPException(400, "phone_number_id is required (none configured)")
    state.set_last_inbound(number_id, spec.customer, spec.last_inbound_at)
    return {"ok": True}


@router.post("/verify")
async def verify(request: Request, spec: VerifySpec) -> dict[str, Any]:
    try:
        return await _emitter(request).verify(
            url=spec.url, verify_token=spec.verify_token, challenge=spec.challenge
        )
    except EmitError as exc:
        raise HTTPException(400, str(exc)) from None
