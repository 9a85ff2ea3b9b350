"""The bot and operator images, built by `make images` and run as real containers with exactly
what the operator renders: uid 10001, read-only root filesystem, only the spec's writable
mounts (the /tmp emptyDir as a tmpfs), its capabilities and limits."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from supportbot.msg91.simulator.process import start_simulator
from supportbot.webhook import testing as payloads
from supportbot_dev import images, podman, procs
from supportbot_dev.containers import Running, container_of, pod_env
from supportbot_dev.conversation import Customer, render
from supportbot_dev.localkubelet import _write_atomic

ROOT = images.REPO_ROOT

pytestmark = [
    pytest.mark.images,
    pytest.mark.slow,
    pytest.mark.timeout(900),  # `built_images` builds the images when they changed
]

NUMBER = "919123456789"  # the acme example's integrated number
SECRET = "image-test-webhook-secret"


def _podman_run(image: str, options: list[str], command: list[str]) -> str:
    """`podman run` as the rendered pods run: uid 10001, read-only root, no writable path."""
    argv = podman.command(
        "run",
        "--rm",
        "--pull=never",
        "--network=host",
        "--user=10001:10001",
        "--read-only",
        "--read-only-tmpfs=false",
        "--cap-drop=all",
        *options,
        image,
        *command,
    )
    res = subprocess.run(
        argv, env=podman.environment(), capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def _wait(check: Any, timeout: float, what: str, running: Running | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if running is not None and running.proc.poll() is not None:
            raise AssertionError(f"{what}: container exited\n{running.output()[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_version_labels_and_user(built_images: dict[str, str]) -> None:
    for name, ref in built_images.items():
        out = _podman_run(ref, ["--entrypoint=supportbot"], ["--version"])
        assert out.strip() == f"supportbot {images.VERSION}", name
        labels = yaml.safe_load(
            podman.podman("image", "inspect", "--format", "{{json .Labels}}", ref)
        )
        assert labels["org.opencontainers.image.version"] == images.VERSION
        assert labels["org.opencontainers.image.revision"] == images.revision()
        assert labels["org.opencontainers.image.source"]
        assert labels["org.opencontainers.image.base.name"] == images.base_refs()[0]
        user = podman.podman("image", "inspect", "--format", "{{.Config.User}}", ref).strip()
        assert user == "10001:10001", name
    entry = podman.podman(
        "image", "inspect", "--format", "{{json .Config.Entrypoint}}", built_images["operator"]
    )
    assert yaml.safe_load(entry) == ["supportbot-operator"]
    out = _podman_run(built_images["operator"], [], ["run", "--help"])
    assert "usage: supportbot-operator run" in out


def test_no_build_tools_pip_or_caches_and_size_budget(built_images: dict[str, str]) -> None:
    script = (
        "import os, shutil, importlib.util as u;"
        "tools = [t for t in ('gcc', 'cc', 'c++', 'make', 'pip', 'pip3', 'git')"
        " if shutil.which(t)];"
        "print('tools', tools);"
        "print('pip', u.find_spec('pip') is not None);"
        "found = [os.path.join(d, f) for top in ('/opt', '/root', '/home', '/usr', '/tmp')"
        " for d, _, fs in os.walk(top) for f in fs if f.endswith('.whl')"
        " or '/.cache/pip' in d or d.startswith('/src')];"
        "print('files', found[:5]);"
        "print('src', os.path.exists('/src'))"
    )
    for name, ref in built_images.items():
        out = _podman_run(ref, ["--entrypoint=python3"], ["-c", script])
        assert out.split("\n")[:4] == ["tools []", "pip False", "files []", "src False"], (
            name,
            out,
        )
        size = images.image_size(ref)
        assert size < images.SIZE_BUDGET_MB * 1e6, f"{name}: {size / 1e6:.0f} MB"


def test_sbom_lists_os_and_python_packages(built_images: dict[str, str]) -> None:
    if images.syft_path() is None:
        pytest.skip("syft is not installed (make sbom-tool builds it)")
    for image in images.IMAGES:
        path = images.write_sbom(image)
        assert path is not None
        names = {p["name"] for p in json.loads(path.read_text())["packages"]}
        assert {"supportbot", "kopf", "fastapi", "asyncpg", "python3.11", "libc6"} <= names


async def test_migrate_runs_in_the_image(
    built_images: dict[str, str],
    acme_pods: dict[str, dict[str, Any]],
    database_url: str,
    run_pod_container: Any,
) -> None:
    pod = acme_pods["acme-worker"]
    migrate = container_of(pod, "migrate")
    assert migrate["command"] == ["supportbot", "migrate"]
    running: Running = run_pod_container(
        built_images["bot"],
        pod,
        migrate,
        pod_env(migrate, {"SUPPORTBOT_DATABASE_URL": database_url}),
    )
    assert running.proc.wait(timeout=120) == 0, running.output()
    conn = await asyncpg.connect(database_url)
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await conn.close()
    assert {"messages"} <= tables, tables


def test_webhook_and_worker_take_a_turn_and_drain_on_sigterm(
    built_images: dict[str, str],
    acme_pods: dict[str, dict[str, Any]],
    redis_url: str,
    database_url: str,
    run_pod_container: Any,
    tmp_path: Path,
) -> None:
    msg91 = start_simulator(["--auth-key", "sim-key"], log=tmp_path / "msg91.log")
    llm_port = procs.free_port()
    llm = procs.start(
        [
            str(Path(sys.executable).parent / "supportbot"),
            "openrouter-sim",
            "--port",
            str(llm_port),
            "--latency",
            "fixed:4",
            "--api-key",
            "sim-llm-key",
        ],
        tmp_path / "openrouter.log",
    )
    try:
        procs.wait_until(lambda: procs.port_open(llm_port), 30, "OpenRouter simulator", llm)
        web_port, metrics_port = procs.free_port(), procs.free_port()
        secrets = {
            "SUPPORTBOT_WEBHOOK_SECRET": SECRET,
            "SUPPORTBOT_REDIS_URL": redis_url,
            "SUPPORTBOT_DATABASE_URL": database_url,
            "SUPPORTBOT_JWT_SECRET": "image-test-jwt-secret-0123456789abcdef",
            "SUPPORTBOT_MSG91_AUTH_KEY": "sim-key",
            "SUPPORTBOT_OPENROUTER_API_KEY": "sim-llm-key",
            "SUPPORTBOT_MSG91_BASE_URL": msg91.url,
            "SUPPORTBOT_OPENROUTER_BASE_URL": f"http://127.0.0.1:{llm_port}/api/v1",
        }
        worker_pod, web_pod = acme_pods["acme-worker"], acme_pods["acme-webhook"]
        migrate = container_of(worker_pod, "migrate")
        done = run_pod_container(
            built_images["bot"], worker_pod, migrate, pod_env(migrate, secrets)
        )
        assert done.proc.wait(timeout=120) == 0, done.output()

        webhook = container_of(web_pod, "webhook")
        web = run_pod_container(
            built_images["bot"],
            web_pod,
            webhook,
            pod_env(webhook, {**secrets, "SUPPORTBOT_PORT": str(web_port)}),
        )
        base = f"http://127.0.0.1:{web_port}"
        _wait(lambda: _get(base + "/healthz") == 200, 60, "webhook /healthz", web)
        _wait(lambda: _get(base + "/readyz") == 200, 30, "webhook /readyz", web)
        body = payloads.encode(
            payloads.msg91_text(
                "hi", uuid=f"wamid.img{uuid.uuid4().hex}", customer="919800000099", number=NUMBER
            )
        )
        inbound = base + "/webhooks/msg91/inbound"
        bad = httpx.post(inbound, content=body, headers=payloads.headers("wrong"), timeout=10)
        assert bad.status_code == 401
        ok = httpx.post(inbound, content=body, headers=payloads.headers(SECRET), timeout=10)
        assert ok.status_code == 200 and ok.json()["status"] == "accepted", ok.text

        # the flow, as the operator's validated ConfigMap, in the kubelet's ..data layout
        flow_cm = yaml.safe_load((ROOT / "examples/01-acme-retail/flow.yaml").read_text())
        flow_dir = tmp_path / "volumes" / "flow"
        _write_atomic(flow_dir, {"flow.yaml": flow_cm["data"]["flow.yaml"]})
        # the backend keys the flow's HTTP steps send, as the kubelet projects the Secret
        backend_dir = tmp_path / "volumes" / "backend-secrets"
        backend_dir.mkdir(parents=True)
        (backend_dir / "orders-api-key").write_text("image-test-orders-key")
        worker_spec = container_of(worker_pod, "worker")
        worker = run_pod_container(
            built_images["bot"],
            worker_pod,
            worker_spec,
            pod_env(worker_spec, {**secrets, "SUPPORTBOT_METRICS_PORT": str(metrics_port)}),
            {"flow": flow_dir, "backend-secrets": backend_dir},
        )
        # the message acknowledged before the worker started is answered (greeting + menu)
        httpx.put(
            f"{msg91.url}/_sim/routes/{NUMBER}",
            json={
                "inbound_url": inbound,
                "status_url": base + "/webhooks/msg91/status",
                "secret": SECRET,
                "secret_header": "X-Webhook-Secret",
            },
            timeout=5,
        ).raise_for_status()
        customer = Customer(msg91.url, NUMBER, "919800000099")
        replies = _wait(lambda: customer.wait_replies(timeout=5), 90, "the first turn", worker)
        assert render(replies[0]["body"]) == "Hi Asha! Welcome to Acme Retail support."
        # a ConfigMap update as the kubelet makes it (new ..data) reaches the running worker
        flow = yaml.safe_load(flow_cm["data"]["flow.yaml"])
        flow["greeting"] = "Hello {{customer_name|there}}, this flow was hot-reloaded."
        _write_atomic(flow_dir, {"flow.yaml": yaml.safe_dump(flow, sort_keys=False)})
        second = Customer(msg91.url, NUMBER, "919800000098", name="Chen")
        greeting = second.say("hi", timeout=30)
        assert render(greeting[0]["body"]) == "Hello Chen, this flow was hot-reloaded."

        customer.tap(2, timeout=30)  # "Something else": the next text goes to the LLM
        assert render(customer.last[0]["body"]).startswith("Sure, type your question")

        customer.say("Do you ship to Germany?", timeout=0.1)  # the LLM answers after 4 s

        def in_flight() -> bool:
            text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).text
            return "supportbot_worker_turns_in_flight 1.0" in text

        _wait(in_flight, 30, "the LLM turn to be in flight", worker)
        started = time.monotonic()
        assert worker.stop(grace=30) == 0, worker.output()[-3000:]
        assert time.monotonic() - started < 30, "drained within the grace period"
        answer = customer.wait_replies(timeout=10)
        assert answer, "the in-flight turn was answered before the worker exited"
        assert web.stop() == 0
    finally:
        procs.stop(llm)
        msg91.stop()
