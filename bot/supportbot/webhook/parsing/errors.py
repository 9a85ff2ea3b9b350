"""Typed errors of the payload parser.

Every error carries a `reason` from the closed set :data:`REASONS` (used as a Prometheus label,
so it never contains input data) and a human-readable `message` that names the offending field
but never echoes its value (it may be a phone number).
"""

from __future__ import annotations

from typing import Final

REASONS: Final = frozenset(
    {
        "malformed_json",
        "invalid_encoding",
        "not_an_object",
        "unrecognised_payload",
        "missing_sender",
        "missing_message_id",
        "unknown_delivery_state",
        "invalid_field",
    }
)


class ParseError(Exception):
    """The body (or one item of it) cannot be turned into a message or a delivery report."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown parse error reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.message = message

    @property
    def malformed(self) -> bool:
        """True when the body is not usable JSON at all (HTTP 400), else invalid content (422)."""
        return self.reason in {"malformed_json", "invalid_encoding"}
