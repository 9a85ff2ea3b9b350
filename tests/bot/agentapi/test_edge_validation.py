"""Inputs PostgreSQL (or Python) cannot take are refused at the edge with a 4xx naming the
field, with a valid token: NUL in ids and search text, unpaired surrogates and NUL in JSON text,
integers beyond bigint, cursors hiding NUL, JWTs with astronomically large time claims. And a
reply MSG91 refuses leaves the conversation as it was."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest

from supportbot.engine.testing import CUSTOMER, JWT_SECRET, TENANT, customer_message
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.storage import history
from supportbot.storage.db import Pool

BIGINT_MAX = 2**63 - 1
ONE = f"/conversations/{CUSTOMER}"


def error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    detail: dict[str, Any] = body["error"]
    return detail


async def known_customer(pool: Pool) -> None:
    await history.record_inbound(pool, [customer_message("Hello", received_at=time.time())])


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "field"),
    [
        ("GET", "/conversations", {"q": "pa\x00rcel"}, None, "query.q"),
        ("GET", "/conversations", {"cursor": "abc\x00"}, None, "query.cursor"),
        ("GET", "/conversations/91987%006543210", None, None, "path.customer_id"),
        ("GET", ONE, {"before_id": str(2**63)}, None, "query.before_id"),
        ("GET", ONE, {"before_id": "9" * 400}, None, "query.before_id"),
        ("POST", f"{ONE}/messages", None, b'{"text": "a\\u0000b"}', "body.text"),
        ("POST", f"{ONE}/messages", None, b'{"text": "\\ud800"}', "body.text"),
        ("POST", f"{ONE}/messages", None, b'{"text": "  \\n "}', "body.text"),
        ("POST", f"{ONE}/handoff", None, b'{"reason": "vip\\u0000"}', "body.reason"),
        ("POST", f"{ONE}/handoff", None, b'{"reason": "\\udfff"}', "body.reason"),
        ("POST", "/conversations/a%00/handback", None, None, "path.customer_id"),
    ],
)  # fmt: skip
async def test_unstorable_inputs_are_422_naming_the_field(
    api: httpx.AsyncClient,
    pool: Pool,
    method: str,
    path: str,
    params: dict[str, str] | None,
    body: bytes | None,
    field: str,
) -> None:
    await known_customer(pool)
    headers = {"Content-Type": "application/json"}
    response = await api.request(method, path, params=params, content=body, headers=headers)
    assert response.status_code == 422, response.text
    detail = error(response)
    assert detail["code"] == "invalid_request" and detail["field"] == field
    assert field in detail["message"]
    assert "\x00" not in response.text and "\\u0000" not in response.text  # input not echoed
    conversation = (await api.get(f"/conversations/{CUSTOMER}")).json()["conversation"]
    assert conversation["handoff_state"] == "bot" and conversation["handoff_reason"] is None


async def test_bigint_edge_is_accepted(api: httpx.AsyncClient, pool: Pool) -> None:
    await known_customer(pool)
    found = await api.get(f"/conversations/{CUSTOMER}", params={"before_id": str(BIGINT_MAX)})
    assert found.status_code == 200
    assert [m["text"] for m in found.json()["messages"]] == ["Hello"]


async def test_a_cursor_hiding_nul_or_an_unrepresentable_time_is_a_bad_cursor(
    api: httpx.AsyncClient,
) -> None:
    for raw in ["2026-01-01T00:00:00+00:00\x1fab\x00c", "9999-12-31T23:59:59-14:00\x1fab"]:
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        bad = await api.get("/conversations", params={"cursor": cursor})
        assert bad.status_code == 400 and error(bad)["code"] == "bad_cursor"


def signed(claims: dict[str, Any], secret: str = JWT_SECRET) -> str:
    """A token built by hand (stdlib only), so the claims can be anything JSON can say."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 10**400},
        {"exp": -(10**400)},
        {"exp": 2**1100},
        {"exp": time.time() + 600, "nbf": 10**400},
        {"exp": time.time() + 600, "iat": -(10**400)},
        {"exp": 1e308 * 10},  # inf in Python's JSON
    ],
)
async def test_huge_time_claims_are_401(api_url: str, claims: dict[str, Any]) -> None:
    token = signed({"sub": "alice", "tenant": TENANT, **claims})
    async with httpx.AsyncClient(base_url=api_url + "/api/v1") as client:
        response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert error(response)["code"] == "unauthorized"
    assert "out of range" in error(response)["message"] or "'" in error(response)["message"]


async def test_a_reply_msg91_refuses_leaves_the_conversation_to_the_bot(
    api: httpx.AsyncClient, pool: Pool, msg91: SimulatorClient
) -> None:
    await known_customer(pool)
    await msg91.fail_next(400)  # definitive: MSG91 rejects the request
    failed = await api.post(f"/conversations/{CUSTOMER}/messages", json={"text": "Hi from Alice"})
    assert failed.status_code == 502, failed.text
    assert error(failed)["code"] == "reply_not_sent"
    assert "not sent" in error(failed)["message"]
    conversation = (await api.get(f"/conversations/{CUSTOMER}")).json()["conversation"]
    assert conversation["handoff_state"] == "bot" and conversation["handoff_agent"] is None
    assert await msg91.accepted(CUSTOMER) == []

    sent = await api.post(f"/conversations/{CUSTOMER}/messages", json={"text": "Hi again"})
    assert sent.status_code == 200
    assert sent.json()["conversation"]["handoff_state"] == "human"
