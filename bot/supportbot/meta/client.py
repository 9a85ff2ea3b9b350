"""Async Graph API send client: one HTTP attempt per call, errors classified, httpx hidden.

`MetaClient` POSTs to ``{base_url}/{api_version}/{phone_number_id}/messages`` with
``Authorization: Bearer <access token>`` (shared/reference/msg91-whatsapp.md §2.4): `send`
(an `OutboundMessage`: text, reply buttons, list, template), `send_media`, `send_template`
(with a media header) return a `MetaSendResult` carrying the wamid; `mark_read` marks an inbound
message read and shows the typing indicator (§2.5). Failures raise `RetryableSendError` /
`DefinitiveSendError` (`errors`), with Retry-After parsed by `supportbot.retrying`. Retries,
rate limiting and attempt records are the caller's (as `provider.sending` is for MSG91).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from supportbot.httppool import ShardedTransport
from supportbot.messages import OutboundMessage
from supportbot.meta.errors import (
    AttemptOutcome,
    Classification,
    DefinitiveSendError,
    classify_response,
    error_for,
)
from supportbot.meta.payloads import (
    GraphRequest,
    MediaMessage,
    TemplateMessage,
    accepted_ids,
    media_body,
    message_body,
    messages_path,
    read_receipt_body,
    template_body,
)
from supportbot.observability import REQUEST_ID_HEADER, current_request_id
from supportbot.retrying import parse_retry_after

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
"""The Graph version this was written against; the reference names none (``<ver>``)."""
RESPONSE_KEEP_CHARS = 2000


@dataclass(frozen=True, slots=True)
class MetaSendResult:
    """The Graph API accepted the message (accepted ≠ delivered: statuses arrive by webhook)."""

    request: GraphRequest
    status_code: int
    wamid: str | None
    wa_id: str | None
    response_text: str

    @property
    def provider_message_id(self) -> str | None:
        """The id status webhooks will carry (``statuses[].id``)."""
        return self.wamid


def _parse(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


class MetaClient:
    """Holds one pooled `httpx.AsyncClient` for one business phone number; share one instance."""

    def __init__(
        self,
        *,
        phone_number_id: str,
        access_token: str,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 10.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.phone_number_id = phone_number_id
        self.api_version = api_version
        self.path = messages_path(api_version, phone_number_id)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {access_token}",
        }
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport or ShardedTransport(max_connections),
        )

    # --- requests (pure) ------------------------------------------------------------------
    def request_for(
        self, recipient: str, message: OutboundMessage, *, context_id: str | None = None
    ) -> GraphRequest:
        """The request `send` would make; raises `InvalidOutboundMessage` on a broken message."""
        return GraphRequest(self.path, message_body(recipient, message, context_id=context_id))

    def media_request(
        self, recipient: str, media: MediaMessage, *, context_id: str | None = None
    ) -> GraphRequest:
        return GraphRequest(self.path, media_body(recipient, media, context_id=context_id))

    def template_request(self, recipient: str, template: TemplateMessage) -> GraphRequest:
        return GraphRequest(self.path, template_body(recipient, template))

    def read_request(self, message_id: str, *, typing: bool = True) -> GraphRequest:
        return GraphRequest(self.path, read_receipt_body(message_id, typing=typing))

    # --- sends ----------------------------------------------------------------------------
    async def send(
        self, recipient: str, message: OutboundMessage, *, context_id: str | None = None
    ) -> MetaSendResult:
        return await self.post(self.request_for(recipient, message, context_id=context_id))

    async def send_media(
        self, recipient: str, media: MediaMessage, *, context_id: str | None = None
    ) -> MetaSendResult:
        return await self.post(self.media_request(recipient, media, context_id=context_id))

    async def send_template(self, recipient: str, template: TemplateMessage) -> MetaSendResult:
        return await self.post(self.template_request(recipient, template))

    async def mark_read(self, message_id: str, *, typing: bool = True) -> None:
        """Mark an inbound message (and earlier ones) read; with `typing`, show the typing
        indicator until our reply or 25 s. Call it only when a reply will follow (§2.5)."""
        request = self.read_request(message_id, typing=typing)
        response, body, text = await self._attempt(request)
        if not (isinstance(body, dict) and body.get("success") is True):
            raise DefinitiveSendError(
                Classification(AttemptOutcome.REJECTED, None, "unexpected read-receipt answer"),
                status_code=response.status_code,
                response_text=text,
            )

    async def post(self, request: GraphRequest) -> MetaSendResult:
        """One attempt. Raises `RetryableSendError` or `DefinitiveSendError` on failure."""
        response, body, text = await self._attempt(request)
        wamid, wa_id = accepted_ids(body)
        if wamid is None:
            raise DefinitiveSendError(
                Classification(AttemptOutcome.REJECTED, None, "no message id in the answer"),
                status_code=response.status_code,
                response_text=text,
            )
        return MetaSendResult(request, response.status_code, wamid, wa_id, text)

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """One classified ``GET`` of a Graph object (`path` under the API version), e.g. the
        phone number (health) or the WABA's ``message_templates``; returns the parsed JSON."""
        try:
            response = await self._http.get(f"/{self.api_version}/{path}", params=params)
        except httpx.TimeoutException as exc:
            raise error_for(Classification(AttemptOutcome.TIMEOUT, None, repr(exc))) from exc
        except httpx.TransportError as exc:
            raise error_for(
                Classification(AttemptOutcome.CONNECTION_ERROR, None, repr(exc))
            ) from exc
        body = _parse(response.text)
        verdict = classify_response(response.status_code, body)
        if verdict.outcome is not AttemptOutcome.ACCEPTED:
            raise error_for(verdict, status_code=response.status_code)
        return body

    async def _attempt(self, request: GraphRequest) -> tuple[httpx.Response, Any, str]:
        request_id = current_request_id()
        headers = {REQUEST_ID_HEADER: request_id} if request_id is not None else None
        try:
            response = await self._http.post(request.path, json=request.body, headers=headers)
        except httpx.TimeoutException as exc:
            raise error_for(Classification(AttemptOutcome.TIMEOUT, None, repr(exc))) from exc
        except httpx.TransportError as exc:
            raise error_for(
                Classification(AttemptOutcome.CONNECTION_ERROR, None, repr(exc))
            ) from exc
        text = response.text[:RESPONSE_KEEP_CHARS]
        body = _parse(response.text)
        verdict = classify_response(response.status_code, body)
        if verdict.outcome is not AttemptOutcome.ACCEPTED:
            retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
            raise error_for(
                verdict,
                status_code=response.status_code,
                retry_after=retry_after,
                response_text=text,
            )
        return response, body, text

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> MetaClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
