"""Mask personal data in customer text before it is sent to an LLM provider.

Placeholders, applied in this order (a span already replaced is not looked at again):

1. ``[email]``: e-mail addresses;
2. ``[pan]``: Indian Permanent Account Numbers: 5 letters, 4 digits, 1 letter, the 4th letter
   a holder type (P, C, H, F, A, T, B, L, J, G, K), serial not 0000 (any letter case);
3. ``[card]``: payment card numbers: 13-19 digits starting with a group of at least 4, single
   spaces or dashes allowed between digits, Luhn-valid. Digits before or after a valid card
   in the same run (``qty 2 4111 1111 1111 1111 12/27``) are kept;
4. ``[aadhaar]``: Aadhaar numbers: 12 digits (``XXXX XXXX XXXX``, dashes or none), first digit
   2-9, not a palindrome, Verhoeff-valid;
5. ``[phone]``: a run of 10-15 digits (spaces, dots, dashes and brackets allowed between them),
   or 8+ digits after a ``+``.

Cards and Aadhaar come before phones because their checksums make them specific: a 12-digit
run passing Verhoeff becomes ``[aadhaar]`` even when it is also a phone number written without
``+`` (about 1 in 10 of them), and a 13-15 digit Luhn-valid run becomes ``[card]``; masked
either way, only the label differs. Near misses (a Luhn-invalid 16-digit run, 12 digits failing
Verhoeff) are not cards or Aadhaar numbers; with 10-15 digits they are still masked as phones.

Numbers glued to a larger token (a letter, digit or ``_`` next to them, or a ``.``/``-``
joining them to one: ``ORD-2026-000123``, ``AWB4111…``) are ids and stay, as do shorter
numbers (order ids, amounts, dates, pin codes), so the model can still answer about them. The
checksums are python-stdnum's (`stdnum.luhn`, `stdnum.in_.aadhaar`, `stdnum.in_.pan`).
"""

from __future__ import annotations

import hashlib
import re

from stdnum import luhn
from stdnum.in_ import aadhaar, pan

MIN_CARD_DIGITS = 13
"""Payment card numbers have 13-19 digits (ISO/IEC 7812); `_CARD_AT` reads at most 19."""

_BEFORE = r"(?<![\w+])(?<!\w[.-])"
"""Not glued to a token before: no letter/digit/_/+ right before, no ``x-`` or ``x.``."""
_AFTER = r"(?![\w+])(?![.-]\w)"
"""Not glued to a token after."""

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_PAN = re.compile(_BEFORE + r"[A-Za-z]{5}\d{4}[A-Za-z]" + _AFTER)
_CARD_AT = re.compile(r"(?=(" + _BEFORE + r"\d{4}(?:[ -]?\d){9,15}))")
"""Every place a card could start: a group of 4+ digits (as every card is written), possibly
after other digits (overlapping matches: ``qty 2 4111 1111 …``)."""
_AADHAAR = re.compile(_BEFORE + r"[2-9]\d{3}([ -]?)\d{4}\1\d{4}" + _AFTER)
_PHONE_CANDIDATE = re.compile(_BEFORE + r"(\+?\(?\d[\d\s().-]{6,22}\d)" + _AFTER)
_GROUP = re.compile(r"[ -]")
_TOKEN_END = re.compile(_AFTER)


def _mask_pan(match: re.Match[str]) -> str:
    return "[pan]" if pan.is_valid(match.group(0)) else match.group(0)


def _mask_cards(text: str) -> str:
    """Each longest run of digit groups that is a Luhn-valid 13-19 digit number, and ends the
    token, becomes ``[card]``; digits around it (a quantity, an expiry month) are kept. At
    most 19 digits are looked at from each start, so this is linear in the text."""
    parts: list[str] = []
    done = 0
    for found in _CARD_AT.finditer(text):
        start = found.start()
        if start < done:
            continue
        run = found.group(1)
        digits = _GROUP.sub("", run)
        for cut, size in reversed(_cuts(run)):
            end = start + cut
            if (
                size >= MIN_CARD_DIGITS
                and _TOKEN_END.match(text, end)
                and luhn.is_valid(digits[:size])
            ):
                parts += [text[done:start], "[card]"]
                done = end
                break
    return "".join(parts) + text[done:] if parts else text


def _cuts(run: str) -> list[tuple[int, int]]:
    """(offset, digits before it) of each place in a digit run where a card could end."""
    cuts: list[tuple[int, int]] = []
    size = 0
    for offset, char in enumerate(run):
        if char in " -":
            cuts.append((offset, size))
        else:
            size += 1
    cuts.append((len(run), size))
    return cuts


def _mask_aadhaar(match: re.Match[str]) -> str:
    return "[aadhaar]" if aadhaar.is_valid(match.group(0)) else match.group(0)


def _mask_phone(match: re.Match[str]) -> str:
    candidate = match.group(1)
    digits = sum(ch.isdigit() for ch in candidate)
    if 10 <= digits <= 15 or (candidate.startswith("+") and 8 <= digits <= 15):
        return "[phone]"
    return candidate


def mask_pii(text: str) -> str:
    """`text` with e-mails, PANs, cards, Aadhaar and phone numbers replaced by placeholders."""
    text = _EMAIL.sub("[email]", text)
    text = _PAN.sub(_mask_pan, text)
    text = _mask_cards(text)
    text = _AADHAAR.sub(_mask_aadhaar, text)
    return _PHONE_CANDIDATE.sub(_mask_phone, text)


def pseudonymous_user(tenant_id: str, customer_id: str) -> str:
    """Stable end-user id for OpenRouter's `user` field: no phone number leaves the bot."""
    digest = hashlib.sha256(f"{tenant_id}:{customer_id}".encode()).hexdigest()[:16]
    return f"{tenant_id}:wa:{digest}"
