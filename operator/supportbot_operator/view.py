"""Read-only, in-memory view of the cluster the reconciler decides from.

In the operator it is backed by kopf indices fed by the watch streams (so an idle tenant costs
no API reads); in tests any mapping of key -> iterable of values works. Indexed bodies are
slimmed (`slim`), Secret and ConfigMap values are reduced to per-key digests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from supportbot_operator import names
from supportbot_operator.inputs import KeyDigests
from supportbot_operator.tenancy import Claim

Body = dict[str, Any]
Index = Mapping[Any, Iterable[Any]]

CHILD_INDICES: dict[str, tuple[str, str, str]] = {
    # kopf index id -> (group, version, plural) of everything the operator creates
    "owned_serviceaccounts": ("", "v1", "serviceaccounts"),
    "owned_configmaps": ("", "v1", "configmaps"),
    "owned_services": ("", "v1", "services"),
    "owned_deployments": ("apps", "v1", "deployments"),
    "owned_hpas": ("autoscaling", "v2", "horizontalpodautoscalers"),
    "owned_pdbs": ("policy", "v1", "poddisruptionbudgets"),
    "owned_networkpolicies": ("networking.k8s.io", "v1", "networkpolicies"),
    "owned_ingresses": ("networking.k8s.io", "v1", "ingresses"),
    # KEDA's kinds (QueueDepth workers); kopf watches them once KEDA's CRDs exist.
    "owned_scaledobjects": ("keda.sh", "v1alpha1", "scaledobjects"),
    "owned_triggerauthentications": ("keda.sh", "v1alpha1", "triggerauthentications"),
}


NAME_INDICES: dict[str, tuple[str, str, str, str]] = {
    # kopf index id -> (group, version, plural, kind) of every object of a child kind, ours or
    # not, keyed by (namespace, name): lets the reconciler create a new child without first
    # GETting it to rule out a foreign object of that name. ConfigMaps are covered by the
    # digest index (it sees every ConfigMap).
    f"names_{plural}": (group, version, plural, kind)
    for group, version, plural, kind in (
        ("", "v1", "serviceaccounts", "ServiceAccount"),
        ("", "v1", "services", "Service"),
        ("apps", "v1", "deployments", "Deployment"),
        ("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
        ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
        ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
        ("networking.k8s.io", "v1", "ingresses", "Ingress"),
        ("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject"),
        ("keda.sh", "v1alpha1", "triggerauthentications", "TriggerAuthentication"),
    )
}


def slim(body: Mapping[str, Any]) -> Body:
    """A plain dict without managedFields (the bulk of most objects). Shallow: the nested
    values are the watch event's own, which neither kopf nor the reconciler mutates (a deep
    copy per watch event was the operator's largest CPU cost at 500 tenants)."""
    out = dict(body)
    meta = {k: v for k, v in (out.get("metadata") or {}).items() if k != "managedFields"}
    out["metadata"] = meta
    return out


def _first(index: Index, key: Any) -> Any:
    for value in index.get(key, ()):
        return value
    return None


@dataclass
class ClusterView:
    bots: Index
    refs: Index
    secrets: Index
    configmaps: Index
    children: Mapping[str, Index] = field(default_factory=dict)
    names: Mapping[str, Index] = field(default_factory=dict)
    """kind -> index of (namespace, name) of every object of that kind (see NAME_INDICES)."""
    numbers: Index = field(default_factory=dict)
    """integratedNumber -> the `Claim`s of every SupportBot naming it."""

    def bot(self, namespace: str, name: str) -> Body | None:
        found: Body | None = _first(self.bots, (namespace, name))
        return found

    def bot_keys(self) -> list[tuple[str, str]]:
        return [key for key, values in self.bots.items() if any(True for _ in values)]

    def secret(self, namespace: str, name: str) -> KeyDigests | None:
        found: KeyDigests | None = _first(self.secrets, (namespace, name))
        return found

    def configmap(self, namespace: str, name: str) -> KeyDigests | None:
        found: KeyDigests | None = _first(self.configmaps, (namespace, name))
        return found

    def exists(self, kind: str, namespace: str, name: str) -> bool | None:
        """Whether any object (the operator's or not) has this kind and name; None when the
        view does not know (no index for the kind): the caller must ask the API server."""
        if kind == "ConfigMap":
            return self.configmap(namespace, name) is not None
        index = self.names.get(kind)
        if index is None:
            return None
        return _first(index, (namespace, name)) is not None

    def claims(self, number: str) -> list[Claim]:
        return list(self.numbers.get(number, ()))

    def referencing(self, namespace: str, kind: str, name: str) -> set[str]:
        return set(self.refs.get((namespace, kind, name), ()))

    def secret_references(self) -> dict[tuple[str, str], list[str]]:
        """(namespace, name) of every referenced Secret -> the SupportBots referencing it."""
        return {
            (ns, name): sorted(set(bots))
            for (ns, kind, name), bots in self.refs.items()
            if kind == "Secret" and bots
        }

    def owned(self, namespace: str, bot: str, uid: str) -> dict[tuple[str, str], Body]:
        """Children of one tenant (by owner uid, so a re-created tenant ignores leftovers)."""
        out: dict[tuple[str, str], Body] = {}
        for index in self.children.values():
            for body in index.get((namespace, bot), ()):
                owners = body.get("metadata", {}).get("ownerReferences") or []
                if any(o.get("uid") == uid for o in owners):
                    out[(body["kind"], body["metadata"]["name"])] = body
        return out


_SECRET_REF_FIELDS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("whatsapp",), ("authKeySecretRef", "webhookSecretRef")),
    (("whatsapp", "meta"), ("accessTokenSecretRef", "appSecretSecretRef", "verifyTokenSecretRef")),
    (("llm",), ("apiKeySecretRef",)),
    (("storage",), ("redisUrlSecretRef", "postgresDsnSecretRef")),
    (("handoff", "webhook"), ("secretRef",)),
)
"""Where a SupportBot body names Secrets (besides the agent API's and the flow's lists); a
unit test checks this covers every role of `SupportBotSpec.secret_refs`."""


def _section(spec: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
    node: Any = spec
    for key in path:
        node = (node.get(key) if isinstance(node, Mapping) else None) or {}
    return node if isinstance(node, Mapping) else {}


def secret_names(spec: Mapping[str, Any]) -> set[str]:
    """Names of the Secrets a raw (possibly invalid) SupportBot spec references."""
    refs = [
        _section(spec, path).get(f) or {} for path, fields in _SECRET_REF_FIELDS for f in fields
    ]
    api = spec.get("agentApi") or {}
    if api.get("enabled", True):
        refs.append(api.get("jwtSecretRef") or {})
    refs.extend(_section(spec, ("flow",)).get("backendSecretRefs") or [])
    return {ref["name"] for ref in refs if isinstance(ref, Mapping) and ref.get("name")}


def references(body: Mapping[str, Any]) -> dict[tuple[str, str, str], str]:
    """(namespace, kind, name) of every Secret/ConfigMap a SupportBot body references."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    ns, bot = meta.get("namespace", ""), meta.get("name", "")
    out: dict[tuple[str, str, str], str] = {
        (ns, "Secret", name): bot for name in sorted(secret_names(spec))
    }
    cm = ((spec.get("flow") or {}).get("configMapRef") or {}).get("name")
    if cm:
        out[(ns, "ConfigMap", cm)] = bot
    return out


def owner_key(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, tenant) of an operator-managed child, from its instance label."""
    meta = body.get("metadata") or {}
    bot = (meta.get("labels") or {}).get(names.LABEL_INSTANCE)
    return (meta.get("namespace", ""), bot) if bot else None
