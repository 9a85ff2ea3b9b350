"""Admin endpoints of the OpenRouter simulator (no auth; a loopback dev tool):

- ``GET /_sim/requests`` (``?model=``), ``DELETE /_sim/requests``: recorded requests (model,
  models, messages, user, other body fields, status, served model, outcome, tried models, times);
- ``GET /_sim/faults``, ``POST /_sim/faults`` (``{"mode": ..., "model": ..., "count": ...,
  "retry_after": ..., "hang_seconds": ...}`` -> 201 with its ``id``), ``DELETE /_sim/faults``,
  ``DELETE /_sim/faults/{id}``: failure rules (see faults.py for the modes);
- ``GET|PUT /_sim/latency``: ``{"default": "uniform:2:10", "models": {"m": "fixed:0"}}``;
- ``POST /_sim/reset``: requests cleared, faults and latency back to the start-up configuration;
- ``GET /healthz``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from supportbot.llm.simulator.faults import FaultRule, Latency, SpecError

if TYPE_CHECKING:
    from supportbot.llm.simulator.app import SimState


def add_routes(app: FastAPI, state: SimState) -> None:
    @app.get("/_sim/requests")
    async def get_requests(model: str | None = None) -> dict[str, Any]:
        items = [r for r in state.requests if model is None or r.get("model") == model]
        return {"requests": items}

    @app.delete("/_sim/requests")
    async def clear_requests() -> dict[str, Any]:
        state.requests.clear()
        return {"ok": True}

    @app.get("/_sim/faults")
    async def get_faults() -> dict[str, Any]:
        return {"faults": [f.to_dict() for f in state.faults]}

    @app.post("/_sim/faults")
    async def add_fault(request: Request) -> JSONResponse:
        try:
            data = await request.json()
            rule = FaultRule.from_dict(data if isinstance(data, dict) else {})
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        state.faults.append(rule)
        return JSONResponse(rule.to_dict(), status_code=201)

    @app.delete("/_sim/faults")
    async def clear_faults() -> dict[str, Any]:
        state.faults.clear()
        return {"ok": True}

    @app.delete("/_sim/faults/{fault_id}")
    async def delete_fault(fault_id: int) -> JSONResponse:
        before = len(state.faults)
        state.faults[:] = [f for f in state.faults if f.id != fault_id]
        return JSONResponse(
            {"ok": len(state.faults) < before},
            status_code=200 if len(state.faults) < before else 404,
        )

    @app.get("/_sim/latency")
    async def get_latency() -> dict[str, Any]:
        return {
            "default": str(state.latency),
            "models": {m: str(v) for m, v in state.model_latency.items()},
        }

    @app.put("/_sim/latency")
    async def put_latency(request: Request) -> JSONResponse:
        try:
            data = await request.json()
            if "default" in data:
                state.latency = Latency.parse(str(data["default"]))
            if "models" in data:
                state.model_latency = {
                    str(m): Latency.parse(str(s)) for m, s in data["models"].items()
                }
        except (ValueError, TypeError, AttributeError, SpecError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(await get_latency())

    @app.post("/_sim/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return {"ok": True}

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True}
