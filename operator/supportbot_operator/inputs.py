"""Resolve a tenant's referenced inputs into what the pods will run with, purely.

Secrets and ConfigMaps reach this module only as per-key digests (the operator's watch keeps
`{key: sha256(value)}` and drops the values), plus the flow text when it has to be (re)validated.
The result is either `Resolved` (hashes + the validated flow) or a list of `Problem`s that become
the Degraded condition; when there are problems the reconciler holds the running version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from supportbot_operator.spec import SupportBot

KeyDigests = Mapping[str, str]
"""key -> sha256 hex of the value, for one Secret or ConfigMap."""
Lookup = Callable[[str], KeyDigests | None]
"""name -> digests of the object in the tenant's namespace, None when it does not exist."""

MAX_FLOW_ERRORS = 5


def digest(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def short_hash(parts: list[str]) -> str:
    return digest("\n".join(parts))[:16]


def key_digests(
    data: Mapping[str, str] | None, binary: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Digests of a Secret's/ConfigMap's `data` (+ `binaryData`) values as served by the API
    (base64 for Secrets; hashing the encoded form is equivalent for change detection)."""
    out = {k: digest(v) for k, v in (data or {}).items()}
    out.update({k: digest(v) for k, v in (binary or {}).items()})
    return out


@dataclass(frozen=True)
class Problem:
    reason: str
    message: str


WEBHOOK_ONLY_ROLES = frozenset({"agentApi.jwtSecretRef"})
"""Secret keys only the webhook pods use: rotating them must not roll the workers."""


@dataclass(frozen=True)
class SecretsState:
    hash: str
    """Over every referenced key (the webhook's pod template, `status.secretsHash`)."""
    worker_hash: str
    """Over the keys the worker uses; equal to `hash` while the agent API is off."""
    problems: tuple[Problem, ...]


def resolve_secrets(bot: SupportBot, secrets: Lookup) -> SecretsState:
    """Hashes over the referenced Secret keys, or the problems (missing Secret or key)."""
    problems: list[Problem] = []
    parts: list[tuple[str, str]] = []
    for role, ref in sorted(bot.spec.secret_refs().items()):
        found = secrets(ref.name)
        if found is None:
            problems.append(
                Problem("SecretNotFound", f"Secret {ref.name!r} ({role}) does not exist")
            )
        elif ref.key not in found:
            problems.append(
                Problem("SecretKeyNotFound", f"Secret {ref.name!r} has no key {ref.key!r} ({role})")
            )
        else:
            parts.append((role, f"{ref.name}/{ref.key}={found[ref.key]}"))
    if problems:
        return SecretsState("", "", tuple(problems))
    return SecretsState(
        hash=short_hash([part for _, part in parts]),
        worker_hash=short_hash([part for role, part in parts if role not in WEBHOOK_ONLY_ROLES]),
        problems=(),
    )


def flow_source_problem(bot: SupportBot, configmaps: Lookup) -> tuple[str | None, Problem | None]:
    """The source flow's digest, or why it cannot be read."""
    ref = bot.spec.flow.config_map_ref
    found = configmaps(ref.name)
    if found is None:
        return None, Problem("ConfigMapNotFound", f"flow ConfigMap {ref.name!r} does not exist")
    if ref.key not in found:
        return None, Problem(
            "ConfigMapKeyNotFound", f"flow ConfigMap {ref.name!r} has no key {ref.key!r}"
        )
    return found[ref.key], None


def flow_hash(text: str) -> str:
    return digest(text)[:16]


def invalid_flow(errors: list[str], *, previous: bool) -> Problem:
    """`previous`: whether a validated flow exists that the pods keep running."""
    shown = "; ".join(errors[:MAX_FLOW_ERRORS])
    more = f" (+{len(errors) - MAX_FLOW_ERRORS} more)" if len(errors) > MAX_FLOW_ERRORS else ""
    held = (
        "keeping the previous version"
        if previous
        else "no earlier valid flow exists, so nothing is deployed until it is fixed"
    )
    return Problem("InvalidFlow", f"flow rejected, {held}: {shown}{more}")
