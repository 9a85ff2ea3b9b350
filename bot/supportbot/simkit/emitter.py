"""Webhook emission to the bot, the part the simulators share: one pooled HTTP client, a POST
retried on connection errors and 5xx (``webhook_retries`` more times, 50 ms doubling between
attempts) with every attempt folded into the recorded webhook, background tasks (scheduled
statuses) cancelled on close, and the ``sent -> delivered -> read`` order of statuses.

The payloads, headers (a shared secret, a signature) and URLs are each simulator's own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar

import httpx

from supportbot.simkit.recording import new_wamid

STATUS_ORDER = ["sent", "delivered", "read"]


class EmitError(Exception):
    """The emission request itself is invalid (unknown number or message)."""


class Delivery(Protocol):
    """The recorded webhook POST that `WebhookEmitter.deliver` fills in."""

    attempts: int
    http_status: int | None
    response: str | None
    error: str | None


class InboundRequest(Protocol):
    """What `inbound_identity` reads of a simulator's ``InboundSpec``."""

    @property
    def phone(self) -> str | None: ...

    @property
    def bsuid(self) -> str | None: ...

    @property
    def message_id(self) -> str | None: ...

    @property
    def ts(self) -> float | None: ...


StateT = TypeVar("StateT")
T = TypeVar("T")


def inbound_identity(spec: InboundRequest) -> tuple[str, float]:
    """The wamid and time of a customer message to emit (the spec's, else new and now);
    `EmitError` when it names no customer (neither phone nor BSUID)."""
    if not spec.phone and not spec.bsuid:
        raise EmitError("'from' (phone) or 'bsuid' is required")
    return spec.message_id or new_wamid(), spec.ts if spec.ts is not None else time.time()


async def post_copies(copies: int, post: Callable[[], Awaitable[T]]) -> list[T]:
    """`post()` `copies` times, one after the other (providers deliver at least once: the
    extra copies are duplicates on purpose)."""
    return [await post() for _ in range(copies)]


def status_sequence(*, failed: bool, final: str) -> list[str] | None:
    """The statuses an accepted message goes through: ``failed`` alone for a doomed one, else
    ``sent`` up to `final`; None when `final` is ``none`` (no statuses)."""
    if failed:
        return ["failed"]
    if final == "none":
        return None
    return STATUS_ORDER[: STATUS_ORDER.index(final) + 1]


class WebhookEmitter(Generic[StateT]):
    def __init__(self, state: StateT) -> None:
        self.state = state
        self.http = httpx.AsyncClient(limits=httpx.Limits(max_connections=200))
        self.tasks: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.aclose()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background (cancelled by `aclose`)."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def deliver(
        self,
        rec: Delivery,
        url: str,
        content: bytes,
        headers: dict[str, str],
        *,
        retries: int,
        per_attempt: float,
    ) -> None:
        """POST `content` to `url` (`per_attempt` seconds at most each), again on a connection
        error or 5xx up to `retries` times; the last answer (status, first 500 characters) or
        error lands in `rec`."""
        for attempt in range(retries + 1):
            rec.attempts += 1
            try:
                response = await self.http.post(
                    url, content=content, headers=headers, timeout=per_attempt
                )
            except httpx.HTTPError as exc:
                rec.error = repr(exc)
            else:
                rec.http_status, rec.response = response.status_code, response.text[:500]
                rec.error = None
                if response.status_code < 500:
                    break
            if attempt < retries:
                await asyncio.sleep(0.05 * 2**attempt)
