"""The Graph send client against the Meta simulator over real HTTP: exact recorded bodies, the
wamid back, each error class, Retry-After honoured, timeouts, read receipt + typing."""

from __future__ import annotations

import time

import pytest

from supportbot.messages import ListRow, ListSection, OutboundKind, OutboundMessage, ReplyButton
from supportbot.meta.client import MetaClient
from supportbot.meta.errors import AttemptOutcome, DefinitiveSendError, RetryableSendError
from supportbot.meta.payloads import MediaMessage, TemplateHeader, TemplateMessage
from supportbot.meta.simulator.driver import MetaSimulatorClient
from supportbot.meta.simulator.process import RunningSimulator

PHONE_NUMBER_ID, TOKEN, CUSTOMER = "106540352242922", "test-token-1", "16505551234"
PATH = f"/v21.0/{PHONE_NUMBER_ID}/messages"

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
MEDIA = [
    MediaMessage("image", link="https://cdn.example/a.png", caption="Your receipt"),
    MediaMessage("document", media_id="1013859600285441", caption="Invoice", filename="inv.pdf"),
    MediaMessage("video", link="https://cdn.example/a.mp4"),
    MediaMessage("audio", media_id="1013859600285442"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=[m.kind.value for m in MESSAGES])
async def test_each_kind_is_recorded_with_exactly_the_built_body(
    client: MetaClient, sim: MetaSimulatorClient, message: OutboundMessage
) -> None:
    result = await client.send(CUSTOMER, message)
    [record] = await sim.accepted(CUSTOMER)
    assert record["body"] == client.request_for(CUSTOMER, message).body
    assert record["path"] == PATH
    assert record["auth"] == "valid"
    assert result.wamid == record["message_id"] == result.provider_message_id
    assert result.wa_id == CUSTOMER
    assert record["response"] == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}],
        "messages": [{"id": result.wamid}],
    }


@pytest.mark.parametrize("media", MEDIA, ids=[m.kind for m in MEDIA])
async def test_media_by_link_or_id(
    client: MetaClient, sim: MetaSimulatorClient, media: MediaMessage
) -> None:
    result = await client.send_media(CUSTOMER, media)
    [record] = await sim.accepted(CUSTOMER)
    assert record["body"] == client.media_request(CUSTOMER, media).body
    assert record["kind"] == media.kind
    assert result.wamid == record["message_id"]


async def test_template_with_a_media_header(client: MetaClient, sim: MetaSimulatorClient) -> None:
    template = TemplateMessage(
        "order_update", "en_US", ("Asha",), TemplateHeader("document", media_id="55", filename="a")
    )
    await client.send_template(CUSTOMER, template)
    [record] = await sim.accepted(CUSTOMER)
    assert record["body"] == client.template_request(CUSTOMER, template).body
    assert record["body"]["template"]["components"][0]["parameters"][0]["document"] == {
        "id": "55",
        "filename": "a",
    }


async def test_reply_quoting(client: MetaClient, sim: MetaSimulatorClient) -> None:
    message = OutboundMessage(kind=OutboundKind.TEXT, text="Re")
    await client.send(CUSTOMER, message, context_id="wamid.QUOTED")
    [record] = await sim.accepted(CUSTOMER)
    assert record["body"]["context"] == {"message_id": "wamid.QUOTED"}


async def test_mark_read_with_typing_is_recorded_as_a_receipt(
    client: MetaClient, sim: MetaSimulatorClient
) -> None:
    wamid = (await sim.send_inbound(CUSTOMER, "Where is my order?"))["message_id"]
    await client.mark_read(wamid)
    [record] = await sim.messages(endpoint="read")
    assert record["body"] == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
        "typing_indicator": {"type": "text"},
    }
    assert record["response"] == {"success": True}
    [receipt] = await sim.receipts(CUSTOMER)
    assert receipt["typing"] is True and receipt["message_id"] == wamid
    assert receipt["reply_message_id"] is None
    await client.mark_read(wamid, typing=False)
    assert [r["typing"] for r in await sim.receipts(CUSTOMER)] == [True, False]


async def test_mark_read_of_an_unknown_message_is_rejected(client: MetaClient) -> None:
    with pytest.raises(DefinitiveSendError) as err:
        await client.mark_read("wamid.NEVER-SEEN")
    assert err.value.outcome is AttemptOutcome.REJECTED
    assert err.value.classification.error_code == "100"


