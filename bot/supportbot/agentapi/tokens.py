"""Agent bearer tokens: compact HS256 JWTs (RFC 7519) with the standard library only. Pure.

Claims: ``sub`` (agent id: 1-64 of letters, digits, ``. _ @ -``), ``tenant`` (must equal the
bot's tenant id), ``exp`` (required, epoch seconds), optional ``iat``/``nbf``. Only ``alg:
HS256`` is accepted (no ``none``, no algorithm switching); the signature is compared in constant
time. Every rejection raises `TokenError` whose `reason` is safe to return to the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

AGENT_ID = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
DEFAULT_LEEWAY_SECONDS = 30.0
MAX_TOKEN_CHARS = 4096
MIN_SECRET_BYTES = 16
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


class TokenError(Exception):
    """The bearer token is missing, malformed, badly signed, expired or for another tenant."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AgentClaims:
    agent: str
    tenant: str
    expires_at: float
    issued_at: float | None = None

    @property
    def author(self) -> str:
        """The `author` of this agent's messages in the history."""
        return f"agent:{self.agent}"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not _SEGMENT.fullmatch(text):
        raise TokenError("malformed token")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed token") from None


def _sign(secret: bytes, signing_input: bytes) -> bytes:
    return hmac.new(secret, signing_input, hashlib.sha256).digest()


def _json(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment))
    except (UnicodeDecodeError, ValueError):
        raise TokenError("malformed token") from None
    if not isinstance(value, dict):
        raise TokenError("malformed token")
    return value


def check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")


def mint_token(secret: bytes, *, agent: str, tenant: str, ttl_seconds: float, now: float) -> str:
    """A signed token for `agent` of `tenant`, valid from `now` for `ttl_seconds`."""
    check_secret(secret)
    if not AGENT_ID.match(agent):
        raise ValueError("agent id: 1-64 letters, digits, '.', '_', '@' or '-'")
    if ttl_seconds <= 0:
        raise ValueError("ttl must be positive")
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": agent, "tenant": tenant, "iat": int(now), "exp": int(now + ttl_seconds)}
    head = _b64encode(json.dumps(header, separators=(",", ":")).encode())
    body = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{head}.{body}".encode("ascii")
    return f"{head}.{body}.{_b64encode(_sign(secret, signing_input))}"


def _number(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError(f"claim '{name}' missing or not a number")
    return float(value)


def verify_token(
    token: str,
    secret: bytes,
    *,
    tenant: str,
    now: float,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
) -> AgentClaims:
    """The token's claims, or TokenError. Checks signature, alg, exp/nbf, tenant and sub."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenError("malformed token")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed token")
    head, body, signature = parts
    if not all(_SEGMENT.fullmatch(p) for p in parts):
        raise TokenError("malformed token")
    header = _json(head)
    if header.get("alg") != "HS256":
        raise TokenError("unsupported token algorithm (HS256 required)")
    expected = _sign(secret, f"{head}.{body}".encode("ascii"))
    if not hmac.compare_digest(expected, _b64decode(signature)):
        raise TokenError("bad token signature")
    claims = _json(body)
    expires_at = _number(claims, "exp", required=True)
    assert expires_at is not None
    if now > expires_at + leeway:
        raise TokenError("token expired")
    not_before = _number(claims, "nbf", required=False)
    if not_before is not None and now + leeway < not_before:
        raise TokenError("token not valid yet")
    if claims.get("tenant") != tenant:
        raise TokenError("token is for another tenant")
    agent = claims.get("sub")
    if not isinstance(agent, str) or not AGENT_ID.match(agent):
        raise TokenError("claim 'sub' (agent id) missing or invalid")
    return AgentClaims(
        agent=agent,
        tenant=tenant,
        expires_at=expires_at,
        issued_at=_number(claims, "iat", required=False),
    )
