"""examples/: every SupportBot validates against the CRD schema, references only objects its
directory defines, and its flow passes the bot's validator."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from supportbot_operator import flowcheck, schemacheck, spec, view

Docs = list[tuple[str, dict[str, Any]]]


def _by_dir(examples: Docs) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path, doc in examples:
        out[path.rsplit("/", 1)[0]].append(doc)
    return out


def test_tenants_that_differ(examples: Docs) -> None:
    bots = [spec.parse(doc).spec for _, doc in examples if doc["kind"] == "SupportBot"]
    assert [bot.whatsapp.provider for bot in bots] == ["msg91", "msg91", "meta"]
    a, b, _ = bots
    assert len({bot.whatsapp.integrated_number for bot in bots}) == 3
    assert a.llm.models != b.llm.models
    assert len({bot.flow.config_map_ref for bot in bots}) == 3


def test_supportbots_match_the_crd_schema(examples: Docs, crd_schema: dict[str, Any]) -> None:
    for path, doc in examples:
        if doc["kind"] == "SupportBot":
            assert schemacheck.validate(doc, crd_schema) == [], path
            spec.parse(schemacheck.apply_defaults(doc, crd_schema))


def test_schema_check_catches_mistakes(examples: Docs, crd_schema: dict[str, Any]) -> None:
    bot = next(doc for _, doc in examples if doc["kind"] == "SupportBot")
    broken = {
        **bot,
        "spec": {
            **bot["spec"],
            "whatsapp": {**bot["spec"]["whatsapp"], "integratedNumber": "+91 98"},
        },
    }
    broken["spec"]["llm"] = {**bot["spec"]["llm"], "modles": ["x/y"]}
    errors = schemacheck.validate(broken, crd_schema)
    assert any("integratedNumber" in e for e in errors)
    assert any("llm.modles: unknown field" in e for e in errors)


def test_references_resolve_within_each_example(examples: Docs) -> None:
    for directory, docs in _by_dir(examples).items():
        have = {(d["kind"], d["metadata"]["name"]): d for d in docs}
        for bot in (d for d in docs if d["kind"] == "SupportBot"):
            parsed = spec.parse(bot).spec
            for ref in parsed.secret_refs().values():
                secret = have[("Secret", ref.name)]
                assert ref.key in secret.get("stringData", {}) | secret.get("data", {}), (
                    directory,
                    ref,
                )
            cm = have[("ConfigMap", parsed.flow.config_map_ref.name)]
            assert parsed.flow.config_map_ref.key in cm["data"], directory
            assert {
                k
                for _, k, _ in view.references(
                    {**bot, "metadata": {**bot["metadata"], "namespace": "n"}}
                )
            } == {"Secret", "ConfigMap"}


def test_example_flows_pass_the_bot_validator(examples: Docs) -> None:
    validate = flowcheck.load_validator()
    assert validate is not flowcheck.basic_validate, "supportbot.flow should be importable"
    for path, doc in examples:
        if doc["kind"] == "ConfigMap":
            for key, text in doc["data"].items():
                assert validate(text) == [], f"{path}:{key}"


def test_placeholders_only(examples: Docs) -> None:
    for path, doc in examples:
        if doc["kind"] == "Secret":
            for key, value in doc.get("stringData", {}).items():
                assert "REPLACE_ME" in value, f"{path}:{key} must be a placeholder"
