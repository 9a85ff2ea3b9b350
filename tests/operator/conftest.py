"""Fixtures for the operator tests: the CRD from `crds/`, example files, and SupportBot bodies
defaulted exactly as the API server would (structural defaults from the CRD)."""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from supportbot_dev.controlplane import Cluster
from supportbot_operator import names, schemacheck
from supportbot_operator.settings import OperatorSettings
from supportbot_operator.testing import Kubectl, OperatorProcess, token_kubeconfig, unique_number

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "supportbot.dev_supportbots.yaml"
EXAMPLES = ROOT / "examples"
CHART = ROOT / "charts" / "supportbot-operator"
FAST = {
    "SUPPORTBOT_OPERATOR_RESYNC_SECONDS": "5",
    "SUPPORTBOT_OPERATOR_DEBOUNCE_SECONDS": "0.2",
}
"""Operator settings for tests: quick resync so drift corrections show within seconds."""

MINIMAL_SPEC: dict[str, Any] = {
    "whatsapp": {
        "integratedNumber": "919123456789",
        "authKeySecretRef": {"name": "wa", "key": "auth-key"},
        "webhookSecretRef": {"name": "wa", "key": "webhook-secret"},
    },
    "llm": {
        "apiKeySecretRef": {"name": "or", "key": "api-key"},
        "models": ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"],
    },
    "flow": {"configMapRef": {"name": "flow"}},
    "storage": {
        "redisUrlSecretRef": {"name": "store", "key": "redis"},
        "postgresDsnSecretRef": {"name": "store", "key": "pg"},
    },
}


@pytest.fixture
def minimal_spec() -> dict[str, Any]:
    """The smallest valid spec (required fields only), not defaulted."""
    return copy.deepcopy(MINIMAL_SPEC)


@pytest.fixture(scope="session")
def crd_text() -> str:
    return CRD_FILE.read_text()


@pytest.fixture(scope="session")
def crd() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(CRD_FILE.read_text())
    return doc


