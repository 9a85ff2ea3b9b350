"""The Meta simulator's ASGI app: the Graph messages endpoint plus the ``/_sim`` admin API.

``POST /{version}/{phone_number_id}/messages`` (``Authorization: Bearer <token>``; JSON),
reference §2.4-§2.5. Order of checks: scripted faults (hang, then the error) -> token (401,
code 190; an expired token: subcode 463) -> phone_number_id (400, code 100 subcode 33) ->
JSON body -> validation (400, code 100 / 131051) -> read receipt (known inbound wamid, else
code 100) or message -> the 24 h window (``window: sync`` -> 400 code 131047) -> accepted.

Success: ``{"messaging_product":"whatsapp","contacts":[{"input","wa_id"}],"messages":
[{"id":<wamid>}]}``; a read receipt: ``{"success":true}``. Errors: ``{"error":{"message","type",
"code","error_subcode","error_data":{"details"},"fbtrace_id"}}``. The HTTP status Meta uses for
each code is not in the reference: 400 here, 401 for token errors, 429/5xx only when injected.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from supportbot.meta.simulator import admin, validation
from supportbot.meta.simulator.config import FaultRule, MetaSimConfig
from supportbot.meta.simulator.emitter import Emitter
from supportbot.meta.simulator.state import (
    Receipt,
    Recorded,
    SimMessage,
    SimState,
    new_fbtrace_id,
    new_wamid,
)
from supportbot.simkit.admin import create_sim_app

_FAULT_TEXT = {
    130429: "(#130429) Rate limit hit",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
    131057: "(#131057) Account in maintenance mode",
    131047: "(#131047) Re-engagement message",
    131026: "(#131026) Message undeliverable",
    190: "Error validating access token: Session has expired",
    10: "(#10) Application does not have permission for this action",
    200: "(#200) Permissions error",
}


def graph_error(
    status: int,
    code: int | None,
    message: str,
    *,
    subcode: int | None = None,
    details: str | None = None,
    type_: str = "OAuthException",
    headers: dict[str, str] | None = None,
) -> Response:
    error: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = new_fbtrace_id()
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _token(request: Request, state: SimState) -> str:
    cfg = state.config
    if not cfg.access_tokens:
        return "open"
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return "missing"
    if given in state.expired_tokens:
        return "expired"
    ok = any(hmac.compare_digest(given.encode(), t.encode()) for t in cfg.access_tokens)
    return "valid" if ok else "invalid"


async def _fault_response(rule: FaultRule, cfg: MetaSimConfig) -> Response:
    if rule.hang:
        await asyncio.sleep(rule.hang)
    status = rule.status
    if status is None:
        if rule.code is None:
            status = 504
        elif rule.code == 190:
            status = 401
        else:
            status = 400
    retry_after = rule.retry_after
    if retry_after is None and rule.code in (130429, 131056):
        retry_after = cfg.retry_after
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    if rule.code is None:
        message = rule.message or "An unexpected error has occurred. Please retry your request."
        return graph_error(status, 2 if status >= 500 else None, message, headers=headers)
    message = rule.message or _FAULT_TEXT.get(rule.code, f"(#{rule.code}) simulated error")
    subcode = rule.subcode if rule.subcode is not None else (463 if rule.code == 190 else None)
    return graph_error(
        status, rule.code, message, subcode=subcode, type_=rule.type, headers=headers
    )


async def _send(request: Request, version: str, phone_number_id: str) -> Response:
    state: SimState = request.app.state.sim
    raw = await request.body()
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    is_read = isinstance(body, dict) and validation.is_read_receipt(body)
    rec = Recorded(
        seq=state.next_seq(),
        received_at=time.time(),
        mono=time.monotonic(),
        path=request.url.path,
        phone_number_id=phone_number_id,
        endpoint="read" if is_read else "message",
        auth=_token(request, state),
        body=body,
        x_request_id=request.headers.get("x-request-id"),
    )
    if isinstance(body, dict) and isinstance(body.get("to"), str):
        rec.to = body["to"].removeprefix("+")
    state.records.append(rec)
    response = await _decide(request.app, state, rec)
    rec.status_code = response.status_code
    rec.response = json.loads(bytes(response.body))
    if rec.outcome != "accepted" and isinstance(rec.response, dict):
        err = rec.response.get("error")
        rec.error_code = err.get("code") if isinstance(err, dict) else None
    return response


async def _decide(app: FastAPI, state: SimState, rec: Recorded) -> Response:
    cfg = state.config
    fault = state.take_fault(rec.endpoint)
    if fault is not None:
        rec.outcome, rec.error = "fault", f"injected {fault.code or fault.status}"
        return await _fault_response(fault, cfg)
    if rec.auth == "expired":
        rec.outcome, rec.error = "unauthorized", "token expired"
        return graph_error(401, 190, _FAULT_TEXT[190], subcode=463)
    if rec.auth in ("missing", "invalid"):
        rec.outcome, rec.error = "unauthorized", f"token {rec.auth}"
        return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
    if cfg.display_number(rec.phone_number_id) is None:
        rec.outcome, rec.error = "rejected", "unknown phone_number_id"
        return graph_error(
            400,
            100,
            f"Unsupported post request. Object with ID '{rec.phone_number_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation.",
            subcode=33,
            type_="GraphMethodException",
        )
    try:
        if not isinstance(rec.body, dict):
            raise validation.Rejection("the request body must be a JSON object")
        if rec.endpoint == "read":
            return _read(state, rec, validation.read_receipt(rec.body))
        outgoing = validation.message(rec.body)
    except validation.Rejection as exc:
        rec.outcome, rec.error = "rejected", exc.details
        return graph_error(
            exc.status, exc.code, exc.message, subcode=exc.subcode, details=exc.details
        )
    rec.kind = outgoing.kind
    now = time.time()
    failure: int | None = None
    closed = outgoing.free_form and not state.window_open(rec.phone_number_id, outgoing.to, now)
    if closed and cfg.window == "sync":
        rec.outcome, rec.error = "rejected", "outside the 24 h window"
        return graph_error(
            400,
            131047,
            _FAULT_TEXT[131047],
            details="Message failed to send because more than 24 hours have passed since the "
            "customer last replied to this number.",
        )
    if closed and cfg.window == "status":
        failure = 131047
    message = SimMessage(
        message_id=new_wamid(),
        phone_number_id=rec.phone_number_id,
        to=outgoing.to,
        kind=outgoing.kind,
        accepted_at=now,
        seq=rec.seq,
        failure=failure,
    )
    state.add_message(message)
    rec.outcome, rec.message_id = "accepted", message.message_id
    emitter: Emitter = app.state.emitter
    emitter.schedule_statuses(message)
    wa_id = outgoing.to if outgoing.to.isdigit() else None
    contact: dict[str, Any] = {"input": rec.body["to"] if isinstance(rec.body, dict) else ""}
    if wa_id:
        contact["wa_id"] = wa_id
    return JSONResponse(
        {
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [{"id": message.message_id}],
        }
    )


def _read(state: SimState, rec: Recorded, receipt: validation.ReadReceipt) -> Response:
    known = state.inbound_ids.get(receipt.message_id)
    if known is None or known[0] != rec.phone_number_id:
        rec.outcome, rec.error = "rejected", "unknown message_id"
        return graph_error(
            400, 100, "(#100) Invalid parameter", details=f"unknown message_id {receipt.message_id}"
        )
    rec.outcome, rec.to = "accepted", known[1]
    state.receipts.append(
        Receipt(
            seq=rec.seq,
            at=rec.received_at,
            mono=rec.mono,
            phone_number_id=rec.phone_number_id,
            message_id=receipt.message_id,
            customer=known[1],
            typing=receipt.typing,
        )
    )
    return JSONResponse({"success": True})


def create_app(config: MetaSimConfig) -> FastAPI:
    state = SimState(config)
    app = create_sim_app("Meta WhatsApp Cloud API simulator", state, Emitter)

    @app.post("/{version}/{phone_number_id}/messages")
    async def messages(request: Request, version: str, phone_number_id: str) -> Response:
        return await _send(request, version, phone_number_id)

    app.include_router(admin.router)  # first: /_sim/... must not match the routes below

    @app.get("/{version}/{phone_number_id}")
    async def phone_number(request: Request, version: str, phone_number_id: str) -> Response:
        """The phone-number object (the bot's health check): Bearer token, then the id."""
        if _token(request, state) not in ("valid", "open"):
            error = {"message": "Invalid OAuth access token.", "code": 190}
            return JSONResponse({"error": {**error, "type": "OAuthException"}}, status_code=401)
        display = state.config.display_number(phone_number_id)
        if display is None:
            error = {"message": "Unsupported get request.", "code": 100, "error_subcode": 33}
            return JSONResponse({"error": {**error, "type": "GraphMethodException"}}, 400)
        return JSONResponse({"id": phone_number_id, "display_phone_number": display})

    return app
