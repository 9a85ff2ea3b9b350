"""MSG91 behind the provider interface: `Msg91Client` as is (its outcome vocabulary is the
interface's), no read receipts or typing indicator (MSG91 documents none), the health check is
the account's number list (``GET /whatsapp-activation/``)."""

from __future__ import annotations

from supportbot.messages import OutboundMessage
from supportbot.msg91.client import Msg91Client, SendResult
from supportbot.msg91.payloads import SendRequest
from supportbot.provider.interface import Capabilities, ProviderName
from supportbot.settings import BotSettings

CAPABILITIES = Capabilities(mark_read=False, typing=False, template_listing=False)


class Msg91Provider:
    def __init__(self, client: Msg91Client) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, settings: BotSettings) -> Msg91Provider:
        return cls(Msg91Client.from_settings(settings))

    @property
    def name(self) -> ProviderName:
        return "msg91"

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    def request_for(self, recipient: str, message: OutboundMessage) -> SendRequest:
        return self.client.request_for(recipient, message)

    async def post(self, request: SendRequest) -> SendResult:
        return await self.client.post(request)

    async def mark_read(self, message_id: str, *, typing: bool) -> None:
        raise NotImplementedError("MSG91 has no read receipts (capabilities.mark_read is False)")

    async def health_check(self) -> None:
        await self.client.integrated_numbers()

    async def list_templates(self) -> list[str]:
        raise NotImplementedError("template listing is not implemented for MSG91")

    async def aclose(self) -> None:
        await self.client.aclose()
