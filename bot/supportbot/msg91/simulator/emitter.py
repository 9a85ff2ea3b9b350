"""POSTs webhooks to the bot the way MSG91 does: JSON body, the tenant's secret header, one POST
per message/report; retried a few times on connection errors and 5xx. Every POST is recorded
(`SimState.emitted`). Delivery reports of accepted messages are scheduled in the background:
``sent -> delivered -> read`` (up to `dlr_final`), or ``failed`` for messages doomed to fail,
optionally duplicated and reordered (`dlr_duplicates`, `dlr_order`).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from supportbot.msg91.simulator import specs, webhooks
from supportbot.msg91.simulator.state import (
    Emitted,
    SimMessage,
    SimState,
    new_request_id,
    new_wamid,
)

_ORDER = ["sent", "delivered", "read"]


class EmitError(Exception):
    """The emission request itself is invalid (unknown number or message)."""


class Emitter:
    def __init__(self, state: SimState) -> None:
        self.state = state
        self.http = httpx.AsyncClient(limits=httpx.Limits(max_connections=200))
        self.tasks: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.aclose()

    async def post(
        self,
        kind: str,
        integrated_number: str,
        payload: dict[str, Any],
        *,
        message_id: str | None = None,
        status: str | None = None,
    ) -> Emitted:
        cfg = self.state.config
        route = cfg.route(integrated_number)
        url = route.inbound_url if kind == "inbound" else route.status_url
        rec = Emitted(
            seq=self.state.next_seq(),
            at=time.time(),
            kind=kind,
            url=url,
            integrated_number=integrated_number,
            payload=payload,
            message_id=message_id,
            status=status,
        )
        self.state.emitted.append(rec)
        if url is None:
            rec.error = "no webhook URL configured"
            return rec
        headers = {"Content-Type": "application/json"}
        if route.secret:
            headers[route.secret_header] = route.secret
        content = json.dumps(payload, ensure_ascii=False).encode()
        for attempt in range(cfg.webhook_retries + 1):
            rec.attempts += 1
            try:
                response = await self.http.post(
                    url, content=content, headers=headers, timeout=cfg.webhook_timeout
                )
            except httpx.HTTPError as exc:
                rec.error = repr(exc)
            else:
                rec.http_status, rec.response = response.status_code, response.text[:500]
                rec.error = None
                if response.status_code < 500:
                    break
            if attempt < cfg.webhook_retries:
                await asyncio.sleep(0.05 * 2**attempt)
        return rec

    def _number(self, requested: str | None) -> str:
        if requested:
            return requested
        if self.state.config.numbers:
            return self.state.config.numbers[0]
        raise EmitError("integrated_number is required (no --number configured)")

    async def emit_inbound(self, spec: specs.InboundSpec) -> tuple[str, list[Emitted]]:
        """Post a customer message (plus `spec.duplicates` identical copies)."""
        if not spec.phone and not spec.bsuid:
            raise EmitError("'from' (phone) or 'bsuid' is required")
        cfg = self.state.config
        number = self._number(spec.integrated_number)
        wamid = spec.message_id or new_wamid()
        ts = spec.ts if spec.ts is not None else time.time()
        if (spec.format or cfg.webhook_format) == "meta":
            payload = webhooks.meta_inbound(spec, number, wamid, ts)
        else:
            payload = webhooks.flat_inbound(
                spec,
                number,
                wamid,
                new_request_id(),
                ts,
                ts_format=spec.ts_format or cfg.ts_format,
                placeholders=cfg.placeholders,
            )
        self.state.last_inbound[(number, spec.phone or spec.bsuid or "")] = ts
        sent = [
            await self.post("inbound", number, payload, message_id=wamid)
            for _ in range(spec.duplicates + 1)
        ]
        return wamid, sent

    async def emit_status(
        self,
        message: SimMessage,
        status: str,
        *,
        error_code: str | None = None,
        error_reason: str | None = None,
        fmt: str | None = None,
    ) -> Emitted:
        cfg = self.state.config
        if status == "failed" and error_reason is None:
            error_reason = specs.FAILURES.get(error_code or "131026", ("Failed", ""))[0]
        event = specs.StatusEvent(
            message_id=message.message_id,
            request_id=message.request_id,
            integrated_number=message.integrated_number,
            to=message.to,
            status=status,
            ts=time.time(),
            kind=message.kind,
            template_name=message.template_name,
            error_code=error_code if status == "failed" else None,
            error_reason=error_reason if status == "failed" else None,
        )
        if (fmt or cfg.webhook_format) == "meta":
            payload = webhooks.meta_status(event)
        else:
            payload = webhooks.flat_status(
                event, ts_format=cfg.ts_format, placeholders=cfg.placeholders
            )
        message.statuses.append(status)
        return await self.post(
            "status",
            message.integrated_number,
            payload,
            message_id=message.message_id,
            status=status,
        )

    def schedule_reports(self, message: SimMessage) -> None:
        cfg = self.state.config
        if cfg.route(message.integrated_number).status_url is None:
            return
        if message.failure is not None:
            states = ["failed"]
        elif cfg.dlr_final == "none":
            return
        else:
            states = _ORDER[: _ORDER.index(cfg.dlr_final) + 1]
        if cfg.dlr_order == "reverse":
            states.reverse()
        elif cfg.dlr_order == "shuffle":
            self.state.rng.shuffle(states)
        sequence = [s for s in states for _ in range(cfg.dlr_duplicates + 1)]
        task = asyncio.create_task(self._reports(message, sequence, cfg.dlr_delay_ms / 1000))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reports(self, message: SimMessage, sequence: list[str], delay: float) -> None:
        code, reason = message.failure or (None, None)
        for status in sequence:
            await asyncio.sleep(delay)
            await self.emit_status(message, status, error_code=code, error_reason=reason)
