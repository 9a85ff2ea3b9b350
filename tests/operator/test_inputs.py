"""Resolving a tenant's Secret and ConfigMap references into hashes or problems."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from supportbot_operator import inputs, spec

Body = dict[str, Any]


def _lookup(objects: dict[str, dict[str, str]]) -> inputs.Lookup:
    return lambda name: objects.get(name)


def _secrets(**changes: dict[str, str]) -> dict[str, dict[str, str]]:
    base = {
        "wa": inputs.key_digests({"auth-key": "a", "webhook-secret": "w"}),
        "or": inputs.key_digests({"api-key": "o"}),
        "store": inputs.key_digests({"redis": "r", "pg": "p"}),
    }
    base.update(changes)
    return base


def test_secrets_hash_is_stable_and_changes_with_any_value(make_body: Callable[..., Body]) -> None:
    bot = spec.parse(make_body())
    a = inputs.resolve_secrets(bot, _lookup(_secrets()))
    b = inputs.resolve_secrets(bot, _lookup(_secrets()))
    rotated = inputs.resolve_secrets(
        bot, _lookup(_secrets(**{"or": inputs.key_digests({"api-key": "o2"})}))
    )
    unrelated = inputs.resolve_secrets(
        bot, _lookup(_secrets(**{"or": inputs.key_digests({"api-key": "o", "unused": "x"})}))
    )
    assert a.problems == () and len(a.hash) == 16
    assert a.hash == b.hash == unrelated.hash
    assert rotated.hash != a.hash


def test_missing_secret_and_key_are_named(make_body: Callable[..., Body]) -> None:
    bot = spec.parse(make_body())
    objs = _secrets(wa=inputs.key_digests({"auth-key": "a"}))
    del objs["store"]
    result = inputs.resolve_secrets(bot, _lookup(objs))
    assert result.hash == ""
    reasons = {(p.reason, p.message) for p in result.problems}
    assert (
        "SecretKeyNotFound",
        "Secret 'wa' has no key 'webhook-secret' (whatsapp.webhookSecretRef)",
    ) in reasons
    assert (
        "SecretNotFound",
        "Secret 'store' (storage.postgresDsnSecretRef) does not exist",
    ) in reasons
    assert len(result.problems) == 3


def test_flow_source(make_body: Callable[..., Body]) -> None:
    bot = spec.parse(make_body())
    digest, problem = inputs.flow_source_problem(
        bot, _lookup({"flow": inputs.key_digests({"flow.yaml": "version: 1\n"})})
    )
    assert (
        problem is None and digest is not None and digest[:16] == inputs.flow_hash("version: 1\n")
    )
    _, problem = inputs.flow_source_problem(bot, _lookup({}))
    assert problem is not None and problem.reason == "ConfigMapNotFound"
    _, problem = inputs.flow_source_problem(bot, _lookup({"flow": {"other": "x"}}))
    assert problem is not None and problem.reason == "ConfigMapKeyNotFound"


def test_invalid_flow_message_is_bounded() -> None:
    problem = inputs.invalid_flow([f"line {i}: bad" for i in range(9)], previous=True)
    assert problem.reason == "InvalidFlow"
    assert "keeping the previous version" in problem.message
    assert "line 4: bad" in problem.message and "line 5: bad" not in problem.message
    assert problem.message.endswith("(+4 more)")


def test_invalid_flow_without_a_previous_version_says_nothing_is_deployed() -> None:
    problem = inputs.invalid_flow(["start: unknown node 'nowhere'"], previous=False)
    assert "previous version" not in problem.message
    assert "nothing is deployed until it is fixed" in problem.message
