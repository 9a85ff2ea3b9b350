"""Fixtures of the queue tests: settings for the test tenant, worker subprocesses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from supportbot.queueing.testing import WorkerProcess, settings_env, spawn_worker
from supportbot.settings import BotSettings, load_settings


@pytest.fixture
def make_settings(redis_url: str) -> Callable[..., BotSettings]:
    def make(**overrides: object) -> BotSettings:
        return load_settings(settings_env(redis_url, **overrides))

    return make


@pytest.fixture
def workers(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `supportbot worker` subprocesses; any still running are killed afterwards."""
    started: list[WorkerProcess] = []

    def spawn(**kwargs: Any) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        proc = spawn_worker(redis_url, log_path, **kwargs)
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait(10)
        tail = proc.log_text()[-4000:]
        print(f"--- worker pid {proc.pid} rc={proc.proc.returncode} log ---\n{tail}")
