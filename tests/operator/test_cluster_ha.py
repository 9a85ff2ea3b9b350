"""High availability on a real API server: the chart installed with `replicaCount: 2`, two
operator processes run with exactly the election settings the chart's Deployment carries and the
chart ServiceAccount's token (its RBAC, nothing more). One leads and reconciles, the other
stands by; SIGKILL of the leader hands the Lease over within seconds and the standby reconciles
a new SupportBot; SIGTERM releases the Lease; a replica refused the Lease is not ready, then
not alive, and recovers when the grant is back. The Lease grant is least privilege (can-i)."""

from __future__ import annotations

import copy
import json
import os
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from supportbot_dev.controlplane import Cluster
from supportbot_operator import names
from supportbot_operator.testing import (
    Kubectl,
    OperatorProcess,
    token_kubeconfig,
    unique_number,
    wait_for,
)

pytestmark = pytest.mark.cluster
CHART = str(Path(__file__).resolve().parents[2] / "charts" / "supportbot-operator")
LEASE_SECONDS = 4
ELECTION = [
    f"leaderElection.leaseDurationSeconds={LEASE_SECONDS}",
    "leaderElection.renewDeadlineSeconds=3",
    "leaderElection.retryPeriodSeconds=0.5",
]
FAILOVER_BOUND = 20.0
"""Seconds from SIGKILL of the leader to a new SupportBot's children created by the standby:
lease (4 s) + 2.2 retry periods + debounce + one reconcile, with room for a busy 2-core box."""
Docs = Callable[[str], list[dict[str, Any]]]


@dataclass
class HaInstall:
    cluster: Cluster
    k: Kubectl
    system: str
    tenants: str
    release: str
    kubeconfig: Path
    env: dict[str, str]
    """The election settings of the chart's rendered Deployment (as the pods would get them)."""
    tmp: Path

    @property
    def lease(self) -> str:
        return f"{self.release}-supportbot-operator-leader"

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.system}:{self.release}-supportbot-operator"

    def spec(self) -> dict[str, Any]:
        lease = self.k.get("lease", self.lease, self.system) or {}
        spec: dict[str, Any] = lease.get("spec") or {}
        return spec

    def operator(self, identity: str) -> OperatorProcess:
        return OperatorProcess.start(
            kubeconfig=self.kubeconfig,
            log_path=self.tmp / f"{identity}.log",
            namespaces=self.tenants,
            env={
                **self.env,
                "SUPPORTBOT_OPERATOR_LEADER_ELECTION_IDENTITY": identity,
                "SUPPORTBOT_OPERATOR_DEBOUNCE_SECONDS": "0.2",
            },
        )

    def can(self, verb: str, resource: str, namespace: str) -> bool:
        res = self.cluster.kubectl(
            "auth", "can-i", verb, resource, "-n", namespace, f"--as={self.user}", check=False
        )
        return res.stdout.strip() == "yes"


@pytest.fixture
def ha(
    api_cluster: Cluster, make_namespace: Callable[[str], str], tmp_path: Path
) -> Iterator[HaInstall]:
    system, tenants = make_namespace("hasys"), make_namespace("ha")
    release = f"ha{uuid.uuid4().hex[:6]}"
    values = [
        "replicaCount=2",
        "crds.install=false",
        "rbac.aggregateClusterRoles=false",
        "admissionWebhook.enabled=false",  # test_cluster_admission.py covers it
        f"watchNamespaces={{{tenants}}}",
    ]
    api_cluster.helm(
        "install",
        release,
        CHART,
        "-n",
        system,
        *(f"--set={v}" for v in values),
        *(f"--set-json={v}" for v in ELECTION),  # --set would make 0.5 a string
    )
    k = Kubectl(api_cluster.kubectl)
    dep = k.get("deployment", f"{release}-supportbot-operator", system) or {}
    env = {
        e["name"]: e["value"]
        for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]
        if any(w in e["name"] for w in ("LEADER", "LEASE", "RENEW", "RETRY"))
    }
    sa = f"{release}-supportbot-operator"
    token = api_cluster.kubectl("create", "token", sa, "-n", system, "--duration=1h").stdout
    kubeconfig = token_kubeconfig(api_cluster.kubeconfig, token.strip(), tmp_path / "sa.kubecfg")
    yield HaInstall(api_cluster, k, system, tenants, release, kubeconfig, env, tmp_path)
    api_cluster.helm("uninstall", release, "-n", system)


