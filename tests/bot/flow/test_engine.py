"""The pure decision function: every flow feature, on the example flows and small inline flows."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import datetime, timedelta

from supportbot.flow import (
    HUMAN_OFFER_ID,
    Decision,
    Flow,
    HandoffRequested,
    OptOutChanged,
    SessionState,
    decide,
    load_flow_text,
    render_llm_failure,
    render_llm_reply,
)
from supportbot.messages import InboundMessage, MessageKind, OutboundKind

Msg = Callable[..., InboundMessage]


def texts(decision: Decision) -> list[str]:
    return [m.text for m in decision.messages]


def started(flow: Flow, step: str | None = None, **fields: object) -> SessionState:
    return SessionState(greeted=True, step=step, **fields)  # type: ignore[arg-type]


def test_first_contact_greets_and_shows_start_menu(
    store_flow: Flow, msg: Msg, open_now: datetime
) -> None:
    d = decide(store_flow, None, [msg("hello there")], open_now)
    assert d.outcome in ("greeting", "intent")
    assert d.messages[0].kind is OutboundKind.TEXT
    assert d.messages[0].text == "Hi Asha! Welcome to Acme Store support."
    menu = d.messages[1]
    assert menu.kind is OutboundKind.BUTTONS
    assert [b.id for b in menu.buttons] == ["track", "returns", "other"]
    assert menu.footer == "Reply 'agent' at any time to reach a person"
    assert d.state.greeted and d.state.step == "main_menu"
    assert d.effects == ()


def test_greeting_default_when_no_name(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    d = decide(store_flow, None, [msg("yo", name=None)], open_now)
    assert d.messages[0].text == "Hi there! Welcome to Acme Store support."


def test_state_argument_is_not_modified(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    state = started(store_flow, "main_menu")
    before = state.to_dict()
    decide(store_flow, state, [msg(reply_id="track", text="Track my order")], open_now)
    assert state.to_dict() == before


def test_button_reply_moves_to_goto_step(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    state = started(store_flow, "main_menu")
    d = decide(store_flow, state, [msg("Track my order", reply_id="track")], open_now)
    assert d.state.step == "ask_order" and d.state.awaiting_slot == "order_id"
    assert texts(d) == [store_flow.steps["ask_order"].text]
    assert d.outcome == "menu"


def test_list_reply_and_list_rendering(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    state = started(store_flow, "main_menu")
    d = decide(store_flow, state, [msg("Returns", reply_id="returns")], open_now)
    (menu,) = d.messages
    assert menu.kind is OutboundKind.LIST and menu.list_button == "Choose a topic"
    assert [s.title for s in menu.sections] == ["Returns", "Refunds"]
    assert menu.sections[0].rows[0].description == "Free returns within 30 days of delivery"
    d2 = decide(store_flow, d.state, [msg("Refund timing", reply_id="refund_time")], open_now)
    # refund_time -> next: anything_else (text step chains into the next menu)
    assert texts(d2)[0].startswith("Refunds are issued")
    assert d2.messages[1].kind is OutboundKind.BUTTONS and d2.state.step == "anything_else"


def test_list_row_with_handoff_action(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    state = started(store_flow, "returns_menu")
    d = decide(store_flow, state, [msg("Talk to our team", reply_id="refund_human")], open_now)
    assert d.handoff == HandoffRequested(reason="button", out_of_hours=False)
    assert d.state.handed_off


def test_reply_from_an_older_menu_still_routes(
    store_flow: Flow, msg: Msg, open_now: datetime
) -> None:
    state = started(store_flow, "ask_anything")
    d = decide(store_flow, state, [msg("Returns & refunds", reply_id="returns")], open_now)
    assert d.state.step == "returns_menu"


def test_keyword_intent_matches_whole_words(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    state = started(store_flow, "anything_else")
    d = decide(store_flow, state, [msg("I want a REFUND please")], open_now)
    assert d.outcome == "intent" and d.state.step == "returns_menu"
    # "returned" is not the word "return": no intent, so the LLM gets it
    d = decide(store_flow, started(store_flow, "ask_anything"), [msg("I returned home")], open_now)
    assert d.outcome == "llm"


def test_regex_intent(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    d = decide(store_flow, started(store_flow), [msg("what about ac-123456?")], open_now)
    assert d.state.step == "ask_order"


def test_intent_reply_text(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    d = decide(store_flow, started(store_flow), [msg("are you open today")], open_now)
    assert texts(d) == [store_flow.intents[3].reply]


def test_slot_is_validated_stored_and_interpolated(
    store_flow: Flow, msg: Msg, open_now: datetime
) -> None:
    state = started(store_flow, "ask_order", awaiting_slot="order_id")
    bad = decide(store_flow, state, [msg("my order is 12")], open_now)
    assert texts(bad) == [store_flow.steps["ask_order"].ask.invalid]  # type: ignore[union-attr]
    assert bad.state.attempts == 1 and bad.state.awaiting_slot == "order_id"
    good = decide(store_flow, bad.state, [msg("AC-654321")], open_now)
    assert good.state.slots["order_id"] == "AC-654321"
    assert good.outcome == "slot"
    assert "order AC-654321" in texts(good)[0]
    assert "https://acme.example/track/AC-654321" in texts(good)[0]
    assert good.state.step == "anything_else" and good.state.attempts == 0


def test_slot_max_attempts_goes_to_on_fail(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    state = started(store_flow, "ask_order", awaiting_slot="order_id")
    for _ in range(2):
        state = decide(store_flow, state, [msg("dunno")], open_now).state
    d = decide(store_flow, state, [msg("still dunno")], open_now)
    # on_fail: order_help -> action handoff with the step's own text
    assert texts(d) == ["No problem, a member of our team will find your order for you."]
    assert d.handoff == HandoffRequested(reason="step", out_of_hours=False)


def test_slot_without_on_fail_hands_off(clinic_flow: Flow, msg: Msg, open_now: datetime) -> None:
    state = started(clinic_flow, "ask_date", awaiting_slot="preferred_date")
    state = decide(clinic_flow, state, [msg("tomorrow")], open_now).state
    d = decide(clinic_flow, state, [msg("next week")], open_now)
    assert d.handoff is not None and d.handoff.reason == "ask_failed"


def test_intent_interrupts_a_question(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    state = started(store_flow, "ask_order", awaiting_slot="order_id")
    d = decide(store_flow, state, [msg("actually I need a refund")], open_now)
    assert d.state.step == "returns_menu" and d.state.awaiting_slot is None


def test_multi_step_slots_interpolate_in_clinic(
    clinic_flow: Flow, msg: Msg, open_now: datetime
) -> None:
    d = decide(clinic_flow, None, [msg("Book an appointment", reply_id="book")], open_now)
    assert d.messages[0].text == "Hello Asha, this is Sunrise Family Clinic."
    assert d.state.awaiting_slot == "patient_name"
    d = decide(clinic_flow, d.state, [msg("Ravi Kumar")], open_now)
    assert texts(d) == ["Which date would you like, Ravi Kumar? Please write it as DD-MM-YYYY."]
    d = decide(clinic_flow, d.state, [msg("15-03-2026")], open_now)
    assert d.messages[0].kind is OutboundKind.BUTTONS
    d = decide(clinic_flow, d.state, [msg("Evening (17-20)", reply_id="evening")], open_now)
    assert texts(d)[0] == (
        "Thank you. We've requested an evening appointment on 15-03-2026 for Ravi Kumar. "
        "Our front desk will confirm shortly."
    )
    assert d.handoff == HandoffRequested(reason="step", out_of_hours=False)


def test_free_text_goes_to_llm_with_prompt_and_knowledge(
    store_flow: Flow, msg: Msg, open_now: datetime
) -> None:
    state = started(store_flow, "ask_anything", slots={"customer_name": "Asha"})
    d = decide(store_flow, state, [msg("Do you ship to Pune?"), msg("And how fast?")], open_now)
    assert d.messages == () and d.outcome == "llm"
    assert d.llm is not None
    assert d.llm.user_text == "Do you ship to Pune?\nAnd how fast?"
    assert "You are the friendly support assistant of Acme Store" in d.llm.system_prompt
    assert "Asha is writing on WhatsApp." in d.llm.system_prompt
    assert "## Shipping\nOrders ship within 1 business day." in d.llm.system_prompt
    assert d.llm.history_messages == 10
    reply = render_llm_reply(store_flow, d.state, "  We ship everywhere.  ")
    assert [m.text for m in reply] == ["We ship everywhere."]


def test_llm_failure_offers_a_human_and_the_button_hands_off(
    store_flow: Flow, msg: Msg, open_now: datetime
) -> None:
    state = started(store_flow, "ask_anything")
    (offer,) = render_llm_failure(store_flow, state)
    assert offer.kind is OutboundKind.BUTTONS
    assert offer.text == store_flow.fallback.message
    assert [(b.id, b.title) for b in offer.buttons] == [(HUMAN_OFFER_ID, "Talk to a human")]
    d = decide(store_flow, state, [msg("Talk to a human", reply_id=HUMAN_OFFER_ID)], open_now)
    assert d.handoff == HandoffRequested(reason="fallback_offer", out_of_hours=False)
    assert texts(d) == [store_flow.handoff.message]


def test_no_llm_section_repeats_menu(msg: Msg, open_now: datetime) -> None:
    flow = load_flow_text(
        textwrap.dedent("""\
        version: 1
        name: t
        start: menu
        fallback: {offer_human: false}
        steps:
          menu:
            text: "Pick"
            buttons: [{id: a, title: "A", goto: menu}]
        """)
    )
    d = decide(flow, started(flow, "menu"), [msg("random words")], open_now)
    assert d.outcome == "unmatched" and d.llm is None
    assert texts(d) == [flow.fallback.unmatched, "Pick"]
    (failure,) = render_llm_failure(flow, started(flow))
    assert failure.kind is OutboundKind.TEXT


def test_handoff_keyword_then_silence(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    d = decide(
        store_flow, started(store_flow, "main_menu"), [msg("can I talk to an AGENT?")], open_now
    )
    assert d.handoff == HandoffRequested(reason="keyword", out_of_hours=False)
    assert texts(d) == [store_flow.handoff.message] and d.state.handed_off
    later = decide(store_flow, d.state, [msg("hello?"), msg("menu")], open_now)
    assert later.messages == () and later.effects == () and later.outcome == "silent_handed_off"
    # handing back is the engine's job: clear the flag and the bot answers again
    back = later.state.handed_back()
    assert later.state.handed_off, "handed_back returns a copy"
    assert decide(store_flow, back, [msg("menu")], open_now).state.step == "main_menu"


def test_handoff_keyword_in_same_turn_drops_llm_request(
    store_flow: Flow, msg: Msg, open_now: datetime
) -> None:
    state = started(store_flow, "ask_anything")
    d = decide(
        store_flow, state, [msg("how much is shipping"), msg("actually, human please")], open_now
    )
    assert d.llm is None and d.handoff is not None


def test_out_of_hours_handoff_is_queued(store_flow: Flow, msg: Msg, closed_now: datetime) -> None:
    d = decide(store_flow, started(store_flow, "main_menu"), [msg("agent")], closed_now)
    assert d.handoff == HandoffRequested(reason="keyword", out_of_hours=True)
    assert texts(d) == [store_flow.business_hours.message]  # type: ignore[union-attr]


def test_out_of_hours_handoff_refused_and_all_mode(
    clinic_flow: Flow, msg: Msg, closed_now: datetime
) -> None:
    # applies_to: all -> the closed message once, then quiet for repeat_after_minutes (120)
    d = decide(clinic_flow, None, [msg("hi"), msg("hello?")], closed_now)
    assert texts(d) == [clinic_flow.business_hours.message]  # type: ignore[union-attr]
    assert d.outcome == "out_of_hours" and not d.state.greeted
    d2 = decide(clinic_flow, d.state, [msg("anyone?")], closed_now + timedelta(minutes=30))
    assert d2.messages == ()
    d3 = decide(clinic_flow, d2.state, [msg("hello")], closed_now + timedelta(minutes=121))
    assert len(d3.messages) == 1
    # when open, the same conversation gets the greeting and menu
    opened = closed_now + timedelta(hours=10)  # 09:00 IST next day
    d4 = decide(clinic_flow, d3.state, [msg("hello")], opened)
    assert d4.state.greeted and d4.messages[-1].kind is OutboundKind.LIST


def test_refuse_mode_keeps_customer_with_bot(msg: Msg, closed_now: datetime) -> None:
    flow = load_flow_text(
        textwrap.dedent("""\
        version: 1
        name: t
        start: menu
        steps:
          menu: {text: "Hi"}
        business_hours:
          timezone: Asia/Kolkata
          schedule: {wed: ["09:00-18:00"]}
          message: "We are closed."
          closed_handoff: refuse
        """)
    )
    d = decide(flow, started(flow, "menu"), [msg("human")], closed_now)
    assert d.handoff is None and not d.state.handed_off
    assert texts(d) == ["We are closed."] and d.outcome == "out_of_hours"


def test_out_of_hours_message_says_when_agents_reply(msg: Msg, closed_now: datetime) -> None:
    flow = load_flow_text(
        textwrap.dedent("""\
        version: 1
        name: t
        start: menu
        steps:
          menu: {text: "Hi"}
        business_hours:
          timezone: Asia/Kolkata
          schedule: {wed: ["09:00-18:00"], thu: ["09:30-18:00"]}
          message: "We're closed; an agent will reply after {{opens_at|our next opening}}."
        """)
    )
    d = decide(flow, started(flow, "menu"), [msg("human")], closed_now)
    assert d.handoff is not None and d.handoff.out_of_hours
    # Wednesday 23:00 IST: Thursday opens at 09:30
    assert texts(d) == ["We're closed; an agent will reply after 09:30."]


def test_holiday_is_closed(store_flow: Flow, msg: Msg) -> None:
    from datetime import UTC

    republic_day_noon = datetime(2026, 1, 26, 6, 30, tzinfo=UTC)
    d = decide(store_flow, started(store_flow), [msg("agent")], republic_day_noon)
    assert d.handoff is not None and d.handoff.out_of_hours


def test_opt_out_until_opt_in(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    d = decide(store_flow, started(store_flow, "main_menu"), [msg("Stop!")], open_now)
    assert d.effects == (OptOutChanged(opted_out=True),) and d.state.opted_out
    assert texts(d) == [store_flow.opt_out.confirmation] and d.outcome == "opt_out"
    quiet = decide(store_flow, d.state, [msg("menu"), msg("agent"), msg("STOP")], open_now)
    assert quiet.messages == () and quiet.effects == ()
    back = decide(store_flow, quiet.state, [msg("start")], open_now)
    assert back.effects == (OptOutChanged(opted_out=False),) and not back.state.opted_out
    assert texts(back) == [store_flow.opt_out.opt_in_confirmation]


def test_opt_out_wins_over_earlier_messages_of_the_turn(
    store_flow: Flow, msg: Msg, open_now: datetime
) -> None:
    d = decide(store_flow, None, [msg("hi"), msg("STOP")], open_now)
    assert texts(d) == [store_flow.opt_out.confirmation]


def test_opt_out_keyword_inside_a_sentence_is_not_an_opt_out(
    store_flow: Flow, msg: Msg, open_now: datetime
) -> None:
    d = decide(
        store_flow,
        started(store_flow, "ask_anything"),
        [msg("please don't stop the order")],
        open_now,
    )
    assert not d.state.opted_out and d.llm is not None


def test_opt_out_honoured_during_handoff(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    state = started(store_flow, handed_off=True)
    d = decide(store_flow, state, [msg("UNSUBSCRIBE")], open_now)
    assert d.state.opted_out and d.effects == (OptOutChanged(opted_out=True),)


def test_media_without_text_gets_unsupported_message(
    store_flow: Flow, msg: Msg, open_now: datetime
) -> None:
    d = decide(
        store_flow, started(store_flow, "main_menu"), [msg(None, kind=MessageKind.IMAGE)], open_now
    )
    assert texts(d) == [store_flow.fallback.unsupported] and d.outcome == "unsupported"


def test_unknown_step_in_state_is_reset(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    state = started(store_flow, "step_removed_by_reload", awaiting_slot="gone")
    d = decide(store_flow, state, [msg("refund")], open_now)
    assert d.state.step == "returns_menu"


def test_end_action_returns_to_rest(store_flow: Flow, msg: Msg, open_now: datetime) -> None:
    d = decide(
        store_flow,
        started(store_flow, "anything_else"),
        [msg("No, thanks", reply_id="done")],
        open_now,
    )
    assert texts(d) == ["Thanks for shopping with Acme, Asha!"] and d.state.step is None


def test_session_state_round_trip() -> None:
    state = SessionState(
        greeted=True, step="x", slots={"a": "1"}, opted_out=True, out_of_hours_notified_at=12.5
    )
    data = state.to_dict()
    assert SessionState.from_dict({**data, "unknown_future_field": 1}) == state


def test_llm_reply_keeps_its_place_in_a_coalesced_turn(
    store_flow: Flow, msg: Msg, open_now: datetime
) -> None:
    """A question typed before a menu tap is answered before the tapped step's reply."""
    state = started(store_flow, "main_menu", slots={"customer_name": "Asha"})
    d = decide(store_flow, state, [msg("Do you ship to Pune?"), msg(reply_id="track")], open_now)
    assert d.llm is not None and d.llm.user_text == "Do you ship to Pune?"
    assert d.llm_at == 0
    assert texts(d)[0].startswith("Please send your order number")

    after = decide(store_flow, state, [msg(reply_id="other"), msg("Do you ship?")], open_now)
    assert after.llm is not None and after.llm_at == len(after.messages) == 1

    plain = decide(store_flow, state, [msg(reply_id="track")], open_now)
    assert plain.llm is None and plain.llm_at is None