@pytest.fixture(scope="session")
def crd_schema(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@pytest.fixture
def make_body(crd_schema: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """A SupportBot body as the API server stores it: CRD defaults applied to `spec`."""

    def make(name: str = "acme", namespace: str = "tenants", **spec: Any) -> dict[str, Any]:
        merged = copy.deepcopy(MINIMAL_SPEC)
        merged.update(spec)
        body = {
            "apiVersion": "supportbot.dev/v1alpha1",
            "kind": "SupportBot",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": f"uid-{name}",
                "generation": 1,
            },
            "spec": merged,
        }
        defaulted: dict[str, Any] = schemacheck.apply_defaults(body, crd_schema)
        return defaulted

    return make


@pytest.fixture
def op_settings() -> OperatorSettings:
    return OperatorSettings(
        bot_image_repository="registry.invalid/supportbot", bot_image_tag="1.2.3"
    )


def example_documents() -> list[tuple[str, dict[str, Any]]]:
    """(relative path, document) of every YAML document under examples/."""
    out = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((str(path.relative_to(ROOT)), doc))
    return out


@pytest.fixture(scope="session")
def examples() -> list[tuple[str, dict[str, Any]]]:
    return example_documents()


# --- cluster fixtures (API-only: kube_api; full: kube_full, see tests/conftest.py) ----------
def _install_crd(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{names.CRD_NAME}", "--timeout=60s")


@pytest.fixture(scope="session")
def full_cluster(kube_full: Cluster) -> Cluster:
    """The full control plane (controller-manager, scheduler, KWOK) with the CRD installed."""
    _install_crd(kube_full)
    return kube_full


@pytest.fixture(scope="session")
def api_cluster(kube_api: Cluster) -> Cluster:
    """The API-only control plane with the SupportBot CRD from crds/."""
    _install_crd(kube_api)
    return kube_api


@pytest.fixture(scope="session")
def operator(
    api_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator (admin credentials) for every API-only test, watching namespaces `op-*`."""
    op = OperatorProcess.start(
        kubeconfig=api_cluster.kubeconfig,
        log_path=tmp_path_factory.mktemp("operator") / "operator.log",
        namespaces="op-*",
        env=FAST,
    )
    yield op
    op.stop()


@pytest.fixture(scope="session")
def install_chart(api_cluster: Cluster) -> Callable[..., str]:
    """`install_chart(system, *values, prefix="sb")`: `helm install` the chart from charts/ into
    namespace `system` as a new release `prefix` + 6 hex digits, and return its name. The CRD
    stays the session's (crds.install=false), no aggregated ClusterRoles; `values` are more helm
    arguments. Uninstalling is the caller's."""

    def install(system: str, *values: str, prefix: str = "sb") -> str:
        release = f"{prefix}{uuid.uuid4().hex[:6]}"
        api_cluster.helm(
            "install",
            release,
            str(CHART),
            "-n",
            system,
            "--set",
            "crds.install=false",
            "--set",
            "rbac.aggregateClusterRoles=false",
            *values,
        )
        return release

    return install


@pytest.fixture(scope="session")
def start_webhook_operator(api_cluster: Cluster) -> Callable[..., OperatorProcess]:
    """`start_webhook_operator(release, system, namespaces, port, tmp, env={})`: the operator as
    a local process with the chart ServiceAccount's token and the webhook certificate Helm made
    (written to `tmp`/certs, as the pod would mount it), serving the admission webhook on
    127.0.0.1:`port`; `env` adds settings. Stopping it is the caller's."""

    def start(
        release: str,
        system: str,
        namespaces: str,
        port: int,
        tmp: Path,
        env: Mapping[str, str] | None = None,
    ) -> OperatorProcess:
        k = Kubectl(api_cluster.kubectl)
        secret = k.get("secret", f"{release}-supportbot-operator-webhook-tls", system) or {}
        certs = tmp / "certs"
        certs.mkdir()
        for key in ("tls.crt", "tls.key"):
            (certs / key).write_bytes(base64.b64decode(secret["data"][key]))
        sa = f"{release}-supportbot-operator"
        token = api_cluster.kubectl("create", "token", sa, "-n", system, "--duration=1h").stdout
        return OperatorProcess.start(
            kubeconfig=token_kubeconfig(
                api_cluster.kubeconfig, token.strip(), tmp / "sa.kubeconfig"
            ),
            log_path=tmp / "operator.log",
            namespaces=namespaces,
            env={
                "SUPPORTBOT_OPERATOR_WEBHOOK_PORT": str(port),
                "SUPPORTBOT_OPERATOR_WEBHOOK_HOST": "127.0.0.1",
                "SUPPORTBOT_OPERATOR_WEBHOOK_CERT_DIR": str(certs),
                **(env or {}),
            },
        )

    return start


@pytest.fixture
def kubectl(api_cluster: Cluster) -> Kubectl:
    return Kubectl(api_cluster.kubectl)


def new_namespace(cluster: Cluster, prefix: str) -> str:
    """A fresh namespace (never deleted: without a controller-manager it would hang)."""
    ns = f"{prefix}-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", ns)
    return ns


@pytest.fixture
def ns(api_cluster: Cluster, operator: OperatorProcess) -> str:
    """A namespace the shared operator watches."""
    return new_namespace(api_cluster, "op")


@pytest.fixture(scope="module")
def make_namespace_module(api_cluster: Cluster) -> Callable[[str], str]:
    return lambda prefix: new_namespace(api_cluster, prefix)


@pytest.fixture
def make_namespace(api_cluster: Cluster) -> Callable[[str], str]:
    """Create more namespaces: 'op' ones are watched by the shared operator, others are not."""
    return lambda prefix: new_namespace(api_cluster, prefix)


@pytest.fixture
def example_docs() -> Callable[[str], list[dict[str, Any]]]:
    """The YAML documents of one example directory (e.g. '01-acme-retail'). Each example gets
    its own `integratedNumber` per test (the same in every call of one test): tenants of
    different tests share the cluster, and a number may belong to one SupportBot only."""
    numbers: dict[str, str] = {}

    def load(name: str) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = []
        for path in sorted((EXAMPLES / name).glob("*.yaml")):
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
        number = numbers.setdefault(name, unique_number())
        for doc in docs:
            if doc.get("kind") == names.KIND:
                doc["spec"]["whatsapp"]["integratedNumber"] = number
        return docs

    return load
