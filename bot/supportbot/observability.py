"""JSON logging and log-safe rendering of personal data.

Every process calls `configure_logging` once at start. Log records are one JSON object per line;
`extra={...}` fields are merged in. Phone numbers never appear in full: use `mask_phone`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()) | {
    "message",
    "asctime",
}
_KEEP = (
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?!\d)"  # ISO date/time
    r"|(?<![\w-])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![\w-])"  # UUID
)
_PHONE_LIKE = (
    r"(?<![\w+])(?<!\w[.-])"  # not glued to a token before ...
    r"\+?\d[\d\s-]{6,}\d"
    r"(?![\w+])(?![.-]\w)"  # ... nor after
)
_SCRUB = re.compile(f"(?P<keep>{_KEEP})|{_PHONE_LIKE}")
MIN_PHONE_DIGITS = 8


def mask_phone(phone: str | None) -> str:
    """'919876543210' -> '91******3210' (country code and last 4 digits kept)."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if len(digits) <= 6:
        return "*" * len(digits)
    return digits[:2] + "*" * (len(digits) - 6) + digits[-4:]


def scrub(text: str) -> str:
    """Mask every phone-like digit run inside free text (log messages, exception texts).

    The rule: a run of at least `MIN_PHONE_DIGITS` digits (an optional leading ``+``; spaces
    or dashes between digits allowed) is masked with `mask_phone` when it stands alone, i.e.
    it is not glued to a larger token: no letter, digit, ``_`` or ``+`` right before or after
    it, and no ``.``/``-`` joining it to one. So ids that merely contain digits stay intact:
    rq job ids (``sbd-<ref>-<hex>``), turn ids (``t<hex>``, ``turn-…-1700000000123``,
    ``agent:alice:<hex>``), hex digests, wamids (``wamid.HBgM…``), request ids
    (``req-1700000000123-42``). Field delimiters do not protect: ``:``, ``/``, ``=``, ``@``,
    quotes, brackets and spaces end a token, so Redis keys and paths that embed a customer id
    (``sb:acme:drain:919876543210``, ``sb:acme:session:…``, ``/conversations/…``) and
    ``to=919876543210`` are masked. ISO dates/times and canonical UUIDs (8-4-4-4-12, even
    all-digit ones) are recognised first and left alone.

    Limit: a standalone all-digit id (a bare epoch-ms ``1700000000123``) cannot be told from a
    phone number and is masked; give such ids a prefix (``turn-…``) to keep them readable.
    """
    return _SCRUB.sub(_scrub_match, text)


def _scrub_match(match: re.Match[str]) -> str:
    found = match.group(0)
    if match.group("keep") is not None:
        return found
    if sum(ch.isdigit() for ch in found) < MIN_PHONE_DIGITS:
        return found
    return mask_phone(found)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(doc, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", *, json_format: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
