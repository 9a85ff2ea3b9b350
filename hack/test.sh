#!/usr/bin/env bash
# Everything CI checks, in order of cost. Run through `make test` (which prepares .venv first).
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
step() { printf '\n=== %s ===\n' "$*"; }

step "control-plane binaries (cached under ${SUPPORTBOT_CACHE:-~/.cache/supportbot}; first build takes minutes)"
bash hack/build-controlplane.sh >/dev/null

step "ruff check";        $V/ruff check .
step "ruff format";       $V/ruff format --check .
step "mypy --strict";     $V/mypy
step "pytest";            $V/python -m pytest -p no:cacheprovider "$@"
