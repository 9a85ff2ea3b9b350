"""The simulator's ASGI app: MSG91's WhatsApp send API plus the ``/_sim`` admin API.

Send API (base path ``/api/v5/whatsapp``; ``authkey`` header; JSON):

- ``POST /whatsapp-outbound-message/``: session text / interactive (flat or wrapper form);
- ``POST /whatsapp-outbound-message/bulk/``: templates;
- ``GET /whatsapp-activation/``: the account's integrated numbers.

Order of checks for a send: latency -> scripted/random faults -> authkey (401) -> content type
and JSON (400) -> body validation (400) -> per-number rate (429) -> accepted (200). Success:
``{"status":"success","hasError":false,"data":{"message_uuid":<wamid>},"request_id":<id>}``
(bulk: ``data`` is a list of ``{"to","message_uuid"}``). Errors:
``{"status":"fail","hasError":true,"message":<text>,"errors":[<text>],"code":<code>}``.
MSG91 does not document these shapes; they follow what public client code parses (reference
§1.5).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from supportbot.msg91.payloads import ACTIVATION_PATH, BULK_PATH, SESSION_PATH
from supportbot.msg91.simulator import admin, validation
from supportbot.msg91.simulator.config import FaultRule, SimConfig
from supportbot.msg91.simulator.emitter import Emitter
from supportbot.msg91.simulator.state import (
    Recorded,
    SimMessage,
    SimState,
    new_request_id,
    new_wamid,
)
from supportbot.simkit.admin import create_sim_app


def fail(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Response:
    body = {"status": "fail", "hasError": True, "message": message, "errors": [message]}
    body["code"] = code
    return JSONResponse(body, status_code=status, headers=headers)


def _authkey(request: Request, cfg: SimConfig) -> str:
    if not cfg.auth_keys:
        return "open"
    given = request.headers.get("authkey")
    if not given:
        return "missing"
    ok = any(hmac.compare_digest(given.encode(), k.encode()) for k in cfg.auth_keys)
    return "valid" if ok else "invalid"


def _fault_response(rule: FaultRule, cfg: SimConfig) -> Response:
    retry_after = rule.retry_after if rule.retry_after is not None else cfg.retry_after
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    if rule.html:
        text = f"<html><body><h1>{rule.status}</h1>upstream error</body></html>"
        return PlainTextResponse(text, rule.status, headers=headers, media_type="text/html")
    if rule.status == 429:
        return fail(429, "Too many requests", "130429", headers)
    return fail(rule.status, "Internal server error", str(rule.status), headers)


def _random_fault(state: SimState) -> FaultRule | None:
    cfg = state.config
    roll = state.rng.random()
    if roll < cfg.rate_429:
        return FaultRule(status=429)
    if roll < cfg.rate_429 + cfg.rate_5xx:
        return FaultRule(status=state.rng.choice([500, 502, 503]))
    return None


def _recipients(body: dict[str, Any]) -> list[str]:
    """Best-effort recipients of any body (also rejected ones), for ``?to=`` queries."""
    found: list[Any] = [body.get("recipient_number")]
    payload = body.get("payload")
    if isinstance(payload, dict):
        found.append(payload.get("to"))
        template = payload.get("template")
        targets = template.get("to_and_components") if isinstance(template, dict) else None
        for target in targets if isinstance(targets, list) else []:
            if isinstance(target, dict) and isinstance(target.get("to"), list):
                found.extend(target["to"])
    return [t for t in found if isinstance(t, str)]


def _doomed(state: SimState, number: str, out: validation.Outgoing) -> tuple[str, str] | None:
    """The async failure an accepted message will get (WhatsApp rejects after MSG91 accepts)."""
    cfg = state.config
    if out.free_form and cfg.enforce_window and not state.window_open(number, out.to, time.time()):
        return "131047", "Re-engagement message"
    if out.kind == "template" and cfg.templates:
        name = out.template_name or ""
        expected = cfg.templates.get(f"{name}:{out.template_language}", cfg.templates.get(name))
        if expected is None:
            return "132001", "Template name does not exist in the translation"
        if expected != out.body_params:
            return "132000", "Number of parameters does not match the expected number of params"
    return None


async def _send(request: Request, endpoint: str) -> Response:
    state: SimState = request.app.state.sim
    emitter: Emitter = request.app.state.emitter
    cfg = state.config
    raw = await request.body()
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    rec = Recorded(
        seq=state.next_seq(),
        received_at=time.time(),
        mono=time.monotonic(),
        method=request.method,
        path=request.url.path,
        endpoint=endpoint,
        authkey=_authkey(request, cfg),
        body=body,
        x_request_id=request.headers.get("x-request-id"),
    )
    state.records.append(rec)
    response = await _decide(state, emitter, rec, request.headers.get("content-type", ""))
    rec.status_code = response.status_code
    rec.response = (
        json.loads(bytes(response.body)) if response.media_type == "application/json" else None
    )
    return response


async def _decide(state: SimState, emitter: Emitter, rec: Recorded, content_type: str) -> Response:
    cfg = state.config
    low, high = cfg.latency_ms
    if high > 0:
        await asyncio.sleep(state.rng.uniform(low, max(low, high)) / 1000)
    if isinstance(rec.body, dict):
        number = rec.body.get("integrated_number")
        rec.integrated_number = number if isinstance(number, str) else None
        rec.to = _recipients(rec.body)
    fault = state.take_fault(rec.endpoint) or _random_fault(state)
    if fault is not None:
        rec.outcome, rec.error = "fault", f"injected {fault.status}"
        return _fault_response(fault, cfg)
    if rec.authkey in ("missing", "invalid"):
        rec.outcome, rec.error = "unauthorized", f"authkey {rec.authkey}"
        return fail(401, "Unauthorized: invalid or missing authkey", "AUTH_FAILED")
    if "application/json" not in content_type.lower():
        rec.outcome, rec.error = "rejected", "content type"
        return fail(400, "Content-Type must be application/json", "INVALID_CONTENT_TYPE")
    try:
        if not isinstance(rec.body, dict):
            raise validation.Rejection("request body must be a JSON object", "INVALID_JSON")
        number = validation.integrated_number(rec.body, cfg.numbers)
        if rec.endpoint == "bulk":
            outgoing = validation.bulk(rec.body)
        else:
            outgoing = [validation.session(rec.body)]
    except validation.Rejection as exc:
        rec.outcome, rec.error = "rejected", exc.message
        return fail(exc.status, exc.message, exc.code)
    rec.to = [o.to for o in outgoing]
    now = time.monotonic()
    if state.over_rate(number, now):
        rec.outcome, rec.error = "rate_limited", "max_per_window exceeded"
        headers = {"Retry-After": f"{cfg.retry_after:g}"} if cfg.retry_after is not None else None
        return fail(429, "Too many requests", "130429", headers)
    state.note_send(number, now)
    rec.request_id = new_request_id()
    data: list[dict[str, str]] = []
    for out in outgoing:
        message = SimMessage(
            message_id=new_wamid(),
            request_id=rec.request_id,
            integrated_number=number,
            to=out.to,
            kind=out.kind,
            template_name=out.template_name,
            accepted_at=time.time(),
            failure=_doomed(state, number, out),
        )
        state.add_message(message)
        rec.message_ids.append(message.message_id)
        data.append({"to": out.to, "message_uuid": message.message_id})
        emitter.schedule_reports(message)
    rec.outcome = "accepted"
    payload: Any = data if rec.endpoint == "bulk" else {"message_uuid": data[0]["message_uuid"]}
    return JSONResponse(
        {"status": "success", "hasError": False, "data": payload, "request_id": rec.request_id}
    )


def create_app(config: SimConfig, *, seed: int | None = None) -> FastAPI:
    state = SimState(config, seed)
    app = create_sim_app("MSG91 simulator", state, Emitter)

    @app.post(SESSION_PATH)
    @app.post(SESSION_PATH.rstrip("/"), include_in_schema=False)
    async def session_message(request: Request) -> Response:
        return await _send(request, "session")

    @app.post(BULK_PATH)
    @app.post(BULK_PATH.rstrip("/"), include_in_schema=False)
    async def bulk_message(request: Request) -> Response:
        return await _send(request, "bulk")

    @app.get(ACTIVATION_PATH)
    async def activation(request: Request) -> Response:
        if _authkey(request, state.config) in ("missing", "invalid"):
            return fail(401, "Unauthorized: invalid or missing authkey", "AUTH_FAILED")
        numbers = [{"integrated_number": n} for n in state.config.numbers]
        return JSONResponse({"status": "success", "hasError": False, "data": numbers})

    app.include_router(admin.router)
    return app
