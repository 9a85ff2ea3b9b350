"""A queue-depth scale-up on the local platform, shared by the e2e test and `make demo
ARGS=--autoscale`: stop a QueueDepth tenant's worker, post a burst of new conversations, start
it again and record, once a second, the backlog KEDA reads, the worker Deployment's replicas,
the worker processes running and the conversations answered, until the backlog is drained and
the replicas are back at the floor.

"Stopping" uses KEDA's own switch (annotation `autoscaling.keda.sh/paused-replicas: "0"` on the
ScaledObject: KEDA scales the Deployment to 0 and holds it); "starting" removes it, and KEDA +
the HPA it owns take the worker from 0 to as many replicas as the backlog asks for.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import redis

from supportbot.keyspace import active_key
from supportbot.settings import env_var_names
from supportbot_dev.conversation import render
from supportbot_dev.procs import HarnessError, wait_until
from supportbot_dev.stack import Stack

PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"


@dataclass(frozen=True)
class Sample:
    t: float
    """Seconds since the worker was started again."""
    backlog: int
    """Conversations with unanswered messages (what KEDA's scaler reads)."""
    replicas: int
    """The worker Deployment's spec.replicas (what KEDA/the HPA decided)."""
    workers: int
    """Worker processes running (the local kubelet's pods)."""
    answered: int
    """Burst conversations that got their full answer."""


@dataclass(frozen=True)
class Settings:
    min_replicas: int = 1
    max_replicas: int = 4
    target: int = 5
    """Unanswered conversations per worker pod."""
    concurrency: int = 1
    """Turns per worker process: low, so one process cannot drain the burst alone at once."""
    polling_seconds: int = 2
    stabilization_seconds: int = 20


class ScaleRun:
    def __init__(self, stack: Stack, name: str, log: Callable[[str], None] = lambda m: None):
        assert stack.plane is not None and stack.msg91 is not None
        self.stack, self.name, self.log = stack, name, log
        self.plane = stack.plane
        self.tenant = stack.bots[name]
        self.redis = redis.Redis.from_url(self.tenant.values.redis_url)
        self.worker = f"{name}-worker"

    # -- cluster reads -----------------------------------------------------------------------
    def _get(self, kind: str, name: str) -> dict[str, Any]:
        res = self.plane.kubectl(
            "get", kind, name, "-n", self.stack.namespace, "-o", "json", check=False
        )
        return dict(json.loads(res.stdout)) if res.returncode == 0 else {}

    def scaled_object_ready(self) -> bool:
        status = self._get("scaledobject", self.worker).get("status", {})
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        return conds.get("Ready") == "True"

    def replicas(self) -> int:
        return int(self._get("deployment", self.worker).get("spec", {}).get("replicas", 0))

    def workers(self) -> int:
        kubelet = self.stack.kubelet
        if kubelet is None:
            return 0
        with self.stack._lock:
            return sum(
                1
                for pod in kubelet.pods.values()
                if pod.labels.get("app.kubernetes.io/instance") == self.name
                and pod.labels.get("app.kubernetes.io/component") == "worker"
                and pod.alive()
            )

    def backlog(self) -> int:
        return int(self.redis.scard(active_key(self.name)))

    def replies(self) -> dict[str, list[str]]:
        """Rendered replies the simulator accepted, per customer phone, in order."""
        assert self.stack.msg91 is not None
        resp = httpx.get(
            f"{self.stack.msg91.url}/_sim/messages",
            params={"outcome": "accepted", "integrated_number": self.tenant.number},
            timeout=30,
        )
        resp.raise_for_status()
        out: dict[str, list[str]] = {}
        for rec in resp.json()["messages"]:
            for to in rec.get("to") or []:
                out.setdefault(str(to), []).append(render(rec["body"]))
        return out

    def emit(self, phone: str, text: str) -> None:
        assert self.stack.msg91 is not None
        spec = {"integrated_number": self.tenant.number, "from": phone, "text": text}
        resp = httpx.post(f"{self.stack.msg91.url}/_sim/inbound", json=spec, timeout=30)
        resp.raise_for_status()
        deliveries = resp.json().get("deliveries") or [{}]
        if not all(200 <= int(d.get("http_status") or 0) < 300 for d in deliveries):
            raise HarnessError(f"the webhook did not accept {phone}'s message: {deliveries}")

    # -- steps -------------------------------------------------------------------------------
    def configure(self, s: Settings) -> None:
        """The tenant's worker on QueueDepth through KEDA, with test-sized numbers."""
        patch = {
            "spec": {
                "whatsapp": {"sendRateLimitPerMinute": 6000},
                "worker": {
                    "minReplicas": s.min_replicas,
                    "maxReplicas": s.max_replicas,
                    "concurrency": s.concurrency,
                    "autoscaling": {
                        "metric": "QueueDepth",
                        "targetAverageValue": s.target,
                        "keda": {
                            "pollingIntervalSeconds": s.polling_seconds,
                            "scaleDownStabilizationSeconds": s.stabilization_seconds,
                        },
                    },
                },
            }
        }
        self.plane.kubectl(
            "patch",
            "supportbot",
            self.name,
            "-n",
            self.stack.namespace,
            "--type=merge",
            "-p",
            json.dumps(patch),
        )

        def settled() -> bool:
            so = self._get("scaledobject", self.worker).get("spec", {})
            dep = self._get("deployment", self.worker)
            env = {
                e.get("name"): e.get("value")
                for e in dep.get("spec", {})
                .get("template", {})
                .get("spec", {})
                .get("containers", [{}])[0]
                .get("env", [])
            }
            reconciling = self.stack.condition(self.name, "Reconciling") or {}
            return (
                reconciling.get("reason") == "Reconciled"
                and self.stack.routed(self.name)
                and so.get("maxReplicaCount") == s.max_replicas
                and env.get(env_var_names()["worker_concurrency"]) == str(s.concurrency)
                and self.scaled_object_ready()
                and self.replicas() == s.min_replicas
                and self.workers() == s.min_replicas
            )

        wait_until(settled, 180, f"{self.worker} on QueueDepth at {s.min_replicas} replica(s)")

    def stop_worker(self) -> None:
        self._annotate(f"{PAUSED_REPLICAS}=0")
        wait_until(lambda: self.replicas() == 0 and self.workers() == 0, 120, "the worker stopped")

    def start_worker(self) -> None:
        self._annotate(f"{PAUSED_REPLICAS}-")

    def _annotate(self, annotation: str) -> None:
        self.plane.kubectl(
            "annotate", "scaledobject", self.worker, "-n", self.stack.namespace, annotation
        )

    def wait_stable_replies(self, phone: str, timeout: float = 60.0) -> list[str]:
        """The replies to `phone` once none arrived for 2 s."""
        deadline = time.monotonic() + timeout
        last: list[str] = []
        since = time.monotonic()
        while time.monotonic() < deadline:
            got = self.replies().get(phone, [])
            if got != last:
                last, since = got, time.monotonic()
            elif last and time.monotonic() - since >= 2.0:
                return last
            time.sleep(0.25)
        raise HarnessError(f"no stable answer to {phone} within {timeout:.0f} s (got {last})")

    def burst(self, phones: list[str], text: str) -> None:
        for phone in phones:
            self.emit(phone, text)

    def watch(
        self,
        phones: list[str],
        expected: list[str],
        floor: int,
        timeout: float,
        on_sample: Callable[[Sample], None] = lambda s: None,
    ) -> list[Sample]:
        """Sample once a second until every phone got `expected` and replicas are at `floor`."""
        samples: list[Sample] = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.stack.local_keda is not None:
                self.stack.local_keda.check()
            replies = self.replies()
            answered = sum(1 for p in phones if replies.get(p) == expected)
            sample = Sample(
                round(time.monotonic() - t0, 1),
                self.backlog(),
                self.replicas(),
                self.workers(),
                answered,
            )
            samples.append(sample)
            on_sample(sample)
            if answered == len(phones) and sample.backlog == 0 and sample.replicas == floor:
                return samples
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0 - sample.t)))
        raise HarnessError(
            f"scale run did not finish in {timeout:.0f} s; last samples: "
            f"{[asdict(x) for x in samples[-5:]]}"
        )

    def duplicates(self, phones: list[str]) -> dict[str, list[str]]:
        """Per phone, replies received more often than the expected sequence holds them."""
        replies = self.replies()
        out: dict[str, list[str]] = {}
        for phone in phones:
            extra = [text for text, n in Counter(replies.get(phone, [])).items() if n > 1]
            if extra:
                out[phone] = extra
        return out


def ascii_plot(samples: list[Sample], total: int, width: int = 60) -> str:
    """Backlog (#), replicas (R), workers running (W), answered (a) over time, one line a
    sample, scaled to `width` columns for the backlog/answered counts."""
    top = max(total, 1)
    lines = [
        f"{'t(s)':>6} {'backlog':>7} {'repl':>4} {'proc':>4} {'answered':>8}  backlog|answered"
    ]
    for s in samples:
        bar = "#" * round(s.backlog * width / top)
        ans = "a" * round(s.answered * width / top)
        lines.append(
            f"{s.t:6.1f} {s.backlog:7d} {s.replicas:4d} {s.workers:4d} {s.answered:8d}  "
            f"{bar}|{ans} {'R' * s.replicas}"
        )
    return "\n".join(lines)
