"""Container mode for the local kubelet: the pods the operator rendered, run from the real image.

`ContainerKubelet` is `LocalKubelet` with one difference: each container of a pod runs as a
podman container of the image its spec names (`supportbot:0.1.0` is the image `make images`
tags, `localhost/supportbot:0.1.0` in podman's store) instead of a process from the virtualenv.
From the pod spec it takes:

- command and args (with `$(VAR)` expansion), env from values, Secrets and ConfigMaps;
- configMap/secret volumes: the kubelet's `..data` directory (kept up to date by LocalKubelet,
  so hot reload works as in a cluster) bind-mounted read-only at the mount path;
- emptyDir volumes: a tmpfs of the volume's sizeLimit (default 64 MiB) at the mount path;
- the securityContext: runAsUser/runAsGroup/fsGroup, readOnlyRootFilesystem (and then no other
  writable path: podman's own /tmp, /var/tmp and /run tmpfs are switched off),
  capabilities, allowPrivilegeEscalation;
- resource limits (memory, cpu) and the pod's terminationGracePeriodSeconds (SIGTERM, then
  SIGKILL when it runs out);
- the pod's ServiceAccount kubeconfig (see LocalKubelet), mounted read-only.

Networking is the host's (as for the local processes): each declared containerPort gets a free
loopback port, passed in through the `*PORT` variables that name it.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

import yaml
from kubernetes import client

from supportbot_dev import podman, procs
from supportbot_dev.localkubelet import LocalContainer, LocalKubelet, LocalPod, expand

SA_KUBECONFIG = "/var/run/secrets/supportbot.dev/serviceaccount/kubeconfig"
"""Where a container finds its ServiceAccount kubeconfig (KUBECONFIG points there)."""

DEFAULT_EMPTYDIR = 64 * 1024 * 1024

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity (`64Mi`, `1G`, `512000`) in bytes."""
    for suffixes in (_BINARY, _DECIMAL):
        for suffix, factor in suffixes.items():
            if quantity.endswith(suffix):
                return int(float(quantity[: -len(suffix)]) * factor)
    return int(float(quantity))


def quantity_cpus(quantity: str) -> float:
    """A Kubernetes CPU quantity (`100m`, `1`, `0.5`) in CPUs."""
    if quantity.endswith("m"):
        return int(quantity[:-1]) / 1000
    return float(quantity)


def security_options(pod_spec: dict[str, Any], container: dict[str, Any]) -> list[str]:
    """podman run options for the pod's and the container's securityContext."""
    pod_sc: dict[str, Any] = pod_spec.get("securityContext") or {}
    sc: dict[str, Any] = {**pod_sc, **(container.get("securityContext") or {})}
    options: list[str] = []
    if sc.get("runAsUser") is not None:
        group = sc.get("runAsGroup")
        options.append(f"--user={sc['runAsUser']}" + (f":{group}" if group is not None else ""))
    if pod_sc.get("fsGroup") is not None:
        options.append(f"--group-add={pod_sc['fsGroup']}")
    if sc.get("readOnlyRootFilesystem"):
        options += ["--read-only", "--read-only-tmpfs=false"]
    caps: dict[str, Any] = sc.get("capabilities") or {}
    options += [f"--cap-drop={c.lower()}" for c in caps.get("drop") or []]
    options += [f"--cap-add={c.lower()}" for c in caps.get("add") or []]
    if sc.get("allowPrivilegeEscalation") is False:
        options.append("--security-opt=no-new-privileges")
    return options


def resource_options(container: dict[str, Any]) -> list[str]:
    limits: dict[str, str] = (container.get("resources") or {}).get("limits") or {}
    options: list[str] = []
    if "memory" in limits:
        options.append(f"--memory={quantity_bytes(str(limits['memory']))}")
    if "cpu" in limits:
        options.append(f"--cpus={quantity_cpus(str(limits['cpu']))}")
    return options


def volume_options(
    pod_spec: dict[str, Any], container: dict[str, Any], volume_dirs: dict[str, Path]
) -> list[str]:
    """Bind mounts (configMap/secret: read-only; others as the mount says) and tmpfs
    (emptyDir) for the container's volumeMounts; `volume_dirs` maps a volume name to the host
    directory that holds its files."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    options: list[str] = []
    for mount in container.get("volumeMounts") or []:
        vol: dict[str, Any] = volumes.get(mount["name"], {})
        path = mount["mountPath"]
        if "emptyDir" in vol:
            limit = (vol["emptyDir"] or {}).get("sizeLimit")
            size = quantity_bytes(str(limit)) if limit else DEFAULT_EMPTYDIR
            options.append(f"--tmpfs={path}:rw,size={size},mode=1777,nosuid,nodev")
            continue
        source = volume_dirs[mount["name"]]
        if mount.get("subPath"):
            source = source / mount["subPath"]
        kinds = ("configMap", "secret", "projected")
        read_only = mount.get("readOnly") or any(k in vol for k in kinds)
        options.append(f"--volume={source}:{path}:{'ro' if read_only else 'rw'}")
    return options


def run_argv(
    image: str,
    command: list[str],
    env: dict[str, str],
    options: list[str],
    *,
    name: str,
    stop_timeout: int = 30,
) -> list[str]:
    """`podman run` for one container, in the foreground. Env values are not on the command
    line: each `-e KEY` takes its value from podman's environment (pass `env` there too)."""
    return podman.command(
        "run",
        "--rm",
        "--replace",
        f"--name={name}",
        "--pull=never",
        "--network=host",
        f"--stop-timeout={stop_timeout}",
        "--label=dev.supportbot.kubelet=container-mode",
        *(f"--env={key}" for key in sorted(env)),
        *options,
        f"--entrypoint={command[0]}",
        podman.local_ref(image),
        *command[1:],
    )


