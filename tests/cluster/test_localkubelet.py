"""The local kubelet runs a KWOK pod's containers as real processes from the stored pod spec."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from supportbot_dev.controlplane import Cluster
from supportbot_dev.localkubelet import LocalKubelet


def _manifests(ns: str) -> list[dict[str, Any]]:
    labels = {"app": "files"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": ns},
            "stringData": {"greeting": "from-secret"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "site", "namespace": ns},
            "data": {"index.html": "version-1"},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "files", "namespace": ns},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "initContainers": [
                            {
                                "name": "init",
                                "image": "x",
                                "command": [
                                    "python",
                                    "-c",
                                    "import os, pathlib; "
                                    "pathlib.Path(os.environ['OUT']).write_text(os.environ['G'])",
                                ],
                                "env": [
                                    {"name": "OUT", "value": "/work/init.txt"},
                                    {
                                        "name": "G",
                                        "valueFrom": {
                                            "secretKeyRef": {"name": "s", "key": "greeting"}
                                        },
                                    },
                                ],
                                "volumeMounts": [{"name": "work", "mountPath": "/work"}],
                            }
                        ],
                        "containers": [
                            {
                                "name": "web",
                                "image": "x",
                                "command": ["python", "-m", "http.server"],
                                "args": [
                                    "$(HTTP_PORT)",
                                    "--bind",
                                    "127.0.0.1",
                                    "--directory",
                                    "/srv/site",
                                ],
                                "ports": [{"containerPort": 8080}],
                                "env": [{"name": "HTTP_PORT", "value": "8080"}],
                                "volumeMounts": [
                                    {"name": "site", "mountPath": "/srv/site"},
                                    {"name": "work", "mountPath": "/work"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "site", "configMap": {"name": "site"}},
                            {"name": "work", "emptyDir": {}},
                        ],
                    },
                },
            },
        },
    ]


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2) as r:
        return str(r.read().decode())


@pytest.mark.fullcluster
def test_pod_runs_locally_with_env_volumes_and_ports(kube_full: Cluster, tmp_path: Path) -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    kube_full.kubectl("create", "namespace", ns)
    for m in _manifests(ns):
        kube_full.kubectl("apply", "-f", "-", stdin=json.dumps(m))
    kubelet = LocalKubelet(kube_full, ns, label_selector="app=files", workdir=tmp_path)
    try:
        kubelet.wait_for(lambda: len(kubelet.pods) == 1, 90, "the pod to start locally")
        (pod,) = kubelet.pods.values()
        port = pod.port(8080)
        kubelet.wait_for(lambda: _can_get(port), 30, "the web container to serve")
        assert _get(port) == "version-1"
        assert (pod.root / "volumes" / "work" / "init.txt").read_text() == "from-secret"

        # kubelet-style refresh of a mounted ConfigMap
        kube_full.kubectl(
            "-n",
            ns,
            "patch",
            "configmap",
            "site",
            "-p",
            json.dumps({"data": {"index.html": "version-2"}}),
        )
        kubelet.wait_for(lambda: _can_get(port) and _get(port) == "version-2", 30, "refreshed file")

        kube_full.kubectl("-n", ns, "delete", "deployment", "files")
        proc = pod.containers[0].proc
        assert proc is not None
        kubelet.wait_for(lambda: not kubelet.pods, 90, "the pod's processes to stop")
        assert proc.poll() is not None
    finally:
        kubelet.stop_all()


def _can_get(port: int) -> bool:
    try:
        _get(port)
    except OSError:
        return False
    return True


@pytest.mark.fullcluster
def test_pod_gets_its_service_account_identity(kube_full: Cluster, tmp_path: Path) -> None:
    """A pod's process talks to the API server as its ServiceAccount, with that RBAC only."""
    ns = f"t-{uuid.uuid4().hex[:8]}"
    kube_full.kubectl("create", "namespace", ns)
    kube_full.kubectl("-n", ns, "create", "serviceaccount", "reader")
    kube_full.kubectl(
        "-n", ns, "create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps"
    )
    kube_full.kubectl(
        "-n",
        ns,
        "create",
        "rolebinding",
        "cm-reader",
        "--role=cm-reader",
        f"--serviceaccount={ns}:reader",
    )
    script = (
        "import subprocess, sys, pathlib\n"
        "out = pathlib.Path(sys.argv[2])\n"
        "def run(*a):\n"
        "    return subprocess.run([sys.argv[1], *a], capture_output=True, text=True).stdout\n"
        "def can(verb, res):\n"
        "    return run('auth', 'can-i', verb, res).strip()\n"
        "who = run('auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}')\n"
        "out.write_text(f\"{who} {can('list', 'configmaps')} {can('list', 'secrets')}\")\n"
        "import time; time.sleep(600)\n"
    )
    labels = {"app": "who"}
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "who", "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "reader",
                    "containers": [
                        {
                            "name": "c",
                            "image": "x",
                            "command": [
                                "python",
                                "-c",
                                script,
                                str(kube_full.bins.kubectl),
                                "/work/out.txt",
                            ],
                            "volumeMounts": [{"name": "work", "mountPath": "/work"}],
                        }
                    ],
                    "volumes": [{"name": "work", "emptyDir": {}}],
                },
            },
        },
    }
    kube_full.kubectl("apply", "-f", "-", stdin=json.dumps(dep))
    kubelet = LocalKubelet(kube_full, ns, label_selector="app=who", workdir=tmp_path)
    try:
        kubelet.wait_for(lambda: len(kubelet.pods) == 1, 90, "the pod to start")
        (pod,) = kubelet.pods.values()
        out = pod.root / "volumes" / "work" / "out.txt"
        kubelet.wait_for(out.exists, 30, "the identity report")
        assert out.read_text().split() == [f"system:serviceaccount:{ns}:reader", "yes", "no"]
    finally:
        kubelet.stop_all()
