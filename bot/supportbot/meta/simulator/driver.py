"""`MetaSimulatorClient`: drive a running Meta simulator from Python (tests, demo).

async with MetaSimulatorClient("http://127.0.0.1:9092") as sim:
    await sim.configure(webhook_url=sink.url)
    wamid = (await sim.send_inbound("919876543210", "Hello"))["message_id"]  # customer writes
    [reply] = await sim.wait_for_messages(1, to="919876543210")              # exact body
    await sim.throttle_next(retry_after=2)                                    # 130429 next
    receipts = await sim.receipts(customer="919876543210", typing=True)

The admin client itself (reset, configure, recordings, waits, closing) is
`supportbot.simkit.driver.AdminClient`.
"""

from __future__ import annotations

from typing import Any

from supportbot.simkit.driver import AdminClient, SimulatorTimeout

__all__ = ["MetaSimulatorClient", "SimulatorTimeout"]


class MetaSimulatorClient(AdminClient):
    async def configure(self, **fields: Any) -> dict[str, Any]:
        """Replace top-level config fields (`MetaSimConfig`), e.g. ``window="sync"``."""
        return await super().configure(**fields)

    # --- faults ---------------------------------------------------------------------------
    async def fail_next(
        self,
        status: int | None = None,
        *,
        code: int | None = None,
        subcode: int | None = None,
        count: int = 1,
        retry_after: float | None = None,
        hang: float = 0.0,
        endpoint: str | None = None,
    ) -> None:
        """The next `count` requests get a Graph error `code` (HTTP `status`, default 400; 401
        for 190) or, without a code, a plain `status` (5xx); `hang` seconds of silence first."""
        rule: dict[str, Any] = {"status": status, "code": code, "subcode": subcode}
        rule["count"] = count
        rule |= {"retry_after": retry_after, "hang": hang, "endpoint": endpoint}
        await self._add_fault(rule)

    async def throttle_next(self, count: int = 1, *, retry_after: float | None = None) -> None:
        await self.fail_next(code=130429, count=count, retry_after=retry_after)

    async def pair_rate_limit_next(
        self, count: int = 1, *, retry_after: float | None = None
    ) -> None:
        await self.fail_next(code=131056, count=count, retry_after=retry_after)

    async def hang_next(self, seconds: float, count: int = 1) -> None:
        await self.fail_next(hang=seconds, count=count)

    async def expire_token(self, token: str) -> None:
        await self._call("POST", "/tokens/expire", json={"token": token})

    # --- recordings -----------------------------------------------------------------------
    async def messages(self, **filters: Any) -> list[dict[str, Any]]:
        """Recorded requests; filters: to, outcome, endpoint (message | read), after, limit."""
        return await super().messages(**filters)

    async def accepted(self, to: str | None = None) -> list[dict[str, Any]]:
        return await self.messages(to=to, outcome="accepted", endpoint="message")

    async def receipts(
        self, customer: str | None = None, typing: bool | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"customer": customer}
        if typing is not None:
            params["typing"] = "true" if typing else "false"
        result: list[dict[str, Any]] = (
            await self._call(
                "GET", "/receipts", params={k: v for k, v in params.items() if v is not None}
            )
        )["receipts"]
        return result

    # --- emission -------------------------------------------------------------------------
    async def send_inbound(
        self, phone: str | None, text: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Emit a customer message; `fields` are `InboundSpec` fields (type, reply_id, bsuid,
        duplicates, signature, ...). Returns message_id, payload, signature, deliveries."""
        return await super().send_inbound(phone, text, **fields)

    async def set_last_inbound(
        self, customer: str, at: float | None, phone_number_id: str | None = None
    ) -> None:
        spec = {"customer": customer, "last_inbound_at": at, "phone_number_id": phone_number_id}
        await self._set_window(spec)

    async def verify_webhook(
        self,
        *,
        url: str | None = None,
        verify_token: str | None = None,
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """Run Meta's GET handshake against the bot; ``{"ok","status","body","error"}``."""
        spec = {"url": url, "verify_token": verify_token, "challenge": challenge}
        result: dict[str, Any] = await self._call("POST", "/verify", json=spec)
        return result
