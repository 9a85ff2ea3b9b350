"""promtool for the alert-rule and dashboard tests: built once from the Go module proxy
(hack/build-promtool.sh) and cached. A failed build fails these tests; it never skips them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from supportbot_dev.binaries import ensure_promtool

Promtool = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def promtool() -> Promtool:
    """`promtool(*args)`: run promtool, return the completed process (never raises on exit)."""
    binary = ensure_promtool()

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        argv = [str(binary), *map(str, args)]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)

    return run
