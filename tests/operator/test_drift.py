"""Live-vs-desired comparison: server defaults and other managers' fields are ignored, our
fields are not."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from supportbot_operator.drift import differences, in_sync, quantity

DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "d", "labels": {"a": "1"}, "annotations": {"h": "x"}},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "img:1",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}},
                        "command": ["run", "it"],
                    }
                ],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            }
        }
    },
}


def _live() -> dict[str, Any]:
    """DESIRED as the API server returns it: defaults added, quantities canonical, reordered."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "d",
            "uid": "u",
            "resourceVersion": "7",
            "labels": {"a": "1", "other": "x"},
            "annotations": {"h": "x", "deployment.kubernetes.io/revision": "1"},
        },
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "dnsPolicy": "ClusterFirst",
                    "containers": [
                        {
                            "name": "c",
                            "image": "img:1",
                            "env": [
                                {"name": "B", "value": "2"},
                                {"name": "A", "value": "1"},
                                {"name": "EXTRA", "value": "by someone else"},
                            ],
                            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                            "command": ["run", "it"],
                            "terminationMessagePath": "/dev/termination-log",
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
                }
            },
        },
        "status": {"replicas": 1},
    }


def test_defaults_and_foreign_fields_are_in_sync() -> None:
    assert in_sync(DESIRED, _live())


def test_missing_object_is_not_in_sync() -> None:
    assert not in_sync(DESIRED, None)


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (lambda c: c.update(image="evil:1"), "containers[name=c].image"),
        (lambda c: c["env"][1].update(value="9"), "env[name=A].value"),
        (lambda c: c["env"].pop(1), "env[name=A]"),
        (lambda c: c["resources"]["requests"].update(cpu="1"), "requests.cpu"),
        (lambda c: c.update(command=["run"]), "command"),
    ],
)
def test_edits_to_our_fields_are_drift(edit: Any, path: str) -> None:
    live = _live()
    edit(live["spec"]["template"]["spec"]["containers"][0])
    diffs = differences(DESIRED, live)
    assert any(path in d for d in diffs), diffs
    assert not in_sync(DESIRED, live)


def test_removed_label_and_changed_annotation_are_drift() -> None:
    live = _live()
    del live["metadata"]["labels"]["a"]
    live["metadata"]["annotations"]["h"] = "y"
    assert set(differences(DESIRED, live)) == {"metadata.labels.a", "metadata.annotations.h"}


def test_types_matter_outside_quantities() -> None:
    assert differences({"port": 80}, {"port": "80"}) == ["port"]
    assert differences({"flag": True}, {"flag": 1}) == ["flag"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("1Gi", Decimal(2**30)),
        ("2k", Decimal(2000)),
        ("3", Decimal(3)),
        (4, Decimal(4)),
    ],
)
def test_quantities(text: Any, value: Decimal) -> None:
    assert quantity(text) == value


def test_non_quantities() -> None:
    assert quantity("abc") is None and quantity(True) is None and quantity("1Xi") is None


def test_secret_target_refs_match_by_parameter_not_by_their_shared_secret_name() -> None:
    refs = [
        {"parameter": "address", "name": "db", "key": "redis-address"},
        {"parameter": "password", "name": "db", "key": "redis-password"},
    ]
    want = {"spec": {"secretTargetRef": refs}}
    assert differences(want, {"spec": {"secretTargetRef": list(reversed(refs))}}) == []
    changed = [refs[0], {**refs[1], "key": "other"}]
    assert differences(want, {"spec": {"secretTargetRef": changed}})
