"""`AdminClient`: the Python client of a running simulator's ``/_sim`` admin API, the base of
each simulator's driver (`SimulatorClient` for MSG91, `MetaSimulatorClient` for Meta), which add
their own fault helpers, routes and emission fields.

Errors of the admin API raise `httpx.HTTPStatusError`; ``wait_for_*`` raise `SimulatorTimeout`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Self

import httpx


class SimulatorTimeout(AssertionError):
    """A wait_for_* call did not see what it waited for."""


class AdminClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    @classmethod
    @asynccontextmanager
    async def reset_around(cls, base_url: str) -> AsyncIterator[Self]:
        """A driver of the simulator at `base_url` that is reset before and after the block (a
        test's clean simulator)."""
        async with cls(base_url) as driver:
            await driver.reset()
            yield driver
            await driver.reset()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

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
        """Replace top-level config fields (the simulator's config model)."""
        result: dict[str, Any] = await self._call("PATCH", "/config", json=fields)
        return result

    # --- faults ---------------------------------------------------------------------------
    async def _add_fault(self, rule: dict[str, Any]) -> None:
        await self._call("POST", "/faults", json=[rule])

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    # --- recordings -----------------------------------------------------------------------
    async def messages(self, **filters: Any) -> list[dict[str, Any]]:
        """Recorded send requests; filters: to, outcome, endpoint, after, limit, ..."""
        params = {k: v for k, v in filters.items() if v is not None}
        result: list[dict[str, Any]] = (await self._call("GET", "/messages", params=params))[
            "messages"
        ]
        return result

    async def message(self, message_id: str) -> dict[str, Any]:
        """An accepted message (with the statuses emitted for it)."""
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
        return await poll(lambda: self.messages(outcome=outcome, **filters), count, wait)

    async def wait_for_webhooks(
        self,
        count: int,
        *,
        kind: str | None = None,
        message_id: str | None = None,
        wait: float = 10.0,
    ) -> list[dict[str, Any]]:
        return await poll(lambda: self.webhooks(kind, message_id), count, wait)

    # --- emission -------------------------------------------------------------------------
    async def send_inbound(
        self, phone: str | None, text: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Emit a customer message; `fields` are the simulator's `InboundSpec` fields (type,
        reply_id, bsuid, duplicates, ...). Returns message_id, payload and the bot's answers."""
        spec = {"from": phone, "text": text, **fields}
        result: dict[str, Any] = await self._call("POST", "/inbound", json=spec)
        return result

    async def send_status(self, message_id: str, status: str, **fields: Any) -> dict[str, Any]:
        spec = {"message_id": message_id, "status": status, **fields}
        result: dict[str, Any] = await self._call("POST", "/status", json=spec)
        return result

    async def _set_window(self, spec: dict[str, Any]) -> None:
        await self._call("PUT", "/window", json=spec)


async def poll(
    fetch: Callable[[], Awaitable[list[dict[str, Any]]]], count: int, wait: float
) -> list[dict[str, Any]]:
    """Call `fetch` every 50 ms until it returns at least `count` items (else `SimulatorTimeout`
    after `wait` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        found = await fetch()
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise SimulatorTimeout(f"wanted {count}, saw {len(found)} after {wait} s")
        await asyncio.sleep(0.05)
