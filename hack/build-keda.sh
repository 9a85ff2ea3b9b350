#!/usr/bin/env bash
# Build KEDA (operator + metrics API server) from the Go module proxy, cached outside the repo.
#
#   keda          github.com/kedacore/keda/v2/cmd/operator  (ScaledObject controller, owns the HPA)
#   keda-adapter  github.com/kedacore/keda/v2/cmd/adapter   (external.metrics.k8s.io API server)
#   crds/         config/crd/bases/*.yaml of the same module version (keda.sh and eventing.keda.sh:
#                 the operator exits when the eventing CRDs are missing)
#
# KEDA's go.mod carries a `replace` (github.com/nexus-rpc/nexus-proto-annotations) and an
# `exclude`; both only take effect in the main module, so we build inside a writable copy of
# the module source (its own go.mod/go.sum) rather than through a wrapper module.
# v2.21.1 needs go >= 1.27.4 (not available here); v2.21.0 builds with Go 1.26.
#
# Binaries land in $SUPPORTBOT_CACHE/bin/keda-<version>/ (default ~/.cache/supportbot); rebuilt
# only when the pinned version changes. First build: see README (Autoscaling) for the cost.
#
# Usage: hack/build-keda.sh      prints "keda=<bin dir>" on stdout; progress goes to stderr.
set -euo pipefail

KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
MODULE=github.com/kedacore/keda/v2

CACHE="${SUPPORTBOT_CACHE:-$HOME/.cache/supportbot}"
BIN="$CACHE/bin"
WORK="$CACHE/build"
mkdir -p "$BIN" "$WORK"

export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local
log() { printf '[keda-build %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

command -v go >/dev/null || { log "ERROR: Go >= 1.26 is required (go not on PATH)"; exit 2; }

# Only the scalers the project uses are compiled (hack/supportbot_dev/kedatrim.py): the full set
# drags in every cloud SDK (61 min on a busy 2-core machine, 177 + 127 MB of binaries).
TRIM=trim1
out="$BIN/keda-$KEDA_VERSION-$TRIM"
crds_done() { [[ -f "$out/crds/keda.sh_scaledobjects.yaml" && -f "$out/crds/eventing.keda.sh_cloudeventsources.yaml" ]]; }
if [[ -x "$out/keda" && -x "$out/keda-adapter" ]] && crds_done; then
  echo "keda=$out"; exit 0
fi

src="$WORK/keda-$KEDA_VERSION-$TRIM"
if [[ ! -f "$src/go.mod" ]]; then
  log "keda $KEDA_VERSION: downloading module source"
  dir=$(cd "$WORK" && go mod download -json "$MODULE@$KEDA_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -n "$dir" && -f "$dir/go.mod" ]] || { log "ERROR: could not download $MODULE@$KEDA_VERSION"; exit 2; }
  rm -rf "$src.tmp"; cp -r "$dir" "$src.tmp"; chmod -R u+w "$src.tmp"
  python3 "$(dirname "$0")/supportbot_dev/kedatrim.py" "$src.tmp"
  mv "$src.tmp" "$src"
fi

if [[ ! -x "$out/keda" || ! -x "$out/keda-adapter" ]]; then
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  ld="-s -w -X=$MODULE/version.Version=${KEDA_VERSION#v} -X=$MODULE/version.GitCommit=module-proxy"
  log "keda $KEDA_VERSION: compiling cmd/operator and cmd/adapter (only the scalers we use; first run: minutes, see README)"
  (cd "$src" && go build -trimpath -ldflags "$ld" -o "$out.tmp/keda" ./cmd/operator >&2)
  (cd "$src" && go build -trimpath -ldflags "$ld" -o "$out.tmp/keda-adapter" ./cmd/adapter >&2)
  rm -rf "$out"; mv "$out.tmp" "$out"
fi
rm -rf "$out/crds"; mkdir -p "$out/crds"
cp "$src"/config/crd/bases/*.yaml "$out/crds/"
log "keda $KEDA_VERSION: done"
echo "keda=$out"
