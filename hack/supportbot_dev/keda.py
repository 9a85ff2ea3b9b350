"""KEDA on the local control plane: its operator and its external metrics API server as local
processes, registered the way a real install registers them.

- binaries and CRDs from `hack/build-keda.sh` (built once from the Go module proxy, cached);
- CRDs applied server-side; namespace `keda`;
- one certificate from the control plane's CA for the metrics API server's serving endpoint and
  the operator <-> adapter gRPC link (mutual TLS, as KEDA's own cert rotation would make);
- `keda` (operator: ScaledObject controller, owns the HPAs, runs the scalers) and
  `keda-adapter` (serves `external.metrics.k8s.io/v1beta1`, asks the operator over gRPC);
- Service `keda/keda-metrics-apiserver` of type ExternalName `localhost` on the adapter's port
  and the APIService `v1beta1.external.metrics.k8s.io` pointing at it with the CA bundle: the
  kube-apiserver's aggregator resolves an ExternalName Service to that host, so the real
  aggregation path (front-proxy client certificate, delegated authn/authz) is used, no
  kube-proxy needed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from supportbot_dev import certs, procs
from supportbot_dev.binaries import REPO_ROOT
from supportbot_dev.controlplane import LocalControlPlane
from supportbot_dev.procs import HarnessError

BUILD_SCRIPT = REPO_ROOT / "hack" / "build-keda.sh"
NAMESPACE = "keda"
METRICS_SERVICE = "keda-metrics-apiserver"
APISERVICE = "v1beta1.external.metrics.k8s.io"


def ensure_keda() -> Path:
    """The directory with `keda`, `keda-adapter` and `crds/` (built on first use)."""
    print(
        "[supportbot-dev] ensuring KEDA binaries (first build compiles KEDA from source: "
        "see README, Autoscaling)",
        file=sys.stderr,
        flush=True,
    )
    res = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False
    )
    if res.returncode != 0:
        raise HarnessError(f"{BUILD_SCRIPT.name} failed with exit code {res.returncode}")
    for line in res.stdout.splitlines():
        name, _, path = line.partition("=")
        if name.strip() == "keda" and path:
            return Path(path.strip())
    raise HarnessError(f"{BUILD_SCRIPT.name} printed no keda=<dir> line")


def built_keda() -> Path | None:
    """The cached KEDA build of the pinned version, if it exists (no build)."""
    found_version = re.search(
        r'KEDA_VERSION="\$\{KEDA_VERSION:-(v[^}]+)\}"', BUILD_SCRIPT.read_text()
    )
    version = os.environ.get("KEDA_VERSION") or (found_version.group(1) if found_version else "")
    found_trim = re.search(r"^TRIM=(\S+)$", BUILD_SCRIPT.read_text(), re.M)
    suffix = f"-{found_trim.group(1)}" if found_trim else ""
    cache = Path(os.environ.get("SUPPORTBOT_CACHE") or Path.home() / ".cache" / "supportbot")
    found = cache / "bin" / f"keda-{version}{suffix}"
    return found if (found / "keda").exists() and (found / "keda-adapter").exists() else None


@dataclass
class LocalKeda:
    plane: LocalControlPlane
    log: Callable[[str], None] = lambda msg: None
    procs: list[tuple[str, Popen[bytes]]] = field(default_factory=list)

    def start(self) -> LocalKeda:
        t0 = time.monotonic()
        home = ensure_keda()
        workdir = self.plane.workdir / "keda"
        (workdir / "certs").mkdir(parents=True, exist_ok=True)
        try:
            self._install(home, workdir)
        except BaseException:
            self.stop()
            raise
        self.log(f"KEDA (operator + metrics API server) ready in {time.monotonic() - t0:.1f} s")
        return self

    def check(self) -> None:
        """Raise when the operator or the metrics API server has exited."""
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise HarnessError(
                    f"{name} exited ({proc.returncode}); see {self.plane.workdir / 'keda'}"
                )

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            procs.stop(proc, timeout=15)
        self.procs.clear()

    def _install(self, home: Path, workdir: Path) -> None:
        plane = self.plane
        plane.kubectl("create", "namespace", NAMESPACE)
        for crd in sorted((home / "crds").glob("*.yaml")):
            plane.kubectl("apply", "--server-side", "-f", str(crd))
        names = [f"crd/{_crd_name(path)}" for path in sorted((home / "crds").glob("*.yaml"))]
        plane.kubectl("wait", "--for=condition=Established", *names, "--timeout=60s")
        certdir = workdir / "certs"
        crt, key = certs.sign_serving(
            plane.pki,
            "keda",
            [f"{METRICS_SERVICE}.{NAMESPACE}.svc", f"keda-operator.{NAMESPACE}.svc", "localhost"],
            client_too=True,
        )
        (certdir / "tls.crt").write_bytes(crt.read_bytes())
        (certdir / "tls.key").write_bytes(key.read_bytes())
        (certdir / "ca.crt").write_bytes(plane.pki.ca_crt.read_bytes())
        env = dict(
            os.environ,
            KUBECONFIG=str(plane.kubeconfig),
            WATCH_NAMESPACE="",
            POD_NAMESPACE=NAMESPACE,
            POD_NAME="keda-operator-local",
            OPERATOR_NAME="keda-operator",
            KEDA_CLUSTER_OBJECT_NAMESPACE=NAMESPACE,
            KEDA_HTTP_DEFAULT_TIMEOUT="3000",
        )
        grpc = procs.free_port()
        operator = self._spawn(
            "keda-operator",
            [
                str(home / "keda"),
                "--leader-elect=false",
                f"--metrics-bind-address=127.0.0.1:{procs.free_port()}",
                f"--health-probe-bind-address=127.0.0.1:{procs.free_port()}",
                f"--metrics-service-bind-address=127.0.0.1:{grpc}",
                f"--cert-dir={certdir}",
                "--enable-cert-rotation=false",
                "--enable-webhook-patching=false",
                "--enable-apiservice-patching=false",
                f"--ca-dir={certdir}",
                "--zap-log-level=info",
            ],
            env,
            workdir,
        )
        procs.wait_until(
            lambda: procs.port_open(grpc),
            120,
            "the KEDA operator's gRPC port",
            operator,
            workdir / "keda-operator.log",
        )
        port = procs.free_port()
        adapter = self._spawn(
            "keda-adapter",
            [
                str(home / "keda-adapter"),
                f"--secure-port={port}",
                "--bind-address=127.0.0.1",
                f"--cert-dir={certdir}",
                f"--tls-cert-file={certdir / 'tls.crt'}",
                f"--tls-private-key-file={certdir / 'tls.key'}",
                f"--metrics-service-address=127.0.0.1:{grpc}",
                f"--port={procs.free_port()}",
                f"--lister-kubeconfig={plane.kubeconfig}",
                f"--authentication-kubeconfig={plane.kubeconfig}",
                f"--authorization-kubeconfig={plane.kubeconfig}",
            ],
            env,
            workdir,
        )
        procs.wait_until(
            lambda: procs.port_open(port),
            120,
            "the KEDA metrics API server",
            adapter,
            workdir / "keda-adapter.log",
        )
        plane.kubectl("apply", "-f", "-", stdin=json.dumps(_service(port)))
        plane.kubectl("apply", "-f", "-", stdin=json.dumps(_apiservice(plane.pki.ca_crt, port)))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            res = plane.kubectl(
                "get",
                "apiservice",
                APISERVICE,
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Available')].status}",
                check=False,
            )
            if res.stdout.strip() == "True":
                return
            for name, proc in self.procs:
                if proc.poll() is not None:
                    raise HarnessError(f"{name} exited ({proc.returncode}); see {workdir}")
            time.sleep(0.5)
        status = plane.kubectl("get", "apiservice", APISERVICE, "-o", "json", check=False).stdout
        raise HarnessError(f"APIService {APISERVICE} not Available within 120 s: {status[-1500:]}")

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str], workdir: Path
    ) -> Popen[bytes]:
        proc = procs.start(argv, workdir / f"{name}.log", env=env)
        self.procs.append((name, proc))
        return proc


def _crd_name(path: Path) -> str:
    """`keda.sh_scaledobjects.yaml` -> `scaledobjects.keda.sh` (controller-gen's file names)."""
    group, _, plural = path.stem.partition("_")
    return f"{plural}.{group}"


def _service(port: int) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": METRICS_SERVICE, "namespace": NAMESPACE},
        "spec": {
            "type": "ExternalName",
            "externalName": "localhost",
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        },
    }


def _apiservice(ca: Path, port: int) -> dict[str, object]:
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": APISERVICE},
        "spec": {
            "group": "external.metrics.k8s.io",
            "version": "v1beta1",
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            "caBundle": base64.b64encode(ca.read_bytes()).decode(),
            "service": {"name": METRICS_SERVICE, "namespace": NAMESPACE, "port": port},
        },
    }
