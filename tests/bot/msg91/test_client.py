"""The send client against the simulator over real HTTP: exact bodies, authkey, error classes."""

from __future__ import annotations

import pytest

from supportbot.messages import ListRow, ListSection, OutboundKind, OutboundMessage, ReplyButton
from supportbot.msg91.client import Msg91Client
from supportbot.msg91.errors import AttemptOutcome, DefinitiveSendError, RetryableSendError
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import RunningSimulator, free_port
from supportbot.settings import load_settings

NUMBER, CUSTOMER, AUTH_KEY = "919000000001", "919876543210", "test-authkey-1"

MESSAGES = [
    OutboundMessage(kind=OutboundKind.TEXT, text="Hello 👋"),
    OutboundMessage(
        kind=OutboundKind.BUTTONS,
        text="How can we help?",
        header="Acme support",
        footer="Tap a button",
        buttons=(ReplyButton("orders", "My orders"), ReplyButton("agent", "Talk to us")),
    ),
    OutboundMessage(
        kind=OutboundKind.LIST,
        text="Pick a topic",
        list_button="Topics",
        sections=(ListSection("Help", (ListRow("r1", "Refunds", "How refunds work"),)),),
    ),
    OutboundMessage(
        kind=OutboundKind.TEMPLATE,
        template_name="order_update",
        template_language="en",
        template_params=("Asha", "#1234"),
    ),
]


@pytest.mark.parametrize("message", MESSAGES, ids=[m.kind.value for m in MESSAGES])
async def test_simulator_records_exactly_the_built_body(
    client: Msg91Client, sim: SimulatorClient, message: OutboundMessage
) -> None:
    result = await client.send(CUSTOMER, message)
    [record] = await sim.accepted(CUSTOMER)
    assert record["body"] == client.request_for(CUSTOMER, message).body
    assert record["path"] == client.request_for(CUSTOMER, message).path
    assert record["authkey"] == "valid"
    assert result.message_uuid == record["message_ids"][0]
    assert result.request_id == record["request_id"]
    assert result.provider_message_id == result.message_uuid


async def test_text_body_matches_the_reference_literally(
    client: Msg91Client, sim: SimulatorClient
) -> None:
    await client.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="Hi"))
    [record] = await sim.accepted()
    assert record["body"] == {
        "integrated_number": NUMBER,
        "recipient_number": CUSTOMER,
        "content_type": "text",
        "text": "Hi",
    }


async def test_wrong_authkey_is_definitive(
    sim_server: RunningSimulator, sim: SimulatorClient
) -> None:
    async with Msg91Client(base_url=sim_server.url, integrated_number=NUMBER, auth_key="bad") as c:
        with pytest.raises(DefinitiveSendError) as info:
            await c.send(CUSTOMER, MESSAGES[0])
    assert info.value.outcome is AttemptOutcome.AUTH_ERROR and info.value.status_code == 401


async def test_validation_error_is_definitive_with_reason(client: Msg91Client) -> None:
    with pytest.raises(DefinitiveSendError) as info:
        await client.send("12", MESSAGES[0])  # MSG91 rejects the recipient
    assert info.value.outcome is AttemptOutcome.REJECTED
    assert info.value.classification.error_code == "INVALID_RECIPIENT"
    assert "recipient" in (info.value.classification.reason or "")


async def test_429_is_retryable_with_retry_after(client: Msg91Client, sim: SimulatorClient) -> None:
    await sim.fail_next(429, retry_after=2)
    with pytest.raises(RetryableSendError) as info:
        await client.send(CUSTOMER, MESSAGES[0])
    assert info.value.outcome is AttemptOutcome.RATE_LIMITED
    assert info.value.retry_after == 2.0
    assert info.value.classification.error_code == "130429"


async def test_html_502_is_retryable(client: Msg91Client, sim: SimulatorClient) -> None:
    await sim.fail_next(502, html=True)
    with pytest.raises(RetryableSendError) as info:
        await client.send(CUSTOMER, MESSAGES[0])
    assert info.value.outcome is AttemptOutcome.SERVER_ERROR and info.value.status_code == 502
    assert "<html>" in (info.value.response_text or "")


async def test_timeout_is_retryable(sim_server: RunningSimulator, sim: SimulatorClient) -> None:
    await sim.configure(latency_ms=[400, 400])
    async with Msg91Client(
        base_url=sim_server.url, integrated_number=NUMBER, auth_key=AUTH_KEY, timeout=0.1
    ) as c:
        with pytest.raises(RetryableSendError) as info:
            await c.send(CUSTOMER, MESSAGES[0])
    assert info.value.outcome is AttemptOutcome.TIMEOUT
    assert isinstance(info.value.__cause__, Exception)


async def test_connection_refused_is_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with Msg91Client(base_url=url, integrated_number=NUMBER) as c:
        with pytest.raises(RetryableSendError) as info:
            await c.send(CUSTOMER, MESSAGES[0])
    assert info.value.outcome is AttemptOutcome.CONNECTION_ERROR


async def test_from_settings_uses_base_url_and_key(
    sim_server: RunningSimulator, sim: SimulatorClient
) -> None:
    settings = load_settings(
        {
            "SUPPORTBOT_TENANT_ID": "acme",
            "SUPPORTBOT_INTEGRATED_NUMBER": "+919000000001",
            "SUPPORTBOT_WEBHOOK_SECRET": "x",
            "SUPPORTBOT_REDIS_URL": "redis://localhost",
            "SUPPORTBOT_DATABASE_URL": "postgresql://localhost/x",
            "SUPPORTBOT_MSG91_BASE_URL": sim_server.url,
            "MSG91_AUTH_KEY": AUTH_KEY,
        }
    )
    async with Msg91Client.from_settings(settings) as c:
        assert await c.integrated_numbers() == [NUMBER, "919000000002"]
        await c.send(CUSTOMER, MESSAGES[0])
    [record] = await sim.accepted()
    assert record["authkey"] == "valid" and record["body"]["integrated_number"] == NUMBER
