"""A keyed, delaying, de-duplicating work queue (the controller-runtime pattern) on asyncio.

Every trigger (the SupportBot itself, a child, a referenced Secret/ConfigMap, the resync timer)
only `add`s the tenant's key; workers `get` keys, reconcile, then `done` them. A key is never
processed by two workers at once; adding a key that is being processed re-queues it after.

Idle workers are woken one at a time, and only one of them (the timer) sleeps until the next
delayed key is due: with many workers and thousands of debounced adds, waking every worker on
every add cost more CPU than the reconciles themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


def _resolve(fut: asyncio.Future[None] | None) -> bool:
    if fut is None or fut.done():
        return False
    fut.set_result(None)
    return True


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._processing: set[K] = set()
        self._again: dict[K, float] = {}
        self._seq = itertools.count()
        self._idle: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.Future[None] | None = None
        self._timer_due = 0.0

    def __len__(self) -> int:
        return len(self._due) + len(self._again)

    def add(self, key: K, delay: float = 0.0) -> None:
        """Schedule `key` in `delay` seconds (earlier schedules win)."""
        now = asyncio.get_running_loop().time()
        due = now + max(delay, 0.0)
        if key in self._processing:
            self._again[key] = min(due, self._again.get(key, due))
            return
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._seq), key))
        self._notify(due, now)

    def _notify(self, due: float, now: float) -> None:
        """Make sure some worker will pick up a key due at `due`."""
        timer_armed = self._timer is not None and not self._timer.done()
        if timer_armed and due < self._timer_due:
            _resolve(self._timer)  # re-arm for the earlier key (or take it now)
        elif timer_armed and due > now:
            return  # the timer wakes up first and hands over
        elif not self._wake_idle():
            _resolve(self._timer)

    def _wake_idle(self) -> bool:
        while self._idle:
            if _resolve(self._idle.popleft()):
                return True
        return False

    def _head(self) -> float | None:
        """Due time of the earliest live entry (superseded schedules are dropped)."""
        while self._heap:
            due, _, key = self._heap[0]
            if self._due.get(key) == due:
                return due
            heapq.heappop(self._heap)
        return None

    def _pop_due(self, now: float) -> tuple[K | None, float | None]:
        due = self._head()
        if due is None:
            return None, None
        if due > now:
            return None, due - now
        _, _, key = heapq.heappop(self._heap)
        del self._due[key]
        self._processing.add(key)
        return key, None

    async def get(self) -> K:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            key, wait = self._pop_due(now)
            if key is not None:
                head = self._head()
                if head is not None:
                    self._notify(head, now)  # hand the next key to another worker
                return key
            fut: asyncio.Future[None] = loop.create_future()
            timeout = None
            if wait is not None and (self._timer is None or self._timer.done()):
                self._timer, self._timer_due, timeout = fut, now + wait, wait
            else:
                self._idle.append(fut)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(fut, timeout)
            finally:
                if self._timer is fut:
                    self._timer = None
                if not fut.done():
                    fut.cancel()

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._again:
            due = self._again.pop(key)
            self.add(key, due - asyncio.get_running_loop().time())
