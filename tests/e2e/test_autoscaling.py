"""Queue-depth autoscaling, for real: KEDA (built from the Go module proxy) on the local control
plane scales a QueueDepth tenant's worker on its backlog of unanswered conversations; the
local kubelet runs the extra worker pods as processes, which drain the backlog in parallel; the
replicas come back down after the stabilization window; every message is answered once."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from supportbot_dev.autoscale import ScaleRun, Settings, ascii_plot
from supportbot_dev.stack import Stack, running

pytestmark = [pytest.mark.fullcluster, pytest.mark.slow]

TENANT = "globex"
BURST = 40
SETTINGS = Settings(
    min_replicas=1,
    max_replicas=4,
    target=5,
    concurrency=1,
    polling_seconds=2,
    stabilization_seconds=20,
)


@pytest.fixture(scope="module")
def scaled(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with running(
        lambda: request.session.testsfailed > 0,
        namespace="autoscale",
        llm_latency="fixed:0.2",
        keda=True,
        pods_per_replicaset=SETTINGS.max_replicas,
        examples=("02-globex-telecom",),
        # Each turn sends two messages; ~0.5 s a send makes one worker process (concurrency 1)
        # answer about one conversation a second, so the burst outlasts a single worker.
        msg91_latency_ms="400:600",
    ) as s:
        yield s


@pytest.mark.timeout(900)
def test_a_burst_scales_the_worker_up_and_back_down(scaled: Stack) -> None:
    run = ScaleRun(scaled, TENANT)
    run.configure(SETTINGS)
    # What one new conversation is answered with (the flow's greeting and topic list).
    reference = "919700000000"
    run.emit(reference, "hi")
    expected = run.wait_stable_replies(reference)

    run.stop_worker()
    phones = [f"9197{i:08d}" for i in range(1, BURST + 1)]
    run.burst(phones, "hi")
    # The backlog is real while no worker runs: every conversation is waiting.
    assert run.backlog() == BURST
    run.start_worker()
    samples = run.watch(
        phones,
        expected,
        floor=SETTINGS.min_replicas,
        timeout=600,
        on_sample=lambda s: print(f"[scale] {asdict(s)}", file=sys.stderr),
    )
    plot = ascii_plot(samples, BURST)
    print("\n" + plot, file=sys.stderr)
    out = os.environ.get("SUPPORTBOT_AUTOSCALE_TIMELINE")
    if out:
        Path(out).write_text(json.dumps([asdict(s) for s in samples]) + "\n" + plot + "\n")

    assert max(s.replicas for s in samples) > SETTINGS.min_replicas, plot
    assert max(s.workers for s in samples) > 1, "extra worker processes ran in parallel\n" + plot
    assert samples[-1].replicas == SETTINGS.min_replicas, plot
    assert samples[-1].answered == BURST and samples[-1].backlog == 0, plot
    # Exactly once: every customer got exactly the reference answer, nothing twice.
    replies = run.replies()
    assert all(replies.get(p) == expected for p in phones)
    assert run.duplicates(phones) == {}
