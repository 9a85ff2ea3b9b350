"""Text every store can keep: the ingest normalisation rule for characters PostgreSQL rejects.

PostgreSQL cannot store U+0000 in ``text`` or ``jsonb`` (SQLSTATE 22021 / 22P05), and an unpaired
UTF-16 surrogate (U+D800-U+DFFF, which JSON's ``\\ud800`` escapes can carry) is not valid UTF-8 at
all. Retrying cannot help, so such text would poison every turn it is part of. The rule, applied
once at ingest to every string of a parsed payload (keys too): **each U+0000 and each unpaired
surrogate becomes U+FFFD (the replacement character)**; everything else is kept as sent. The raw
body is archived untouched as bytes (``raw_webhooks.body``), so nothing the provider sent is lost.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` with U+0000 and unpaired surrogates replaced by U+FFFD."""
    return _UNSTORABLE.sub(REPLACEMENT, text) if _UNSTORABLE.search(text) else text


def storable_doc(doc: Any) -> Any:
    """A JSON document (dicts, lists, scalars) with `storable` applied to every string."""
    if isinstance(doc, str):
        return storable(doc)
    if isinstance(doc, dict):
        return {storable(str(k)): storable_doc(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [storable_doc(v) for v in doc]
    return doc
