"""Who may post, and for which number (pure checks; raise typed HTTP errors).

MSG91 does not sign webhooks (msg91 reference §1.4): each tenant's webhook is configured with a
shared secret sent in a header (``settings.webhook_secret_header``, default ``X-Webhook-Secret``),
compared in constant time. A ``?token=`` query parameter is accepted only when
``settings.webhook_allow_query_token`` is on (it leaks into access logs). The payload must also
name the tenant's own business number (``integratedNumber`` / Meta ``display_phone_number``).

Meta signs its webhooks: ``X-Hub-Signature-256`` is the HMAC-SHA256 of the raw body under the
app secret (`provider.webhooks`), checked before anything is parsed.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from supportbot.provider.webhooks import SIGNATURE_HEADER, meta_signature_ok
from supportbot.settings import BotSettings
from supportbot.webhook.errors import ForbiddenError, UnauthorizedError, UnprocessableError
from supportbot.webhook.parsing import ParsedItem


def _same(provided: str, expected: bytes) -> bool:
    return hmac.compare_digest(provided.encode("utf-8", "backslashreplace"), expected)


def check_secret(header: str | None, query_token: str | None, settings: BotSettings) -> None:
    """Raise UnauthorizedError unless the header (or the allowed query token) holds the secret."""
    secret = settings.webhook_secret
    # no shared secret configured (a Meta tenant): the MSG91 routes accept nobody
    expected = secret.get_secret_value().encode("utf-8") if secret is not None else b""
    if expected:
        if header is not None and _same(header, expected):
            return
        use_query = settings.webhook_allow_query_token and query_token is not None
        if use_query and _same(query_token or "", expected):
            return
    name = settings.webhook_secret_header
    if header is None and query_token is None:
        raise UnauthorizedError("missing_secret", f"the {name} header is required")
    raise UnauthorizedError("invalid_secret", f"the {name} secret is not valid for this webhook")


META_SIGNATURE_HEADER = SIGNATURE_HEADER


def check_meta_signature(raw: bytes, header: str | None, settings: BotSettings) -> None:
    """Raise UnauthorizedError unless `header` signs the raw body with the app secret."""
    if header is None:
        raise UnauthorizedError("missing_signature", f"the {SIGNATURE_HEADER} header is required")
    if not meta_signature_ok(settings, raw, header):
        raise UnauthorizedError(
            "invalid_signature",
            f"the {SIGNATURE_HEADER} signature does not match the request body",
        )


def check_numbers(items: Iterable[ParsedItem], settings: BotSettings) -> None:
    """Every item must name this tenant's integrated number (checked before anything is stored)
    and, for a Meta tenant, its Cloud API phone number id when the payload names one."""
    for item in items:
        if item.business_number is None:
            raise UnprocessableError(
                "missing_integrated_number",
                "the payload names no business number (integratedNumber / "
                "metadata.display_phone_number); add it to the webhook template",
            )
        if item.business_number != settings.integrated_number:
            raise ForbiddenError(
                "wrong_integrated_number",
                "the payload's integratedNumber is not this tenant's number",
            )
        expected_id = settings.meta_phone_number_id
        named_id = item.phone_number_id
        if named_id is not None and expected_id is not None and named_id != expected_id:
            raise ForbiddenError(
                "wrong_phone_number_id",
                "the payload's metadata.phone_number_id is not this tenant's",
            )
