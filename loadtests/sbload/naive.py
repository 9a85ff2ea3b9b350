"""The naive design the worker is compared with: one `rq.Queue.enqueue` per webhook message and
classic `rq worker` processes (one job at a time each, a fork per job).

- Webhook (``python -m sbload.naive``, port from NAIVE_PORT): checks the secret, reads the MSG91
  flat body, enqueues ``naive_turn(customer, text)`` on queue ``naive`` (a sync endpoint, so
  FastAPI runs the blocking enqueue in its threadpool) and answers 200. No de-duplication, no
  per-customer ordering, no coalescing: what a first version would do.
- Job (`naive_turn`): calls the OpenRouter simulator (the same 2-10 s latency), then sends the
  echo reply to the MSG91 simulator; URLs from the SUPPORTBOT_* environment of the rq worker.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import redis
import uvicorn
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from rq import Queue

QUEUE = "naive"
JOB = "sbload.naive.naive_turn"
"""By name: run as `python -m sbload.naive`, the module is `__main__` in the webhook."""
OUTBOUND_PATH = "/api/v5/whatsapp/whatsapp-outbound-message/"


def message_text(body: dict[str, Any]) -> str:
    """Text of a flat MSG91 inbound body: `text`, or the tapped button's title."""
    text = body.get("text")
    if isinstance(text, str) and text and not text.startswith("{{"):
        return text
    raw = body.get("interactive")
    if isinstance(raw, str) and raw.startswith("{"):
        interactive = json.loads(raw)
        kind = interactive.get("type", "")
        reply = interactive.get(kind) or {}
        return str(reply.get("title", ""))
    return ""


def naive_turn(customer: str, text: str) -> None:
    env = os.environ
    llm = env["SUPPORTBOT_OPENROUTER_BASE_URL"].rstrip("/") + "/chat/completions"
    body = {"model": env.get("SUPPORTBOT_LLM_MODELS", "openai/gpt-4o-mini").split(",")[0]}
    body["messages"] = [{"role": "user", "content": text}]  # type: ignore[assignment]
    headers = {"Authorization": "Bearer " + env.get("SUPPORTBOT_OPENROUTER_API_KEY", "x")}
    httpx.post(llm, json=body, headers=headers, timeout=60).raise_for_status()
    send = {
        "integrated_number": env["SUPPORTBOT_INTEGRATED_NUMBER"],
        "recipient_number": customer,
        "content_type": "text",
        "text": text,
    }
    url = env["SUPPORTBOT_MSG91_BASE_URL"].rstrip("/") + OUTBOUND_PATH
    httpx.post(url, json=send, timeout=30).raise_for_status()


def create_app() -> FastAPI:
    secret = os.environ["SUPPORTBOT_WEBHOOK_SECRET"]
    queue = Queue(QUEUE, connection=redis.Redis.from_url(os.environ["SUPPORTBOT_REDIS_URL"]))
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/webhooks/msg91/inbound", response_model=None)
    def inbound(
        body: dict[str, Any], x_webhook_secret: str | None = Header(default=None)
    ) -> JSONResponse:
        if x_webhook_secret != secret:
            return JSONResponse({"status": "unauthorized"}, status_code=401)
        customer = body.get("customerNumber")
        if isinstance(customer, str) and customer.isdigit():
            queue.enqueue(JOB, customer, message_text(body), result_ttl=0)
        return JSONResponse({"status": "accepted"})

    @app.post("/webhooks/msg91/status", response_model=None)
    def status(body: dict[str, Any]) -> JSONResponse:
        return JSONResponse({"status": "accepted"})

    @app.get("/healthz", response_model=None)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app


def main() -> None:
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=int(os.environ["NAIVE_PORT"]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        server_header=False,
    )


if __name__ == "__main__":
    main()
