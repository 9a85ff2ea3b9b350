"""Fleet rollout pacing on the full local control plane: 24 tenants, the bot image changes (as
a chart upgrade does), and with `max_rolling_tenants=3` never more than three tenants replace
their pods at once, every tenant ends on the new image, and the ones waiting say so."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch

from supportbot_dev.controlplane import Cluster
from supportbot_operator import names, pacing
from supportbot_operator.testing import Kubectl, OperatorProcess, wait_for

pytestmark = [pytest.mark.fullcluster, pytest.mark.slow]
TENANTS = 24
LIMIT = 3
T = 240.0
ENV = {"SUPPORTBOT_OPERATOR_RESYNC_SECONDS": "5", "SUPPORTBOT_OPERATOR_DEBOUNCE_SECONDS": "0.2"}


def _bots(template: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for i in range(TENANTS):
        bot = copy.deepcopy(template)
        bot["metadata"] = {"name": f"fleet-{i:02d}"}
        bot["spec"]["whatsapp"]["integratedNumber"] = f"9192000000{i:02d}"
        out.append(bot)
    return out


def _image(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def _all_on(k: Kubectl, ns: str, image: str) -> bool:
    deployments = k.items("deployments", ns)
    return len(deployments) == 2 * TENANTS and all(
        _image(d) == image and pacing.rolled_out(d) for d in deployments
    )


class Recorder:
    """Every watch event of one namespace's Deployments and SupportBots, in order."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.api = config.new_client_from_config(str(kubeconfig))  # type: ignore[no-untyped-call]
        self.namespace = namespace
        self.deployments: list[dict[str, Any]] = []
        self.bots: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []

    def start(self) -> None:
        apps = client.AppsV1Api(self.api)
        custom = client.CustomObjectsApi(self.api)
        listed: Any = apps.list_namespaced_deployment(self.namespace)
        rv_d = listed.metadata.resource_version
        bots: Any = custom.list_namespaced_custom_object(
            names.GROUP, names.VERSION, self.namespace, names.PLURAL
        )
        rv_b = bots["metadata"]["resourceVersion"]
        sources: list[tuple[Callable[..., Any], dict[str, Any], list[dict[str, Any]]]] = [
            (
                apps.list_namespaced_deployment,
                {"namespace": self.namespace, "resource_version": rv_d},
                self.deployments,
            ),
            (
                custom.list_namespaced_custom_object,
                {
                    "group": names.GROUP,
                    "version": names.VERSION,
                    "namespace": self.namespace,
                    "plural": names.PLURAL,
                    "resource_version": rv_b,
                },
                self.bots,
            ),
        ]
        for fn, kwargs, sink in sources:
            thread = threading.Thread(target=self._run, args=(fn, kwargs, sink), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(
        self, fn: Callable[..., Any], kwargs: dict[str, Any], sink: list[dict[str, Any]]
    ) -> None:
        w = watch.Watch()  # type: ignore[no-untyped-call]
        try:
            stream = w.stream(fn, timeout_seconds=int(T) * 2, **kwargs)  # type: ignore[no-untyped-call]
            for event in stream:
                obj = event["object"]
                sink.append(
                    obj if isinstance(obj, dict) else self.api.sanitize_for_serialization(obj)
                )
                if self._stop.is_set():
                    return
            if not self._stop.is_set():
                self.errors.append(f"{fn.__name__}: the watch ended before the test did")
        except Exception as exc:  # the connection is cut on purpose by `stop`
            if not self._stop.is_set():
                self.errors.append(f"{fn.__name__}: {exc!r}")

    def stop(self) -> None:
        self._stop.set()
        self.api.rest_client.pool_manager.clear()  # ends the blocked reads
        for thread in self._threads:
            thread.join(timeout=10)
        self.api.close()


def _max_rolling(events: list[dict[str, Any]], new_image: str) -> tuple[int, int]:
    """(most tenants rolling at once, tenants that rolled): a tenant rolls from the first event
    that shows one of its Deployments on the new image until both are on it and rolled out."""
    latest: dict[str, dict[str, dict[str, Any]]] = {}
    rolling: set[str] = set()
    done: set[str] = set()
    peak = 0
    for body in events:
        tenant = body["metadata"]["labels"][names.LABEL_INSTANCE]
        latest.setdefault(tenant, {})[body["metadata"]["name"]] = body
        mine = latest[tenant].values()
        if tenant in done or not any(_image(d) == new_image for d in mine):
            continue
        if len(latest[tenant]) == 2 and all(
            _image(d) == new_image and pacing.rolled_out(d) for d in mine
        ):
            rolling.discard(tenant)
            done.add(tenant)
        else:
            rolling.add(tenant)
        peak = max(peak, len(rolling))
    return peak, len(done)


@pytest.fixture
def fleet(
    full_cluster: Cluster,
    example_docs: Callable[[str], list[dict[str, Any]]],
) -> Iterator[tuple[Kubectl, str]]:
    ns = f"fleet-{uuid.uuid4().hex[:8]}"
    full_cluster.kubectl("create", "namespace", ns)
    k = Kubectl(full_cluster.kubectl)
    docs = example_docs("01-acme-retail")
    template = next(d for d in docs if d["kind"] == "SupportBot")
    k.apply(ns, *[d for d in docs if d["kind"] != "SupportBot"], *_bots(template))
    yield k, ns


def test_an_image_change_rolls_at_most_n_tenants_at_a_time(
    full_cluster: Cluster, fleet: tuple[Kubectl, str], tmp_path: Path
) -> None:
    k, ns = fleet
    first = OperatorProcess.start(
        kubeconfig=full_cluster.kubeconfig,
        log_path=tmp_path / "v1.log",
        namespaces=ns,
        env={**ENV, "SUPPORTBOT_OPERATOR_BOT_IMAGE_TAG": "v1"},
    )
    try:
        wait_for(lambda: _all_on(k, ns, "supportbot:v1"), T, "every tenant on v1", 1.0)
    finally:
        first.stop()

    recorder = Recorder(full_cluster.kubeconfig, ns)
    recorder.start()
    upgraded = OperatorProcess.start(
        kubeconfig=full_cluster.kubeconfig,
        log_path=tmp_path / "v2.log",
        namespaces=ns,
        env={
            **ENV,
            "SUPPORTBOT_OPERATOR_BOT_IMAGE_TAG": "v2",
            "SUPPORTBOT_OPERATOR_MAX_ROLLING_TENANTS": str(LIMIT),
        },
    )
    try:
        wait_for(lambda: _all_on(k, ns, "supportbot:v2"), T, "every tenant on v2", 1.0)
        wait_for(
            lambda: all(
                (k.condition(f"fleet-{i:02d}", ns, "Reconciling") or {}).get("reason")
                == "Reconciled"
                for i in range(TENANTS)
            ),
            60,
            "every tenant reconciled on v2",
            1.0,
        )
        assert upgraded.total("supportbot_operator_rollouts_waiting") == 0
    finally:
        upgraded.stop()
        recorder.stop()

    assert not recorder.errors
    peak, rolled = _max_rolling(recorder.deployments, "supportbot:v2")
    assert rolled == TENANTS
    assert 1 <= peak <= LIMIT, f"{peak} tenants rolled at once (limit {LIMIT})"
    queued = [
        c
        for bot in recorder.bots
        for c in (bot.get("status") or {}).get("conditions") or []
        if c.get("reason") == "RolloutQueued"
    ]
    assert queued, "no tenant ever reported waiting for a rollout slot"
    # (Ready is False here anyway: the local cluster serves no metrics API, so the HPAs say
    # FailedGetResourceMetric, which takes precedence; tests/operator/test_status.py covers it.)
    assert any(c["type"] == "Reconciling" and c["status"] == "True" for c in queued)
    assert any("in line" in c["message"] for c in queued)
