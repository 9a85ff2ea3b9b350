"""End to end in container mode: the operator chart installed on the local control plane, its pod
run from the operator image, the example tenants' pods run from the bot image (podman), and a
WhatsApp conversation through them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from supportbot_dev import images, podman
from supportbot_dev.containers import PodContainer
from supportbot_dev.conversation import Customer, render
from supportbot_dev.localkubelet import LocalKubelet
from supportbot_dev.stack import Stack, running, serving

pytestmark = [
    pytest.mark.fullcluster,
    pytest.mark.images,
    pytest.mark.slow,
    pytest.mark.timeout(900),  # the fixture builds the images when they changed
]


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with running(
        lambda: request.session.testsfailed > 0,
        namespace="containers",
        llm_latency="fixed:0.2",
        containers=True,
    ) as s:
        yield s


def _inspect(container: PodContainer) -> dict[str, object]:
    (info,) = json.loads(podman.podman("container", "inspect", container.container_name))
    return dict(info)


def _containers(kubelet: LocalKubelet | None) -> list[PodContainer]:
    assert kubelet is not None
    found = [c for pod in kubelet.pods.values() for c in pod.containers]
    assert all(isinstance(c, PodContainer) for c in found)
    return [c for c in found if isinstance(c, PodContainer)]


def test_operator_runs_from_its_image_and_reconciles(stack: Stack) -> None:
    (operator,) = _containers(stack.operator_kubelet)
    info = _inspect(operator)
    assert info["ImageName"] == images.OPERATOR.local_ref
    config = info["Config"]
    assert isinstance(config, dict) and config["User"] == "10001:10001"
    host = info["HostConfig"]
    assert isinstance(host, dict) and host["ReadonlyRootfs"] is True
    for name in ("acme", "globex"):
        ok, why = serving((stack.supportbot(name) or {})["status"]["conditions"])
        assert ok, why


def test_bots_run_from_the_bot_image_and_answer(stack: Stack) -> None:
    with_names = {c.container_name: c for c in _containers(stack.kubelet)}
    assert len(with_names) == 4, "webhook and worker of both tenants"
    for container in with_names.values():
        info = _inspect(container)
        assert info["ImageName"] == images.BOT.local_ref
        host = info["HostConfig"]
        assert isinstance(host, dict) and host["ReadonlyRootfs"] is True
        assert host["Memory"] > 0, "the spec's memory limit"
    assert stack.msg91 is not None
    for name, phone, greeting in (
        ("acme", "919800000071", "Hi Asha! Welcome to Acme Retail support."),
        ("globex", "919800000072", None),
    ):
        tenant = stack.bots[name]
        customer = Customer(stack.msg91.url, tenant.number, phone, name="Asha")
        replies = customer.say("hi", timeout=60)
        assert replies, f"{name}: no reply from the containers"
        if greeting is not None:
            assert render(replies[0]["body"]) == greeting
