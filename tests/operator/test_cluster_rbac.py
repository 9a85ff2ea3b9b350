"""Least privilege of the chart's ServiceAccount, proven on a real API server with
`kubectl auth can-i` and impersonation: the default install serves its own namespace only (no
Secret of any other namespace is readable, no workload can be created outside it); the
cluster-wide mode is an explicit opt-in with the wider grant it states."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from supportbot_dev.controlplane import Cluster

pytestmark = pytest.mark.cluster
CHART = str(Path(__file__).resolve().parents[2] / "charts" / "supportbot-operator")
NOT_SERVED = ("default", "kube-system")


@dataclass(frozen=True)
class Install:
    cluster: Cluster
    namespace: str
    user: str

    def can(self, verb: str, resource: str, namespace: str | None) -> bool:
        scope = ["-n", namespace] if namespace else ["--all-namespaces"]
        res = self.cluster.kubectl(
            "auth", "can-i", verb, resource, *scope, f"--as={self.user}", check=False
        )
        return res.stdout.strip() == "yes"

    def can_patch_status(self, namespace: str) -> bool:
        res = self.cluster.kubectl(
            "auth",
            "can-i",
            "patch",
            "supportbots.supportbot.dev",
            "--subresource=status",
            "-n",
            namespace,
            f"--as={self.user}",
            check=False,
        )
        return res.stdout.strip() == "yes"

    def read(self, *args: str) -> tuple[int, str]:
        """A kubectl read as the ServiceAccount (impersonation)."""
        res = self.cluster.kubectl(*args, f"--as={self.user}", check=False)
        return res.returncode, res.stdout + res.stderr

    def namespaces_env(self) -> str:
        dep = yaml.safe_load(
            self.cluster.kubectl(
                "get",
                "deployment",
                "-n",
                self.namespace,
                "-o",
                "yaml",
                "-l",
                "app.kubernetes.io/name=supportbot-operator",
            ).stdout
        )["items"][0]
        env = {
            e["name"]: e.get("value") or ""
            for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        return str(env["SUPPORTBOT_OPERATOR_NAMESPACES"])


Installer = Callable[..., Install]


@pytest.fixture
def install(
    api_cluster: Cluster,
    make_namespace: Callable[[str], str],
    install_chart: Callable[..., str],
) -> Iterator[Installer]:
    """`helm install` the chart (own release namespace) with extra values; uninstalled after
    the test (its ValidatingWebhookConfiguration must not outlive it)."""
    releases: list[tuple[str, str]] = []

    def run(*values: str) -> Install:
        system = make_namespace("sbsys")
        release = install_chart(system, *values)
        releases.append((release, system))
        sa = f"{release}-supportbot-operator"
        return Install(api_cluster, system, f"system:serviceaccount:{system}:{sa}")

    yield run
    for release, system in releases:
        api_cluster.helm("uninstall", release, "-n", system, "--wait")


@pytest.fixture
def unrelated_secret(api_cluster: Cluster) -> str:
    """A Secret no SupportBot references, in `default`."""
    name = f"unrelated-{uuid.uuid4().hex[:6]}"
    api_cluster.kubectl(
        "create", "secret", "generic", name, "-n", "default", "--from-literal=password=hunter2"
    )
    return name


def test_default_install_serves_its_own_namespace_only(
    install: Installer, unrelated_secret: str
) -> None:
    sa = install()
    assert sa.namespaces_env() == sa.namespace, "the operator watches its own namespace"
    # What the operator needs, where it serves:
    for verb, resource in [
        ("watch", "secrets"),
        ("list", "secrets"),
        ("create", "deployments.apps"),
        ("patch", "deployments.apps"),
        ("create", "serviceaccounts"),
        ("watch", "supportbots.supportbot.dev"),
        ("create", "events"),
    ]:
        assert sa.can(verb, resource, sa.namespace), (verb, resource)
    assert sa.can_patch_status(sa.namespace)
    # Secrets of any other namespace: not listable, not readable, not watchable.
    for ns in NOT_SERVED:
        for verb in ("get", "list", "watch"):
            assert not sa.can(verb, "secrets", ns), (verb, ns)
    assert not sa.can("list", "secrets", None), "no cluster-wide Secret list"
    code, out = sa.read("get", "secret", unrelated_secret, "-n", "default", "-o", "yaml")
    assert code != 0 and "forbidden" in out.lower() and "hunter2" not in out
    code, out = sa.read("get", "secrets", "--all-namespaces")
    assert code != 0 and "forbidden" in out.lower()
    # No workload, identity or config outside the namespaces it serves.
    for ns in NOT_SERVED:
        for resource in (
            "deployments.apps",
            "serviceaccounts",
            "services",
            "configmaps",
            "horizontalpodautoscalers.autoscaling",
        ):
            assert not sa.can("create", resource, ns), (resource, ns)
            assert not sa.can("patch", resource, ns), (resource, ns)
    # Nothing of the kind anywhere, ever: no get on Secrets even where it serves, no RBAC.
    assert not sa.can("get", "secrets", sa.namespace), "Secrets are only listed/watched for digests"
    assert not sa.can("create", "rolebindings.rbac.authorization.k8s.io", sa.namespace)
    assert not sa.can("create", "pods", sa.namespace)
    # The admission webhook's one cluster-wide addition: reading SupportBot specs (numbers).
    assert sa.can("list", "supportbots.supportbot.dev", None)
    assert not sa.can("patch", "supportbots.supportbot.dev", "default")


def test_listed_namespaces_are_served_and_nothing_else(
    install: Installer, make_namespace: Callable[[str], str]
) -> None:
    a, b = make_namespace("team"), make_namespace("team")
    sa = install("--set", f"watchNamespaces={{{a},{b}}}")
    assert sa.namespaces_env() == f"{a},{b}"
    for ns in (a, b):
        assert sa.can("watch", "secrets", ns) and sa.can("create", "deployments.apps", ns)
    for ns in (sa.namespace, *NOT_SERVED):
        assert not sa.can("list", "secrets", ns), ns
        assert not sa.can("create", "deployments.apps", ns), ns


def test_cluster_wide_is_an_explicit_opt_in_with_the_stated_grant(
    install: Installer, unrelated_secret: str
) -> None:
    sa = install("--set", "clusterWide=true")
    assert sa.namespaces_env() == "", "every namespace"
    # The wider grant values.yaml and the README state: list/watch Secrets and manage the
    # bot's children in every namespace (still no get on a Secret by name).
    assert sa.can("list", "secrets", None) and sa.can("watch", "secrets", "default")
    assert sa.can("create", "deployments.apps", "kube-system")
    assert not sa.can("get", "secrets", "default")
    code, out = sa.read("get", "secret", unrelated_secret, "-n", "default", "-o", "yaml")
    assert code != 0 and "forbidden" in out.lower()


def test_cluster_wide_and_a_namespace_list_are_exclusive(api_cluster: Cluster) -> None:
    res = api_cluster.helm(
        "template",
        "sb",
        CHART,
        "--kube-version=1.35.4",
        "--set",
        "clusterWide=true",
        "--set",
        "watchNamespaces={a}",
        check=False,
    )
    assert res.returncode != 0 and "clusterWide=true serves every namespace" in res.stderr, (
        res.stderr
    )
