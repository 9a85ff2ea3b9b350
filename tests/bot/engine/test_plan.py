"""Pure parts of the engine: the turn plan's JSON round trip, message selection under
throttling, durable-state reconciliation and the LLM history."""

from __future__ import annotations

from datetime import UTC, datetime

from supportbot.engine.codec import outbound_from_dict, outbound_to_dict
from supportbot.engine.plan import LLMUsage, TurnPlan, chat_history, reconcile, select_messages
from supportbot.engine.testing import FLOW_YAML, customer_message
from supportbot.flow import HandoffRequested, SessionState, load_flow_text
from supportbot.messages import (
    DeliveryState,
    ListRow,
    ListSection,
    OutboundKind,
    OutboundMessage,
    ReplyButton,
)
from supportbot.storage.models import Direction, MessageRecord

FLOW = load_flow_text(FLOW_YAML)
AT = datetime(2026, 3, 1, tzinfo=UTC)

LIST = OutboundMessage(
    kind=OutboundKind.LIST,
    text="Pick one",
    footer="f",
    list_button="Choose",
    sections=(ListSection("S", (ListRow("a", "A", "desc"), ListRow("b", "B"))),),
)
BUTTONS = OutboundMessage(kind=OutboundKind.BUTTONS, text="Menu", buttons=(ReplyButton("x", "X"),))
TEMPLATE = OutboundMessage(
    kind=OutboundKind.TEMPLATE, template_name="t", template_language="en", template_params=("p",)
)


def test_outbound_messages_round_trip() -> None:
    for message in (LIST, BUTTONS, TEMPLATE, OutboundMessage(kind=OutboundKind.TEXT, text="hi")):
        assert outbound_from_dict(outbound_to_dict(message)) == message


def test_turn_plan_round_trip() -> None:
    state = SessionState(
        greeted=True, step="menu", slots={"customer_name": "Asha"}, handed_off=True
    )
    plan = TurnPlan(
        messages=(BUTTONS, LIST),
        state=state,
        outcome="handoff",
        handoff=HandoffRequested(reason="keyword", out_of_hours=True),
        opted_out=False,
        llm=LLMUsage("m", "m", 10, 5, 0.001, 1.5, True),
        llm_error=None,
    )
    assert TurnPlan.from_json(plan.to_json()) == plan


def test_throttled_messages_are_held_back_except_opt_out_keywords() -> None:
    normal = customer_message("hi")
    throttled = customer_message("more", throttled=True, throttle_notice=True)
    stop = customer_message(" Stop! ", throttled=True)
    start = customer_message("START", throttled=True)
    chosen, notice = select_messages(FLOW, [normal, throttled, stop, start])
    assert chosen == [normal, stop, start] and notice is True
    assert select_messages(FLOW, [customer_message("x", throttled=True)]) == ([], False)


def test_postgres_flags_override_the_session() -> None:
    assert reconcile(None, opted_out=False, handed_off=False) is None
    fresh = reconcile(None, opted_out=True, handed_off=False)
    assert fresh == SessionState(opted_out=True)
    session = SessionState(greeted=True, step="ask", awaiting_slot="x", attempts=2, handed_off=True)
    back = reconcile(session, opted_out=False, handed_off=False)
    assert back is not None
    assert (back.handed_off, back.step, back.awaiting_slot, back.attempts) == (False, None, None, 0)
    assert back.greeted is True
    taken = reconcile(SessionState(greeted=True, step="menu"), opted_out=False, handed_off=True)
    assert taken is not None and taken.handed_off and taken.step == "menu"


def record(
    i: int,
    direction: Direction,
    text: str | None,
    *,
    kind: str = "text",
    state: DeliveryState | None = None,
    pid: str | None = None,
) -> MessageRecord:
    return MessageRecord(
        id=i,
        tenant_id="acme",
        customer_id="c",
        direction=direction,
        author="customer" if direction is Direction.INBOUND else "bot",
        provider_message_id=pid,
        turn_id=None,
        seq=None,
        kind=kind,
        text=text,
        body={},
        provider_ts=None,
        delivery_state=state,
        delivery_error_code=None,
        delivery_error_reason=None,
        delivery_updated_at=None,
        sent_at=None,
        delivered_at=None,
        read_at=None,
        failed_at=None,
        created_at=AT,
    )


def test_chat_history() -> None:
    records = [
        record(1, Direction.INBOUND, "one", pid="w1"),
        record(2, Direction.OUTBOUND, "two", state=DeliveryState.READ),
        record(3, Direction.OUTBOUND, "failed", state=DeliveryState.FAILED),
        record(4, Direction.OUTBOUND, "tmpl", kind="template"),
        record(5, Direction.INBOUND, None, kind="image", pid="w5"),
        record(6, Direction.INBOUND, "three", pid="w6"),
        record(7, Direction.INBOUND, "now", pid="current"),
    ]
    assert chat_history(records, {"current"}, 10) == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    assert chat_history(records, {"current"}, 2) == [
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    assert chat_history(records, set(), 0) == []
