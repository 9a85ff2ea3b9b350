"""kopf wiring (run as ``kopf run -m supportbot_operator.handlers``; `supportbot-operator run`
does exactly that). Handlers here only index and enqueue; `runtime` does the work.

Watches: SupportBots; the operator's children (label `app.kubernetes.io/managed-by=
supportbot-operator`, client-side filter - kopf has no server-side selectors); Secrets and
ConfigMaps, reduced to per-key digests in an index, whose events reach the queue only when a
SupportBot references them. No high-level (state-persisting) handlers and no timers on the
SupportBot, so kopf adds no finalizer and no annotations: an operator restart writes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from supportbot_operator import inputs, names, tenancy, view, webhooks
from supportbot_operator.runtime import Runtime
from supportbot_operator.settings import OperatorSettings

MANAGED = {names.LABEL_MANAGED_BY: names.MANAGED_BY}
SETTINGS = OperatorSettings()
"""The process's one settings object: read when kopf imports this module, because which
resources are watched (Secrets or not) is decided by what is registered here."""
WATCH_SECRETS = SETTINGS.secret_access == "watch"  # noqa: S105 - a mode, not a secret


def _runtime(memo: Any) -> Runtime:
    runtime: Runtime = memo["runtime"]
    return runtime


# --- operator lifecycle -------------------------------------------------------------------
@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    config = SETTINGS
    if not config.verbose:  # kopf logs every handled watch event and every probe at INFO
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 600
    settings.watching.client_timeout = 660
    settings.networking.request_timeout = config.request_timeout_seconds
    settings.persistence.finalizer = f"{names.GROUP}/finalizer"
    cluster = view.ClusterView(
        bots=kwargs["supportbots"],
        refs=kwargs["supportbot_refs"],
        secrets=kwargs["secret_digests"] if WATCH_SECRETS else {},
        configmaps=kwargs["configmap_digests"],
        children={index_id: kwargs[index_id] for index_id in view.CHILD_INDICES},
        names={kind: kwargs[index_id] for index_id, (*_, kind) in view.NAME_INDICES.items()},
        numbers=kwargs["supportbot_numbers"],
    )
    runtime = Runtime(config, cluster)
    memo["runtime"] = runtime
    webhooks.enable(settings, runtime)
    await runtime.start()


@kopf.on.login()
async def login(memo: kopf.Memo, **kwargs: Any) -> kopf.ConnectionInfo:
    info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    if info is None:
        raise kopf.LoginError("neither a service account nor a kubeconfig is available")
    await _runtime(memo).api.connect(info)
    return info


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await _runtime(memo).stop()


# --- indices (in-memory state the reconciler decides from) --------------------------------
@kopf.index(names.GROUP, names.VERSION, names.PLURAL)
async def supportbots(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> Any:
    return {(namespace or "", name): view.slim(body)}


@kopf.index(names.GROUP, names.VERSION, names.PLURAL)
async def supportbot_refs(body: kopf.Body, **_: Any) -> Any:
    return view.references(body)


@kopf.index(names.GROUP, names.VERSION, names.PLURAL)
async def supportbot_numbers(body: kopf.Body, **_: Any) -> Any:
    number = tenancy.number_of(body)
    return {number: tenancy.claim_of(body)} if number else None


async def secret_digests(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> Any:
    # Values are digested right here and never kept: the operator holds no secret material.
    return {(namespace or "", name): inputs.key_digests(body.get("data"))}


if WATCH_SECRETS:  # `referenced`: no Secret watch at all (the runtime reads them by name)
    kopf.index("v1", "secrets", id="secret_digests")(secret_digests)


@kopf.index("v1", "configmaps")
async def configmap_digests(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> Any:
    return {(namespace or "", name): inputs.key_digests(body.get("data"), body.get("binaryData"))}


async def _owned(body: kopf.Body, **_: Any) -> Any:
    key = view.owner_key(body)
    return {key: view.slim(body)} if key else None


for _index_id, (_group, _version, _plural) in view.CHILD_INDICES.items():
    kopf.index(_group, _version, _plural, id=_index_id, labels=MANAGED)(_owned)


async def _name(namespace: str | None, name: str, uid: str | None, **_: Any) -> Any:
    return {(namespace or "", name): uid or ""}


for _index_id, (_group, _version, _plural, _kind) in view.NAME_INDICES.items():
    kopf.index(_group, _version, _plural, id=_index_id)(_name)


# --- triggers (all roads lead to the work queue) ------------------------------------------
@kopf.on.event(names.GROUP, names.VERSION, names.PLURAL)
async def supportbot_changed(
    body: kopf.Body, namespace: str | None, name: str, memo: Any, **kwargs: Any
) -> None:
    # Debounced like every other trigger: Secrets applied together with a new SupportBot arrive
    # on their own watch stream, and reconciling before they are indexed would report them
    # missing (a spurious Degraded + Warning event); it also coalesces bursts of edits.
    runtime = _runtime(memo)
    delay = runtime.settings.debounce_seconds
    runtime.enqueue((namespace or "", name), delay)
    # Who holds a number can change with this bot: the other claimants of its number, and the
    # bots waiting in a NumberConflict (it may have released theirs), decide again.
    number = tenancy.number_of(body)
    claims = kwargs["supportbot_numbers"].get(number, ()) if number else ()
    for key in {*runtime.ctx.conflicted, *((c.namespace, c.name) for c in claims)}:
        runtime.enqueue(key, delay)


async def _child_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    key = view.owner_key(body)
    if key is not None:
        runtime = _runtime(memo)
        runtime.enqueue(key, runtime.settings.debounce_seconds)


for _index_id, (_group, _version, _plural) in view.CHILD_INDICES.items():
    kopf.on.event(_group, _version, _plural, id=f"{_index_id}_changed", labels=MANAGED)(
        _child_changed
    )


def _referenced(kind: str) -> Any:
    def when(namespace: str, name: str, supportbot_refs: Any, **_: Any) -> bool:
        return (namespace, kind, name) in supportbot_refs

    return when


def _input_changed(kind: str) -> Any:
    async def handler(namespace: str, name: str, memo: kopf.Memo, **kwargs: Any) -> None:
        runtime = _runtime(memo)
        for bot in set(kwargs["supportbot_refs"].get((namespace, kind, name), ())):
            runtime.enqueue((namespace, bot), runtime.settings.debounce_seconds)

    return handler


if WATCH_SECRETS:
    kopf.on.event("v1", "secrets", id="secret_changed", when=_referenced("Secret"))(
        _input_changed("Secret")
    )
kopf.on.event("v1", "configmaps", id="configmap_changed", when=_referenced("ConfigMap"))(
    _input_changed("ConfigMap")
)
