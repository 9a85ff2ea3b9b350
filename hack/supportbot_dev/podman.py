"""Podman set up for this project alone: its own storage, configuration and runtime choices.

These machines have no Docker engine; Debian's podman/buildah build and run OCI images as root.
Everything podman reads comes from files written here, under $SUPPORTBOT_CACHE/containers
(default ~/.cache/supportbot/containers), never from /etc/containers changes:

- storage (overlay) in that folder, so images survive between runs like the control-plane
  binaries do, and the machine's own image store is left alone;
- `runc` with the `cgroupfs` cgroup manager (the default `crun` fails here: "cgroups in hybrid
  mode not supported");
- explicit lower rlimits (`default_ulimits`): raising them is not permitted here (no
  CAP_SYS_RESOURCE; the hard nofile limit is 20000), and podman's default asks for more;
- host networking: every container stays on the loopback like the local processes do; no bridge
  network is ever created;
- no registry search: short names never go out to a registry (none is reachable here).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from supportbot_dev import procs
from supportbot_dev.procs import HarnessError

TOOLS = ("podman", "buildah", "runc", "mmdebstrap")
"""Debian packages (same names as their commands) that `ensure_tools` installs when missing."""

NOFILE = 16384
NPROC = 8192
"""The rlimits every container gets (below the hard limits of this machine)."""


def cache_root() -> Path:
    return Path(os.environ.get("SUPPORTBOT_CACHE", "~/.cache/supportbot")).expanduser()


def config_dir() -> Path:
    return cache_root() / "containers"


def ensure_tools() -> None:
    """apt-get install podman, buildah, runc and mmdebstrap when one is missing (root only)."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        procs.apt_install(*missing, "uidmap")


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def environment() -> dict[str, str]:
    """os.environ plus the variables that point podman at this project's configuration."""
    conf = config_dir()
    graphroot = conf / "storage"
    # runroot holds locks and mount state: on tmpfs (/run) so a reboot starts it clean
    key = hashlib.sha256(str(graphroot).encode()).hexdigest()[:12]
    runroot = Path("/run/supportbot-containers") / key if procs.is_root() else conf / "run"
    _write(
        conf / "storage.conf",
        f'[storage]\ndriver = "overlay"\ngraphroot = "{graphroot}"\nrunroot = "{runroot}"\n',
    )
    _write(
        conf / "containers.conf",
        "[containers]\n"
        f'default_ulimits = ["nofile={NOFILE}:{NOFILE}", "nproc={NPROC}:{NPROC}"]\n'
        'netns = "host"\n'
        'log_driver = "k8s-file"\n'
        "[engine]\n"
        'cgroup_manager = "cgroupfs"\n'
        'runtime = "runc"\n'
        'events_logger = "file"\n',
    )
    _write(conf / "registries.conf", "unqualified-search-registries = []\n")
    _write(conf / "policy.json", '{"default": [{"type": "insecureAcceptAnything"}]}\n')
    return {
        **os.environ,
        "CONTAINERS_CONF": str(conf / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(conf / "storage.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(conf / "registries.conf"),
    }


def command(*args: str) -> list[str]:
    """argv for `podman ARGS` with the options that containers.conf cannot carry."""
    return [
        "podman",
        "--cgroup-manager=cgroupfs",
        "--runtime=runc",
        *args,
    ]


def podman(*args: str, check: bool = True, timeout: float | None = 600) -> str:
    """Run `podman ARGS`; return its stdout. Raises HarnessError with stderr on failure."""
    res = subprocess.run(
        command(*args),
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if check and res.returncode != 0:
        raise HarnessError(f"podman {' '.join(args[:3])} failed ({res.returncode}): {res.stderr}")
    return res.stdout


def image_exists(ref: str) -> bool:
    res = subprocess.run(
        command("image", "exists", ref), env=environment(), capture_output=True, check=False
    )
    return res.returncode == 0


def image_label(ref: str, label: str) -> str | None:
    if not image_exists(ref):
        return None
    out = podman("image", "inspect", "--format", f'{{{{index .Labels "{label}"}}}}', ref)
    value = out.strip()
    return None if value in ("", "<no value>") else value


def local_ref(image: str) -> str:
    """The podman name of a Kubernetes image reference: `supportbot:0.1.0` is
    `localhost/supportbot:0.1.0` in podman's store (what `make images` tags)."""
    first = image.split("/")[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"localhost/{image}"
