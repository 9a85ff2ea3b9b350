"""POSTs webhooks to the bot the way MSG91 does: JSON body, the tenant's secret header, one POST
per message/report; retried a few times on connection errors and 5xx. Every POST is recorded
(`SimState.emitted`). Delivery reports of accepted messages are scheduled in the background:
``sent -> delivered -> read`` (up to `dlr_final`), or ``failed`` for messages doomed to fail,
optionally duplicated and reordered (`dlr_duplicates`, `dlr_order`). The retrying POST and the
background tasks are `supportbot.simkit.emitter.WebhookEmitter`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from supportbot.msg91.simulator import specs, webhooks
from supportbot.msg91.simulator.state import (
    Emitted,
    SimMessage,
    SimState,
    new_request_id,
)
from supportbot.simkit import emitter as simkit
from supportbot.simkit.emitter import EmitError

__all__ = ["EmitError", "Emitter"]


class Emitter(simkit.WebhookEmitter[SimState]):
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
        await self.deliver(
            rec,
            url,
            content,
            headers,
            retries=cfg.webhook_retries,
            per_attempt=cfg.webhook_timeout,
        )
        return rec

    def _number(self, requested: str | None) -> str:
        if requested:
            return requested
        if self.state.config.numbers:
            return self.state.config.numbers[0]
        raise EmitError("integrated_number is required (no --number configured)")

    async def emit_inbound(self, spec: specs.InboundSpec) -> tuple[str, list[Emitted]]:
        """Post a customer message (plus `spec.duplicates` identical copies)."""
        wamid, ts = simkit.inbound_identity(spec)
        cfg = self.state.config
        number = self._number(spec.integrated_number)
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
        sent = await simkit.post_copies(
            spec.duplicates + 1,
            lambda: self.post("inbound", number, payload, message_id=wamid),
        )
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
        states = simkit.status_sequence(failed=message.failure is not None, final=cfg.dlr_final)
        if states is None:
            return
        if cfg.dlr_order == "reverse":
            states.reverse()
        elif cfg.dlr_order == "shuffle":
            self.state.rng.shuffle(states)
        sequence = [s for s in states for _ in range(cfg.dlr_duplicates + 1)]
        self.spawn(self._reports(message, sequence, cfg.dlr_delay_ms / 1000))

    async def _reports(self, message: SimMessage, sequence: list[str], delay: float) -> None:
        code, reason = message.failure or (None, None)
        for status in sequence:
            await asyncio.sleep(delay)
            await self.emit_status(message, status, error_code=code, error_reason=reason)
