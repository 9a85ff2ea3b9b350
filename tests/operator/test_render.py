"""The pure renderer: every child of a tenant, with the labels, owner references, hardening,
probes and the bot's environment contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from supportbot.keyspace import active_key
from supportbot.settings import BotSettings, env_var_names, load_settings
from supportbot_operator import names, render, spec
from supportbot_operator.render.meta import Inputs
from supportbot_operator.settings import OperatorSettings

Body = dict[str, Any]
INPUTS = Inputs(flow_text="version: 1\n", flow_hash="f1a9", secrets_hash="5ec2")


def _children(body: Body, settings: OperatorSettings) -> dict[tuple[str, str], Body]:
    bot = spec.parse(body)
    return {
        (c["kind"], c["metadata"]["name"]): c for c in render.render_children(bot, INPUTS, settings)
    }


def _container(dep: Body) -> Body:
    containers: list[Body] = dep["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_default_tenant_gets_exactly_these_children(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    kids = _children(make_body(), op_settings)
    assert set(kids) == {
        ("ServiceAccount", "acme"),
        ("ConfigMap", "acme-validated-flow"),
        ("Service", "acme-webhook"),
        ("Deployment", "acme-webhook"),
        ("Deployment", "acme-worker"),
        ("HorizontalPodAutoscaler", "acme-webhook"),
        ("HorizontalPodAutoscaler", "acme-worker"),
        ("PodDisruptionBudget", "acme-webhook"),
        ("PodDisruptionBudget", "acme-worker"),
    }


def test_every_child_is_labelled_owned_and_in_the_tenant_namespace(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    body = make_body(
        ingress={"enabled": True, "host": "bot.example"}, networkPolicy={"enabled": True}
    )
    kids = _children(body, op_settings)
    assert ("Ingress", "acme") in kids and ("NetworkPolicy", "acme") in kids
    for (kind, name), child in kids.items():
        meta = child["metadata"]
        assert meta["namespace"] == "tenants", name
        assert meta["labels"][names.LABEL_INSTANCE] == "acme"
        assert meta["labels"][names.LABEL_MANAGED_BY] == "supportbot-operator"
        assert meta["labels"][names.LABEL_NAME] == "supportbot"
        assert meta["labels"][names.LABEL_PART_OF] == "supportbot"
        assert names.LABEL_COMPONENT in meta["labels"]
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "supportbot.dev/v1alpha1",
                "kind": "SupportBot",
                "name": "acme",
                "uid": "uid-acme",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ], kind
        assert len(meta["annotations"][names.ANNOTATION_APPLIED]) == 16


def test_applied_hash_changes_with_the_content(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    a = _children(make_body(), op_settings)[("Deployment", "acme-worker")]
    b = _children(make_body(logLevel="DEBUG"), op_settings)[("Deployment", "acme-worker")]
    c = _children(make_body(), op_settings)[("Deployment", "acme-worker")]
    applied = names.ANNOTATION_APPLIED
    assert a["metadata"]["annotations"][applied] != b["metadata"]["annotations"][applied]
    assert a["metadata"]["annotations"][applied] == c["metadata"]["annotations"][applied]


@pytest.mark.parametrize("component", ["webhook", "worker"])
def test_pods_are_hardened(
    make_body: Callable[..., Body], op_settings: OperatorSettings, component: str
) -> None:
    dep = _children(make_body(), op_settings)[("Deployment", f"acme-{component}")]
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["serviceAccountName"] == "acme"
    for container in pod["containers"] + pod.get("initContainers", []):
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["runAsNonRoot"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["resources"]["limits"]["memory"]
        assert container["resources"]["requests"]["cpu"]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]


def test_webhook_container_command_port_and_probes(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    dep = _children(make_body(), op_settings)[("Deployment", "acme-webhook")]
    c = _container(dep)
    assert c["command"] == ["supportbot", "webhook"]
    assert c["image"] == "registry.invalid/supportbot:1.2.3"
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert "replicas" not in dep["spec"], "the HPA owns replicas"
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert dep["spec"]["selector"]["matchLabels"] == {
        names.LABEL_NAME: "supportbot",
        names.LABEL_INSTANCE: "acme",
        names.LABEL_COMPONENT: "webhook",
    }
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations[names.ANNOTATION_SECRETS_HASH] == "5ec2"
    assert names.ANNOTATION_FLOW_HASH not in annotations, "the webhook does not read the flow"


def test_worker_container_metrics_probe_flow_mount_and_migrations(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    dep = _children(make_body(), op_settings)[("Deployment", "acme-worker")]
    pod = dep["spec"]["template"]["spec"]
    c = _container(dep)
    assert c["command"] == ["supportbot", "worker"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    flow_path = BotSettings.model_fields["flow_path"].default
    mount = next(m for m in c["volumeMounts"] if m["name"] == "flow")
    assert mount == {"name": "flow", "mountPath": str(flow_path.parent), "readOnly": True}
    volume = next(v for v in pod["volumes"] if v["name"] == "flow")
    assert volume["configMap"] == {
        "name": "acme-validated-flow",
        "items": [{"key": "flow.yaml", "path": flow_path.name}],
    }
    (init,) = pod["initContainers"]
    assert init["command"] == ["supportbot", "migrate"]
    assert init["image"] == c["image"]
    assert {e["name"] for e in init["env"]} == {
        env_var_names()["database_url"],
        env_var_names()["log_level"],
    }, "the migrator gets the database URL and nothing else secret"
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations[names.ANNOTATION_FLOW_HASH] == "f1a9"
    assert annotations[names.ANNOTATION_SECRETS_HASH] == "5ec2"


def _resolve(env: list[Body], secrets: dict[tuple[str, str], str]) -> dict[str, str]:
    out = {}
    for var in env:
        if "value" in var:
            out[var["name"]] = var["value"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            out[var["name"]] = secrets[(ref["name"], ref["key"])]
    return out


SECRETS = {
    ("wa", "auth-key"): "msg91-key",
    ("wa", "webhook-secret"): "s3cret",
    ("or", "api-key"): "or-key",
    ("store", "redis"): "redis://redis:6379/0",
    ("store", "pg"): "postgresql://bot@pg/bot",
}


def test_worker_environment_loads_as_bot_settings(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    body = make_body(
        whatsapp={
            **make_body()["spec"]["whatsapp"],
            "outOfWindowTemplate": {
                "name": "followup",
                "language": "en_US",
                "params": ["Acme", "x"],
            },
            "apiBaseUrl": "http://msg91-sim:8080",
        },
        llm={**make_body()["spec"]["llm"], "temperature": 0.7, "baseUrl": "http://or-sim:8080/v1"},
        worker={"concurrency": 250},
        logLevel="DEBUG",
    )
    env = _container(_children(body, op_settings)[("Deployment", "acme-worker")])["env"]
    assert {v["name"] for v in env} <= set(env_var_names().values())
    settings = load_settings(_resolve(env, SECRETS))
    assert settings.tenant_id == "acme"
    assert settings.integrated_number == "919123456789"
    assert settings.webhook_secret.get_secret_value() == "s3cret"
    assert (
        settings.msg91_auth_key is not None
        and settings.msg91_auth_key.get_secret_value() == "msg91-key"
    )
    assert settings.openrouter_api_key is not None
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.database_url == "postgresql://bot@pg/bot"
    assert settings.llm_models == ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]
    assert settings.llm_temperature == 0.7
    assert settings.llm_timeout_seconds == 30
    assert settings.llm_max_tokens == 512
    assert settings.worker_concurrency == 250
    assert settings.send_rate_limit_per_minute == 100
    assert settings.metrics_port == 9090
    assert settings.log_level == "DEBUG"
    assert settings.msg91_base_url == "http://msg91-sim:8080"
    assert settings.openrouter_base_url == "http://or-sim:8080/v1"
    assert settings.out_of_window_template_name == "followup"
    assert settings.out_of_window_template_language == "en_US"
    assert settings.out_of_window_template_params == ["Acme", "x"]
    assert settings.flow_path == BotSettings.model_fields["flow_path"].default


def test_answer_cache_reaches_the_worker_only_when_enabled(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    def worker(**llm: Any) -> Body:
        body = make_body(llm={**make_body()["spec"]["llm"], **llm})
        return _children(body, op_settings)[("Deployment", "acme-worker")]

    plain = worker()
    settings = load_settings(_resolve(_container(plain)["env"], SECRETS))
    assert settings.answer_cache_enabled is False
    # declared but off (the CRD default): the same pod template, so no tenant rolls
    assert worker(answerCache={})["spec"]["template"] == plain["spec"]["template"]
    cached = worker(answerCache={"enabled": True, "ttlSeconds": 900})
    settings = load_settings(_resolve(_container(cached)["env"], SECRETS))
    assert settings.answer_cache_enabled is True
    assert settings.answer_cache_ttl_seconds == 900


def test_handoff_webhook_reaches_the_worker_only(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    hook = {
        "url": "https://crm.example.com/hooks/handoff",
        "secretRef": {"name": "crm", "key": "k"},
    }
    body = make_body(handoff={"webhook": {**hook, "includePhone": True, "lastMessages": 5}})
    kids = _children(body, op_settings)
    env = _container(kids[("Deployment", "acme-worker")])["env"]
    secret = env_var_names()["handoff_webhook_secret"]
    [var] = [v for v in env if v["name"] == secret]
    assert var["valueFrom"] == {"secretKeyRef": {"name": "crm", "key": "k"}}
    settings = load_settings(_resolve(env, {**SECRETS, ("crm", "k"): "crm-signing-secret-0123"}))
    assert settings.handoff_webhook_url == hook["url"]
    assert settings.handoff_webhook_secret is not None
    assert settings.handoff_webhook_secret.get_secret_value() == "crm-signing-secret-0123"
    assert settings.handoff_webhook_include_phone is True
    assert settings.handoff_webhook_last_messages == 5
    assert settings.handoff_webhook_allow_http_hosts == []
    webhook_env = _container(kids[("Deployment", "acme-webhook")])["env"]
    assert secret not in {v["name"] for v in webhook_env}
    assert spec.parse(body).spec.secret_refs()["handoff.webhook.secretRef"].name == "crm"

    plain = {**hook, "url": "http://receiver.crm.svc:8080/h", "allowInsecureHttp": True}
    env = _container(
        _children(make_body(handoff={"webhook": plain}), op_settings)[("Deployment", "acme-worker")]
    )["env"]
    settings = load_settings(_resolve(env, {**SECRETS, ("crm", "k"): "crm-signing-secret-0123"}))
    assert settings.handoff_webhook_allow_http_hosts == ["receiver.crm.svc"]
    assert settings.handoff_webhook_include_phone is False

    no_hook = _container(_children(make_body(), op_settings)[("Deployment", "acme-worker")])["env"]
    assert env_var_names()["handoff_webhook_url"] not in {v["name"] for v in no_hook}


def test_secrets_only_by_reference(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    kids = _children(make_body(), op_settings)
    secret_fields = {
        "webhook_secret",
        "msg91_auth_key",
        "openrouter_api_key",
        "redis_url",
        "database_url",
    }
    secret_vars = {env_var_names()[f] for f in secret_fields}
    for dep_name in ("acme-webhook", "acme-worker"):
        pod = kids[("Deployment", dep_name)]["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            for var in container["env"]:
                if var["name"] in secret_vars:
                    assert "value" not in var and "secretKeyRef" in var["valueFrom"], var["name"]


def test_webhook_environment_is_minimal_but_loads(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    env = _container(_children(make_body(), op_settings)[("Deployment", "acme-webhook")])["env"]
    names_ = {v["name"] for v in env}
    assert env_var_names()["openrouter_api_key"] not in names_
    assert env_var_names()["msg91_auth_key"] not in names_
    settings = load_settings(_resolve(env, SECRETS))
    assert settings.port == 8080 and settings.tenant_id == "acme"


def test_service_routes_port_80_to_the_webhook(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    svc = _children(make_body(), op_settings)[("Service", "acme-webhook")]
    assert svc["spec"]["ports"][0]["port"] == 80
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert svc["spec"]["selector"][names.LABEL_COMPONENT] == "webhook"


def test_autoscalers_and_budgets(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    kids = _children(make_body(webhook={"minReplicas": 3, "maxReplicas": 9}), op_settings)
    hpa = kids[("HorizontalPodAutoscaler", "acme-webhook")]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "acme-webhook",
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    assert hpa["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 70,
    }
    worker = kids[("HorizontalPodAutoscaler", "acme-worker")]["spec"]
    assert (worker["minReplicas"], worker["maxReplicas"]) == (1, 5)
    pdb = kids[("PodDisruptionBudget", "acme-worker")]["spec"]
    assert pdb == {
        "maxUnavailable": 1,
        "selector": {
            "matchLabels": {
                names.LABEL_NAME: "supportbot",
                names.LABEL_INSTANCE: "acme",
                names.LABEL_COMPONENT: "worker",
            }
        },
    }


def test_worker_scales_on_in_flight_turns_through_a_pods_metric(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    body = make_body(worker={"autoscaling": {"metric": "InFlightTurns", "targetAverageValue": 40}})
    kids = _children(body, op_settings)
    (m,) = kids[("HorizontalPodAutoscaler", "acme-worker")]["spec"]["metrics"]
    assert m["type"] == "Pods"
    assert m["pods"]["metric"]["name"] == "supportbot_worker_turns_in_flight"
    assert m["pods"]["target"] == {"type": "AverageValue", "averageValue": "40"}
    assert not {k for k in kids if k[0] in {"ScaledObject", "TriggerAuthentication"}}


def _queue_depth(make_body: Callable[..., Body], **keda: Any) -> Body:
    scaling = {"metric": "QueueDepth", "targetAverageValue": 25, "keda": keda}
    return make_body(worker={"minReplicas": 1, "maxReplicas": 4, "autoscaling": scaling})


def test_queue_depth_renders_a_keda_scaled_object_on_the_unanswered_conversations(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    body = _queue_depth(
        make_body,
        redisAddressKey="redis-address",
        redisPasswordKey="redis-password",
        redisDatabase=3,
        redisTls=True,
        pollingIntervalSeconds=5,
        scaleDownStabilizationSeconds=30,
    )
    kids = _children(body, op_settings)
    # KEDA owns the worker's HPA: the operator renders none for it, only the webhook's.
    assert ("HorizontalPodAutoscaler", "acme-worker") not in kids
    assert ("HorizontalPodAutoscaler", "acme-webhook") in kids
    so = kids[("ScaledObject", "acme-worker")]
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["metadata"]["ownerReferences"][0]["kind"] == "SupportBot"
    sospec = so["spec"]
    assert sospec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "acme-worker",
    }
    assert (sospec["minReplicaCount"], sospec["maxReplicaCount"]) == (1, 4)
    assert sospec["pollingInterval"] == 5
    behavior = sospec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior == {"scaleDown": {"stabilizationWindowSeconds": 30}}
    (trigger,) = sospec["triggers"]
    assert trigger["type"] == "redis"
    # The tenant's set of conversations with unanswered messages (the bot's own key layout).
    assert trigger["metadata"] == {
        "listName": active_key("acme"),
        "listLength": "25",
        "databaseIndex": "3",
        "enableTLS": "true",
    }
    assert trigger["authenticationRef"] == {
        "kind": "TriggerAuthentication",
        "name": "acme-worker-redis",
    }
    auth = kids[("TriggerAuthentication", "acme-worker-redis")]
    secret = body["spec"]["storage"]["redisUrlSecretRef"]["name"]
    assert auth["spec"] == {
        "secretTargetRef": [
            {"parameter": "address", "name": secret, "key": "redis-address"},
            {"parameter": "password", "name": secret, "key": "redis-password"},
        ]
    }


def test_queue_depth_references_secret_keys_and_never_copies_a_value(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    kids = _children(_queue_depth(make_body), op_settings)
    auth = kids[("TriggerAuthentication", "acme-worker-redis")]
    # Defaults: the address under `redis-address`, no password, database 0, no TLS.
    assert [ref["parameter"] for ref in auth["spec"]["secretTargetRef"]] == ["address"]
    assert set(auth["spec"]) == {"secretTargetRef"}
    trigger = kids[("ScaledObject", "acme-worker")]["spec"]["triggers"][0]
    assert (trigger["metadata"]["databaseIndex"], trigger["metadata"]["enableTLS"]) == (
        "0",
        "false",
    )
    assert not any(k[0] == "Secret" for k in kids)


def test_queue_depth_without_keda_renders_no_worker_autoscaler(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    bot = spec.parse(_queue_depth(make_body))
    kinds = {
        (c["kind"], c["metadata"]["name"])
        for c in render.render_children(bot, INPUTS, op_settings, keda=False)
    }
    assert ("HorizontalPodAutoscaler", "acme-webhook") in kinds
    worker = next(
        c
        for c in render.render_children(bot, INPUTS, op_settings, keda=False)
        if c["kind"] == "Deployment" and c["metadata"]["name"] == "acme-worker"
    )
    assert worker["spec"]["replicas"] == 1  # held at minReplicas: no autoscaler owns it
    with_keda = render.render_children(bot, INPUTS, op_settings)
    assert all("replicas" not in c["spec"] for c in with_keda if c["kind"] == "Deployment")
    assert not {k for k in kinds if k[1].startswith("acme-worker") and k[0] != "Deployment"} - {
        ("PodDisruptionBudget", "acme-worker")
    }


def test_ingress_exposes_only_the_webhook_paths(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    body = make_body(
        ingress={
            "enabled": True,
            "host": "bot.example",
            "className": "nginx",
            "tlsSecretName": "tls",
        }
    )
    ing = _children(body, op_settings)[("Ingress", "acme")]["spec"]
    assert ing["ingressClassName"] == "nginx"
    assert ing["tls"] == [{"hosts": ["bot.example"], "secretName": "tls"}]
    (path,) = ing["rules"][0]["http"]["paths"]
    assert path["path"] == "/webhooks/msg91" and path["pathType"] == "Prefix"
    assert path["backend"]["service"] == {"name": "acme-webhook", "port": {"name": "http"}}


def test_network_policy(make_body: Callable[..., Body], op_settings: OperatorSettings) -> None:
    body = make_body(networkPolicy={"enabled": True, "metricsNamespaceSelector": {"team": "obs"}})
    pol = _children(body, op_settings)[("NetworkPolicy", "acme")]["spec"]
    assert pol["policyTypes"] == ["Ingress"]
    assert pol["ingress"][0] == {"ports": [{"protocol": "TCP", "port": 8080}]}
    assert pol["ingress"][1]["from"] == [{"namespaceSelector": {"matchLabels": {"team": "obs"}}}]


def test_flow_snapshot_and_image_override(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    body = make_body(
        image="mirror.invalid/bot@sha256:abc",
        imagePullPolicy="Always",
        imagePullSecrets=[{"name": "pull"}],
    )
    kids = _children(body, op_settings)
    cm = kids[("ConfigMap", "acme-validated-flow")]
    assert cm["data"] == {"flow.yaml": "version: 1\n"}
    assert cm["metadata"]["annotations"][names.ANNOTATION_FLOW_HASH] == "f1a9"
    assert cm["metadata"]["annotations"][names.ANNOTATION_FLOW_SOURCE] == "flow/flow.yaml"
    pod = kids[("Deployment", "acme-worker")]["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "pull"}]
    assert {c["image"] for c in pod["containers"] + pod["initContainers"]} == {
        "mirror.invalid/bot@sha256:abc"
    }
    assert {c["imagePullPolicy"] for c in pod["containers"]} == {"Always"}


def test_endpoints(make_body: Callable[..., Body]) -> None:
    from supportbot_operator.render import network

    bot = spec.parse(make_body())
    assert network.endpoints(bot, "cluster.local") == network.Endpoints(
        inbound="http://acme-webhook.tenants.svc.cluster.local/webhooks/msg91/inbound",
        status="http://acme-webhook.tenants.svc.cluster.local/webhooks/msg91/status",
        agent_api=None,
    )
    bot = spec.parse(
        make_body(ingress={"enabled": True, "host": "b.example", "tlsSecretName": "t"})
    )
    assert network.endpoints(bot, "cluster.local").inbound == (
        "https://b.example/webhooks/msg91/inbound"
    )


def test_every_rendered_kind_is_indexed_and_addressable(
    make_body: Callable[..., Body], op_settings: OperatorSettings
) -> None:
    from supportbot_operator import kube, view

    body = make_body(
        ingress={"enabled": True, "host": "b.example"}, networkPolicy={"enabled": True}
    )
    indexed = {(g, v, p) for g, v, p in view.CHILD_INDICES.values()}
    for child in render.render_children(spec.parse(body), INPUTS, op_settings):
        group, _, version = child["apiVersion"].rpartition("/")
        path = kube.manifest_path(child)
        plural = path.split("/")[-2]
        assert (group, version, plural) in indexed, child["kind"]
