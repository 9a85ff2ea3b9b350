"""The bot containers' environment, rendered from the bot's own settings contract.

Variable names come from `supportbot.settings.env_var_names()` (field -> SUPPORTBOT_*), so a
renamed or removed field fails here instead of silently producing a variable the bot ignores.
Secrets are only ever `secretKeyRef`s; the operator never reads their values.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from supportbot.settings import BotSettings, env_var_names
from supportbot_operator import names
from supportbot_operator.spec import SecretKeyRef, SupportBot

EnvVar = dict[str, Any]

FLOW_PATH = PurePosixPath(str(BotSettings.model_fields["flow_path"].default))
"""Where the bot reads its flow; the flow snapshot ConfigMap is mounted at its directory."""
BACKEND_SECRETS_DIR = PurePosixPath("/etc/supportbot/backend")
"""Where the keys of `spec.flow.backendSecretRefs` are mounted (one file per key)."""


def _var(field: str, value: str) -> EnvVar:
    return {"name": env_var_names()[field], "value": value}


def _secret(field: str, ref: SecretKeyRef) -> EnvVar:
    return {
        "name": env_var_names()[field],
        "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
    }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def base_env(bot: SupportBot) -> list[EnvVar]:
    """What every bot process needs to load its settings (the required fields)."""
    spec = bot.spec
    return [
        _var("tenant_id", bot.name),
        _var("integrated_number", spec.whatsapp.integrated_number),
        _var("log_level", spec.log_level),
        _secret("webhook_secret", spec.whatsapp.webhook_secret_ref),
        _secret("redis_url", spec.storage.redis_url_secret_ref),
        _secret("database_url", spec.storage.postgres_dsn_secret_ref),
    ]


def _msg91_base_url(bot: SupportBot) -> list[EnvVar]:
    url = bot.spec.whatsapp.api_base_url
    return [_var("msg91_base_url", url)] if url else []


def _template(bot: SupportBot) -> list[EnvVar]:
    """The approved template sent instead of a reply once the 24-hour window has closed."""
    template = bot.spec.whatsapp.out_of_window_template
    if template is None:
        return []
    env = [
        _var("out_of_window_template_name", template.name),
        _var("out_of_window_template_language", template.language),
    ]
    if template.params:
        env.append(_var("out_of_window_template_params", ",".join(template.params)))
    return env


def handoff_env(bot: SupportBot) -> list[EnvVar]:
    """The handoff webhook (worker only: the worker's sender POSTs the notifications)."""
    hook = bot.spec.handoff_webhook
    if hook is None:
        return []
    env = [
        _var("handoff_webhook_url", hook.url),
        _secret("handoff_webhook_secret", hook.secret_ref),
        _var("handoff_webhook_include_phone", "true" if hook.include_phone else "false"),
        _var("handoff_webhook_last_messages", str(hook.last_messages)),
    ]
    host = urlsplit(hook.url).hostname
    if hook.allow_insecure_http and hook.url.startswith("http://") and host:
        env.append(_var("handoff_webhook_allow_http_hosts", host))
    return env


def agent_api_env(bot: SupportBot) -> list[EnvVar]:
    """What the webhook needs to serve the agent API: the token secret, and the MSG91 delivery
    settings, because agent replies are sent from the webhook process (same rate limit and
    out-of-window template as the worker's replies). Empty while the agent API is off."""
    spec = bot.spec
    ref = spec.jwt_secret_ref
    if ref is None:
        return []
    return [
        _secret("jwt_secret", ref),
        _secret("msg91_auth_key", spec.whatsapp.auth_key_secret_ref),
        _var("send_rate_limit_per_minute", str(spec.whatsapp.send_rate_limit_per_minute)),
        *_msg91_base_url(bot),
        *_template(bot),
    ]


def webhook_env(bot: SupportBot) -> list[EnvVar]:
    """The webhook verifies and enqueues; never LLM credentials, and MSG91 credentials only
    while it serves the agent API."""
    return [*base_env(bot), _var("port", str(names.WEBHOOK_PORT)), *agent_api_env(bot)]


def worker_env(bot: SupportBot) -> list[EnvVar]:
    # The order is part of the rendered pod template: reordering rolls every tenant's pods.
    spec = bot.spec
    env = [
        *base_env(bot),
        _secret("msg91_auth_key", spec.whatsapp.auth_key_secret_ref),
        _secret("openrouter_api_key", spec.llm.api_key_secret_ref),
        _var("llm_models", ",".join(spec.llm.models)),
        _var("llm_timeout_seconds", _number(spec.llm.timeout_seconds)),
        _var("llm_max_tokens", str(spec.llm.max_tokens)),
        _var("llm_temperature", _number(spec.llm.temperature)),
        _var("flow_path", str(FLOW_PATH)),
        _var("worker_concurrency", str(spec.worker.concurrency)),
        _var("send_rate_limit_per_minute", str(spec.whatsapp.send_rate_limit_per_minute)),
        _var("metrics_port", str(names.WORKER_METRICS_PORT)),
        *_msg91_base_url(bot),
    ]
    if spec.llm.base_url:
        env.append(_var("openrouter_base_url", spec.llm.base_url))
    return [*env, *_template(bot), *_answer_cache(bot), *handoff_env(bot), *_flow_http(bot)]


def _answer_cache(bot: SupportBot) -> list[EnvVar]:
    """Only when enabled: a tenant without it keeps an unchanged pod template (no roll)."""
    cache = bot.spec.llm.answer_cache
    if cache is None or not cache.enabled:
        return []
    return [
        _var("answer_cache_enabled", "true"),
        _var("answer_cache_ttl_seconds", str(cache.ttl_seconds)),
    ]


def _flow_http(bot: SupportBot) -> list[EnvVar]:
    """The flow's HTTP steps: where the backend keys are mounted and the allow-list (nothing
    when unused, so other tenants' pod templates stay as they are)."""
    flow = bot.spec.flow
    env = []
    if flow.backend_secret_refs:
        env.append(_var("flow_http_secrets_dir", str(BACKEND_SECRETS_DIR)))
    if flow.http_allow_hosts:
        env.append(_var("flow_http_allow_hosts", ",".join(flow.http_allow_hosts)))
    return env


def migrate_env(bot: SupportBot) -> list[EnvVar]:
    """`supportbot migrate` needs only the database URL (it falls back to it alone)."""
    return [
        _var("log_level", bot.spec.log_level),
        _secret("database_url", bot.spec.storage.postgres_dsn_secret_ref),
    ]
