"""Shared pieces of every child: names, the app.kubernetes.io label set, owner references and
the resolved inputs (flow snapshot, secrets hash) the pod templates are stamped with."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from supportbot_operator import names
from supportbot_operator.spec import SupportBot

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Inputs:
    """What the reconciler resolved from the referenced objects; hashes roll the pods."""

    flow_text: str
    flow_hash: str
    secrets_hash: str
    """Over every Secret key the tenant references (stamped on the webhook pods)."""
    worker_secrets_hash: str = ""
    """Over the keys the worker uses; empty means `secrets_hash` (the agent API is off)."""

    def flow_data(self) -> dict[str, str]:
        return {names.FLOW_FILE: self.flow_text}


def selector_labels(bot: SupportBot, component: str) -> dict[str, str]:
    """Immutable Deployment selectors: never add to this set after release."""
    return {
        names.LABEL_NAME: names.APP_NAME,
        names.LABEL_INSTANCE: bot.name,
        names.LABEL_COMPONENT: component,
    }


def labels(bot: SupportBot, component: str) -> dict[str, str]:
    return {
        **selector_labels(bot, component),
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
        names.LABEL_PART_OF: names.APP_NAME,
    }


def metadata(bot: SupportBot, name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": bot.namespace,
        "labels": labels(bot, component),
        "ownerReferences": [bot.owner_reference()],
    }


def stamp(manifest: Manifest) -> Manifest:
    """Add the applied-hash annotation (a hash over everything else in the manifest)."""
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    meta = manifest["metadata"]
    meta["annotations"] = {**meta.get("annotations", {}), names.ANNOTATION_APPLIED: digest}
    return manifest
