"""The page's backend with the real MSG91 simulator and no bot: rendering of every outbound
kind from real send bodies, the CLI subprocess, and the error answers (bad input, unknown
tenant, unreachable upstreams, non-JSON posts, foreign Host headers)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from supportbot.engine.testing import AUTH_KEY, CUSTOMER, NUMBER
from supportbot.messages import ListRow, ListSection, OutboundKind, OutboundMessage, ReplyButton
from supportbot.msg91.payloads import build_request
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import free_port
from supportbot_dev.phone.cli import main
from supportbot_dev.phone.config import PhoneConfig, TenantConfig
from supportbot_dev.phone.server import serve, start_page
from supportbot_dev.phone.testing import Chat

MESSAGES = [
    OutboundMessage(kind=OutboundKind.TEXT, text="Plain text"),
    OutboundMessage(
        kind=OutboundKind.BUTTONS,
        text="Pick one",
        header="Menu",
        footer="Acme",
        buttons=(ReplyButton("a", "Alpha"), ReplyButton("b", "Beta")),
    ),
    OutboundMessage(
        kind=OutboundKind.LIST,
        text="Topics below",
        list_button="Topics",
        sections=(ListSection("", (ListRow("r1", "Row one", "First row"),)),),
    ),
    OutboundMessage(
        kind=OutboundKind.TEMPLATE,
        template_name="we_are_here",
        template_language="en",
        template_params=("Asha", "ORD-7"),
    ),
]


@pytest.fixture
async def page(msg91: SimulatorClient) -> AsyncIterator[httpx.AsyncClient]:
    tenants = (
        TenantConfig("acme", NUMBER),
        TenantConfig("gone", "919000000009", f"http://127.0.0.1:{free_port()}", "t"),
    )
    async with (
        serve(PhoneConfig(msg91.base_url, tenants)) as url,
        httpx.AsyncClient(base_url=url, timeout=20) as client,
    ):
        yield client


async def send_as_bot(msg91: SimulatorClient, message: OutboundMessage) -> None:
    request = build_request(NUMBER, CUSTOMER, message)
    async with httpx.AsyncClient(base_url=msg91.base_url) as client:
        response = await client.post(request.path, json=request.body, headers={"authkey": AUTH_KEY})
    assert response.status_code == 200, response.text


async def test_every_outbound_kind_renders_from_the_exact_send_body(
    page: httpx.AsyncClient, msg91: SimulatorClient
) -> None:
    for message in MESSAGES:
        await send_as_bot(msg91, message)
    chat = Chat(page, "acme", CUSTOMER)
    await chat.poll()
    text, buttons, menu, template = chat.bubbles("bot")
    assert (text["kind"], text["text"]) == ("text", "Plain text")
    assert {k: buttons[k] for k in ("kind", "text", "header", "footer", "buttons")} == {
        "kind": "buttons",
        "text": "Pick one",
        "header": "Menu",
        "footer": "Acme",
        "buttons": [{"id": "a", "title": "Alpha"}, {"id": "b", "title": "Beta"}],
    }
    assert menu["list"] == {
        "button": "Topics",
        "sections": [
            {"title": None, "rows": [{"id": "r1", "title": "Row one", "description": "First row"}]}
        ],
    }
    assert template["template"] == {
        "name": "we_are_here",
        "language": "en",
        "params": ["Asha", "ORD-7"],
    }
    assert chat.last["conversation"] is None, "no agent API configured for acme"
    assert [b["seq"] for b in chat.bubbles()] == sorted(b["seq"] for b in chat.bubbles())

    before = chat.cursor
    assert (await chat.poll())["items"] == [], "a settled cursor returns nothing new"
    assert chat.cursor == before
    other = Chat(page, "acme", "919812345678")
    assert (await other.poll())["items"] == [], "another customer's chat stays empty"


async def test_customer_message_without_a_bot_is_marked_failed(
    page: httpx.AsyncClient, msg91: SimulatorClient
) -> None:
    body = {"customer": "+91 98765 43210", "name": "Asha", "text": "Anyone there?"}
    sent = (await page.post("/api/chat/acme/send", json=body)).json()
    assert sent["items"][0]["delivery"] == "failed"
    chat = Chat(page, "acme", CUSTOMER)
    await chat.poll()
    [mine] = chat.bubbles("customer")
    assert (mine["text"], mine["delivery"], mine["name"]) == ("Anyone there?", "failed", "Asha")
    assert "no webhook URL" in mine["error"]


async def test_error_answers(page: httpx.AsyncClient) -> None:
    cases = [
        (await page.get("/api/chat/nope/919876543210"), 404, "unknown_tenant"),
        (await page.get("/api/chat/acme/12"), 400, "bad_customer"),
        (await page.post("/api/chat/acme/send", json={"customer": "x", "text": "hi"}), 422, None),
        (await page.post("/api/chat/acme/send", data={"customer": CUSTOMER}), 415, None),
        (await page.get("/api/agent/acme/conversations"), 404, "no_agent_api"),
        (await page.get("/api/agent/gone/conversations"), 502, "upstream_unavailable"),
        (await page.get("/", headers={"Host": "evil.example"}), 400, None),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (response.request.url, response.text)
        if code is not None:
            assert response.json()["error"]["code"] == code
    assert (await page.get("/")).headers["content-type"].startswith("text/html")
    assert "playwright" not in (await page.get("/static/app.js")).text


async def test_simulator_down_is_a_502(msg91: SimulatorClient) -> None:
    config = PhoneConfig(f"http://127.0.0.1:{free_port()}", (TenantConfig("acme", NUMBER),))
    async with serve(config) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.get(f"/api/chat/acme/{CUSTOMER}")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unavailable"


def test_cli_serves_the_page_and_refuses_remote_hosts() -> None:
    page = start_page(["--msg91-sim", "http://127.0.0.1:9", "--tenant", f"acme={NUMBER}"])
    try:
        config = httpx.get(page.url + "/api/config").json()
        assert config["tenants"] == [{"name": "acme", "number": NUMBER, "agent": False}]
        assert 'id="chat-input"' in httpx.get(page.url + "/").text
    finally:
        page.stop()
    assert page.proc.returncode is not None

    assert main(["--msg91-sim", "http://x", "--tenant", "acme=1", "--port", "1"]) == 2
    remote = ["--msg91-sim", "http://x", "--tenant", f"acme={NUMBER}", "--host", "192.0.2.1"]
    assert main(remote) == 2
