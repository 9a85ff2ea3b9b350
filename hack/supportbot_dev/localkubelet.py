"""A tiny local "kubelet": runs the containers of KWOK-simulated pods as real local processes.

KWOK marks pods Running/Ready without running anything. For the demo and the e2e tests we want
the opposite proof: that the manifests the operator rendered really start a working bot. So for
each selected pod this runs its init containers to completion, then its containers, from the pod
spec as stored in the API server:

- command/args with Kubernetes `$(VAR)` expansion; a bare executable name resolves to the
  project's virtualenv first (the image's console scripts), then PATH;
- env from literal values, Secrets and ConfigMaps (`valueFrom`, `envFrom`) and the downward API
  fields we use (pod name/namespace);
- configMap/secret/projected (secret and configMap sources)/emptyDir volumes materialised under
  a per-pod root with kubelet's atomic `..data` symlink layout, refreshed when the source
  objects change; any env value or argument that starts with a mount path is rewritten to the
  local directory;
- each declared containerPort gets a free loopback port (like a pod IP); env values equal to a
  declared port number, in variables whose name ends with PORT, are rewritten to it;
- the pod's ServiceAccount identity: a token from the TokenRequest API (as kubelet's projected
  volume would hold) in a kubeconfig passed as KUBECONFIG, so a pod that talks to the API server
  (the operator) does so with exactly the RBAC its ServiceAccount has.

Pods that disappear (rollout, scale-down, garbage collection) get their processes stopped.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

from kubernetes import client
from yaml import safe_load as yaml_safe_load

from supportbot_dev import procs
from supportbot_dev.controlplane import Cluster
from supportbot_dev.procs import HarnessError

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass
class LocalContainer:
    name: str
    argv: list[str]
    env: dict[str, str]
    ports: dict[int, int]
    log: Path
    proc: Popen[bytes] | None = None


@dataclass
class LocalPod:
    name: str
    uid: str
    labels: dict[str, str]
    root: Path
    owner: str = ""
    containers: list[LocalContainer] = field(default_factory=list)
    volume_hashes: dict[str, str] = field(default_factory=dict)

    def port(self, container_port: int) -> int:
        for c in self.containers:
            if container_port in c.ports:
                return c.ports[container_port]
        raise KeyError(container_port)

    def alive(self) -> bool:
        return all(c.proc is not None and c.proc.poll() is None for c in self.containers)


def expand(value: str, env: dict[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), value)


def resolve_executable(name: str) -> str:
    if "/" in name:
        return name
    venv_bin = Path(sys.executable).parent / name
    if venv_bin.exists():
        return str(venv_bin)
    found = shutil.which(name)
    if found is None:
        raise HarnessError(f"executable {name!r} not found in the virtualenv or PATH")
    return found


class LocalKubelet:
    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        *,
        label_selector: str,
        workdir: Path,
        max_pods_per_owner: int = 1,
        extra_env: dict[str, str] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.cluster = cluster
        self.core = client.CoreV1Api(cluster.api_client())
        self.namespace = namespace
        self.selector = label_selector
        self.workdir = workdir
        self.max_per_owner = max_pods_per_owner
        self.extra_env = extra_env or {}
        self.log = log or (lambda msg: None)
        self.pods: dict[str, LocalPod] = {}

    # -- reconciliation ------------------------------------------------------------------------
    def sync(self) -> None:
        """Start processes for new running pods, stop those of vanished ones, refresh volumes."""
        items: list[Any] = self.core.list_namespaced_pod(
            self.namespace, label_selector=self.selector
        ).items
        live = {
            p.metadata.uid: p
            for p in items
            if p.metadata.deletion_timestamp is None and p.status.phase == "Running"
        }
        for uid in list(self.pods):
            if uid not in live:
                self._stop_pod(self.pods.pop(uid))
        per_owner: dict[str, int] = {}
        for pod in self.pods.values():
            per_owner[pod.owner] = per_owner.get(pod.owner, 0) + 1
        for uid, pod in sorted(live.items(), key=lambda kv: str(kv[1].metadata.name)):
            if uid in self.pods:
                self._refresh_volumes(self.pods[uid], pod)
                continue
            owner = (pod.metadata.owner_references or [None])[0]
            key = owner.name if owner is not None else pod.metadata.name
            if per_owner.get(key, 0) >= self.max_per_owner:
                continue
            per_owner[key] = per_owner.get(key, 0) + 1
            self.pods[uid] = self._start_pod(pod, key)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sync()
            if predicate():
                return
            time.sleep(0.5)
        raise HarnessError(f"timed out after {timeout:.0f} s waiting for {what}")

    def run_to_completion(self, name: str, timeout: float) -> tuple[int, str]:
        """Run one pod's containers once, as a kubelet runs a `restartPolicy: Never` pod (a
        `helm test` hook), whatever its phase; report the result back as a kubelet would
        (phase Succeeded when every container exited 0, else Failed). Returns the highest exit
        code and the containers' output."""
        pod: Any = self.core.read_namespaced_pod(name, self.namespace)
        local = self._start_pod(pod, name)
        codes = {}
        try:
            for c in local.containers:
                assert c.proc is not None
                codes[c.name] = c.proc.wait(timeout=timeout)
        finally:
            self._stop_pod(local)
        phase = "Succeeded" if not any(codes.values()) else "Failed"
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        statuses = [
            {
                "name": n,
                "image": next(s.image for s in pod.spec.containers if s.name == n),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": code, "startedAt": now, "finishedAt": now}},
            }
            for n, code in codes.items()
        ]
        self.core.patch_namespaced_pod_status(
            name, self.namespace, {"status": {"phase": phase, "containerStatuses": statuses}}
        )
        output = "".join(c.log.read_text(errors="replace") for c in local.containers)
        return max(codes.values(), default=0), output

    def stop_all(self) -> None:
        for pod in self.pods.values():
            self._stop_pod(pod)
        self.pods.clear()

    # -- pods ----------------------------------------------------------------------------------
    def _start_pod(self, pod: Any, owner: str) -> LocalPod:
        name = pod.metadata.name
        root = self.workdir / name
        local = LocalPod(
            name=name,
            uid=pod.metadata.uid,
            labels=dict(pod.metadata.labels or {}),
            root=root,
            owner=owner,
        )
        mounts = self._materialise_volumes(local, pod)
        pod_env: dict[str, str] = {}
        if pod.spec.automount_service_account_token is not False:
            pod_env["KUBECONFIG"] = str(self._service_account_kubeconfig(local, pod))
        for init in pod.spec.init_containers or []:
            c = self._container(local, pod, init, mounts, pod_env)
            self.log(f"{name}: init container {init.name}: {' '.join(c.argv)}")
            proc = self._launch(local, c)
            if proc.wait(timeout=300) != 0:
                raise HarnessError(f"init container {init.name} of {name} failed; see {c.log}")
        for spec in pod.spec.containers:
            c = self._container(local, pod, spec, mounts, pod_env)
            self.log(f"{name}: starting {spec.name} ports {c.ports}: {' '.join(c.argv[:3])}")
            c.proc = self._launch(local, c)
            local.containers.append(c)
        return local

    def _launch(self, local: LocalPod, c: LocalContainer) -> Popen[bytes]:
        """Start one container; `supportbot_dev.containers.ContainerKubelet` runs it in podman."""
        return procs.start(c.argv, c.log, env=c.env, cwd=local.root)

    def _stop_pod(self, pod: LocalPod) -> None:
        self.log(f"{pod.name}: pod gone, stopping its processes")
        for c in pod.containers:
            if c.proc is not None:
                procs.stop(c.proc, timeout=30)

    def _container(
        self, local: LocalPod, pod: Any, spec: Any, mounts: dict[str, Path], pod_env: dict[str, str]
    ) -> LocalContainer:
        ports = {p.container_port: procs.free_port() for p in spec.ports or []}
        env = self._env(pod, spec)
        for key, value in list(env.items()):
            if key.endswith("PORT") and value.isdigit() and int(value) in ports:
                env[key] = str(ports[int(value)])
            env[key] = _rewrite(env[key], mounts)
        full_env = {**os.environ, **pod_env, **env, **self.extra_env}  # extra_env wins
        argv = [expand(a, env) for a in [*(spec.command or []), *(spec.args or [])]]
        if not argv:
            raise HarnessError(f"container {spec.name} of {local.name} has no command")
        argv = [resolve_executable(argv[0]), *(_rewrite(a, mounts) for a in argv[1:])]
        return LocalContainer(spec.name, argv, full_env, ports, local.root / f"{spec.name}.log")

    def _env(self, pod: Any, spec: Any) -> dict[str, str]:
        env: dict[str, str] = {}
        for src in spec.env_from or []:
            data = self._source_data(src.secret_ref, src.config_map_ref)
            env.update({(src.prefix or "") + k: v for k, v in data.items()})
        for var in spec.env or []:
            if var.value is not None:
                env[var.name] = expand(var.value, env)
            elif var.value_from is not None:
                value = self._value_from(pod, var.value_from)
                if value is not None:
                    env[var.name] = value
        return env

    def _value_from(self, pod: Any, src: Any) -> str | None:
        if src.secret_key_ref is not None:
            ref = src.secret_key_ref
            return (
                self._secret(ref.name).get(ref.key)
                if not ref.optional
                else self._secret(ref.name, optional=True).get(ref.key)
            )
        if src.config_map_key_ref is not None:
            ref = src.config_map_key_ref
            return self._config_map(ref.name, optional=bool(ref.optional)).get(ref.key)
        if src.field_ref is not None:
            path = src.field_ref.field_path
            return {
                "metadata.name": pod.metadata.name,
                "metadata.namespace": pod.metadata.namespace,
                "status.podIP": "127.0.0.1",
                "spec.nodeName": pod.spec.node_name or "",
            }.get(path)
        return None

    def _source_data(self, secret_ref: Any, cm_ref: Any) -> dict[str, str]:
        if secret_ref is not None:
            return self._secret(secret_ref.name, optional=bool(secret_ref.optional))
        if cm_ref is not None:
            return self._config_map(cm_ref.name, optional=bool(cm_ref.optional))
        return {}

    def _secret(self, name: str, optional: bool = False) -> dict[str, str]:
        try:
            obj: Any = self.core.read_namespaced_secret(name, self.namespace)
        except client.ApiException as exc:
            if exc.status == 404 and optional:
                return {}
            raise HarnessError(f"secret {self.namespace}/{name}: {exc.reason}") from exc
        return {k: base64.b64decode(v).decode() for k, v in (obj.data or {}).items()}

    def _config_map(self, name: str, optional: bool = False) -> dict[str, str]:
        try:
            obj: Any = self.core.read_namespaced_config_map(name, self.namespace)
        except client.ApiException as exc:
            if exc.status == 404 and optional:
                return {}
            raise HarnessError(f"configmap {self.namespace}/{name}: {exc.reason}") from exc
        return dict(obj.data or {})

    def _service_account_kubeconfig(self, local: LocalPod, pod: Any) -> Path:
        """A kubeconfig carrying a TokenRequest token of the pod's ServiceAccount."""
        sa = pod.spec.service_account_name or "default"
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=24 * 3600)
        )
        token: Any = self.core.create_namespaced_service_account_token(sa, self.namespace, request)
        doc = yaml_safe_load(self.cluster.kubeconfig.read_text())
        context = next(c for c in doc["contexts"] if c["name"] == doc["current-context"])
        cluster = next(c for c in doc["clusters"] if c["name"] == context["context"]["cluster"])
        path = local.root / "serviceaccount.kubeconfig"
        local.root.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [cluster],
                    "users": [{"name": sa, "user": {"token": token.status.token}}],
                    "contexts": [
                        {
                            "name": "pod",
                            "context": {
                                "cluster": cluster["name"],
                                "user": sa,
                                "namespace": self.namespace,
                            },
                        }
                    ],
                    "current-context": "pod",
                }
            )
        )
        return path

    # -- volumes -------------------------------------------------------------------------------
    def _volume_files(self, vol: Any) -> dict[str, str] | None:
        if vol.config_map is not None:
            data = self._config_map(vol.config_map.name, optional=bool(vol.config_map.optional))
            items = vol.config_map.items
        elif vol.secret is not None:
            data = self._secret(vol.secret.secret_name, optional=bool(vol.secret.optional))
            items = vol.secret.items
        elif vol.projected is not None:  # secret and configMap sources (the backend keys)
            files: dict[str, str] = {}
            for src in vol.projected.sources or []:
                if src.secret is not None:
                    part = self._secret(src.secret.name, optional=bool(src.secret.optional))
                    chosen = src.secret.items
                elif src.config_map is not None:
                    part = self._config_map(
                        src.config_map.name, optional=bool(src.config_map.optional)
                    )
                    chosen = src.config_map.items
                else:
                    continue
                if chosen:
                    files.update({i.path: part[i.key] for i in chosen if i.key in part})
                else:
                    files.update(part)
            return files
        else:
            return None
        if items:
            return {i.path: data[i.key] for i in items if i.key in data}
        return data

    def _materialise_volumes(self, local: LocalPod, pod: Any) -> dict[str, Path]:
        vols = {v.name: v for v in pod.spec.volumes or []}
        mounts: dict[str, Path] = {}
        for spec in [*(pod.spec.init_containers or []), *pod.spec.containers]:
            for m in spec.volume_mounts or []:
                target = local.root / "volumes" / m.name
                mounts[m.mount_path] = target / m.sub_path if m.sub_path else target
        for name in {
            m.name
            for s in [*(pod.spec.init_containers or []), *pod.spec.containers]
            for m in s.volume_mounts or []
        }:
            target = local.root / "volumes" / name
            target.mkdir(parents=True, exist_ok=True)
            files = self._volume_files(vols[name]) if name in vols else None
            if files is not None:
                local.volume_hashes[name] = _write_atomic(target, files)
        return mounts

    def _refresh_volumes(self, local: LocalPod, pod: Any) -> None:
        for vol in pod.spec.volumes or []:
            if vol.name not in local.volume_hashes:
                continue
            files = self._volume_files(vol)
            if files is not None and _digest(files) != local.volume_hashes[vol.name]:
                self.log(f"{local.name}: volume {vol.name} changed, updating files")
                local.volume_hashes[vol.name] = _write_atomic(
                    local.root / "volumes" / vol.name, files
                )


