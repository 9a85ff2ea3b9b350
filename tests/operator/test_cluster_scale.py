"""50 tenants reconcile correctly; once converged the operator writes nothing while idle, and a
restarted operator writes nothing to unchanged tenants."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from supportbot_dev.controlplane import Cluster
from supportbot_operator.testing import Kubectl, OperatorProcess, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
TENANTS = 50
ENV = {"SUPPORTBOT_OPERATOR_RESYNC_SECONDS": "3", "SUPPORTBOT_OPERATOR_DEBOUNCE_SECONDS": "0.2"}


def _bots(template: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for i in range(TENANTS):
        bot = copy.deepcopy(template)
        bot["metadata"] = {"name": f"tenant-{i:02d}"}
        bot["spec"]["whatsapp"]["integratedNumber"] = f"9190000000{i:02d}"
        out.append(bot)
    return out


def _converged(k: Kubectl, ns: str) -> bool:
    bots = k.items("supportbots", ns)
    if len(bots) != TENANTS:
        return False
    for bot in bots:
        st = bot.get("status") or {}
        conds = {c["type"]: c["status"] for c in st.get("conditions", [])}
        if conds.get("Degraded") != "False" or not st.get("flowHash"):
            return False
    return len(k.items("deployments", ns)) == 2 * TENANTS


def test_fifty_tenants_then_idle_and_restart_write_nothing(
    api_cluster: Cluster,
    make_namespace: Callable[[str], str],
    example_docs: Callable[[str], list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    ns = make_namespace("scale")
    k = Kubectl(api_cluster.kubectl)
    docs = example_docs("01-acme-retail")
    template = next(d for d in docs if d["kind"] == "SupportBot")
    k.apply(ns, *[d for d in docs if d["kind"] != "SupportBot"], *_bots(template))

    first = OperatorProcess.start(
        kubeconfig=api_cluster.kubeconfig, log_path=tmp_path / "first.log", namespaces=ns, env=ENV
    )
    try:
        wait_for(
            lambda: _converged(k, ns), 180, f"{TENANTS} tenants deployed and not degraded", 1.0
        )
        hpas = {h["metadata"]["name"] for h in k.items("hpa", ns)}
        assert hpas == {
            f"tenant-{i:02d}-{c}" for i in range(TENANTS) for c in ("webhook", "worker")
        }
        numbers = {
            e["value"]
            for d in k.items("deployments", ns, "app.kubernetes.io/component=worker")
            for e in d["spec"]["template"]["spec"]["containers"][0]["env"]
            if e["name"] == "SUPPORTBOT_INTEGRATED_NUMBER"
        }
        assert len(numbers) == TENANTS

        # Idle: let the operator look at every tenant twice more (resync), count its writes.
        wait_for(lambda: first.total("supportbot_operator_queue_depth") == 0, 60, "an empty queue")
        writes = first.writes()
        looked = first.total("supportbot_operator_reconciles_total")
        wait_for(
            lambda: first.total("supportbot_operator_reconciles_total") >= looked + 2 * TENANTS,
            60,
            "two resync passes",
        )
        assert first.writes() == writes, "writes while idle"
    finally:
        first.stop()

    second = OperatorProcess.start(
        kubeconfig=api_cluster.kubeconfig, log_path=tmp_path / "second.log", namespaces=ns, env=ENV
    )
    try:
        wait_for(
            lambda: (
                second.total("supportbot_operator_reconciles_total", result="unchanged") >= TENANTS
            ),
            120,
            "every tenant reconciled after the restart",
        )
        assert second.writes() == 0, second.metrics()
        assert second.total("supportbot_operator_reconcile_errors_total") == 0
    finally:
        second.stop()
