"""Simulator configuration: CLI flags at start, ``PATCH /_sim/config`` at runtime."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

WebhookFormat = Literal["msg91", "meta"]
TsFormat = Literal["iso", "epoch", "epoch_ms"]
FinalState = Literal["none", "sent", "delivered", "read"]
DlrOrder = Literal["in_order", "reverse", "shuffle"]

INBOUND_PATH = "/webhooks/msg91/inbound"
STATUS_PATH = "/webhooks/msg91/status"


class Route(BaseModel):
    """Where webhooks for one integrated number go, and the shared secret they carry."""

    model_config = ConfigDict(extra="forbid")

    inbound_url: str | None = None
    status_url: str | None = None
    secret: str | None = None
    secret_header: str = "X-Webhook-Secret"  # noqa: S105 - a header name

    @classmethod
    def for_bot(cls, base_url: str, secret: str | None, header: str) -> Route:
        base = base_url.rstrip("/")
        return cls(
            inbound_url=base + INBOUND_PATH,
            status_url=base + STATUS_PATH,
            secret=secret,
            secret_header=header,
        )


class FaultRule(BaseModel):
    """Answer the next `count` send requests with `status` (scripted fault injection)."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(ge=400, le=599)
    count: int = Field(default=1, ge=1)
    retry_after: float | None = Field(default=None, ge=0)
    html: bool = False
    """Answer with an HTML body (as a proxy in front of MSG91 would) instead of JSON."""
    path: Literal["session", "bulk"] | None = None
    """Only requests to this endpoint; None = any send endpoint."""


class SimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    auth_keys: list[str] = Field(default_factory=list)
    """Accepted `authkey` values; empty = open mode (no authkey required)."""
    numbers: list[str] = Field(default_factory=list)
    """Integrated numbers of the account; empty = any well-formed number is accepted."""
    default_route: Route = Field(default_factory=Route)
    routes: dict[str, Route] = Field(default_factory=dict)
    """Per-integrated-number override of `default_route` (several tenants on one simulator)."""
    webhook_format: WebhookFormat = "msg91"
    ts_format: TsFormat = "iso"
    placeholders: bool = True
    """Flat payloads carry the literal ``{{field}}`` for fields that do not apply (as MSG91)."""
    latency_ms: tuple[float, float] = (0.0, 0.0)
    """Uniform extra latency of every send request, [min, max] milliseconds."""
    rate_429: float = Field(default=0.0, ge=0, le=1)
    rate_5xx: float = Field(default=0.0, ge=0, le=1)
    retry_after: float | None = Field(default=None, ge=0)
    """Retry-After header (seconds) on injected and rate-limit 429s."""
    max_per_window: int | None = Field(default=None, ge=1)
    """Per integrated number: more accepted sends than this per `rate_window_seconds` -> 429."""
    rate_window_seconds: float = Field(default=60.0, gt=0)
    dlr_final: FinalState = "read"
    dlr_delay_ms: float = Field(default=20.0, ge=0)
    dlr_order: DlrOrder = "in_order"
    dlr_duplicates: int = Field(default=0, ge=0, le=10)
    enforce_window: bool = False
    """Free-form sends to customers without an inbound in the last 24 h fail (DLR 131047)."""
    templates: dict[str, int] = Field(default_factory=dict)
    """Approved templates, ``name`` or ``name:language`` -> body parameter count; when not
    empty, other templates / wrong counts are accepted and then fail (DLR 132001 / 132000)."""
    webhook_retries: int = Field(default=2, ge=0, le=10)
    webhook_timeout: float = Field(default=5.0, gt=0)
    max_records: int = Field(default=100_000, ge=1)

    def route(self, integrated_number: str) -> Route:
        return self.routes.get(integrated_number, self.default_route)

    def public(self) -> dict[str, Any]:
        """The configuration with secrets masked (for ``GET /_sim/config``)."""
        doc = self.model_dump()
        doc["auth_keys"] = ["***" for _ in self.auth_keys]
        for route in [doc["default_route"], *doc["routes"].values()]:
            if route["secret"]:
                route["secret"] = "***"  # noqa: S105 - the mask
        return doc
