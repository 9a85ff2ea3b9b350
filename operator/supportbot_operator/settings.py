"""The operator's one settings object (`SUPPORTBOT_OPERATOR_*`), read once at start-up and
passed explicitly: to the renderers as an argument, to kopf handlers through the runtime in
``memo``. Nothing else reads the environment."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from supportbot_operator import __version__

ENV_PREFIX = "SUPPORTBOT_OPERATOR_"


class OperatorSettings(BaseSettings):
    """How the operator runs and what it stamps into every tenant's children."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Namespaces to watch (comma-separated); empty means cluster-wide."""

    bot_image_repository: str = "supportbot"
    bot_image_tag: str = __version__
    """Default bot image tag; the Helm chart sets it to the chart's appVersion."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"

    resync_seconds: float = Field(default=300.0, ge=1.0)
    """Every tenant is re-checked against its children this often (drift safety net)."""
    debounce_seconds: float = Field(default=0.5, ge=0.0, le=30.0)
    """Child and input events are coalesced for this long before a reconcile."""
    workers: int = Field(default=32, ge=1, le=256)
    """Tenants reconciled concurrently. A reconcile mostly waits on the API server, so more
    workers than cores pay off: 500 new tenants took 150-200 s with 8, 95-126 s with 32
    (loadtests/operator_scale/bench_scale.py on 2 shared cores)."""
    request_timeout_seconds: float = Field(default=30.0, gt=0)

    metrics_host: str = "0.0.0.0"  # noqa: S104 - the pod's metrics endpoint must be reachable
    metrics_port: int = Field(default=8000, ge=0, le=65535)
    """Prometheus endpoint; 0 disables it."""
    liveness_port: int = Field(default=8080, ge=0, le=65535)
    """kopf's liveness endpoint (`/healthz`); 0 disables it."""
    webhook_port: int = Field(default=0, ge=0, le=65535)
    """HTTPS port of the validating admission webhook server; 0 (the default) serves none."""
    webhook_host: str = "0.0.0.0"  # noqa: S104 - the API server must reach the pod
    webhook_cert_dir: str = "/etc/supportbot/webhook"
    """Directory with `tls.crt` and `tls.key` (the chart's Secret); re-read when they change."""
    log_format: Literal["json", "plain", "full"] = "json"
    verbose: bool = False

    peering: str | None = None
    """kopf peering name for HA (needs the KopfPeering CRD); unset runs standalone."""
    priority: int | None = None
    """Peering priority; unset picks a random one (replicas must not share a priority)."""

    cluster_domain: str = "cluster.local"
    bot_uid: int = Field(default=10001, ge=1)
    """UID/GID the bot containers run as (non-root)."""
    queue_depth_metric: str = "supportbot_worker_queue_depth"
    """External metric (per tenant, label `tenant`) for worker autoscaling on queue depth."""
    inflight_metric: str = "supportbot_worker_turns_in_flight"
    """Pods metric for worker autoscaling on in-flight turns per pod."""

    @field_validator("namespaces", mode="before")
    @classmethod
    def _csv(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [part.strip() for part in v.split(",") if part.strip()]
        return v

    @property
    def bot_image(self) -> str:
        return f"{self.bot_image_repository}:{self.bot_image_tag}"
