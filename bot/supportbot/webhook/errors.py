"""HTTP-facing errors of the webhook and the one JSON error body shape.

Every rejection is a :class:`WebhookError` subclass with a fixed HTTP status and a stable `code`;
the body is always ``{"error": {"code": ..., "message": ...}}`` (`handling.error_reply` answers
the webhook POSTs with it, plus ``WWW-Authenticate`` on 401). Messages never echo secrets or
payload values.
"""

from __future__ import annotations

from typing import ClassVar

from starlette.responses import JSONResponse

from supportbot.webhook.parsing import ParseError

INTERNAL_ERROR_MESSAGE = "unexpected error; the delivery may be retried"
"""The 500 answer's message: a bug, not bad input (the server logs the traceback)."""


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status)


class WebhookError(Exception):
    status: ClassVar[int] = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BadRequestError(WebhookError):
    status = 400


class UnauthorizedError(WebhookError):
    status = 401


class ForbiddenError(WebhookError):
    status = 403


class PayloadTooLargeError(WebhookError):
    status = 413


class UnsupportedMediaTypeError(WebhookError):
    status = 415


class UnprocessableError(WebhookError):
    status = 422


class UnavailableError(WebhookError):
    """Our dependency (Redis) failed: 503 so the provider retries the delivery later."""

    status = 503


def from_parse_error(exc: ParseError) -> WebhookError:
    if exc.malformed:
        return BadRequestError(exc.reason, exc.message)
    return UnprocessableError(exc.reason, exc.message)
