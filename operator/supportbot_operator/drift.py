"""Does a live object already carry everything we would apply? Pure comparison, so an
unchanged tenant costs no API write.

Semantics follow server-side apply: only fields we set matter (fields the API server defaults or
other managers own are ignored); lists of named things match by key (name, uid, ...), other lists
by position; quantities compare by value ("0.5" == "500m").
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_MERGE_KEYS = ("uid", "parameter", "name", "mountPath", "containerPort", "port")
"""`parameter` before `name`: a TriggerAuthentication's secretTargetRef items share the Secret's
name and differ by the parameter they fill."""
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([a-zA-Z]*)$")
_SUFFIX: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    **{s: Decimal(10) ** (3 * i) for i, s in enumerate("kMGTPE", start=1)},
    **{s + "i": Decimal(2) ** (10 * i) for i, s in enumerate("KMGTPE", start=1)},
}


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity as a number, None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value)
    if not match or match.group(2) not in _SUFFIX:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2)]
    except InvalidOperation:
        return None


def _scalar_equal(want: Any, have: Any, path: str) -> bool:
    if want == have and type(want) is type(have):
        return True
    if "resources" in path or "averageValue" in path:
        a, b = quantity(want), quantity(have)
        return a is not None and a == b
    return False


def _merge_key(want: list[Any], have: list[Any]) -> str | None:
    if not want or not all(isinstance(i, dict) for i in want + have):
        return None
    for key in _MERGE_KEYS:
        if all(key in item for item in want):
            return key
    return None


def differences(want: Any, have: Any, path: str = "") -> list[str]:
    """Paths where `have` (live) lacks or contradicts `want` (desired); [] means in sync."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [path or "."]
        out: list[str] = []
        for key, value in want.items():
            sub = f"{path}.{key}" if path else key
            if key not in have:
                if value in ({}, [], None):
                    continue
                out.append(sub)
            else:
                out.extend(differences(value, have[key], sub))
        return out
    if isinstance(want, list):
        if not isinstance(have, list):
            return [path]
        key = _merge_key(want, have)
        if key is not None:
            index = {item.get(key): item for item in have}
            out = []
            for item in want:
                sub = f"{path}[{key}={item[key]}]"
                if item[key] not in index:
                    out.append(sub)
                else:
                    out.extend(differences(item, index[item[key]], sub))
            return out
        if len(want) != len(have):
            return [path]
        out = []
        for i, (a, b) in enumerate(zip(want, have, strict=True)):
            out.extend(differences(a, b, f"{path}[{i}]"))
        return out
    return [] if _scalar_equal(want, have, path) else [path]


def in_sync(desired: dict[str, Any], live: dict[str, Any] | None) -> bool:
    """True when applying `desired` would change nothing we own."""
    if live is None:
        return False
    want = {k: v for k, v in desired.items() if k not in {"apiVersion", "kind"}}
    return not differences(want, live)
