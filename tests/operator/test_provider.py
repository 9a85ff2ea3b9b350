"""`spec.whatsapp.provider`: what a Meta tenant renders (env, Ingress path, status URLs, Secret
references), that an msg91 tenant renders exactly what it did before providers existed, and that
the spec model states the CRD's CEL rules with the same messages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from supportbot.settings import BotSettings, env_var_names, load_settings
from supportbot_operator import inputs, render, spec, view
from supportbot_operator.errors import InvalidSpecError
from supportbot_operator.render import network
from supportbot_operator.render.meta import Inputs
from supportbot_operator.settings import OperatorSettings

Body = dict[str, Any]
INPUTS = Inputs(flow_text="version: 1\n", flow_hash="f1a9", secrets_hash="5ec2")
META = {
    "phoneNumberId": "106540352242922",
    "wabaId": "102290129340398",
    "accessTokenSecretRef": {"name": "meta", "key": "access-token"},
    "appSecretSecretRef": {"name": "meta", "key": "app-secret"},
    "verifyTokenSecretRef": {"name": "meta-hook", "key": "verify-token"},
}
SECRETS = {
    ("meta", "access-token"): "EAAG-token",
    ("meta", "app-secret"): "app-s3cret",
    ("meta-hook", "verify-token"): "verify-me",
    ("wa", "auth-key"): "msg91-key",
    ("wa", "webhook-secret"): "s3cret",
    ("or", "api-key"): "or-key",
    ("store", "redis"): "redis://redis:6379/0",
    ("store", "pg"): "postgresql://bot@pg/bot",
    ("jwt", "k"): "j" * 32,
}
META_VARS = {name for field, name in env_var_names().items() if field.startswith("meta_")}
PROVIDER_VAR = env_var_names()["provider"]


def _meta_body(make_body: Callable[..., Body], **meta: Any) -> Body:
    whatsapp = {"provider": "meta", "integratedNumber": "14155550199", "meta": {**META, **meta}}
    return make_body(whatsapp=whatsapp)


def _envs(body: Body, settings: OperatorSettings) -> dict[str, list[Body]]:
    bot = spec.parse(body)
    return {
        c["metadata"]["name"]: c["spec"]["template"]["spec"]["containers"][0]["env"]
        for c in render.render_children(bot, INPUTS, settings)
        if c["kind"] == "Deployment"
    }


def _resolve(env: list[Body]) -> dict[str, str]:
    out = {}
    for var in env:
        if "value" in var:
            out[var["name"]] = var["value"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            out[var["name"]] = SECRETS[(ref["name"], ref["key"])]
    return out


def _names(env: list[Body]) -> list[str]:
    return [var["name"] for var in env]


# --- rendering -----------------------------------------------------------------------------
def test_meta_worker_env_loads_as_meta_bot_settings(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    env = _envs(_meta_body(make_body, apiVersion="v22.0"), op_settings)["acme-worker"]
    settings = load_settings(_resolve(env))
    assert settings.provider == "meta"
    assert settings.integrated_number == "14155550199"
    assert settings.meta_phone_number_id == "106540352242922"
    assert settings.meta_waba_id == "102290129340398"
    assert settings.meta_api_version == "v22.0"
    assert settings.meta_access_token is not None
    assert settings.meta_access_token.get_secret_value() == "EAAG-token"
    assert settings.meta_app_secret is not None
    assert settings.meta_app_secret.get_secret_value() == "app-s3cret"
    assert settings.meta_verify_token is not None
    assert settings.meta_verify_token.get_secret_value() == "verify-me"
    names_ = set(_names(env))
    for msg91_field in ("webhook_secret", "msg91_auth_key", "msg91_base_url"):
        assert env_var_names()[msg91_field] not in names_


def test_meta_secrets_are_references_never_values(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    secret_vars = {
        env_var_names()[f] for f in ("meta_access_token", "meta_app_secret", "meta_verify_token")
    }
    seen = set()
    for env in _envs(_meta_body(make_body), op_settings).values():
        for var in env:
            if var["name"] in secret_vars:
                seen.add(var["name"])
                assert "value" not in var and "secretKeyRef" in var["valueFrom"], var
    assert seen == secret_vars
    for value in SECRETS.values():
        assert value not in str(_envs(_meta_body(make_body), op_settings))


def test_meta_webhook_verifies_but_does_not_send_until_the_agent_api_is_on(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    token = env_var_names()["meta_access_token"]
    env = _envs(_meta_body(make_body), op_settings)["acme-webhook"]
    settings = load_settings(_resolve(env))
    assert settings.provider == "meta" and settings.meta_verify_token is not None
    assert token not in _names(env)
    body = _meta_body(make_body)
    body["spec"]["agentApi"] = {"enabled": True, "jwtSecretRef": {"name": "jwt", "key": "k"}}
    env = _envs(body, op_settings)["acme-webhook"]
    assert token in _names(env) and env_var_names()["msg91_auth_key"] not in _names(env)


def test_meta_api_version_and_base_url_render_only_when_set(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    version, base = env_var_names()["meta_api_version"], env_var_names()["meta_base_url"]
    plain = _envs(_meta_body(make_body), op_settings)["acme-worker"]
    assert version not in _names(plain) and base not in _names(plain)
    body = _meta_body(make_body)
    body["spec"]["whatsapp"]["apiBaseUrl"] = "http://meta-sim:8080"
    env = _resolve(_envs(body, op_settings)["acme-worker"])
    assert env[base] == "http://meta-sim:8080"
    assert env_var_names()["msg91_base_url"] not in env


MSG91_WEBHOOK_ENV = [
    "SUPPORTBOT_TENANT_ID",
    "SUPPORTBOT_INTEGRATED_NUMBER",
    "SUPPORTBOT_LOG_LEVEL",
    "SUPPORTBOT_WEBHOOK_SECRET",
    "SUPPORTBOT_REDIS_URL",
    "SUPPORTBOT_DATABASE_URL",
    "SUPPORTBOT_PORT",
]
MSG91_WORKER_ENV = [
    "SUPPORTBOT_TENANT_ID",
    "SUPPORTBOT_INTEGRATED_NUMBER",
    "SUPPORTBOT_LOG_LEVEL",
    "SUPPORTBOT_WEBHOOK_SECRET",
    "SUPPORTBOT_REDIS_URL",
    "SUPPORTBOT_DATABASE_URL",
    "SUPPORTBOT_MSG91_AUTH_KEY",
    "SUPPORTBOT_OPENROUTER_API_KEY",
    "SUPPORTBOT_LLM_MODELS",
    "SUPPORTBOT_LLM_TIMEOUT_SECONDS",
    "SUPPORTBOT_LLM_MAX_TOKENS",
    "SUPPORTBOT_LLM_TEMPERATURE",
    "SUPPORTBOT_FLOW_PATH",
    "SUPPORTBOT_WORKER_CONCURRENCY",
    "SUPPORTBOT_SEND_RATE_LIMIT_PER_MINUTE",
    "SUPPORTBOT_METRICS_PORT",
]


def test_msg91_pods_are_exactly_as_before_providers(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    """No SUPPORTBOT_PROVIDER nor any META variable for msg91, set explicitly or defaulted: a
    new variable would change every existing tenant's pod template and roll its pods."""
    defaulted = make_body()
    explicit = make_body(whatsapp={**defaulted["spec"]["whatsapp"], "provider": "msg91"})
    assert defaulted["spec"]["whatsapp"]["provider"] == "msg91"
    for body in (defaulted, explicit):
        envs = _envs(body, op_settings)
        assert _names(envs["acme-webhook"]) == MSG91_WEBHOOK_ENV
        assert _names(envs["acme-worker"]) == MSG91_WORKER_ENV
    a = render.render_children(spec.parse(defaulted), INPUTS, op_settings)
    b = render.render_children(spec.parse(explicit), INPUTS, op_settings)
    assert a == b
    body = make_body(
        agentApi={"enabled": True, "jwtSecretRef": {"name": "jwt", "key": "k"}},
        whatsapp={**defaulted["spec"]["whatsapp"], "apiBaseUrl": "http://msg91-sim:8080"},
    )
    for env in _envs(body, op_settings).values():
        assert not ({PROVIDER_VAR} | META_VARS) & set(_names(env))
        assert env_var_names()["msg91_base_url"] in _names(env)


