"""The pluggable turn handler: `--handler module:factory` picks it at worker start.

A factory is called once per worker process with the settings and the worker's async Redis
client and returns an async context manager yielding the `TurnHandler`; resources it opens
(database pools, HTTP clients) live for the context and are closed on shutdown:

    @asynccontextmanager
    async def engine_handler(settings, redis) -> AsyncIterator[TurnHandler]:
        async with open_pool(settings.database_url) as pool:
            yield ConversationEngine(settings, redis, pool)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import redis.asyncio as aioredis

from supportbot.messages import TurnHandler
from supportbot.settings import BotSettings

HandlerFactory = Callable[[BotSettings, aioredis.Redis], AbstractAsyncContextManager[TurnHandler]]
DEFAULT_HANDLER = "supportbot.engine.runtime:engine_handler"
ECHO_HANDLER = "supportbot.queueing.echo:echo_handler"


class HandlerSpecError(ValueError):
    """`--handler` does not name an importable `module:factory`."""


def load_factory(spec: str) -> HandlerFactory:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise HandlerSpecError(f"handler {spec!r} must look like 'package.module:factory'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerSpecError(f"cannot import handler module {module_name!r}: {exc}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise HandlerSpecError(f"{module_name!r} has no callable {attr!r}")
    return factory  # type: ignore[no-any-return]
