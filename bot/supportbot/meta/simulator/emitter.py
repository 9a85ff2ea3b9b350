"""POSTs webhooks to the bot the way Meta does: the Cloud API envelope, signed with
``X-Hub-Signature-256`` (HMAC-SHA256 of the exact body bytes under the app secret, §2.2), one
callback URL; retried a few times on connection errors and 5xx (Meta retries failed deliveries,
§2.3). Every POST is recorded (`SimState.emitted`) with the raw body and the signature sent.
Statuses of accepted messages are scheduled in the background: ``sent -> delivered -> read`` (up
to `status_final`), or ``failed`` for messages doomed to fail (131047 outside the window).
Also performs the GET verification handshake against the bot (`verify`). The retrying POST and
the background tasks are `supportbot.simkit.emitter.WebhookEmitter`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import httpx

from supportbot.meta.signature import SIGNATURE_HEADER, sign
from supportbot.meta.simulator import webhooks
from supportbot.meta.simulator.state import Emitted, SimMessage, SimState
from supportbot.simkit import emitter as simkit
from supportbot.simkit.emitter import EmitError

__all__ = ["EmitError", "Emitter"]


class Emitter(simkit.WebhookEmitter[SimState]):
    def _display(self, phone_number_id: str) -> str:
        display = self.state.config.display_number(phone_number_id)
        if display is None:
            raise EmitError(f"unknown phone_number_id {phone_number_id!r}")
        return display

    def _number_id(self, requested: str | None) -> str:
        found = requested or self.state.config.default_phone_number_id()
        if not found:
            raise EmitError("phone_number_id is required (none configured)")
        return found

    async def post(
        self,
        kind: str,
        phone_number_id: str,
        payload: dict[str, Any],
        *,
        message_id: str | None = None,
        status: str | None = None,
        signature: str = "valid",
    ) -> Emitted:
        cfg = self.state.config
        raw = json.dumps(payload, ensure_ascii=False).encode()
        secret = cfg.app_secret
        header: str | None = None
        if signature == "valid" and secret:
            header = sign(secret, raw)
        elif signature == "wrong":
            header = sign("not-" + (secret or "the-secret"), raw)
        rec = Emitted(
            seq=self.state.next_seq(),
            at=time.time(),
            kind=kind,
            url=cfg.webhook_url,
            phone_number_id=phone_number_id,
            payload=payload,
            raw=raw.decode(),
            signature=header,
            message_id=message_id,
            status=status,
        )
        self.state.emitted.append(rec)
        if cfg.webhook_url is None:
            rec.error = "no webhook URL configured"
            return rec
        headers = {"Content-Type": "application/json"}
        if header is not None:
            headers[SIGNATURE_HEADER] = header
        await self.deliver(
            rec,
            cfg.webhook_url,
            raw,
            headers,
            retries=cfg.webhook_retries,
            per_attempt=cfg.webhook_timeout,
        )
        return rec

    async def emit_inbound(self, spec: webhooks.InboundSpec) -> tuple[str, list[Emitted]]:
        """Post a customer message (plus `spec.duplicates` identical copies); opens the window."""
        wamid, ts = simkit.inbound_identity(spec)
        number_id = self._number_id(spec.phone_number_id)
        display = self._display(number_id)
        payload = webhooks.inbound(spec, number_id, display, wamid, ts)
        self.state.note_inbound(number_id, spec.phone or spec.bsuid or "", wamid, ts)
        sent = await simkit.post_copies(
            spec.duplicates + 1,
            lambda: self.post(
                "inbound", number_id, payload, message_id=wamid, signature=spec.signature
            ),
        )
        return wamid, sent

    async def emit_status(
        self,
        message: SimMessage,
        status: str,
        *,
        error_code: int | None = None,
        error_details: str | None = None,
    ) -> Emitted:
        payload = webhooks.status(
            message.phone_number_id,
            self._display(message.phone_number_id),
            message_id=message.message_id,
            recipient=message.to,
            state=status,
            ts=time.time(),
            kind=message.kind,
            error_code=error_code if status == "failed" else None,
            error_details=error_details if status == "failed" else None,
        )
        message.statuses.append(status)
        return await self.post(
            "status",
            message.phone_number_id,
            payload,
            message_id=message.message_id,
            status=status,
        )

    def schedule_statuses(self, message: SimMessage) -> None:
        cfg = self.state.config
        if cfg.webhook_url is None:
            return
        states = simkit.status_sequence(failed=message.failure is not None, final=cfg.status_final)
        if states is None:
            return
        self.spawn(self._statuses(message, states, cfg.status_delay_ms / 1000))

    async def _statuses(self, message: SimMessage, states: list[str], delay: float) -> None:
        for status in states:
            await asyncio.sleep(delay)
            await self.emit_status(message, status, error_code=message.failure)

    async def verify(
        self, *, url: str | None, verify_token: str | None, challenge: str | None
    ) -> dict[str, Any]:
        """Do Meta's GET handshake against the bot; ``ok`` when it answers 200 with the raw
        challenge (§2.2)."""
        cfg = self.state.config
        target = url or cfg.webhook_url
        if target is None:
            raise EmitError("no webhook URL configured")
        token = verify_token if verify_token is not None else cfg.verify_token
        challenge = challenge or secrets.token_hex(8)
        params = {
            "hub.mode": "subscribe",
            "hub.verify_token": token or "",
            "hub.challenge": challenge,
        }
        try:
            response = await self.http.get(target, params=params, timeout=cfg.webhook_timeout)
        except httpx.HTTPError as exc:
            return {"ok": False, "status": None, "body": None, "error": repr(exc)}
        ok = response.status_code == 200 and response.text == challenge
        return {
            "ok": ok,
            "status": response.status_code,
            "body": response.text[:500],
            "error": None,
        }
