"""The Dockerfiles run what the operator and the chart render, as non-root, with health checks.

Text checks that need no build: entrypoints are the console scripts the rendered manifests call,
and the chart's default images are what `make images` tags. tests/images builds and runs them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from supportbot.cli import COMMANDS
from supportbot_dev import images

ROOT = Path(__file__).resolve().parents[2]


def _final_stage(dockerfile: Path) -> str:
    text = dockerfile.read_text()
    return text[text.rindex("\nFROM ") :]


def _json_instruction(stage: str, name: str) -> list[str]:
    match = re.search(rf"^{name} (\[.*\])\s*$", stage, re.M)
    assert match, f"no exec-form {name} in the final stage"
    value: list[str] = json.loads(match.group(1))
    return value


def _rendered(example: str) -> list[dict[str, Any]]:
    res = subprocess.run(
        [sys.executable, "-m", "supportbot_operator.cli", "render", str(ROOT / example)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [d for d in yaml.safe_load_all(res.stdout) if d]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def test_console_scripts_exist() -> None:
    scripts = {ep.name: ep for ep in metadata.entry_points(group="console_scripts")}
    for name in ("supportbot", "supportbot-operator"):
        assert name in scripts, f"console script {name} not installed"
        assert callable(scripts[name].load())


def test_bot_image_runs_what_the_operator_renders() -> None:
    stage = _final_stage(ROOT / "bot" / "Dockerfile")
    assert _json_instruction(stage, "ENTRYPOINT") == ["supportbot"]
    docs = _rendered("examples/01-acme-retail/supportbot.yaml")
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {"acme-webhook", "acme-worker"}
    seen = set()
    for dep in deployments:
        for c in _containers(dep):
            command = c["command"] + c.get("args", [])
            assert command[0] == "supportbot", command
            assert command[1] in COMMANDS, f"{command[1]} is not a supportbot sub-command"
            seen.add(command[1])
            sec = c["securityContext"]
            assert sec["runAsNonRoot"] is True and sec["readOnlyRootFilesystem"] is True
    assert seen == {"webhook", "worker", "migrate"}


def test_operator_image_runs_what_the_chart_renders() -> None:
    stage = _final_stage(ROOT / "operator" / "Dockerfile")
    assert _json_instruction(stage, "ENTRYPOINT") == ["supportbot-operator"]
    template = (ROOT / "charts/supportbot-operator/templates/deployment.yaml").read_text()
    match = re.search(r"command: (\[.*\])", template)
    assert match
    assert json.loads(match.group(1))[0] == "supportbot-operator"


def test_images_are_slim_non_root_and_health_checked() -> None:
    for dockerfile in (ROOT / "bot" / "Dockerfile", ROOT / "operator" / "Dockerfile"):
        text = dockerfile.read_text()
        assert text.count("\nFROM ") + text.startswith("FROM ") >= 2, "multi-stage"
        stage = _final_stage(dockerfile)
        user = re.search(r"^USER (\S+)", stage, re.M)
        assert user and user.group(1).split(":")[0].isdigit() and user.group(1)[0] != "0"
        assert "HEALTHCHECK" in stage
        for tool in ("gcc", "build-essential", "apt-get install"):
            assert tool not in stage, f"{tool} in the final stage of {dockerfile}"


def test_chart_defaults_name_what_make_images_tags() -> None:
    chart = ROOT / "charts/supportbot-operator"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    app_version = yaml.safe_load((chart / "Chart.yaml").read_text())["appVersion"]
    assert app_version == images.VERSION
    assert f"{values['image']['repository']}:{app_version}" == images.OPERATOR.ref
    assert f"{values['bot']['image']['repository']}:{app_version}" == images.BOT.ref
    for image in images.IMAGES:
        text = (ROOT / image.dockerfile).read_text()
        assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in text, "standard default base"
        assert f"-t {image.ref} ." in text, "the documented docker build tags the same"