def _rewrite(value: str, mounts: dict[str, Path]) -> str:
    for mount_path in sorted(mounts, key=len, reverse=True):
        if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
            return str(mounts[mount_path]) + value[len(mount_path.rstrip("/")) :]
    return value


def _digest(files: dict[str, str]) -> str:
    import hashlib

    h = hashlib.sha256()
    for k in sorted(files):
        h.update(k.encode() + b"\0" + files[k].encode() + b"\0")
    return h.hexdigest()


def _write_atomic(target: Path, files: dict[str, str]) -> str:
    """kubelet's layout: files in `..<ts>/`, `..data` -> it, and `<file>` -> `..data/<file>`."""
    stamp = target / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    stamp.mkdir(parents=True)
    for rel, content in files.items():
        (stamp / rel).parent.mkdir(parents=True, exist_ok=True)
        (stamp / rel).write_text(content)
    tmp_link = target / "..data_tmp"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(stamp.name)
    old = (target / "..data").resolve() if (target / "..data").is_symlink() else None
    os.replace(tmp_link, target / "..data")
    for rel in files:
        top = rel.split("/")[0]
        link = target / top
        if not link.is_symlink():
            link.symlink_to(f"..data/{top}")
    if old is not None and old.exists() and old != stamp.resolve():
        shutil.rmtree(old, ignore_errors=True)
    return _digest(files)
