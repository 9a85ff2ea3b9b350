"""Media both ways through the agent API over real HTTP and PostgreSQL: a customer's image,
document, location and contacts are stored as references (migration 0003) and shown in the
conversation and the export; an agent sends an image with a caption through the MSG91 simulator;
WhatsApp's limits refuse a bad one before anything is sent."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import httpx

from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.testing import CUSTOMER, NUMBER, TENANT, customer_message, make_turn
from supportbot.messages import InboundMessage, MessageKind
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.storage import history
from supportbot.storage.db import Pool
from supportbot.storage.export import ExportFormat, export

PHOTO = "https://files.msg91.example/media/broken-kettle.jpg"


def media_message(kind: MessageKind, **fields: Any) -> InboundMessage:
    base = customer_message(fields.pop("text", None))
    return dataclasses.replace(base, kind=kind, **fields)


async def test_customer_media_is_stored_as_a_reference_and_shown(
    api: httpx.AsyncClient, pool: Pool
) -> None:
    image = media_message(
        MessageKind.IMAGE,
        text="The spout is cracked",
        media_url=PHOTO,
        media_mime="image/jpeg",
        extra={"media_id": "1013859600285441", "size": 48213},
    )
    doc = media_message(
        MessageKind.DOCUMENT,
        media_url="https://files.msg91.example/media/receipt.pdf",
        media_mime="application/pdf",
        extra={"filename": "receipt.pdf"},
    )
    place = media_message(
        MessageKind.LOCATION,
        text="Home, 1 MG Road",
        extra={"latitude": 12.97, "longitude": 77.59, "name": "Home", "address": "1 MG Road"},
    )
    card = {"name": {"formatted_name": "Ravi"}, "phones": [{"phone": "+919811122233"}]}
    contacts = media_message(MessageKind.CONTACTS, text="Ravi", extra={"contacts": [card]})
    await history.record_inbound(pool, [image, doc, place, contacts])

    detail = (await api.get(f"/conversations/{CUSTOMER}")).json()
    by_kind = {m["kind"]: m for m in detail["messages"]}
    assert by_kind["image"]["media"] == {
        "url": PHOTO,
        "media_id": "1013859600285441",
        "mime": "image/jpeg",
        "size": 48213,
        "caption": "The spout is cracked",
        "filename": None,
    }
    assert by_kind["image"]["text"] == "The spout is cracked"
    assert by_kind["document"]["media"]["filename"] == "receipt.pdf"
    assert by_kind["location"]["media"] is None
    assert by_kind["location"]["location"] == {
        "latitude": 12.97, "longitude": 77.59, "name": "Home", "address": "1 MG Road"
    }  # fmt: skip
    assert by_kind["contacts"]["contacts"] == [card]

    out = io.StringIO()
    assert await export(pool, TENANT, out, ExportFormat.JSONL) == 4
    rows = {r["kind"]: r for r in map(json.loads, out.getvalue().splitlines())}
    assert rows["image"]["media_url"] == PHOTO and rows["image"]["media_size"] == 48213
    assert rows["image"]["media_id"] == "1013859600285441"
    assert rows["document"]["media_filename"] == "receipt.pdf"
    assert rows["location"]["location"]["latitude"] == 12.97
    assert rows["contacts"]["contacts"] == [card]
    csv_out = io.StringIO()
    await export(pool, TENANT, csv_out, ExportFormat.CSV)
    assert PHOTO in csv_out.getvalue() and '"{""latitude"":12.97' in csv_out.getvalue()


async def test_an_agent_sends_an_image_with_a_caption(
    api: httpx.AsyncClient, engine: ConversationEngine, msg91: SimulatorClient
) -> None:
    await engine.handle_turn(make_turn(customer_message("Hello")))
    media = {"kind": "image", "url": "https://cdn.example.com/kettle.png", "mime": "image/png"}
    sent = await api.post(
        f"/conversations/{CUSTOMER}/messages", json={"text": "Your replacement", "media": media}
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["replies"][0]["status"] == "sent"
    record = (await msg91.accepted(CUSTOMER))[-1]
    assert record["body"] == {
        "integrated_number": NUMBER,
        "content_type": "image",
        "payload": {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "image",
            "image": {"link": "https://cdn.example.com/kettle.png", "caption": "Your replacement"},
        },
    }
    detail = (await api.get(f"/conversations/{CUSTOMER}")).json()
    last = detail["messages"][-1]
    assert (last["author"], last["kind"], last["text"]) == (
        "agent:alice",
        "image",
        "Your replacement",
    )
    assert last["media"]["url"] == "https://cdn.example.com/kettle.png"
    assert last["media"]["mime"] == "image/png"


async def test_media_over_whatsapps_limits_is_refused_before_sending(
    api: httpx.AsyncClient, engine: ConversationEngine, msg91: SimulatorClient
) -> None:
    await engine.handle_turn(make_turn(customer_message("Hello")))
    before = len(await msg91.accepted(CUSTOMER))
    big = {"kind": "image", "url": "https://cdn.example.com/huge.jpg", "size": 6 * 1024 * 1024}
    gif = {"kind": "image", "url": "https://cdn.example.com/a.gif", "mime": "image/gif"}
    for media in (big, gif):
        refused = await api.post(f"/conversations/{CUSTOMER}/messages", json={"media": media})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid_media"
        assert refused.json()["error"]["field"] == "body.media"
    nothing = await api.post(f"/conversations/{CUSTOMER}/messages", json={})
    assert nothing.status_code == 422
    assert len(await msg91.accepted(CUSTOMER)) == before
    detail = (await api.get(f"/conversations/{CUSTOMER}")).json()
    assert detail["conversation"]["handoff_state"] == "bot"  # nothing changed
