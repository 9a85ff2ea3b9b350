"""A keyed, delaying, de-duplicating work queue (the controller-runtime pattern) on asyncio.

Every trigger (the SupportBot itself, a child, a referenced Secret/ConfigMap, the resync timer)
only `add`s the tenant's key; workers `get` keys, reconcile, then `done` them. A key is never
processed by two workers at once; adding a key that is being processed re-queues it after.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._processing: set[K] = set()
        self._again: dict[K, float] = {}
        self._seq = itertools.count()
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._due) + len(self._again)

    def add(self, key: K, delay: float = 0.0) -> None:
        """Schedule `key` in `delay` seconds (earlier schedules win)."""
        due = asyncio.get_running_loop().time() + max(delay, 0.0)
        if key in self._processing:
            self._again[key] = min(due, self._again.get(key, due))
            return
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._seq), key))
        self._wake.set()

    def _pop_due(self, now: float) -> tuple[K | None, float | None]:
        while self._heap:
            due, _, key = self._heap[0]
            if self._due.get(key) != due:
                heapq.heappop(self._heap)  # superseded by an earlier schedule
                continue
            if due > now:
                return None, due - now
            heapq.heappop(self._heap)
            del self._due[key]
            self._processing.add(key)
            return key, None
        return None, None

    async def get(self) -> K:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            key, wait = self._pop_due(loop.time())
            if key is not None:
                return key
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._again:
            due = self._again.pop(key)
            self.add(key, due - asyncio.get_running_loop().time())
