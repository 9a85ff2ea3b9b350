"""The validating admission webhook's edge: kopf's HTTPS server and the two handlers, registered
at start-up only when `webhook_port` is set (kopf refuses to start with admission handlers and
no server). The decisions are `admission`'s; here they get their inputs (a cluster-wide LIST of
SupportBots) and become `kopf.AdmissionError`s.

The certificate comes from the Helm chart (a Secret with a self-signed CA, whose bundle the
chart writes into the ValidatingWebhookConfiguration); kopf re-reads the files when the mounted
Secret changes. kopf does not manage the webhook configuration (`settings.admission.managed`
stays unset): the operator needs no RBAC on admissionregistration.k8s.io.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import kopf

from supportbot_operator import admission, names
from supportbot_operator.errors import KubeApiError
from supportbot_operator.runtime import Runtime

log = logging.getLogger(__name__)

SUPPORTBOTS_PATH = f"/apis/{names.API_VERSION}/{names.PLURAL}"


def enable(settings: kopf.OperatorSettings, runtime: Runtime) -> None:
    """Serve the webhook (if configured) and register its handlers."""
    config = runtime.settings
    if not config.webhook_port:
        return
    certs = Path(config.webhook_cert_dir)
    settings.admission.server = kopf.WebhookServer(
        addr=config.webhook_host,
        port=config.webhook_port,
        certfile=str(certs / "tls.crt"),
        pkeyfile=str(certs / "tls.key"),
        file_check_interval=30.0,
    )

    async def supportbot(body: kopf.Body, **kwargs: Any) -> None:
        old: kopf.Body | None = kwargs.get("old") if kwargs.get("operation") == "UPDATE" else None
        try:
            listed = await runtime.api.request("GET", SUPPORTBOTS_PATH)
        except KubeApiError as exc:
            raise kopf.AdmissionError(
                f"cannot check integratedNumber against the other SupportBots: {exc}", code=503
            ) from exc
        refusal = admission.supportbot_refusal(body, old, listed.get("items") or [])
        if refusal is not None:
            raise kopf.AdmissionError(refusal, code=409)

    async def flow(body: kopf.Body, name: str, **_: Any) -> None:
        errors = admission.flow_errors(body.get("data"), runtime.ctx.validate)
        if errors:
            raise kopf.AdmissionError(admission.flow_refusal(name, errors), code=422)

    kopf.on.validate(
        names.GROUP,
        names.VERSION,
        names.PLURAL,
        id=names.WEBHOOK_SUPPORTBOTS,
        operations=["CREATE", "UPDATE"],
    )(supportbot)
    kopf.on.validate(
        "v1",
        "configmaps",
        id=names.WEBHOOK_FLOWS,
        operations=["CREATE", "UPDATE"],
        labels={names.LABEL_FLOW: "true"},
    )(flow)
    log.info("admission webhook on %s:%d", config.webhook_host, config.webhook_port)
