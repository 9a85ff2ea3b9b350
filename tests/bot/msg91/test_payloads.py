"""Pure builders and classifiers: request bodies exactly as the reference documents them."""

from __future__ import annotations

import random

import pytest

from supportbot.messages import ListRow, ListSection, OutboundKind, OutboundMessage, ReplyButton
from supportbot.msg91.errors import (
    AttemptOutcome,
    InvalidOutboundMessage,
    classify_response,
)
from supportbot.msg91.payloads import (
    BULK_PATH,
    SESSION_PATH,
    accepted_ids,
    build_request,
    sanitize_param,
    split_text,
)
from supportbot.provider.backoff import RetryPolicy, backoff_delay
from supportbot.retrying import parse_retry_after

N, C = "919420353943", "919226807651"


def test_session_text_is_the_flat_form() -> None:
    req = build_request(N, C, OutboundMessage(kind=OutboundKind.TEXT, text="Hi"))
    assert req.path == "/api/v5/whatsapp/whatsapp-outbound-message/" == SESSION_PATH
    assert req.body == {
        "integrated_number": N,
        "recipient_number": C,
        "content_type": "text",
        "text": "Hi",
    }


def test_reply_buttons_body() -> None:
    msg = OutboundMessage(
        kind=OutboundKind.BUTTONS,
        text="Choose",
        header="Menu",
        footer="Reply below",
        buttons=(ReplyButton("id1", "Orders"), ReplyButton("id2", "Agent")),
    )
    assert build_request(N, C, msg).body == {
        "integrated_number": N,
        "recipient_number": C,
        "content_type": "interactive",
        "interactive": {
            "type": "button",
            "header": {"type": "text", "text": "Menu"},
            "body": {"text": "Choose"},
            "footer": {"text": "Reply below"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "id1", "title": "Orders"}},
                    {"type": "reply", "reply": {"id": "id2", "title": "Agent"}},
                ]
            },
        },
    }


def test_list_body() -> None:
    msg = OutboundMessage(
        kind=OutboundKind.LIST,
        text="Pick a topic",
        list_button="Topics",
        sections=(
            ListSection("Billing", (ListRow("b1", "Invoices", "Past invoices"),)),
            ListSection("Tech", (ListRow("t1", "Login"),)),
        ),
    )
    body = build_request(N, C, msg).body
    assert body["interactive"] == {
        "type": "list",
        "body": {"text": "Pick a topic"},
        "action": {
            "button": "Topics",
            "sections": [
                {
                    "title": "Billing",
                    "rows": [{"id": "b1", "title": "Invoices", "description": "Past invoices"}],
                },
                {"title": "Tech", "rows": [{"id": "t1", "title": "Login"}]},
            ],
        },
    }


def test_template_body_uses_bulk_and_positional_params() -> None:
    msg = OutboundMessage(
        kind=OutboundKind.TEMPLATE,
        template_name="order_update",
        template_language="en",
        template_params=("Asha", "#1234\nline two\tx"),
    )
    req = build_request(N, C, msg)
    assert req.path == BULK_PATH
    assert req.body == {
        "integrated_number": N,
        "content_type": "template",
        "payload": {
            "messaging_product": "whatsapp",
            "type": "template",
            "template": {
                "name": "order_update",
                "language": {"code": "en", "policy": "deterministic"},
                "to_and_components": [
                    {
                        "to": [C],
                        "components": {
                            "body_1": {"type": "text", "value": "Asha"},
                            "body_2": {"type": "text", "value": "#1234 line two x"},
                        },
                    }
                ],
            },
        },
    }


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (
            OutboundMessage(
                kind=OutboundKind.BUTTONS,
                text="x",
                buttons=tuple(ReplyButton(str(i), f"B{i}") for i in range(4)),
            ),
            "buttons",
        ),
        (
            OutboundMessage(
                kind=OutboundKind.BUTTONS, text="x", buttons=(ReplyButton("a", "x" * 21),)
            ),
            "longer than 20",
        ),
        (
            OutboundMessage(
                kind=OutboundKind.BUTTONS,
                text="x",
                buttons=(ReplyButton("a", "Same"), ReplyButton("b", "Same")),
            ),
            "not unique",
        ),
        (OutboundMessage(kind=OutboundKind.BUTTONS, text="", buttons=()), "empty"),
        (OutboundMessage(kind=OutboundKind.TEXT, text="x" * 4097), "longer than 4096"),
        (OutboundMessage(kind=OutboundKind.TEXT, text=""), "empty"),
        (
            OutboundMessage(
                kind=OutboundKind.LIST,
                text="x",
                list_button="Open",
                sections=(ListSection("s", tuple(ListRow(str(i), "r") for i in range(11))),),
            ),
            "rows",
        ),
        (
            OutboundMessage(
                kind=OutboundKind.LIST,
                text="x",
                list_button="Open",
                sections=(ListSection("s", (ListRow("1", "r", "d" * 73),)),),
            ),
            "72",
        ),
        (OutboundMessage(kind=OutboundKind.TEMPLATE), "template name"),
    ],
)
def test_limits_are_enforced_before_sending(message: OutboundMessage, problem: str) -> None:
    with pytest.raises(InvalidOutboundMessage, match=problem):
        build_request(N, C, message)


