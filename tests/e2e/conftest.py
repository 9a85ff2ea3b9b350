"""The whole system, once per session: see supportbot_dev.stack."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest

from supportbot_dev.stack import Stack


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    t0 = time.monotonic()
    s = Stack(
        namespace="e2e",
        llm_latency="fixed:0.2",
        log=lambda m: print(f"[stack {time.monotonic() - t0:6.1f}s] {m}", file=sys.stderr),
    )
    s.start()
    try:
        yield s
    finally:
        s.stop(keep_workdir=request.session.testsfailed > 0 or None)
