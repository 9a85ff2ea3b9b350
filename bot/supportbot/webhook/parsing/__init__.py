"""Pure parsing of webhook bodies into provider-neutral values (no I/O, no settings).

:func:`parse_payload` takes the raw body bytes and returns a :class:`ParsedPayload` of
`InboundMessage`s and `DeliveryReport`s, each tagged with the business number the payload names.
Two families are understood (msg91 reference §1.2-1.3 and §2.1):

- ``msg91``: MSG91's flat, template-defined shape (one message or one report per post);
- ``meta``: Meta's ``entry[].changes[].value`` envelope, which some accounts relay unchanged
  (any number of messages and statuses per post).

Errors are :class:`ParseError` with a closed set of reasons: the body is not JSON (400-class,
``ParseError.malformed``) or it is JSON that describes nothing usable (422-class).
"""

from __future__ import annotations

from supportbot.webhook.parsing import meta, msg91
from supportbot.webhook.parsing.errors import REASONS, ParseError
from supportbot.webhook.parsing.results import Family, ParsedItem, ParsedPayload
from supportbot.webhook.parsing.values import decode_json

__all__ = ["REASONS", "Family", "ParseError", "ParsedItem", "ParsedPayload", "parse_payload"]


def parse_payload(raw: bytes, *, tenant_id: str, received_at: float) -> ParsedPayload:
    """Parse one webhook body. Raises ParseError when the body yields nothing usable.

    A Meta envelope whose changes hold no messages or statuses is valid and yields no items; one
    whose items all failed raises the first item's error.
    """
    doc = decode_json(raw)
    if not isinstance(doc, dict):
        raise ParseError("not_an_object", "the body must be a JSON object")
    if meta.is_envelope(doc):
        items, errors = meta.parse(doc, raw=raw, tenant_id=tenant_id, received_at=received_at)
        if errors and not items:
            raise errors[0]
        return ParsedPayload("meta", tuple(items), tuple(errors))
    item = msg91.parse(doc, raw=raw, tenant_id=tenant_id, received_at=received_at)
    return ParsedPayload("msg91", (item,))
