"""The bot's one settings object, read from the environment once at process start.

`BotSettings` is the single source of truth for environment variable names: the operator renders
its Deployments from :func:`env_var_names`, so a field added here reaches the pods without a second
list to keep in sync. Every variable has the ``SUPPORTBOT_`` prefix; the names the seed design
used (``DATABASE_URL``, ``REDIS_URL``, ``MSG91_AUTH_KEY``, ...) are accepted as aliases.

Bad or missing settings stop the process with :class:`SettingsError`, whose message names the
variables (never their values).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "SUPPORTBOT_"

_TENANT_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_NUMBER_RE = re.compile(r"^[1-9][0-9]{7,14}$")


def _env(name: str, *aliases: str) -> AliasChoices:
    """Accept ``SUPPORTBOT_<NAME>`` first, then the seed's unprefixed aliases."""
    return AliasChoices(ENV_PREFIX + name, *aliases)


class SettingsError(Exception):
    """The environment does not describe a runnable bot; the message names the variables."""


class BotSettings(BaseSettings):
    """Per-tenant configuration of the webhook and worker processes."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    # --- tenant identity -------------------------------------------------------------------
    tenant_id: str = Field(validation_alias=_env("TENANT_ID"))
    """Tenant name (the SupportBot resource name): lowercase DNS label."""

    integrated_number: str = Field(validation_alias=_env("INTEGRATED_NUMBER", "MSG91_SENDER_ID"))
    """The tenant's WhatsApp number on MSG91, E.164 digits without '+'."""

    # --- secrets ---------------------------------------------------------------------------
    webhook_secret: SecretStr = Field(
        validation_alias=_env("WEBHOOK_SECRET", "MSG91_WEBHOOK_SECRET")
    )
    """Shared secret MSG91 sends in `webhook_secret_header` (or `?token=` when allowed)."""

    webhook_secret_header: str = Field(
        default="X-Webhook-Secret", validation_alias=_env("WEBHOOK_SECRET_HEADER")
    )
    webhook_allow_query_token: bool = Field(
        default=False, validation_alias=_env("WEBHOOK_ALLOW_QUERY_TOKEN")
    )
    msg91_auth_key: SecretStr | None = Field(
        default=None, validation_alias=_env("MSG91_AUTH_KEY", "MSG91_AUTH_KEY")
    )
    """MSG91 `authkey`. Without it the bot talks to `msg91_base_url` (the simulator in dev)."""

    openrouter_api_key: SecretStr | None = Field(
        default=None, validation_alias=_env("OPENROUTER_API_KEY", "OPENROUTER_API_KEY")
    )
    jwt_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("JWT_SECRET", "JWT_SECRET")
    )
    """Signs/verifies agent-API bearer tokens (HS256): at least 32 bytes (RFC 7518 §3.2)."""

    # --- endpoints -------------------------------------------------------------------------
    redis_url: str = Field(validation_alias=_env("REDIS_URL", "REDIS_URL"))
    database_url: str = Field(validation_alias=_env("DATABASE_URL", "DATABASE_URL"))
    msg91_base_url: str = Field(
        default="https://api.msg91.com", validation_alias=_env("MSG91_BASE_URL")
    )
    openrouter_base_url: str = Field(
        default="https://openrouter.ai/api/v1", validation_alias=_env("OPENROUTER_BASE_URL")
    )

    # --- LLM -------------------------------------------------------------------------------
    llm_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("LLM_MODELS")
    )
    """Primary first, then fallbacks (1-3; OpenRouter's `models` array holds at most 3).
    Comma-separated. Falls back to OPENROUTER_PRIMARY_MODEL / OPENROUTER_FALLBACK_MODEL."""

    openrouter_primary_model: str | None = Field(
        default=None, validation_alias=_env("OPENROUTER_PRIMARY_MODEL", "OPENROUTER_PRIMARY_MODEL")
    )
    openrouter_fallback_model: str | None = Field(
        default=None,
        validation_alias=_env("OPENROUTER_FALLBACK_MODEL", "OPENROUTER_FALLBACK_MODEL"),
    )
    llm_timeout_seconds: float = Field(
        default=30.0, gt=0, le=300, validation_alias=_env("LLM_TIMEOUT_SECONDS")
    )
    llm_max_tokens: int = Field(
        default=512, ge=1, le=32768, validation_alias=_env("LLM_MAX_TOKENS")
    )
    llm_temperature: float = Field(
        default=0.3, ge=0, le=2, validation_alias=_env("LLM_TEMPERATURE")
    )
    llm_mask_pii: bool = Field(default=True, validation_alias=_env("LLM_MASK_PII"))
    answer_cache_enabled: bool = Field(default=False, validation_alias=_env("ANSWER_CACHE_ENABLED"))
    """Answer repeated free-text questions from the cache (`engine.answers`); off by default."""
    answer_cache_ttl_seconds: int = Field(
        default=3600, ge=60, le=7 * 86_400, validation_alias=_env("ANSWER_CACHE_TTL_SECONDS")
    )
    answer_cache_memory_entries: int = Field(
        default=1024, ge=0, le=100_000, validation_alias=_env("ANSWER_CACHE_MEMORY_ENTRIES")
    )
    """Size of the in-process tier in front of Redis (0: Redis only)."""

    # --- conversation flow -----------------------------------------------------------------
    flow_path: Path = Field(
        default=Path("/etc/supportbot/flow/flow.yaml"), validation_alias=_env("FLOW_PATH")
    )
    flow_http_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("FLOW_HTTP_ALLOW_HOSTS")
    )
    """Hosts (`host` or `host:port`, comma-separated) the flow's HTTP steps may reach over plain
    http or at private/loopback addresses (in-cluster services). Link-local and cloud metadata
    addresses stay refused."""
    flow_http_secrets_dir: Path | None = Field(
        default=None, validation_alias=_env("FLOW_HTTP_SECRETS_DIR")
    )
    """Directory of the backend Secret's keys (one file each), read for `{{secret:NAME}}` in the
    header values of HTTP steps; unset: such steps fail to the flow's error branch."""

    # --- webhook ---------------------------------------------------------------------------
    port: int = Field(default=8080, ge=1, le=65535, validation_alias=_env("PORT", "PORT"))
    max_body_bytes: int = Field(default=262_144, ge=1024, validation_alias=_env("MAX_BODY_BYTES"))
    throttle_per_minute: int = Field(default=10, ge=1, validation_alias=_env("THROTTLE_PER_MINUTE"))
    dedupe_ttl_seconds: int = Field(
        default=86_400, ge=60, validation_alias=_env("DEDUPE_TTL_SECONDS")
    )
    redis_max_connections: int = Field(
        default=64, ge=1, validation_alias=_env("REDIS_MAX_CONNECTIONS")
    )

    # --- worker ----------------------------------------------------------------------------
    queue_name: str = Field(default="", validation_alias=_env("QUEUE_NAME"))
    """rq queue of this tenant; defaults to ``supportbot-<tenant_id>``."""
    worker_concurrency: int = Field(
        default=1000, ge=1, le=10_000, validation_alias=_env("WORKER_CONCURRENCY")
    )
    turn_timeout_seconds: float = Field(
        default=120.0, gt=0, validation_alias=_env("TURN_TIMEOUT_SECONDS")
    )
    turn_retry_deadline_seconds: float = Field(
        default=21_600.0, gt=0, le=86_400, validation_alias=_env("TURN_RETRY_DEADLINE_SECONDS")
    )
    """How long after its first message a turn keeps waiting for an unavailable dependency
    (PostgreSQL, Redis, MSG91) before it is dead-lettered (replayable). At most 24 h: past the
    WhatsApp window only a template can be sent anyway."""
    turn_retry_max_delay_seconds: float = Field(
        default=15.0, gt=0, le=300, validation_alias=_env("TURN_RETRY_MAX_DELAY_SECONDS")
    )
    """Cap of the backoff between two runs of a deferred turn: how late an answer can be after
    the dependency is back."""
    lease_seconds: float = Field(default=30.0, gt=0, validation_alias=_env("LEASE_SECONDS"))
    coalesce_window_seconds: float = Field(
        default=1.5, ge=0, validation_alias=_env("COALESCE_WINDOW_SECONDS")
    )
    coalesce_max_wait_seconds: float = Field(
        default=5.0, ge=0, validation_alias=_env("COALESCE_MAX_WAIT_SECONDS")
    )
    shutdown_grace_seconds: float = Field(
        default=25.0, ge=0, validation_alias=_env("SHUTDOWN_GRACE_SECONDS")
    )
    session_ttl_seconds: int = Field(
        default=3600, ge=60, validation_alias=_env("SESSION_TTL_SECONDS")
    )
    history_retention_days: int = Field(
        default=365, ge=1, validation_alias=_env("HISTORY_RETENTION_DAYS")
    )
    database_pool_max: int = Field(
        default=20, ge=1, le=100, validation_alias=_env("DATABASE_POOL_MAX")
    )
    database_pool_min: int = Field(
        default=5, ge=0, le=100, validation_alias=_env("DATABASE_POOL_MIN")
    )

    # --- delivery --------------------------------------------------------------------------
    send_rate_limit_per_minute: int = Field(
        default=100, ge=1, validation_alias=_env("SEND_RATE_LIMIT_PER_MINUTE")
    )
    out_of_window_template_name: str | None = Field(
        default=None, validation_alias=_env("OUT_OF_WINDOW_TEMPLATE_NAME")
    )
    out_of_window_template_language: str = Field(
        default="en", validation_alias=_env("OUT_OF_WINDOW_TEMPLATE_LANGUAGE")
    )
    out_of_window_template_params: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("OUT_OF_WINDOW_TEMPLATE_PARAMS")
    )

    # --- handoff notifications (outbound webhook to the business: supportbot.notify) -------
    handoff_webhook_url: str | None = Field(
        default=None, validation_alias=_env("HANDOFF_WEBHOOK_URL")
    )
    """Where the worker POSTs `handoff.requested` / `handoff.customer_message` events (https;
    plain http only for hosts in `handoff_webhook_allow_http_hosts`). Unset: no notifications."""
    handoff_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("HANDOFF_WEBHOOK_SECRET")
    )
    """HMAC-SHA256 key of the `X-Supportbot-Signature` header (at least 16 bytes); required
    with the URL."""
    handoff_webhook_include_phone: bool = Field(
        default=False, validation_alias=_env("HANDOFF_WEBHOOK_INCLUDE_PHONE")
    )
    """Send the customer's full phone number (default: masked, e.g. 91******3210)."""
    handoff_webhook_allow_http_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("HANDOFF_WEBHOOK_ALLOW_HTTP_HOSTS")
    )
    """Hosts the webhook may be reached at over plain http (comma-separated; tests, in-cluster
    receivers behind a mesh). Every other URL must be https."""
    handoff_webhook_last_messages: int = Field(
        default=10, ge=0, le=50, validation_alias=_env("HANDOFF_WEBHOOK_LAST_MESSAGES")
    )
    handoff_webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, validation_alias=_env("HANDOFF_WEBHOOK_TIMEOUT_SECONDS")
    )
    handoff_webhook_max_attempts: int = Field(
        default=20, ge=1, le=100, validation_alias=_env("HANDOFF_WEBHOOK_MAX_ATTEMPTS")
    )
    handoff_webhook_give_up_seconds: float = Field(
        default=86_400.0,
        gt=0,
        le=7 * 86_400,
        validation_alias=_env("HANDOFF_WEBHOOK_GIVE_UP_SECONDS"),
    )
    """A notification not delivered this long after it was made is marked failed."""
    handoff_webhook_retry_base_seconds: float = Field(
        default=2.0, gt=0, le=600, validation_alias=_env("HANDOFF_WEBHOOK_RETRY_BASE_SECONDS")
    )
    handoff_webhook_retry_max_delay_seconds: float = Field(
        default=600.0,
        gt=0,
        le=3600,
        validation_alias=_env("HANDOFF_WEBHOOK_RETRY_MAX_DELAY_SECONDS"),
    )
    handoff_webhook_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, validation_alias=_env("HANDOFF_WEBHOOK_POLL_SECONDS")
    )
    """How often the sender looks for due notifications when it found none."""

    # --- process ---------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=_env("LOG_LEVEL")
    )
    metrics_port: int = Field(default=9090, ge=1, le=65535, validation_alias=_env("METRICS_PORT"))

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes (HS256 needs a key as long as its hash)")
        return v

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, v: str) -> str:
        if not _TENANT_RE.match(v):
            raise ValueError("must be a lowercase DNS label (a-z, 0-9, '-'; at most 63 chars)")
        return v

    @field_validator("integrated_number")
    @classmethod
    def _number(cls, v: str) -> str:
        digits = v.removeprefix("+")
        if not _NUMBER_RE.match(digits):
            raise ValueError("must be an E.164 number: 8-15 digits, country code first, no '+'")
        return digits

    @field_validator(
        "llm_models",
        "out_of_window_template_params",
        "handoff_webhook_allow_http_hosts",
        "flow_http_allow_hosts",
        mode="before",
    )
    @classmethod
    def _csv(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [part.strip() for part in v.split(",") if part.strip()]
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return v

    @field_validator("database_url")
    @classmethod
    def _pg(cls, v: str) -> str:
        if not v.startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// URL")
        return v

    @model_validator(mode="after")
    def _models(self) -> BotSettings:
        if not self.llm_models:
            legacy = [
                m for m in (self.openrouter_primary_model, self.openrouter_fallback_model) if m
            ]
            object.__setattr__(self, "llm_models", legacy)
        if len(self.llm_models) > 3:
            raise ValueError(f"{ENV_PREFIX}LLM_MODELS holds at most 3 models (OpenRouter's limit)")
        if not self.queue_name:
            object.__setattr__(self, "queue_name", f"supportbot-{self.tenant_id}")
        if self.database_pool_min > self.database_pool_max:
            raise ValueError(
                f"{ENV_PREFIX}DATABASE_POOL_MIN must be <= {ENV_PREFIX}DATABASE_POOL_MAX"
            )
        self._check_handoff_webhook()
        return self

    def _check_handoff_webhook(self) -> None:
        url = self.handoff_webhook_url
        if not url:
            return
        name = f"{ENV_PREFIX}HANDOFF_WEBHOOK_URL"
        parsed = urlsplit(url)
        if parsed.scheme not in ("https", "http") or not parsed.hostname:
            raise ValueError(f"{name} must be an absolute https:// URL")
        if parsed.username or parsed.password:
            raise ValueError(f"{name} must not carry credentials (the request is signed)")
        allowed = {h.lower() for h in self.handoff_webhook_allow_http_hosts}
        if parsed.scheme == "http" and parsed.hostname.lower() not in allowed:
            raise ValueError(
                f"{name} must be https (plain http only for hosts in "
                f"{ENV_PREFIX}HANDOFF_WEBHOOK_ALLOW_HTTP_HOSTS)"
            )
        secret = self.handoff_webhook_secret
        if secret is None or len(secret.get_secret_value().encode()) < 16:
            raise ValueError(
                f"{ENV_PREFIX}HANDOFF_WEBHOOK_SECRET (at least 16 bytes) is required with {name}"
            )


def env_var_names() -> dict[str, str]:
    """Field name -> the canonical (prefixed) environment variable the operator should set."""
    return {name: ENV_PREFIX + name.upper() for name in BotSettings.model_fields}


def _describe(loc: str) -> str:
    """'SUPPORTBOT_X (or ALIAS)' for a validation location (an alias or a field name)."""
    for name, info in BotSettings.model_fields.items():
        alias = info.validation_alias
        choices = [str(c) for c in alias.choices] if isinstance(alias, AliasChoices) else []
        if loc == name or loc in choices:
            others = sorted(set(choices[1:]) - {choices[0]}) if choices else []
            main = choices[0] if choices else ENV_PREFIX + name.upper()
            return f"{main} (or {', '.join(others)})" if others else main
    return loc or "settings"


def load_settings(environ: Mapping[str, str] | None = None) -> BotSettings:
    """Build the settings from `environ` (default: the process environment).

    Raises SettingsError naming each bad or missing variable; values are never echoed.
    """
    try:
        if environ is None:
            return BotSettings()
        return BotSettings.model_validate(dict(environ))
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = err.get("loc") or ()
            what = "missing" if err.get("type") == "missing" else err.get("msg", "invalid")
            problems.append(f"{_describe(str(loc[0]) if loc else '')}: {what}")
        raise SettingsError("invalid bot settings:\n  " + "\n  ".join(problems)) from None
