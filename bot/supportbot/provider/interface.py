"""The provider interface: what the delivery machinery needs of a WhatsApp provider.

A provider turns one planned reply (`OutboundMessage`: text, buttons, list, media, template)
into a request (`request_for`, pure, raises `InvalidOutboundMessage`) and makes ONE attempt of
it (`post`), returning `SendResult` or raising the classified `RetryableSendError` /
`DefinitiveSendError` that `sending.Sender` turns into retries, deferral and attempt records.
The outcome vocabulary (`AttemptOutcome`, `Classification`, the error classes, `SendRequest`,
`SendResult`) is the one `supportbot.msg91` already spoke; MSG91 uses it natively and the Meta
implementation translates its richer Graph classes into it (`meta_provider`).

Optional abilities are declared in `Capabilities` and called only when declared:
`mark_read` (read receipt, with the typing indicator when `typing`), `list_templates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from supportbot.messages import OutboundMessage
from supportbot.msg91.client import SendResult
from supportbot.msg91.errors import (
    AttemptOutcome,
    Classification,
    DefinitiveSendError,
    DeliveryError,
    InvalidOutboundMessage,
    RetryableSendError,
    SendError,
)
from supportbot.msg91.payloads import SendRequest

ProviderName = Literal["msg91", "meta"]

__all__ = [
    "AttemptOutcome",
    "Capabilities",
    "Classification",
    "DefinitiveSendError",
    "DeliveryError",
    "InvalidOutboundMessage",
    "Provider",
    "ProviderName",
    "RetryableSendError",
    "SendError",
    "SendRequest",
    "SendResult",
    "SendTransport",
]


@dataclass(frozen=True, slots=True)
class Capabilities:
    mark_read: bool = False
    """Read receipts for inbound messages (`Provider.mark_read`)."""
    typing: bool = False
    """A typing indicator shown with the read receipt until the reply (Meta: ≤ 25 s)."""
    template_listing: bool = False
    """`Provider.list_templates` asks the provider for the approved templates."""


class SendTransport(Protocol):
    """What `sending.Sender` needs: build a request, make one attempt (`Msg91Client` itself
    is one, which the MSG91 tests use directly)."""

    def request_for(self, recipient: str, message: OutboundMessage) -> SendRequest:
        """The request for `message` to `recipient`; raises `InvalidOutboundMessage`."""
        ...

    async def post(self, request: SendRequest) -> SendResult:
        """One HTTP attempt; raises `RetryableSendError` / `DefinitiveSendError`."""
        ...


class Provider(SendTransport, Protocol):
    """A WhatsApp provider for one tenant's business number; one instance per process."""

    @property
    def name(self) -> ProviderName: ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def mark_read(self, message_id: str, *, typing: bool) -> None:
        """Mark an inbound message read (and show typing); only with `capabilities.mark_read`.
        Raises `SendError` on failure."""
        ...

    async def health_check(self) -> None:
        """One cheap authenticated request; raises `SendError` when it fails."""
        ...

    async def list_templates(self) -> list[str]:
        """Names of the approved templates; only with `capabilities.template_listing`."""
        ...

    async def aclose(self) -> None: ...
