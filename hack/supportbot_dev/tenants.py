"""Turn the committed examples into tenants that run on the local platform (pure functions).

The examples ship placeholder Secrets (`REPLACE_ME`). For the demo and the e2e tests every
Secret value is replaced by a working local one (private Redis database, PostgreSQL database,
simulator keys, random webhook/JWT secrets), and the SupportBot is pointed at the simulators
unless a real key is configured. The origin (scheme, host, port) of each flow HTTP step's URL
is pointed at the fake order backend (`supportbot_dev.orders_backend`), which the SupportBot's
`spec.flow.httpAllowHosts` then allow-lists (it serves plain http on 127.0.0.1). Everything else
(flows, models, limits) stays as committed, so what runs is what a user would apply.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from supportbot_dev.binaries import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
SIM_MSG91_KEY = "demo-msg91-authkey"
SIM_OPENROUTER_KEY = "sk-or-demo-key"
SIM_ORDERS_KEY = "demo-orders-key"
_HTTP_STEP_URL = re.compile(r'^(\s*url:\s*["\']?)(https?://[^/"\'\s]+)', re.MULTILINE)


@dataclass(frozen=True)
class TenantValues:
    """Local values for one tenant's Secrets."""

    redis_url: str
    database_url: str
    msg91_base_url: str | None
    """None = the real MSG91 API (a real key is configured)."""
    openrouter_base_url: str | None
    msg91_auth_key: str = SIM_MSG91_KEY
    openrouter_api_key: str = SIM_OPENROUTER_KEY
    orders_backend_url: str | None = None
    """The fake order backend the flows' HTTP steps call (None: the URLs stay as committed)."""
    orders_api_key: str = SIM_ORDERS_KEY
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))


@dataclass(frozen=True)
class Tenant:
    name: str
    number: str
    docs: list[dict[str, Any]]
    values: TenantValues


def example_dirs() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.is_dir() and (p / "supportbot.yaml").exists())


def load_example(directory: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _secret_value(key: str, current: str, values: TenantValues) -> str:
    """Pick the local value for a Secret key by what its placeholder/key says it holds."""
    k, c = key.lower(), current.lower()
    if "redis" in k and "address" in k:  # KEDA's scaler: host:port of the same Redis
        return urlsplit(values.redis_url).netloc.rsplit("@", 1)[-1]
    if "redis" in k and "password" in k:
        return urlsplit(values.redis_url).password or ""
    if "redis" in k or c.startswith("redis"):
        return values.redis_url
    if "postgres" in k or "dsn" in k or "database" in k or c.startswith("postgres"):
        return values.database_url
    if "orders" in k:
        return values.orders_api_key
    if "webhook" in k:
        return values.webhook_secret
    if "jwt" in k or "agent" in k:
        return values.jwt_secret
    if "openrouter" in c or "openrouter" in k:
        return values.openrouter_api_key
    if "msg91" in c or "auth" in k:
        return values.msg91_auth_key
    if k in {"api-key", "apikey", "api_key"}:
        return values.openrouter_api_key
    raise ValueError(f"don't know what Secret key {key!r} holds (value {current[:20]!r}...)")


def _point_at_backend(flow_text: str, backend_url: str) -> str:
    """`flow_text` with the origin of every HTTP step URL replaced by `backend_url`."""
    return _HTTP_STEP_URL.sub(lambda m: m.group(1) + backend_url, flow_text)


def localise(docs: list[dict[str, Any]], values: TenantValues) -> list[dict[str, Any]]:
    """Copy of `docs` with working Secret values and simulator endpoints."""
    out: list[dict[str, Any]] = []
    for doc in docs:
        doc = yaml.safe_load(yaml.safe_dump(doc))  # deep copy
        if doc["kind"] == "Secret":
            data = doc.pop("stringData", {}) | dict.fromkeys(doc.pop("data", {}), "")
            doc["stringData"] = {k: _secret_value(k, str(v), values) for k, v in data.items()}
        elif doc["kind"] == "ConfigMap" and values.orders_backend_url:
            doc["data"] = {
                k: _point_at_backend(v, values.orders_backend_url)
                for k, v in (doc.get("data") or {}).items()
            }
        elif doc["kind"] == "SupportBot":
            spec = doc["spec"]
            if values.msg91_base_url:
                spec["whatsapp"]["apiBaseUrl"] = values.msg91_base_url
            if values.openrouter_base_url:
                spec["llm"]["baseUrl"] = values.openrouter_base_url
            flow = spec["flow"]
            if values.orders_backend_url and (
                flow.get("backendSecretRefs") or flow.get("httpAllowHosts")
            ):
                flow["httpAllowHosts"] = [urlsplit(values.orders_backend_url).netloc]
            keda = spec.get("worker", {}).get("autoscaling", {}).get("keda")
            if keda is not None:  # KEDA reaches the same local Redis database
                url = urlsplit(values.redis_url)
                keda["redisDatabase"] = int(url.path.strip("/") or 0)
                keda["redisTls"] = url.scheme == "rediss"
        out.append(doc)
    return out


def supportbot_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (bot,) = [d for d in docs if d["kind"] == "SupportBot"]
    return bot
