"""Applying a delivery report to a `DeliveryRecord` (pure), by the one state machine
`supportbot.messages.next_delivery_state` (reports arrive duplicated and out of order: Meta does
not guarantee status order and may skip ``delivered`` when a message is read at once).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from supportbot.messages import DeliveryReport, DeliveryState, next_delivery_state


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """The delivery state of one outbound message, as the store keeps it."""

    provider_message_id: str
    state: DeliveryState = DeliveryState.QUEUED
    updated_at: float | None = None
    """When the provider says the current state happened (else when we received the report)."""
    error_code: str | None = None
    error_reason: str | None = None


def apply_report(record: DeliveryRecord, report: DeliveryReport) -> DeliveryRecord | None:
    """The record after `report`, or None when it is a duplicate / stale / superseded report."""
    new = next_delivery_state(record.state, report.state)
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
