"""The chart's monitoring objects: the PodMonitor (tenant pods), PrometheusRule and operator
ServiceMonitor exist only where the Prometheus Operator's CRDs do, so enabling them on a cluster
without those CRDs installs cleanly; with the CRDs the PodMonitor selects exactly the pods the
operator renders (labels, port names), the PrometheusRule carries files/prometheus-rules.yaml
verbatim, and the Grafana dashboard ConfigMap is opt-in with the sidecar label."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from supportbot_dev.controlplane import Cluster
from supportbot_operator import render, spec
from supportbot_operator.render.meta import Inputs
from supportbot_operator.settings import OperatorSettings

from .conftest import new_namespace

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "supportbot-operator"
KUBE_VERSION = "--kube-version=1.35.4"
KINDS = ("PodMonitor", "PrometheusRule", "ServiceMonitor")
MONITORING = [f"--api-versions=monitoring.coreos.com/v1/{kind}" for kind in KINDS]
ALL_ON = ["--set", "metrics.grafanaDashboard.enabled=true"]

Body = dict[str, Any]


def _template(cluster: Cluster, *args: str) -> list[Body]:
    out = cluster.helm("template", "sb", str(CHART), "-n", "sb-system", KUBE_VERSION, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _kinds(docs: list[Body]) -> dict[str, Body]:
    return {d["kind"]: d for d in docs if d["kind"] in (*KINDS, "ConfigMap")}


def test_without_the_crds_nothing_is_rendered(api_cluster: Cluster) -> None:
    kinds = _kinds(_template(api_cluster, *ALL_ON))
    assert not set(kinds) & set(KINDS), "no Prometheus Operator CRDs: no monitoring objects"
    assert "ConfigMap" in kinds, "the dashboard needs no CRD"


def test_with_the_crds_everything_enabled_is_rendered(api_cluster: Cluster) -> None:
    assert set(KINDS) <= set(_kinds(_template(api_cluster, *MONITORING))), "on by default"
    kinds = _kinds(_template(api_cluster, *MONITORING, *ALL_ON))
    rule = kinds["PrometheusRule"]
    assert rule["metadata"]["namespace"] == "sb-system"
    source = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    assert rule["spec"] == source, "the rendered rules are the file promtool tests"
    cm = kinds["ConfigMap"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["supportbot.json"])
    assert dashboard == json.loads((CHART / "files" / "grafana-dashboard.json").read_text())


def test_switches_turn_them_off(api_cluster: Cluster) -> None:
    off = [
        "--set",
        "metrics.podMonitor.enabled=false",
        "--set",
        "metrics.prometheusRule.enabled=false",
    ]
    kinds = _kinds(
        _template(api_cluster, *MONITORING, *off, "--set", "metrics.serviceMonitor.enabled=false")
    )
    assert not set(kinds) & set(KINDS)
    assert "ConfigMap" not in kinds, "the dashboard is opt-in"


def test_pod_monitor_selects_the_rendered_tenant_pods(
    api_cluster: Cluster, make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    args = ["--set", "watchNamespaces={team-a,team-b}"]
    monitor = _kinds(_template(api_cluster, *MONITORING, *args))["PodMonitor"]["spec"]
    assert monitor["namespaceSelector"] == {"matchNames": ["team-a", "team-b"]}
    wide = _kinds(_template(api_cluster, *MONITORING, "--set", "clusterWide=true"))["PodMonitor"]
    assert wide["spec"]["namespaceSelector"] == {"any": True}
    default = _kinds(_template(api_cluster, *MONITORING))["PodMonitor"]["spec"]
    assert default["namespaceSelector"] == {"matchNames": ["sb-system"]}

    inputs = Inputs(flow_text="version: 1\n", flow_hash="f1a9", secrets_hash="5ec2")
    children = render.render_children(spec.parse(make_body()), inputs, op_settings)
    pods = [c["spec"]["template"] for c in children if c["kind"] == "Deployment"]
    assert len(pods) == 2, "webhook and worker"
    endpoints = {e["port"]: e for e in monitor["podMetricsEndpoints"]}
    selector = monitor["selector"]
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert selector["matchLabels"].items() <= labels.items()
        (expr,) = selector["matchExpressions"]
        assert labels[expr["key"]] in expr["values"]
        notes = pod["metadata"]["annotations"]
        (port,) = [
            p
            for c in pod["spec"]["containers"]
            for p in c["ports"]
            if str(p["containerPort"]) == notes["prometheus.io/port"]
        ]
        endpoint = endpoints[port["name"]]
        assert endpoint["path"] == notes["prometheus.io/path"]
        targets = {r["targetLabel"]: r["sourceLabels"] for r in endpoint["relabelings"]}
        assert targets["tenant"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"]
        assert labels["app.kubernetes.io/instance"] == "acme"


def test_install_without_the_crds_with_monitoring_enabled(
    api_cluster: Cluster, install_chart: Callable[..., str]
) -> None:
    system = new_namespace(api_cluster, "sb-mon")
    release = install_chart(system, *ALL_ON)
    try:
        status = api_cluster.helm("status", release, "-n", system, "-o", "json").stdout
        assert json.loads(status)["info"]["status"] == "deployed"
        manifest = api_cluster.helm("get", "manifest", release, "-n", system).stdout
        kinds = {d["kind"] for d in yaml.safe_load_all(manifest) if d}
        assert not kinds & set(KINDS) and "ConfigMap" in kinds
    finally:
        api_cluster.helm("uninstall", release, "-n", system, "--wait=false", check=False)


def _crd(kind: str) -> Body:
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": kind.lower(),
                "listKind": f"{kind}List",
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def test_install_where_the_crds_exist_creates_them(
    api_cluster: Cluster, install_chart: Callable[..., str]
) -> None:
    """Helm finds the kinds through the API server's discovery (the guard's
    `monitoring.coreos.com/v1/<Kind>` entries), not only through --api-versions. The stand-in
    CRDs accept any spec; they are removed again so other tests see a cluster without them."""
    crds = {"kind": "List", "apiVersion": "v1", "items": [_crd(k) for k in KINDS]}
    api_cluster.kubectl("apply", "-f", "-", stdin=json.dumps(crds))
    names = [f"{k.lower()}s.monitoring.coreos.com" for k in KINDS]
    system = new_namespace(api_cluster, "sb-mon")
    try:
        api_cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=30s", *[f"crd/{n}" for n in names]
        )
        release = install_chart(system, *ALL_ON)
        for kind in KINDS:
            out = api_cluster.kubectl("get", kind.lower(), "-n", system, "-o", "json").stdout
            (item,) = json.loads(out)["items"]
            assert item["metadata"]["name"].startswith(release), kind
        api_cluster.helm("uninstall", release, "-n", system, "--wait=false", check=False)
    finally:
        api_cluster.kubectl("delete", "crd", *names, "--wait=true", "--timeout=60s")
