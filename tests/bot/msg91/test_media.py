"""Outbound media: the built bodies, WhatsApp's limits before any HTTP call, and the simulator
accepting, recording and rejecting media sends over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from supportbot.engine.codec import outbound_from_dict, outbound_to_dict
from supportbot.messages import OutboundKind, OutboundMessage
from supportbot.msg91 import limits
from supportbot.msg91.client import Msg91Client
from supportbot.msg91.errors import InvalidOutboundMessage
from supportbot.msg91.payloads import SESSION_PATH, build_request
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import RunningSimulator

NUMBER, CUSTOMER = "919000000001", "919876543210"
PHOTO = "https://cdn.example.com/products/kettle.jpg"

IMAGE = OutboundMessage(
    kind=OutboundKind.IMAGE, text="Your kettle", media_url=PHOTO, media_mime="image/jpeg"
)
DOCUMENT = OutboundMessage(
    kind=OutboundKind.DOCUMENT,
    text="Invoice INV-1001",
    media_url="https://cdn.example.com/invoice.pdf",
    media_filename="invoice.pdf",
    media_mime="application/pdf",
    media_size=200_000,
)
VIDEO = OutboundMessage(kind=OutboundKind.VIDEO, media_url="https://cdn.example.com/setup.mp4")
HEADER_TEMPLATE = OutboundMessage(
    kind=OutboundKind.TEMPLATE,
    template_name="order_shipped",
    template_language="en",
    template_params=("Asha",),
    template_header_type="image",
    template_header_url="https://cdn.example.com/banner.png",
)


def test_image_body_is_the_wrapper_form_with_metas_media_object() -> None:
    request = build_request(NUMBER, CUSTOMER, IMAGE)
    assert request.path == SESSION_PATH
    assert request.body == {
        "integrated_number": NUMBER,
        "content_type": "image",
        "payload": {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "image",
            "image": {"link": PHOTO, "caption": "Your kettle"},
        },
    }


def test_document_carries_its_filename_and_a_template_its_media_header() -> None:
    doc = build_request(NUMBER, CUSTOMER, DOCUMENT).body["payload"]["document"]
    assert doc == {
        "link": "https://cdn.example.com/invoice.pdf",
        "caption": "Invoice INV-1001",
        "filename": "invoice.pdf",
    }
    template = build_request(NUMBER, CUSTOMER, HEADER_TEMPLATE).body["payload"]["template"]
    assert template["to_and_components"][0]["components"] == {
        "header_1": {"type": "image", "value": "https://cdn.example.com/banner.png"},
        "body_1": {"type": "text", "value": "Asha"},
    }


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (OutboundMessage(kind=OutboundKind.IMAGE, media_url=PHOTO, media_mime="image/gif"),
         "not allowed"),
        (OutboundMessage(kind=OutboundKind.IMAGE, media_url=PHOTO,
                         media_size=limits.MEDIA_MAX_BYTES["image"] + 1), "at most 5242880"),
        (OutboundMessage(kind=OutboundKind.VIDEO, media_url=PHOTO, media_size=17 * limits.MB),
         "at most 16777216"),
        (OutboundMessage(kind=OutboundKind.DOCUMENT, media_url=PHOTO,
                         media_size=101 * limits.MB), "at most 104857600"),
        (OutboundMessage(kind=OutboundKind.STICKER, media_url=PHOTO, media_size=200 * 1024),
         "at most 102400"),
        (OutboundMessage(kind=OutboundKind.STICKER, media_url=PHOTO, text="hi"),
         "cannot carry a caption"),
        (OutboundMessage(kind=OutboundKind.AUDIO, media_url=PHOTO, media_mime="audio/wav"),
         "not allowed"),
        (OutboundMessage(kind=OutboundKind.IMAGE, media_url=PHOTO, text="x" * 1025),
         "longer than 1024"),
        (OutboundMessage(kind=OutboundKind.IMAGE, media_url="ftp://x/y.png"), "http"),
        (OutboundMessage(kind=OutboundKind.IMAGE), "http"),
        (OutboundMessage(kind=OutboundKind.TEMPLATE, template_name="t",
                         template_header_type="location", template_header_url=PHOTO),
         "not a media type"),
    ],
)  # fmt: skip
def test_whatsapp_limits_are_enforced_before_sending(message: OutboundMessage, error: str) -> None:
    with pytest.raises(InvalidOutboundMessage, match=error):
        build_request(NUMBER, CUSTOMER, message)


def test_media_fields_survive_the_stored_plan_and_old_plans_still_decode() -> None:
    for message in (IMAGE, DOCUMENT, VIDEO, HEADER_TEMPLATE):
        assert outbound_from_dict(outbound_to_dict(message)) == message
    old = {"kind": "text", "text": "hi", "template_params": []}  # written before media existed
    assert outbound_from_dict(old) == OutboundMessage(kind=OutboundKind.TEXT, text="hi")


@pytest.mark.parametrize("message", [IMAGE, DOCUMENT, VIDEO, HEADER_TEMPLATE],
                         ids=["image", "document", "video", "template-header"])  # fmt: skip
async def test_simulator_accepts_and_records_media_exactly(
    client: Msg91Client, sim: SimulatorClient, message: OutboundMessage
) -> None:
    result = await client.send(CUSTOMER, message)
    [record] = await sim.accepted(CUSTOMER)
    assert record["body"] == client.request_for(CUSTOMER, message).body
    assert result.message_uuid == record["message_ids"][0]


async def _post(sim_server: RunningSimulator, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sim_server.url) as http:
        return await http.post(SESSION_PATH, json=body, headers={"authkey": "test-authkey-1"})


def _image(**image: Any) -> dict[str, Any]:
    payload = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "image", "image": image}
    return {"integrated_number": NUMBER, "content_type": "image", "payload": payload}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_image(id="1013859600285441"), "INVALID_MEDIA"),  # media ids: not the documented link
        (_image(link="not a url"), "INVALID_MEDIA"),
        (_image(link=PHOTO, filename="x.jpg"), "INVALID_MEDIA"),
        (_image(link=PHOTO, mime_type="image/gif"), "MEDIA_TYPE_NOT_SUPPORTED"),
        (_image(link=PHOTO, file_size=6 * limits.MB), "MEDIA_TOO_LARGE"),
        ({"integrated_number": NUMBER, "recipient_number": CUSTOMER, "content_type": "image",
          "image": {"link": PHOTO}}, "INVALID_MEDIA"),  # flat form: not documented for media
    ],
)  # fmt: skip
async def test_simulator_rejects_bad_media_sends(
    sim_server: RunningSimulator, sim: SimulatorClient, body: dict[str, Any], code: str
) -> None:
    response = await _post(sim_server, body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert await sim.accepted(CUSTOMER) == []