@pytest.mark.parametrize(
    ("code", "outcome", "retryable"),
    [
        (130429, AttemptOutcome.RATE_LIMITED, True),
        (131056, AttemptOutcome.PAIR_RATE_LIMITED, True),
        (131057, AttemptOutcome.RATE_LIMITED, True),
        (131047, AttemptOutcome.WINDOW_CLOSED, False),
        (131026, AttemptOutcome.UNDELIVERABLE, False),
        (190, AttemptOutcome.AUTH_ERROR, False),
        (10, AttemptOutcome.AUTH_ERROR, False),
        (200, AttemptOutcome.AUTH_ERROR, False),
        (132001, AttemptOutcome.REJECTED, False),
    ],
)
async def test_injected_graph_errors_map_to_their_class(
    client: MetaClient,
    sim: MetaSimulatorClient,
    code: int,
    outcome: AttemptOutcome,
    retryable: bool,
) -> None:
    await sim.fail_next(code=code)
    with pytest.raises(RetryableSendError if retryable else DefinitiveSendError) as err:
        await client.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="x"))
    assert err.value.outcome is outcome
    assert err.value.classification.error_code == str(code)
    assert err.value.classification.fbtrace_id
    assert err.value.needs_template is (code == 131047)
    # the fault was used up: the next send goes through
    await client.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="x"))


async def test_server_errors_are_retryable(client: MetaClient, sim: MetaSimulatorClient) -> None:
    await sim.fail_next(503)
    with pytest.raises(RetryableSendError) as err:
        await client.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="x"))
    assert err.value.outcome is AttemptOutcome.SERVER_ERROR
    assert err.value.status_code == 503


async def test_retry_after_is_honoured(client: MetaClient, sim: MetaSimulatorClient) -> None:
    await sim.throttle_next(retry_after=7)
    with pytest.raises(RetryableSendError) as err:
        await client.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="x"))
    assert err.value.retry_after == 7.0
    await sim.pair_rate_limit_next()  # no header: the pair-rate floor (§2.8, ~1 msg / 6 s)
    with pytest.raises(RetryableSendError) as err:
        await client.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="x"))
    assert err.value.retry_after == 6.0
    await sim.pair_rate_limit_next(retry_after=12)
    with pytest.raises(RetryableSendError) as err:
        await client.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="x"))
    assert err.value.retry_after == 12.0


async def test_expired_and_wrong_tokens_are_config_errors(
    meta_server: RunningSimulator, client: MetaClient, sim: MetaSimulatorClient
) -> None:
    async with MetaClient(
        base_url=meta_server.url, phone_number_id=PHONE_NUMBER_ID, access_token="wrong"
    ) as wrong:
        with pytest.raises(DefinitiveSendError) as err:
            await wrong.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="x"))
    assert (err.value.outcome, err.value.status_code) == (AttemptOutcome.AUTH_ERROR, 401)
    await sim.expire_token(TOKEN)
    with pytest.raises(DefinitiveSendError) as err:
        await client.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="x"))
    assert err.value.outcome is AttemptOutcome.AUTH_ERROR
    assert err.value.classification.error_subcode == "463"


async def test_unknown_phone_number_id_is_rejected(
    meta_server: RunningSimulator, sim: MetaSimulatorClient
) -> None:
    async with MetaClient(
        base_url=meta_server.url, phone_number_id="999", access_token=TOKEN
    ) as other:
        with pytest.raises(DefinitiveSendError) as err:
            await other.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="x"))
    assert err.value.classification.error_code == "100"
    assert err.value.classification.error_subcode == "33"


async def test_a_hang_is_a_retryable_timeout(
    meta_server: RunningSimulator, sim: MetaSimulatorClient
) -> None:
    await sim.hang_next(3.0)
    async with MetaClient(
        base_url=meta_server.url, phone_number_id=PHONE_NUMBER_ID, access_token=TOKEN, timeout=0.3
    ) as impatient:
        started = time.monotonic()
        with pytest.raises(RetryableSendError) as err:
            await impatient.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="x"))
    assert err.value.outcome is AttemptOutcome.TIMEOUT
    assert time.monotonic() - started < 2.5


async def test_connection_refused_is_retryable() -> None:
    from supportbot.meta.simulator.process import free_port

    async with MetaClient(
        base_url=f"http://127.0.0.1:{free_port()}", phone_number_id="1", access_token="t"
    ) as nowhere:
        with pytest.raises(RetryableSendError) as err:
            await nowhere.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text="x"))
    assert err.value.outcome is AttemptOutcome.CONNECTION_ERROR
