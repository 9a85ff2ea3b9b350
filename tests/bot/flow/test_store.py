"""Hot reload of the flow file: in-place edits, ConfigMap-style `..data` symlink swaps, and
broken versions that must keep the last good flow and be reported (log + metrics)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from supportbot.flow import FlowError, FlowStore

FLOW = """\
version: 1
name: {name}
start: menu
steps:
  menu:
    text: "{text}"
"""


def metric(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str) -> None:
    path.write_text(text)
    # make the change visible even on coarse mtime file systems
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_reload_after_edit_respects_check_interval(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    write(path, FLOW.format(name="one", text="v1"))
    clock = Clock()
    store = FlowStore(path, min_check_interval=5.0, clock=clock)
    assert store.current().steps["menu"].text == "v1"
    assert metric("supportbot_flow_info", {"name": "one", "hash": store.sha256}) == 1
    write(path, FLOW.format(name="one", text="v2"))
    clock.now = 1.0
    assert store.current().steps["menu"].text == "v1", "not re-checked before the interval"
    clock.now = 6.0
    assert store.current().steps["menu"].text == "v2"
    assert metric("supportbot_flow_info", {"name": "one", "hash": store.sha256}) == 1


def test_configmap_symlink_swap(tmp_path: Path) -> None:
    """kubelet layout: flow.yaml -> ..data/flow.yaml, ..data -> ..<timestamp> (swapped)."""
    mount = tmp_path / "mount"
    (mount / "..2026_01").mkdir(parents=True)
    (mount / "..2026_01" / "flow.yaml").write_text(FLOW.format(name="cm", text="first"))
    (mount / "..data").symlink_to("..2026_01")
    (mount / "flow.yaml").symlink_to("..data/flow.yaml")
    store = FlowStore(mount / "flow.yaml", min_check_interval=0)
    old_hash = store.sha256
    (mount / "..2026_02").mkdir()
    (mount / "..2026_02" / "flow.yaml").write_text(FLOW.format(name="cm", text="second"))
    tmp_link = mount / "..data_tmp"
    tmp_link.symlink_to("..2026_02")
    os.replace(tmp_link, mount / "..data")  # atomic swap, as kubelet does
    assert store.current().steps["menu"].text == "second"
    assert store.sha256 != old_hash
    assert metric("supportbot_flow_info", {"name": "cm", "hash": old_hash}) == 0


def test_broken_version_keeps_last_good_and_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "flow.yaml"
    write(path, FLOW.format(name="good", text="ok"))
    store = FlowStore(path, min_check_interval=0)
    good_hash = store.sha256
    errors_before = metric("supportbot_flow_reload_errors_total")
    broken = FLOW.format(name="good", text="ok").replace("start: menu", "start: nowhere")
    write(path, broken)
    with caplog.at_level(logging.ERROR, logger="supportbot.flow"):
        assert store.reload_if_changed() is False
    assert store.current().steps["menu"].text == "ok" and store.sha256 == good_hash
    assert metric("supportbot_flow_reload_errors_total") == errors_before + 1
    assert metric("supportbot_flow_reload_failing") == 1
    assert store.last_error and store.last_error[0].startswith("line 3: start: unknown step")
    record = next(r for r in caplog.records if "rejected" in r.getMessage())
    assert record.errors == store.last_error  # type: ignore[attr-defined]
    # the same broken file is reported once, not on every check
    write(path, broken)
    store.current()
    assert metric("supportbot_flow_reload_errors_total") == errors_before + 1
    # a fixed file goes into service and clears the failure flag
    write(path, FLOW.format(name="good", text="fixed"))
    assert store.reload_if_changed() is True
    assert store.current().steps["menu"].text == "fixed"
    assert metric("supportbot_flow_reload_failing") == 0 and store.last_error is None


def test_deleted_file_keeps_flow(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    write(path, FLOW.format(name="gone", text="still here"))
    store = FlowStore(path, min_check_interval=0)
    path.unlink()
    assert store.current().steps["menu"].text == "still here"
    assert store.last_error and "cannot read" in store.last_error[0]


def test_invalid_file_at_start_raises(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("version: 1\nname: x\n")
    with pytest.raises(FlowError) as info:
        FlowStore(path)
    assert info.value.errors == [
        "line 1: start: required field is missing",
        "line 1: steps: required field is missing",
    ]
    with pytest.raises(FlowError):
        FlowStore(tmp_path / "missing.yaml")
