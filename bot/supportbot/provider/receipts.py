"""Read receipt + typing indicator when a turn starts, best effort (Meta only: a capability).

`meta.readplan.read_plan` decides (pure): the turn's newest message with a real wamid, and only
when a reply will follow (never for a human-owned conversation, a throttled turn...). `start`
fires the call as a background task and returns it, so the turn goes on (flow, LLM) while it
runs. Before the replies go out the caller `settle`s it: a receipt still in flight gets at most
`SETTLE_GRACE_SECONDS` more (so it does not land after the reply, which would show "typing" for
25 s with nothing coming), then is cancelled. A failing read receipt never fails the turn and
never delays it (it has finished); a slow one delays the first reply by at most the grace.
Failures are logged without ids or numbers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from supportbot.messages import InboundMessage
from supportbot.meta.readplan import read_plan
from supportbot.provider.interface import Provider

log = logging.getLogger(__name__)

RECEIPT_TIMEOUT_SECONDS = 5.0
SETTLE_GRACE_SECONDS = 0.5


class ReadReceipts:
    def __init__(
        self,
        provider: Provider,
        *,
        timeout: float = RECEIPT_TIMEOUT_SECONDS,
        grace: float = SETTLE_GRACE_SECONDS,
    ) -> None:
        self.provider = provider
        self.timeout = timeout
        self.grace = grace

    def start(
        self, messages: Sequence[InboundMessage], *, reply_will_follow: bool
    ) -> asyncio.Task[None] | None:
        """The read receipt's task for a turn of `messages`, or None when none is due."""
        capabilities = self.provider.capabilities
        if not capabilities.mark_read:
            return None
        plan = read_plan(messages, reply_will_follow=reply_will_follow)
        if plan is None:
            return None
        typing = plan.typing and capabilities.typing
        return asyncio.create_task(self._send(plan.message_id, typing), name="read-receipt")

    async def _send(self, message_id: str, typing: bool) -> None:
        try:
            await asyncio.wait_for(self.provider.mark_read(message_id, typing=typing), self.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # best effort: never the turn's failure
            log.info("read receipt not sent", extra={"error": type(exc).__name__})

    async def settle(self, task: asyncio.Task[None]) -> None:
        """Before the replies go out: give a read receipt in flight `grace` seconds, then drop
        it."""
        if not task.done():
            await asyncio.wait({task}, timeout=self.grace)
        if not task.done():
            task.cancel()
