"""Run the simulator inside the current event loop on a free loopback port (for tests and
local tools): ``async with run_simulator() as sim: ... sim.base_url ...``.

The server is a real uvicorn HTTP server on 127.0.0.1, so clients go through real sockets,
timeouts and connection handling. `RunningSimulator` also offers typed admin helpers that call
the admin HTTP endpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from supportbot import asgiserver
from supportbot.llm.simulator.app import SimState, create_app


@dataclass
class RunningSimulator:
    url: str
    """Root URL, e.g. http://127.0.0.1:41234"""
    state: SimState
    admin: httpx.AsyncClient

    @property
    def base_url(self) -> str:
        """What `openrouter_base_url` should be set to."""
        return f"{self.url}/api/v1"

    async def add_fault(self, mode: str, **fields: Any) -> dict[str, Any]:
        response = await self.admin.post("/_sim/faults", json={"mode": mode, **fields})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def clear_faults(self) -> None:
        (await self.admin.delete("/_sim/faults")).raise_for_status()

    async def set_latency(self, default: str | None = None, **models: str) -> None:
        body: dict[str, Any] = {"models": models} if models else {}
        if default is not None:
            body["default"] = default
        (await self.admin.put("/_sim/latency", json=body)).raise_for_status()

    async def requests(self, model: str | None = None) -> list[dict[str, Any]]:
        params = {"model": model} if model else {}
        response = await self.admin.get("/_sim/requests", params=params)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["requests"]
        return items


@asynccontextmanager
async def run_simulator(state: SimState | None = None) -> AsyncIterator[RunningSimulator]:
    state = state or SimState()
    sock = asgiserver.bind("127.0.0.1")
    config = uvicorn.Config(
        create_app(state),
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
        timeout_graceful_shutdown=2,
        access_log=False,
    )
    url = asgiserver.url_of(sock)
    async with (
        asgiserver.serving(config, sock, name="the OpenRouter simulator"),
        httpx.AsyncClient(base_url=url, timeout=10) as admin,
    ):
        yield RunningSimulator(url=url, state=state, admin=admin)
