"""Fixtures of the provider-parametrised tests: every test runs once against MSG91 (a real
``supportbot msg91-sim`` process) and once against Meta (a real ``supportbot meta-sim`` process),
with real Redis, PostgreSQL, the OpenRouter simulator, the webhook served over HTTP and a worker
running the engine from its handler factory.

`Sim` hides what differs between the two simulators behind one small surface (route the
simulator's webhooks to the bot, emit an inbound message or a status, read the accepted sends as
``(kind, text)``), so each test states the behaviour once for both providers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from supportbot.engine.conversation import ConversationEngine
from supportbot.engine.runtime import engine_handler
from supportbot.engine.testing import (
    CUSTOMER,
    NUMBER,
    WEBHOOK_SECRET,
    serve,
    settings_env,
    write_flow,
)
from supportbot.llm.simulator.testing import RunningSimulator as LLMSim
from supportbot.meta.simulator.driver import MetaSimulatorClient
from supportbot.meta.simulator.process import (
    RunningSimulator as MetaRunning,
    start_simulator as start_meta,
)
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import RunningSimulator as Msg91Running
from supportbot.provider.backoff import RetryPolicy
from supportbot.queueing.testing import background_worker
from supportbot.settings import BotSettings, load_settings
from supportbot.webhook.app import META_PATH, create_app as webhook_app

PHONE_NUMBER_ID = "106540352242922"
META_TOKEN = "provider-test-token"
APP_SECRET = "provider-test-app-secret"
VERIFY_TOKEN = "provider-test-verify-token"
FAST_RETRIES = RetryPolicy(max_attempts=2, base_delay=0.01)

Reply = tuple[str, str | None]
"""(kind, text) of one accepted send: text / buttons / list (body text), template (name), media
(its kind, caption)."""


def _msg91_reply(body: dict[str, Any]) -> Reply:
    content = body.get("content_type")
    if content == "text":
        return "text", body.get("text")
    if content == "interactive":
        inner = body["interactive"]
        return ("buttons" if inner["type"] == "button" else "list"), inner["body"]["text"]
    if content == "template":
        return "template", body["payload"]["template"]["name"]
    media = body.get("payload", {}).get(str(content), {})
    return str(content), media.get("caption")


def _meta_reply(body: dict[str, Any]) -> Reply:
    kind = body.get("type")
    if kind == "text":
        return "text", body["text"]["body"]
    if kind == "interactive":
        inner = body["interactive"]
        return ("buttons" if inner["type"] == "button" else "list"), inner["body"]["text"]
    if kind == "template":
        return "template", body["template"]["name"]
    return str(kind), body.get(str(kind), {}).get("caption")


@dataclass
class Sim:
    """One simulator, seen the same way for both providers."""

    name: str
    msg91: SimulatorClient | None = None
    meta: MetaSimulatorClient | None = None

    async def connect(self, bot_url: str) -> None:
        """Send the simulator's webhooks (messages, statuses) to the bot at `bot_url`."""
        if self.msg91 is not None:
            await self.msg91.route(NUMBER, bot_url=bot_url, secret=WEBHOOK_SECRET)
        else:
            assert self.meta is not None
            await self.meta.configure(webhook_url=bot_url + META_PATH)

    async def final_status(self, status: str) -> None:
        """The status every accepted send reaches on its own (``none``: no reports)."""
        if self.msg91 is not None:
            await self.msg91.configure(dlr_final=status)
        else:
            assert self.meta is not None
            await self.meta.configure(status_final=status)

    async def say(
        self, text: str | None = None, *, reply_id: str | None = None, duplicates: int = 0
    ) -> str:
        """Emit a customer message (a tapped button with `reply_id`); its message id."""
        fields: dict[str, Any] = {"name": "Asha", "duplicates": duplicates}
        if reply_id is not None:
            fields.update(type="button_reply", reply_id=reply_id)
        if self.msg91 is not None:
            sent = await self.msg91.send_inbound(CUSTOMER, text, **fields)
        else:
            assert self.meta is not None
            sent = await self.meta.send_inbound(CUSTOMER, text, **fields)
        return str(sent["message_id"])

    async def status(self, message_id: str, state: str, code: str | None = None) -> None:
        """Report a status of an accepted send (``failed`` with `code`: an asynchronous
        failure, e.g. 131047 outside the 24 h window)."""
        if self.msg91 is not None:
            await self.msg91.send_status(message_id, state, error_code=code)
        else:
            assert self.meta is not None
            await self.meta.send_status(
                message_id, state, error_code=None if code is None else int(code)
            )

    async def sent_ids(self) -> list[str]:
        """The provider id of each accepted send (what statuses name), oldest first."""
        if self.msg91 is not None:
            return [m["message_ids"][0] for m in await self.sends()]
        return [m["message_id"] for m in await self.sends()]

    async def sends(self) -> list[dict[str, Any]]:
        """The accepted sends to the customer, oldest first, with their provider ids."""
        if self.msg91 is not None:
            return await self.msg91.accepted(CUSTOMER)
        assert self.meta is not None
        return await self.meta.accepted(CUSTOMER)

    async def replies(self) -> list[Reply]:
        convert = _msg91_reply if self.msg91 is not None else _meta_reply
        return [convert(m["body"]) for m in await self.sends()]

    async def wait_for_replies(self, count: int, wait: float = 30.0) -> list[Reply]:
        if self.msg91 is not None:
            await self.msg91.wait_for_messages(count, to=CUSTOMER, wait=wait)
        else:
            assert self.meta is not None
            await self.meta.wait_for_messages(count, to=CUSTOMER, endpoint="message", wait=wait)
        return await self.replies()

    async def receipts(self) -> list[dict[str, Any]]:
        """Read receipts the bot sent (Meta only; MSG91 has none: always empty)."""
        if self.meta is None:
            return []
        return await self.meta.receipts(CUSTOMER)


