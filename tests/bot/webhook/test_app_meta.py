"""The Meta routes of the webhook: the GET verification handshake and signed POSTs.

A POST is checked against ``X-Hub-Signature-256`` (HMAC-SHA256 of the RAW body under the app
secret) before anything is parsed or stored; a body that is the same JSON re-serialised (other
spacing, escaped non-ASCII) must fail. The MSG91 routes of a Meta tenant accept nobody (no
shared secret)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from supportbot.settings import BotSettings
from supportbot.webhook import testing as t
from supportbot.webhook.app import INBOUND_PATH, META_PATH

SettingsFactory = Callable[..., BotSettings]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]

APP_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "meta-verify-token-for-tests"
PHONE_NUMBER_ID = "106540352242922"


def sign(raw: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def raw_event() -> bytes:
    """A message with non-ASCII text, encoded the way Meta sends it (UTF-8, unescaped)."""
    message = t.meta_message("text", {"body": "Olá, café? 👋"})
    contacts = [{"profile": {"name": "Asha"}, "wa_id": "16505551234"}]
    doc = t.meta_envelope(messages=[message], contacts=contacts)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def signed_headers(raw: bytes, signature: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    headers["X-Hub-Signature-256"] = sign(raw) if signature is None else signature
    return headers


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body["error"]) == {"code", "message"}
    code: str = body["error"]["code"]
    return code


@pytest.fixture
async def meta_client(
    make_settings: SettingsFactory, make_client: ClientFactory
) -> httpx.AsyncClient:
    settings = make_settings(
        provider="meta",
        webhook_secret="",
        meta_phone_number_id=PHONE_NUMBER_ID,
        meta_app_secret=APP_SECRET,
        meta_verify_token=VERIFY_TOKEN,
    )
    return await make_client(settings)


def handshake(**params: Any) -> dict[str, Any]:
    return {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, **params}


async def test_handshake_echoes_the_raw_challenge(meta_client: httpx.AsyncClient) -> None:
    response = await meta_client.get(META_PATH, params=handshake(**{"hub.challenge": "1158201444"}))
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        handshake(**{"hub.verify_token": "wrong", "hub.challenge": "1"}),
        handshake(**{"hub.verify_token": VERIFY_TOKEN + "x", "hub.challenge": "1"}),
        handshake(**{"hub.mode": "unsubscribe", "hub.challenge": "1"}),
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        handshake(),
    ],
)
async def test_bad_handshake_is_403(meta_client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    response = await meta_client.get(META_PATH, params=params)
    assert response.status_code == 403
    assert error_code(response) == "verification_failed"
    assert "1" not in response.text.split('"')


async def test_signed_post_is_accepted_and_enqueued(
    meta_client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    raw = raw_event()
    response = await meta_client.post(META_PATH, content=raw, headers=signed_headers(raw))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"
    assert await aredis.dbsize() > 0


async def test_statuses_go_to_the_report_stream(
    meta_client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    doc = t.meta_envelope(statuses=[t.meta_status("read")])
    raw = json.dumps(doc).encode()
    response = await meta_client.post(META_PATH, content=raw, headers=signed_headers(raw))
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == "accepted"
    assert await aredis.xlen(f"sb:{t.TENANT}:dlr") == 1


def reserialised(raw: bytes) -> bytes:
    return json.dumps(json.loads(raw)).encode()  # ASCII escapes and spaces: other bytes


@pytest.mark.parametrize(
    ("make_headers", "body", "code"),
    [
        (lambda raw: {"Content-Type": "application/json"}, raw_event, "missing_signature"),
        (lambda raw: signed_headers(raw, "sha256=" + "0" * 64), raw_event, "invalid_signature"),
        (
            lambda raw: signed_headers(raw, sign(raw, "another-secret")),
            raw_event,
            "invalid_signature",
        ),
        (
            lambda raw: signed_headers(raw, sign(raw)[len("sha256=") :]),
            raw_event,
            "invalid_signature",
        ),
        (lambda raw: signed_headers(raw, ""), raw_event, "invalid_signature"),
        # signed over the raw bytes, but the bytes sent are the same JSON re-serialised
        (
            lambda raw: signed_headers(raw_event()),
            lambda: reserialised(raw_event()),
            "invalid_signature",
        ),
    ],
    ids=["missing", "zeros", "other-secret", "no-prefix", "empty", "reserialised-json"],
)
async def test_bad_signature_is_401_and_stores_nothing(
    meta_client: httpx.AsyncClient,
    aredis: aioredis.Redis,
    make_headers: Callable[[bytes], dict[str, str]],
    body: Callable[[], bytes],
    code: str,
) -> None:
    raw = body()
    response = await meta_client.post(META_PATH, content=raw, headers=make_headers(raw))
    assert response.status_code == 401
    assert error_code(response) == code
    assert await aredis.dbsize() == 0


async def test_signature_is_checked_before_parsing(
    meta_client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    """Unsigned garbage is a 401, not a 400: nothing reads the body before the signature."""
    response = await meta_client.post(
        META_PATH, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
    signed = await meta_client.post(
        META_PATH, content=b"{not json", headers=signed_headers(b"{not json")
    )
    assert signed.status_code == 400
    assert await aredis.dbsize() == 0


async def test_another_business_number_is_refused(
    meta_client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    doc = t.meta_envelope(messages=[t.meta_message("text", {"body": "hi"})], number="15550000000")
    raw = json.dumps(doc).encode()
    response = await meta_client.post(META_PATH, content=raw, headers=signed_headers(raw))
    assert response.status_code == 403
    assert await aredis.dbsize() == 0


async def test_msg91_routes_of_a_meta_tenant_accept_nobody(
    meta_client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    response = await meta_client.post(INBOUND_PATH, content=raw_event(), headers=t.headers(""))
    assert response.status_code == 401
    assert await aredis.dbsize() == 0


async def test_meta_route_of_an_msg91_tenant_accepts_nobody(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    raw = raw_event()
    response = await client.post(META_PATH, content=raw, headers=signed_headers(raw))
    assert response.status_code == 401
    handshake_answer = await client.get(META_PATH, params=handshake(**{"hub.challenge": "1"}))
    assert handshake_answer.status_code == 403
    assert await aredis.dbsize() == 0


async def test_another_phone_number_id_is_refused(
    meta_client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    doc = t.meta_envelope(messages=[t.meta_message("text", {"body": "hi"})])
    doc["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999000111"
    raw = json.dumps(doc).encode()
    response = await meta_client.post(META_PATH, content=raw, headers=signed_headers(raw))
    assert response.status_code == 403
    assert error_code(response) == "wrong_phone_number_id"
    assert await aredis.dbsize() == 0
