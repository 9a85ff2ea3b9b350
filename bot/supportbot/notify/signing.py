"""The signature of a handoff notification (stdlib `hmac`, SHA-256).

The sender puts the Unix time of the attempt in `X-Supportbot-Timestamp` and
``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`` in `X-Supportbot-Signature`. A
receiver recomputes it over the raw body it read, compares in constant time
(`hmac.compare_digest`) and rejects timestamps older than `DEFAULT_TOLERANCE_SECONDS` (a replayed
request). `verify` is the reference receiver check (docs/handoff-webhook.md copies it).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Supportbot-Signature"
TIMESTAMP_HEADER = "X-Supportbot-Timestamp"
EVENT_HEADER = "X-Supportbot-Event"
ATTEMPT_HEADER = "X-Supportbot-Attempt"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The `X-Supportbot-Signature` value of `body` sent at `timestamp`."""
    mac = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def verify(
    secret: bytes,
    header: str | None,
    timestamp: str | None,
    body: bytes,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Does `header` sign `body` at `timestamp`, and is `timestamp` within `tolerance` of `now`?"""
    if not header or not timestamp or not timestamp.isdigit():
        return False
    stamp = int(timestamp)
    if abs(now - stamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, stamp, body), header)
