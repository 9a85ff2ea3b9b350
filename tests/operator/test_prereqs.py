"""What a tenant's autoscaling mode needs from the cluster (`prereqs`): the pure check, and the
cached discovery probe against a fake API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from supportbot_operator import prereqs, spec
from supportbot_operator.errors import KubeApiError
from supportbot_operator.kube import KubeApi

Body = dict[str, Any]
ALL = prereqs.Capabilities(keda=True, external_metrics="")


def _bot(
    make_body: Callable[..., Body], metric: str = "QueueDepth", **keda: Any
) -> spec.SupportBot:
    scaling: dict[str, Any] = {"metric": metric}
    if metric != "CPU":
        scaling |= {"targetAverageValue": 10, "keda": keda}
    return spec.parse(make_body(worker={"autoscaling": scaling}))


def _secret_with(*keys: str) -> Callable[[str], dict[str, str] | None]:
    return lambda name: dict.fromkeys(keys, "digest")


def test_cpu_and_in_flight_turns_need_nothing_from_keda(make_body: Callable[..., Body]) -> None:
    none = prereqs.Capabilities(keda=False, external_metrics="not registered")
    for metric in ("CPU", "InFlightTurns"):
        bot = _bot(make_body, metric)
        assert not prereqs.uses_prerequisites(bot)
        assert prereqs.check(bot, none, _secret_with()) == []


def test_queue_depth_without_keda_says_how_to_fix_it(make_body: Callable[..., Body]) -> None:
    caps = prereqs.Capabilities(keda=False, external_metrics="")
    (problem,) = prereqs.check(_bot(make_body), caps, _secret_with("redis-address"))
    assert problem.reason == "KEDANotInstalled"
    assert "Install KEDA" in problem.message and "metric CPU" in problem.message


def test_queue_depth_with_keda_but_no_metrics_api(make_body: Callable[..., Body]) -> None:
    caps = prereqs.Capabilities(keda=True, external_metrics="HTTP 503")
    (problem,) = prereqs.check(_bot(make_body), caps, _secret_with("redis-address"))
    assert problem.reason == "ExternalMetricsUnavailable"
    assert "HTTP 503" in problem.message


def test_queue_depth_secret_keys_must_exist(make_body: Callable[..., Body]) -> None:
    bot = _bot(make_body, redisPasswordKey="redis-password")
    assert prereqs.check(bot, ALL, _secret_with("redis-address", "redis-password")) == []
    problems = prereqs.check(bot, ALL, _secret_with("redis-url"))
    assert [p.reason for p in problems] == ["SecretKeyNotFound", "SecretKeyNotFound"]
    assert "'redis-address'" in problems[0].message and "'redis-password'" in problems[1].message
    # A missing Secret is already reported by the input checks (SecretNotFound): not twice.
    assert prereqs.check(bot, ALL, lambda name: None) == []


class _FakeApi(KubeApi):
    def __init__(self, answers: dict[str, Any]) -> None:
        super().__init__(timeout=1)
        self.answers = answers
        self.calls: list[str] = []

    async def get(self, path: str) -> dict[str, Any] | None:
        self.calls.append(path)
        answer = self.answers.get(path)
        if isinstance(answer, KubeApiError):
            raise answer
        result: dict[str, Any] | None = answer
        return result


KEDA_DISCOVERY = {"resources": [{"kind": "ScaledObject"}, {"kind": "TriggerAuthentication"}]}


def test_probe_reads_discovery_and_caches_it() -> None:
    now = [0.0]
    api = _FakeApi({prereqs.KEDA_API: KEDA_DISCOVERY, prereqs.EXTERNAL_METRICS_API: {}})
    probe = prereqs.CapabilityProbe(api, clock=lambda: now[0])
    assert asyncio.run(probe.get()) == ALL
    assert asyncio.run(probe.get()) == ALL
    assert len(api.calls) == 2  # cached
    now[0] = prereqs.TTL_SECONDS + 1
    api.answers = {
        prereqs.KEDA_API: None,
        prereqs.EXTERNAL_METRICS_API: KubeApiError(503, "service unavailable"),
    }
    caps = asyncio.run(probe.get())
    assert not caps.keda and "HTTP 503" in caps.external_metrics


def test_probe_reports_an_unregistered_metrics_api_and_propagates_other_errors() -> None:
    api = _FakeApi({prereqs.KEDA_API: KEDA_DISCOVERY, prereqs.EXTERNAL_METRICS_API: None})
    caps = asyncio.run(prereqs.CapabilityProbe(api).get())
    assert caps.keda and "no APIService" in caps.external_metrics
    api = _FakeApi(
        {prereqs.KEDA_API: KEDA_DISCOVERY, prereqs.EXTERNAL_METRICS_API: KubeApiError(403, "no")}
    )
    with pytest.raises(KubeApiError):
        asyncio.run(prereqs.CapabilityProbe(api).get())
