"""Authentication and tenant checks: nothing is stored or enqueued unless both pass."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
import redis.asyncio as aioredis

from supportbot.settings import BotSettings
from supportbot.webhook import testing as t
from supportbot.webhook.app import INBOUND_PATH, STATUS_PATH

SettingsFactory = Callable[..., BotSettings]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]

BODY = t.encode(t.msg91_text())


async def assert_nothing_stored(aredis: aioredis.Redis) -> None:
    assert await aredis.dbsize() == 0


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) >= {"error"} and set(body["error"]) == {"code", "message"}
    code: str = body["error"]["code"]
    return code


async def test_correct_secret_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(INBOUND_PATH, content=BODY, headers=t.headers())
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"


@pytest.mark.parametrize("path", [INBOUND_PATH, STATUS_PATH])
@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"Content-Type": "application/json"}, "missing_secret"),
        (t.headers("wrong-secret"), "invalid_secret"),
        (t.headers("globex-webhook-secret-0123456789"), "invalid_secret"),  # another tenant's
        (t.headers(t.SECRET + "x"), "invalid_secret"),
        (t.headers(t.SECRET[:-1]), "invalid_secret"),
        (t.headers(""), "invalid_secret"),
        (t.headers(t.SECRET, header="X-MSG91-Webhook-Secret"), "missing_secret"),
    ],
)
async def test_bad_secret_is_401_and_stores_nothing(
    client: httpx.AsyncClient,
    aredis: aioredis.Redis,
    path: str,
    headers: dict[str, str],
    code: str,
) -> None:
    response = await client.post(path, content=BODY, headers=headers)
    assert response.status_code == 401
    assert error_code(response) == code
    assert t.SECRET not in response.text
    await assert_nothing_stored(aredis)


async def test_auth_is_checked_before_the_body(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    response = await client.post(
        INBOUND_PATH, content=b"not json", headers={"X-Webhook-Secret": "nope"}
    )
    assert response.status_code == 401
    await assert_nothing_stored(aredis)


async def test_non_ascii_secret_attempt_is_401_not_500(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    response = await client.post(
        INBOUND_PATH + "?token=%C3%A9%ED%A0%80",
        content=BODY,
        headers={
            b"X-Webhook-Secret": "\u00e9t\u00e9".encode(),  # raw UTF-8 bytes
            b"Content-Type": b"application/json",
        },
    )
    assert response.status_code == 401
    await assert_nothing_stored(aredis)


async def test_custom_header_name(
    make_settings: SettingsFactory, make_client: ClientFactory
) -> None:
    client = await make_client(make_settings(webhook_secret_header="X-MSG91-Webhook-Secret"))
    ok = await client.post(
        INBOUND_PATH, content=BODY, headers=t.headers(header="X-MSG91-Webhook-Secret")
    )
    assert ok.status_code == 200
    old = await client.post(INBOUND_PATH, content=BODY, headers=t.headers())
    assert old.status_code == 401


async def test_query_token_refused_when_not_allowed(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    response = await client.post(
        INBOUND_PATH,
        params={"token": t.SECRET},
        content=BODY,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 401
    await assert_nothing_stored(aredis)


async def test_query_token_accepted_when_allowed(
    make_settings: SettingsFactory, make_client: ClientFactory, aredis: aioredis.Redis
) -> None:
    client = await make_client(make_settings(webhook_allow_query_token="true"))
    headers = {"Content-Type": "application/json"}
    wrong = await client.post(INBOUND_PATH, params={"token": "nope"}, content=BODY, headers=headers)
    assert wrong.status_code == 401
    await assert_nothing_stored(aredis)
    ok = await client.post(INBOUND_PATH, params={"token": t.SECRET}, content=BODY, headers=headers)
    assert ok.status_code == 200 and ok.json()["status"] == "accepted"
    # The header still works too.
    again = await client.post(INBOUND_PATH, content=BODY, headers=t.headers())
    assert again.json()["status"] == "duplicate"


@pytest.mark.parametrize(
    "body",
    [
        t.msg91_text(number="919999999999"),
        t.msg91_status(number="919999999999"),
        t.meta_envelope(messages=[t.meta_message("text", {"body": "hi"})], number="15550783881"),
    ],
    ids=["msg91-message", "msg91-status", "meta"],
)
async def test_other_integrated_number_is_403(
    client: httpx.AsyncClient, aredis: aioredis.Redis, body: dict[str, object]
) -> None:
    response = await client.post(INBOUND_PATH, content=t.encode(body), headers=t.headers())
    assert response.status_code == 403
    assert error_code(response) == "wrong_integrated_number"
    await assert_nothing_stored(aredis)


async def test_one_foreign_number_in_a_meta_batch_rejects_all(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    body = t.meta_envelope(messages=[t.meta_message("text", {"body": "hi"})])
    foreign = t.meta_envelope(
        messages=[t.meta_message("text", {"body": "x"}, msg_id="wamid.other")],
        number="15550783881",
    )
    body["entry"].append(foreign["entry"][0])
    response = await client.post(INBOUND_PATH, content=t.encode(body), headers=t.headers())
    assert response.status_code == 403
    await assert_nothing_stored(aredis)


async def test_missing_integrated_number_is_422(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    body = t.msg91_text(number="{{integratedNumber}}")
    response = await client.post(INBOUND_PATH, content=t.encode(body), headers=t.headers())
    assert response.status_code == 422
    assert error_code(response) == "missing_integrated_number"
    await assert_nothing_stored(aredis)
