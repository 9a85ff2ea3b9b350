"""The harness's notion of a tenant that serves: Ready, or rolled out with only autoscaling
unable to work (no metrics API on the local control plane)."""

from __future__ import annotations

from typing import Any

from supportbot_dev.stack import serving


def cond(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def test_ready_serves() -> None:
    assert serving([cond("Ready", "True", "Ready")])[0]


def test_rolled_out_with_only_autoscaling_broken_serves() -> None:
    conditions = [
        cond("Ready", "False", "FailedGetResourceMetric"),
        cond("Reconciling", "False", "Reconciled"),
        cond("Autoscaling", "False", "FailedGetResourceMetric", "no metrics API"),
    ]
    ok, why = serving(conditions)
    assert ok and "no metrics API" in why


def test_anything_else_does_not_serve() -> None:
    rolling = [
        cond("Ready", "False", "FailedGetResourceMetric"),
        cond("Reconciling", "True", "RollingOut"),
        cond("Autoscaling", "False", "FailedGetResourceMetric"),
    ]
    other = [
        cond("Ready", "False", "NumberConflict"),
        cond("Reconciling", "False", "Reconciled"),
        cond("Autoscaling", "False", "FailedGetResourceMetric"),
    ]
    assert serving(rolling) == (False, "FailedGetResourceMetric")
    assert serving(other) == (False, "NumberConflict")
    assert serving([]) == (False, "no Ready condition")
