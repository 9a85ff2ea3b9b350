"""Meta webhook authenticity bound to the tenant's settings (pure; the webhook process's view of
`supportbot.meta.signature`, so the webhook never imports a provider package directly)."""

from __future__ import annotations

from collections.abc import Mapping

from supportbot.meta.signature import SIGNATURE_HEADER, verification_challenge, verify_signature
from supportbot.settings import BotSettings

__all__ = ["SIGNATURE_HEADER", "meta_challenge", "meta_signature_ok"]


def meta_signature_ok(settings: BotSettings, raw_body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256`` is the HMAC-SHA256 of the raw body under `meta_app_secret`
    (constant time); never true without a configured app secret."""
    secret = settings.meta_app_secret
    if secret is None:
        return False
    return verify_signature(secret.get_secret_value(), raw_body, header)


def meta_challenge(settings: BotSettings, params: Mapping[str, str]) -> str | None:
    """The ``hub.challenge`` to echo for a valid GET handshake, else None (403)."""
    token = settings.meta_verify_token
    if token is None:
        return None
    return verification_challenge(params, token.get_secret_value())
