"""What the phone page serves: the MSG91 simulator, the tenants (number, webhook, agent token)
and the customer presets. Pure values and parsing of the command-line forms.

    --tenant acme=919123456789,webhook=http://127.0.0.1:8080,token=eyJ...
    --customer Asha=919876543210
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_NUMBER = re.compile(r"^[1-9][0-9]{7,14}$")
_TENANT = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
LOCAL_HOST_HEADERS = ("127.0.0.1", "localhost", "[::1]")


class ConfigError(ValueError):
    """A tenant/customer spec or the configuration is not usable; the message says why."""


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    phone: str


@dataclass(frozen=True, slots=True)
class TenantConfig:
    name: str
    """Tenant id (the SupportBot name)."""
    number: str
    """The tenant's integrated WhatsApp number (digits)."""
    webhook_url: str | None = None
    """Base URL of the tenant's webhook app; the agent API is under ``/api/v1``."""
    token: str | None = field(default=None, repr=False)
    """Agent-API bearer token (kept server-side: the browser never sees it)."""

    @property
    def agent_api(self) -> str | None:
        if self.webhook_url is None or self.token is None:
            return None
        return self.webhook_url.rstrip("/") + "/api/v1"


DEFAULT_CUSTOMERS = (
    Customer("Asha", "919876543210"),
    Customer("Ravi", "919812345678"),
    Customer("Maria", "14155550123"),
)


@dataclass(frozen=True, slots=True)
class PhoneConfig:
    msg91_sim: str
    """Base URL of the MSG91 simulator (``supportbot msg91-sim``)."""
    tenants: tuple[TenantConfig, ...]
    customers: tuple[Customer, ...] = DEFAULT_CUSTOMERS
    poll_ms: int = 500
    allowed_hosts: tuple[str, ...] = LOCAL_HOST_HEADERS
    """Host headers the page answers (DNS-rebinding guard: it proxies with agent tokens);
    ``("*",)`` accepts any."""
    upstream_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.tenants:
            raise ConfigError("at least one tenant is required")
        names = [t.name for t in self.tenants]
        if len(set(names)) != len(names):
            raise ConfigError("tenant names must be unique")

    def tenant(self, name: str) -> TenantConfig | None:
        return next((t for t in self.tenants if t.name == name), None)


def phone_digits(value: str) -> str:
    digits = value.strip().removeprefix("+").replace(" ", "").replace("-", "")
    if not _NUMBER.match(digits):
        raise ConfigError(f"{value!r} is not a phone number (8-15 digits, country code first)")
    return digits


def parse_tenant(spec: str) -> TenantConfig:
    """``NAME=NUMBER[,webhook=URL][,token=JWT|,token-file=PATH]``."""
    head, *options = [part.strip() for part in spec.split(",")]
    name, sep, number = head.partition("=")
    if not sep or not _TENANT.match(name):
        raise ConfigError(f"tenant spec {spec.split(',')[0]!r}: expected NAME=NUMBER")
    fields: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in ("webhook", "token", "token-file") or not value:
            raise ConfigError(f"tenant {name}: unknown option {key!r} (webhook, token, token-file)")
        fields[key] = value
    token = fields.get("token")
    if "token-file" in fields:
        token = Path(fields["token-file"]).read_text(encoding="utf-8").strip()
    webhook = fields.get("webhook")
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        raise ConfigError(f"tenant {name}: webhook must be an http(s) URL")
    return TenantConfig(name, phone_digits(number), webhook, token or None)


def parse_customer(spec: str) -> Customer:
    """``NAME=PHONE``."""
    name, sep, phone = spec.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"customer spec {spec!r}: expected NAME=PHONE")
    return Customer(name.strip(), phone_digits(phone))


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")
