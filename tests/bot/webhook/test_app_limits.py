"""Bad input gets a 4xx JSON error (never 5xx) and stores nothing: size, type, JSON, content."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import redis.asyncio as aioredis

from supportbot.settings import BotSettings
from supportbot.webhook import testing as t
from supportbot.webhook.app import INBOUND_PATH, STATUS_PATH

SettingsFactory = Callable[..., BotSettings]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
LIMIT = 2048


def error_of(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body["error"]) == {"code", "message"}
    error: dict[str, str] = body["error"]
    return error


@pytest.fixture
async def small(make_settings: SettingsFactory, make_client: ClientFactory) -> httpx.AsyncClient:
    return await make_client(make_settings(max_body_bytes=LIMIT))


def padded(size: int) -> bytes:
    """A valid message body of exactly `size` bytes (JSON whitespace padding)."""
    body = t.encode(t.msg91_text())
    assert len(body) <= size
    return body + b" " * (size - len(body))


async def test_body_at_the_limit_is_accepted(small: httpx.AsyncClient) -> None:
    response = await small.post(INBOUND_PATH, content=padded(LIMIT), headers=t.headers())
    assert response.status_code == 200, response.text


async def test_oversize_by_content_length_is_413(
    small: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    response = await small.post(INBOUND_PATH, content=padded(LIMIT + 1), headers=t.headers())
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert await aredis.dbsize() == 0


async def test_oversize_stream_without_content_length_is_413(
    small: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 64 KiB offered; the app must stop long before
            sent.append(1024)
            yield b" " * 1024

    response = await small.post(INBOUND_PATH, content=chunks(), headers=t.headers())
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert await aredis.dbsize() == 0
    assert sum(sent) <= LIMIT + 2 * 1024  # stopped reading right after crossing the limit


async def test_lying_content_length_is_caught_while_reading(small: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 1024

    headers = {**t.headers(), "Content-Length": "10"}
    response = await small.post(INBOUND_PATH, content=chunks(), headers=headers)
    assert response.status_code == 413


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "json"],
)
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, aredis: aioredis.Redis, content_type: str | None
) -> None:
    headers = {"X-Webhook-Secret": t.SECRET}
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = t.encode(t.msg91_text())
    response = await client.post(INBOUND_PATH, content=body, headers=headers)
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    assert await aredis.dbsize() == 0


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.x+json"],
)
async def test_json_content_type_variants_accepted(
    client: httpx.AsyncClient, content_type: str
) -> None:
    headers = {"X-Webhook-Secret": t.SECRET, "Content-Type": content_type}
    response = await client.post(INBOUND_PATH, content=t.encode(t.msg91_text()), headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"", 400, "malformed_json"),
        (b"{not json", 400, "malformed_json"),
        (b"\xff\xfe\x00", 400, "invalid_encoding"),
        (b'{"customerNumber": "\\ud800"}', 422, "invalid_field"),  # U+FFFD: not a number
        (b"[" * 1000 + b"]" * 1000, 400, "malformed_json"),  # deep nesting: RecursionError
        (b"[1, 2]", 422, "not_an_object"),
        (b"{}", 422, "missing_sender"),
        (t.encode(t.msg91_status("exploded")), 422, "unknown_delivery_state"),
        (
            t.encode({"object": "whatsapp_business_account", "entry": 3}),
            422,
            "unrecognised_payload",
        ),
    ],
)
@pytest.mark.parametrize("path", [INBOUND_PATH, STATUS_PATH])
async def test_bad_bodies(
    client: httpx.AsyncClient,
    aredis: aioredis.Redis,
    path: str,
    body: bytes,
    status: int,
    code: str,
) -> None:
    response = await client.post(path, content=body, headers=t.headers())
    assert response.status_code == status, response.text
    assert error_of(response)["code"] == code
    assert await aredis.dbsize() == 0


async def test_bad_content_length_header_is_400(client: httpx.AsyncClient) -> None:
    # ASGI passes headers through untouched; a real server would reject this earlier.
    async def one() -> AsyncIterator[bytes]:
        yield b"{}"

    headers = {**t.headers(), "Content-Length": "12abc"}
    response = await client.post(INBOUND_PATH, content=one(), headers=headers)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_content_length"


async def test_unknown_path_and_method_use_the_error_shape(client: httpx.AsyncClient) -> None:
    missing = await client.post("/webhooks/nope", content=b"{}", headers=t.headers())
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong = await client.get(INBOUND_PATH)
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"
