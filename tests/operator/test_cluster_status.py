"""A status that tells the truth, on a real API server (API-only control plane): a spec
change held by a pause is not reported as done; held tenants say what is (not) deployed; a
child the API server refuses leaves no half-built tenant and no hot retry loop; `kubectl
explain` and `kubectl get -o wide` are readable."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from supportbot_operator import names
from supportbot_operator.testing import ACME_CHILDREN, Kubectl, OperatorProcess, wait_for

pytestmark = pytest.mark.cluster
Docs = Callable[[str], list[dict[str, Any]]]
T = 30.0


def _bot(docs: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in docs if d["kind"] == names.KIND)
    return found


def _sbot(k: Kubectl, ns: str, name: str = "acme") -> dict[str, Any]:
    return k.get("supportbot", name, ns) or {}


def _conditions(k: Kubectl, ns: str, name: str = "acme") -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (_sbot(k, ns, name).get("status") or {}).get("conditions", [])}


def _env(k: Kubectl, ns: str, deployment: str) -> dict[str, str]:
    dep = k.get("deployment", deployment, ns) or {}
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def _events(k: Kubectl, ns: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in k.items("events", ns) if e["reason"] == reason]


def _seen(k: Kubectl, ns: str, generation: int) -> dict[str, dict[str, Any]] | None:
    """The conditions once the operator has reported on `generation`."""
    conds = _conditions(k, ns)
    ready = conds.get("Ready")
    return conds if ready and ready.get("observedGeneration") == generation else None


def _deployed(k: Kubectl, ns: str, docs: list[dict[str, Any]]) -> None:
    k.apply(ns, *docs)
    wait_for(lambda: all(k.get(kind, name, ns) for kind, name in ACME_CHILDREN), T, "every child")
    k.wait_condition("acme", ns, "Degraded", "False")


# --- paused ------------------------------------------------------------------------------
def test_a_spec_change_held_by_a_pause_is_not_reported_as_done(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    _deployed(kubectl, ns, example_docs("01-acme-retail"))
    gen = int(_sbot(kubectl, ns)["metadata"]["generation"])
    wait_for(lambda: _sbot(kubectl, ns)["status"].get("observedGeneration") == gen, T, "observed")
    concurrency = _env(kubectl, ns, "acme-worker")["SUPPORTBOT_WORKER_CONCURRENCY"]
    kubectl.run("annotate", "supportbot", "acme", "-n", ns, f"{names.ANNOTATION_PAUSED}=true")
    kubectl.wait_condition("acme", ns, "Paused", "True")

    kubectl.patch("supportbot", "acme", ns, {"spec": {"worker": {"concurrency": 7}}})
    changed = int(_sbot(kubectl, ns)["metadata"]["generation"])
    assert changed == gen + 1
    conds = wait_for(lambda: _seen(kubectl, ns, changed), T, "the operator's report on the edit")
    assert conds is not None
    status = _sbot(kubectl, ns)["status"]
    assert status["observedGeneration"] == gen, "the edit is not applied, so not observed as done"
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", "Paused")
    assert "Deployment/acme-worker" in conds["Ready"]["message"], conds["Ready"]
    assert (conds["Reconciling"]["status"], conds["Reconciling"]["reason"]) == ("False", "Paused")
    assert "not applied" in conds["Reconciling"]["message"]
    assert _env(kubectl, ns, "acme-worker")["SUPPORTBOT_WORKER_CONCURRENCY"] == concurrency

    kubectl.run("annotate", "supportbot", "acme", "-n", ns, f"{names.ANNOTATION_PAUSED}-")
    wait_for(
        lambda: _env(kubectl, ns, "acme-worker")["SUPPORTBOT_WORKER_CONCURRENCY"] == "7",
        T,
        "the held edit applied on resume",
    )
    wait_for(
        lambda: _sbot(kubectl, ns)["status"].get("observedGeneration") == changed,
        T,
        "observedGeneration after resume",
    )


def test_a_pause_without_pending_changes_keeps_the_generation(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    """Pausing through spec.paused bumps the generation but changes no child: nothing is
    pending, so the pause itself is observed."""
    _deployed(kubectl, ns, example_docs("01-acme-retail"))
    kubectl.patch("supportbot", "acme", ns, {"spec": {"paused": True}})
    gen = int(_sbot(kubectl, ns)["metadata"]["generation"])
    conds = wait_for(lambda: _seen(kubectl, ns, gen), T, "the report on the pause")
    assert conds is not None
    assert conds["Paused"]["status"] == "True"
    assert _sbot(kubectl, ns)["status"]["observedGeneration"] == gen
    assert conds["Ready"]["reason"] != "Paused", "nothing pending: readiness as usual"


# --- held states -------------------------------------------------------------------------
def test_a_held_new_tenant_does_not_claim_children_or_a_previous_version(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    docs = example_docs("01-acme-retail")
    secrets = [d for d in docs if d["kind"] == "Secret"]
    flow = next(d for d in docs if d["kind"] == "ConfigMap")
    good = dict(flow["data"])
    flow["data"] = {k: v.replace("start: main_menu", "start: nowhere") for k, v in good.items()}
    kubectl.apply(ns, *[d for d in docs if d["kind"] != "Secret"])
    kubectl.wait_condition("acme", ns, "Degraded", "True", reason="SecretNotFound")
    conds = _conditions(kubectl, ns)
    assert "children match the spec" not in conds["Reconciling"]["message"], conds["Reconciling"]
    assert conds["Reconciling"]["reason"] == "Held"
    assert "nothing is deployed yet" in conds["Reconciling"]["message"]

    kubectl.apply(ns, *secrets)  # now only the (invalid) flow holds it
    cond = kubectl.wait_condition("acme", ns, "Degraded", "True", reason="InvalidFlow")
    assert "previous version" not in cond["message"], "there is no previous version"
    assert "nowhere" in cond["message"]
    assert kubectl.get("deployment", "acme-worker", ns) is None

    flow["data"] = good
    kubectl.apply(ns, flow)
    kubectl.wait_condition("acme", ns, "Degraded", "False")
    (recovered,) = wait_for(lambda: _events(kubectl, ns, "Recovered"), T, "a Recovered event")
    # API-only: no pod can ever run here, so no event may claim healthy pods.
    assert "pods healthy" not in recovered["message"], recovered["message"]


def test_invalid_flow_of_a_running_tenant_keeps_the_previous_version(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    docs = example_docs("01-acme-retail")
    _deployed(kubectl, ns, docs)
    flow = next(d for d in docs if d["kind"] == "ConfigMap")
    flow["data"] = {
        k: v.replace("start: main_menu", "start: nowhere") for k, v in flow["data"].items()
    }
    kubectl.apply(ns, flow)
    cond = kubectl.wait_condition("acme", ns, "Degraded", "True", reason="InvalidFlow")
    assert "keeping the previous version" in cond["message"]
    reconciling = _conditions(kubectl, ns)["Reconciling"]
    assert "children match the spec" not in reconciling["message"]


# --- resource sanity ---------------------------------------------------------------------
def test_a_child_the_api_refuses_leaves_nothing_half_built_and_is_not_retried_hot(
    kubectl: Kubectl, ns: str, operator: OperatorProcess, example_docs: Docs
) -> None:
    """An extended resource requested without a limit passes the CRD (it cannot know which
    resources are overcommittable) but the API server refuses the Deployment with 422."""
    docs = example_docs("01-acme-retail")
    _bot(docs)["spec"]["webhook"] = {"resources": {"requests": {"example.com/widget": "1"}}}
    errors_before = operator.total("supportbot_operator_reconciles_total", result="error")
    kubectl.apply(ns, *docs)
    cond = kubectl.wait_condition("acme", ns, "Degraded", "True", reason="ApplyRejected")
    assert "Deployment acme-webhook" in cond["message"]
    assert "Limit must be set for non overcommitable resources" in cond["message"], cond
    ready = _conditions(kubectl, ns)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "ApplyRejected")
    for kind, name in ACME_CHILDREN:
        assert kubectl.get(kind, name, ns) is None, f"{kind}/{name} created for a refused tenant"
    (warning,) = _events(kubectl, ns, "ApplyRejected")
    assert warning["type"] == "Warning"

    # Not retried hot: resyncs (every 5 s here) come and go without another attempt.
    writes = operator.total("supportbot_operator_api_writes_total", kind="Deployment")
    rejected = operator.total("supportbot_operator_reconciles_total", result="rejected")
    wait_for(
        lambda: (
            operator.total("supportbot_operator_reconciles_total", result="rejected")
            >= rejected + 2
        ),
        T,
        "two more passes over the refused tenant",
    )
    assert operator.total("supportbot_operator_api_writes_total", kind="Deployment") == writes
    assert (
        operator.total("supportbot_operator_reconciles_total", result="error") == errors_before
    ), "a permanent refusal is no error to back off from"

    kubectl.patch(
        "supportbot",
        "acme",
        ns,
        {"spec": {"webhook": {"resources": {"limits": {"example.com/widget": "1"}}}}},
    )
    wait_for(lambda: all(kubectl.get(k, n, ns) for k, n in ACME_CHILDREN), T, "every child")
    kubectl.wait_condition("acme", ns, "Degraded", "False")


def test_a_refused_edit_keeps_the_running_version_whole(
    kubectl: Kubectl, ns: str, example_docs: Docs
) -> None:
    docs = example_docs("01-acme-retail")
    _deployed(kubectl, ns, docs)
    before = {
        d: (kubectl.get("deployment", d, ns) or {})["metadata"]["generation"]
        for d in ("acme-webhook", "acme-worker")
    }
    # One edit touching both Deployments; the worker's half is refused by the API server.
    kubectl.patch(
        "supportbot",
        "acme",
        ns,
        {
            "spec": {
                "logLevel": "DEBUG",
                "worker": {"resources": {"requests": {"example.com/widget": "1"}}},
            }
        },
    )
    kubectl.wait_condition("acme", ns, "Degraded", "True", reason="ApplyRejected")
    after = {d: (kubectl.get("deployment", d, ns) or {})["metadata"]["generation"] for d in before}
    assert after == before, "neither Deployment got half of the edit"
    reconciling = _conditions(kubectl, ns)["Reconciling"]["message"]
    assert "refused the change, so none of it was applied" in reconciling, reconciling


# --- kubectl explain / get -o wide -------------------------------------------------------
def _undescribed(schema: dict[str, Any], path: str) -> list[str]:
    out: list[str] = []
    for key, sub in (schema.get("properties") or {}).items():
        here = f"{path}.{key}"
        node = sub
        if "allOf" in node and not node.get("description"):  # $ref wrappers in OpenAPI v3
            node = {**node, **node["allOf"][0]}
        if not node.get("description"):
            out.append(here)
        out.extend(_undescribed(node, here))
    items = schema.get("items")
    if isinstance(items, dict):
        out.extend(_undescribed(items, f"{path}[]"))
    return out


def test_every_spec_field_is_explained(kubectl: Kubectl) -> None:
    doc = json.loads(kubectl.run("get", "--raw", f"/openapi/v3/apis/{names.GROUP}/v1alpha1").stdout)
    schemas = doc["components"]["schemas"]
    (bot,) = [s for key, s in schemas.items() if key.endswith(".v1alpha1.SupportBot")]
    assert _undescribed(bot["properties"]["spec"], "spec") == []
    for field in (
        "worker.autoscaling",
        "imagePullSecrets",
        "logLevel",
        "ingress.enabled",
        "whatsapp.provider",
        "whatsapp.meta",
        "whatsapp.meta.verifyTokenSecretRef",
    ):
        out = kubectl.run("explain", f"supportbots.spec.{field}").stdout
        description = out.split("DESCRIPTION:", 1)[1].split("FIELDS:", 1)[0].strip()
        assert description and description != "<empty>", (field, out)
    provider = kubectl.run("explain", "supportbots.spec.whatsapp.provider").stdout
    assert "/webhooks/meta" in provider and "/webhooks/msg91/inbound" in provider, provider


def test_wide_output_shows_models_readably(kubectl: Kubectl, ns: str, example_docs: Docs) -> None:
    _deployed(kubectl, ns, example_docs("01-acme-retail"))
    out = wait_for(
        lambda: (lambda text: text if "gpt-4o-mini" in text else "")(
            kubectl.run("get", "supportbot", "acme", "-n", ns, "-o", "wide").stdout
        ),
        T,
        "the Models column",
    )
    assert "openai/gpt-4o-mini, anthropic/claude-3.5-haiku" in out, out
    assert '["' not in out, out
