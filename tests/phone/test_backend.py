"""The phone page's backend against the real stack: MSG91 simulator process, the tenant's webhook
app + agent API, and the conversation engine in a real worker (see conftest)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from supportbot.engine.testing import CUSTOMER, TENANT
from supportbot.messages import InboundMessage, MessageKind
from supportbot.webhook.parsing import parse_payload
from supportbot_dev.phone.testing import GREETING, HOURS, MENU, Chat, Stack

OpenChat = Callable[[str], Chat]
OTHER = "919812345678"
UNSUPPORTED = "Sorry, I can only read text messages and menu choices."


async def say(stack: Stack, text: str, customer: str = CUSTOMER, name: str = "Asha") -> Any:
    body = {"customer": customer, "name": name, "text": text}
    response = await stack.page.post(f"/api/chat/{TENANT}/send", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def tap(
    stack: Stack, kind: str, message: dict[str, Any], option: dict[str, Any], name: str = "Asha"
) -> Any:
    body = {
        "customer": CUSTOMER,
        "name": name,
        "type": kind,
        "reply_id": option["id"],
        "title": option["title"],
        "description": option.get("description"),
        "context_id": message["message_id"],
    }
    response = await stack.page.post(f"/api/chat/{TENANT}/reply", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def has_bot_text(text: str) -> Callable[[Chat], bool]:
    return lambda chat: text in chat.texts("bot")


async def last_inbound(stack: Stack) -> tuple[InboundMessage, str]:
    """The last customer message the bot received (parsed by the bot's parser), and its body."""
    webhook = (await stack.sim.webhooks(kind="inbound"))[-1]
    raw = json.dumps(webhook["payload"])
    return parse_payload(raw.encode(), tenant_id=TENANT, received_at=0).messages[0], raw


async def test_chat_renders_the_bots_menu_and_a_tap_reaches_the_next_step(
    stack: Stack, open_chat: OpenChat
) -> None:
    chat = open_chat(CUSTOMER)
    sent = await say(stack, "Hello")
    [mine] = sent["items"]
    assert (mine["side"], mine["kind"], mine["text"], mine["delivery"]) == (
        "customer",
        "text",
        "Hello",
        "accepted",
    )
    assert sent["deliveries"][0]["http_status"] == 200

    await chat.until(lambda c: len(c.bubbles("bot")) >= 2, "greeting and menu")
    greeting, menu = chat.bubbles("bot")
    assert (greeting["kind"], greeting["text"]) == ("text", GREETING)
    assert (menu["kind"], menu["text"]) == ("buttons", MENU)
    assert menu["buttons"] == [
        {"id": "hours", "title": "Opening hours"},
        {"id": "topics", "title": "Browse topics"},
        {"id": "human", "title": "Talk to us"},
    ]
    # The bubbles are exactly what MSG91 was asked to send.
    [record] = [
        r for r in await stack.sim.accepted(CUSTOMER) if menu["message_id"] in r["message_ids"]
    ]
    assert (
        record["body"]["interactive"]["action"]["buttons"][0]["reply"]["title"] == "Opening hours"
    )

    await chat.until(
        lambda c: all(c.ticks.get(b["message_id"]) == "read" for b in c.bubbles("bot")),
        "read ticks from the simulator's delivery reports",
    )
    assert chat.texts("customer") == ["Hello"]
    assert chat.last["conversation"]["handoff_state"] == "bot"

    await tap(stack, "button_reply", menu, menu["buttons"][0])
    await chat.until(has_bot_text(HOURS), "the next step")
    tapped, raw = await last_inbound(stack)
    assert (tapped.kind, tapped.reply_id, tapped.text) == (
        MessageKind.INTERACTIVE,
        "hours",
        "Opening hours",
    )
    assert menu["message_id"] in raw, "the tap names the message it answers (context)"
    assert [(i["kind"], i["text"]) for i in chat.bubbles("customer")] == [
        ("text", "Hello"),
        ("reply", "Opening hours"),
    ]
    assert chat.texts("bot") == [GREETING, MENU, HOURS]
    # Incremental polls never repeat a settled bubble under a new key.
    assert len({i["key"] for i in chat.bubbles()}) == len(chat.bubbles()) == 5


async def test_list_message_renders_rows_and_a_row_tap_is_a_list_reply(
    stack: Stack, open_chat: OpenChat
) -> None:
    chat = open_chat(CUSTOMER)
    await say(stack, "Hi")
    await chat.until(has_bot_text(MENU), "the menu")
    menu = chat.bubbles("bot")[-1]
    await tap(stack, "button_reply", menu, menu["buttons"][1])

    await chat.until(lambda c: c.bubbles("bot")[-1]["kind"] == "list", "the topics list")
    topics = chat.bubbles("bot")[-1]
    assert topics["text"] == "Pick a topic:"
    assert topics["list"] == {
        "button": "Topics",
        "sections": [
            {
                "title": "Orders",
                "rows": [
                    {"id": "returns", "title": "Returns", "description": "Free within 30 days"},
                    {"id": "delivery", "title": "Delivery times", "description": None},
                ],
            }
        ],
    }
    await tap(stack, "list_reply", topics, topics["list"]["sections"][0]["rows"][0])
    await chat.until(has_bot_text("Returns are free within 30 days of delivery."), "returns")
    tapped, _ = await last_inbound(stack)
    assert (tapped.kind, tapped.reply_id, tapped.text) == (
        MessageKind.INTERACTIVE,
        "returns",
        "Returns",
    )


async def test_handoff_banner_agent_view_reply_and_hand_back(
    stack: Stack, open_chat: OpenChat
) -> None:
    chat = open_chat(CUSTOMER)
    await say(stack, "Hello")
    await chat.until(has_bot_text(MENU), "the menu")
    menu = chat.bubbles("bot")[-1]
    await tap(stack, "button_reply", menu, menu["buttons"][2])
    await chat.until(
        lambda c: (c.last.get("conversation") or {}).get("handoff_state") == "pending",
        "the handoff to a human",
    )
    other = open_chat(OTHER)
    await say(stack, "Hello", customer=OTHER, name="Ravi")
    await other.until(has_bot_text(MENU), "Ravi's menu")

    listed = (await stack.page.get(f"/api/agent/{TENANT}/conversations")).json()["items"]
    assert [(c["customer_id"], c["handoff_state"]) for c in listed] == [
        (CUSTOMER, "pending"),
        (OTHER, "bot"),
    ], "handed-off conversations come first even when older"

    path = f"/api/agent/{TENANT}/conversations/{CUSTOMER}/messages"
    headers = {"Idempotency-Key": "phone-test-1"}
    first = await stack.page.post(path, json={"text": "Hi Asha, Alice here."}, headers=headers)
    again = await stack.page.post(path, json={"text": "Hi Asha, Alice here."}, headers=headers)
    assert first.status_code == again.status_code == 200, first.text
    assert [r["status"] for r in first.json()["replies"]] == ["sent"]
    assert again.json()["replies"][0]["replayed"] is True

    await chat.until(has_bot_text("Hi Asha, Alice here."), "the agent's reply on the phone")
    assert chat.texts("bot").count("Hi Asha, Alice here.") == 1
    agent_bubble = chat.bubbles("bot")[-1]
    await chat.until(
        lambda c: c.last["authors"].get(agent_bubble["message_id"]) == "alice", "author label"
    )
    conversation = chat.last["conversation"]
    assert (conversation["handoff_state"], conversation["handoff_agent"]) == ("human", "alice")

    detail = (await stack.page.get(f"/api/agent/{TENANT}/conversations/{CUSTOMER}")).json()
    assert [m["author"] for m in detail["messages"]][-1] == "agent:alice"
    assert detail["messages"][0]["text"] == "Hello"

    back = await stack.page.post(f"/api/agent/{TENANT}/conversations/{CUSTOMER}/handback", json={})
    assert back.status_code == 200 and back.json()["handoff_state"] == "bot"
    await chat.until(lambda c: c.last["conversation"]["handoff_state"] == "bot", "hand back")
    answered = len(chat.bubbles("bot"))
    await say(stack, "Hello again")
    await chat.until(lambda c: len(c.bubbles("bot")) > answered, "the bot answering again")
    assert chat.bubbles()[-1]["side"] == "bot"
    assert chat.bubbles()[-1]["message_id"] not in chat.last["authors"], "the bot, not alice"


async def test_the_browser_never_sees_the_agent_token(stack: Stack) -> None:
    config = (await stack.page.get("/api/config")).json()
    assert config["tenants"] == [
        {"name": TENANT, "number": config["tenants"][0]["number"], "agent": True}
    ]
    assert "token" not in json.dumps(config).lower()
    assert config["customers"][0] == {"name": "Asha", "phone": "919876543210"}


async def test_customer_file_and_agent_image_through_the_page(
    stack: Stack, open_chat: OpenChat
) -> None:
    chat = open_chat(CUSTOMER)
    await say(stack, "Hello")
    await chat.until(has_bot_text(MENU), "the menu")
    sent = await stack.page.post(
        f"/api/chat/{TENANT}/media",
        json={
            "customer": CUSTOMER,
            "name": "Asha",
            "type": "document",
            "url": "https://files.example/receipt.pdf?sig=1",
        },
    )
    assert sent.status_code == 200, sent.text
    [item] = sent.json()["items"]
    assert item["kind"] == "document" and item["media"]["filename"] == "receipt.pdf"
    message, _ = await last_inbound(stack)
    assert message.kind is MessageKind.DOCUMENT and message.extra["filename"] == "receipt.pdf"
    await chat.until(has_bot_text(UNSUPPORTED), "the flow's unsupported reply")

    path = f"/api/agent/{TENANT}/conversations/{CUSTOMER}/messages"
    media = {"kind": "image", "url": "https://cdn.example.com/media/return-label.png"}
    reply = await stack.page.post(path, json={"text": "Your label", "media": media})
    assert reply.status_code == 200, reply.text
    await chat.until(has_bot_text("Your label"), "the agent's image on the phone")
    [bubble] = [b for b in chat.bubbles("bot") if b["text"] == "Your label"]
    assert bubble["kind"] == "image" and bubble["media"]["url"] == media["url"]
    sticker = {"kind": "sticker", "url": "https://cdn.example.com/s.webp"}
    refused = await stack.page.post(path, json={"text": "hi", "media": sticker})
    assert refused.status_code == 422, refused.text  # the agent API's WhatsApp check
    assert "cannot carry a caption" in refused.text
