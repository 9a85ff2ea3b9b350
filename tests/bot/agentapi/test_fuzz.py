"""Property: with a valid token, whatever an agent sends (random path ids, query parameters,
headers and JSON bodies, including U+0000, unpaired surrogates, invalid UTF-8, integers beyond
bigint and wrong types) to any route of the real served API, the answer is below 500 and a JSON
body, in the ``{"error": {...}}`` shape when it is an error."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from supportbot.engine.testing import CUSTOMER, customer_message
from supportbot.storage import history
from supportbot.storage.db import Pool

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

UNSTORABLE = ["\x00", "\ud800", "\udfff", "\udc00\ud800"]
nasty_text = st.tuples(
    st.text(max_size=12),
    st.sampled_from(["", *UNSTORABLE]),
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=12),
).map("".join)
"""Text with, most of the time, a NUL or an unpaired surrogate somewhere in it."""
big_ints = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from(
    [2**63 - 1, 2**63, -(2**63), 10**400, 0, -1]
)
scalars = (
    st.none()
    | st.booleans()
    | big_ints
    | st.floats(allow_nan=True, allow_infinity=True)
    | nasty_text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=12,
)
bodies = (
    st.fixed_dictionaries({}, optional={"text": json_values, "reason": json_values}) | json_values
)
param_values = nasty_text | big_ints.map(str) | st.sampled_from(["bot", "human", "", "1e400"])
params = st.dictionaries(
    st.sampled_from(["q", "q", "cursor", "limit", "before_id", "before_id", "handoff"])
    | nasty_text,
    param_values,
    max_size=4,
)
ids = st.sampled_from([CUSTOMER, "919800000000"]) | nasty_text | big_ints.map(str)
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E)
    | st.characters(min_codepoint=0xA0, max_codepoint=0xFF),
    max_size=120,
).map(lambda v: v.encode("latin-1"))
"""Whatever HTTP lets a header carry (visible ASCII and obs-text bytes)."""
ROUTES = [
    ("GET", "/me"),
    ("GET", "/conversations"),
    ("GET", "/conversations/{id}"),
    ("POST", "/conversations/{id}/messages"),
    ("POST", "/conversations/{id}/handoff"),
    ("POST", "/conversations/{id}/handback"),
]


def encoded(value: str) -> str:
    """Percent-encoded UTF-8, lone surrogates as their (invalid) UTF-8 bytes."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@pytest.fixture
async def seeded(api: httpx.AsyncClient, pool: Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The API client, with one known conversation (so requests also reach found rows)."""
    await history.record_inbound(pool, [customer_message("Hello", received_at=time.time())])
    yield api


async def check(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> None:
    response = await client.request(method, url, **kwargs)
    assert response.status_code < 500, (method, url, response.status_code, response.text)
    if response.is_redirect:
        return  # a trailing slash (an id ending in "/"): Starlette redirects, no body
    payload = response.json()
    assert isinstance(payload, dict)
    if response.status_code >= 400:
        assert {"code", "message"} <= set(payload["error"]) <= {"code", "message", "field"}


@FUZZ
@given(route=st.sampled_from(ROUTES), customer=ids, query=params)
async def test_random_ids_and_query_parameters_never_5xx(
    seeded: httpx.AsyncClient, route: tuple[str, str], customer: str, query: dict[str, str]
) -> None:
    method, template = route
    path = template.replace("{id}", encoded(customer))
    qs = "&".join(f"{encoded(k)}={encoded(v)}" for k, v in query.items())
    await check(seeded, method, f"{path}?{qs}" if qs else path)


@FUZZ
@given(
    template=st.sampled_from([t for m, t in ROUTES if m == "POST"]),
    customer=st.sampled_from([CUSTOMER, "919800000000"]) | nasty_text,
    body=bodies,
    key=st.none() | header_values,
)
async def test_random_json_bodies_never_5xx(
    seeded: httpx.AsyncClient, template: str, customer: str, body: Any, key: bytes | None
) -> None:
    headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    content = json.dumps(body).encode()  # ensure_ascii: surrogates travel as \\ud800 escapes
    path = template.replace("{id}", encoded(customer))
    await check(seeded, "POST", path, content=content, headers=headers)


@FUZZ
@given(
    template=st.sampled_from([t for m, t in ROUTES if m == "POST"]), body=st.binary(max_size=200)
)
async def test_random_bytes_never_5xx(
    seeded: httpx.AsyncClient, template: str, body: bytes
) -> None:
    path = template.replace("{id}", CUSTOMER)
    headers = {"Content-Type": "application/json"}
    await check(seeded, "POST", path, content=body, headers=headers)
