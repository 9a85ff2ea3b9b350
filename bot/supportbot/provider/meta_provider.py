"""Meta's Cloud API behind the provider interface: `MetaClient` with its Graph classes
translated into the interface's outcome vocabulary (pure `translate`), read receipts with the
typing indicator, the phone-number object as the health check and the WABA's templates.

Translation (`meta.errors.AttemptOutcome` -> `interface.AttemptOutcome`): the shared values map
to themselves; ``pair_rate_limited`` (131056) -> ``rate_limited`` (still retryable, its
`retry_after` defaults to 6 s in `meta.errors`); ``window_closed`` (131047) and
``undeliverable`` (131026) -> ``rejected`` (definitive), keeping the Graph code as `error_code`
so the reply's outcome still says which.
"""

from __future__ import annotations

from typing import Any

from supportbot.messages import OutboundMessage
from supportbot.meta import errors as meta_errors
from supportbot.meta.client import MetaClient
from supportbot.meta.payloads import GraphRequest, message_body
from supportbot.msg91.errors import error_for
from supportbot.provider.interface import (
    AttemptOutcome,
    Capabilities,
    Classification,
    InvalidOutboundMessage,
    ProviderName,
    SendError,
    SendRequest,
    SendResult,
)
from supportbot.settings import BotSettings

_OUTCOMES: dict[meta_errors.AttemptOutcome, AttemptOutcome] = {
    meta_errors.AttemptOutcome.ACCEPTED: AttemptOutcome.ACCEPTED,
    meta_errors.AttemptOutcome.RATE_LIMITED: AttemptOutcome.RATE_LIMITED,
    meta_errors.AttemptOutcome.PAIR_RATE_LIMITED: AttemptOutcome.RATE_LIMITED,
    meta_errors.AttemptOutcome.SERVER_ERROR: AttemptOutcome.SERVER_ERROR,
    meta_errors.AttemptOutcome.TIMEOUT: AttemptOutcome.TIMEOUT,
    meta_errors.AttemptOutcome.CONNECTION_ERROR: AttemptOutcome.CONNECTION_ERROR,
    meta_errors.AttemptOutcome.WINDOW_CLOSED: AttemptOutcome.REJECTED,
    meta_errors.AttemptOutcome.UNDELIVERABLE: AttemptOutcome.REJECTED,
    meta_errors.AttemptOutcome.REJECTED: AttemptOutcome.REJECTED,
    meta_errors.AttemptOutcome.AUTH_ERROR: AttemptOutcome.AUTH_ERROR,
}


def translate(err: meta_errors.SendError) -> SendError:
    """The interface's error for a Graph attempt's error (same retry class, same code)."""
    c = err.classification
    return error_for(
        Classification(_OUTCOMES[c.outcome], c.error_code, c.reason),
        status_code=err.status_code,
        retry_after=err.retry_after,
        response_text=err.response_text,
    )


def approved_templates(body: Any) -> list[str]:
    """Names of the APPROVED templates in a ``message_templates`` answer (``data[]``)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return []
    return [
        str(t["name"])
        for t in data
        if isinstance(t, dict) and t.get("name") and t.get("status", "APPROVED") == "APPROVED"
    ]


class MetaProvider:
    def __init__(self, client: MetaClient, *, waba_id: str | None = None) -> None:
        self.client = client
        self.waba_id = waba_id
        self._capabilities = Capabilities(
            mark_read=True, typing=True, template_listing=waba_id is not None
        )

    @classmethod
    def from_settings(cls, settings: BotSettings) -> MetaProvider:
        token = settings.meta_access_token
        client = MetaClient(
            phone_number_id=settings.meta_phone_number_id or "",
            access_token=token.get_secret_value() if token is not None else "",
            base_url=settings.meta_base_url,
            api_version=settings.meta_api_version,
        )
        return cls(client, waba_id=settings.meta_waba_id)

    @property
    def name(self) -> ProviderName:
        return "meta"

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def request_for(self, recipient: str, message: OutboundMessage) -> SendRequest:
        try:
            body = message_body(recipient, message)
        except meta_errors.InvalidOutboundMessage as exc:
            raise InvalidOutboundMessage(str(exc)) from None
        return SendRequest(self.client.path, body)

    async def post(self, request: SendRequest) -> SendResult:
        try:
            result = await self.client.post(GraphRequest(request.path, request.body))
        except meta_errors.SendError as err:
            raise translate(err) from err
        return SendResult(
            request=request,
            status_code=result.status_code,
            message_uuid=result.wamid,
            request_id=None,
            response_text=result.response_text,
        )

    async def mark_read(self, message_id: str, *, typing: bool) -> None:
        try:
            await self.client.mark_read(message_id, typing=typing)
        except meta_errors.InvalidOutboundMessage as exc:
            raise InvalidOutboundMessage(str(exc)) from None
        except meta_errors.SendError as err:
            raise translate(err) from err

    async def health_check(self) -> None:
        try:
            await self.client.get(self.client.phone_number_id, {"fields": "id"})
        except meta_errors.SendError as err:
            raise translate(err) from err

    async def list_templates(self) -> list[str]:
        if self.waba_id is None:
            raise NotImplementedError("no meta_waba_id configured: templates cannot be listed")
        try:
            body = await self.client.get(f"{self.waba_id}/message_templates")
        except meta_errors.SendError as err:
            raise translate(err) from err
        return approved_templates(body)

    async def aclose(self) -> None:
        await self.client.aclose()
