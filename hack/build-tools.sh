#!/usr/bin/env bash
# Every tool CI needs that is built from source or made locally, cached under
# ${SUPPORTBOT_CACHE:-~/.cache/supportbot}: the control plane, KEDA and promtool (Go module
# proxy) and the two images (podman). With everything cached this takes seconds.
#
# On a new machine the three Go builds run side by side: each alone leaves a core idle while it
# downloads modules or links one large binary on a single thread, so together they finish
# sooner than one after the other; the image build (mostly apt and pip downloads) runs meanwhile.
# A failed build prints its log and fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A pids=()
for tool in controlplane keda promtool; do
  bash "hack/build-$tool.sh" >/dev/null 2>"$logs/$tool.log" &
  pids[$tool]=$!
done
images_rc=0
bash hack/build-images.sh >/dev/null || images_rc=$?
failed=0
for tool in controlplane keda promtool; do
  if ! wait "${pids[$tool]}"; then
    printf '\n--- hack/build-%s.sh failed; its log:\n' "$tool" >&2
    tail -n 60 "$logs/$tool.log" >&2
    failed=1
  fi
done
[ "$images_rc" -eq 0 ] || { echo "hack/build-images.sh failed (exit $images_rc)" >&2; failed=1; }
exit "$failed"
