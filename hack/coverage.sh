#!/usr/bin/env bash
# `make coverage` and CI's pytest step (hack/test.sh): the test suite under coverage.py, the pytest
# process and every Python child it starts ([tool.coverage.run] in pyproject.toml), then a report
# per package that fails when `supportbot` or `supportbot_operator` is below COVERAGE_MIN percent.
# Arguments go to pytest. Exit status: pytest's when tests fail, else 2 when a package is short.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
MIN=${COVERAGE_MIN:-90}

rm -f .coverage .coverage.*
start=$(date +%s)
tests_rc=0
$PY -m coverage run -m pytest -p no:cacheprovider "$@" || tests_rc=$?
echo "pytest under coverage: $(($(date +%s) - start)) s, exit $tests_rc"
$PY -m coverage combine -q

declare -A paths=([supportbot]="bot/supportbot/*" [supportbot_operator]="operator/supportbot_operator/*")
short=()
summary=()
for pkg in supportbot supportbot_operator; do
  printf '\n--- coverage of %s (modules below 100 %%) ---\n' "$pkg"
  $PY -m coverage report --include="${paths[$pkg]}" || true
  # no data at all (a package none of the selected tests import) counts as 0 %
  total=$($PY -m coverage report --include="${paths[$pkg]}" --format=total 2>/dev/null) || total=0
  summary+=("$(printf '%-20s %6s %%  (minimum %s %%)' "$pkg" "$total" "$MIN")")
  $PY -m coverage report --include="${paths[$pkg]}" --fail-under="$MIN" >/dev/null 2>&1 \
    || short+=("$pkg")
done
printf '\n=== coverage per package ===\n'
printf '%s\n' "${summary[@]}"
[ "$tests_rc" -eq 0 ] || exit "$tests_rc"
if [ "${#short[@]}" -gt 0 ]; then
  echo "coverage below ${MIN} %: ${short[*]}"
  exit 2
fi
