"""Locate (or build, once) the control-plane binaries.

Pinned versions live in hack/build-controlplane.sh; the built binaries are cached under
$SUPPORTBOT_CACHE/bin (default ~/.cache/supportbot/bin). Binaries found in $KUBEBUILDER_ASSETS
(etcd, kube-apiserver, kubectl) are used instead of building those.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from supportbot_dev.procs import HarnessError

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-controlplane.sh"
PROMTOOL_SCRIPT = REPO_ROOT / "hack" / "build-promtool.sh"


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kubectl: Path
    kube_controller_manager: Path | None = None
    kube_scheduler: Path | None = None
    kwok: Path | None = None
    helm: Path | None = None


def _build(components: list[str]) -> dict[str, Path]:
    """Run the build script for `components`; return name -> bin directory."""
    if not components:
        return {}
    print(
        f"[supportbot-dev] ensuring control-plane binaries: {' '.join(components)} "
        "(first build compiles Kubernetes from source: ~10-25 min on 2 cores)",
        file=sys.stderr,
        flush=True,
    )
    res = subprocess.run(
        ["bash", str(BUILD_SCRIPT), *components], stdout=subprocess.PIPE, text=True, check=False
    )
    if res.returncode != 0:
        raise HarnessError(f"{BUILD_SCRIPT.name} failed with exit code {res.returncode}")
    found: dict[str, Path] = {}
    for line in res.stdout.splitlines():
        name, _, path = line.partition("=")
        if path:
            found[name.strip()] = Path(path.strip())
    return found


def ensure_binaries(*, full: bool, helm: bool = True) -> Binaries:
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    reuse: dict[str, Path] = {}
    if assets:
        for name in ("etcd", "kube-apiserver", "kubectl"):
            candidate = Path(assets) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                reuse[name] = candidate
    components = ["etcd"] if "etcd" not in reuse else []
    if full or len(reuse) < 3:
        components.append("kubernetes")
    if full:
        components.append("kwok")
    if helm:
        components.append("helm")
    dirs = _build(components)
    k8s = dirs.get("kubernetes")

    def pick(name: str, component: str) -> Path:
        if name in reuse:
            return reuse[name]
        base = dirs.get(component)
        if base is None:
            raise HarnessError(f"no binary for {name}")
        return base / name

    return Binaries(
        etcd=pick("etcd", "etcd"),
        kube_apiserver=pick("kube-apiserver", "kubernetes"),
        kubectl=pick("kubectl", "kubernetes"),
        kube_controller_manager=k8s / "kube-controller-manager" if k8s and full else None,
        kube_scheduler=k8s / "kube-scheduler" if k8s and full else None,
        kwok=dirs["kwok"] / "kwok" if "kwok" in dirs else None,
        helm=dirs["helm"] / "helm" if "helm" in dirs else None,
    )


def ensure_promtool() -> Path:
    """promtool (pinned in hack/build-promtool.sh), built once into the same cache."""
    res = subprocess.run(
        ["bash", str(PROMTOOL_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False
    )
    name, _, path = res.stdout.strip().rpartition("\n")[-1].partition("=")
    if res.returncode != 0 or name != "promtool":
        raise HarnessError(f"{PROMTOOL_SCRIPT.name} failed with exit code {res.returncode}")
    return Path(path) / "promtool"
