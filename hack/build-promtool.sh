#!/usr/bin/env bash
# Build promtool (only cmd/promtool of github.com/prometheus/prometheus) from the Go module proxy,
# cached outside the repo, for the alert-rule checks and unit tests (tests/observability/).
#
# The binary lands in $SUPPORTBOT_CACHE/bin/promtool-<version>/promtool (default
# ~/.cache/supportbot); it is rebuilt only when PROMTOOL_VERSION changes. The Prometheus module
# tag v0.X.Y is Prometheus 3.X.Y.
#
# Usage: hack/build-promtool.sh      Prints "promtool=<bin dir>" on stdout; progress on stderr.
set -euo pipefail

PROMTOOL_VERSION="${PROMTOOL_VERSION:-v0.316.0}"
MODULE=github.com/prometheus/prometheus

CACHE="${SUPPORTBOT_CACHE:-$HOME/.cache/supportbot}"
# Built with Prometheus's own `remove_all_sd` tag: promtool keeps the file and HTTP service
# discovery only (rule checks and rule unit tests need none), which leaves out every cloud SD
# SDK - the bulk of a full build.
TAGS=remove_all_sd
out="$CACHE/bin/promtool-$PROMTOOL_VERSION-$TAGS"

export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local
log() { printf '[promtool-build %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if [[ -x "$out/promtool" ]]; then echo "promtool=$out"; exit 0; fi
command -v go >/dev/null || { log "ERROR: Go is required (go not on PATH)"; exit 2; }

# `go install pkg@version` refuses a main module whose go.mod has replace/exclude directives;
# say so plainly instead of failing deep inside the Go tool (the pinned tag has none).
gomod=$(go mod download -json "$MODULE@$PROMTOOL_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
[[ -f "$gomod" ]] || { log "ERROR: could not download $MODULE@$PROMTOOL_VERSION's go.mod"; exit 2; }
if grep -Eq '^[[:space:]]*(replace|exclude)([[:space:]]|$)' "$gomod"; then
  log "ERROR: $MODULE@$PROMTOOL_VERSION has replace/exclude lines in go.mod; build it through a wrapper module (see hack/build-controlplane.sh)"
  exit 2
fi

mkdir -p "$out.tmp"
log "promtool $PROMTOOL_VERSION: compiling cmd/promtool (-tags $TAGS; first run: minutes)"
ver=${PROMTOOL_VERSION#v0.}
GOBIN="$out.tmp" go install -trimpath -tags "$TAGS" \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=3.$ver -X github.com/prometheus/common/version.Branch=HEAD" \
  "$MODULE/cmd/promtool@$PROMTOOL_VERSION" >&2
rm -rf "$out"; mv "$out.tmp" "$out"
log "promtool $PROMTOOL_VERSION: done"
echo "promtool=$out"
