"""CSAT's pure parts: the flow section's validation, the rating question, what a tap decides,
the end step's `Resolved` effect, and the sender's verdict."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from supportbot.engine.csat import csat_notes, verdict
from supportbot.flow import SessionState, decide, load_flow_text, validate_flow_text
from supportbot.flow.render import csat_question
from supportbot.flow.schema import Csat
from supportbot.flow.state import CsatAnswered, Resolved, csat_reply_id, parse_csat_reply
from supportbot.messages import InboundMessage, OutboundKind
from supportbot.storage.csat import Survey
from supportbot.storage.models import Conversation, HandoffState

Msg = Callable[..., InboundMessage]

FLOW = """\
version: 1
name: t
start: menu
steps:
  menu:
    text: "Pick one"
    buttons:
      - {id: hours, title: "Hours", goto: hours}
  hours:
    text: "9-18"
    action: end
csat:
  question: "Rate us"
  thanks: "Thanks!"
"""


def test_a_csat_section_is_validated_with_line_numbers() -> None:
    assert validate_flow_text(FLOW) == []
    assert load_flow_text(FLOW.split("csat:")[0]).csat is None  # off when absent
    bad = FLOW + "  scale: 4\n  after: []\n  idle_minutes: 0\n"
    errors = validate_flow_text(bad)
    assert any(e.startswith("line 15: csat.scale:") for e in errors), errors
    assert any(e.startswith("line 16: csat.after:") for e in errors), errors
    assert any(e.startswith("line 17: csat.idle_minutes:") for e in errors), errors


def test_the_question_names_the_survey_and_fits_whatsapp() -> None:
    five = csat_question(Csat(question="Rate us"), 42)
    assert five.kind is OutboundKind.LIST and five.list_button == "Rate us"
    rows = [r for s in five.sections for r in s.rows]
    assert [r.id for r in rows] == [f"sb:csat:42:{n}" for n in (5, 4, 3, 2, 1)]
    assert all(len(r.title) <= 24 for r in rows)
    three = csat_question(Csat(question="Rate us", scale=3), 7)
    assert three.kind is OutboundKind.BUTTONS
    assert [(b.id, b.title) for b in three.buttons] == [
        ("sb:csat:7:3", "Good"),
        ("sb:csat:7:2", "OK"),
        ("sb:csat:7:1", "Poor"),
    ]


@pytest.mark.parametrize(
    ("reply_id", "parsed"),
    [
        (csat_reply_id(12, 4), (12, 4)),
        ("sb:csat:12:45", None),
        ("sb:csat:x:4", None),
        ("sb:csat:12", None),
        ("sb:handoff", None),
        ("hours", None),
    ],
)
def test_reply_ids(reply_id: str, parsed: tuple[int, int] | None) -> None:
    assert parse_csat_reply(reply_id) == parsed


def test_an_end_step_is_a_resolution(msg: Msg, open_now: datetime) -> None:
    flow = load_flow_text(FLOW)
    state = SessionState(greeted=True, step="menu")
    d = decide(flow, state, [msg("Hours", reply_id="hours")], open_now)
    assert Resolved() in d.effects and d.state.step is None
    assert csat_notes(d.effects) == {"resolved": True}


def test_a_rating_tap_is_recorded_and_thanked_without_moving_the_flow(
    msg: Msg, open_now: datetime
) -> None:
    flow = load_flow_text(FLOW)
    state = SessionState(greeted=True, step="menu")
    d = decide(flow, state, [msg("★★★★ Good", reply_id="sb:csat:9:4")], open_now)
    assert d.effects == (CsatAnswered(survey_id=9, rating=4),)
    assert [m.text for m in d.messages] == ["Thanks!"] and d.outcome == "csat"
    assert d.state.step == "menu"
    assert csat_notes(d.effects) == {"csat_ratings": [[9, 4]]}
    # a human owns the conversation: recorded, but the bot says nothing
    tap = [msg("x", reply_id="sb:csat:9:4")]
    held = decide(flow, SessionState(greeted=True, handed_off=True), tap, open_now)
    assert held.effects == (CsatAnswered(9, 4),) and held.messages == ()
    # opted out: ignored altogether
    out = decide(flow, SessionState(greeted=True, opted_out=True), tap, open_now)
    assert out.effects == () and out.messages == ()


T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def survey(trigger: str = "flow_end") -> Survey:
    return Survey(
        id=1,
        tenant_id="acme",
        customer_id="919876543210",
        since_inbound=T0,
        trigger=trigger,
        created_at=T0,
        due_at=T0,
        status="pending",
        skip_reason=None,
        asked_at=None,
        rating=None,
        scale=None,
        answered_at=None,
    )


def conversation(**changes: object) -> Conversation:
    fields: dict[str, object] = {
        "tenant_id": "acme",
        "customer_id": "919876543210",
        "phone": "919876543210",
        "bsuid": None,
        "name": "Asha",
        "created_at": T0,
        "last_inbound_at": T0,
        "last_outbound_at": T0,
        "last_activity_at": T0,
        "handoff_state": HandoffState.BOT,
        "handoff_agent": None,
        "handoff_reason": None,
        "handoff_since": None,
        "opted_out": False,
        "opted_out_since": None,
    }
    fields.update(changes)
    return Conversation(**fields)  # type: ignore[arg-type]


CONFIG = Csat(after=["flow_end", "idle"], cooldown_hours=24)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ({}, None),
        ({"config": None}, "disabled"),
        ({"survey": survey("agent_resolved")}, "disabled"),
        ({"conversation": None}, "opted_out"),
        ({"conversation": conversation(opted_out=True)}, "opted_out"),
        ({"conversation": conversation(handoff_state=HandoffState.HUMAN)}, "handed_off"),
        ({"conversation": conversation(handoff_state=HandoffState.PENDING)}, "handed_off"),
        (
            {"conversation": conversation(last_inbound_at=T0 + timedelta(seconds=1))},
            "conversation_continued",
        ),
        ({"now": T0 + timedelta(hours=23, minutes=49)}, None),
        ({"now": T0 + timedelta(hours=23, minutes=50)}, "window_closed"),
        ({"last_asked": T0 - timedelta(hours=23)}, "cooldown"),
        ({"last_asked": T0 - timedelta(hours=25)}, None),
    ],
)
def test_verdict(case: dict[str, object], expected: str | None) -> None:
    args: dict[str, object] = {
        "survey": survey(),
        "conversation": conversation(),
        "config": CONFIG,
        "now": T0 + timedelta(minutes=5),
        "last_asked": None,
    }
    args.update(case)
    assert (
        verdict(
            args["survey"],  # type: ignore[arg-type]
            args["conversation"],  # type: ignore[arg-type]
            args["config"],  # type: ignore[arg-type]
            now=args["now"],  # type: ignore[arg-type]
            last_asked=args["last_asked"],  # type: ignore[arg-type]
        )
        == expected
    )
