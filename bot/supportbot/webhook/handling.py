"""The acknowledgement path of a webhook POST: check, parse, hand over, answer.

Order: secret (401) -> content type (415) -> size (413) -> JSON (400) -> content (422) ->
business number (403/422) -> Redis hand-over (503 if Redis fails, so the provider retries).
Nothing is stored unless every check passed. Messages go to the queue's `Ingestor` (dedupe,
archive, throttle, inbox, drain job in one round trip each); delivery reports to `ReportStore`.
PostgreSQL is never used here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse

from supportbot.queueing.ingest import AcceptOutcome, Ingestor
from supportbot.settings import BotSettings
from supportbot.webhook import auth, body
from supportbot.webhook.errors import UnavailableError, WebhookError, from_parse_error
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


@dataclass(frozen=True, slots=True)
class Sinks:
    """Where accepted items go (created in the app's lifespan, bound to its Redis client)."""

    ingestor: Ingestor
    reports: ReportStore


class WebhookHandler:
    def __init__(
        self, settings: BotSettings, metrics: WebhookMetrics, clock: Callable[[], float]
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._clock = clock

    async def handle(self, request: Request, sinks: Sinks | None) -> JSONResponse:
        s = self._settings
        try:
            auth.check_secret(
                request.headers.get(s.webhook_secret_header),
                request.query_params.get("token"),
                s,
            )
            body.check_content_type(request.headers.get("content-type"))
            raw = await body.read_body(request, s.max_body_bytes)
            parsed = self._parse(raw)
            auth.check_numbers(parsed.items, s)
            if sinks is None:
                raise UnavailableError("not_started", "the webhook is starting; retry later")
            results = await self._hand_over(parsed, raw, sinks)
        except WebhookError as exc:
            self._metrics.rejections.labels(exc.code).inc()
            log.info(
                "webhook request rejected",
                extra={"path": request.url.path, "status": exc.status, "code": exc.code},
            )
            return exc.response()
        return JSONResponse(summarise(results))

    def _parse(self, raw: bytes) -> ParsedPayload:
        try:
            parsed = parse_payload(
                raw, tenant_id=self._settings.tenant_id, received_at=self._clock()
            )
        except ParseError as exc:
            self._metrics.parse_errors.labels(exc.reason).inc()
            raise from_parse_error(exc) from None
        for rejected in parsed.rejected:
            self._metrics.parse_errors.labels(rejected.reason).inc()
        return parsed

    async def _hand_over(
        self, parsed: ParsedPayload, raw: bytes, sinks: Sinks
    ) -> list[dict[str, str]]:
        results: list[dict[str, str]] = []
        try:
            for message in parsed.messages:
                outcome = await sinks.ingestor.accept(message, raw)
                self._metrics.messages.labels(outcome.value).inc()
                results.append({"id": message.message_id, "status": _ANSWER[outcome]})
            reports = parsed.reports
            for report, new in zip(reports, await sinks.reports.store(reports, raw), strict=True):
                outcome_word = "accepted" if new else "duplicate"
                self._metrics.reports.labels(outcome_word).inc()
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
