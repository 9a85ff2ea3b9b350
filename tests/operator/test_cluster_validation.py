"""Invalid SupportBots are rejected by the API server at apply time, with messages that say what
is wrong (structural schema + CEL rules of the CRD in crds/)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from supportbot_operator.testing import Kubectl

pytestmark = pytest.mark.cluster
DELETE = object()
NUMBER_MSG = "integratedNumber must be an E.164 number without '+'"

CASES: list[tuple[str, list[tuple[str, Any]], list[str]]] = [
    ("no-whatsapp", [("spec.whatsapp", DELETE)], ["spec.whatsapp: Required value"]),
    ("no-llm", [("spec.llm", DELETE)], ["spec.llm: Required value"]),
    ("no-flow", [("spec.flow", DELETE)], ["spec.flow: Required value"]),
    ("no-storage", [("spec.storage", DELETE)], ["spec.storage: Required value"]),
    (
        "no-number",
        [("spec.whatsapp.integratedNumber", DELETE)],
        ["spec.whatsapp.integratedNumber: Required value"],
    ),
    (
        "no-auth-key",
        [("spec.whatsapp.authKeySecretRef", DELETE)],
        ["spec.whatsapp.authKeySecretRef: Required value"],
    ),
    (
        "no-webhook-secret",
        [("spec.whatsapp.webhookSecretRef", DELETE)],
        ["spec.whatsapp.webhookSecretRef: Required value"],
    ),
    (
        "no-api-key",
        [("spec.llm.apiKeySecretRef", DELETE)],
        ["spec.llm.apiKeySecretRef: Required value"],
    ),
    ("no-models", [("spec.llm.models", DELETE)], ["spec.llm.models: Required value"]),
    (
        "no-configmap",
        [("spec.flow.configMapRef", DELETE)],
        ["spec.flow.configMapRef: Required value"],
    ),
    (
        "no-redis",
        [("spec.storage.redisUrlSecretRef", DELETE)],
        ["spec.storage.redisUrlSecretRef: Required value"],
    ),
    (
        "no-postgres",
        [("spec.storage.postgresDsnSecretRef", DELETE)],
        ["spec.storage.postgresDsnSecretRef: Required value"],
    ),
    (
        "ref-without-key",
        [("spec.whatsapp.authKeySecretRef.key", DELETE)],
        ["spec.whatsapp.authKeySecretRef.key: Required value"],
    ),
    ("number-plus", [("spec.whatsapp.integratedNumber", "+919123456789")], [NUMBER_MSG]),
    ("number-leading-zero", [("spec.whatsapp.integratedNumber", "0919123456")], [NUMBER_MSG]),
    ("number-too-short", [("spec.whatsapp.integratedNumber", "1234567")], [NUMBER_MSG]),
    ("number-too-long", [("spec.whatsapp.integratedNumber", "1234567890123456")], [NUMBER_MSG]),
    ("number-spaces", [("spec.whatsapp.integratedNumber", "91 91234 56789")], [NUMBER_MSG]),
    (
        "number-not-a-string",
        [("spec.whatsapp.integratedNumber", 919123456789)],
        ["integratedNumber", "must be of type string"],
    ),
    (
        "inline-secret",
        [("spec.whatsapp.authKey", "plaintext")],
        ['unknown field "spec.whatsapp.authKey"'],
    ),
    ("no-model", [("spec.llm.models", [])], ["spec.llm.models", "should have at least 1 items"]),
    (
        "four-models",
        [("spec.llm.models", ["a/b", "c/d", "e/f", "g/h"])],
        ["spec.llm.models", "must have at most 3 items"],
    ),
    (
        "repeated-model",
        [("spec.llm.models", ["a/b", "a/b"])],
        ["llm.models must not repeat a model"],
    ),
    ("model-id", [("spec.llm.models", ["gpt-4"])], ["spec.llm.models[0]", "should match"]),
    (
        "temperature",
        [("spec.llm.temperature", 3)],
        ["spec.llm.temperature", "less than or equal to 2"],
    ),
    (
        "provider",
        [("spec.whatsapp.provider", "twilio")],
        ['spec.whatsapp.provider: Unsupported value: "twilio"'],
    ),
    (
        "secret-name",
        [("spec.llm.apiKeySecretRef.name", "Bad_Name")],
        ["spec.llm.apiKeySecretRef.name", "should match"],
    ),
    (
        "webhook-min-max",
        [("spec.webhook", {"minReplicas": 6, "maxReplicas": 5})],
        ["webhook.minReplicas must be less than or equal to webhook.maxReplicas"],
    ),
    (
        "worker-min-max",
        [("spec.worker", {"minReplicas": 4, "maxReplicas": 2})],
        ["worker.minReplicas must be less than or equal to worker.maxReplicas"],
    ),
    (
        "queue-target",
        [("spec.worker", {"autoscaling": {"metric": "QueueDepth"}})],
        ["targetAverageValue is required when metric is QueueDepth or InFlightTurns"],
    ),
    (
        "ingress-host",
        [("spec.ingress", {"enabled": True})],
        ["ingress.host is required when ingress.enabled is true"],
    ),
    (
        "agent-api-without-secret",
        [("spec.agentApi", {"enabled": True})],
        ["agentApi.jwtSecretRef is required when the agent API is enabled"],
    ),
    (
        "agent-api-defaulted-on-without-secret",
        [("spec.agentApi", {"exposeViaIngress": False})],
        ["agentApi.jwtSecretRef is required when the agent API is enabled"],
    ),
    (
        "handoff-webhook-plain-http",
        [
            (
                "spec.handoff",
                {
                    "webhook": {
                        "url": "http://crm.example.com/h",
                        "secretRef": {"name": "h", "key": "k"},
                    }
                },
            )
        ],
        ["handoff.webhook.url must be https unless allowInsecureHttp is true"],
    ),
    (
        "handoff-webhook-without-secret",
        [("spec.handoff", {"webhook": {"url": "https://crm.example.com/h"}})],
        ["spec.handoff.webhook.secretRef: Required value"],
    ),
    (
        "agent-api-inline-secret",
        [("spec.agentApi", {"jwtSecret": "plaintext"})],
        ['unknown field "spec.agentApi.jwtSecret"'],
    ),
    (
        "worker-cpu-request-above-limit",
        [("spec.worker", {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}})],
        ["worker.resources.requests.cpu (2) must not exceed worker.resources.limits.cpu (1500m)"],
    ),
    (
        "webhook-memory-request-above-limit",
        [
            (
                "spec.webhook",
                {"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}}},
            )
        ],
        ["webhook.resources.requests.memory (1Gi) must not exceed webhook.resources.limits.memory"],
    ),
    (
        "other-request-above-limit",
        [
            (
                "spec.worker",
                {
                    "resources": {
                        "requests": {"ephemeral-storage": "2Gi"},
                        "limits": {"ephemeral-storage": 1000},
                    }
                },
            )
        ],
        ["worker.resources: a request must not exceed its limit"],
    ),
    ("log-level", [("spec.logLevel", "TRACE")], ['spec.logLevel: Unsupported value: "TRACE"']),
    ("name-too-long", [("metadata.name", "a" * 41)], ["at most 40 characters"]),
    ("name-digit", [("metadata.name", "1acme")], ["starting with a letter"]),
    (
        "reserved-flow",
        [("spec.flow.configMapRef.name", "acme-validated-flow")],
        ["must not be <name>-validated-flow"],
    ),
]


def _mutate(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value


@pytest.fixture(scope="module")
def val_ns(make_namespace_module: Callable[[str], str]) -> str:
    return make_namespace_module("val")  # not watched by the operator


@pytest.mark.parametrize(("case", "edits", "expected"), CASES, ids=[c[0] for c in CASES])
def test_invalid_spec_is_rejected(
    kubectl: Kubectl,
    val_ns: str,
    example_docs: Callable[[str], list[dict[str, Any]]],
    case: str,
    edits: list[tuple[str, Any]],
    expected: list[str],
) -> None:
    bot = copy.deepcopy(
        next(d for d in example_docs("01-acme-retail") if d["kind"] == "SupportBot")
    )
    for path, value in edits:
        _mutate(bot, path, value)
    res = kubectl.apply(val_ns, bot, check=False)
    assert res.returncode != 0, f"{case} was accepted"
    for text in expected:
        assert text in res.stderr, f"{case}: {text!r} not in:\n{res.stderr}"


def test_the_unmodified_example_is_accepted(
    kubectl: Kubectl, val_ns: str, example_docs: Callable[[str], list[dict[str, Any]]]
) -> None:
    bot = next(d for d in example_docs("01-acme-retail") if d["kind"] == "SupportBot")
    res = kubectl.apply(val_ns, bot, check=False)
    assert res.returncode == 0, res.stderr
    stored = kubectl.get("supportbot", "acme", val_ns) or {}
    assert stored["spec"]["webhook"]["autoscaling"] == {"targetCPUUtilizationPercentage": 70}, (
        "defaults applied"
    )
    assert stored["spec"]["flow"]["configMapRef"]["key"] == "flow.yaml"


def test_requests_up_to_their_limits_are_accepted(
    kubectl: Kubectl, val_ns: str, example_docs: Callable[[str], list[dict[str, Any]]]
) -> None:
    """Equal values in other units, integers, a request without a limit: all valid."""
    bot = copy.deepcopy(
        next(d for d in example_docs("01-acme-retail") if d["kind"] == "SupportBot")
    )
    bot["metadata"]["name"] = "sized"
    bot["spec"]["worker"] = {
        "resources": {
            "requests": {"cpu": "1000m", "memory": "512Mi", "ephemeral-storage": "1Gi"},
            "limits": {"cpu": 1, "memory": "0.5Gi"},
        }
    }
    res = kubectl.apply(val_ns, bot, check=False)
    assert res.returncode == 0, res.stderr
