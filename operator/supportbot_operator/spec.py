"""Typed view of a `SupportBot` resource (spec + identity), parsed from the raw body.

The defaults here mirror the CRD's structural defaults (`crds/`); a unit test walks both and
fails when they drift apart. The API server applies the CRD defaults, so at run time these only
matter for objects that bypassed it (offline `supportbot-operator render`, tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from supportbot_operator import names
from supportbot_operator.errors import InvalidSpecError

Quantity = str | int


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class SecretKeyRef(_Model):
    name: str
    key: str


class FlowConfigMapRef(_Model):
    name: str
    key: str = names.FLOW_FILE


class OutOfWindowTemplate(_Model):
    name: str
    language: str = "en"
    params: list[str] = Field(default_factory=list)


class WhatsApp(_Model):
    provider: Literal["msg91"] = "msg91"
    integrated_number: str
    auth_key_secret_ref: SecretKeyRef
    webhook_secret_ref: SecretKeyRef
    send_rate_limit_per_minute: int = 100
    out_of_window_template: OutOfWindowTemplate | None = None
    api_base_url: str | None = None


class AnswerCache(_Model):
    enabled: bool = False
    ttl_seconds: int = 3600


class Llm(_Model):
    api_key_secret_ref: SecretKeyRef
    models: list[str]
    timeout_seconds: int = 30
    max_tokens: int = 512
    temperature: float = 0.3
    base_url: str | None = None
    answer_cache: AnswerCache | None = None


class Flow(_Model):
    config_map_ref: FlowConfigMapRef
    backend_secret_refs: list[SecretKeyRef] = Field(default_factory=list)
    """Secret keys the flow's HTTP steps may use as `{{secret:KEY}}` (each key mounted as a file
    of that name in the worker pods); keys must be unique."""
    http_allow_hosts: list[str] = Field(default_factory=list)
    """Hosts HTTP steps may reach over plain http or at private addresses (in-cluster)."""

    @model_validator(mode="after")
    def _unique_keys(self) -> Flow:
        keys = [ref.key for ref in self.backend_secret_refs]
        if len(keys) != len(set(keys)):
            raise ValueError("flow.backendSecretRefs: every key must be unique")
        return self


class Storage(_Model):
    redis_url_secret_ref: SecretKeyRef
    postgres_dsn_secret_ref: SecretKeyRef


class Resources(_Model):
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


def _webhook_resources() -> Resources:
    return Resources(
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "1", "memory": "256Mi"}
    )


def _worker_resources() -> Resources:
    return Resources(
        requests={"cpu": "200m", "memory": "256Mi"}, limits={"cpu": "1", "memory": "512Mi"}
    )


_CPU_TARGET = "targetCPUUtilizationPercentage"  # the HPA v1 spelling, not plain camelCase


class WebhookAutoscaling(_Model):
    target_cpu_utilization_percentage: int = Field(default=70, alias=_CPU_TARGET)


class Keda(_Model):
    """How KEDA's Redis scaler reaches the tenant's Redis for `metric: QueueDepth`: keys of the
    Secret `storage.redisUrlSecretRef` names (a TriggerAuthentication points at them; the values
    are never copied), plus the non-secret connection settings."""

    redis_address_key: str = "redis-address"
    """Key holding `host:port` of the tenant's Redis (the one in its redis URL)."""
    redis_password_key: str | None = None
    """Key holding the Redis password (absent: no AUTH)."""
    redis_database: int = 0
    """Database index of the tenant's Redis URL (`/N`)."""
    redis_tls: bool = False
    """Whether the Redis URL is `rediss://`."""
    polling_interval_seconds: int = 15
    scale_down_stabilization_seconds: int = 300


class WorkerAutoscaling(_Model):
    metric: Literal["CPU", "QueueDepth", "InFlightTurns"] = "CPU"
    target_cpu_utilization_percentage: int = Field(default=70, alias=_CPU_TARGET)
    target_average_value: int | None = None
    """Per-pod target: unanswered conversations (QueueDepth, through KEDA) or in-flight turns
    (InFlightTurns, through a custom metrics adapter)."""
    keda: Keda = Field(default_factory=Keda)


class Webhook(_Model):
    min_replicas: int = 2
    max_replicas: int = 5
    autoscaling: WebhookAutoscaling = Field(default_factory=WebhookAutoscaling)
    resources: Resources = Field(default_factory=_webhook_resources)


