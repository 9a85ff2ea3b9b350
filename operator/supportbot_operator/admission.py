"""What the validating admission webhook decides, purely: a SupportBot whose `integratedNumber`
another SupportBot already has, and a flow ConfigMap (opted in with the label
`supportbot.dev/flow: "true"`) whose flow the bot's validator rejects.

The webhook is the early, friendly check (`kubectl apply` fails with the reason); the
reconciler enforces the same rules whatever gets through (webhook down, `failurePolicy:
Ignore`, two creates racing each other).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from supportbot_operator import names, tenancy
from supportbot_operator.flowcheck import FlowValidator

MAX_FLOW_ERRORS = 20
FLOW_SUFFIXES = (".yaml", ".yml")


def supportbot_refusal(
    new: Mapping[str, Any], old: Mapping[str, Any] | None, existing: Iterable[Mapping[str, Any]]
) -> str | None:
    """Why creating (`old` None) or updating a SupportBot to `new` must be refused, or None.
    `existing` are the SupportBots of the whole cluster as stored now."""
    number = tenancy.number_of(new)
    if number is None:
        return None  # the CRD schema reports the missing field
    changed = old is None or tenancy.number_of(old) != number
    claims = [tenancy.claim_of(b) for b in existing if tenancy.number_of(b) == number]
    return tenancy.admission_conflict(tenancy.claim_of(new), number, claims, number_changed=changed)


def flow_errors(data: Mapping[str, str] | None, validate: FlowValidator) -> list[str]:
    """The flow validator's messages for every `*.yaml`/`*.yml` key of an opted-in ConfigMap,
    each prefixed with its key (the validator's own messages start with 'line N: ')."""
    keys = [k for k in sorted(data or {}) if k.endswith(FLOW_SUFFIXES)]
    if not keys:
        return [
            f"a ConfigMap labelled {names.LABEL_FLOW}=true must hold a flow under a key ending "
            "in .yaml or .yml"
        ]
    errors = [f"{key}: {e}" for key in keys for e in validate((data or {})[key])]
    if len(errors) > MAX_FLOW_ERRORS:
        errors = [*errors[:MAX_FLOW_ERRORS], f"(+{len(errors) - MAX_FLOW_ERRORS} more)"]
    return errors


def flow_refusal(name: str, errors: list[str]) -> str:
    return f"flow ConfigMap {name!r} is not a valid SupportBot flow:\n" + "\n".join(errors)
