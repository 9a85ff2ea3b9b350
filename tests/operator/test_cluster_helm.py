"""The Helm chart: lint, rendering (CRD copy, RBAC modes, bot image tag = appVersion, values
schema), install onto the local API server, and a full reconcile by an operator that
authenticates as the chart's ServiceAccount (its own token), proving the RBAC suffices."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from supportbot_dev.controlplane import Cluster
from supportbot_operator.testing import Kubectl, OperatorProcess, token_kubeconfig, wait_for

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]
CHART = str(ROOT / "charts" / "supportbot-operator")
KUBE_VERSION = "--kube-version=1.35.4"
T = 30.0


def _template(cluster: Cluster, *args: str) -> list[dict[str, Any]]:
    out = cluster.helm("template", "sb", CHART, "-n", "sb-system", KUBE_VERSION, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def test_lint(api_cluster: Cluster) -> None:
    res = api_cluster.helm("lint", "--strict", CHART, "--set", "watchNamespaces={a,b}")
    assert "1 chart(s) linted, 0 chart(s) failed" in res.stdout


def test_default_render(api_cluster: Cluster, crd: dict[str, Any]) -> None:
    docs = _template(api_cluster)
    (chart_crd,) = _find(docs, "CustomResourceDefinition")
    assert chart_crd["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
    assert chart_crd == crd, "the chart's CRD is exactly crds/"
    (dep,) = _find(docs, "Deployment")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }, "leader election (default) makes a surge pod wait as standby"
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    app_version = yaml.safe_load((Path(CHART) / "Chart.yaml").read_text())["appVersion"]
    assert c["image"] == f"supportbot-operator:{app_version}", "what `make images` tags"
    assert c["command"] == ["supportbot-operator", "run"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["SUPPORTBOT_OPERATOR_BOT_IMAGE_TAG"] == app_version, "bot image follows appVersion"
    assert env["SUPPORTBOT_OPERATOR_NAMESPACES"] == "sb-system", "the release namespace only"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert env["SUPPORTBOT_OPERATOR_LEADER_ELECTION_LEASE"] == "sb-supportbot-operator-leader"
    assert env["SUPPORTBOT_OPERATOR_LEADER_ELECTION_NAMESPACE"] == "sb-system"
    (lease,) = _find(docs, "Lease")
    assert lease["metadata"]["name"] == "sb-supportbot-operator-leader" and "spec" not in lease
    assert not _find(docs, "PodDisruptionBudget"), "one replica: a PDB would only block drains"
    assert pod["serviceAccountName"] == "sb-supportbot-operator"
    assert not _find(docs, "ClusterRole", "sb-supportbot-operator"), "no cluster-wide tenant role"
    tenant_roles = _find(docs, "Role", "sb-supportbot-operator")
    assert [r["metadata"]["namespace"] for r in tenant_roles] == ["sb-system"]
    for rule in tenant_roles[0]["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        if "secrets" in rule["resources"]:
            assert rule["verbs"] == ["list", "watch"], "no get on Secrets"


def test_namespaced_render(api_cluster: Cluster) -> None:
    docs = _template(api_cluster, "--set", "watchNamespaces={team-a,team-b}")
    roles = _find(docs, "Role", "sb-supportbot-operator")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    bindings = _find(docs, "RoleBinding", "sb-supportbot-operator")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == [
        "team-a",
        "team-b",
    ]
    assert not _find(docs, "ClusterRole", "sb-supportbot-operator"), "no cluster-wide tenant access"
    (dep,) = _find(docs, "Deployment")
    env = {
        e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SUPPORTBOT_OPERATOR_NAMESPACES"] == "team-a,team-b"


def test_cluster_wide_render(api_cluster: Cluster) -> None:
    docs = _template(api_cluster, "--set", "clusterWide=true")
    assert len(_find(docs, "ClusterRole", "sb-supportbot-operator")) == 1
    assert not _find(docs, "Role", "sb-supportbot-operator")
    (dep,) = _find(docs, "Deployment")
    env = {
        e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SUPPORTBOT_OPERATOR_NAMESPACES"] == "", "every namespace"


def test_crd_toggle_and_bot_image_override(api_cluster: Cluster) -> None:
    docs = _template(api_cluster, "--set", "crds.install=false", "--set", "bot.image.tag=7.0.1")
    assert not _find(docs, "CustomResourceDefinition")
    (dep,) = _find(docs, "Deployment")
    env = {
        e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SUPPORTBOT_OPERATOR_BOT_IMAGE_TAG"] == "7.0.1"


def test_ha_render(api_cluster: Cluster) -> None:
    docs = _template(api_cluster, "--set", "replicaCount=2")
    (pdb,) = _find(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "supportbot-operator",
        "app.kubernetes.io/instance": "sb",
    }
    (role,) = _find(docs, "Role", "sb-supportbot-operator-leader-election")
    assert role["metadata"]["namespace"] == "sb-system"
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["sb-supportbot-operator-leader"],
            "verbs": ["get", "update"],
        }
    ]
    single = _template(api_cluster, "--set", "leaderElection.enabled=false")
    (dep,) = _find(single, "Deployment")
    assert dep["spec"]["strategy"] == {"type": "Recreate"}, "no election: never two at once"
    assert not _find(single, "Lease") and not _find(
        single, "Role", "sb-supportbot-operator-leader-election"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "replicaCount=2", "--set", "leaderElection.enabled=false"], "leaderElection"),
        (["--set", "peering.enabled=true"], "peering"),
        (["--set", "operator.logFormat=xml"], "logFormat"),
        (["--set", "surprise=1"], "surprise"),
        (["--set", "watchNamespaces={Bad_NS}"], "watchNamespaces"),
    ],
)
def test_values_schema_rejects(api_cluster: Cluster, values: list[str], message: str) -> None:
    res = api_cluster.helm("template", "sb", CHART, KUBE_VERSION, *values, check=False)
    assert res.returncode != 0 and message in res.stderr, res.stderr


def test_fleet_rollout_pacing_reaches_the_operator(api_cluster: Cluster) -> None:
    def env(*args: str) -> dict[str, str]:
        (deployment,) = _find(_template(api_cluster, *args), "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: e.get("value", "") for e in container["env"]}

    assert env()["SUPPORTBOT_OPERATOR_MAX_ROLLING_TENANTS"] == "5"  # paced by default
    unpaced = env("--set", "operator.maxRollingTenants=0")
    assert unpaced["SUPPORTBOT_OPERATOR_MAX_ROLLING_TENANTS"] == "0"
    res = api_cluster.helm(
        "template", "sb", CHART, KUBE_VERSION, "--set", "operator.maxRollingTenants=-1", check=False
    )
    assert res.returncode != 0 and "maxRollingTenants" in res.stderr, res.stderr


def test_rendered_crd_passes_server_side_dry_run(api_cluster: Cluster) -> None:
    docs = _template(api_cluster)
    (chart_crd,) = _find(docs, "CustomResourceDefinition")
    api_cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--dry-run=server",
        "-f",
        "-",
        stdin=json.dumps(chart_crd),
    )


def test_install_and_reconcile_as_the_charts_service_account(
    api_cluster: Cluster,
    make_namespace: Callable[[str], str],
    example_docs: Callable[[str], list[dict[str, Any]]],
    tmp_path: Path,
    install_chart: Callable[..., str],
) -> None:
    system = make_namespace("sbsys")
    tenants = make_namespace("rbac")  # not matched by the shared operator's op-* pattern
    release = install_chart(
        system,
        "--set",
        f"watchNamespaces={{{tenants}}}",
        "--set",
        "admissionWebhook.enabled=false",  # test_cluster_admission.py covers it
    )
    sa = f"{release}-supportbot-operator"
    k = Kubectl(api_cluster.kubectl)
    assert k.get("deployment", sa, system) is not None
    user = f"system:serviceaccount:{system}:{sa}"

    def can(verb: str, resource: str, namespace: str) -> bool:
        res = api_cluster.kubectl(
            "auth", "can-i", verb, resource, "-n", namespace, f"--as={user}", check=False
        )
        return res.stdout.strip() == "yes"

    assert can("patch", "deployments.apps", tenants) and can("watch", "secrets", tenants)
    assert not can("get", "secrets", tenants), "Secrets are only listed/watched for digests"
    assert not can("delete", "services", tenants) and not can("delete", "configmaps", tenants)
    assert not can("list", "secrets", system) and not can("patch", "deployments.apps", "default")

    token = api_cluster.kubectl("create", "token", sa, "-n", system, "--duration=1h").stdout.strip()
    kubeconfig = token_kubeconfig(api_cluster.kubeconfig, token, tmp_path / "sa.kubeconfig")
    op = OperatorProcess.start(
        kubeconfig=kubeconfig,
        log_path=tmp_path / "operator.log",
        namespaces=tenants,
        env={
            "SUPPORTBOT_OPERATOR_RESYNC_SECONDS": "3",
            "SUPPORTBOT_OPERATOR_DEBOUNCE_SECONDS": "0.2",
        },
    )
    try:
        docs = example_docs("02-globex-telecom")
        number = next(d for d in docs if d["kind"] == "SupportBot")["spec"]["whatsapp"][
            "integratedNumber"
        ]
        k.apply(tenants, *docs)
        wanted = [
            ("deployment", "globex-webhook"),
            ("deployment", "globex-worker"),
            ("ingress", "globex"),
            ("networkpolicy", "globex"),
            ("configmap", "globex-validated-flow"),
            ("hpa", "globex-webhook"),
        ]
        wait_for(
            lambda: all(k.get(kind, n, tenants) for kind, n in wanted),
            T,
            "children created by the SA",
        )
        # Its worker scales on QueueDepth through KEDA, which this cluster does not have.
        k.wait_condition("globex", tenants, "Degraded", "True", reason="KEDANotInstalled")
        assert any(e["reason"] == "Applied" for e in k.items("events", tenants)), "events posted"
        k.run("delete", "service", "globex-webhook", "-n", tenants)
        wait_for(lambda: k.get("service", "globex-webhook", tenants), T, "Service recreated")
        k.patch("supportbot", "globex", tenants, {"spec": {"ingress": {"enabled": False}}})
        wait_for(lambda: k.get("ingress", "globex", tenants) is None, T, "Ingress deleted")
        k.patch(
            "configmap", "globex-support-flow", tenants, {"data": {"support.yaml": "version: 2\n"}}
        )
        k.wait_condition("globex", tenants, "Degraded", "True", reason="InvalidFlow")
        assert op.healthy()
        log = op.log()
        assert "Forbidden" not in log and '"status": 403' not in log and " 403" not in log, log[
            -4000:
        ]
        assert op.total("supportbot_operator_reconcile_errors_total") == 0
        assert "REPLACE_ME" not in log, "a Secret value reached the log"
        assert all(json.loads(line)["message"] for line in log.splitlines()), "JSON logs"
        assert op.total("supportbot_operator_tenants", condition="Degraded", status="True") == 1
        degraded = {"tenant_namespace": tenants, "tenant": "globex", "condition": "Degraded"}
        assert op.total("supportbot_operator_tenant_condition", **degraded) == 1
        assert number not in log, "the tenant's number reached the log"
    finally:
        op.stop()
