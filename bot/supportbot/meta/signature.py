"""Webhook authenticity for the Meta Cloud API (pure; reference §2.2).

- POST: ``X-Hub-Signature-256: sha256=<hex>`` is HMAC-SHA256 over the **raw request body bytes**
  keyed with the **App Secret**. Check it before any parse (re-serialised JSON breaks on emoji
  and accented characters), in constant time (`hmac.compare_digest`).
- GET handshake: ``?hub.mode=subscribe&hub.verify_token=<yours>&hub.challenge=<str>``; when
  mode and token match, answer 200 with the raw challenge, otherwise 403.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="


def sign(app_secret: str | bytes, raw_body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for `raw_body` (``sha256=<hex>``)."""
    key = app_secret.encode() if isinstance(app_secret, str) else app_secret
    return PREFIX + hmac.new(key, raw_body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: str | bytes, raw_body: bytes, header: str | None) -> bool:
    """True when `header` is ``sha256=`` + the HMAC-SHA256 of `raw_body` under `app_secret`.

    The prefix is required; the hex digest is compared case-insensitively and in constant time.
    An empty secret never verifies (a misconfigured tenant must not accept everything)."""
    if not app_secret or not header or not header.startswith(PREFIX):
        return False
    given = header[len(PREFIX) :].strip().lower()
    expected = sign(app_secret, raw_body)[len(PREFIX) :]
    return hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii"))


def verification_challenge(params: Mapping[str, str], verify_token: str) -> str | None:
    """The challenge to echo (200, raw text) for a valid GET handshake, else None (answer 403).

    Valid: ``hub.mode == "subscribe"``, ``hub.verify_token`` equals `verify_token` (constant
    time; an empty configured token never matches) and ``hub.challenge`` is present."""
    if params.get("hub.mode") != "subscribe" or not verify_token:
        return None
    given = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    if given is None or challenge is None:
        return None
    if not hmac.compare_digest(given.encode(), verify_token.encode()):
        return None
    return challenge
