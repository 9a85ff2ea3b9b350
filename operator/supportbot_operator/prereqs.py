"""Does the cluster have what a tenant's autoscaling mode needs?

`QueueDepth` works through KEDA: its CRDs (`keda.sh/v1alpha1` ScaledObject and
TriggerAuthentication) must be served, and its metrics API server must answer
`external.metrics.k8s.io/v1beta1`, or the HPA KEDA creates cannot read the backlog. Both are
read from API discovery (allowed to every authenticated client, so no extra RBAC), at most once
per `TTL_SECONDS` for the whole operator; `check` turns the answer into the problems a tenant's
Autoscaling condition reports (pure).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from supportbot_operator.errors import KubeApiError
from supportbot_operator.inputs import KeyDigests, Problem
from supportbot_operator.kube import KubeApi
from supportbot_operator.spec import SupportBot

TTL_SECONDS = 30.0
KEDA_API = "/apis/keda.sh/v1alpha1"
EXTERNAL_METRICS_API = "/apis/external.metrics.k8s.io/v1beta1"
KEDA_KINDS = frozenset({"ScaledObject", "TriggerAuthentication"})

KEDA_NOT_INSTALLED = "KEDANotInstalled"
EXTERNAL_METRICS_UNAVAILABLE = "ExternalMetricsUnavailable"


@dataclass(frozen=True)
class Capabilities:
    keda: bool
    """KEDA's CRDs are served (ScaledObject and TriggerAuthentication)."""
    external_metrics: str
    """Empty when the external metrics API answers discovery, else why it does not."""


class CapabilityProbe:
    """Cached discovery of the APIs the autoscaling modes need."""

    def __init__(self, api: KubeApi, clock: Callable[[], float] = time.monotonic) -> None:
        self._api = api
        self._clock = clock
        self._cached: tuple[float, Capabilities] | None = None

    async def get(self) -> Capabilities:
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < TTL_SECONDS:
            return self._cached[1]
        found = await self._api.get(KEDA_API)
        kinds = {str(r.get("kind")) for r in (found or {}).get("resources") or []}
        caps = Capabilities(keda=kinds >= KEDA_KINDS, external_metrics=await self._external())
        self._cached = (now, caps)
        return caps

    async def _external(self) -> str:
        try:
            found = await self._api.get(EXTERNAL_METRICS_API)
        except KubeApiError as exc:
            if exc.status < 500:
                raise
            return f"its APIService does not answer (HTTP {exc.status}: {exc.message[:200]})"
        return "" if found is not None else "no APIService serves external.metrics.k8s.io/v1beta1"


def uses_prerequisites(bot: SupportBot) -> bool:
    """Whether the tenant's autoscaling mode needs anything `check` looks for."""
    return bot.spec.worker.autoscaling.metric == "QueueDepth"


def check(
    bot: SupportBot, caps: Capabilities, secret: Callable[[str], KeyDigests | None]
) -> list[Problem]:
    """What keeps this tenant's autoscaling mode from working (empty: nothing). Only QueueDepth
    has prerequisites beyond an HPA; the HPAs report their own metric failures."""
    scaling = bot.spec.worker.autoscaling
    if not uses_prerequisites(bot):
        return []
    if not caps.keda:
        return [
            Problem(
                KEDA_NOT_INSTALLED,
                "worker.autoscaling.metric QueueDepth works through KEDA, and this cluster does "
                "not serve keda.sh/v1alpha1 ScaledObject/TriggerAuthentication (KEDA's CRDs are "
                "not installed): no worker autoscaler is deployed, the worker stays at "
                "minReplicas. Install KEDA (see the README, Autoscaling) or use metric CPU",
            )
        ]
    problems: list[Problem] = []
    if caps.external_metrics:
        problems.append(
            Problem(
                EXTERNAL_METRICS_UNAVAILABLE,
                "KEDA's metrics API server is not serving external.metrics.k8s.io/v1beta1 "
                f"({caps.external_metrics}): the HPA KEDA creates cannot read the backlog",
            )
        )
    ref = bot.spec.storage.redis_url_secret_ref.name
    keys = secret(ref)
    keda = scaling.keda
    wanted = [("redisAddressKey", keda.redis_address_key)]
    if keda.redis_password_key:
        wanted.append(("redisPasswordKey", keda.redis_password_key))
    for field, key in wanted:
        if keys is not None and key not in keys:
            problems.append(
                Problem(
                    "SecretKeyNotFound",
                    f"Secret {ref!r} has no key {key!r} (worker.autoscaling.keda.{field}): "
                    "KEDA cannot reach the tenant's Redis to read the backlog",
                )
            )
    return problems
