"""The read-receipt / typing plan of a turn (pure), and the plan carried out against the
simulator: typing shown before the reply, nothing when no reply follows."""

from __future__ import annotations

import time

from supportbot.messages import InboundMessage, MessageKind, OutboundKind, OutboundMessage
from supportbot.meta.client import MetaClient
from supportbot.meta.readplan import ReadPlan, read_plan
from supportbot.meta.simulator.driver import MetaSimulatorClient

CUSTOMER = "16505551234"


def _message(message_id: str) -> InboundMessage:
    return InboundMessage("t1", CUSTOMER, message_id, MessageKind.TEXT, time.time())


def test_the_newest_wamid_gets_read_and_typing() -> None:
    turn = [_message("wamid.A"), _message("wamid.B"), _message("sha256-of-a-body")]
    assert read_plan(turn, reply_will_follow=True) == ReadPlan("wamid.B", typing=True)


def test_nothing_when_no_reply_will_follow_or_no_wamid() -> None:
    assert read_plan([_message("wamid.A")], reply_will_follow=False) is None
    assert read_plan([_message("hash")], reply_will_follow=True) is None
    assert read_plan([], reply_will_follow=True) is None


async def _turn(
    client: MetaClient, sim: MetaSimulatorClient, text: str, *, reply: str | None
) -> None:
    wamid = (await sim.send_inbound(CUSTOMER, text))["message_id"]
    plan = read_plan([_message(wamid)], reply_will_follow=reply is not None)
    if plan is not None:
        await client.mark_read(plan.message_id, typing=plan.typing)
    if reply is not None:
        await client.send(CUSTOMER, OutboundMessage(kind=OutboundKind.TEXT, text=reply))


async def test_typing_precedes_every_reply_and_never_shows_alone(
    client: MetaClient, sim: MetaSimulatorClient
) -> None:
    await _turn(client, sim, "Where is my order?", reply="On its way")
    await _turn(client, sim, "(to the human agent)", reply=None)
    await _turn(client, sim, "Thanks!", reply="You're welcome")
    receipts = await sim.receipts(CUSTOMER)
    assert len(receipts) == 2
    assert all(r["typing"] and r["reply_within_indicator"] for r in receipts)
    assert all(r["reply_seq"] > r["seq"] for r in receipts)
    replies = await sim.accepted(CUSTOMER)
    assert [r["message_id"] for r in replies] == [r["reply_message_id"] for r in receipts]