@dataclass
class PodContainer(LocalContainer):
    """A LocalContainer that runs as a podman container."""

    container_name: str = ""
    run: list[str] = field(default_factory=list)
    run_env: dict[str, str] = field(default_factory=dict)
    grace: int = 30


class ContainerKubelet(LocalKubelet):
    """LocalKubelet whose containers run from their images with podman (see module doc)."""

    def _container(
        self, local: LocalPod, pod: Any, spec: Any, mounts: dict[str, Path], pod_env: dict[str, str]
    ) -> LocalContainer:
        base = super()._container(local, pod, spec, mounts, pod_env)
        serialize: Callable[[Any], Any] = client.ApiClient().sanitize_for_serialization
        pod_spec: dict[str, Any] = serialize(pod.spec)
        container: dict[str, Any] = serialize(spec)
        env = self._env(pod, spec)
        for key, value in list(env.items()):
            if key.endswith("PORT") and value.isdigit() and int(value) in base.ports:
                env[key] = str(base.ports[int(value)])
        command = [expand(a, env) for a in [*(spec.command or []), *(spec.args or [])]]
        options = volume_options(
            pod_spec,
            container,
            {m["name"]: local.root / "volumes" / m["name"] for m in pod_spec.get("volumes") or []},
        )
        options += security_options(pod_spec, container)
        options += resource_options(container)
        if "KUBECONFIG" in pod_env:
            kubeconfig = self_contained_kubeconfig(Path(pod_env["KUBECONFIG"]))
            options.append(f"--volume={kubeconfig}:{SA_KUBECONFIG}:ro")
            env["KUBECONFIG"] = SA_KUBECONFIG
        env.update(self.extra_env)
        grace = int(pod.spec.termination_grace_period_seconds or 30)
        name = f"sb-{local.name}-{spec.name}"[:63]
        return PodContainer(
            name=base.name,
            argv=base.argv,
            env=base.env,
            ports=base.ports,
            log=base.log,
            container_name=name,
            run=run_argv(spec.image, command, env, options, name=name, stop_timeout=grace),
            run_env={**podman.environment(), **env},
            grace=grace,
        )

    def _launch(self, local: LocalPod, c: LocalContainer) -> Popen[bytes]:
        assert isinstance(c, PodContainer)
        self.log(f"{local.name}: {c.name} runs in container {c.container_name}")
        return procs.start(c.run, c.log, env=c.run_env, cwd=local.root)

    def _stop_pod(self, pod: LocalPod) -> None:
        """SIGTERM, then SIGKILL after the pod's grace period (`podman stop`), as a kubelet."""
        self.log(f"{pod.name}: pod gone, stopping its containers")
        for c in pod.containers:
            if not isinstance(c, PodContainer) or c.proc is None or c.proc.poll() is not None:
                continue
            stop_container(c.container_name, c.grace)
            try:
                c.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                procs.stop(c.proc, timeout=5)


def self_contained_kubeconfig(path: Path) -> Path:
    """A copy of the kubeconfig at `path` with the CA files it names inlined (the container
    sees only the kubeconfig, not the control plane's certificate directory)."""
    doc = yaml.safe_load(path.read_text())
    for cluster in doc.get("clusters", []):
        ca = cluster["cluster"].pop("certificate-authority", None)
        if ca is not None:
            data = base64.b64encode(Path(ca).read_bytes()).decode()
            cluster["cluster"]["certificate-authority-data"] = data
    out = path.with_name(path.name + ".container")
    out.write_text(json.dumps(doc))
    return out


def stop_container(name: str, grace: int) -> None:
    """`podman stop --time=grace NAME`: SIGTERM, SIGKILL after `grace` seconds."""
    podman.podman("stop", f"--time={grace}", name, check=False, timeout=grace + 30)


# -- for tests that run one container of a rendered pod spec ---------------------------------
def container_of(pod_spec: dict[str, Any], name: str) -> dict[str, Any]:
    for c in [*pod_spec.get("initContainers", []), *pod_spec["containers"]]:
        if c["name"] == name:
            return dict(c)
    raise KeyError(name)


def pod_env(container: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """The container's env: literal values as rendered, Secret references from `values` (by
    variable name; each must be given), then `values` on top."""
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        else:
            env[var["name"]] = values[var["name"]]
    return {**env, **values}


@dataclass
class Running:
    """A container started in the foreground (`podman run`), its output in `log`."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, grace: int = 30) -> int:
        """SIGTERM, SIGKILL after `grace` seconds; returns the exit code."""
        if self.proc.poll() is None:
            stop_container(self.name, grace)
        return self.proc.wait(timeout=grace + 30)
