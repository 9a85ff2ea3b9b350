"""The OpenRouter simulator itself: OpenAI-compatible endpoints, auth, the `models` array,
deterministic replies, failure modes, admin endpoints and the `supportbot openrouter-sim` CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from supportbot.llm.simulator import FaultRule, Latency, reply_text
from supportbot.llm.simulator.cli import build_parser, build_state
from supportbot.llm.simulator.faults import SpecError
from supportbot.llm.simulator.testing import RunningSimulator
from supportbot_dev import procs

AUTH = {"Authorization": "Bearer sk-or-v1-test"}
MSGS = [{"role": "user", "content": "hello sim"}]


async def chat(
    sim: RunningSimulator, headers: dict[str, str] | None = None, **body: object
) -> httpx.Response:
    payload = {"messages": MSGS, **body}
    return await sim.admin.post(
        "/api/v1/chat/completions", json=payload, headers=AUTH if headers is None else headers
    )


async def test_completion_shape_and_determinism(sim: RunningSimulator) -> None:
    first = await chat(sim, model="openai/gpt-4o-mini")
    second = await chat(sim, model="openai/gpt-4o-mini")
    assert first.status_code == 200
    data = first.json()
    assert data["object"] == "chat.completion" and data["model"] == "openai/gpt-4o-mini"
    assert data["choices"][0]["message"]["content"] == reply_text("openai/gpt-4o-mini", MSGS)
    assert (
        data["choices"][0]["message"]["content"]
        == second.json()["choices"][0]["message"]["content"]
    )
    assert data["choices"][0]["finish_reason"] == "stop"
    usage = data["usage"]
    assert set(usage) >= {"prompt_tokens", "completion_tokens", "total_tokens", "cost", "is_byok"}
    assert first.headers["x-generation-id"] == data["id"]


async def test_auth_is_checked(sim: RunningSimulator) -> None:
    assert (await chat(sim, headers={}, model="x")).status_code == 401
    assert (
        await chat(sim, headers={"Authorization": "Bearer wrong"}, model="x")
    ).status_code == 401
    response = await chat(sim, headers={"Authorization": "Basic abc"}, model="x")
    assert response.json()["error"]["code"] == 401


async def test_request_validation(sim: RunningSimulator) -> None:
    too_many = await chat(sim, models=["a/1", "a/2", "a/3", "a/4"])
    assert too_many.status_code == 400
    assert too_many.json()["error"]["message"] == "'models' array must have 3 items or fewer"
    assert (await chat(sim, model="a/1", stream=True)).status_code == 400
    assert (await chat(sim, model="a/1", messages=[])).status_code == 400
    assert (await chat(sim)).status_code == 400


async def test_models_array_falls_back_and_last_error_wins(sim: RunningSimulator) -> None:
    await sim.add_fault("bad_gateway", model="a/1")
    ok = await chat(sim, model="a/1", models=["a/1", "a/2"])
    assert ok.status_code == 200 and ok.json()["model"] == "a/2"
    await sim.add_fault("rate_limit", model="a/2", retry_after=4)
    failed = await chat(sim, models=["a/1", "a/2"])
    assert failed.status_code == 429 and failed.headers["retry-after"] == "4"
    recorded = (await sim.requests())[-1]
    assert [t["outcome"] for t in recorded["tried"]] == ["bad_gateway", "rate_limit"]


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        ("payment", 402),
        ("bad_gateway", 502),
        ("unavailable", 503),
        ("server_error", 500),
        ("bad_request", 400),
        ("error_in_200", 200),
        ("finish_error", 200),
        ("empty", 200),
    ],
)
async def test_fault_modes(sim: RunningSimulator, mode: str, status: int) -> None:
    await sim.add_fault(mode, count=1)
    response = await chat(sim, model="a/1")
    assert response.status_code == status
    if mode == "error_in_200":
        assert response.json()["error"]["code"] == 502
    elif mode == "finish_error":
        assert response.json()["choices"][0]["finish_reason"] == "error"
    elif mode == "empty":
        assert response.json()["choices"][0]["message"]["content"] is None
    else:
        assert response.json()["error"]["code"] == status
    assert (await chat(sim, model="a/1")).status_code == 200, "count=1 fault is used up"


async def test_admin_endpoints(sim: RunningSimulator) -> None:
    rule = await sim.add_fault("unavailable", model="a/1", retry_after=2)
    faults = (await sim.admin.get("/_sim/faults")).json()["faults"]
    assert [f["id"] for f in faults] == [rule["id"]]
    assert (await sim.admin.post("/_sim/faults", json={"mode": "explode"})).status_code == 400
    assert (await sim.admin.post("/_sim/faults", json={"mode": "hang", "x": 1})).status_code == 400
    assert (await sim.admin.delete(f"/_sim/faults/{rule['id']}")).status_code == 200
    assert (await sim.admin.delete(f"/_sim/faults/{rule['id']}")).status_code == 404
    await sim.set_latency("uniform:0:0.01", **{"a/1": "fixed:0"})
    latency = (await sim.admin.get("/_sim/latency")).json()
    assert latency == {"default": "uniform:0:0.01", "models": {"a/1": "fixed:0"}}
    assert (await sim.admin.put("/_sim/latency", json={"default": "zipf:1"})).status_code == 400
    await chat(sim, model="a/1")
    assert len(await sim.requests()) == 1 and await sim.requests(model="zzz") == []
    assert (await sim.admin.post("/_sim/reset")).status_code == 200
    assert await sim.requests() == []
    assert (await sim.admin.get("/_sim/latency")).json()["default"] == "fixed:0"


async def test_models_endpoint(sim: RunningSimulator) -> None:
    data = (await sim.admin.get("/api/v1/models")).json()["data"]
    ids = [m["id"] for m in data]
    assert "openai/gpt-4o-mini" in ids and float(data[0]["pricing"]["prompt"]) > 0


def test_latency_and_fault_specs() -> None:
    import random

    rng = random.Random(1)
    assert Latency.parse("fixed:0").sample(rng) == 0
    assert 2 <= Latency.parse("uniform:2:10").sample(rng) <= 10
    assert Latency.parse("normal:1:5").sample(rng) >= 0
    for bad in ("uniform:5:1", "fixed", "fixed:-1", "gauss:1:2", "uniform:a:b"):
        with pytest.raises(SpecError):
            Latency.parse(bad)
    rule = FaultRule.parse("mode=rate_limit,model=a/1,count=2,retry_after=3")
    assert (rule.mode, rule.model, rule.count, rule.retry_after) == ("rate_limit", "a/1", 2, 3.0)
    with pytest.raises(SpecError):
        FaultRule.parse("mode=nope")
    args = build_parser().parse_args(
        [
            "--latency",
            "uniform:2:10",
            "--model-latency",
            "a/1=fixed:0",
            "--fault",
            "mode=hang",
            "--model",
            "x/new",
            "--api-key",
            "k",
        ]
    )
    state = build_state(args)
    assert str(state.latency) == "uniform:2:10" and str(state.model_latency["a/1"]) == "fixed:0"
    assert state.faults[0].mode == "hang" and "x/new" in state.catalogue and state.api_key == "k"


def test_cli_serves_over_http(tmp_path: Path) -> None:
    port = procs.free_port()
    argv = [
        sys.executable,
        "-m",
        "supportbot.cli",
        "openrouter-sim",
        "--port",
        str(port),
        "--api-key",
        "k",
        "--fault",
        "mode=unavailable,model=a/1,count=1",
        "--log-level",
        "warning",
    ]
    proc = procs.start(argv, tmp_path / "sim.log")
    try:
        procs.wait_until(
            lambda: procs.port_open(port), 30, "openrouter-sim", proc, tmp_path / "sim.log"
        )
        url = f"http://127.0.0.1:{port}"
        body = {"model": "a/1", "messages": MSGS}
        headers = {"Authorization": "Bearer k"}
        first = httpx.post(f"{url}/api/v1/chat/completions", json=body, headers=headers)
        second = httpx.post(f"{url}/api/v1/chat/completions", json=body, headers=headers)
        assert (first.status_code, second.status_code) == (503, 200)
        assert httpx.get(f"{url}/healthz").json() == {"ok": True}
    finally:
        procs.stop(proc)
