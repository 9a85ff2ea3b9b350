"""Layout safety: the repo's `operator/` folder never shadows the stdlib `operator` module, and
the wheel ships both component packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_stdlib_operator_intact_from_repo_root() -> None:
    code = (
        "import collections, operator, sys; print(operator.__file__);"
        "assert hasattr(operator, 'itemgetter')"
    )
    for argv in ([sys.executable, "-c", code], [sys.executable, "-I", "-c", code]):
        res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stderr
        assert str(ROOT) not in res.stdout, f"operator resolved inside the repo: {res.stdout}"


def test_no_importable_operator_package() -> None:
    assert not (ROOT / "operator" / "__init__.py").exists()
    assert not (ROOT / "bot" / "__init__.py").exists()


def test_both_components_import_and_see_stdlib_operator() -> None:
    code = (
        "import operator, supportbot, supportbot_operator;"
        "assert operator.add(1, 2) == 3;"
        "print(supportbot.__file__); print(supportbot_operator.__file__)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    assert "bot/supportbot" in res.stdout and "operator/supportbot_operator" in res.stdout


@pytest.mark.slow
def test_wheel_contains_both_packages(tmp_path: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = tmp_path.glob("supportbot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "supportbot/__init__.py" in names
    assert "supportbot_operator/__init__.py" in names
    assert "supportbot/py.typed" in names
    assert "supportbot/notify/schema.json" in names, "the handoff payload schema is package data"
    assert "supportbot/storage/sql/0002_handoff_notifications.sql" in names
    assert not any(n.startswith(("operator/", "bot/", "hack/", "supportbot_dev/")) for n in names)


def test_no_source_root_contains_an_operator_module() -> None:
    """Every folder on the editable install's path is a source root; none may hold `operator`."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    roots = config["tool"]["hatch"]["build"]["dev-mode-dirs"]
    for root in roots:
        for name in ("operator", "operator.py"):
            assert not (ROOT / root / name).exists(), f"{root}/{name} would shadow the stdlib"
