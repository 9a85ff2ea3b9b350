"""A local Kubernetes control plane without Docker.

API-only mode runs etcd + kube-apiserver (envtest-style): schemas, CEL, SSA, RBAC, admission.
Full mode adds kube-controller-manager, kube-scheduler and KWOK, so Deployments get ReplicaSets
and Pods that become Running/Ready on simulated nodes, the garbage collector cascades and
namespaces delete. Everything listens on loopback and runs unprivileged-capable; `stop()` ends
every child process group.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen
from typing import Any

from supportbot_dev import certs, procs
from supportbot_dev.binaries import Binaries, ensure_binaries
from supportbot_dev.procs import HarnessError

KWOK_STAGES = Path(__file__).parent / "data" / "kwok-stages.yaml"
KWOK_NODES = 2


def write_kubeconfig(path: Path, server: str, pki: certs.Pki, client: str) -> Path:
    crt, key = pki.client(client)
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "supportbot-local",
                "cluster": {"server": server, "certificate-authority": str(pki.ca_crt)},
            }
        ],
        "users": [
            {"name": client, "user": {"client-certificate": str(crt), "client-key": str(key)}}
        ],
        "contexts": [
            {
                "name": "supportbot-local",
                "context": {"cluster": "supportbot-local", "user": client, "namespace": "default"},
            }
        ],
        "current-context": "supportbot-local",
    }
    path.write_text(json.dumps(doc, indent=2))
    return path


class Cluster:
    """What tests and tools need from any cluster: a kubeconfig and CLI wrappers."""

    kubeconfig: Path
    bins: Binaries

    def env(self) -> dict[str, str]:
        path = os.pathsep.join(
            str(p.parent) for p in (self.bins.kubectl, self.bins.helm) if p is not None
        )
        return dict(
            os.environ,
            KUBECONFIG=str(self.kubeconfig),
            PATH=path + os.pathsep + os.environ.get("PATH", ""),
        )

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bins.kubectl), *args], stdin, check)

    def helm(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if self.bins.helm is None:
            raise HarnessError("helm was not built for this cluster")
        return self._run([str(self.bins.helm), *args], stdin, check)

    def _run(
        self, argv: list[str], stdin: str | None, check: bool
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, env=self.env(), check=False
        )
        if check and res.returncode != 0:
            raise HarnessError(
                f"{' '.join(argv[:3])}... failed ({res.returncode}): {res.stderr.strip()}"
            )
        return res

    def api_client(self) -> Any:
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig), client_configuration=cfg
        )
        return client.ApiClient(cfg)

    def stop(self) -> None:  # pragma: no cover - overridden
        pass


class ExistingCluster(Cluster):
    """A cluster the user already has (USE_EXISTING_CLUSTER=true + KUBECONFIG), e.g. kind."""

    def __init__(self, kubeconfig: Path) -> None:
        import shutil as _sh

        self.kubeconfig = kubeconfig
        kubectl = _sh.which("kubectl")
        built = ensure_binaries(full=False, helm=True) if kubectl is None else None
        helm = _sh.which("helm")
        self.bins = Binaries(
            etcd=Path("/nonexistent"),
            kube_apiserver=Path("/nonexistent"),
            kubectl=Path(kubectl) if kubectl else built.kubectl if built else Path("kubectl"),
            helm=Path(helm)
            if helm
            else (built.helm if built else ensure_binaries(full=False).helm),
        )


class LocalControlPlane(Cluster):
    def __init__(
        self, *, full: bool, workdir: Path | None = None, log: Callable[[str], None] | None = None
    ) -> None:
        self.full = full
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="supportbot-kube-"))
        self._own_workdir = workdir is None
        self.log = log or (lambda msg: None)
        self.procs: list[tuple[str, Popen[bytes]]] = []
        self.bins = ensure_binaries(full=full)
        self.kubeconfig = self.workdir / "kubeconfig"
        self.server = ""

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> LocalControlPlane:
        try:
            t0 = time.monotonic()
            self._start_etcd()
            self._start_apiserver()
            if self.full:
                self._start_full()
            self.log(
                f"control plane ({'full' if self.full else 'API-only'}) ready in "
                f"{time.monotonic() - t0:.1f} s at {self.server}"
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            procs.stop(proc, timeout=15)
        self.procs.clear()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _spawn(self, name: str, argv: list[str | os.PathLike[str]]) -> Popen[bytes]:
        proc = procs.start(argv, self.workdir / "logs" / f"{name}.log")
        self.procs.append((name, proc))
        return proc

    def _log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    # -- etcd + apiserver --------------------------------------------------------------------
    def _start_etcd(self) -> None:
        port, peer = procs.free_port(), procs.free_port()
        self.etcd_url = f"http://127.0.0.1:{port}"
        proc = self._spawn(
            "etcd",
            [
                self.bins.etcd,
                "--name=supportbot",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=supportbot=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ],
        )
        procs.wait_until(
            lambda: _http_ok(self.etcd_url + "/health"), 30, "etcd", proc, self._log("etcd")
        )

    def _start_apiserver(self) -> None:
        self.pki = certs.make_pki(
            self.workdir / "pki",
            {
                "admin": "/CN=admin/O=system:masters",
                "kube-controller-manager": "/CN=system:kube-controller-manager/O=system:masters",
                "kube-scheduler": "/CN=system:kube-scheduler",
                "kwok": "/CN=kwok/O=system:masters",
                # The aggregator's client identity towards API extension servers (KEDA's
                # external metrics API server), as kubeadm's front-proxy-client.
                "front-proxy-client": "/CN=front-proxy-client",
            },
        )
        port = procs.free_port()
        self.server = f"https://127.0.0.1:{port}"
        admission = [] if self.full else ["--disable-admission-plugins=ServiceAccount"]
        proc = self._spawn(
            "kube-apiserver",
            [
                self.bins.kube_apiserver,
                f"--etcd-servers={self.etcd_url}",
                f"--secure-port={port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--cert-dir={self.workdir / 'pki'}",
                f"--tls-cert-file={self.pki.serving_crt}",
                f"--tls-private-key-file={self.pki.serving_key}",
                f"--client-ca-file={self.pki.ca_crt}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={self.pki.sa_pub}",
                f"--service-account-signing-key-file={self.pki.sa_key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--profiling=false",
                f"--requestheader-client-ca-file={self.pki.ca_crt}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={self.pki.client('front-proxy-client')[0]}",
                f"--proxy-client-key-file={self.pki.client('front-proxy-client')[1]}",
                "--v=1",
                *admission,
            ],
        )
        write_kubeconfig(self.kubeconfig, self.server, self.pki, "admin")
        procs.wait_until(
            self._apiserver_ready, 90, "kube-apiserver", proc, self._log("kube-apiserver")
        )

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_crt))
        crt, key = self.pki.client("admin")
        ctx.load_cert_chain(str(crt), str(key))
        return ctx

    def _apiserver_ready(self) -> bool:
        return _http_ok(self.server + "/readyz", self._ssl())

    # -- full mode ---------------------------------------------------------------------------
    def _start_full(self) -> None:
        assert self.bins.kube_controller_manager and self.bins.kube_scheduler and self.bins.kwok
        kcm_cfg = write_kubeconfig(
            self.workdir / "kcm.kubeconfig", self.server, self.pki, "kube-controller-manager"
        )
        sched_cfg = write_kubeconfig(
            self.workdir / "scheduler.kubeconfig", self.server, self.pki, "kube-scheduler"
        )
        kwok_cfg = write_kubeconfig(self.workdir / "kwok.kubeconfig", self.server, self.pki, "kwok")
        self._spawn(
            "kube-controller-manager",
            [
                self.bins.kube_controller_manager,
                f"--kubeconfig={kcm_cfg}",
                f"--authentication-kubeconfig={kcm_cfg}",
                f"--authorization-kubeconfig={kcm_cfg}",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                f"--service-account-private-key-file={self.pki.sa_key}",
                f"--root-ca-file={self.pki.ca_crt}",
                "--bind-address=127.0.0.1",
                f"--secure-port={procs.free_port()}",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--concurrent-gc-syncs=20",
                "--horizontal-pod-autoscaler-sync-period=5s",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--v=1",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                self.bins.kube_scheduler,
                f"--kubeconfig={sched_cfg}",
                f"--authentication-kubeconfig={sched_cfg}",
                f"--authorization-kubeconfig={sched_cfg}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={procs.free_port()}",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--v=1",
            ],
        )
        self._spawn(
            "kwok",
            [
                self.bins.kwok,
                f"--kubeconfig={kwok_cfg}",
                f"--config={KWOK_STAGES}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--cidr=10.244.0.1/16",
                "--node-ip=10.240.0.1",
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{procs.free_port()}",
            ],
        )
        for i in range(KWOK_NODES):
            self.kubectl("apply", "-f", "-", stdin=json.dumps(_fake_node(f"kwok-node-{i}")))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            ready = self.kubectl(
                "get",
                "nodes",
                "-o",
                "jsonpath={.items[*].status.conditions[?(@.type=='Ready')].status}",
                check=False,
            ).stdout.split()
            sa = self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False)
            if ready.count("True") == KWOK_NODES and sa.returncode == 0:
                return
            for name, proc in self.procs:
                if proc.poll() is not None:
                    raise HarnessError(f"{name} exited ({proc.returncode}); see {self._log(name)}")
            time.sleep(0.5)
        raise HarnessError("KWOK nodes or the default ServiceAccount did not appear within 90 s")


def _fake_node(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
        },
    }


def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:  # noqa: S310 - loopback URL we built
            return bool(resp.status == 200)
    except OSError:
        return False


def from_environment(*, full: bool, log: Callable[[str], None] | None = None) -> Cluster:
    """The user's cluster if USE_EXISTING_CLUSTER=true (and KUBECONFIG), else a local one."""
    if os.environ.get("USE_EXISTING_CLUSTER", "").lower() in {"1", "true", "yes"}:
        kubeconfig = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        return ExistingCluster(Path(kubeconfig))
    return LocalControlPlane(full=full, log=log).start()
