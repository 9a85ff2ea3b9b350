"""`secrets.access=referenced`: the chart grants `get` on the listed Secret names only (no list,
no watch, nothing else readable), and the operator, run with that ServiceAccount's token,
still deploys a tenant, rolls it when a referenced Secret rotates, and says SecretForbidden for
a Secret it was not pointed at."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from supportbot_dev.controlplane import Cluster
from supportbot_operator import names
from supportbot_operator.testing import (
    ACME_CHILDREN,
    Kubectl,
    OperatorProcess,
    token_kubeconfig,
    unique_number,
    wait_for,
)

pytestmark = pytest.mark.cluster
T = 30.0
LISTED = ("acme-whatsapp", "acme-openrouter", "acme-storage", "acme-agent-api", "acme-orders-api")


def _can(cluster: Cluster, user: str, verb: str, resource: str, ns: str) -> bool:
    res = cluster.kubectl("auth", "can-i", verb, resource, "-n", ns, f"--as={user}", check=False)
    return res.stdout.strip() == "yes"


@pytest.fixture
def referenced(
    api_cluster: Cluster,
    make_namespace: Callable[[str], str],
    install_chart: Callable[..., str],
    tmp_path: Path,
) -> Iterator[tuple[str, str, OperatorProcess]]:
    """(namespace, ServiceAccount user, operator) of a chart install in referenced mode."""
    system = make_namespace("sbref")
    release = install_chart(
        system,
        "--set",
        "secrets.access=referenced",
        "--set",
        f"secrets.names={{{','.join(LISTED)}}}",
        "--set",
        "admissionWebhook.enabled=false",
    )
    sa = f"{release}-supportbot-operator"
    token = api_cluster.kubectl("create", "token", sa, "-n", system, "--duration=1h").stdout
    op = OperatorProcess.start(
        kubeconfig=token_kubeconfig(api_cluster.kubeconfig, token.strip(), tmp_path / "sa.kc"),
        log_path=tmp_path / "operator.log",
        namespaces=system,
        env={
            "SUPPORTBOT_OPERATOR_SECRET_ACCESS": "referenced",
            "SUPPORTBOT_OPERATOR_SECRET_POLL_SECONDS": "1",
            "SUPPORTBOT_OPERATOR_DEBOUNCE_SECONDS": "0.2",
        },
    )
    yield system, f"system:serviceaccount:{system}:{sa}", op
    op.stop()
    api_cluster.helm("uninstall", release, "-n", system, "--wait")


def test_only_listed_secrets_are_readable_and_the_tenant_still_works(
    api_cluster: Cluster,
    referenced: tuple[str, str, OperatorProcess],
    example_docs: Callable[[str], list[dict[str, Any]]],
) -> None:
    ns, user, op = referenced
    k = Kubectl(api_cluster.kubectl)
    unrelated = f"unrelated-{uuid.uuid4().hex[:6]}"
    api_cluster.kubectl(
        "create", "secret", "generic", unrelated, "-n", ns, "--from-literal=password=hunter2"
    )
    # The grant: get by name on the listed Secrets, nothing else (not even list or watch).
    for name in LISTED:
        assert _can(api_cluster, user, "get", f"secret/{name}", ns), name
    assert not _can(api_cluster, user, "get", f"secret/{unrelated}", ns)
    for verb in ("list", "watch"):
        assert not _can(api_cluster, user, verb, "secrets", ns), verb
    res = api_cluster.kubectl("get", "secret", unrelated, "-n", ns, f"--as={user}", check=False)
    assert res.returncode != 0 and "forbidden" in res.stderr.lower()

    # The tenant deploys from the listed Secrets it reads by name.
    docs = example_docs("01-acme-retail")
    k.apply(ns, *docs)
    wait_for(lambda: all(k.get(kind, name, ns) for kind, name in ACME_CHILDREN), T, "children")
    status = wait_for(
        lambda: ((k.get("supportbot", "acme", ns) or {}).get("status") or {}).get("secretsHash"),
        T,
        "status.secretsHash",
    )
    assert (k.condition("acme", ns, "Degraded") or {}).get("reason") != "SecretNotFound"

    # A rotation is noticed by the poll (no watch) and rolls the pods.
    def template_hash() -> str:
        dep = k.get("deployment", "acme-webhook", ns) or {}
        annotations = dep["spec"]["template"]["metadata"].get("annotations") or {}
        return str(annotations.get(names.ANNOTATION_SECRETS_HASH, ""))

    before = template_hash()
    k.patch("secret", "acme-openrouter", ns, {"stringData": {"api-key": "sk-or-rotated"}})
    wait_for(lambda: template_hash() not in ("", before), T, "the webhook rolled on rotation")
    assert ((k.get("supportbot", "acme", ns) or {}).get("status") or {}).get("secretsHash") != (
        status
    )

    # A Secret not listed in the chart: a clear condition, nothing deployed.
    bot = copy.deepcopy(next(d for d in docs if d["kind"] == names.KIND))
    bot["metadata"] = {"name": "other"}
    bot["spec"]["whatsapp"]["integratedNumber"] = unique_number()
    bot["spec"]["llm"]["apiKeySecretRef"] = {"name": unrelated, "key": "password"}
    k.apply(ns, bot)
    cond = k.wait_condition("other", ns, "Degraded", "True", T, reason="SecretForbidden")
    assert unrelated in cond["message"] and "secrets.names" in cond["message"]
    assert k.get("deployment", "other-webhook", ns) is None
    assert "hunter2" not in op.log()
    assert "Not enough permissions" not in op.log(), "kopf must not try to watch Secrets"
