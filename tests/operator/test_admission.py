"""The admission webhook's decisions, without a cluster."""

from __future__ import annotations

from typing import Any

from supportbot_operator import admission
from supportbot_operator.flowcheck import load_validator


def _bot(name: str, number: str, created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "t", "creationTimestamp": created},
        "spec": {"whatsapp": {"integratedNumber": number}},
    }


def test_supportbot_refusals() -> None:
    holder = _bot("acme", "919100000001")
    new = {"metadata": {"name": "copy", "namespace": "u"}, "spec": holder["spec"]}
    refusal = admission.supportbot_refusal(new, None, [holder])
    assert refusal is not None and "SupportBot t/acme" in refusal
    assert admission.supportbot_refusal(new, None, [_bot("acme", "14155550123")]) is None
    # Updates: keeping the number is fine; moving onto a taken one is not.
    assert admission.supportbot_refusal(holder, holder, [holder]) is None
    moved = _bot("other", "919100000001")
    assert admission.supportbot_refusal(moved, _bot("other", "1234567890"), [holder]) is not None
    assert admission.supportbot_refusal({"spec": {}}, None, [holder]) is None


def test_flow_errors_use_the_bots_validator_per_key() -> None:
    validate = load_validator()
    errors = admission.flow_errors({"flow.yaml": "version: 1\nstart: x\n", "notes": "?"}, validate)
    assert errors and all(e.startswith("flow.yaml: line ") for e in errors), errors
    assert admission.flow_errors({"README": "x"}, validate)[0].startswith("a ConfigMap labelled")
    many = admission.flow_errors({f"f{i}.yaml": "- a list\n" for i in range(30)}, validate)
    assert len(many) == admission.MAX_FLOW_ERRORS + 1 and many[-1] == "(+10 more)"
