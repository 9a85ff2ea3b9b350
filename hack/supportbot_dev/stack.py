"""The whole system on one machine, as a user would run it on a cluster.

`Stack.start()`:
1. the local platform: control plane in full mode (KWOK nodes), Redis, PostgreSQL;
2. the MSG91 and OpenRouter simulators (a real MSG91_AUTH_KEY / OPENROUTER_API_KEY in the
   environment switches that side to the real service) and the fake order backend the flows'
   HTTP steps call (`supportbot_dev.orders_backend`, allow-listed per tenant);
3. `helm install` of the operator chart; the operator's pod is run by the local kubelet with the
   chart's ServiceAccount token, so it reconciles with exactly the chart's RBAC;
4. the example tenants (their Secrets filled with local values) applied, waited on until Ready;
5. each tenant's webhook and worker pods run by the local kubelet from the specs the operator
   rendered (command, env from Secrets, the validated flow mounted, migrations as init container);
6. the MSG91 simulator routes each tenant's number to that tenant's webhook with its secret.
With `keda=True`, KEDA (operator + external metrics API server, `supportbot_dev.keda`) runs on
the control plane too, so a QueueDepth tenant's ScaledObject really scales its worker; the local
kubelet then runs up to `pods_per_replicaset` pods of each ReplicaSet as processes.
A background thread keeps the kubelets in sync, so rollouts restart processes from new specs and
deleted tenants lose their processes.

With `containers=True` the pods (operator, webhooks, workers, migrations) run as podman
containers of the images `make images` builds, instead of processes from the virtualenv
(`supportbot_dev.containers`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from supportbot.msg91.simulator.process import RunningSimulator, start_simulator
from supportbot_dev import databases, images, procs, tenants
from supportbot_dev.binaries import REPO_ROOT
from supportbot_dev.containers import ContainerKubelet
from supportbot_dev.controlplane import LocalControlPlane
from supportbot_dev.keda import LocalKeda
from supportbot_dev.localkubelet import LocalKubelet, LocalPod
from supportbot_dev.orders_backend import RunningBackend, start_backend
from supportbot_dev.postgres_server import PostgresServer, start_postgres
from supportbot_dev.procs import HarnessError
from supportbot_dev.redis_server import RedisServer, start_redis

OPERATOR_NS = "supportbot-system"
CHART = REPO_ROOT / "charts" / "supportbot-operator"


def serving(conditions: list[dict[str, Any]]) -> tuple[bool, str]:
    """Does a SupportBot with these status conditions serve its customers? Ready=True, or
    rolled out (``Reconciling=Reconciled``) and not Ready only because its autoscalers cannot
    scale (``Ready`` carries the ``Autoscaling`` condition's reason): the local control plane has
    no metrics API, so CPU autoscaling reports ``FailedGetResourceMetric`` there, truthfully."""
    by_type = {str(c.get("type")): c for c in conditions}
    ready = by_type.get("Ready", {})
    if ready.get("status") == "True":
        return True, f"Ready ({ready.get('message', '')})"
    scaling = by_type.get("Autoscaling", {})
    rolled_out = by_type.get("Reconciling", {}).get("reason") == "Reconciled"
    if (
        rolled_out
        and scaling.get("status") == "False"
        and ready.get("reason") == scaling.get("reason")
    ):
        return True, f"rolled out; autoscaling inactive: {scaling.get('message', '')}"
    return False, str(ready.get("reason", "no Ready condition"))


@dataclass
class Stack:
    namespace: str = "demo"
    llm_latency: str = "uniform:0.3:1.2"
    containers: bool = False
    """Run the pods as containers of the built images (podman) instead of local processes."""
    log: Callable[[str], None] = lambda msg: None
    keda: bool = False
    """Run KEDA on the control plane (QueueDepth autoscaling works for real)."""
    pods_per_replicaset: int = 1
    """How many pods of one ReplicaSet the local kubelet runs as processes (the rest stay
    KWOK-only): each is a real process on this 2-core machine, so keep it small."""
    examples: tuple[str, ...] = ()
    """Example directories to apply (e.g. "02-globex-telecom"); empty: all of them."""
    msg91_latency_ms: str = ""
    """MIN[:MAX] latency of the MSG91 simulator's send API (empty: none)."""
    workdir: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="supportbot-stack-"))
    )
    plane: LocalControlPlane | None = None
    local_keda: LocalKeda | None = None
    redis: RedisServer | None = None
    pg: PostgresServer | None = None
    msg91: RunningSimulator | None = None
    openrouter: Any = None
    openrouter_url: str = ""
    orders: RunningBackend | None = None
    operator_kubelet: LocalKubelet | None = None
    kubelet: LocalKubelet | None = None
    bots: dict[str, tenants.Tenant] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _sync_thread: threading.Thread | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _routed: dict[str, str] = field(default_factory=dict)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Stack:
        try:
            if self.containers:
                self.log("container mode: building/checking the images (make images)")
                images.ensure_images()
            self._platform()
            self._simulators()
            self._operator()
            self._tenants()
            self._processes()
        except BaseException:
            self.stop(keep_workdir=True)  # its logs say why
            raise
        return self

    def stop(self, *, keep_workdir: bool | None = None) -> None:
        """Stop everything; the work directory (process logs, tokens) is removed unless
        `keep_workdir` (default: the SUPPORTBOT_KEEP_WORKDIR environment variable is set)."""
        try:
            self._stop_processes()
        finally:
            keep = (
                bool(os.environ.get("SUPPORTBOT_KEEP_WORKDIR"))
                if keep_workdir is None
                else keep_workdir
            )
            if keep:
                self.log(f"logs kept in {self.workdir}")
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def _stop_processes(self) -> None:
        self._stop.set()
        if self._sync_thread is not None:
            self._sync_thread.join(10)
        for kubelet in (self.kubelet, self.operator_kubelet):
            if kubelet is not None:
                kubelet.stop_all()
        if self.openrouter is not None:
            procs.stop(self.openrouter)
        if self.msg91 is not None:
            self.msg91.stop()
        if self.orders is not None:
            self.orders.stop()
        for svc in (self.pg, self.redis, self.local_keda, self.plane):
            if svc is not None:
                svc.stop()

    # -- steps -------------------------------------------------------------------------------
    def _platform(self) -> None:
        self.log(
            "starting the Kubernetes control plane (etcd, apiserver, controller-manager, "
            "scheduler, KWOK); the first run builds it from source, which takes minutes"
        )
        self.plane = LocalControlPlane(full=True, log=self.log).start()
        if self.keda:
            self.log("starting KEDA (operator + external metrics API server)")
            self.local_keda = LocalKeda(self.plane, log=self.log).start()
        self.redis = start_redis()
        self.pg = start_postgres()
        self.log(f"Redis {self.redis.url}, PostgreSQL 127.0.0.1:{self.pg.port}")

    def _simulators(self) -> None:
        real_msg91 = bool(os.environ.get("MSG91_AUTH_KEY"))
        real_llm = bool(os.environ.get("OPENROUTER_API_KEY"))
        latency = ["--latency-ms", self.msg91_latency_ms] if self.msg91_latency_ms else []
        self.msg91 = start_simulator(
            [
                "--auth-key",
                tenants.SIM_MSG91_KEY,
                "--dlr-final",
                "read",
                "--dlr-delay-ms",
                "300",
                *latency,
            ],
            log=self.workdir / "msg91-sim.log",
        )
        port = procs.free_port()
        self.openrouter = procs.start(
            [
                str(Path(sys.executable).parent / "supportbot"),
                "openrouter-sim",
                "--port",
                str(port),
                "--latency",
                self.llm_latency,
                "--api-key",
                tenants.SIM_OPENROUTER_KEY,
            ],
            self.workdir / "openrouter-sim.log",
        )
        self.openrouter_url = f"http://127.0.0.1:{port}"
        procs.wait_until(lambda: procs.port_open(port), 30, "OpenRouter simulator", self.openrouter)
        self.orders = start_backend(
            self.workdir / "orders-backend.log", api_keys=[tenants.SIM_ORDERS_KEY]
        )
        self.log(f"fake order backend {self.orders.url} (the flows' 'Track my order' lookups)")
        self.log(
            f"MSG91 simulator {self.msg91.url}"
            + (" (sending to the REAL MSG91 API: MSG91_AUTH_KEY is set)" if real_msg91 else "")
        )
        self.log(
            f"OpenRouter simulator {self.openrouter_url} latency {self.llm_latency}"
            + (" (answers from the REAL OpenRouter: OPENROUTER_API_KEY is set)" if real_llm else "")
        )

    def _operator(self) -> None:
        assert self.plane is not None
        self.plane.kubectl("create", "namespace", self.namespace)
        self.log("installing the operator with Helm (charts/supportbot-operator)")
        self.plane.helm(
            "install",
            "supportbot-operator",
            str(CHART),
            "--namespace",
            OPERATOR_NS,
            "--create-namespace",
            "--set",
            f"watchNamespaces={{{self.namespace}}}",
            # The API server cannot reach an in-cluster webhook Service here (no kube-proxy);
            # tests/operator/test_cluster_admission.py covers the webhook in URL mode.
            "--set",
            "admissionWebhook.enabled=false",
            "--wait=false",
        )
        self.operator_kubelet = self._kubelet(
            self.plane,
            OPERATOR_NS,
            label_selector="app.kubernetes.io/name=supportbot-operator",
            workdir=self.workdir / "pods" / OPERATOR_NS,
            log=self.log,
        )
        self.operator_kubelet.wait_for(
            lambda: bool(self.operator_kubelet and self.operator_kubelet.pods),
            120,
            "the operator pod to run",
        )

    def tenant_values(self, index: int, name: str) -> tenants.TenantValues:
        assert self.redis is not None and self.pg is not None
        db = databases.create_database(self.pg.url(), prefix=name.replace("-", "_"))
        real_msg91 = os.environ.get("MSG91_AUTH_KEY")
        real_llm = os.environ.get("OPENROUTER_API_KEY")
        assert self.msg91 is not None
        return tenants.TenantValues(
            redis_url=f"{self.redis.url}/{index + 1}",
            database_url=db,
            msg91_base_url=None if real_msg91 else self.msg91.url,
            openrouter_base_url=None if real_llm else self.openrouter_url + "/api/v1",
            msg91_auth_key=real_msg91 or tenants.SIM_MSG91_KEY,
            openrouter_api_key=real_llm or tenants.SIM_OPENROUTER_KEY,
            orders_backend_url=self.orders.url if self.orders else None,
        )

    def _tenants(self) -> None:
        assert self.plane is not None
        for i, directory in enumerate(tenants.example_dirs()):
            if self.examples and directory.name not in self.examples:
                continue
            docs = tenants.load_example(directory)
            bot = tenants.supportbot_of(docs)
            name = bot["metadata"]["name"]
            values = self.tenant_values(i, name)
            local = tenants.localise(docs, values)
            self.apply(local)
            number = str(tenants.supportbot_of(local)["spec"]["whatsapp"]["integratedNumber"])
            self.bots[name] = tenants.Tenant(name, number, local, values)
            self.log(f"applied example {directory.name}: tenant {name}, number {number}")
        for name in self.bots:
            self.wait_ready(name)

    def _processes(self) -> None:
        assert self.plane is not None
        self.kubelet = self._kubelet(
            self.plane,
            self.namespace,
            label_selector="app.kubernetes.io/part-of=supportbot",
            workdir=self.workdir / "pods" / self.namespace,
            max_pods_per_owner=self.pods_per_replicaset,
            log=self.log,
        )
        for name in self.bots:
            self.wait_serving(name)
        self._sync_thread = threading.Thread(target=self._sync_loop, name="kubelets", daemon=True)
        self._sync_thread.start()

    # -- helpers -------------------------------------------------------------------------------
    def _kubelet(self, plane: LocalControlPlane, namespace: str, **kwargs: Any) -> LocalKubelet:
        kind = ContainerKubelet if self.containers else LocalKubelet
        return kind(plane, namespace, **kwargs)

    def apply(self, docs: list[dict[str, Any]]) -> None:
        assert self.plane is not None
        for doc in docs:
            self.plane.kubectl("apply", "-n", self.namespace, "-f", "-", stdin=json.dumps(doc))

    def supportbot(self, name: str) -> dict[str, Any] | None:
        assert self.plane is not None
        res = self.plane.kubectl(
            "get", "supportbot", name, "-n", self.namespace, "-o", "json", check=False
        )
        return json.loads(res.stdout) if res.returncode == 0 else None

    def condition(self, name: str, kind: str) -> dict[str, Any] | None:
        obj = self.supportbot(name) or {}
        for cond in obj.get("status", {}).get("conditions", []):
            if cond.get("type") == kind:
                return dict(cond)
        return None

    def wait_ready(self, name: str, timeout: float = 180) -> None:
        """Wait until the SupportBot serves (`serving`): Ready, or rolled out with only its
        autoscalers unable to work (this control plane has no metrics API yet)."""
        self.log(f"waiting for SupportBot {name} to report Ready")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.operator_kubelet is not None:
                self.operator_kubelet.sync()
            conditions = (self.supportbot(name) or {}).get("status", {}).get("conditions", [])
            ok, why = serving(conditions)
            if ok:
                self.log(f"SupportBot {name} serves: {why}")
                return
            time.sleep(1)
        raise HarnessError(
            f"SupportBot {name} not Ready after {timeout:.0f} s: "
            f"{json.dumps((self.supportbot(name) or {}).get('status'))}"
        )

    def pod(self, name: str, component: str) -> LocalPod | None:
        if self.kubelet is None:
            return None
        with self._lock:
            for pod in self.kubelet.pods.values():
                labels = pod.labels
                if (
                    labels.get("app.kubernetes.io/instance") == name
                    and labels.get("app.kubernetes.io/component") == component
                    and pod.alive()
                ):
                    return pod
        return None

    def webhook_url(self, name: str) -> str:
        pod = self.pod(name, "webhook")
        if pod is None:
            raise HarnessError(f"no running webhook process for {name}")
        return f"http://127.0.0.1:{pod.port(8080)}"

    def serving(self, name: str) -> bool:
        web, worker = self.pod(name, "webhook"), self.pod(name, "worker")
        if web is None or worker is None:
            return False
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{web.port(8080)}/readyz", timeout=2
            ) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def wait_serving(self, name: str, timeout: float = 120) -> None:
        """Until the tenant's webhook and worker processes run and the webhook is ready; then
        (re)route the tenant's number at the MSG91 simulator to that webhook."""
        assert self.kubelet is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._sync_thread is None:
                with self._lock:
                    self.kubelet.sync()
            if self.serving(name):
                self.route(name)
                return
            time.sleep(0.5)
        raise HarnessError(
            f"tenant {name}'s processes not serving after {timeout:.0f} s; "
            f"logs under {self.workdir / 'pods'}"
        )

    def route(self, name: str) -> None:
        assert self.msg91 is not None
        t = self.bots[name]
        body = {
            "inbound_url": self.webhook_url(name) + "/webhooks/msg91/inbound",
            "status_url": self.webhook_url(name) + "/webhooks/msg91/status",
            "secret": t.values.webhook_secret,
            "secret_header": "X-Webhook-Secret",
        }
        httpx.put(
            f"{self.msg91.url}/_sim/routes/{t.number}", json=body, timeout=5
        ).raise_for_status()
        self._routed[name] = self.webhook_url(name)

    def routed(self, name: str) -> bool:
        """Is the tenant's number routed to a webhook process that runs and is ready?"""
        pod = self.pod(name, "webhook")
        url = f"http://127.0.0.1:{pod.port(8080)}" if pod else None
        return url is not None and self._routed.get(name) == url and self.serving(name)

    def _sync_loop(self) -> None:
        while not self._stop.wait(1.0):
            for kubelet in (self.operator_kubelet, self.kubelet):
                if kubelet is None:
                    continue
                try:
                    with self._lock:
                        kubelet.sync()
                except Exception as exc:  # keep following the cluster; report and go on
                    self.log(f"kubelet sync failed: {exc}")
            for name in list(self.bots):
                pod = self.pod(name, "webhook")
                url = f"http://127.0.0.1:{pod.port(8080)}" if pod else None
                if url and url != self._routed.get(name) and self.serving(name):
                    self.log(f"tenant {name}: webhook process replaced, re-routing its number")
                    self.route(name)


@contextlib.contextmanager
def running(failed: Callable[[], bool], **options: Any) -> Iterator[Stack]:
    """A started `Stack(**options)` logging to stderr with elapsed seconds, stopped on exit; its
    work directory is kept when `failed()` says so (fixtures pass their session's failures)."""
    t0 = time.monotonic()
    stack = Stack(
        log=lambda m: print(f"[stack {time.monotonic() - t0:6.1f}s] {m}", file=sys.stderr),
        **options,
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop(keep_workdir=failed() or None)
