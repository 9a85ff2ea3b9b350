"""Async MSG91 send client: one HTTP attempt per call, errors classified, httpx hidden.

`Msg91Client.send` builds the body (`payloads`), POSTs it with the ``authkey`` header and returns
a `SendResult`, or raises `RetryableSendError` / `DefinitiveSendError`. Retries, rate limiting
and attempt records live in `sending`. With a real `msg91_auth_key` and the default base URL this
talks to MSG91; in dev `msg91_base_url` points at the simulator. A send made while a turn runs
carries the turn's request id as ``X-Request-ID`` (`observability.current_request_id`).
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
from supportbot.msg91.errors import (
    AttemptOutcome,
    Classification,
    DefinitiveSendError,
    classify_response,
    error_for,
)
from supportbot.msg91.payloads import ACTIVATION_PATH, SendRequest, accepted_ids, build_request
from supportbot.observability import REQUEST_ID_HEADER, current_request_id
from supportbot.retrying import parse_retry_after
from supportbot.settings import BotSettings

RESPONSE_KEEP_CHARS = 2000


@dataclass(frozen=True, slots=True)
class SendResult:
    """MSG91 accepted the request (accepted ≠ delivered: reports arrive later)."""

    request: SendRequest
    status_code: int
    message_uuid: str | None
    request_id: str | None
    response_text: str

    @property
    def provider_message_id(self) -> str | None:
        """The id delivery reports will carry: the wamid/uuid, else MSG91's request id."""
        return self.message_uuid or self.request_id


def _parse(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


class Msg91Client:
    """Holds one pooled `httpx.AsyncClient`; share one instance per process."""

    def __init__(
        self,
        *,
        base_url: str,
        integrated_number: str,
        auth_key: str | None = None,
        timeout: float = 10.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.integrated_number = integrated_number
        headers = {"Content-Type": "application/json", "accept": "application/json"}
        if auth_key:
            headers["authkey"] = auth_key
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport or ShardedTransport(max_connections),
        )

    @classmethod
    def from_settings(cls, settings: BotSettings, **kwargs: Any) -> Msg91Client:
        key = settings.msg91_auth_key.get_secret_value() if settings.msg91_auth_key else None
        return cls(
            base_url=settings.msg91_base_url,
            integrated_number=settings.integrated_number,
            auth_key=key,
            **kwargs,
        )

    def request_for(self, recipient: str, message: OutboundMessage) -> SendRequest:
        """The request `send` would make; raises `InvalidOutboundMessage` on a broken message."""
        return build_request(self.integrated_number, recipient, message)

    async def send(self, recipient: str, message: OutboundMessage) -> SendResult:
        return await self.post(self.request_for(recipient, message))

    async def post(self, request: SendRequest) -> SendResult:
        """One attempt. Raises `RetryableSendError` or `DefinitiveSendError` on failure."""
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
        uuid, request_id = accepted_ids(body)
        return SendResult(request, response.status_code, uuid, request_id, text)

    async def integrated_numbers(self) -> list[str]:
        """Numbers of the account (``GET /whatsapp-activation/``): a cheap credentials check."""
        try:
            response = await self._http.get(ACTIVATION_PATH)
        except httpx.HTTPError as exc:
            raise error_for(
                Classification(AttemptOutcome.CONNECTION_ERROR, None, repr(exc))
            ) from exc
        body = _parse(response.text)
        verdict = classify_response(response.status_code, body)
        if verdict.outcome is not AttemptOutcome.ACCEPTED:
            raise error_for(verdict, status_code=response.status_code)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise DefinitiveSendError(
                Classification(AttemptOutcome.REJECTED, None, "unexpected activation response"),
                status_code=response.status_code,
            )
        return [str(d["integrated_number"]) for d in data if isinstance(d, dict)]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Msg91Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
