"""The handoff webhook's settings, as one value (None when the tenant has no webhook)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from supportbot.settings import BotSettings


@dataclass(frozen=True)
class NotifyConfig:
    url: str
    secret: bytes = field(repr=False)
    include_phone: bool = False
    last_messages: int = 10
    timeout_seconds: float = 10.0
    max_attempts: int = 20
    give_up_seconds: float = 86_400.0
    retry_base_seconds: float = 2.0
    retry_max_delay_seconds: float = 600.0
    poll_seconds: float = 1.0
    batch: int = 10

    @property
    def host(self) -> str:
        """The receiver's host (logs name it; the URL may carry a token in its query)."""
        return urlsplit(self.url).hostname or ""

    @property
    def claim_seconds(self) -> float:
        """How long a claimed row stays with its sender: a sender that died mid-POST leaves it
        to another one after this (the receiver sees the same Idempotency-Key again)."""
        return self.timeout_seconds + 30.0

    @classmethod
    def from_settings(cls, settings: BotSettings) -> NotifyConfig | None:
        """None when `SUPPORTBOT_HANDOFF_WEBHOOK_URL` is unset (the settings validated the URL
        and required the secret with it)."""
        if not settings.handoff_webhook_url or settings.handoff_webhook_secret is None:
            return None
        return cls(
            url=settings.handoff_webhook_url,
            secret=settings.handoff_webhook_secret.get_secret_value().encode(),
            include_phone=settings.handoff_webhook_include_phone,
            last_messages=settings.handoff_webhook_last_messages,
            timeout_seconds=settings.handoff_webhook_timeout_seconds,
            max_attempts=settings.handoff_webhook_max_attempts,
            give_up_seconds=settings.handoff_webhook_give_up_seconds,
            retry_base_seconds=settings.handoff_webhook_retry_base_seconds,
            retry_max_delay_seconds=settings.handoff_webhook_retry_max_delay_seconds,
            poll_seconds=settings.handoff_webhook_poll_seconds,
        )
