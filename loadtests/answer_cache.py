#!/usr/bin/env python3
"""Answer-cache benchmark: ``python loadtests/answer_cache.py [--customers N]``.

Re-executes itself with the project's .venv Python (like run.py), then runs
`sbload.answercache.main`: the same customer script with the cache off and on, LLM calls counted.
"""

from __future__ import annotations

from run import _ensure_env

if __name__ == "__main__":
    _ensure_env()
    from sbload.answercache import main

    raise SystemExit(main())
