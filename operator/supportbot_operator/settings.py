"""The operator's one settings object (`SUPPORTBOT_OPERATOR_*`), read once at start-up and
passed explicitly: to the renderers as an argument, to kopf handlers through the runtime in
``memo``. Nothing else reads the environment."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from supportbot_operator import __version__
from supportbot_operator.election import ElectionTiming

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
    secret_access: Literal["watch", "referenced"] = "watch"  # noqa: S105 - a mode
    """How tenants' Secrets are read (digests only, never kept): `watch` lists and watches every
    Secret of the served namespaces (a rotation rolls pods at once); `referenced` only GETs the
    Secrets the SupportBots reference, for an RBAC grant limited to those names, and re-reads
    them every `secret_poll_seconds`. See `secretreader`."""
    secret_poll_seconds: float = Field(default=30.0, ge=0.5, le=3600)
    """`referenced` mode: how often every referenced Secret is re-read (rotation latency)."""
    max_rolling_tenants: int = Field(default=0, ge=0, le=10000)
    """Fleet rollout pacing: at most this many tenants replace their pods at a time (a new
    bot image, an operator upgrade); the others wait in line, first come first served, each
    until a slot frees, i.e. an earlier tenant's Deployments are rolled out and available. 0:
    unpaced (every tenant rolls at once). See `pacing`."""
    rollout_recheck_seconds: float = Field(default=10.0, gt=0, le=300)
    """A tenant waiting for a rollout slot is re-checked at least this often (it is also
    woken as soon as a slot frees)."""

    metrics_host: str = "0.0.0.0"  # noqa: S104 - the pod's metrics endpoint must be reachable
    metrics_port: int = Field(default=8000, ge=0, le=65535)
    """Prometheus endpoint; 0 disables it."""
    liveness_port: int = Field(default=8080, ge=0, le=65535)
    """The probes' port: `/healthz` (liveness) and `/readyz` (readiness); 0 disables both."""
    webhook_port: int = Field(default=0, ge=0, le=65535)
    """HTTPS port of the validating admission webhook server; 0 (the default) serves none."""
    webhook_host: str = "0.0.0.0"  # noqa: S104 - the API server must reach the pod
    webhook_cert_dir: str = "/etc/supportbot/webhook"
    """Directory with `tls.crt` and `tls.key` (the chart's Secret); re-read when they change."""
    log_format: Literal["json", "plain", "full"] = "json"
    verbose: bool = False

    leader_election_lease: str = ""
    """Name of the `coordination.k8s.io` Lease the replicas elect a leader on (the chart creates
    it); empty runs without election, which is only safe with exactly one replica."""
    leader_election_namespace: str = ""
    """Namespace of that Lease: the operator's own (required with a lease name)."""
    leader_election_identity: str = ""
    """This replica's `holderIdentity`; empty: `<hostname>_<uuid4>` (client-go's convention)."""
    lease_duration_seconds: int = Field(default=15, ge=1, le=300)
    """How long a leader's claim lasts: a standby takes over at most this long (plus one retry
    period) after the leader died without releasing the lease."""
    renew_deadline_seconds: float = Field(default=10.0, gt=0)
    """A leader that could not renew for this long stops reconciling."""
    retry_period_seconds: float = Field(default=2.0, gt=0)
    """How often the leader renews and candidates try (candidates with up to 120 % jitter)."""

    cluster_domain: str = "cluster.local"
    bot_uid: int = Field(default=10001, ge=1)
    """UID/GID the bot containers run as (non-root)."""
    inflight_metric: str = "supportbot_worker_turns_in_flight"
    """Pods metric for worker autoscaling on in-flight turns per pod."""

    @field_validator("namespaces", mode="before")
    @classmethod
    def _csv(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [part.strip() for part in v.split(",") if part.strip()]
        return v

    @model_validator(mode="after")
    def _election(self) -> OperatorSettings:
        if self.leader_election_lease:
            if not self.leader_election_namespace:
                raise ValueError("leader_election_namespace is required with a lease name")
            self.election_timing()  # raises when the three durations are out of order
        return self

    def election_timing(self) -> ElectionTiming:
        return ElectionTiming(
            lease_duration=float(self.lease_duration_seconds),
            renew_deadline=self.renew_deadline_seconds,
            retry_period=self.retry_period_seconds,
        )

    @property
    def bot_image(self) -> str:
        return f"{self.bot_image_repository}:{self.bot_image_tag}"
