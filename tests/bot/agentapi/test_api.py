"""The agent API over real HTTP, mounted into the webhook app: auth, OpenAPI docs, listing and
search with cursors, reading, agent replies through the MSG91 simulator, handoff and hand back
with the real conversation engine."""

from __future__ import annotations

import time
from typing import Any

import httpx

from supportbot.agentapi.app import mount
from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.testing import (
    CUSTOMER,
    NUMBER,
    PRIMARY,
    TEMPLATE,
    TENANT,
    customer_message,
    make_turn,
    serve,
)
from supportbot.llm.simulator.replies import reply_text
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.settings import BotSettings
from supportbot.storage import history
from supportbot.storage.db import Pool
from supportbot.webhook.app import create_app as webhook_app

OTHER, THIRD = "919811122233", "919822233344"


def text_body(text: str, to: str = CUSTOMER) -> dict[str, Any]:
    return {
        "integrated_number": NUMBER,
        "recipient_number": to,
        "content_type": "text",
        "text": text,
    }


async def say(engine: ConversationEngine, text: str, **fields: Any) -> None:
    await engine.handle_turn(make_turn(customer_message(text, **fields)))


async def sent_texts(msg91: SimulatorClient, to: str = CUSTOMER) -> list[Any]:
    return [m["body"].get("text") for m in await msg91.accepted(to)]


def error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    detail: dict[str, Any] = body["error"]
    return detail


