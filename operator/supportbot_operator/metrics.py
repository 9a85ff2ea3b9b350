"""The operator's Prometheus metrics (kopf has none): reconciles, errors, durations, API writes,
queue depth, tenants by condition and each tenant's conditions. One private registry per
runtime, served over HTTP.

Per-tenant series (``supportbot_operator_tenant_condition``) are computed at scrape time from
the tenants the operator currently holds, so a deleted SupportBot's series disappear with it:
at most one series per (tenant, condition type), never labelled by reason or message."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from supportbot_operator.status import CONDITION_TYPES

TenantConditions = Mapping[tuple[str, str], Mapping[str, str]]


class _Tenants(Collector):
    """supportbot_operator_tenants{condition, status} and
    supportbot_operator_tenant_condition{tenant_namespace, tenant, condition} (1 True, 0 False):
    computed at scrape time."""

    def __init__(self, source: Callable[[], TenantConditions]) -> None:
        self._source = source

    def collect(self) -> Iterator[GaugeMetricFamily]:
        tenants = dict(self._source())  # one C-level copy: reconciles mutate it meanwhile
        per_tenant = GaugeMetricFamily(
            "supportbot_operator_tenant_condition",
            "Each SupportBot's conditions: 1 True, 0 False (Unknown is left out)",
            labels=["tenant_namespace", "tenant", "condition"],
        )
        for (namespace, name), conditions in sorted(tenants.items()):
            for kind, value in sorted(conditions.items()):
                if value in ("True", "False"):
                    per_tenant.add_metric([namespace, name, kind], 1 if value == "True" else 0)
        yield per_tenant
        family = GaugeMetricFamily(
            "supportbot_operator_tenants",
            "SupportBots by condition and status",
            labels=["condition", "status"],
        )
        counts: dict[tuple[str, str], int] = {
            (c, s): 0 for c in CONDITION_TYPES for s in ("True", "False")
        }
        for conditions in tenants.values():
            for kind, value in conditions.items():
                counts[(kind, value)] = counts.get((kind, value), 0) + 1
        for (kind, value), n in sorted(counts.items()):
            family.add_metric([kind, value], n)
        yield family


class Metrics:
    def __init__(self, tenants: Callable[[], TenantConditions]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reconciles = Counter(
            "supportbot_operator_reconciles", "Reconcile passes by result", ["result"], registry=r
        )
        self.errors = Counter(
            "supportbot_operator_reconcile_errors",
            "Failed reconciles by reason",
            ["reason"],
            registry=r,
        )
        self.duration = Histogram(
            "supportbot_operator_reconcile_duration_seconds",
            "Time of one reconcile pass",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.writes = Counter(
            "supportbot_operator_api_writes",
            "API writes by verb and kind (apply, delete, status, event)",
            ["verb", "kind"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "supportbot_operator_queue_depth", "Tenants waiting for a reconcile", registry=r
        )
        self.leader = Gauge(
            "supportbot_operator_leader",
            "1 while this replica reconciles (holds the Lease, or runs without election)",
            registry=r,
        )
        self.rollouts_waiting = Gauge(
            "supportbot_operator_rollouts_waiting",
            "Tenants waiting for a fleet rollout slot (max_rolling_tenants)",
            registry=r,
        )
        r.register(_Tenants(tenants))
        self._server: Any = None

    def serve(self, host: str, port: int) -> None:
        if port:
            self._server, _thread = start_http_server(port, addr=host, registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
