"""The keyed, delaying, de-duplicating work queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from supportbot_operator.workqueue import WorkQueue


async def _until(check: Callable[[], bool], what: str, within: float = 2.0) -> None:
    """Yield to the loop until `check()` holds; fail naming `what` after `within` s."""
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.001)


async def test_duplicates_collapse_and_order_follows_due_time() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("b", 0.05)
    q.add("a")
    q.add("a")
    q.add("b", 0.0)  # an earlier schedule wins
    assert len(q) == 2
    first = await q.get()
    q.done(first)
    second = await q.get()
    q.done(second)
    assert {first, second} == {"a", "b"}
    assert len(q) == 0


async def test_delay_is_honoured() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("later", 0.2)
    got = asyncio.create_task(q.get())
    await asyncio.sleep(0.05)
    assert not got.done()
    assert await asyncio.wait_for(got, 2) == "later"


async def test_key_in_progress_is_not_handed_out_twice_but_runs_again_after() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("k")
    key = await q.get()
    q.add("k")  # changed while being processed
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0.05)
    assert not waiter.done(), "a key must not be processed by two workers"
    q.done(key)
    assert await asyncio.wait_for(waiter, 1) == "k"


async def test_many_workers_share_the_keys() -> None:
    q: WorkQueue[int] = WorkQueue()
    seen: list[int] = []

    async def worker() -> None:
        while True:
            key = await q.get()
            seen.append(key)
            await asyncio.sleep(0)
            q.done(key)

    tasks = [asyncio.create_task(worker()) for _ in range(4)]
    for i in range(50):
        q.add(i)
    for _ in range(100):
        if len(seen) == 50:
            break
        await asyncio.sleep(0.01)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert sorted(seen) == list(range(50))


async def test_an_earlier_key_is_not_stuck_behind_the_sleeping_timer() -> None:
    q: WorkQueue[str] = WorkQueue()
    got: list[str] = []

    async def worker() -> None:
        while True:
            key = await q.get()
            got.append(key)
            q.done(key)

    q.add("late", 0.6)
    tasks = [asyncio.create_task(worker()) for _ in range(3)]
    # one worker (the timer) now sleeps until "late" is due, two are idle
    await _until(lambda: q._timer is not None and len(q._idle) == 2, "timer and two idle")
    q.add("soon", 0.05)
    q.add("now")
    for _ in range(200):
        if len(got) == 3:
            break
        await asyncio.sleep(0.01)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert got == ["now", "soon", "late"]


async def test_idle_workers_are_woken_one_at_a_time() -> None:
    q: WorkQueue[int] = WorkQueue()
    woken: list[int] = []

    async def worker(i: int) -> None:
        while True:
            key = await q.get()
            woken.append(i)
            await asyncio.sleep(0.05)  # busy: the next key must go to another worker
            q.done(key)

    tasks = [asyncio.create_task(worker(i)) for i in range(5)]
    await _until(lambda: len(q._idle) == 5, "five idle workers")
    q.add(1)
    q.add(2)
    for _ in range(100):
        if len(woken) == 2:
            break
        await asyncio.sleep(0.005)
    assert len(woken) == 2 and woken[0] != woken[1], "two keys, two different workers"
    assert len(q._idle) <= 3, "only as many wake-ups as keys"
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
