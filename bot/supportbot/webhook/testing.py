"""Realistic webhook payloads and a settings environment, for tests and load tests.

Payloads follow the shapes in the msg91 reference: MSG91 bodies start from the dashboard template
with every field an unfilled ``"{{field}}"`` placeholder (as MSG91 posts them when a field does
not apply), then set the fields a given event fills; Meta bodies use the Cloud API envelope.
"""

from __future__ import annotations

import json
from typing import Any

TENANT = "acme"
NUMBER = "919123456789"
SECRET = "acme-webhook-secret-0123456789"  # noqa: S105 (test fixture value)
CUSTOMER = "919876543210"
HEADER = "X-Webhook-Secret"

TEMPLATE_FIELDS = (
    "crqid", "companyId", "requestedAt", "customerNumber", "customerName", "requestId", "reason",
    "uuid", "integratedNumber", "direction", "contentType", "messageType", "text", "content",
    "messages", "interactive", "button", "caption", "filename", "url",
    "conversationExpTimestamp", "ts",
)  # fmt: skip


def settings_env(redis_url: str, database_url: str, **overrides: object) -> dict[str, str]:
    """A complete SUPPORTBOT_* environment for the test tenant; overrides by field name."""
    env = {
        "SUPPORTBOT_TENANT_ID": TENANT,
        "SUPPORTBOT_INTEGRATED_NUMBER": NUMBER,
        "SUPPORTBOT_WEBHOOK_SECRET": SECRET,
        "SUPPORTBOT_REDIS_URL": redis_url,
        "SUPPORTBOT_DATABASE_URL": database_url,
    }
    for name, value in overrides.items():
        env["SUPPORTBOT_" + name.upper()] = str(value)
    return env


def headers(secret: str = SECRET, *, header: str = HEADER) -> dict[str, str]:
    return {header: secret, "Content-Type": "application/json"}


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def msg91(**fields: Any) -> dict[str, Any]:
    """A flat MSG91 body: the template's placeholders, overridden by `fields`."""
    body: dict[str, Any] = {name: "{{" + name + "}}" for name in TEMPLATE_FIELDS}
    body.update(fields)
    return body


def msg91_text(
    text: str = "Hello",
    *,
    uuid: str = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUM0FBMDAwMDAwMDAwMDAwMDAwMDEA",
    customer: str = CUSTOMER,
    number: str = NUMBER,
    **fields: Any,
) -> dict[str, Any]:
    return msg91(
        customerNumber=customer,
        integratedNumber=number,
        customerName="Asha",
        direction="inbound",
        contentType="text",
        messageType="text",
        text=text,
        uuid=uuid,
        requestId="3664a1b2c3",
        ts="2026-05-23T14:43:32+05:30",
        **fields,
    )


def msg91_status(
    state: str = "delivered",
    *,
    request_id: str = "3664f00d01",
    uuid: str = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSQUJDMDAwMDAwMDAwMDAwMDEA",
    customer: str = CUSTOMER,
    number: str = NUMBER,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "requestId": request_id,
        "uuid": uuid,
        "customerNumber": customer,
        "integratedNumber": number,
        "direction": "outbound",
        "status": state,
        "eventName": state,
        "reason": "",
        "templateName": "order_update",
        "statusUpdatedAt": "2026-05-23T14:45:01+05:30",
        "price": "0.115",
    }
    body.update(fields)
    return body


def meta_message(
    msg_type: str,
    detail: Any,
    *,
    msg_id: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
    sender: str | None = "16505551234",
    **fields: Any,
) -> dict[str, Any]:
    msg: dict[str, Any] = {"id": msg_id, "timestamp": "1749416383", "type": msg_type}
    if sender is not None:
        msg["from"] = sender
    if detail is not None:
        msg[msg_type] = detail
    msg.update(fields)
    return msg


def meta_envelope(
    *,
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
    number: str = NUMBER,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": number, "phone_number_id": "106540352242922"},
    }
    if contacts is not None:
        value["contacts"] = contacts
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


def meta_status(
    state: str = "delivered",
    *,
    msg_id: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI1RjQ0QjA2OUU3RDZCMkU4QjUA",
    recipient: str = "16505551234",
    **fields: Any,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "id": msg_id,
        "status": state,
        "timestamp": "1749416400",
        "recipient_id": recipient,
    }
    status.update(fields)
    return status