class Worker(_Model):
    min_replicas: int = 1
    max_replicas: int = 5
    concurrency: int = 1000
    autoscaling: WorkerAutoscaling = Field(default_factory=WorkerAutoscaling)
    resources: Resources = Field(default_factory=_worker_resources)


class Ingress(_Model):
    enabled: bool = False
    class_name: str | None = None
    host: str | None = None
    tls_secret_name: str | None = None
    annotations: dict[str, str] = Field(default_factory=dict)


class NetworkPolicy(_Model):
    enabled: bool = False
    metrics_namespace_selector: dict[str, str] = Field(default_factory=dict)
    """matchLabels of namespaces allowed to scrape metrics; empty means every namespace."""


class AgentApi(_Model):
    """The agent API the webhook pods serve under ``/api/v1`` (absent from the spec: off)."""

    enabled: bool = True
    jwt_secret_ref: SecretKeyRef | None = None
    """HS256 secret agent bearer tokens are signed with (required while enabled)."""
    expose_via_ingress: bool = False
    """Also route ``/api/v1`` through the tenant's Ingress (no effect without one)."""

    @model_validator(mode="after")
    def _secret_when_enabled(self) -> AgentApi:
        if self.enabled and self.jwt_secret_ref is None:
            raise ValueError("agentApi.jwtSecretRef is required when the agent API is enabled")
        return self


class HandoffWebhook(_Model):
    """The business's endpoint for handoff notifications (the worker POSTs them, signed)."""

    url: str
    secret_ref: SecretKeyRef
    """HMAC-SHA256 key of the `X-Supportbot-Signature` header (at least 16 bytes)."""
    include_phone: bool = False
    """Send the customer's full phone number (default: masked)."""
    allow_insecure_http: bool = False
    """Allow an http:// URL (its host is allow-listed for the bot); otherwise https only."""
    last_messages: int = 10


class Handoff(_Model):
    webhook: HandoffWebhook | None = None


class LocalObjectRef(_Model):
    name: str


class SupportBotSpec(_Model):
    whatsapp: WhatsApp
    llm: Llm
    flow: Flow
    storage: Storage
    webhook: Webhook = Field(default_factory=Webhook)
    worker: Worker = Field(default_factory=Worker)
    ingress: Ingress = Field(default_factory=Ingress)
    network_policy: NetworkPolicy = Field(default_factory=NetworkPolicy)
    agent_api: AgentApi | None = None
    handoff: Handoff | None = None
    image: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    image_pull_secrets: list[LocalObjectRef] = Field(default_factory=list)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    paused: bool = False

    @property
    def jwt_secret_ref(self) -> SecretKeyRef | None:
        """The agent API's signing secret when the API is on, else None (API off)."""
        api = self.agent_api
        return api.jwt_secret_ref if api is not None and api.enabled else None

    def secret_refs(self) -> dict[str, SecretKeyRef]:
        """Every Secret key the pods use, by the role it plays."""
        refs = {
            "whatsapp.webhookSecretRef": self.whatsapp.webhook_secret_ref,
            "whatsapp.authKeySecretRef": self.whatsapp.auth_key_secret_ref,
            "llm.apiKeySecretRef": self.llm.api_key_secret_ref,
            "storage.redisUrlSecretRef": self.storage.redis_url_secret_ref,
            "storage.postgresDsnSecretRef": self.storage.postgres_dsn_secret_ref,
        }
        if self.jwt_secret_ref is not None:
            refs["agentApi.jwtSecretRef"] = self.jwt_secret_ref
        if self.handoff_webhook is not None:
            refs["handoff.webhook.secretRef"] = self.handoff_webhook.secret_ref
        for i, ref in enumerate(self.flow.backend_secret_refs):
            refs[f"flow.backendSecretRefs[{i}]"] = ref
        return refs

    @property
    def handoff_webhook(self) -> HandoffWebhook | None:
        return None if self.handoff is None else self.handoff.webhook


@dataclass(frozen=True)
class SupportBot:
    """Identity + parsed spec of one tenant."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: SupportBotSpec
    annotations: Mapping[str, str]

    @property
    def paused(self) -> bool:
        return self.spec.paused or self.annotations.get(names.ANNOTATION_PAUSED) == "true"

    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def parse(body: Mapping[str, Any]) -> SupportBot:
    """Parse a raw SupportBot body; raises InvalidSpecError naming the bad fields."""
    meta = body.get("metadata") or {}
    try:
        spec = SupportBotSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"spec.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        raise InvalidSpecError(problems) from None
    return SupportBot(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
        spec=spec,
        annotations=dict(meta.get("annotations") or {}),
    )
