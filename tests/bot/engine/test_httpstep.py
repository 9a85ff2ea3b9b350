"""`BackendCaller` against the fake order backend, a real HTTP server process
(`supportbot_dev.orders_backend`): outcomes, secrets from the mounted Secret, retries only where
allowed, timeouts, the size limit, redirects and the address policy. Backoff waits are recorded,
not slept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client import REGISTRY

from supportbot.engine.httpstep import BackendCaller
from supportbot.flow import HTTPCall
from supportbot_dev.orders_backend import RunningBackend

from .conftest import ORDERS_API_KEY

KEY_HEADER = (("X-Api-Key", "{{secret:orders-api-key}}"),)


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "backend"
    directory.mkdir()
    (directory / "orders-api-key").write_text(ORDERS_API_KEY + "\n")
    return directory


@pytest.fixture
async def caller(orders_backend: RunningBackend, secrets_dir: Path) -> AsyncIterator[BackendCaller]:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    backend = BackendCaller([f"127.0.0.1:{orders_backend.port}"], secrets_dir, sleep=no_sleep)
    backend.waits = waits  # type: ignore[attr-defined]
    try:
        yield backend
    finally:
        await backend.aclose()


def get(url: str, **fields: object) -> HTTPCall:
    return HTTPCall(step="lookup", method="GET", url=url, headers=KEY_HEADER, **fields)  # type: ignore[arg-type]


def hits(backend: RunningBackend, path: str) -> int:
    return int(httpx.get(backend.url + "/_hits").json().get(path, 0))


async def test_found_order_is_success_with_json(
    caller: BackendCaller, orders_backend: RunningBackend
) -> None:
    before = REGISTRY.get_sample_value(
        "supportbot_flow_http_calls_total", {"step": "lookup", "outcome": "success"}
    )
    result = await caller.call(get(orders_backend.url + "/api/orders/ACME-12345"))
    assert result.outcome == "success" and result.status == 200
    assert isinstance(result.data, dict) and result.data["status"] == "shipped"
    after = REGISTRY.get_sample_value(
        "supportbot_flow_http_calls_total", {"step": "lookup", "outcome": "success"}
    )
    assert (after or 0) == (before or 0) + 1
    assert REGISTRY.get_sample_value(
        "supportbot_flow_http_call_duration_seconds_count", {"step": "lookup", "outcome": "success"}
    )


async def test_unknown_order_is_not_found(
    caller: BackendCaller, orders_backend: RunningBackend
) -> None:
    result = await caller.call(get(orders_backend.url + "/api/orders/ACME-00000"))
    assert (result.outcome, result.status) == ("not_found", 404)


async def test_missing_secret_is_an_error_and_nothing_is_sent(
    caller: BackendCaller, orders_backend: RunningBackend
) -> None:
    path = "/api/orders/ACME-54321"
    before = hits(orders_backend, path)
    call = HTTPCall(
        step="lookup",
        method="GET",
        url=orders_backend.url + path,
        headers=(("X-Api-Key", "{{secret:nope}}"),),
    )
    result = await caller.call(call)
    assert result.outcome == "error" and "nope" in result.detail
    assert hits(orders_backend, path) == before


async def test_wrong_key_is_an_error(
    caller: BackendCaller, orders_backend: RunningBackend, secrets_dir: Path
) -> None:
    (secrets_dir / "orders-api-key").write_text("rotated-wrong")  # read on every call
    result = await caller.call(get(orders_backend.url + "/api/orders/ACME-12345"))
    assert (result.outcome, result.status) == ("error", 401)


async def test_5xx_is_retried_for_get_until_it_succeeds(
    caller: BackendCaller, orders_backend: RunningBackend
) -> None:
    result = await caller.call(get(orders_backend.url + "/flaky/2", retries=2))
    assert result.outcome == "success"
    assert hits(orders_backend, "/flaky/2") == 3
    assert len(caller.waits) == 2  # type: ignore[attr-defined]
    assert all(0 <= w <= 2.0 for w in caller.waits)  # type: ignore[attr-defined]


async def test_no_retries_without_budget_and_post_is_not_retried(
    caller: BackendCaller, orders_backend: RunningBackend
) -> None:
    result = await caller.call(get(orders_backend.url + "/fail/500"))
    assert (result.outcome, result.status) == ("error", 500)
    assert hits(orders_backend, "/fail/500") == 1
    post = HTTPCall(
        step="lookup", method="POST", url=orders_backend.url + "/flaky/5", body={}, retries=3
    )
    result = await caller.call(post)  # a POST without idempotency key: one attempt only
    assert result.outcome == "error"
    assert hits(orders_backend, "/flaky/5") == 1


async def test_timeout_is_its_own_outcome_and_retried(
    caller: BackendCaller, orders_backend: RunningBackend
) -> None:
    result = await caller.call(
        get(orders_backend.url + "/slow?seconds=3", timeout_seconds=0.3, retries=1)
    )
    assert result.outcome == "timeout"
    assert hits(orders_backend, "/slow") >= 1


async def test_response_over_the_limit_is_an_error(
    caller: BackendCaller, orders_backend: RunningBackend
) -> None:
    result = await caller.call(
        get(orders_backend.url + "/big?bytes=50000", max_response_bytes=1000)
    )
    assert result.outcome == "error" and "larger than 1000" in result.detail
    ok = await caller.call(get(orders_backend.url + "/big?bytes=500", max_response_bytes=1000))
    assert ok.outcome == "success" and ok.data == "x" * 500


async def test_redirects_only_to_the_same_host(
    caller: BackendCaller, orders_backend: RunningBackend
) -> None:
    same = await caller.call(get(orders_backend.url + "/redirect?to=/api/orders/GX-100200"))
    assert same.outcome == "success"
    assert isinstance(same.data, dict) and same.data["order_id"] == "GX-100200"
    other = f"http://localhost:{orders_backend.port}/api/orders/GX-100200"
    refused = await caller.call(get(orders_backend.url + "/redirect?to=" + other))
    assert refused.outcome == "error" and "another host" in refused.detail


async def test_idempotency_key_makes_post_retries_safe(
    caller: BackendCaller, orders_backend: RunningBackend
) -> None:
    call = HTTPCall(
        step="returns",
        method="POST",
        url=orders_backend.url + "/api/returns",
        headers=KEY_HEADER,
        body={"order_id": "ACME-12345"},
        idempotency_key=True,
    )
    first = await caller.call(call, idempotency_key="turn-1:returns:0")
    again = await caller.call(call, idempotency_key="turn-1:returns:0")
    other = await caller.call(call, idempotency_key="turn-2:returns:0")
    assert first.outcome == "success" and first.data == again.data
    assert isinstance(first.data, dict) and isinstance(other.data, dict)
    assert first.data["return_id"] != other.data["return_id"]


async def test_plain_http_and_private_addresses_need_the_allow_list(
    orders_backend: RunningBackend, secrets_dir: Path
) -> None:
    path = "/api/orders/ACME-12345"
    before = hits(orders_backend, path)
    strict = BackendCaller([], secrets_dir)
    try:
        refused = await strict.call(get(orders_backend.url + path))
        assert refused.outcome == "error" and "plain http://" in refused.detail
    finally:
        await strict.aclose()
    assert hits(orders_backend, path) == before


@pytest.mark.parametrize(
    ("address", "allow", "needle"),
    [
        ("169.254.169.254", ["orders.example"], "metadata"),
        ("fe80::1", ["orders.example"], "link-local"),
        ("10.1.2.3", [], "private"),
        ("127.0.0.1", [], "private or loopback"),
    ],
)
async def test_resolved_addresses_are_checked(
    address: str, allow: list[str], needle: str, secrets_dir: Path
) -> None:
    asked: list[str] = []

    async def resolver(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        return [address]

    caller = BackendCaller(allow, secrets_dir, resolver=resolver)
    try:
        result = await caller.call(get("https://orders.example/api/orders/1"))
    finally:
        await caller.aclose()
    assert asked == ["orders.example"]
    assert result.outcome == "error" and needle in result.detail


async def test_the_request_goes_to_the_checked_address(
    orders_backend: RunningBackend, secrets_dir: Path
) -> None:
    """A name is resolved once, checked, and the connection made to that address (no second
    lookup a rebinding DNS server could answer differently); the Host header keeps the name."""

    async def resolver(host: str, port: int) -> Sequence[str]:
        assert host == "orders.internal"
        return ["127.0.0.1"]

    port = orders_backend.port
    caller = BackendCaller([f"orders.internal:{port}"], secrets_dir, resolver=resolver)
    try:
        result = await caller.call(get(f"http://orders.internal:{port}/api/orders/ACME-12345"))
    finally:
        await caller.aclose()
    assert result.outcome == "success"
    assert urlsplit(orders_backend.url).hostname == "127.0.0.1"


async def test_the_turns_budget_bounds_the_call_and_its_retries(
    caller: BackendCaller, orders_backend: RunningBackend
) -> None:
    call = get(orders_backend.url + "/slow?seconds=5", timeout_seconds=3, retries=3)
    result = await caller.call(call, deadline_seconds=0.3)
    assert result.outcome == "timeout" and "ran out" in result.detail


async def test_retry_after_is_honoured_within_the_cap(
    caller: BackendCaller, orders_backend: RunningBackend
) -> None:
    result = await caller.call(get(orders_backend.url + "/flaky/1?retry_after=1.5", retries=1))
    assert result.outcome == "success"
    assert caller.waits == [1.5]  # type: ignore[attr-defined]
    result = await caller.call(get(orders_backend.url + "/flaky/3?retry_after=60", retries=1))
    assert result.outcome == "error" and result.status == 503
    assert caller.waits[-1] == 2.0  # type: ignore[attr-defined]
