"""The demo's media scripts against the example tenants' real flows (ConfigMaps in examples/), on
the real bot stack (webhook, worker, Redis, PostgreSQL, MSG91 simulator): the customer's photo and
the bot's image, a shared location filling a slot, a voice note answered by `fallback.media`;
each stored with its media reference (agent API)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from supportbot.engine.testing import CUSTOMER, NUMBER, settings_env, write_flow
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim
from supportbot.msg91.simulator.process import RunningSimulator
from supportbot.settings import BotSettings, load_settings
from supportbot.storage import migrations
from supportbot_dev.conversation import Customer
from supportbot_dev.demo import MEDIA_SCRIPTS, SAMPLE_PHOTO, play_step
from supportbot_dev.phone.testing import Stack

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_flow(directory: str) -> str:
    for doc in yaml.safe_load_all((EXAMPLES / directory / "flow.yaml").read_text()):
        if doc and doc.get("kind") == "ConfigMap":
            return str(next(iter(doc["data"].values())))
    raise AssertionError(f"no flow ConfigMap in {directory}")


@pytest.fixture(params=["01-acme-retail", "02-globex-telecom"])
def example(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def settings(
    example: str,
    tmp_path: Path,
    redis_url: str,
    database_url: str,
    msg91_server: RunningSimulator,
    llm_sim: LLMSim,
) -> BotSettings:
    await migrations.migrate(database_url)
    env = settings_env(
        redis_url=redis_url,
        database_url=database_url,
        flow_path=write_flow(tmp_path, example_flow(example)),
        msg91_url=msg91_server.url,
        openrouter_url=llm_sim.base_url,
        coalesce_window_seconds=0.1,
        coalesce_max_wait_seconds=0.5,
        # as the examples' SupportBots allow-list it (globex's in-cluster order service)
        flow_http_allow_hosts="orders.globex.svc.cluster.local:8080",
    )
    return load_settings(env)


async def play(stack: Stack, steps: list[str]) -> Customer:
    customer = Customer(stack.sim.base_url, NUMBER, phone=CUSTOMER, name="Asha")

    def run() -> None:
        for step in steps:
            play_step(customer, step, stack.page_url.rstrip("/"))

    await asyncio.to_thread(run)
    return customer


async def conversation(stack: Stack) -> list[dict[str, Any]]:
    response = await stack.page.get(f"/api/agent/acme/conversations/{CUSTOMER}")
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


async def test_the_demo_media_scripts_on_the_example_flows(stack: Stack, example: str) -> None:
    if example == "01-acme-retail":
        customer = await play(stack, ["hi", *MEDIA_SCRIPTS["acme"]])
        assert customer.transcript[-1].startswith(
            "  bot      > [image https://acme.example/media/return-label.png] Thanks for the photo."
        )
        inbound = [m for m in await conversation(stack) if m["kind"] == "image"]
        photo, label = inbound[0], inbound[-1]
        assert photo["direction"] == "inbound"
        assert photo["media"]["url"] == stack.page_url.rstrip("/") + SAMPLE_PHOTO
        assert photo["media"]["caption"] == "The spout is cracked"
        assert label["direction"] == "outbound"
        assert label["media"]["url"] == "https://acme.example/media/return-label.png"
    else:  # globex
        customer = await play(stack, ["hi", *MEDIA_SCRIPTS["globex"]])
        lines = "\n".join(customer.transcript)
        assert "near 37.7793,-122.4193" in lines  # the shared location filled {{address}}
        assert customer.transcript[-1] == (
            "  bot      > Sorry, I can't listen to voice notes. Please type your question."
        )
        kinds = {m["kind"]: m for m in await conversation(stack) if m["direction"] == "inbound"}
        assert kinds["location"]["location"]["latitude"] == 37.7793
        assert kinds["audio"]["media"]["url"].endswith("/static/samples/voice-note.ogg")
    assert not any("  bot      > {" in line for line in customer.transcript)  # all readable
