"""Reading a request body safely: JSON content type only, size capped before and while reading."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from supportbot.webhook.errors import (
    BadRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)


def check_content_type(value: str | None) -> None:
    """Accept ``application/json`` (any parameters) and ``application/*+json``."""
    media = (value or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return
    raise UnsupportedMediaTypeError(
        "unsupported_media_type", "the body must be sent as Content-Type: application/json"
    )


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError("payload_too_large", f"the body exceeds {limit} bytes")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) by Content-Length up front and again while streaming."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise BadRequestError("invalid_content_length", "Content-Length is not a number")
        if int(declared) > limit:
            raise _too_large(limit)
    buffer = bytearray()
    try:
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) > limit:
                raise _too_large(limit)
    except ClientDisconnect:
        raise BadRequestError("client_disconnected", "the client went away mid-body") from None
    return bytes(buffer)