def test_meta_ingress_routes_the_meta_callback_only(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    body = _meta_body(make_body)
    body["spec"]["ingress"] = {"enabled": True, "host": "bot.example", "tlsSecretName": "t"}
    (ing,) = [
        c
        for c in render.render_children(spec.parse(body), INPUTS, op_settings)
        if c["kind"] == "Ingress"
    ]
    assert [p["path"] for p in ing["spec"]["rules"][0]["http"]["paths"]] == ["/webhooks/meta"]
    assert network.endpoints(spec.parse(body), "cluster.local") == network.Endpoints(
        inbound="https://bot.example/webhooks/meta",
        status="https://bot.example/webhooks/meta",
        agent_api=None,
    )
    internal = network.endpoints(spec.parse(_meta_body(make_body)), "cluster.local")
    assert internal.inbound == "http://acme-webhook.tenants.svc.cluster.local/webhooks/meta"


# --- Secret references ---------------------------------------------------------------------
META_ROLES = {
    "whatsapp.meta.accessTokenSecretRef",
    "whatsapp.meta.appSecretSecretRef",
    "whatsapp.meta.verifyTokenSecretRef",
}


def test_meta_refs_replace_the_msg91_refs(make_body: Callable[..., Body]) -> None:
    roles = set(spec.parse(_meta_body(make_body)).spec.secret_refs())
    assert roles >= META_ROLES
    assert not {r for r in roles if r.startswith("whatsapp.") and r not in META_ROLES}
    msg91 = set(spec.parse(make_body()).spec.secret_refs())
    assert {"whatsapp.authKeySecretRef", "whatsapp.webhookSecretRef"} <= msg91
    assert not META_ROLES & msg91


def test_missing_meta_secret_or_key_is_a_named_problem(make_body: Callable[..., Body]) -> None:
    bot = spec.parse(_meta_body(make_body))
    present: dict[str, dict[str, str]] = {}
    for (name, key), value in SECRETS.items():
        present.setdefault(name, {})[key] = value
    full = inputs.resolve_secrets(bot, present.get)
    assert full.problems == () and full.hash
    without = {k: v for k, v in present.items() if k != "meta-hook"}
    result = inputs.resolve_secrets(bot, without.get)
    assert result.hash == ""
    assert result.problems == (
        inputs.Problem(
            "SecretNotFound",
            "Secret 'meta-hook' (whatsapp.meta.verifyTokenSecretRef) does not exist",
        ),
    )
    no_key = {**present, "meta": {"access-token": "x"}}
    assert inputs.resolve_secrets(bot, no_key.get).problems == (
        inputs.Problem(
            "SecretKeyNotFound",
            "Secret 'meta' has no key 'app-secret' (whatsapp.meta.appSecretSecretRef)",
        ),
    )
    rotated = {**present, "meta": {**present["meta"], "access-token": "EAAG-new"}}
    assert inputs.resolve_secrets(bot, rotated.get).hash != full.hash


def test_the_secret_watch_routes_every_referenced_secret(make_body: Callable[..., Body]) -> None:
    """`view.references` (which SupportBots a Secret event or poll concerns) names every Secret
    the spec model hashes, for both providers."""
    extras: dict[str, Any] = {
        "agentApi": {"enabled": True, "jwtSecretRef": {"name": "jwt", "key": "k"}},
        "handoff": {
            "webhook": {"url": "https://crm.example/h", "secretRef": {"name": "crm", "key": "k"}}
        },
        "flow": {
            "configMapRef": {"name": "flow"},
            "backendSecretRefs": [{"name": "orders", "key": "k"}],
        },
    }
    for body in (make_body(**extras), _meta_body(make_body)):
        body["spec"].update(extras)
        want = {ref.name for ref in spec.parse(body).spec.secret_refs().values()}
        got = {name for (_, kind, name) in view.references(body) if kind == "Secret"}
        assert got == want
    assert "meta-hook" in view.secret_names(_meta_body(make_body)["spec"])


# --- the spec model states the CRD's rules --------------------------------------------------
def _whatsapp_rules(crd_schema: dict[str, Any]) -> list[dict[str, str]]:
    rules: list[dict[str, str]] = crd_schema["properties"]["spec"]["properties"]["whatsapp"][
        "x-kubernetes-validations"
    ]
    return rules


def test_model_messages_are_the_crd_messages(crd_schema: dict[str, Any]) -> None:
    messages = {rule["message"] for rule in _whatsapp_rules(crd_schema)}
    assert messages == {
        spec.MSG91_REFS_REQUIRED.format(field="authKeySecretRef"),
        spec.MSG91_REFS_REQUIRED.format(field="webhookSecretRef"),
        spec.META_REQUIRED,
        spec.META_FORBIDDEN,
        spec.MSG91_REFS_FORBIDDEN,
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"authKeySecretRef": None}, spec.MSG91_REFS_REQUIRED.format(field="authKeySecretRef")),
        ({"webhookSecretRef": None}, spec.MSG91_REFS_REQUIRED.format(field="webhookSecretRef")),
        ({"meta": META}, spec.META_FORBIDDEN),
        ({"provider": "meta", "meta": META}, spec.MSG91_REFS_FORBIDDEN),
        (
            {"provider": "meta", "authKeySecretRef": None, "webhookSecretRef": None},
            spec.META_REQUIRED,
        ),
    ],
)
def test_model_refuses_what_the_crd_refuses(
    make_body: Callable[..., Body], edit: dict[str, Any], message: str
) -> None:
    body = make_body()
    whatsapp = body["spec"]["whatsapp"]
    for key, value in edit.items():
        if value is None:
            del whatsapp[key]
        else:
            whatsapp[key] = value
    with pytest.raises(InvalidSpecError, match=re.escape(message)):
        spec.parse(body)


