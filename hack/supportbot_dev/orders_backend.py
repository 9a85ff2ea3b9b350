"""A small fake order backend for the flows' HTTP steps (tests and `make demo`).

    python -m supportbot_dev.orders_backend --port 8790 --api-key demo-orders-key

Serves, over plain HTTP (the bot reaches it through its allow-list,
`SUPPORTBOT_FLOW_HTTP_ALLOW_HOSTS`):

- ``GET /api/orders/{id}``: the order as JSON (200), 404 for an unknown id, 401 without a valid
  ``X-Api-Key`` when keys are configured. Ids compare without case and dashes (``ACME-12345`` =
  ``acme12345``).
- ``POST /api/returns``: records a return request (201); the same ``Idempotency-Key`` twice
  gives the same return id.
- ``GET /slow?seconds=S``: answers after S seconds; ``GET /fail/{status}``: that status;
  ``GET /flaky/{n}``: 503 (with ``Retry-After: R`` for ``?retry_after=R``) for the first n hits
  of that path, then 200;
  ``GET /big?bytes=N``: an N-byte JSON string; ``GET /redirect?to=URL``: 302 to URL.
- ``GET /_hits``: requests seen per path (the tests count attempts with it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from supportbot_dev import procs

ORDERS: dict[str, dict[str, Any]] = {
    "ACME12345": {
        "order_id": "ACME-12345",
        "status": "shipped",
        "carrier": "BlueDart",
        "shipment": {"eta": "Friday 12 June", "tracking": "BD7781234IN"},
        "items": [{"name": "Ceramic mug set", "qty": 1}],
    },
    "ACME54321": {
        "order_id": "ACME-54321",
        "status": "being packed",
        "carrier": None,
        "shipment": {"eta": "next week"},
        "items": [{"name": "Linen curtains", "qty": 2}],
    },
    "GX100200": {
        "order_id": "GX-100200",
        "status": "dispatched",
        "carrier": "Globex Courier",
        "shipment": {"eta": "tomorrow", "tracking": "GXC-55501"},
        "items": [{"name": "5G SIM card", "qty": 1}],
    },
}


def _key(order_id: str) -> str:
    return order_id.upper().replace("-", "")


def create_app(api_keys: Collection[str] = ()) -> Starlette:
    hits: Counter[str] = Counter()
    returns: dict[str, str] = {}
    keys = frozenset(api_keys)

    def authorised(request: Request) -> bool:
        return not keys or request.headers.get("x-api-key") in keys

    async def order(request: Request) -> Response:
        hits[request.url.path] += 1
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        found = ORDERS.get(_key(request.path_params["order_id"]))
        if found is None:
            return JSONResponse({"error": "no such order"}, status_code=404)
        return JSONResponse(found)

    async def create_return(request: Request) -> Response:
        hits[request.url.path] += 1
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        body = await request.json()
        key = request.headers.get("idempotency-key") or f"anon-{len(returns)}"
        return_id = returns.setdefault(key, f"RET-{len(returns) + 1:04d}")
        return JSONResponse({"return_id": return_id, "order_id": body.get("order_id")}, 201)

    async def slow(request: Request) -> Response:
        hits[request.url.path] += 1
        await asyncio.sleep(float(request.query_params.get("seconds", "10")))
        return JSONResponse({"status": "late"})

    async def fail(request: Request) -> Response:
        hits[request.url.path] += 1
        return JSONResponse({"error": "failed"}, status_code=int(request.path_params["status"]))

    async def flaky(request: Request) -> Response:
        hits[request.url.path] += 1
        if hits[request.url.path] <= int(request.path_params["n"]):
            after = request.query_params.get("retry_after")
            headers = {"Retry-After": after} if after else None
            return JSONResponse({"error": "try again"}, status_code=503, headers=headers)
        return JSONResponse({"status": "ok", "attempt": hits[request.url.path]})

    async def big(request: Request) -> Response:
        hits[request.url.path] += 1
        size = int(request.query_params.get("bytes", "100000"))
        return Response(json.dumps("x" * size), media_type="application/json")

    async def redirect(request: Request) -> Response:
        hits[request.url.path] += 1
        return RedirectResponse(request.query_params["to"], status_code=302)

    async def seen(request: Request) -> Response:
        return JSONResponse(dict(hits))

    return Starlette(
        routes=[
            Route("/api/orders/{order_id}", order),
            Route("/api/returns", create_return, methods=["POST"]),
            Route("/slow", slow),
            Route("/fail/{status:int}", fail),
            Route("/flaky/{n:int}", flaky, methods=["GET", "POST"]),
            Route("/big", big),
            Route("/redirect", redirect),
            Route("/_hits", seen),
        ]
    )


@dataclass
class RunningBackend:
    """The backend as a child process (`start_backend`)."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        procs.stop(self.proc)


def start_backend(
    log: Path, api_keys: Collection[str] = (), tls: tuple[Path, Path] | None = None
) -> RunningBackend:
    """Start `python -m supportbot_dev.orders_backend` on a free loopback port (https with
    `tls` = (certificate, key)); wait until it accepts connections."""
    port = procs.free_port()
    argv = [sys.executable, "-m", "supportbot_dev.orders_backend", "--port", str(port)]
    for key in api_keys:
        argv += ["--api-key", key]
    if tls is not None:
        argv += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    proc = procs.start(argv, log)
    procs.wait_until(lambda: procs.port_open(port), 30, "the orders backend", proc, log)
    scheme = "https" if tls else "http"
    return RunningBackend(f"{scheme}://127.0.0.1:{port}", port, proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orders-backend", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--api-key", action="append", default=[], help="accepted X-Api-Key")
    parser.add_argument("--tls-cert", help="serve https with this certificate (PEM)")
    parser.add_argument("--tls-key", help="... and this key (PEM)")
    args = parser.parse_args(argv)
    uvicorn.run(
        create_app(args.api_key),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,  # paths carry order ids
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