def _probe(op: OperatorProcess, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{op.health_port}{path}", timeout=2) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _failing(op: OperatorProcess, path: str) -> dict[str, Any] | None:
    """The probe's body while it answers 503, else None."""
    status, body = _probe(op, path)
    return body if status == 503 else None


def _leads(op: OperatorProcess) -> bool:
    return op.total("supportbot_operator_leader") == 1


def _bot(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The example's SupportBot under another name and number (same Secrets and flow)."""
    bot = copy.deepcopy(next(d for d in docs if d["kind"] == names.KIND))
    bot["metadata"]["name"] = name
    bot["spec"]["whatsapp"]["integratedNumber"] = unique_number()
    return bot


def _reconciled(ha: HaInstall, name: str) -> bool:
    return ha.k.get("deployment", f"{name}-worker", ha.tenants) is not None


def _kill(op: OperatorProcess) -> None:
    os.killpg(op.proc.pid, signal.SIGKILL)
    op.proc.wait(10)


def test_standby_takes_over_within_seconds_after_the_leader_is_killed(
    ha: HaInstall, example_docs: Docs, record_property: Callable[[str, object], None]
) -> None:
    assert ha.env["SUPPORTBOT_OPERATOR_LEADER_ELECTION_LEASE"] == ha.lease
    assert ha.env["SUPPORTBOT_OPERATOR_LEADER_ELECTION_NAMESPACE"] == ha.system
    a = ha.operator("op-a")
    b: OperatorProcess | None = None
    c: OperatorProcess | None = None
    try:
        wait_for(lambda: _leads(a), 30, "op-a to lead")
        b = ha.operator("op-b")
        wait_for(lambda: ha.spec().get("holderIdentity") == "op-a", 10, "op-a in the Lease")
        spec = ha.spec()
        assert spec["leaseDurationSeconds"] == LEASE_SECONDS
        transitions = spec.get("leaseTransitions", 0)

        docs = example_docs("01-acme-retail")
        ha.k.apply(ha.tenants, *docs)
        wait_for(lambda: _reconciled(ha, "acme"), 30, "the leader to reconcile acme")
        wait_for(lambda: _probe(b, "/readyz")[0] == 200, 10, "the standby to be ready")
        body = _probe(b, "/readyz")[1]
        assert body["leader"] is False and body["holder"] == "op-a", body
        status, body = _probe(a, "/readyz")
        assert status == 200 and body["leader"] is True, body
        assert not _leads(b)
        assert b.writes() == 0, "the standby writes nothing"
        assert b.total("supportbot_operator_reconciles_total") == 0, "and reconciles nothing"

        _kill(a)
        killed = time.monotonic()
        ha.k.apply(ha.tenants, _bot(docs, "acme-after-kill"))
        wait_for(lambda: _reconciled(ha, "acme-after-kill"), FAILOVER_BOUND, "the standby")
        failover = time.monotonic() - killed
        record_property("failover_after_sigkill_seconds", round(failover, 2))
        print(f"failover after SIGKILL: {failover:.2f} s")
        spec = ha.spec()
        assert spec["holderIdentity"] == "op-b" and spec["leaseTransitions"] == transitions + 1
        assert _leads(b) and _probe(b, "/readyz")[1]["leader"] is True
        ha.k.wait_condition("acme-after-kill", ha.tenants, "Degraded", "False")

        # A clean shutdown releases the Lease: the next standby does not wait out the lease.
        c = ha.operator("op-c")
        wait_for(lambda: _probe(c, "/readyz")[0] == 200, 10, "op-c ready as standby")
        stopped = time.monotonic()
        b.stop()  # SIGTERM, waits for the exit
        assert "released lease" in b.log()
        wait_for(lambda: _leads(c), LEASE_SECONDS + 2, "op-c to take the released lease")
        handover = time.monotonic() - stopped
        record_property("handover_after_sigterm_seconds", round(handover, 2))
        print(f"handover after SIGTERM: {handover:.2f} s")
        ha.k.apply(ha.tenants, _bot(docs, "acme-after-stop"))
        wait_for(lambda: _reconciled(ha, "acme-after-stop"), 15, "op-c to reconcile")
        for op in (a, b, c):
            log = op.log()
            assert " 403" not in log and "Forbidden" not in log, log[-2000:]
    finally:
        for proc in (a, b, c):
            if proc is not None:
                proc.stop()


def test_a_replica_refused_the_lease_is_not_ready_then_not_alive_and_recovers(
    ha: HaInstall, example_docs: Docs
) -> None:
    op = ha.operator("op-solo")
    try:
        wait_for(lambda: _leads(op), 30, "op-solo to lead")
        assert _probe(op, "/readyz")[0] == 200 and _probe(op, "/healthz")[0] == 200
        binding = f"{ha.release}-supportbot-operator-leader-election"
        ha.cluster.kubectl("delete", "rolebinding", binding, "-n", ha.system)
        lost = time.monotonic()
        body = wait_for(lambda: _failing(op, "/readyz"), 10, "readiness to fail")
        assert body is not None
        assert "forbidden" in body["reason"].lower(), body
        assert _probe(op, "/healthz")[0] == 200, "a short outage costs readiness only"
        wait_for(lambda: not _leads(op), 10, "the replica to stop leading")
        writes = op.writes()
        docs = example_docs("02-globex-telecom")
        ha.k.apply(ha.tenants, *docs)
        body = wait_for(
            lambda: _failing(op, "/healthz"),
            3 * LEASE_SECONDS + 10,
            "liveness to fail after 3 lease durations",
        )
        assert body is not None
        assert time.monotonic() - lost >= 3 * LEASE_SECONDS - 1, "not before 3 lease durations"
        assert "no Lease round trip" in body["reason"], body
        assert op.writes() == writes and not _reconciled(ha, "globex"), "nothing reconciled"

        # The grant back (what `helm upgrade` re-creates): ready, leading, reconciling again.
        ha.cluster.helm(
            "upgrade",
            ha.release,
            CHART,
            "-n",
            ha.system,
            "--reuse-values",
            "--set=operator.verbose=false",
        )
        wait_for(lambda: _probe(op, "/readyz")[0] == 200, 15, "readiness to recover")
        assert _probe(op, "/healthz")[0] == 200
        wait_for(lambda: _reconciled(ha, "globex"), 30, "the pending tenant reconciled")
    finally:
        op.stop()


def test_lease_grant_is_one_lease_in_the_operators_namespace(ha: HaInstall) -> None:
    lease = f"leases.coordination.k8s.io/{ha.lease}"
    for verb in ("get", "update"):
        assert ha.can(verb, lease, ha.system), verb
    for verb in ("create", "delete", "patch", "list", "watch"):
        assert not ha.can(verb, "leases.coordination.k8s.io", ha.system), verb
        assert not ha.can(verb, lease, ha.system), verb
    for verb in ("get", "update"):
        assert not ha.can(verb, "leases.coordination.k8s.io/some-other-lease", ha.system), verb
        for ns in (ha.tenants, "default", "kube-system", "kube-node-lease"):
            assert not ha.can(verb, "leases.coordination.k8s.io", ns), (verb, ns)
            assert not ha.can(verb, f"leases.coordination.k8s.io/{ha.lease}", ns), (verb, ns)
    lease_obj = ha.k.get("lease", ha.lease, ha.system)
    assert lease_obj is not None, "the chart ships the Lease (the operator cannot create one)"
