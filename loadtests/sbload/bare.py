"""The bare FastAPI baseline: the webhook's routes answering 200 without doing anything, served
with exactly the uvicorn options `supportbot webhook` uses (uvloop, httptools, no access log, no
server header, the same concurrency limit). Its req/s is the stack's upper bound.

    python -m sbload.bare --port 8081 --limit-concurrency 256
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

INBOUND_PATH = "/webhooks/msg91/inbound"


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(INBOUND_PATH, response_model=None)
    async def inbound(request: Request) -> Response:
        await request.body()
        return JSONResponse({"status": "accepted"})

    @app.post("/webhooks/msg91/status", response_model=None)
    async def status(request: Request) -> Response:
        await request.body()
        return JSONResponse({"status": "accepted"})

    @app.get("/healthz", response_model=None)
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="sbload.bare")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--limit-concurrency", type=int, default=256)
    args = parser.parse_args()
    uvicorn.Server(
        uvicorn.Config(
            create_app(),
            host="127.0.0.1",
            port=args.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_config=None,
            server_header=False,
            proxy_headers=False,  # same options as `supportbot webhook`
            limit_concurrency=args.limit_concurrency,
            timeout_graceful_shutdown=10,
        )
    ).run()


if __name__ == "__main__":
    main()
