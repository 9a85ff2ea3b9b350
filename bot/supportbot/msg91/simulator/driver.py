"""`SimulatorClient`: drive a running MSG91 simulator from Python (tests, demo, load tests).

async with SimulatorClient("http://127.0.0.1:9091") as sim:
    await sim.route("919000000001", bot_url="http://127.0.0.1:8080", secret="s3cret")
    await sim.send_inbound("919876543210", "Hello")           # customer writes
    sent = await sim.wait_for_messages(1, to="919876543210")  # the bot's reply, exact body
    await sim.fail_next(429, count=3, retry_after=1)          # next three sends get 429

The admin client itself (reset, configure, recordings, waits, closing) is
`supportbot.simkit.driver.AdminClient`.
"""

from __future__ import annotations

from typing import Any

from supportbot.simkit.driver import AdminClient, SimulatorTimeout

__all__ = ["SimulatorClient", "SimulatorTimeout"]


class SimulatorClient(AdminClient):
    async def configure(self, **fields: Any) -> dict[str, Any]:
        """Replace top-level config fields (see `SimConfig`), e.g. ``dlr_order="reverse"``."""
        return await super().configure(**fields)

    async def route(
        self,
        integrated_number: str,
        *,
        bot_url: str | None = None,
        inbound_url: str | None = None,
        status_url: str | None = None,
        secret: str | None = None,
        secret_header: str = "X-Webhook-Secret",  # noqa: S107 - a header name
    ) -> None:
        """Send webhooks for `integrated_number` to a bot (base URL or explicit URLs)."""
        base = bot_url.rstrip("/") if bot_url else None
        route = {
            "inbound_url": inbound_url or (base + "/webhooks/msg91/inbound" if base else None),
            "status_url": status_url or (base + "/webhooks/msg91/status" if base else None),
            "secret": secret,
            "secret_header": secret_header,
        }
        await self._call("PUT", f"/routes/{integrated_number}", json=route)

    async def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        retry_after: float | None = None,
        html: bool = False,
        path: str | None = None,
    ) -> None:
        rule: dict[str, Any] = {"status": status, "count": count, "retry_after": retry_after}
        rule |= {"html": html, "path": path}
        await self._add_fault(rule)

    async def messages(self, **filters: Any) -> list[dict[str, Any]]:
        """Recorded send requests; filters: to, outcome, integrated_number, endpoint, after."""
        return await super().messages(**filters)

    async def accepted(self, to: str | None = None) -> list[dict[str, Any]]:
        return await self.messages(to=to, outcome="accepted")

    async def message(self, message_id: str) -> dict[str, Any]:
        """An accepted message by wamid or request id (with the statuses emitted for it)."""
        return await super().message(message_id)

    async def set_last_inbound(
        self, customer: str, at: float | None, integrated_number: str | None = None
    ) -> None:
        spec = {"customer": customer, "last_inbound_at": at, "integrated_number": integrated_number}
        await self._set_window(spec)
