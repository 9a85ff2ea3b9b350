"""`SimulatorClient`: drive a running MSG91 simulator from Python (tests, demo, load tests).

async with SimulatorClient("http://127.0.0.1:9091") as sim:
    await sim.route("919000000001", bot_url="http://127.0.0.1:8080", secret="s3cret")
    await sim.send_inbound("919876543210", "Hello")           # customer writes
    sent = await sim.wait_for_messages(1, to="919876543210")  # the bot's reply, exact body
    await sim.fail_next(429, count=3, retry_after=1)          # next three sends get 429
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any

import httpx


class SimulatorTimeout(AssertionError):
    """A wait_for_* call did not see what it waited for."""


class SimulatorClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, "/_sim" + path, **kwargs)
        response.raise_for_status()
        return response.json()

    # --- lifecycle and configuration ------------------------------------------------------
    async def health(self) -> bool:
        try:
            return bool((await self._call("GET", "/health"))["ok"])
        except httpx.HTTPError:
            return False

    async def reset(self) -> None:
        """Forget recordings, messages, faults; back to the start configuration."""
        await self._call("POST", "/reset")

    async def config(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/config")
        return result

    async def configure(self, **fields: Any) -> dict[str, Any]:
        """Replace top-level config fields (see `SimConfig`), e.g. ``dlr_order="reverse"``."""
        result: dict[str, Any] = await self._call("PATCH", "/config", json=fields)
        return result

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

    # --- faults ---------------------------------------------------------------------------
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
        await self._call("POST", "/faults", json=[rule])

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    # --- recordings -----------------------------------------------------------------------
    async def messages(self, **filters: Any) -> list[dict[str, Any]]:
        """Recorded send requests; filters: to, outcome, integrated_number, endpoint, after."""
        params = {k: v for k, v in filters.items() if v is not None}
        result: list[dict[str, Any]] = (await self._call("GET", "/messages", params=params))[
            "messages"
        ]
        return result

    async def accepted(self, to: str | None = None) -> list[dict[str, Any]]:
        return await self.messages(to=to, outcome="accepted")

    async def message(self, message_id: str) -> dict[str, Any]:
        """An accepted message by wamid or request id (with the statuses emitted for it)."""
        result: dict[str, Any] = await self._call("GET", f"/messages/{message_id}")
        return result

    async def webhooks(
        self, kind: str | None = None, message_id: str | None = None
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"kind": kind, "message_id": message_id}.items() if v}
        result: list[dict[str, Any]] = (await self._call("GET", "/webhooks", params=params))[
            "webhooks"
        ]
        return result

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/stats")
        return result

    async def wait_for_messages(
        self, count: int, *, wait: float = 10.0, outcome: str | None = "accepted", **filters: Any
    ) -> list[dict[str, Any]]:
        """Poll until at least `count` matching send requests were recorded."""
        return await _poll(lambda: self.messages(outcome=outcome, **filters), count, wait)

    async def wait_for_webhooks(
        self,
        count: int,
        *,
        kind: str | None = None,
        message_id: str | None = None,
        wait: float = 10.0,
    ) -> list[dict[str, Any]]:
        return await _poll(lambda: self.webhooks(kind, message_id), count, wait)

    # --- emission -------------------------------------------------------------------------
    async def send_inbound(
        self, phone: str | None, text: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Emit a customer message; `fields` are `InboundSpec` fields (type, reply_id, url,
        bsuid, format, duplicates, ...). Returns message_id, payload and the bot's answers."""
        spec = {"from": phone, "text": text, **fields}
        result: dict[str, Any] = await self._call("POST", "/inbound", json=spec)
        return result

    async def send_status(self, message_id: str, status: str, **fields: Any) -> dict[str, Any]:
        spec = {"message_id": message_id, "status": status, **fields}
        result: dict[str, Any] = await self._call("POST", "/status", json=spec)
        return result

    async def set_last_inbound(
        self, customer: str, at: float | None, integrated_number: str | None = None
    ) -> None:
        spec = {"customer": customer, "last_inbound_at": at, "integrated_number": integrated_number}
        await self._call("PUT", "/window", json=spec)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> SimulatorClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _poll(fetch: Any, count: int, wait: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + wait
    while True:
        found: list[dict[str, Any]] = await fetch()
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise SimulatorTimeout(f"wanted {count}, saw {len(found)} after {wait} s")
        await asyncio.sleep(0.05)