async def test_openapi_document_and_docs_are_served(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        spec = (await client.get("/api/v1/openapi.json")).json()
        docs = await client.get("/api/v1/docs")
        health = await client.get("/healthz")
    assert {
        "/me",
        "/conversations",
        "/conversations/{customer_id}",
        "/conversations/{customer_id}/messages",
        "/conversations/{customer_id}/handoff",
        "/conversations/{customer_id}/handback",
    } <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["AgentToken"]["scheme"] == "bearer"
    assert docs.status_code == 200 and "/api/v1/openapi.json" in docs.text
    assert health.status_code == 200  # the webhook's own routes are untouched


async def test_requests_need_a_valid_token(api_url: str, token: Any) -> None:
    async with httpx.AsyncClient(base_url=api_url + "/api/v1") as client:
        missing = await client.get("/conversations")
        expired = await client.get(
            "/me", headers={"Authorization": f"Bearer {token(ttl=60, age=3600)}"}
        )
        other = await client.get(
            "/me", headers={"Authorization": f"Bearer {token(tenant='globex')}"}
        )
        garbage = await client.get("/me", headers={"Authorization": "Bearer x.y.z"})
        me = await client.get("/me", headers={"Authorization": f"Bearer {token(agent='bob')}"})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert error(missing) == {"code": "unauthorized", "message": "bearer token required"}
    assert other.status_code == 401 and error(other)["message"] == "token is for another tenant"
    assert garbage.status_code == 401
    assert me.status_code == 200 and me.json()["agent"] == "bob" and me.json()["tenant"] == TENANT
    assert expired.status_code == 401 and error(expired)["message"] == "token expired"


async def test_list_search_and_paginate(api: httpx.AsyncClient, pool: Pool) -> None:
    now = time.time()
    for i, (customer, name, text) in enumerate(
        [
            (CUSTOMER, "Asha", "my parcel is late"),
            (OTHER, "Ravi", "refund please"),
            (THIRD, "Meera", "hello"),
        ]
    ):
        message = customer_message(text, customer=customer, name=name, received_at=now - 100 + i)
        await history.record_inbound(pool, [message])

    first = (await api.get("/conversations", params={"limit": 2})).json()
    assert [c["customer_id"] for c in first["items"]] == [THIRD, OTHER]
    second = (
        await api.get("/conversations", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [c["customer_id"] for c in second["items"]] == [CUSTOMER]
    assert second["next_cursor"] is None
    item = second["items"][0]
    assert item["name"] == "Asha" and item["phone"] == CUSTOMER and item["window_open"] is True
    assert item["handoff_state"] == "bot" and item["opted_out"] is False

    by_name = (await api.get("/conversations", params={"q": "ravi"})).json()
    assert [c["customer_id"] for c in by_name["items"]] == [OTHER]
    by_words = (await api.get("/conversations", params={"q": "parcel"})).json()
    assert [c["customer_id"] for c in by_words["items"]] == [CUSTOMER]
    assert (await api.get("/conversations", params={"handoff": "human"})).json()["items"] == []

    bad = await api.get("/conversations", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and error(bad)["code"] == "bad_cursor"
    invalid = await api.get("/conversations", params={"limit": 0})
    assert invalid.status_code == 422


async def test_read_a_conversation(
    api: httpx.AsyncClient, engine: ConversationEngine, msg91: SimulatorClient
) -> None:
    await say(engine, "Hello")
    detail = (await api.get(f"/conversations/{CUSTOMER}")).json()
    assert detail["conversation"]["customer_id"] == CUSTOMER
    assert [(m["direction"], m["author"], m["text"]) for m in detail["messages"]] == [
        ("inbound", "customer", "Hello"),
        ("outbound", "bot", "Hi Asha!"),
        ("outbound", "bot", "How can we help?"),
    ]
    assert detail["next_before_id"] is None
    older = (await api.get(f"/conversations/{CUSTOMER}", params={"limit": 2})).json()
    assert [m["text"] for m in older["messages"]] == ["Hi Asha!", "How can we help?"]
    rest = (
        await api.get(f"/conversations/{CUSTOMER}", params={"before_id": older["next_before_id"]})
    ).json()
    assert [m["text"] for m in rest["messages"]] == ["Hello"]
    missing = await api.get("/conversations/919800000000")
    assert missing.status_code == 404 and error(missing)["code"] == "not_found"


async def test_handoff_silence_agent_reply_and_hand_back(
    api: httpx.AsyncClient, engine: ConversationEngine, msg91: SimulatorClient, llm_sim: LLMSim
) -> None:
    await say(engine, "Hello")
    taken = await api.post(f"/conversations/{CUSTOMER}/handoff", json={"reason": "VIP customer"})
    assert taken.status_code == 200
    assert taken.json()["handoff_state"] == "human" and taken.json()["handoff_agent"] == "alice"
    assert taken.json()["handoff_reason"] == "VIP customer"

    await say(engine, "Where is my parcel?")  # a human owns it: the bot stays silent
    assert await sent_texts(msg91) == ["Hi Asha!", None]
    assert await llm_sim.requests() == []

    reply = {"text": "Hi Asha, this is Alice. Let me check your parcel."}
    headers = {"Idempotency-Key": "reply-1"}
    sent = await api.post(f"/conversations/{CUSTOMER}/messages", json=reply, headers=headers)
    assert sent.status_code == 200
    body = sent.json()
    assert body["turn_id"] == "agent:alice:reply-1"
    assert [(r["seq"], r["status"], r["replayed"]) for r in body["replies"]] == [(0, "sent", False)]
    accepted = await msg91.accepted(CUSTOMER)
    assert accepted[-1]["body"] == text_body(reply["text"])
    assert body["replies"][0]["provider_message_id"] == accepted[-1]["message_ids"][0]

    again = await api.post(f"/conversations/{CUSTOMER}/messages", json=reply, headers=headers)
    assert [r["replayed"] for r in again.json()["replies"]] == [True]
    assert len(await msg91.accepted(CUSTOMER)) == 3  # exactly once per Idempotency-Key

    detail = (await api.get(f"/conversations/{CUSTOMER}")).json()
    authors = [(m["author"], m["text"]) for m in detail["messages"]][-2:]
    assert authors == [("customer", "Where is my parcel?"), ("agent:alice", reply["text"])]

    back = await api.post(f"/conversations/{CUSTOMER}/handback")
    assert back.json()["handoff_state"] == "bot" and back.json()["handoff_agent"] is None
    await say(engine, "When do you open?")
    expected = reply_text(PRIMARY, [{"role": "user", "content": "When do you open?"}])
    assert (await sent_texts(msg91))[-1] == expected


async def test_an_agent_reply_takes_the_conversation_over(
    api: httpx.AsyncClient, engine: ConversationEngine, msg91: SimulatorClient
) -> None:
    await say(engine, "Hello")
    sent = await api.post(f"/conversations/{CUSTOMER}/messages", json={"text": "Hello from Alice"})
    assert sent.status_code == 200
    assert sent.json()["conversation"]["handoff_state"] == "human"
    await say(engine, "Great, thanks")
    assert await sent_texts(msg91) == ["Hi Asha!", None, "Hello from Alice"]


async def test_agent_reply_refusals_and_the_24h_window(
    api: httpx.AsyncClient, engine: ConversationEngine, msg91: SimulatorClient, pool: Pool
) -> None:
    missing = await api.post("/conversations/919800000000/messages", json={"text": "hi"})
    assert missing.status_code == 404
    empty = await api.post(f"/conversations/{CUSTOMER}/messages", json={"text": ""})
    assert empty.status_code == 422
    bad_key = await api.post(
        f"/conversations/{CUSTOMER}/messages",
        json={"text": "x"},
        headers={"Idempotency-Key": "a b"},
    )
    assert bad_key.status_code == 400

    await say(engine, "Hello", customer=OTHER, received_at=time.time() - 25 * 3600)
    late = await api.post(f"/conversations/{OTHER}/messages", json={"text": "Sorry for the wait!"})
    assert [r["status"] for r in late.json()["replies"]] == ["template_sent"]
    assert late.json()["conversation"]["window_open"] is False
    [template] = [
        m for m in await msg91.accepted(OTHER) if m["body"]["content_type"] == "template"
    ][-1:]
    assert template["body"]["payload"]["template"]["name"] == TEMPLATE

    await say(engine, "STOP")
    opted = await api.post(f"/conversations/{CUSTOMER}/messages", json={"text": "wait!"})
    assert opted.status_code == 409 and error(opted)["code"] == "opted_out"


async def test_the_webhook_starts_without_postgres_and_the_api_answers_503(
    settings: BotSettings, token: Any
) -> None:
    dead = settings.model_copy(update={"database_url": "postgresql://u@127.0.0.1:1/none"})
    app = webhook_app(dead)
    mount(app, dead)
    headers = {"Authorization": f"Bearer {token()}"}
    async with serve(app) as url, httpx.AsyncClient(base_url=url, headers=headers) as client:
        health = await client.get("/healthz")
        listed = await client.get("/api/v1/conversations")
    assert health.status_code == 200
    assert listed.status_code == 503 and error(listed)["code"] == "dependency_unavailable"

    disabled = settings.model_copy(update={"jwt_secret": None})
    app = webhook_app(disabled)
    mount(app, disabled)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, headers=headers) as client:
        refused = await client.get("/api/v1/me")
    assert refused.status_code == 503 and error(refused)["code"] == "disabled"


async def test_a_resolved_handback_plans_a_csat_survey_shown_with_the_conversation(
    api: httpx.AsyncClient, engine: ConversationEngine, msg91: SimulatorClient
) -> None:
    await say(engine, "Hello")
    await api.post(f"/conversations/{CUSTOMER}/handoff")
    plain = await api.post(f"/conversations/{CUSTOMER}/handback")
    assert plain.status_code == 200
    assert (await api.get(f"/conversations/{CUSTOMER}")).json()["csat"] == []

    await api.post(f"/conversations/{CUSTOMER}/handoff")
    resolved = await api.post(f"/conversations/{CUSTOMER}/handback", json={"resolved": True})
    assert resolved.status_code == 200 and resolved.json()["handoff_state"] == "bot"
    again = await api.post(f"/conversations/{CUSTOMER}/handback", json={"resolved": True})
    assert again.status_code == 200
    [survey] = (await api.get(f"/conversations/{CUSTOMER}")).json()["csat"]
    assert (survey["trigger"], survey["status"], survey["rating"]) == (
        "agent_resolved",
        "pending",
        None,
    )
    bad = await api.post(f"/conversations/{CUSTOMER}/handback", json={"resolved": "maybe"})
    assert bad.status_code == 422 and error(bad)["field"] == "body.resolved"
