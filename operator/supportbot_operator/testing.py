"""Test support: run the real operator as a process against a cluster and read what it reports
(metrics, health, logs), plus a small JSON wrapper around kubectl. Used by the tests and the load
tests; never imported by the operator itself."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")

ACME_CHILDREN: list[tuple[str, str]] = [
    ("serviceaccount", "acme"),
    ("configmap", "acme-validated-flow"),
    ("service", "acme-webhook"),
    ("deployment", "acme-webhook"),
    ("deployment", "acme-worker"),
    ("hpa", "acme-webhook"),
    ("hpa", "acme-worker"),
    ("pdb", "acme-webhook"),
    ("pdb", "acme-worker"),
]
"""(kubectl kind, name) of every child the operator makes for examples/01-acme-retail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def unique_number() -> str:
    """A WhatsApp number no other test or run uses (a number may belong to one SupportBot)."""
    return f"9199{uuid.uuid4().int % 10**8:08d}"


def token_kubeconfig(admin_kubeconfig: Path, token: str, path: Path) -> Path:
    """A kubeconfig for the same cluster as `admin_kubeconfig` that authenticates with `token`
    (e.g. a ServiceAccount's, from `kubectl create token`)."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    cluster_entry = admin["clusters"][0]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster_entry],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": cluster_entry["name"], "user": "sa"}}],
        "current-context": "sa",
    }
    path.write_text(json.dumps(doc))
    return path


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what} (last: {value!r})"
            )
        time.sleep(interval)
        value = check()
    return value


def _http(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback URL we built
            return int(resp.status), resp.read().decode()
    except OSError as exc:
        return 0, str(exc)


@dataclass
class OperatorProcess:
    """`supportbot-operator run` in a child process (own session, loopback ports)."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int
    health_port: int

    @classmethod
    def start(
        cls,
        *,
        kubeconfig: Path,
        log_path: Path,
        namespaces: str = "",
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> OperatorProcess:
        metrics, health = free_port(), free_port()
        full_env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "SUPPORTBOT_OPERATOR_NAMESPACES": namespaces,
            "SUPPORTBOT_OPERATOR_METRICS_HOST": "127.0.0.1",
            "SUPPORTBOT_OPERATOR_METRICS_PORT": str(metrics),
            "SUPPORTBOT_OPERATOR_LIVENESS_PORT": str(health),
            "SUPPORTBOT_OPERATOR_LOG_FORMAT": "json",
            **(env or {}),
        }
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "supportbot_operator.cli", "run"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                start_new_session=True,
            )
        op = cls(proc, log_path, metrics, health)
        try:
            wait_for(op._up, timeout, f"the operator's health endpoint (log: {log_path})")
        except BaseException:
            op.stop()
            raise
        return op

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"operator exited with {self.proc.returncode}:\n{self.log()[-3000:]}"
            )
        return _http(f"http://127.0.0.1:{self.health_port}/healthz")[0] == 200

    def healthy(self) -> bool:
        return _http(f"http://127.0.0.1:{self.health_port}/healthz")[0] == 200

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, text = _http(f"http://127.0.0.1:{self.metrics_port}/metrics")
        if status != 200:
            raise AssertionError(f"metrics endpoint answered {status}: {text}")
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
        return out

    def total(self, name: str, **labels: str) -> float:
        """Sum of the samples called `name` whose labels include `labels`."""
        want = set(labels.items())
        return sum(v for (n, lab), v in self.metrics().items() if n == name and want <= set(lab))

    def writes(self) -> float:
        return self.total("supportbot_operator_api_writes_total")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


class Kubectl:
    """kubectl with JSON in and out, given a runner like `Cluster.kubectl`."""

    def __init__(self, run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
        self.run = run

    def get(
        self, kind: str, name: str, namespace: str, *, managed_fields: bool = False
    ) -> dict[str, Any] | None:
        extra = ["--show-managed-fields"] if managed_fields else []
        res = self.run("get", kind, name, "-n", namespace, "-o", "json", *extra, check=False)
        if res.returncode != 0:
            if "NotFound" in res.stderr:
                return None
            raise AssertionError(res.stderr)
        doc: dict[str, Any] = json.loads(res.stdout)
        return doc

    def items(self, kind: str, namespace: str, *selector: str) -> list[dict[str, Any]]:
        args = ["get", kind, "-n", namespace, "-o", "json", *(f"-l{s}" for s in selector)]
        items: list[dict[str, Any]] = json.loads(self.run(*args).stdout)["items"]
        return items

    def apply(
        self, namespace: str, *docs: Mapping[str, Any], check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        text = "\n".join(json.dumps(d) for d in docs)
        return self.run("apply", "-n", namespace, "-f", "-", stdin=text, check=check)

    def apply_path(self, namespace: str, path: Path) -> None:
        self.run("apply", "-n", namespace, "-f", str(path))

    def patch(
        self, kind: str, name: str, namespace: str, patch: Mapping[str, Any], kind_of: str = "merge"
    ) -> None:
        self.run("patch", kind, name, "-n", namespace, "--type", kind_of, "-p", json.dumps(patch))

    def condition(self, name: str, namespace: str, kind: str) -> dict[str, Any] | None:
        bot = self.get("supportbot", name, namespace) or {}
        for cond in (bot.get("status") or {}).get("conditions") or []:
            if cond["type"] == kind:
                found: dict[str, Any] = cond
                return found
        return None

    def wait_condition(
        self,
        name: str,
        namespace: str,
        kind: str,
        status: str,
        timeout: float = 30.0,
        *,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Wait until the SupportBot's condition `kind` has `status` (and `reason`, if given);
        returns the condition."""

        def check() -> dict[str, Any] | None:
            cond = self.condition(name, namespace, kind)
            if cond is None or cond["status"] != status:
                return None
            return cond if reason is None or cond.get("reason") == reason else None

        what = f"{kind}={status}{f' ({reason})' if reason else ''} on {namespace}/{name}"
        found = wait_for(check, timeout, what)
        assert found is not None
        return found
