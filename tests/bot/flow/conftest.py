"""Helpers for flow tests: inbound message builders and the example flows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from supportbot.flow import Flow, load_flow_text
from supportbot.messages import InboundMessage, MessageKind

EXAMPLES = Path(__file__).resolve().parents[3] / "bot" / "supportbot" / "flow" / "examples"

# Wednesday 2026-03-11 11:00 in Asia/Kolkata (05:30 UTC): open in both example flows.
OPEN_NOW = datetime(2026, 3, 11, 5, 30, tzinfo=UTC)
# Wednesday 2026-03-11 23:00 IST: closed.
CLOSED_NOW = datetime(2026, 3, 11, 17, 30, tzinfo=UTC)

Msg = Callable[..., InboundMessage]


def _msg(
    text: str | None = None,
    *,
    reply_id: str | None = None,
    kind: MessageKind | None = None,
    name: str | None = "Asha",
) -> InboundMessage:
    if kind is None:
        kind = MessageKind.INTERACTIVE if reply_id else MessageKind.TEXT
    return InboundMessage(
        tenant_id="acme",
        customer_id="919876543210",
        message_id=f"wamid.{text}.{reply_id}",
        kind=kind,
        received_at=0.0,
        text=text,
        reply_id=reply_id,
        customer_name=name,
    )


@pytest.fixture
def msg() -> Msg:
    return _msg


@pytest.fixture
def open_now() -> datetime:
    return OPEN_NOW


@pytest.fixture
def closed_now() -> datetime:
    return CLOSED_NOW


@pytest.fixture(scope="session")
def store_flow() -> Flow:
    return load_flow_text((EXAMPLES / "ecommerce.yaml").read_text())


@pytest.fixture(scope="session")
def clinic_flow() -> Flow:
    return load_flow_text((EXAMPLES / "clinic.yaml").read_text())
