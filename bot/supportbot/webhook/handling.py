"""The acknowledgement path of a webhook POST: check, parse, hand over, answer.

Order (MSG91): secret (401) -> content type (415) -> size (413) -> JSON (400) -> content (422) ->
business number (403/422) -> Redis hand-over (503 if Redis fails, so the provider retries).
Order (Meta, ``meta_signed``): size (413) -> ``X-Hub-Signature-256`` over the raw body (401)
-> content type (415) -> the same as MSG91 from JSON on: nothing is parsed before the signature
matched.
Nothing is stored unless every check passed. Messages go to the queue's `Ingestor` (dedupe,
archive, throttle, inbox, drain job in one round trip each); delivery reports to `ReportStore`.
PostgreSQL is never used here.

The handler works on the raw ASGI scope and ``receive`` channel and returns a `Reply` (status,
JSON bytes, headers): the app serves it straight from a pure ASGI middleware, without a
Starlette `Request`, routing or dependency solving on this hot path.

Each request has a request id: its ``X-Request-ID`` when that is safe to keep, else a new one
(`observability.request_id_from_header`). It is stored with every message of the request, bound
to the request's log records, and answered as ``X-Request-ID``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.types import Receive, Scope

from supportbot.observability import request_id_from_header, request_scope
from supportbot.queueing.ingest import AcceptOutcome, Ingestor
from supportbot.settings import BotSettings
from supportbot.webhook import auth, body
from supportbot.webhook.errors import UnavailableError, WebhookError, error_body, from_parse_error
from supportbot.webhook.metrics import WebhookMetrics
from supportbot.webhook.parsing import ParsedPayload, ParseError, parse_payload
from supportbot.webhook.reports import ReportStore

log = logging.getLogger(__name__)

_ANSWER = {
    AcceptOutcome.ACCEPTED: "accepted",
    AcceptOutcome.DUPLICATE: "duplicate",
    AcceptOutcome.THROTTLED: "throttled",
    AcceptOutcome.THROTTLED_NOTIFY: "throttled",
}
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
"""The encoding Starlette's `JSONResponse` uses, built once."""
_CONTENT_TYPE = (b"content-type", b"application/json")
_REQUEST_ID = b"x-request-id"

Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete JSON answer: status, body bytes and the raw ASGI headers."""

    status: int
    body: bytes
    headers: Headers

    @classmethod
    def json(cls, status: int, content: Any, extra: Headers = ()) -> Reply:
        data = _JSON.encode(content).encode("utf-8")
        return cls(
            status, data, ((b"content-length", str(len(data)).encode()), _CONTENT_TYPE, *extra)
        )

    def response(self) -> Response:
        response = Response(self.body, status_code=self.status)
        response.raw_headers = list(self.headers)
        return response


def error_reply(exc: WebhookError) -> Reply:
    extra: Headers = ((b"www-authenticate", b"Secret"),) if exc.status == 401 else ()
    return Reply.json(exc.status, error_body(exc.code, exc.message), extra)


@dataclass(frozen=True, slots=True)
class Sinks:
    """Where accepted items go (created in the app's lifespan, bound to its Redis client)."""

    ingestor: Ingestor
    reports: ReportStore


@dataclass(frozen=True, slots=True)
class RequestHeaders:
    """The request headers the acknowledgement path reads (first value of each)."""

    secret: str | None = None
    content_type: str | None = None
    content_length: str | None = None
    request_id: str | None = None


def read_headers(raw: Sequence[tuple[bytes, bytes]], secret_name: bytes) -> RequestHeaders:
    """One pass over the ASGI headers (lower-case names, latin-1 values, as Starlette reads)."""
    secret = content_type = content_length = request_id = None
    for name, value in raw:
        if name == secret_name:
            if secret is None:
                secret = value.decode("latin-1")
        elif name == b"content-type":
            if content_type is None:
                content_type = value.decode("latin-1")
        elif name == b"content-length":
            if content_length is None:
                content_length = value.decode("latin-1")
        elif name == b"x-request-id" and request_id is None:
            request_id = value.decode("latin-1")
    return RequestHeaders(secret, content_type, content_length, request_id)


class WebhookHandler:
    def __init__(
        self,
        settings: BotSettings,
        metrics: WebhookMetrics,
        clock: Callable[[], float],
        *,
        meta_signed: bool = False,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._meta_signed = meta_signed
        header = auth.META_SIGNATURE_HEADER if meta_signed else settings.webhook_secret_header
        self._secret_name = header.lower().encode("latin-1")

    async def handle(self, scope: Scope, receive: Receive, sinks: Sinks | None) -> Reply:
        found = read_headers(scope["headers"], self._secret_name)
        request_id = request_id_from_header(found.request_id)
        with request_scope(request_id):
            reply = await self._handle(scope, receive, sinks, found, request_id)
        return Reply(reply.status, reply.body, (*reply.headers, (_REQUEST_ID, request_id.encode())))

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        sinks: Sinks | None,
        found: RequestHeaders,
        request_id: str,
    ) -> Reply:
        s = self._settings
        try:
            if self._meta_signed:
                raw = await body.read_body(receive, found.content_length, s.max_body_bytes)
                auth.check_meta_signature(raw, found.secret, s)
                body.check_content_type(found.content_type)
            else:
                token = None
                if found.secret is None or s.webhook_allow_query_token:
                    token = QueryParams(scope.get("query_string", b"")).get("token")
                auth.check_secret(found.secret, token, s)
                body.check_content_type(found.content_type)
                raw = await body.read_body(receive, found.content_length, s.max_body_bytes)
            parsed = self._parse(raw)
            auth.check_numbers(parsed.items, s)
            if sinks is None:
                raise UnavailableError("not_started", "the webhook is starting; retry later")
            results = await self._hand_over(parsed, raw, sinks, request_id)
        except WebhookError as exc:
            self._metrics.rejected(exc.code)
            log.info(
                "webhook request rejected",
                extra={"path": scope.get("path"), "status": exc.status, "code": exc.code},
            )
            return error_reply(exc)
        return Reply.json(200, summarise(results))

    def _parse(self, raw: bytes) -> ParsedPayload:
        try:
            parsed = parse_payload(
                raw, tenant_id=self._settings.tenant_id, received_at=self._clock()
            )
        except ParseError as exc:
            self._metrics.parse_error(exc.reason)
            raise from_parse_error(exc) from None
        for rejected in parsed.rejected:
            self._metrics.parse_error(rejected.reason)
        return parsed

    async def _hand_over(
        self, parsed: ParsedPayload, raw: bytes, sinks: Sinks, request_id: str
    ) -> list[dict[str, str]]:
        results: list[dict[str, str]] = []
        try:
            for parsed_message in parsed.messages:
                message = dataclasses.replace(parsed_message, request_id=request_id)
                outcome = await sinks.ingestor.accept(message, raw)
                self._metrics.message(outcome.value)
                results.append({"id": message.message_id, "status": _ANSWER[outcome]})
            reports = parsed.reports
            for report, new in zip(reports, await sinks.reports.store(reports, raw), strict=True):
                outcome_word = "accepted" if new else "duplicate"
                self._metrics.report(outcome_word)
                results.append({"id": report.provider_message_id, "status": outcome_word})
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis hand-over failed", extra={"error": type(exc).__name__})
            raise UnavailableError(
                "store_unavailable", "the message store is unavailable; retry later"
            ) from None
        results.extend({"status": "rejected", "reason": e.reason} for e in parsed.rejected)
        return results


def summarise(results: Sequence[dict[str, str]]) -> dict[str, Any]:
    """Overall status: the items' common status, "mixed", or "ignored" when there were none."""
    statuses = {r["status"] for r in results}
    overall = "ignored" if not statuses else statuses.pop() if len(statuses) == 1 else "mixed"
    return {"status": overall, "results": list(results)}
