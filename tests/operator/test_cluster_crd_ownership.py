"""The kept CRD and a release of another name, on a real API server with real `helm`: the chart
stops with the owner and the recovery before Helm's generic ownership error, and the recovery
the chart README documents (run here exactly as written there) lets the new release take the
CRD over with every SupportBot kept."""

from __future__ import annotations

import re
import shlex
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from supportbot_dev.controlplane import Cluster
from supportbot_dev.procs import HarnessError
from supportbot_operator import names
from supportbot_operator.testing import Kubectl, unique_number

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "supportbot-operator"
HELM_KEYS = ("meta.helm.sh/release-name", "meta.helm.sh/release-namespace")


def recovery_commands(release: str, namespace: str) -> list[list[str]]:
    """The README's recovery block, placeholders filled, one argv per command."""
    readme = (CHART / "README.md").read_text()
    section = readme.split("### Reinstalling under another release name", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the README documents the recovery as a sh block"
    text = match.group(1).replace("\\\n", " ")
    text = text.replace("<release>", release).replace("<namespace>", namespace)
    return [shlex.split(line) for line in text.splitlines() if line.strip()]


def _run(cluster: Cluster, argv: list[str]) -> None:
    tool, *args = argv
    if tool == "helm":
        cluster.helm(*[str(CHART) if a == "charts/supportbot-operator" else a for a in args])
    else:
        assert tool == "kubectl", argv
        cluster.kubectl(*args)


@pytest.fixture
def crd_restored(api_cluster: Cluster) -> Iterator[None]:
    """The shared cluster's CRD goes back to how `kubectl apply` left it (no Helm metadata)."""
    yield
    api_cluster.kubectl(
        "annotate", "crd", names.CRD_NAME, *(f"{k}-" for k in HELM_KEYS), "helm.sh/resource-policy-"
    )
    api_cluster.kubectl("label", "crd", names.CRD_NAME, "app.kubernetes.io/managed-by-")


def test_reinstall_under_another_release_name_keeps_every_supportbot(
    api_cluster: Cluster,
    make_namespace: Callable[[str], str],
    minimal_spec: dict[str, Any],
    crd_restored: None,
) -> None:
    k = Kubectl(api_cluster.kubectl)
    old_ns, new_ns, tenants = (make_namespace(p) for p in ("crdold", "crdnew", "crdten"))
    suffix = uuid.uuid4().hex[:6]
    old, new = f"old{suffix}", f"new{suffix}"
    values = [
        "--set=rbac.aggregateClusterRoles=false",
        "--set=admissionWebhook.enabled=false",
        f"--set=watchNamespaces={{{tenants}}}",
    ]
    installed: list[tuple[str, str]] = []

    def install(release: str, namespace: str) -> None:
        api_cluster.helm("install", release, str(CHART), "-n", namespace, *values)
        installed.append((release, namespace))

    try:
        # The CRD exists (applied by hand, as the other tests do): not Helm's, the chart says so.
        with pytest.raises(HarnessError) as refused:
            install(old, old_ns)
        assert "not managed by Helm" in str(refused.value)
        assert "--set crds.install=false" in str(refused.value)
        for argv in recovery_commands(old, old_ns)[:-1]:
            _run(api_cluster, argv)
        install(old, old_ns)

        bot: dict[str, Any] = {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "metadata": {"name": "kept", "namespace": tenants},
            "spec": minimal_spec,
        }
        bot["spec"]["whatsapp"]["integratedNumber"] = unique_number()
        k.apply(tenants, bot)
        uid = (k.get("supportbot", "kept", tenants) or {})["metadata"]["uid"]
        api_cluster.helm("uninstall", old, "-n", old_ns)
        installed.remove((old, old_ns))
        crd = k.get("crd", names.CRD_NAME, "default") or {}
        assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == old, "kept"

        # Another release name: the chart names the owner and the exact recovery.
        with pytest.raises(HarnessError) as refused:
            install(new, new_ns)
        message = str(refused.value)
        assert f'kept from Helm release "{old}" in namespace "{old_ns}"' in message, message
        assert (
            "kubectl annotate crd supportbots.supportbot.dev --overwrite "
            f"meta.helm.sh/release-name={new} meta.helm.sh/release-namespace={new_ns}"
        ) in message
        assert "invalid ownership metadata" not in message, "stopped before Helm's own check"

        for argv in recovery_commands(new, new_ns):
            _run(api_cluster, argv)
        installed.append((new, new_ns))
        crd = k.get("crd", names.CRD_NAME, "default") or {}
        annotations = crd["metadata"]["annotations"]
        assert [annotations[key] for key in HELM_KEYS] == [new, new_ns]
        assert annotations["helm.sh/resource-policy"] == "keep"
        kept = k.get("supportbot", "kept", tenants)
        assert kept is not None and kept["metadata"]["uid"] == uid, "the SupportBot survived"
        api_cluster.helm("upgrade", new, str(CHART), "-n", new_ns, "--reuse-values")
    finally:
        for release, namespace in installed:
            api_cluster.helm("uninstall", release, "-n", namespace)
