"""JSON logging, log-safe rendering of personal data, and request ids on log records.

Every process calls `configure_logging` once at start. Log records are one JSON object per line;
`extra={...}` fields are merged in. Phone numbers never appear in full: use `mask_phone`.

Request ids: a webhook request's ``X-Request-ID`` (`request_id_from_header`, else `new_request_id`)
is stored with each message it carries (`InboundMessage.request_id`) and travels with it through
the queue into its turn. While a request or a turn runs, `request_scope` binds the id to the
running asyncio task (a `ContextVar`: concurrent turns each see their own), every log record made
meanwhile carries it as the field ``request_id``, and the OpenRouter and MSG91 clients send it as
``X-Request-ID`` (`current_request_id`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
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


REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID_CHARS = 128
_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_REQUEST_ID_CHARS}}}")
_current_request_id: ContextVar[str | None] = ContextVar("supportbot_request_id", default=None)


def new_request_id() -> str:
    return str(uuid.uuid4())


def request_id_from_header(value: str | None) -> str:
    """The caller's id when it is safe to log and forward (at most `MAX_REQUEST_ID_CHARS` of
    letters, digits and ``._:-``, and not phone-like: `scrub` leaves it alone), else a new one."""
    if value is not None and _REQUEST_ID.fullmatch(value) and scrub(value) == value:
        return value
    return new_request_id()


def current_request_id() -> str | None:
    """The request id bound to the running task (`request_scope`), if any."""
    return _current_request_id.get()


@contextlib.contextmanager
def request_scope(request_id: str | None) -> Iterator[None]:
    """Bind `request_id` to the running task for the block (None: leave the binding alone)."""
    if request_id is None:
        yield
        return
    token = _current_request_id.set(request_id)
    try:
        yield
    finally:
        _current_request_id.reset(token)


_base_record_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_record_factory(*args, **kwargs)
    request_id = _current_request_id.get()
    if request_id is not None:
        record.request_id = request_id
    return record


if not getattr(_base_record_factory, "_supportbot_request_ids", False):
    _record_with_request_id._supportbot_request_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(_record_with_request_id)
