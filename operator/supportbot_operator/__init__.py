"""The SupportBot operator: a kopf controller that turns `SupportBot` resources into the bot's
webhook and worker workloads.

Layers (lower never imports higher):

- pure: `names`, `settings`, `spec`, `render`, `inputs`, `drift`, `status`, `schemacheck`,
  `tenancy` (who holds a WhatsApp number), `admission` (what the admission webhook refuses);
- edges: `kube` (HTTP to the API server), `metrics`, `flowcheck` (the bot's flow validator);
- orchestration: `reconcile` (one pass for one tenant), `workqueue`, `runtime`;
- kopf wiring: `handlers` (run as ``kopf run -m supportbot_operator.handlers``), `webhooks`
  (the validating admission webhook server, enabled by `webhook_port`) and `cli`;
- test and benchmark support, never imported by the operator: `testing`, `benchkit`.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("supportbot")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"

__all__ = ["__version__"]
