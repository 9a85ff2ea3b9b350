"""`spec.flow.backendSecretRefs` and `spec.flow.httpAllowHosts`: the worker gets the keys as
files (never their values), the allow-list and the directory in its environment; a missing
backend Secret or key degrades the tenant like any other reference; tenants without them render
exactly as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from supportbot.settings import env_var_names, load_settings
from supportbot_operator import crdsync, flowcheck, inputs, render, spec
from supportbot_operator.errors import InvalidSpecError
from supportbot_operator.render.meta import Inputs
from supportbot_operator.settings import OperatorSettings

Body = dict[str, Any]
INPUTS = Inputs(flow_text="version: 1\n", flow_hash="f1a9", secrets_hash="5ec2")
FLOW = {
    "configMapRef": {"name": "flow", "key": "flow.yaml"},
    "backendSecretRefs": [
        {"name": "orders", "key": "orders-api-key"},
        {"name": "crm", "key": "crm-token"},
    ],
    "httpAllowHosts": ["orders.acme.svc.cluster.local", "10.0.0.5:8080"],
}


def _worker(body: Body, settings: OperatorSettings) -> Body:
    bot = spec.parse(body)
    [dep] = [
        c
        for c in render.render_children(bot, INPUTS, settings)
        if c["kind"] == "Deployment" and c["metadata"]["name"].endswith("-worker")
    ]
    return dict(dep["spec"]["template"]["spec"])


def test_backend_keys_are_mounted_and_named_in_the_environment(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    pod = _worker(make_body(flow=FLOW), op_settings)
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    names = env_var_names()
    assert env[names["flow_http_secrets_dir"]]["value"] == "/etc/supportbot/backend"
    assert env[names["flow_http_allow_hosts"]]["value"] == (
        "orders.acme.svc.cluster.local,10.0.0.5:8080"
    )
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "backend-secrets"]
    assert mount == {
        "name": "backend-secrets",
        "mountPath": "/etc/supportbot/backend",
        "readOnly": True,
    }
    [volume] = [v for v in pod["volumes"] if v["name"] == "backend-secrets"]
    assert volume["projected"]["sources"] == [
        {
            "secret": {
                "name": "orders",
                "items": [{"key": "orders-api-key", "path": "orders-api-key"}],
            }
        },
        {"secret": {"name": "crm", "items": [{"key": "crm-token", "path": "crm-token"}]}},
    ]
    # the bot reads what the operator writes
    plain = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    settings = load_settings(
        {
            **plain,
            "SUPPORTBOT_WEBHOOK_SECRET": "x" * 32,
            "SUPPORTBOT_REDIS_URL": "redis://r:6379/0",
            "SUPPORTBOT_DATABASE_URL": "postgresql://u@h/d",
        }
    )
    assert settings.flow_http_allow_hosts == ["orders.acme.svc.cluster.local", "10.0.0.5:8080"]
    assert str(settings.flow_http_secrets_dir) == "/etc/supportbot/backend"


def test_tenants_without_http_steps_render_as_before(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    pod = _worker(make_body(), op_settings)
    [container] = pod["containers"]
    names = env_var_names()
    assert not {names["flow_http_secrets_dir"], names["flow_http_allow_hosts"]} & {
        e["name"] for e in container["env"]
    }
    assert all(v["name"] != "backend-secrets" for v in pod["volumes"])


def test_backend_refs_are_checked_and_hashed_like_other_secrets(
    make_body: Callable[..., Body],
) -> None:
    bot = spec.parse(make_body(flow=FLOW))
    refs = bot.spec.secret_refs()
    assert refs["flow.backendSecretRefs[0]"] == spec.SecretKeyRef(
        name="orders", key="orders-api-key"
    )
    objects = {
        "wa": inputs.key_digests({"auth-key": "a", "webhook-secret": "w"}),
        "or": inputs.key_digests({"api-key": "o"}),
        "store": inputs.key_digests({"redis": "r", "pg": "p"}),
        "orders": inputs.key_digests({"orders-api-key": "k"}),
    }
    result = inputs.resolve_secrets(bot, objects.get)
    assert [(p.reason, p.message) for p in result.problems] == [
        ("SecretNotFound", "Secret 'crm' (flow.backendSecretRefs[1]) does not exist")
    ]
    objects["crm"] = inputs.key_digests({"crm-token": "t"})
    ok = inputs.resolve_secrets(bot, objects.get)
    objects["orders"] = inputs.key_digests({"orders-api-key": "rotated"})
    rotated = inputs.resolve_secrets(bot, objects.get)
    assert ok.problems == () and rotated.worker_hash != ok.worker_hash


def test_duplicate_backend_keys_are_refused(make_body: Callable[..., Body]) -> None:
    flow = {**FLOW, "backendSecretRefs": [{"name": "a", "key": "k"}, {"name": "b", "key": "k"}]}
    with pytest.raises(InvalidSpecError, match="every key must be unique"):
        spec.parse(make_body(flow=flow))


HTTP_FLOW = """\
version: 1
name: t
start: lookup
steps:
  lookup:
    http:
      url: "http://orders.acme.svc:8080/api/orders/1"
      on_success: done
  done:
    text: "Done"
"""


def test_the_operator_validates_http_steps_against_the_tenants_allow_list() -> None:
    validate = flowcheck.load_validator()
    assert validate(HTTP_FLOW) == []  # admission: the tenant is not known
    [error] = validate(HTTP_FLOW, [])
    assert error.startswith("line 7: steps.lookup.http.url: plain http:// to orders.acme.svc")
    assert validate(HTTP_FLOW, ["orders.acme.svc:8080"]) == []


def test_crd_descriptions_have_no_template_braces() -> None:
    """The chart ships the CRD as a Helm template: `{{` in a description would be executed."""
    assert "{{" not in crdsync.SOURCE.read_text()
