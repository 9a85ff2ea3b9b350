"""The OpenRouter client against the simulator over real HTTP: fallback on 503, hang -> timeout,
all down, error-in-200, invalid responses, Retry-After, folding, masking, usage/cost, server-side
`models` fallback, bad key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from prometheus_client import REGISTRY

from supportbot.llm import LLMUnavailable, OpenRouterClient
from supportbot.llm.simulator import reply_text
from supportbot.llm.simulator.testing import RunningSimulator
from supportbot_dev.tcpproxy import FaultProxy

PRIMARY = "openai/gpt-4o-mini"
SECOND = "google/gemini-2.5-flash"
MakeClient = Callable[..., OpenRouterClient]


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_answer_records_model_usage_and_cost(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client = make_client()
    cost_before = metric("supportbot_llm_cost_credits_total", model=PRIMARY)
    ok_before = metric("supportbot_llm_requests_total", model=PRIMARY, outcome="ok")
    result = await client.answer("Be brief.", "Where is my parcel?", user="acme:abc123")
    expected = reply_text(PRIMARY, [{"role": "user", "content": "Where is my parcel?"}])
    assert result.content == expected
    assert result.model == PRIMARY and result.requested_model == PRIMARY
    # simulator: ceil(chars / 4) per message; gpt-4o-mini at $0.15 / $0.60 per million tokens
    assert result.usage.prompt_tokens == 3 + 5
    assert result.usage.completion_tokens == -(-len(expected) // 4)
    assert result.usage.cost == pytest.approx(
        8 * 0.15e-6 + result.usage.completion_tokens * 0.60e-6
    )
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert (
        result.usage.cost > 0
        and result.generation_id
        and result.generation_id.startswith("gen-sim-")
    )
    assert not result.fallback_used and [a.outcome for a in result.attempts] == ["ok"]
    (request,) = await sim.requests()
    assert request["auth"] is True and request["user"] == "acme:abc123"
    assert request["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is my parcel?"},
    ]
    assert request["body"]["max_tokens"] == 512 and "models" not in request["body"]
    assert metric("supportbot_llm_cost_credits_total", model=PRIMARY) == pytest.approx(
        cost_before + result.usage.cost
    )
    assert metric("supportbot_llm_requests_total", model=PRIMARY, outcome="ok") == ok_before + 1


async def test_primary_503_falls_back(sim: RunningSimulator, make_client: MakeClient) -> None:
    await sim.add_fault("unavailable", model=PRIMARY)
    fallbacks_before = metric("supportbot_llm_fallbacks_total", model=PRIMARY)
    result = await make_client().answer(None, "hello")
    assert result.model == SECOND and result.fallback_used
    assert [(a.model, a.outcome) for a in result.attempts] == [
        (PRIMARY, "http_503"),
        (SECOND, "ok"),
    ]
    assert [r["model"] for r in await sim.requests()] == [PRIMARY, SECOND]
    assert metric("supportbot_llm_fallbacks_total", model=PRIMARY) == fallbacks_before + 1


async def test_primary_hanging_times_out_then_falls_back(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    await sim.add_fault("hang", model=PRIMARY, hang_seconds=30)
    client = make_client(timeout_seconds=0.5)
    started = time.monotonic()
    result = await client.answer(None, "are you there?")
    elapsed = time.monotonic() - started
    assert result.model == SECOND
    assert result.attempts[0].outcome == "timeout" and result.attempts[0].latency_seconds >= 0.5
    assert elapsed >= 0.5, "the primary was given its full timeout before falling back"
    for _ in range(100):  # the simulator notices that the client hung up
        hung = (await sim.requests(model=PRIMARY))[0]
        if hung["outcome"] == "hang_client_gone":
            break
        await asyncio.sleep(0.05)
    assert hung["outcome"] == "hang_client_gone"


async def test_all_models_down_raises_typed_unavailable(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    await sim.add_fault("bad_gateway")
    unavailable_before = metric("supportbot_llm_unavailable_total")
    with pytest.raises(LLMUnavailable) as info:
        await make_client().answer(None, "hi")
    assert [(a.model, a.outcome) for a in info.value.attempts] == [
        (PRIMARY, "http_502"),
        (SECOND, "http_502"),
    ]
    assert metric("supportbot_llm_unavailable_total") == unavailable_before + 1


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [
        ("error_in_200", "error_in_200"),
        ("finish_error", "error_in_200"),
        ("empty", "invalid_response"),
    ],
)
async def test_bad_200_responses_fall_back(
    sim: RunningSimulator, make_client: MakeClient, mode: str, outcome: str
) -> None:
    await sim.add_fault(mode, model=PRIMARY, count=1)
    result = await make_client().answer(None, "hi")
    assert result.model == SECOND
    assert result.attempts[0].outcome == outcome
    (first, second) = await sim.requests()
    assert first["status"] == 200 and second["status"] == 200


async def test_429_retry_after_is_honoured_with_a_single_model(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    await sim.add_fault("rate_limit", count=1, retry_after=1)
    result = await make_client(models=(PRIMARY,)).answer(None, "hi")
    assert [a.outcome for a in result.attempts] == ["rate_limited", "ok"]
    first, second = await sim.requests()
    assert first["status"] == 429 and second["status"] == 200
    assert second["at"] - first["finished_at"] >= 0.95, "waited for Retry-After before retrying"


async def test_429_model_is_skipped_until_retry_after(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    await sim.add_fault("rate_limit", model=PRIMARY, count=1, retry_after=60)
    client = make_client()
    first = await client.answer(None, "one")
    second = await client.answer(None, "two")
    assert first.model == SECOND and second.model == SECOND
    assert [a.outcome for a in second.attempts] == ["cooling_down", "ok"]
    assert [r["model"] for r in await sim.requests()] == [PRIMARY, SECOND, SECOND]


async def test_retry_after_longer_than_the_limit_is_not_waited(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    await sim.add_fault("unavailable", retry_after=120)
    with pytest.raises(LLMUnavailable):
        await make_client(models=(PRIMARY,), max_retry_after_seconds=5).answer(None, "hi")
    assert len(await sim.requests()) == 1


async def test_system_prompt_folded_for_configured_models(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    gemma = "google/gemma-3-27b-it"
    result = await make_client(models=(gemma,)).answer("You are Acme's bot.", "Hi!")
    assert result.system_folded
    (request,) = await sim.requests()
    assert request["messages"] == [
        {"role": "user", "content": "Instructions:\nYou are Acme's bot.\n\n---\n\nHi!"}
    ]


async def test_system_role_rejection_is_learned(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    await sim.add_fault("no_system", model=PRIMARY)
    client = make_client(models=(PRIMARY,))
    result = await client.answer("Rules.", "question one")
    assert result.system_folded and result.model == PRIMARY
    first, second = await sim.requests()
    assert first["status"] == 400 and second["messages"][0]["role"] == "user"
    await client.answer("Rules.", "question two")
    third = (await sim.requests())[2]
    assert third["status"] == 200 and all(m["role"] != "system" for m in third["messages"])


async def test_pii_is_masked_before_sending(sim: RunningSimulator, make_client: MakeClient) -> None:
    text = "I'm asha@example.com, call +91 98765 43210 about order AC-123456"
    history = [{"role": "user", "content": "my old number 9876543210"}]
    await make_client().answer(None, text, history)  # type: ignore[arg-type]
    (request,) = await sim.requests()
    assert request["messages"] == [
        {"role": "user", "content": "my old number [phone]"},
        {"role": "user", "content": "I'm [email], call [phone] about order AC-123456"},
    ]
    await make_client(mask_pii=False).answer(None, text)
    assert (await sim.requests())[1]["messages"][-1]["content"] == text


async def test_server_side_models_array(sim: RunningSimulator, make_client: MakeClient) -> None:
    await sim.add_fault("bad_gateway", model=PRIMARY)
    client = make_client(fallback_mode="server")
    result = await client.answer(None, "hello")
    assert result.model == SECOND and result.requested_model == PRIMARY
    (request,) = await sim.requests()
    assert request["body"]["models"] == [PRIMARY, SECOND]
    assert [t["model"] for t in request["tried"]] == [PRIMARY]


async def test_bad_key_stops_without_trying_fallbacks(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    with pytest.raises(LLMUnavailable) as info:
        await make_client(api_key="wrong").answer(None, "hi")
    assert [a.outcome for a in info.value.attempts] == ["unauthorized"]
    assert len(await sim.requests()) == 1


async def test_overall_deadline_bounds_the_call(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    await sim.add_fault("hang", hang_seconds=30)
    client = make_client(timeout_seconds=5.0)
    with pytest.raises(LLMUnavailable) as info:
        await client.answer(None, "hi", deadline_seconds=0.6)
    outcomes = [a.outcome for a in info.value.attempts]
    assert outcomes[0] == "timeout" and outcomes[-1] == "deadline"


async def test_a_connection_dropped_before_any_answer_is_retried_once_on_a_new_one(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    """The server closed a kept-alive connection just as the client reused it (ReadError after
    a few ms): one more try on a fresh connection, not the fallback message."""
    port = urlsplit(sim.base_url).port
    assert port is not None
    proxy = await FaultProxy(port).start()
    try:
        base = sim.base_url.replace(f":{port}", f":{proxy.port}")
        client = make_client(models=(PRIMARY,), base_url=base)
        proxy.drop_when(b"Where is my parcel?")
        result = await client.answer("Be brief.", "Where is my parcel?")
        assert proxy.dropped == 1
        assert result.content == reply_text(
            PRIMARY, [{"role": "user", "content": "Where is my parcel?"}]
        )
        assert [a.outcome for a in result.attempts] == ["ok"]
        assert len(await sim.requests()) == 1, "the dropped request never reached the model"
    finally:
        await proxy.close()
