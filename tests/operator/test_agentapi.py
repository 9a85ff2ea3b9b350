"""`spec.agentApi`: the webhook pods serve the agent API under /api/v1 with a JWT secret and the
MSG91 delivery settings; off by default; secrets by reference; the JWT secret is a tracked input
(missing -> problem, rotation -> webhook rollout only); the status and Ingress show the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from supportbot.settings import env_var_names, load_settings
from supportbot_operator import inputs, names, render, schemacheck, spec, status, view
from supportbot_operator.errors import InvalidSpecError
from supportbot_operator.render import network
from supportbot_operator.settings import OperatorSettings

Body = dict[str, Any]
JWT = {"jwtSecretRef": {"name": "agents", "key": "jwt"}}
SECRETS = {
    ("wa", "auth-key"): "msg91-key",
    ("wa", "webhook-secret"): "s3cret",
    ("or", "api-key"): "or-key",
    ("store", "redis"): "redis://redis:6379/0",
    ("store", "pg"): "postgresql://bot@pg/bot",
    ("agents", "jwt"): "a-long-random-jwt-signing-secret-0123456789",
}
DIGESTS = {
    "wa": inputs.key_digests({"auth-key": "a", "webhook-secret": "w"}),
    "or": inputs.key_digests({"api-key": "o"}),
    "store": inputs.key_digests({"redis": "r", "pg": "p"}),
    "agents": inputs.key_digests({"jwt": "j"}),
}


def _inputs(bot: spec.SupportBot, digests: dict[str, dict[str, str]]) -> render.Inputs:
    state = inputs.resolve_secrets(bot, digests.get)
    assert state.problems == ()
    return render.Inputs("version: 1\n", "f1a9", state.hash, state.worker_hash)


def _kids(
    body: Body, settings: OperatorSettings, digests: Any = None
) -> dict[tuple[str, str], Body]:
    bot = spec.parse(body)
    children = render.render_children(bot, _inputs(bot, digests or DIGESTS), settings)
    return {(c["kind"], c["metadata"]["name"]): c for c in children}


def _env(dep: Body) -> list[Body]:
    env: list[Body] = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    return env


def _resolve(env: list[Body]) -> dict[str, str]:
    out = {}
    for var in env:
        if "value" in var:
            out[var["name"]] = var["value"]
        else:
            assert set(var["valueFrom"]) == {"secretKeyRef"}, var["name"]
            ref = var["valueFrom"]["secretKeyRef"]
            out[var["name"]] = SECRETS[(ref["name"], ref["key"])]
    return out


def test_crd_defaults_enabled_and_not_exposed(
    make_body: Callable[..., Body], crd_schema: dict[str, Any]
) -> None:
    body = make_body(agentApi=dict(JWT))
    assert body["spec"]["agentApi"] == {**JWT, "enabled": True, "exposeViaIngress": False}
    assert "agentApi" not in make_body()["spec"], "absent means off: no default object"
    assert schemacheck.validate(body, crd_schema) == []


def test_off_by_default_the_webhook_gets_no_delivery_credentials(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    for body in (make_body(), make_body(agentApi={**JWT, "enabled": False})):
        kids = _kids(body, op_settings)
        env = {v["name"] for v in _env(kids[("Deployment", "acme-webhook")])}
        assert env_var_names()["jwt_secret"] not in env
        assert env_var_names()["msg91_auth_key"] not in env
        assert "agentApi.jwtSecretRef" not in spec.parse(body).spec.secret_refs()
        assert network.endpoints(spec.parse(body), "cluster.local").agent_api is None


def test_enabled_webhook_environment_loads_as_bot_settings(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    whatsapp = {
        **make_body()["spec"]["whatsapp"],
        "sendRateLimitPerMinute": 321,
        "apiBaseUrl": "http://msg91-sim:8080",
        "outOfWindowTemplate": {"name": "followup", "language": "en_US", "params": ["Acme"]},
    }
    kids = _kids(make_body(agentApi=dict(JWT), whatsapp=whatsapp), op_settings)
    env = _env(kids[("Deployment", "acme-webhook")])
    assert {v["name"] for v in env} <= set(env_var_names().values())
    settings = load_settings(_resolve(env))
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == SECRETS[("agents", "jwt")]
    assert settings.msg91_auth_key is not None
    assert settings.msg91_auth_key.get_secret_value() == "msg91-key"
    assert settings.msg91_base_url == "http://msg91-sim:8080"
    assert settings.send_rate_limit_per_minute == 321
    assert settings.out_of_window_template_name == "followup"
    assert settings.out_of_window_template_language == "en_US"
    assert settings.out_of_window_template_params == ["Acme"]
    assert settings.database_url == "postgresql://bot@pg/bot"
    assert settings.openrouter_api_key is None, "the webhook never gets the LLM key"
    # The worker sends with the same delivery settings (one shared rate limit per number).
    worker = load_settings(_resolve(_env(kids[("Deployment", "acme-worker")])))
    assert worker.send_rate_limit_per_minute == settings.send_rate_limit_per_minute
    assert worker.out_of_window_template_name == settings.out_of_window_template_name
    assert worker.msg91_base_url == settings.msg91_base_url
    assert worker.jwt_secret is None, "the worker never gets the agents' signing secret"


def test_enabling_changes_only_the_webhook(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    off = _kids(make_body(), op_settings)
    on = _kids(make_body(agentApi=dict(JWT)), op_settings)
    changed = {key for key in off if off[key] != on[key]}
    assert changed == {("Deployment", "acme-webhook")}, "workers do not roll"


def test_jwt_rotation_rolls_the_webhook_not_the_worker(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    body = make_body(agentApi=dict(JWT))
    before = _kids(body, op_settings)
    after = _kids(body, op_settings, {**DIGESTS, "agents": inputs.key_digests({"jwt": "j2"})})

    def hash_of(kids: dict[tuple[str, str], Body], name: str) -> str:
        dep = kids[("Deployment", name)]
        return str(
            dep["spec"]["template"]["metadata"]["annotations"][names.ANNOTATION_SECRETS_HASH]
        )

    assert hash_of(before, "acme-webhook") != hash_of(after, "acme-webhook")
    assert hash_of(before, "acme-worker") == hash_of(after, "acme-worker")


def test_missing_jwt_secret_or_key_is_a_problem(make_body: Callable[..., Body]) -> None:
    bot = spec.parse(make_body(agentApi=dict(JWT)))
    gone = inputs.resolve_secrets(bot, {k: v for k, v in DIGESTS.items() if k != "agents"}.get)
    assert [(p.reason, p.message) for p in gone.problems] == [
        ("SecretNotFound", "Secret 'agents' (agentApi.jwtSecretRef) does not exist")
    ]
    keyless = inputs.resolve_secrets(bot, {**DIGESTS, "agents": {}}.get)
    assert [p.reason for p in keyless.problems] == ["SecretKeyNotFound"]
    assert keyless.hash == ""


def test_enabled_without_a_secret_is_invalid(make_body: Callable[..., Body]) -> None:
    with pytest.raises(InvalidSpecError, match=r"jwtSecretRef is required"):
        spec.parse(make_body(agentApi={"enabled": True}))
    spec.parse(make_body(agentApi={"enabled": False}))


def test_the_secret_is_a_watched_reference(make_body: Callable[..., Body]) -> None:
    body = make_body(agentApi=dict(JWT))
    assert view.references(body)[("tenants", "Secret", "agents")] == "acme"
    off = make_body(agentApi={**JWT, "enabled": False})
    assert ("tenants", "Secret", "agents") not in view.references(off)


def test_ingress_routes_the_api_only_when_asked(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    ingress = {"enabled": True, "host": "bot.example", "tlsSecretName": "tls"}

    def paths(body: Body) -> list[str]:
        ing = _kids(body, op_settings)[("Ingress", "acme")]["spec"]
        return [p["path"] for p in ing["rules"][0]["http"]["paths"]]

    internal = make_body(agentApi=dict(JWT), ingress=ingress)
    assert paths(internal) == ["/webhooks/msg91"]
    assert network.endpoints(spec.parse(internal), "cluster.local").agent_api == (
        "http://acme-webhook.tenants.svc.cluster.local/api/v1"
    )
    public = make_body(agentApi={**JWT, "exposeViaIngress": True}, ingress=ingress)
    assert paths(public) == ["/webhooks/msg91", "/api/v1"]
    ends = network.endpoints(spec.parse(public), "cluster.local")
    assert ends.agent_api == "https://bot.example/api/v1"
    assert ends.inbound == "https://bot.example/webhooks/msg91/inbound"
    no_ingress = make_body(agentApi={**JWT, "exposeViaIngress": True})
    assert ("Ingress", "acme") not in _kids(no_ingress, op_settings), "no effect without one"
    assert network.endpoints(spec.parse(no_ingress), "cluster.local").agent_api == (
        "http://acme-webhook.tenants.svc.cluster.local/api/v1"
    )


def test_status_shows_the_api_and_clears_it() -> None:
    base: dict[str, Any] = {
        "generation": 1,
        "paused": False,
        "problems": [],
        "webhook": status.Component(True, 1, 1, 1, True),
        "worker": status.Component(True, 1, 1, 1, True),
        "endpoint": "http://e/in",
        "status_endpoint": "http://e/st",
        "running": {},
    }
    now = datetime(2026, 5, 1, tzinfo=UTC)
    off = status.compute(status.Observation(**base), None, now)
    assert off["agentApiEndpoint"] is None
    on = status.compute(status.Observation(**base, agent_api_endpoint="http://e/api/v1"), off, now)
    assert on["agentApiEndpoint"] == "http://e/api/v1" and status.changed(off, on)
    stored = {k: v for k, v in on.items() if v is not None}
    again = status.compute(status.Observation(**base), stored, now)
    assert status.changed(stored, again) and again["agentApiEndpoint"] is None
    assert not status.changed({k: v for k, v in off.items() if v is not None}, off)


def test_path_matches_the_bot() -> None:
    from supportbot.agentapi.app import API_PREFIX

    assert names.AGENT_API_PATH == API_PREFIX
