"""`supportbot-operator`: kopf command line, offline render, CRD sync check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from supportbot_operator.cli import kopf_args, main
from supportbot_operator.settings import OperatorSettings

ROOT = Path(__file__).resolve().parents[2]


def test_kopf_runs_the_module_cluster_wide_by_default() -> None:
    args = kopf_args(OperatorSettings(liveness_port=8080, metrics_host="127.0.0.1"))
    assert args[:3] == ["run", "-m", "supportbot_operator.handlers"]
    assert "--all-namespaces" in args and "--standalone" in args
    assert "--log-format=json" in args
    assert not any(a.startswith("--liveness") for a in args), "the probes are the operator's own"
    assert not any(a.endswith(".py") for a in args), "never file mode"


def test_namespaces_and_never_kopf_peering() -> None:
    settings = OperatorSettings(
        namespaces=["a", "b"],
        leader_election_lease="sb-leader",
        leader_election_namespace="sb-system",
    )
    args = kopf_args(settings)
    assert "--namespace=a" in args and "--namespace=b" in args
    assert "--all-namespaces" not in args
    assert "--standalone" in args, "HA is the Lease election, never kopf peering"
    assert not any(a.startswith(("--peering", "--priority")) for a in args)


def test_leader_election_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="leader_election_namespace"):
        OperatorSettings(leader_election_lease="sb-leader")
    with pytest.raises(ValueError, match="retryPeriod < renewDeadline < leaseDuration"):
        OperatorSettings(
            leader_election_lease="sb-leader",
            leader_election_namespace="ns",
            lease_duration_seconds=5,
            renew_deadline_seconds=6,
        )
    timing = OperatorSettings().election_timing()
    assert (timing.lease_duration, timing.renew_deadline, timing.retry_period) == (15, 10, 2)


def test_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTBOT_OPERATOR_NAMESPACES", "t1, t2")
    monkeypatch.setenv("SUPPORTBOT_OPERATOR_BOT_IMAGE_TAG", "9.9.9")
    s = OperatorSettings()
    assert s.namespaces == ["t1", "t2"] and s.bot_image == "supportbot:9.9.9"


def test_render_prints_the_children(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(ROOT / "examples/02-globex-telecom/supportbot.yaml")]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    kinds = sorted(d["kind"] for d in docs)
    assert kinds.count("Deployment") == 2 and "Ingress" in kinds and "NetworkPolicy" in kinds


def test_crd_check_command() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "supportbot_operator.cli", "crd", "check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr
