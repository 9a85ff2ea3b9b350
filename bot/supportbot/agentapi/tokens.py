"""Agent bearer tokens: compact HS256 JWTs (RFC 7519), made and checked with PyJWT. Pure.

Claims: ``sub`` (agent id: 1-64 of letters, digits, ``. _ @ -``), ``tenant`` (must equal the
bot's tenant id), ``exp`` (required, epoch seconds), optional ``iat``/``nbf``. PyJWT does the
format, the signature (constant-time) and the algorithm: only ``alg: HS256`` is accepted (no
``none``, no algorithm switching) and keys shorter than 32 bytes are refused (RFC 7518 §3.2).

The time claims are checked here, against the caller's clock (PyJWT reads the wall clock and
cannot be given another): each must be a finite JSON number within `EPOCH_RANGE` (year 1970 to
9999), so ``exp: 1e400`` or a 400-digit integer is a clean rejection, not an overflow. Every
rejection raises `TokenError` whose `reason` is safe to return to the caller.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import jwt

AGENT_ID = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
ALGORITHM = "HS256"
DEFAULT_LEEWAY_SECONDS = 30.0
MAX_TOKEN_CHARS = 4096
MIN_SECRET_BYTES = 32
"""RFC 7518 §3.2: an HS256 key is at least as long as the hash (256 bits)."""
EPOCH_RANGE = (0, 253_402_300_799)
"""Accepted values of the time claims: 1970-01-01 to 9999-12-31T23:59:59Z (epoch seconds)."""

_JWT = jwt.PyJWT({"enforce_minimum_key_length": True})
_DECODE_OPTIONS: jwt.types.Options = {
    "require": ["exp"],
    "verify_exp": False,  # checked by `_epoch` with the caller's clock
    "verify_nbf": False,
    "verify_iat": False,
}
_BAD_SUB = "claim 'sub' (agent id) missing or invalid"


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


def check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")


def mint_token(secret: bytes, *, agent: str, tenant: str, ttl_seconds: float, now: float) -> str:
    """A signed token for `agent` of `tenant`, valid from `now` for `ttl_seconds`."""
    check_secret(secret)
    if not AGENT_ID.match(agent):
        raise ValueError("agent id: 1-64 letters, digits, '.', '_', '@' or '-'")
    if not 0 < ttl_seconds <= EPOCH_RANGE[1] - now:
        raise ValueError("ttl must be positive (and end before the year 10000)")
    claims = {"sub": agent, "tenant": tenant, "iat": int(now), "exp": int(now + ttl_seconds)}
    return _JWT.encode(claims, secret, algorithm=ALGORITHM)


def _decode(token: str, secret: bytes) -> dict[str, Any]:
    try:
        return _JWT.decode(token, secret, algorithms=[ALGORITHM], options=_DECODE_OPTIONS)
    except jwt.InvalidAlgorithmError:
        raise TokenError("unsupported token algorithm (HS256 required)") from None
    except jwt.InvalidSignatureError:
        raise TokenError("bad token signature") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError(f"claim '{exc.claim}' missing or not a number") from None
    except jwt.exceptions.InvalidSubjectError:
        raise TokenError(_BAD_SUB) from None
    except jwt.InvalidTokenError:
        raise TokenError("malformed token") from None


def _epoch(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    """A time claim as epoch seconds; TokenError unless a finite number in `EPOCH_RANGE`."""
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError(f"claim '{name}' missing or not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise TokenError(f"claim '{name}' out of range")
    low, high = EPOCH_RANGE
    if not low <= value <= high:  # compared before float(): a 400-digit int would overflow
        raise TokenError(f"claim '{name}' out of range")
    return float(value)


def verify_token(
    token: str,
    secret: bytes,
    *,
    tenant: str,
    now: float,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
) -> AgentClaims:
    """The token's claims, or TokenError. Checks signature, alg, exp/nbf, tenant and sub.
    ValueError when `secret` itself is too short (a configuration error, not the caller's)."""
    check_secret(secret)
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenError("malformed token")
    claims = _decode(token, secret)
    expires_at = _epoch(claims, "exp", required=True)
    assert expires_at is not None
    not_before = _epoch(claims, "nbf", required=False)
    issued_at = _epoch(claims, "iat", required=False)
    if now > expires_at + leeway:
        raise TokenError("token expired")
    if not_before is not None and now + leeway < not_before:
        raise TokenError("token not valid yet")
    if claims.get("tenant") != tenant:
        raise TokenError("token is for another tenant")
    agent = claims.get("sub")
    if not isinstance(agent, str) or not AGENT_ID.match(agent):
        raise TokenError(_BAD_SUB)
    return AgentClaims(agent=agent, tenant=tenant, expires_at=expires_at, issued_at=issued_at)
