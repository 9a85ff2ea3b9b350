"""`MetaSimulatorClient`: drive a running Meta simulator from Python (tests, demo).

async with MetaSimulatorClient("http://127.0.0.1:9092") as sim:
    await sim.configure(webhook_url=sink.url)
    wamid = (await sim.send_inbound("919876543210", "Hello"))["message_id"]  # customer writes
    [reply] = await sim.wait_for_messages(1, to="919876543210")              # exact body
    await sim.throttle_next(retry_after=2)                                    # 130429 next
    receipts = await sim.receipts(customer="919876543210", typing=True)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import httpx


class SimulatorTimeout(AssertionError):
    """A wait_for_* call did not see what it waited for."""


class MetaSimulatorClient:
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
        await self._call("POST", "/reset")

    async def config(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/config")
        return result

    async def configure(self, **fields: Any) -> dict[str, Any]:
        """Replace top-level config fields (`MetaSimConfig`), e.g. ``window="sync"``."""
        result: dict[str, Any] = await self._call("PATCH", "/config", json=fields)
        return result

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
        await self._call("POST", "/faults", json=[rule])

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

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    # --- recordings -----------------------------------------------------------------------
    async def messages(self, **filters: Any) -> list[dict[str, Any]]:
        """Recorded requests; filters: to, outcome, endpoint (message | read), after, limit."""
        params = {k: v for k, v in filters.items() if v is not None}
        result: list[dict[str, Any]] = (await self._call("GET", "/messages", params=params))[
            "messages"
        ]
        return result

    async def accepted(self, to: str | None = None) -> list[dict[str, Any]]:
        return await self.messages(to=to, outcome="accepted", endpoint="message")

    async def message(self, message_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/messages/{message_id}")
        return result

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
        """Emit a customer message; `fields` are `InboundSpec` fields (type, reply_id, bsuid,
        duplicates, signature, ...). Returns message_id, payload, signature, deliveries."""
        spec = {"from": phone, "text": text, **fields}
        result: dict[str, Any] = await self._call("POST", "/inbound", json=spec)
        return result

    async def send_status(self, message_id: str, status: str, **fields: Any) -> dict[str, Any]:
        spec = {"message_id": message_id, "status": status, **fields}
        result: dict[str, Any] = await self._call("POST", "/status", json=spec)
        return result

    async def set_last_inbound(
        self, customer: str, at: float | None, phone_number_id: str | None = None
    ) -> None:
        spec = {"customer": customer, "last_inbound_at": at, "phone_number_id": phone_number_id}
        await self._call("PUT", "/window", json=spec)

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

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> MetaSimulatorClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _poll(
    fetch: Callable[[], Awaitable[list[dict[str, Any]]]], count: int, wait: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + wait
    while True:
        found = await fetch()
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise SimulatorTimeout(f"wanted {count}, saw {len(found)} after {wait} s")
        await asyncio.sleep(0.05)