def test_no_recipient_is_invalid() -> None:
    with pytest.raises(InvalidOutboundMessage, match="recipient"):
        build_request(N, "", OutboundMessage(kind=OutboundKind.TEXT, text="x"))


def test_split_text_keeps_everything_in_bounded_parts() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 300 for i in range(5))
    parts = split_text(text, 4096)
    assert len(parts) > 1
    assert all(0 < len(p) <= 4096 for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())
    assert split_text("short") == ["short"]
    assert split_text("x" * 5000, 4096) == ["x" * 4096, "x" * 904]


def test_sanitize_param() -> None:
    assert sanitize_param("a\n\tb   c") == "a b c"
    assert sanitize_param("  ") == "-"


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        ({"status": "success", "data": {"message_uuid": "w1"}, "request_id": "r1"}, ("w1", "r1")),
        ({"type": "success", "data": {"id": "w2"}}, ("w2", None)),
        ({"status": "success", "data": [{"id": "w3"}], "requestId": "r3"}, ("w3", "r3")),
        ({"status": "success", "data": "Message sent", "request_id": "r4"}, (None, "r4")),
        (None, (None, None)),
    ],
)
def test_accepted_ids_reads_every_known_shape(body: object, ids: tuple[str, str]) -> None:
    assert accepted_ids(body) == ids


@pytest.mark.parametrize(
    ("status", "body", "outcome", "code"),
    [
        (200, {"status": "success", "hasError": False}, AttemptOutcome.ACCEPTED, None),
        (200, None, AttemptOutcome.ACCEPTED, None),
        (200, {"status": "fail", "message": "bad number"}, AttemptOutcome.REJECTED, None),
        (200, {"hasError": True, "code": "131056"}, AttemptOutcome.RATE_LIMITED, "131056"),
        (429, {"message": "Too many requests"}, AttemptOutcome.RATE_LIMITED, None),
        (
            400,
            {"error": {"code": 130429, "message": "rate"}},
            AttemptOutcome.RATE_LIMITED,
            "130429",
        ),
        (500, None, AttemptOutcome.SERVER_ERROR, None),
        (503, "html", AttemptOutcome.SERVER_ERROR, None),
        (408, None, AttemptOutcome.TIMEOUT, None),
        (401, {"message": "Unauthorized"}, AttemptOutcome.AUTH_ERROR, None),
        (418, None, AttemptOutcome.AUTH_ERROR, None),
        (400, {"errors": ["text is required"], "code": "X"}, AttemptOutcome.REJECTED, "X"),
        (404, None, AttemptOutcome.REJECTED, None),
    ],
)
def test_classification(status: int, body: object, outcome: AttemptOutcome, code: str) -> None:
    verdict = classify_response(status, body)
    assert verdict.outcome is outcome
    assert verdict.error_code == code
    assert verdict.retryable == (
        outcome
        in (AttemptOutcome.RATE_LIMITED, AttemptOutcome.SERVER_ERROR, AttemptOutcome.TIMEOUT)
    )


def test_rejection_reason_is_kept() -> None:
    verdict = classify_response(400, {"errors": ["text is required"]})
    assert verdict.reason == "text is required"


def test_retry_after_parsing() -> None:
    assert parse_retry_after("2.5", 0) == 2.5
    assert parse_retry_after(None, 0) is None
    assert parse_retry_after("garbage", 0) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", 1445412480.0) == 10.0


def test_backoff_is_bounded_jittered_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay=1.0, multiplier=2.0, max_delay=5.0)
    rng = random.Random(1)
    for attempt in range(1, 8):
        caps = min(5.0, 2 ** (attempt - 1))
        delays = [backoff_delay(policy, attempt, rng) for _ in range(200)]
        assert all(0 <= d <= caps for d in delays)
        assert len(set(delays)) > 100  # jittered, not lock-step
    assert backoff_delay(policy, 1, rng, retry_after=3.0) >= 3.0
    assert backoff_delay(policy, 1, rng, retry_after=999.0) == policy.max_retry_after
