"""The one place the provider is chosen: `settings.provider` -> a `Provider` (closed on exit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from supportbot.provider.interface import Provider
from supportbot.provider.meta_provider import MetaProvider
from supportbot.provider.msg91_provider import Msg91Provider
from supportbot.settings import BotSettings


def provider_for(settings: BotSettings) -> Provider:
    if settings.provider == "meta":
        return MetaProvider.from_settings(settings)
    return Msg91Provider.from_settings(settings)


@asynccontextmanager
async def open_provider(settings: BotSettings) -> AsyncIterator[Provider]:
    provider = provider_for(settings)
    try:
        yield provider
    finally:
        await provider.aclose()