def test_meta_patterns_agree_with_the_bot_settings(crd_schema: dict[str, Any]) -> None:
    meta = crd_schema["properties"]["spec"]["properties"]["whatsapp"]["properties"]["meta"]
    props = meta["properties"]
    assert set(meta["required"]) == set(META)
    base = {"tenant_id": "t", "redis_url": "redis://r", "database_url": "postgresql://p"}
    secrets = {"meta_app_secret": "a", "meta_verify_token": "v", "provider": "meta"}
    for good in ("106540352242922", "1"):
        assert re.fullmatch(props["phoneNumberId"]["pattern"], good)
        BotSettings.model_validate(
            {**base, **secrets, "integrated_number": "14155550123", "meta_phone_number_id": good}
        )
    for bad in ("", "12a", "+1065", "1" * 33):
        assert not re.fullmatch(props["phoneNumberId"]["pattern"], bad)
        assert not re.fullmatch(props["wabaId"]["pattern"], bad)
    version = props["apiVersion"]["pattern"]
    for good in ("v21.0", "v9.1", "v100.10"):
        assert re.fullmatch(version, good)
    for bad in ("21.0", "v21", "v21.0.1", "latest"):
        assert not re.fullmatch(version, bad)
        with pytest.raises(ValueError):
            BotSettings.model_validate(
                {
                    **base,
                    **secrets,
                    "integrated_number": "14155550123",
                    "meta_phone_number_id": "1",
                    "meta_api_version": bad,
                }
            )
