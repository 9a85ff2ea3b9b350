"""The whole system, once per session: see supportbot_dev.stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from supportbot_dev.stack import Stack, running


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with running(
        lambda: request.session.testsfailed > 0,
        namespace="e2e",
        llm_latency="fixed:0.2",
    ) as s:
        yield s
