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

Health, stats, reset, config, faults, ``/messages/{id}`` and ``/webhooks`` come from
`supportbot.simkit.admin`.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request

from supportbot.msg91.simulator.config import FaultRule, Route, SimConfig
from supportbot.msg91.simulator.emitter import EmitError, Emitter
from supportbot.msg91.simulator.specs import InboundSpec
from supportbot.msg91.simulator.state import SimState
from supportbot.simkit import admin as simkit

router = APIRouter(prefix="/_sim", tags=["simulator"])


class StatusSpec(simkit.StatusSpecBase):
    error_code: str | None = None
    error_reason: str | None = None
    format: Literal["msg91", "meta"] | None = None
    duplicates: int = 0


class WindowSpec(simkit.WindowSpecBase):
    integrated_number: str | None = None


_state = partial(simkit.sim_state, kind=SimState)
_emitter = partial(simkit.sim_emitter, kind=Emitter)


simkit.add_admin_routes(router, config_type=SimConfig, rule_type=FaultRule)


@router.put("/routes/{integrated_number}")
async def put_route(request: Request, integrated_number: str, route: Route) -> dict[str, Any]:
    """Webhooks for `integrated_number` go to `route` (several tenants on one simulator)."""
    state = _state(request)
    state.config.routes = {**state.config.routes, integrated_number: route}
    return state.config.public()


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


simkit.add_recording_routes(router)


@router.post("/inbound")
async def inbound(request: Request, spec: InboundSpec) -> dict[str, Any]:
    try:
        wamid, sent = await _emitter(request).emit_inbound(spec)
    except EmitError as exc:
        raise HTTPException(400, str(exc)) from None
    return {
        "message_id": wamid,
        "payload": sent[0].payload,
        "deliveries": simkit.deliveries(sent),
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
        "deliveries": simkit.deliveries(sent),
    }


@router.put("/window")
async def window(request: Request, spec: WindowSpec) -> dict[str, bool]:
    state = _state(request)
    number = spec.integrated_number or (state.config.numbers[0] if state.config.numbers else "")
    if not number:
        raise HTTPException(400, "integrated_number is required (no --number configured)")
    state.set_last_inbound(number, spec.customer, spec.last_inbound_at)
    return {"ok": True}
