"""Defensive readers for single values of provider payloads.

MSG91 fills a user-defined template, so any field may arrive as a real value, as stringified
JSON, or as a "missing" marker: ``""``, ``"null"``, ``"undefined"`` or the unfilled literal
``"{{field}}"``. These helpers normalise all of that; none of them raises on odd input except
:func:`decode_json`, which raises :class:`ParseError`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from supportbot.textsafe import storable_doc
from supportbot.webhook.parsing.errors import ParseError

_MISSING_WORDS = frozenset({"", "null", "undefined"})
_MAYBE_MISSING = frozenset("{nNuU")
"""First characters of the missing markers (besides whitespace, which strip() removes first)."""
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_PHONE_NOISE = re.compile(r"[\s+\-().]")
_PHONE = re.compile(r"^[0-9]{6,15}$")
# Meta documents `CC.<<=128 alnum>` (parent: `CC.ENT.<...>`); accept a little more so a format
# tweak does not drop messages, but only characters that are safe inside Redis keys.
_BSUID = re.compile(r"^[A-Za-z]{2}\.[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,256}$")
_NUMERIC = re.compile(r"^[0-9]+(\.[0-9]+)?$")

# Plausible provider timestamps: 2000-01-01 .. 2100-01-01 (epoch seconds).
_TS_MIN, _TS_MAX = 946_684_800.0, 4_102_444_800.0


def is_missing(value: Any) -> bool:
    """None, empty/"null"/"undefined" strings and unfilled ``{{placeholder}}`` literals."""
    if value is None:
        return True
    if isinstance(value, str):
        if value and value[0] not in _MAYBE_MISSING and not value[0].isspace():
            return False  # the usual real value: the checks below could not match
        text = value.strip()
        if not text:
            return True
        if text[0] == "{":
            return len(text) >= 4 and text.startswith("{{") and text.endswith("}}")
        return len(text) <= 9 and text.lower() in _MISSING_WORDS
    return False


def field(payload: Mapping[str, Any], *names: str) -> Any:
    """The first present (non-missing) value among `names` (aliases), else None."""
    for name in names:
        value = payload.get(name)
        if value is None:
            continue
        if (
            value.__class__ is str
            and value
            and value[0] not in _MAYBE_MISSING
            and not value[0].isspace()
        ):
            return value  # is_missing's fast path, inlined: most fields hit it
        if not is_missing(value):
            return value
    return None


def text(payload: Mapping[str, Any], *names: str) -> str | None:
    """A scalar field as text (numbers are stringified); objects, lists and bools are ignored."""
    value = field(payload, *names)
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def lower(payload: Mapping[str, Any], *names: str) -> str | None:
    value = text(payload, *names)
    return value.strip().lower() if value is not None else None


def decode_json(data: str | bytes) -> Any:
    """Strict JSON decoding (UTF-8 only), then the ingest rule of `textsafe`: U+0000 and lone
    surrogates (only reachable through ``\\u`` escapes) become U+FFFD in every string."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ParseError("invalid_encoding", "the body is not valid UTF-8") from None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise ParseError("malformed_json", "the body is not valid JSON") from None
    if _UNSTORABLE_ESCAPE.search(data):  # raw NUL/surrogates are invalid JSON: escapes only
        doc = storable_doc(doc)
    return doc


def maybe_json(value: Any) -> Any:
    """Decode stringified JSON objects/arrays; anything else (or undecodable) is returned as is."""
    if isinstance(value, str) and value.lstrip()[:1] in {"{", "["}:
        try:
            return decode_json(value)
        except ParseError:
            return value
    return value


def mapping(value: Any) -> dict[str, Any] | None:
    """`value` (possibly stringified) as a JSON object, else None."""
    decoded = maybe_json(value)
    return decoded if isinstance(decoded, dict) else None


def listing(value: Any) -> list[Any] | None:
    """`value` (possibly stringified) as a JSON array, else None."""
    decoded = maybe_json(value)
    return decoded if isinstance(decoded, list) else None


def timestamp(value: Any) -> float | None:
    """Epoch seconds from an ISO 8601 string or epoch seconds/milliseconds/microseconds.

    Unparseable or implausible values give None (a bad timestamp never rejects a message).
    """
    if is_missing(value) or isinstance(value, bool):
        return None
    number: float | None = None
    if isinstance(value, int | float):
        number = _finite(value)
    elif isinstance(value, str):
        raw = value.strip()
        if _NUMERIC.match(raw):
            number = float(raw)
        else:
            try:
                parsed = datetime.fromisoformat(raw)
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            number = parsed.timestamp()
    if number is None or not math.isfinite(number):
        return None
    if number >= 1e14:
        number /= 1e6
    elif number >= 1e11:
        number /= 1e3
    return number if _TS_MIN <= number <= _TS_MAX else None


def number(value: Any, *, low: float, high: float) -> float | None:
    """A finite float in [low, high] from a number or numeric string, else None."""
    if isinstance(value, bool) or is_missing(value):
        return None
    result = _finite(value)
    return result if result is not None and low <= result <= high else None


def _finite(value: Any) -> float | None:
    """float(value) if that is a finite number; never raises (huge ints overflow floats)."""
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def phone_digits(value: Any) -> str | None:
    """'+91 98765-43210' -> '919876543210'; None unless 6-15 digits remain."""
    if isinstance(value, bool) or is_missing(value):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    digits = _PHONE_NOISE.sub("", value)
    return digits if _PHONE.match(digits) else None


def bsuid(value: Any) -> str | None:
    """A business-scoped user id (e.g. 'US.13491208655302741918'), else None."""
    if not isinstance(value, str) or is_missing(value):
        return None
    candidate = value.strip()
    return candidate if _BSUID.match(candidate) else None


def message_id(value: Any) -> str | None:
    """A provider message id: 1-256 printable ASCII characters without spaces, else None."""
    if isinstance(value, bool) or is_missing(value):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    candidate = value.strip()
    return candidate if _MESSAGE_ID.match(candidate) else None


def body_hash(raw: bytes, index: int = 0) -> str:
    """Last-resort message id: sha256 of the raw body (plus the item index after the first)."""
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    return digest if index == 0 else f"{digest}:{index}"


def clean_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload without missing markers, stringified JSON decoded (kept for UNKNOWN types)."""
    return {k: maybe_json(v) for k, v in payload.items() if not is_missing(v)}
