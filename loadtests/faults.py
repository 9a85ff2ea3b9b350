#!/usr/bin/env python3
"""The fault suite (issue 11): ``python loadtests/faults.py [--short] [--faults pg-down,...]``.

Re-executes itself with the project's .venv Python (installing the `loadtest` extra when it is
missing, like run.py), then runs `sbload.faults.cli` (see loadtests/README.md, "Fault suite").
"""

from __future__ import annotations

from run import _ensure_env

if __name__ == "__main__":
    _ensure_env()
    from sbload.faults.cli import main

    raise SystemExit(main())
