"""The flow validator the reconciler runs before a flow reaches the pods.

The contract is `validate_flow_text(text, http_allow_hosts=None) -> list[str]` (error messages;
empty means valid). `http_allow_hosts` is the tenant's `spec.flow.httpAllowHosts`, against which
the URLs of the flow's HTTP steps are checked as the worker will (None: not checked, e.g. for a
ConfigMap edit at admission, where the SupportBot using it is not known).
The real validator lives in the bot (`supportbot.flow`) and is imported lazily so the operator
keeps working, with a structural fallback, while that module is absent.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Protocol

import yaml


class FlowValidator(Protocol):
    def __call__(self, text: str, http_allow_hosts: Sequence[str] | None = None) -> list[str]: ...


def basic_validate(text: str, http_allow_hosts: Sequence[str] | None = None) -> list[str]:
    """Fallback: a YAML mapping with `version: 1`. Enough to catch a broken edit."""
    try:
        doc: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"not valid YAML: {str(exc).splitlines()[0]}"]
    if not isinstance(doc, dict):
        return ["the flow must be a YAML mapping"]
    if doc.get("version") != 1:
        return [f"unsupported flow version {doc.get('version')!r} (expected 1)"]
    return []


# --- ADAPTER: the bot's validator ---------------------------------------------------------
# Wire `supportbot.flow`'s validator here once it exists. It must accept the flow YAML text
# and return a list of human-readable errors (empty when valid).
_BOT_VALIDATOR = ("supportbot.flow", "validate_flow_text")


def load_validator() -> FlowValidator:
    module_name, attr = _BOT_VALIDATOR
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return basic_validate
    found = getattr(module, attr, None)
    if not callable(found):
        return basic_validate

    def validate(text: str, http_allow_hosts: Sequence[str] | None = None) -> list[str]:
        if http_allow_hosts is None:
            return [str(e) for e in found(text)]
        return [str(e) for e in found(text, http_allow_hosts)]

    return validate
