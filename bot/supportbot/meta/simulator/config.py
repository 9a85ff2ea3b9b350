"""Meta simulator configuration: CLI flags at start, ``PATCH /_sim/config`` at runtime."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FinalStatus = Literal["none", "sent", "delivered", "read"]
WindowMode = Literal["off", "status", "sync"]

WEBHOOK_PATH = "/webhooks/meta"
"""Where the simulator POSTs (and GETs the handshake) on a bot base URL: Meta has one callback
URL per app for messages and statuses alike."""


class FaultRule(BaseModel):
    """Answer the next `count` send requests (messages and read receipts) with a Graph error.

    `code` None with a 5xx status gives a plain server error; `hang` seconds of silence come
    first (then the error, or 504 when no status is set)."""

    model_config = ConfigDict(extra="forbid")

    status: int | None = Field(default=None, ge=400, le=599)
    code: int | None = None
    subcode: int | None = None
    message: str | None = None
    type: str = "OAuthException"
    count: int = Field(default=1, ge=1)
    retry_after: float | None = Field(default=None, ge=0)
    hang: float = Field(default=0.0, ge=0, le=600)
    endpoint: Literal["message", "read"] | None = None
    """Only message sends or only read receipts; None = both."""


class MetaSimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    access_tokens: list[str] = Field(default_factory=list)
    """Accepted Bearer tokens; empty = open mode (any token, even none)."""
    phone_numbers: dict[str, str] = Field(default_factory=dict)
    """phone_number_id -> display phone number; empty = any numeric id (displayed as itself)."""
    app_secret: str | None = None
    """Signs every webhook (``X-Hub-Signature-256``); None = unsigned (for negative tests)."""
    verify_token: str | None = None
    """What the simulator sends as ``hub.verify_token`` in the GET handshake check."""
    webhook_url: str | None = None
    """The bot's callback URL (messages and statuses)."""
    window: WindowMode = "status"
    """24 h window for free-form sends: ``status`` = accepted, then a failed status 131047
    (what the reference documents, §2.7); ``sync`` = refused at once with error 131047;
    ``off`` = not enforced."""
    status_final: FinalStatus = "read"
    status_delay_ms: float = Field(default=20.0, ge=0)
    retry_after: float | None = Field(default=None, ge=0)
    """Retry-After seconds on injected throughput errors without their own."""
    webhook_retries: int = Field(default=2, ge=0, le=10)
    webhook_timeout: float = Field(default=5.0, gt=0)
    max_records: int = Field(default=100_000, ge=1)

    def display_number(self, phone_number_id: str) -> str | None:
        if not self.phone_numbers:
            return phone_number_id if phone_number_id.isdigit() else None
        return self.phone_numbers.get(phone_number_id)

    def default_phone_number_id(self) -> str | None:
        return next(iter(self.phone_numbers), None)

    def public(self) -> dict[str, Any]:
        """The configuration with secrets masked (for ``GET /_sim/config``)."""
        doc = self.model_dump()
        doc["access_tokens"] = ["***" for _ in self.access_tokens]
        for key in ("app_secret", "verify_token"):
            if doc[key]:
                doc[key] = "***"
        return doc
