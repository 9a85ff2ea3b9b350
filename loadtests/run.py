#!/usr/bin/env python3
"""One-command load test: ``python loadtests/run.py --scenario loadtests/scenarios/default.yaml``.

Re-executes itself with the project's .venv Python, installs the `loadtest` extra (matplotlib,
psutil) into .venv when it is missing, then runs `sbload.runner` (see loadtests/README.md).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"


def _ensure_env() -> None:
    if VENV_PY.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        os.execv(str(VENV_PY), [str(VENV_PY), *sys.argv])  # noqa: S606 - re-exec in .venv
    missing = [m for m in ("matplotlib", "psutil", "sbload") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"installing the loadtest extra into .venv (missing: {', '.join(missing)})")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-e", f"{ROOT}[dev,loadtest]"],
            check=True,
        )
        os.execv(sys.executable, [sys.executable, *sys.argv])  # noqa: S606 - pick up the extra


if __name__ == "__main__":
    _ensure_env()
    from sbload.runner import main

    raise SystemExit(main())
