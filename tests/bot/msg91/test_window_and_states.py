"""Pure rules: the 24 h window, the per-turn send plan, and the delivery-state machine."""

from __future__ import annotations

import itertools

import pytest

from supportbot.messages import (
    DeliveryReport,
    DeliveryState,
    OutboundKind,
    OutboundMessage,
    ReplyButton,
    next_delivery_state,
)
from supportbot.provider.dlr import DeliveryRecord, apply_report
from supportbot.provider.dlr_store import InMemoryDeliveryStateStore
from supportbot.provider.window import (
    OUTSIDE_WINDOW_NO_TEMPLATE,
    OUTSIDE_WINDOW_TEMPLATE_SENT,
    fallback_template,
    plan_replies,
    window_open,
)
from supportbot.settings import load_settings

S = DeliveryState
TEXT = OutboundMessage(kind=OutboundKind.TEXT, text="hello")
MENU = OutboundMessage(kind=OutboundKind.BUTTONS, text="pick", buttons=(ReplyButton("a", "A"),))
TEMPLATE = OutboundMessage(kind=OutboundKind.TEMPLATE, template_name="reengage")
H = 3600.0


@pytest.mark.parametrize(
    ("last", "now", "open_"),
    [
        (None, 1000.0, False),
        (0.0, 1.0, True),
        (0.0, 23 * H, True),
        (0.0, 24 * H - 61, True),
        (0.0, 24 * H - 59, False),  # 60 s safety margin
        (0.0, 24 * H, False),
        (0.0, 30 * H, False),
    ],
)
def test_window(last: float | None, now: float, open_: bool) -> None:
    assert window_open(last, now) is open_


def test_window_margin_is_configurable() -> None:
    assert window_open(0.0, 24 * H - 1, margin=0) is True


def test_in_window_everything_is_sent_and_long_text_split() -> None:
    long = OutboundMessage(kind=OutboundKind.TEXT, text="word " * 1000)
    plan = plan_replies([TEXT, long, MENU], in_window=True, fallback=TEMPLATE)
    assert [p.seq for p in plan] == [0, 1, 2, 3]
    assert [p.index for p in plan] == [0, 1, 1, 2]
    assert [p.message.kind for p in plan] == ["text", "text", "text", "buttons"]
    assert all(p.skip_reason is None and not p.substituted for p in plan)
    assert " ".join(p.message.text for p in plan[1:3]).split() == long.text.split()


def test_outside_window_sends_one_template_per_turn() -> None:
    plan = plan_replies([TEXT, MENU, TEXT], in_window=False, fallback=TEMPLATE)
    assert plan[0].message is TEMPLATE and plan[0].substituted
    assert plan[0].original is TEXT
    assert [p.skip_reason for p in plan[1:]] == [OUTSIDE_WINDOW_TEMPLATE_SENT] * 2


def test_outside_window_without_template_is_undeliverable() -> None:
    plan = plan_replies([TEXT, MENU], in_window=False, fallback=None)
    assert [p.skip_reason for p in plan] == [OUTSIDE_WINDOW_NO_TEMPLATE] * 2


def test_templates_go_out_even_outside_the_window() -> None:
    plan = plan_replies([TEMPLATE, TEXT], in_window=False, fallback=None)
    assert plan[0].skip_reason is None and plan[0].message is TEMPLATE
    assert plan[1].skip_reason == OUTSIDE_WINDOW_NO_TEMPLATE


def test_fallback_template_from_settings() -> None:
    env = {
        "SUPPORTBOT_TENANT_ID": "acme",
        "SUPPORTBOT_INTEGRATED_NUMBER": "919000000001",
        "SUPPORTBOT_WEBHOOK_SECRET": "x",
        "SUPPORTBOT_REDIS_URL": "redis://localhost",
        "SUPPORTBOT_DATABASE_URL": "postgresql://localhost/x",
    }
    assert fallback_template(load_settings(env)) is None
    env |= {
        "SUPPORTBOT_OUT_OF_WINDOW_TEMPLATE_NAME": "follow_up",
        "SUPPORTBOT_OUT_OF_WINDOW_TEMPLATE_LANGUAGE": "hi",
        "SUPPORTBOT_OUT_OF_WINDOW_TEMPLATE_PARAMS": "Acme, support",
    }
    template = fallback_template(load_settings(env))
    assert template == OutboundMessage(
        kind=OutboundKind.TEMPLATE,
        template_name="follow_up",
        template_language="hi",
        template_params=("Acme", "support"),
    )


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        (S.QUEUED, S.SENT, S.SENT),
        (S.SENT, S.DELIVERED, S.DELIVERED),
        (S.DELIVERED, S.READ, S.READ),
        (S.SENT, S.READ, S.READ),  # delivered may be skipped
        (S.READ, S.SENT, None),  # late sent after read
        (S.READ, S.DELIVERED, None),
        (S.DELIVERED, S.DELIVERED, None),  # duplicate
        (S.QUEUED, S.FAILED, S.FAILED),
        (S.SENT, S.FAILED, S.FAILED),
        (S.DELIVERED, S.FAILED, None),  # reached the customer already
        (S.READ, S.FAILED, None),
        (S.FAILED, S.SENT, None),
        (S.FAILED, S.DELIVERED, S.DELIVERED),  # multi-device
        (S.FAILED, S.READ, S.READ),
        (S.FAILED, S.FAILED, None),
        (S.SENT, S.QUEUED, None),
    ],
)
def test_next_delivery_state(current: S, reported: S, expected: S | None) -> None:
    assert next_delivery_state(current, reported) == expected


def _report(state: S, at: float = 1.0, code: str | None = None) -> DeliveryReport:
    return DeliveryReport(
        tenant_id="t",
        provider_message_id="m",
        state=state,
        received_at=at,
        occurred_at=at,
        error_code=code,
        error_reason="why" if code else None,
    )


@pytest.mark.parametrize("order", list(itertools.permutations([S.SENT, S.DELIVERED, S.READ])))
def test_any_order_of_reports_ends_read(order: tuple[S, ...]) -> None:
    record = DeliveryRecord("m")
    for state in (*order, *order):  # and every report twice
        record = apply_report(record, _report(state)) or record
    assert record.state is S.READ


def test_failure_keeps_code_and_reason_and_multi_device_delivery_wins() -> None:
    record = apply_report(DeliveryRecord("m"), _report(S.FAILED, 5.0, "131047"))
    assert record is not None
    assert (record.state, record.error_code, record.error_reason, record.updated_at) == (
        S.FAILED,
        "131047",
        "why",
        5.0,
    )
    later = apply_report(record, _report(S.DELIVERED, 6.0))
    assert later is not None and later.state is S.DELIVERED and later.error_code == "131047"


async def test_in_memory_store_is_compare_and_set() -> None:
    store = InMemoryDeliveryStateStore()
    assert await store.load("t", "m") is None
    store.register("t", "m")
    assert not await store.compare_and_set("t", S.SENT, DeliveryRecord("m", S.READ))
    assert await store.compare_and_set("t", S.QUEUED, DeliveryRecord("m", S.SENT))
    record = await store.load("t", "m")
    assert record is not None and record.state is S.SENT
