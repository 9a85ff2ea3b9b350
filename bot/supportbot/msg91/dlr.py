"""Delivery-state machine (pure): a report only ever moves a message forward.

Order: ``queued < sent < delivered < read``. Reports arrive duplicated and out of order (Meta
does not guarantee status order and may skip ``delivered`` when a message is read at once), so:

- a report for the current or an earlier state changes nothing (a late ``sent`` after ``read``);
- a report for a later state jumps straight to it (``read`` without ``delivered`` is fine);
- ``failed`` applies only while the message is ``queued``/``sent``; after ``delivered``/``read``
  the message demonstrably reached the customer, so a ``failed`` (another device) is ignored;
- ``failed`` is terminal except for a later ``delivered``/``read`` (multi-device; reference
  msg91-whatsapp.md §1.3 and §2.1): those win, and the failure's code/reason are kept for audit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from supportbot.messages import DeliveryReport, DeliveryState

_RANK = {
    DeliveryState.QUEUED: 0,
    DeliveryState.SENT: 1,
    DeliveryState.DELIVERED: 2,
    DeliveryState.READ: 3,
}


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """The delivery state of one outbound message, as the store keeps it."""

    provider_message_id: str
    state: DeliveryState = DeliveryState.QUEUED
    updated_at: float | None = None
    """When the provider says the current state happened (else when we received the report)."""
    error_code: str | None = None
    error_reason: str | None = None


def next_state(current: DeliveryState, reported: DeliveryState) -> DeliveryState | None:
    """The state after a report, or None when the report changes nothing."""
    if reported == current:
        return None
    if reported == DeliveryState.FAILED:
        return reported if current in (DeliveryState.QUEUED, DeliveryState.SENT) else None
    if current == DeliveryState.FAILED:
        return reported if reported in (DeliveryState.DELIVERED, DeliveryState.READ) else None
    return reported if _RANK[reported] > _RANK[current] else None


def apply_report(record: DeliveryRecord, report: DeliveryReport) -> DeliveryRecord | None:
    """The record after `report`, or None when it is a duplicate / stale / superseded report."""
    new = next_state(record.state, report.state)
    if new is None:
        return None
    when = report.occurred_at if report.occurred_at is not None else report.received_at
    if new == DeliveryState.FAILED:
        return replace(
            record,
            state=new,
            updated_at=when,
            error_code=report.error_code,
            error_reason=report.error_reason,
        )
    return replace(record, state=new, updated_at=when)
