#!/usr/bin/env bash
# Everything CI checks, in order of cost. Run through `make test` (which prepares .venv first).
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
step() { printf '\n=== %s ===\n' "$*"; }

step "tools: control plane, KEDA and promtool from the Go module proxy, the bot and operator images (all cached under ${SUPPORTBOT_CACHE:-~/.cache/supportbot}; a new machine builds them side by side, see README)"
bash hack/build-tools.sh

step "ruff check";        $V/ruff check .
step "ruff format";       $V/ruff format --check .
step "mypy --strict";     $V/mypy
step "import contracts";  $V/lint-imports
step "fault suite (short: PostgreSQL down, MSG91 5xx, NUL texts, worker and Redis SIGKILLs, idle connections; fails on any lost or duplicated message)"
faults_out=$(mktemp -d); faults_rc=0
$V/python loadtests/faults.py --short --quiet --out "$faults_out" || faults_rc=$?
cat "$faults_out"/*.md 2>/dev/null | sed -n '/^| fault/,/^\*\*Verdict/p'
rm -rf "$faults_out"
[ "$faults_rc" -eq 0 ] || { echo "fault suite failed (exit $faults_rc)"; exit "$faults_rc"; }
step "pytest under coverage (fails when supportbot or supportbot_operator is below 90 %)"
bash hack/coverage.sh "$@"
