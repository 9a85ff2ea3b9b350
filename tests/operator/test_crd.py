"""The CRD in crds/ is structural, its defaults match the operator's spec model, and the Helm
chart's copy is generated from it."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from supportbot_operator import crdsync, names, schemacheck, spec
from supportbot_operator.spec import SupportBotSpec


def test_names_and_scope(crd: dict[str, Any]) -> None:
    s = crd["spec"]
    assert crd["metadata"]["name"] == names.CRD_NAME == "supportbots.supportbot.dev"
    assert s["group"] == "supportbot.dev" and s["scope"] == "Namespaced"
    assert s["names"] == {
        "kind": "SupportBot",
        "listKind": "SupportBotList",
        "plural": "supportbots",
        "singular": "supportbot",
        "shortNames": ["sbot"],
        "categories": ["supportbot"],
    }
    (version,) = s["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}


def test_schema_is_structural(crd_schema: dict[str, Any]) -> None:
    assert schemacheck.structural_problems(crd_schema) == []


def test_status_leaves_room_for_kopf_and_has_condition_shape(crd_schema: dict[str, Any]) -> None:
    status = crd_schema["properties"]["status"]["properties"]
    assert status["kopf"]["x-kubernetes-preserve-unknown-fields"] is True
    cond = status["conditions"]
    assert cond["x-kubernetes-list-type"] == "map" and cond["x-kubernetes-list-map-keys"] == [
        "type"
    ]
    assert set(cond["items"]["required"]) == {
        "type",
        "status",
        "lastTransitionTime",
        "reason",
        "message",
    }
    for field in ("observedGeneration", "webhook", "worker", "endpoint", "flowHash", "secretsHash"):
        assert field in status


def test_printer_columns(crd: dict[str, Any]) -> None:
    cols = {c["name"]: c for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert [c for c in cols if not cols[c].get("priority")] == [
        "Number",
        "Ready",
        "Webhook",
        "Worker",
        "Age",
    ]
    assert cols["Models"]["priority"] == 1 and cols["Flow"]["priority"] == 1
    assert cols["Provider"] == {
        "name": "Provider",
        "type": "string",
        "jsonPath": ".spec.whatsapp.provider",
        "description": "who carries the tenant's WhatsApp traffic (msg91 or meta)",
        "priority": 1,
    }
    assert cols["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'


def _model_aliases(model: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        out[info.alias or name] = info
    return out


def _walk(schema: dict[str, Any], model: type[BaseModel], path: str) -> list[str]:
    """Properties known to the CRD but not to the model (or the other way round)."""
    problems = []
    if schema.get("type") == "array":
        schema = schema["items"]
    props = schema.get("properties", {})
    fields = _model_aliases(model)
    for missing in sorted(set(props) ^ set(fields)):
        problems.append(f"{path}.{missing}")
    for key in set(props) & set(fields):
        sub = fields[key].annotation
        for candidate in getattr(sub, "__args__", (sub,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                problems.extend(_walk(props[key], candidate, f"{path}.{key}"))
    return problems


def test_spec_model_knows_every_crd_field(crd_schema: dict[str, Any]) -> None:
    assert _walk(crd_schema["properties"]["spec"], SupportBotSpec, "spec") == []


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_empty(v) for k, v in value.items() if v not in ({}, [], None)}
    return value


def test_model_defaults_equal_crd_defaults(
    crd_schema: dict[str, Any], minimal_spec: dict[str, Any]
) -> None:
    by_crd = schemacheck.apply_defaults({"spec": minimal_spec}, crd_schema)["spec"]
    by_model = SupportBotSpec.model_validate(minimal_spec).model_dump(
        by_alias=True, exclude_none=True
    )
    assert _drop_empty(by_model) == _drop_empty(by_crd)


def test_crd_values_reach_the_model(
    crd_schema: dict[str, Any], minimal_spec: dict[str, Any]
) -> None:
    body = {
        "metadata": {"name": "x"},
        "spec": {
            **minimal_spec,
            "webhook": {"autoscaling": {"targetCPUUtilizationPercentage": 55}},
        },
    }
    parsed = spec.parse(schemacheck.apply_defaults(body, crd_schema))
    assert parsed.spec.webhook.autoscaling.target_cpu_utilization_percentage == 55
    assert parsed.spec.webhook.min_replicas == 2


def test_number_pattern_matches_the_bot_settings(crd_schema: dict[str, Any]) -> None:
    from supportbot import settings as bot_settings

    pattern = crd_schema["properties"]["spec"]["properties"]["whatsapp"]["properties"][
        "integratedNumber"
    ]["pattern"]
    assert pattern == bot_settings._NUMBER_RE.pattern
    for good in ("919123456789", "14155550123", "4930123456"):
        assert re.fullmatch(pattern, good)
    for bad in ("+919123456789", "0919123456", "12345", "9191234567891234", "91 9123 456789"):
        assert not re.fullmatch(pattern, bad)


def test_chart_copy_is_generated_from_the_source(crd_text: str) -> None:
    crdsync.check()
    rendered = crdsync.render_chart_crd(crd_text)
    assert rendered.startswith("{{- if .Values.crds.install }}")
    assert "helm.sh/resource-policy: keep" in rendered
