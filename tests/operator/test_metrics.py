"""The operator's per-tenant condition gauge: one series per (tenant, condition), computed at
scrape time, gone with the tenant (bounded by the SupportBots that exist)."""

from __future__ import annotations

from supportbot_operator.metrics import Metrics


def test_tenant_conditions_follow_the_tenants() -> None:
    tenants: dict[tuple[str, str], dict[str, str]] = {
        ("shop", "acme"): {"Ready": "True", "Degraded": "False", "Paused": "Unknown"},
        ("shop", "globex"): {"Ready": "False", "Degraded": "True"},
    }
    metrics = Metrics(lambda: tenants)
    r = metrics.registry

    def condition(tenant: str, kind: str) -> float | None:
        labels = {"tenant_namespace": "shop", "tenant": tenant, "condition": kind}
        return r.get_sample_value("supportbot_operator_tenant_condition", labels)

    assert condition("acme", "Ready") == 1 and condition("acme", "Degraded") == 0
    assert condition("globex", "Degraded") == 1 and condition("globex", "Ready") == 0
    assert condition("acme", "Paused") is None, "Unknown is not a value"
    tenants_degraded = {"condition": "Degraded", "status": "True"}
    assert r.get_sample_value("supportbot_operator_tenants", tenants_degraded) == 1

    del tenants[("shop", "globex")]
    assert condition("globex", "Degraded") is None, "a deleted tenant's series go with it"
    series = [
        s
        for m in r.collect()
        for s in m.samples
        if s.name == "supportbot_operator_tenant_condition"
    ]
    assert len(series) == 2
