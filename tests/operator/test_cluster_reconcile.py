"""The operator against a real API server (API-only control plane): children, status, rollouts
by hash, drift correction, pause, missing inputs, name conflicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from supportbot_operator import inputs, names
from supportbot_operator.testing import ACME_CHILDREN, Kubectl, OperatorProcess, wait_for

pytestmark = pytest.mark.cluster
Docs = Callable[[str], list[dict[str, Any]]]
T = 30.0  # seconds to wait for the operator to react


def _flow_text(docs: list[dict[str, Any]]) -> str:
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    text: str = next(iter(cm["data"].values()))
    return text


def _template_annotations(k: Kubectl, name: str, ns: str) -> dict[str, str]:
    dep = k.get("deployment", name, ns) or {}
    found: dict[str, str] = (
        dep.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}
    )
    return found


def _deployed(k: Kubectl, ns: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    k.apply(ns, *docs)
    wait_for(lambda: all(k.get(kind, name, ns) for kind, name in ACME_CHILDREN), T, "every child")
    bot = wait_for(lambda: (k.get("supportbot", "acme", ns) or {}).get("status"), T, "a status")
    return {"status": bot}


def test_apply_creates_every_child_with_owner_and_status(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    docs = example_docs("01-acme-retail")
    _deployed(kubectl, ns, docs)
    bot = kubectl.get("supportbot", "acme", ns)
    assert bot is not None
    for kind, name in ACME_CHILDREN:
        child = kubectl.get(kind, name, ns, managed_fields=True)
        assert child is not None
        (owner,) = child["metadata"]["ownerReferences"]
        assert owner["uid"] == bot["metadata"]["uid"] and owner["controller"] is True
        managers = {
            m["manager"] for m in child["metadata"]["managedFields"] if m["operation"] == "Apply"
        }
        assert managers == {"supportbot-operator"}, (kind, name)
    worker = kubectl.get("deployment", "acme-worker", ns)
    assert worker is not None
    pod = worker["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"] == ["supportbot", "worker"]
    assert pod["initContainers"][0]["command"] == ["supportbot", "migrate"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["SUPPORTBOT_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "acme-whatsapp",
        "key": "webhook-secret",
    }
    assert env["SUPPORTBOT_LLM_MODELS"]["value"] == "openai/gpt-4o-mini,anthropic/claude-3.5-haiku"
    flow_hash = inputs.flow_hash(_flow_text(docs))
    assert (
        _template_annotations(kubectl, "acme-worker", ns)[names.ANNOTATION_FLOW_HASH] == flow_hash
    )
    snapshot = kubectl.get("configmap", "acme-validated-flow", ns)
    assert snapshot is not None and snapshot["data"]["flow.yaml"] == _flow_text(docs)

    status = wait_for(
        lambda: (kubectl.get("supportbot", "acme", ns) or {}).get("status", {}).get("flowHash"),
        T,
        "status.flowHash",
    )
    assert status == flow_hash
    bot = kubectl.get("supportbot", "acme", ns) or {}
    st = bot["status"]
    assert st["observedGeneration"] == bot["metadata"]["generation"]
    assert st["endpoint"] == f"http://acme-webhook.{ns}.svc.cluster.local/webhooks/msg91/inbound"
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["Degraded"]["status"] == "False"
    # No pods without nodes: Deployments never become available in API-only mode.
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", "RollingOut")
    events = kubectl.items("events", ns)
    assert any(e["reason"] == "Applied" and e["involvedObject"]["name"] == "acme" for e in events)


@pytest.mark.parametrize(
    ("example", "name", "optional", "degraded"),
    [
        ("01-acme-retail", "acme", [], ("False", "AsExpected")),
        # globex scales on QueueDepth through KEDA, which this cluster does not have.
        (
            "02-globex-telecom",
            "globex",
            [("ingress", "globex"), ("networkpolicy", "globex")],
            ("True", "KEDANotInstalled"),
        ),
        ("03-initech-meta", "initech", [("ingress", "initech")], ("False", "AsExpected")),
    ],
)
def test_every_example_applies(
    kubectl: Kubectl,
    ns: str,
    example_docs: Docs,
    example: str,
    name: str,
    optional: list[tuple[str, str]],
    degraded: tuple[str, str],
) -> None:
    kubectl.apply(ns, *example_docs(example))
    wanted = [("deployment", f"{name}-webhook"), ("deployment", f"{name}-worker"), *optional]
    wait_for(lambda: all(kubectl.get(k, n, ns) for k, n in wanted), T, f"{example} children")
    kubectl.wait_condition(name, ns, "Degraded", degraded[0], reason=degraded[1])


def test_flow_edit_rolls_only_the_worker(kubectl: Kubectl, ns: str, example_docs: Docs) -> None:
    docs = example_docs("01-acme-retail")
    _deployed(kubectl, ns, docs)
    before_webhook = _template_annotations(kubectl, "acme-webhook", ns)
    new_text = _flow_text(docs).replace("Welcome to Acme Retail support.", "Welcome back to Acme!")
    kubectl.patch("configmap", "acme-flow", ns, {"data": {"flow.yaml": new_text}})
    new_hash = inputs.flow_hash(new_text)
    wait_for(
        lambda: (
            _template_annotations(kubectl, "acme-worker", ns).get(names.ANNOTATION_FLOW_HASH)
            == new_hash
        ),
        T,
        "the worker template to carry the new flow hash",
    )
    assert (kubectl.get("configmap", "acme-validated-flow", ns) or {})["data"][
        "flow.yaml"
    ] == new_text
    assert _template_annotations(kubectl, "acme-webhook", ns) == before_webhook
    wait_for(
        lambda: (kubectl.get("supportbot", "acme", ns) or {})["status"].get("flowHash") == new_hash,
        T,
        "status.flowHash",
    )


def test_invalid_flow_keeps_the_running_version(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    docs = example_docs("01-acme-retail")
    _deployed(kubectl, ns, docs)
    good_hash = inputs.flow_hash(_flow_text(docs))
    wait_for(
        lambda: (
            _template_annotations(kubectl, "acme-worker", ns).get(names.ANNOTATION_FLOW_HASH)
            == good_hash
        ),
        T,
        "hash",
    )
    bad = _flow_text(docs).replace("start: main_menu", "start: nowhere")
    kubectl.patch("configmap", "acme-flow", ns, {"data": {"flow.yaml": bad}})
    cond = kubectl.wait_condition("acme", ns, "Degraded", "True")
    assert cond["reason"] == "InvalidFlow"
    assert "nowhere" in cond["message"], "the validator's message is shown"
    assert (
        _template_annotations(kubectl, "acme-worker", ns)[names.ANNOTATION_FLOW_HASH] == good_hash
    )
    assert (kubectl.get("configmap", "acme-validated-flow", ns) or {})["data"][
        "flow.yaml"
    ] == _flow_text(docs)
    assert (kubectl.get("supportbot", "acme", ns) or {})["status"]["flowHash"] == good_hash
    warnings = [e for e in kubectl.items("events", ns) if e["reason"] == "InvalidFlow"]
    assert warnings and warnings[0]["type"] == "Warning"
    kubectl.patch("configmap", "acme-flow", ns, {"data": {"flow.yaml": _flow_text(docs)}})
    wait_for(
        lambda: (kubectl.condition("acme", ns, "Degraded") or {}).get("status") == "False",
        T,
        "recovery",
    )


def test_secret_rotation_rolls_both_deployments(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    _deployed(kubectl, ns, example_docs("01-acme-retail"))
    before = {
        d: _template_annotations(kubectl, d, ns)[names.ANNOTATION_SECRETS_HASH]
        for d in ("acme-webhook", "acme-worker")
    }
    kubectl.patch(
        "secret", "acme-storage", ns, {"stringData": {"redis-url": "redis://:rotated@redis:6379/0"}}
    )

    def rolled() -> bool:
        now = {
            d: _template_annotations(kubectl, d, ns)[names.ANNOTATION_SECRETS_HASH] for d in before
        }
        return all(now[d] != before[d] for d in before)

    wait_for(rolled, T, "new secrets hash on both pod templates")


def test_drift_is_reverted_and_deleted_children_recreated(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    _deployed(kubectl, ns, example_docs("01-acme-retail"))
    svc_uid = (kubectl.get("service", "acme-webhook", ns) or {})["metadata"]["uid"]
    kubectl.run("set", "image", "-n", ns, "deployment/acme-worker", "worker=evil.invalid/x:1")
    kubectl.patch("hpa", "acme-webhook", ns, {"spec": {"maxReplicas": 50}})
    kubectl.run("delete", "service", "acme-webhook", "-n", ns)
    kubectl.run("label", "deployment", "acme-webhook", "-n", ns, "tier=hacked")

    def restored() -> bool:
        worker = kubectl.get("deployment", "acme-worker", ns) or {}
        hpa = kubectl.get("hpa", "acme-webhook", ns) or {}
        svc = kubectl.get("service", "acme-webhook", ns)
        image = worker["spec"]["template"]["spec"]["containers"][0]["image"]
        return bool(
            image.startswith("supportbot:")
            and hpa["spec"]["maxReplicas"] == 4
            and svc
            and svc["metadata"]["uid"] != svc_uid
        )

    wait_for(restored, T, "image, HPA and Service restored")
    labels = (kubectl.get("deployment", "acme-webhook", ns) or {})["metadata"]["labels"]
    assert labels["tier"] == "hacked", "fields we do not own are left alone"


def test_paused_tenant_is_left_alone(
    kubectl: Kubectl, ns: str, operator: OperatorProcess, example_docs: Docs
) -> None:
    _deployed(kubectl, ns, example_docs("01-acme-retail"))
    kubectl.patch("supportbot", "acme", ns, {"spec": {"paused": True}})
    wait_for(
        lambda: (kubectl.condition("acme", ns, "Paused") or {}).get("status") == "True", T, "Paused"
    )
    paused_before = operator.total("supportbot_operator_reconciles_total", result="paused")
    kubectl.run("delete", "service", "acme-webhook", "-n", ns)
    kubectl.run("set", "image", "-n", ns, "deployment/acme-worker", "worker=manual.invalid/x:2")
    # The operator keeps looking (events + 5 s resync) but must not touch anything.
    wait_for(
        lambda: (
            operator.total("supportbot_operator_reconciles_total", result="paused")
            >= paused_before + 2
        ),
        T,
        "paused reconciles after the edits",
    )
    assert kubectl.get("service", "acme-webhook", ns) is None
    worker = kubectl.get("deployment", "acme-worker", ns) or {}
    assert worker["spec"]["template"]["spec"]["containers"][0]["image"] == "manual.invalid/x:2"
    assert (kubectl.condition("acme", ns, "Reconciling") or {}).get("reason") == "Paused"
    kubectl.patch("supportbot", "acme", ns, {"spec": {"paused": False}})
    wait_for(
        lambda: kubectl.get("service", "acme-webhook", ns), T, "Service recreated after resume"
    )


def test_pause_annotation(kubectl: Kubectl, ns: str, example_docs: Docs) -> None:
    _deployed(kubectl, ns, example_docs("01-acme-retail"))
    kubectl.run("annotate", "supportbot", "acme", "-n", ns, f"{names.ANNOTATION_PAUSED}=true")
    wait_for(
        lambda: (kubectl.condition("acme", ns, "Paused") or {}).get("status") == "True", T, "Paused"
    )


def test_missing_secret_is_degraded_until_created(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    docs = example_docs("01-acme-retail")
    secrets = [d for d in docs if d["kind"] == "Secret"]
    kubectl.apply(ns, *[d for d in docs if d["kind"] != "Secret"])
    cond = kubectl.wait_condition("acme", ns, "Degraded", "True")
    assert cond["reason"] == "SecretNotFound"
    assert "Secret 'acme-openrouter' (llm.apiKeySecretRef) does not exist" in cond["message"]
    assert kubectl.get("deployment", "acme-worker", ns) is None, (
        "nothing is deployed without its Secrets"
    )
    kubectl.apply(ns, *secrets)
    wait_for(
        lambda: kubectl.get("deployment", "acme-worker", ns),
        T,
        "Deployments after the Secrets appear",
    )
    wait_for(
        lambda: (kubectl.condition("acme", ns, "Degraded") or {}).get("status") == "False",
        T,
        "recovered",
    )


def test_missing_flow_configmap_holds_until_created(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    docs = example_docs("01-acme-retail")
    kubectl.apply(ns, *[d for d in docs if d["kind"] != "ConfigMap"])
    cond = kubectl.wait_condition("acme", ns, "Degraded", "True", reason="ConfigMapNotFound")
    assert (cond["reason"], cond["message"]) == (
        "ConfigMapNotFound",
        "flow ConfigMap 'acme-flow' does not exist",
    )
    assert kubectl.get("deployment", "acme-worker", ns) is None, "no flow yet: nothing deployed"
    kubectl.apply(ns, *[d for d in docs if d["kind"] == "ConfigMap"])
    wait_for(
        lambda: kubectl.get("deployment", "acme-worker", ns), T, "Deployments once the flow exists"
    )
    kubectl.wait_condition("acme", ns, "Degraded", "False")


def test_missing_key_is_named(kubectl: Kubectl, ns: str, example_docs: Docs) -> None:
    docs = example_docs("01-acme-retail")
    for d in docs:
        if d["kind"] == "Secret" and d["metadata"]["name"] == "acme-storage":
            del d["stringData"]["postgres-dsn"]
    kubectl.apply(ns, *docs)
    cond = kubectl.wait_condition("acme", ns, "Degraded", "True", reason="SecretKeyNotFound")
    assert "'postgres-dsn'" in cond["message"]


def test_foreign_object_with_a_child_name_is_not_taken_over(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "acme-webhook"},
        "spec": {"ports": [{"port": 1234}], "selector": {"app": "mine"}},
    }
    kubectl.apply(ns, foreign)
    kubectl.apply(ns, *example_docs("01-acme-retail"))
    kubectl.wait_condition("acme", ns, "Degraded", "True", reason="NameConflict")
    svc = kubectl.get("service", "acme-webhook", ns) or {}
    assert svc["spec"]["ports"][0]["port"] == 1234 and "ownerReferences" not in svc["metadata"]
    assert kubectl.get("deployment", "acme-worker", ns), "the other children are still deployed"


def test_optional_children_are_removed_when_switched_off(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    kubectl.apply(ns, *example_docs("02-globex-telecom"))
    wait_for(
        lambda: kubectl.get("ingress", "globex", ns) and kubectl.get("networkpolicy", "globex", ns),
        T,
        "optional children",
    )
    kubectl.patch(
        "supportbot",
        "globex",
        ns,
        {"spec": {"ingress": {"enabled": False}, "networkPolicy": {"enabled": False}}},
    )
    wait_for(
        lambda: (
            kubectl.get("ingress", "globex", ns) is None
            and kubectl.get("networkpolicy", "globex", ns) is None
        ),
        T,
        "Ingress and NetworkPolicy deleted",
    )
