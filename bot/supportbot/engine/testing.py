"""Builders for tests and demos of the conversation engine: a small valid flow, customer
messages and turns, simulator arguments, a settings environment, and an in-loop uvicorn server.

Everything here produces real values for real components (no fakes): the flow is validated by
`supportbot.flow`, the settings by `load_settings`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn

from supportbot import asgiserver
from supportbot.messages import InboundMessage, MessageKind, Turn

TENANT = "acme"
NUMBER = "919000000001"
CUSTOMER = "919876543210"
AUTH_KEY = "engine-test-authkey"
TEMPLATE = "we_are_here"
JWT_SECRET = "engine-test-jwt-secret-0123456789"  # noqa: S105 - a test value
WEBHOOK_SECRET = "engine-test-webhook-secret-0123"  # noqa: S105 - a test value
PRIMARY, FALLBACK = "openai/gpt-4o-mini", "google/gemini-2.5-flash"

FLOW_YAML = """\
version: 1
name: test-shop
start: menu
greeting: "Hi {{customer_name|there}}!"
steps:
  menu:
    text: "How can we help?"
    buttons:
      - {id: hours, title: "Opening hours", goto: hours}
      - {id: ask, title: "Ask a question", goto: ask}
      - {id: human, title: "Talk to us", action: handoff}
  hours:
    text: "We're open 9-18, Monday to Friday."
    action: end
  ask:
    text: "Type your question."
    on_text: llm
llm:
  system_prompt: "You are the assistant of Test Shop."
  history_messages: 6
fallback:
  message: "Sorry, I can't answer that right now."
  offer_human: true
  human_button: "Talk to a human"
handoff:
  keywords: ["agent", "human"]
  message: "Connecting you to our team."
opt_out:
  keywords: [STOP]
  opt_in_keywords: [START]
  confirmation: "You are unsubscribed. Reply START to resume."
  opt_in_confirmation: "Welcome back!"
"""

_ids = itertools.count(1)


def msg91_sim_args() -> list[str]:
    """`supportbot msg91-sim` flags matching these constants (no delivery reports by default)."""
    return [
        "--number",
        NUMBER,
        "--auth-key",
        AUTH_KEY,
        "--dlr-final",
        "none",
        "--dlr-delay-ms",
        "5",
        "--template",
        f"{TEMPLATE}=1",
    ]


def write_flow(directory: Path, text: str = FLOW_YAML) -> Path:
    path = directory / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def settings_env(
    *,
    redis_url: str,
    database_url: str,
    flow_path: Path,
    msg91_url: str,
    openrouter_url: str,
    **overrides: object,
) -> dict[str, str]:
    """A complete SUPPORTBOT_* environment wired to the simulators; overrides by field name."""
    env = {
        "SUPPORTBOT_TENANT_ID": TENANT,
        "SUPPORTBOT_INTEGRATED_NUMBER": NUMBER,
        "SUPPORTBOT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SUPPORTBOT_JWT_SECRET": JWT_SECRET,
        "SUPPORTBOT_REDIS_URL": redis_url,
        "SUPPORTBOT_DATABASE_URL": database_url,
        "SUPPORTBOT_FLOW_PATH": str(flow_path),
        "SUPPORTBOT_MSG91_BASE_URL": msg91_url,
        "SUPPORTBOT_MSG91_AUTH_KEY": AUTH_KEY,
        "SUPPORTBOT_OPENROUTER_BASE_URL": openrouter_url,
        "SUPPORTBOT_OPENROUTER_API_KEY": "sk-or-test",
        "SUPPORTBOT_LLM_MODELS": f"{PRIMARY},{FALLBACK}",
        "SUPPORTBOT_LLM_TIMEOUT_SECONDS": "5",
        "SUPPORTBOT_SEND_RATE_LIMIT_PER_MINUTE": "6000",
        "SUPPORTBOT_OUT_OF_WINDOW_TEMPLATE_NAME": TEMPLATE,
        "SUPPORTBOT_OUT_OF_WINDOW_TEMPLATE_PARAMS": "Asha",
        "SUPPORTBOT_DATABASE_POOL_MIN": "1",
        "SUPPORTBOT_DATABASE_POOL_MAX": "5",
        "SUPPORTBOT_LOG_LEVEL": "WARNING",
    }
    for name, value in overrides.items():
        env["SUPPORTBOT_" + name.upper()] = str(value)
    return env


def customer_message(
    text: str | None = None,
    *,
    reply_id: str | None = None,
    customer: str = CUSTOMER,
    received_at: float | None = None,
    throttled: bool = False,
    throttle_notice: bool = False,
    name: str | None = "Asha",
    message_id: str | None = None,
) -> InboundMessage:
    """A text (or, with `reply_id`, a tapped button) from `customer`, with a unique id."""
    return InboundMessage(
        tenant_id=TENANT,
        customer_id=customer,
        message_id=message_id or f"wamid.engine-test.{next(_ids)}.{time.time_ns()}",
        kind=MessageKind.INTERACTIVE if reply_id else MessageKind.TEXT,
        received_at=time.time() if received_at is None else received_at,
        phone=customer,
        text=text,
        reply_id=reply_id,
        customer_name=name,
        throttled=throttled,
        throttle_notice=throttle_notice,
    )


def make_turn(*messages: InboundMessage, turn_id: str | None = None, attempt: int = 1) -> Turn:
    first = messages[0]
    return Turn(
        turn_id=turn_id or f"turn-{first.message_id}",
        tenant_id=first.tenant_id,
        customer_id=first.customer_id,
        messages=tuple(messages),
        attempt=attempt,
    )


@asynccontextmanager
async def serve(app: Any, *, lifespan: str = "on") -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port inside this event loop; yields
    its base URL and stops the server (running its lifespan shutdown) on exit."""
    sock = asgiserver.bind("127.0.0.1")
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan=lifespan,  # type: ignore[arg-type]
        ws="none",
        http="h11",
        timeout_graceful_shutdown=2,
        access_log=False,
    )
    url = asgiserver.url_of(sock)
    async with asgiserver.serving(config, sock):
        yield url
