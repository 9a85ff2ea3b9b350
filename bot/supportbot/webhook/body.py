"""Reading a request body safely: JSON content type only, size capped before and while reading.

Works on the raw ASGI ``receive`` channel (the webhook's POST routes are served without a
Starlette `Request`, see :mod:`supportbot.webhook.fastpath`).
"""

from __future__ import annotations

from starlette.types import Receive

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


async def read_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The whole body, refusing (413) by Content-Length (`declared`) up front and while reading."""
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise BadRequestError("invalid_content_length", "Content-Length is not a number")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise BadRequestError("client_disconnected", "the client went away mid-body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
