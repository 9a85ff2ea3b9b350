"""The built images (`make images`; cached, so this is quick after the first build) and the
pod specs the operator renders for the acme example, run as real podman containers."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from supportbot_dev import containers, images, podman, procs
from supportbot_dev.containers import Running

ROOT = images.REPO_ROOT


@pytest.fixture(scope="session")
def built_images() -> dict[str, str]:
    """image name (bot, operator) -> local reference; builds what changed."""
    return images.ensure_images()


@pytest.fixture(scope="session")
def acme_pods() -> dict[str, dict[str, Any]]:
    """Deployment name -> pod spec, as `supportbot-operator render` renders the acme example."""
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "supportbot_operator.cli",
            "render",
            str(ROOT / "examples/01-acme-retail/supportbot.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    docs = [d for d in yaml.safe_load_all(res.stdout) if d]
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] == "Deployment"
    }


@pytest.fixture
def run_pod_container(tmp_path: Path) -> Iterator[Any]:
    """Start one container of a rendered pod spec with exactly the spec's mounts, security
    context and limits; returns a Running. Everything started is stopped at the end."""
    started: list[Running] = []

    def start(
        image: str,
        pod_spec: dict[str, Any],
        container: dict[str, Any],
        env: dict[str, str],
        volume_dirs: dict[str, Path] | None = None,
    ) -> Running:
        options = containers.volume_options(pod_spec, container, volume_dirs or {})
        options += containers.security_options(pod_spec, container)
        options += containers.resource_options(container)
        name = f"sbtest-{container['name']}-{time.monotonic_ns()}"
        argv = containers.run_argv(
            image, [*container["command"], *container.get("args", [])], env, options, name=name
        )
        log = tmp_path / f"{name}.log"
        proc = procs.start(argv, log, env={**podman.environment(), **env})
        running = Running(name, proc, log)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop(grace=5)