@pytest.fixture(scope="session")
def meta_server() -> Iterator[MetaRunning]:
    args = ["--phone-number", f"{PHONE_NUMBER_ID}={NUMBER}", "--access-token", META_TOKEN]
    args += ["--app-secret", APP_SECRET, "--verify-token", VERIFY_TOKEN]
    args += ["--status-final", "none", "--status-delay-ms", "5", "--window", "status"]
    with start_meta(args) as sim:
        yield sim


@pytest.fixture(params=["msg91", "meta"])
def provider(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def sim(
    provider: str, msg91_server: Msg91Running, meta_server: MetaRunning
) -> AsyncIterator[Sim]:
    if provider == "msg91":
        async with SimulatorClient(msg91_server.url) as msg91:
            await msg91.reset()
            yield Sim("msg91", msg91=msg91)
            await msg91.reset()
    else:
        async with MetaSimulatorClient(meta_server.url) as meta:
            await meta.reset()
            yield Sim("meta", meta=meta)
            await meta.reset()


MakeSettings = Callable[..., BotSettings]


@pytest.fixture
def make_settings(
    tmp_path: Path,
    redis_url: str,
    migrated_url: str,
    provider: str,
    msg91_server: Msg91Running,
    meta_server: MetaRunning,
    llm_sim: LLMSim,
) -> MakeSettings:
    flow = write_flow(tmp_path)

    def build(**overrides: object) -> BotSettings:
        if provider == "meta":
            overrides = {
                "provider": "meta",
                "meta_phone_number_id": PHONE_NUMBER_ID,
                "meta_access_token": META_TOKEN,
                "meta_app_secret": APP_SECRET,
                "meta_verify_token": VERIFY_TOKEN,
                "meta_base_url": meta_server.url,
                **overrides,
            }
        env = settings_env(
            redis_url=redis_url,
            database_url=migrated_url,
            flow_path=flow,
            msg91_url=msg91_server.url,
            openrouter_url=llm_sim.base_url,
            coalesce_window_seconds=0.05,
            coalesce_max_wait_seconds=0.3,
            **overrides,
        )
        return load_settings(env)

    return build


@pytest.fixture
def settings(make_settings: MakeSettings) -> BotSettings:
    return make_settings()


@pytest.fixture
async def engine(
    settings: BotSettings, aredis: aioredis.Redis
) -> AsyncIterator[ConversationEngine]:
    async with engine_handler(settings, aredis, retry_policy=FAST_RETRIES) as handler:
        yield handler


RunBot = Callable[[BotSettings], AbstractAsyncContextManager[str]]


@pytest.fixture
def run_bot(aredis: aioredis.Redis, sim: Sim) -> RunBot:
    """The whole bot: the webhook served over HTTP (the simulator posts to it) and a worker
    running the engine from its handler factory."""

    @asynccontextmanager
    async def run(settings: BotSettings) -> AsyncIterator[str]:
        async with (
            serve(webhook_app(settings)) as bot_url,
            engine_handler(settings, aredis, retry_policy=FAST_RETRIES) as engine,
            background_worker(settings, aredis, engine),
        ):
            await sim.connect(bot_url)
            yield bot_url

    return run


async def eventually(check: Callable[[], Any], what: str, wait: float = 20.0) -> None:
    """Poll `check` (an async predicate) until true; fail with `what` after `wait` seconds."""
    import asyncio

    deadline = time.monotonic() + wait
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def until() -> Callable[..., Any]:
    return eventually
