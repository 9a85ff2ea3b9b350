"""Mask personal data in customer text before it is sent to an LLM provider.

E-mail addresses become ``[email]`` and phone numbers ``[phone]``. A phone number is a run of
10-15 digits (spaces, dots, dashes and brackets allowed between them), or 8+ digits after a
``+``; shorter numbers (order ids, amounts, dates, pin codes) are left alone so the model can
still answer about them.
"""

from __future__ import annotations

import hashlib
import re

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE_CANDIDATE = re.compile(r"(?<![\w+])(\+?\(?\d[\d\s().-]{6,22}\d)(?!\w)")


def _mask_phone(match: re.Match[str]) -> str:
    candidate = match.group(1)
    digits = sum(ch.isdigit() for ch in candidate)
    if 10 <= digits <= 15 or (candidate.startswith("+") and 8 <= digits <= 15):
        return "[phone]"
    return candidate


def mask_pii(text: str) -> str:
    """`text` with e-mail addresses and phone numbers replaced by placeholders."""
    text = _EMAIL.sub("[email]", text)
    return _PHONE_CANDIDATE.sub(_mask_phone, text)


def pseudonymous_user(tenant_id: str, customer_id: str) -> str:
    """Stable end-user id for OpenRouter's `user` field: no phone number leaves the bot."""
    digest = hashlib.sha256(f"{tenant_id}:{customer_id}".encode()).hexdigest()[:16]
    return f"{tenant_id}:wa:{digest}"
