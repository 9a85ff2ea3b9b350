"""Redis key names of the delivery side; every key starts with ``sb:<tenant_id>:``."""

from __future__ import annotations


def prefix(tenant_id: str) -> str:
    return f"sb:{tenant_id}:"


def dlr_stream(tenant_id: str) -> str:
    """Stream of `DeliveryReport` JSON (field ``r``) written by the webhook's status endpoint."""
    return f"{prefix(tenant_id)}dlr"


def send_rate(tenant_id: str, integrated_number: str) -> str:
    """GCRA state (theoretical arrival time) of one integrated number's send rate."""
    return f"{prefix(tenant_id)}send-rate:{integrated_number}"


def sent_marker(tenant_id: str, turn_id: str, seq: int) -> str:
    """Set once message `seq` of turn `turn_id` reached a terminal delivery outcome."""
    return f"{prefix(tenant_id)}sent:{turn_id}:{seq}"


def outbound_reports(tenant_id: str, customer_id: str) -> str:
    """Outbound delivery reports of `customer_id` naming no recorded send (`indoubt`)."""
    return f"{prefix(tenant_id)}outrep:{customer_id}"
