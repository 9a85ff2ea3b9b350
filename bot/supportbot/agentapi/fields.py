"""Edge validation of the agent API's inputs, as pydantic/FastAPI types (pure).

Whatever an agent sends ends up as a PostgreSQL parameter, so a value PostgreSQL cannot take is
refused here, as a 422 naming the field, instead of failing in the database (a 500):

- text (path ids, search words, cursors, reply text, handoff reasons) must not contain U+0000
  (PostgreSQL text cannot hold it, SQLSTATE 22021) or an unpaired UTF-16 surrogate (not UTF-8
  at all; JSON's ``\\ud800`` escapes carry them). This is the ingest rule of `textsafe`, but
  refused rather than replaced: an agent can correct the request, a webhook cannot;
- integers that reach SQL are bounded to PostgreSQL ``bigint``.

Customer ids never contain those characters (ingest replaces them), so refusing them loses
nothing.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from supportbot.textsafe import storable

BIGINT_MAX = 2**63 - 1
"""Largest PostgreSQL ``bigint`` (the type of message ids)."""

UNSTORABLE_MESSAGE = "must not contain U+0000 or unpaired UTF-16 surrogates"


def storable_text(value: str) -> str:
    """`value` unchanged, or ValueError when PostgreSQL could not store it."""
    if storable(value) != value:
        raise ValueError(UNSTORABLE_MESSAGE)
    return value


def visible_text(value: str) -> str:
    """`value` unchanged, or ValueError when it is only whitespace (nothing to send)."""
    if not value.strip():
        raise ValueError("must contain a non-whitespace character")
    return value


StorableText = Annotated[str, AfterValidator(storable_text)]
"""A string PostgreSQL can store (no U+0000, no unpaired surrogate)."""

MessageText = Annotated[str, AfterValidator(storable_text), AfterValidator(visible_text)]
"""Text to send to a customer: storable and not blank."""
