"""The engine running a flow's HTTP step against the fake order backend (a real process): the
lookup's answer reaches the customer, a retried turn follows its stored plan (the backend is not
called again, the reply is sent once), the not-found branch, and the fallback when a branch is
missing (never silence)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.plan import TurnPlan
from supportbot.engine.runtime import engine_handler
from supportbot.engine.testing import CUSTOMER, TENANT, customer_message, make_turn
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot_dev.orders_backend import RunningBackend

from .conftest import FAST_RETRIES, ORDERS_API_KEY, MakeSettings

FLOW = """\
version: 1
name: http-shop
start: menu
steps:
  menu:
    text: "How can we help?"
    buttons:
      - {id: track, title: "Track my order", goto: ask_order}
  ask_order:
    text: "Your order number?"
    ask: {slot: order_id, pattern: 'ACME-?\\d{5}'}
    next: lookup
  lookup:
    http:
      url: "BACKEND/api/orders/{{order_id}}"
      headers: {X-Api-Key: "{{secret:orders-api-key}}"}
      timeout_seconds: 3
      retries: 1
      extract: {order_status: status, eta: shipment.eta}
      on_success: found
      on_not_found: unknown
  found:
    text: "Order {{order_id}} is {{order_status}}; expected {{eta|soon}}."
    action: end
  unknown:
    text: "We couldn't find order {{order_id}}."
    action: end
fallback:
  message: "Sorry, our order system is not answering."
  offer_human: true
  human_button: "Talk to a human"
"""


@pytest.fixture
async def http_engine(
    make_settings: MakeSettings,
    aredis: aioredis.Redis,
    orders_backend: RunningBackend,
    tmp_path: Path,
) -> AsyncIterator[ConversationEngine]:
    secrets = tmp_path / "backend-secret"
    secrets.mkdir()
    (secrets / "orders-api-key").write_text(ORDERS_API_KEY)
    settings = make_settings(
        flow_http_allow_hosts=f"127.0.0.1:{orders_backend.port}",
        flow_http_secrets_dir=secrets,
    )
    settings.flow_path.write_text(FLOW.replace("BACKEND", orders_backend.url))
    async with engine_handler(settings, aredis, retry_policy=FAST_RETRIES) as handler:
        yield handler


async def texts(msg91: SimulatorClient) -> list[str]:
    out = []
    for m in await msg91.accepted(CUSTOMER):
        body: dict[str, Any] = m["body"]
        out.append(str(body.get("text") or body.get("interactive", {}).get("body", {}).get("text")))
    return out


def hits(backend: RunningBackend, path: str) -> int:
    return int(httpx.get(backend.url + "/_hits").json().get(path, 0))


async def to_question(engine: ConversationEngine) -> None:
    await engine.handle_turn(make_turn(customer_message(reply_id="track")))


async def test_track_my_order_answers_from_the_backend(
    http_engine: ConversationEngine, msg91: SimulatorClient, aredis: aioredis.Redis
) -> None:
    await to_question(http_engine)
    turn = make_turn(customer_message("ACME-12345"))
    await http_engine.handle_turn(turn)
    assert (await texts(msg91))[-1] == "Order ACME-12345 is shipped; expected Friday 12 June."
    raw = await aredis.get(keyspace.turn_plan_key(TENANT, turn.turn_id))
    assert raw is not None
    plan = TurnPlan.from_json(raw)
    assert plan.notes["http"] == [{"step": "lookup", "outcome": "success", "status": 200}]
    assert plan.state.slots["order_status"] == "shipped"
    assert plan.outcome == "http"


async def test_a_retried_turn_does_not_call_the_backend_again(
    http_engine: ConversationEngine, msg91: SimulatorClient, orders_backend: RunningBackend
) -> None:
    await to_question(http_engine)
    path = "/api/orders/ACME-54321"
    before = hits(orders_backend, path)
    answer = customer_message("ACME-54321")
    await http_engine.handle_turn(make_turn(answer, turn_id="turn-http", attempt=1))
    sent = len(await msg91.accepted(CUSTOMER))
    await http_engine.handle_turn(make_turn(answer, turn_id="turn-http", attempt=2))
    assert hits(orders_backend, path) == before + 1
    assert len(await msg91.accepted(CUSTOMER)) == sent
    assert (await texts(msg91))[-1] == "Order ACME-54321 is being packed; expected next week."


async def test_unknown_order_takes_the_not_found_branch(
    http_engine: ConversationEngine, msg91: SimulatorClient
) -> None:
    await to_question(http_engine)
    await http_engine.handle_turn(make_turn(customer_message("ACME-99999")))
    assert (await texts(msg91))[-1] == "We couldn't find order ACME-99999."


async def test_an_error_without_a_branch_gets_the_fallback_and_human_offer(
    make_settings: MakeSettings,
    aredis: aioredis.Redis,
    orders_backend: RunningBackend,
    msg91: SimulatorClient,
) -> None:
    settings = make_settings(flow_http_allow_hosts=f"127.0.0.1:{orders_backend.port}")
    # no secrets dir: the key cannot be read, the call is an error, the flow has no on_error
    settings.flow_path.write_text(FLOW.replace("BACKEND", orders_backend.url))
    async with engine_handler(settings, aredis, retry_policy=FAST_RETRIES) as engine:
        await to_question(engine)
        await engine.handle_turn(make_turn(customer_message("ACME-12345")))
    [last] = [m["body"] for m in await msg91.accepted(CUSTOMER)][-1:]
    assert last["interactive"]["body"]["text"] == "Sorry, our order system is not answering."
    buttons = last["interactive"]["action"]["buttons"]
    assert [b["reply"]["title"] for b in buttons] == ["Talk to a human"]
