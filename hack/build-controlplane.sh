#!/usr/bin/env bash
# Build the local Kubernetes control plane from the Go module proxy, cached outside the repo.
#
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (k8s.io/kubernetes, staging
#   modules replaced with the matching v0.x tags), etcd (3.6.x), helm (v3), kwok.
#
# Binaries land in $SUPPORTBOT_CACHE/bin/<component>-<version>/ (default ~/.cache/supportbot);
# a component is rebuilt only when its pinned version changes. If KUBEBUILDER_ASSETS holds a
# kube-apiserver/etcd/kubectl of any version, hack/controlplane.py prefers those (see there).
#
# Usage: hack/build-controlplane.sh [component ...]     (default: all)
# Prints the bin directory of every component it ensured, one "name=path" per line, on stdout;
# progress goes to stderr.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"

CACHE="${SUPPORTBOT_CACHE:-$HOME/.cache/supportbot}"
BIN="$CACHE/bin"
WORK="$CACHE/build"
mkdir -p "$BIN" "$WORK"

export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local
log() { printf '[controlplane-build %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

need_go() {
  command -v go >/dev/null || { log "ERROR: Go >= 1.25 is required (go not on PATH)"; exit 2; }
  local v; v=$(go env GOVERSION | sed 's/^go//')
  local major=${v%%.*} minor; minor=$(echo "$v" | cut -d. -f2)
  if (( major < 1 || (major == 1 && minor < 25) )); then log "ERROR: Go >= 1.25 required, found $v"; exit 2; fi
}

# ---- kubernetes (apiserver, controller-manager, scheduler, kubectl) -------------------------
STAGING=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
  cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
  cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
  kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver)

build_kubernetes() {
  local out="$BIN/kubernetes-$K8S_VERSION"
  if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" && -x "$out/kube-scheduler" && -x "$out/kubectl" ]]; then
    echo "kubernetes=$out"; return
  fi
  local v=${K8S_VERSION#v} minor stagev dir="$WORK/kubernetes-$K8S_VERSION"
  minor=$(echo "$v" | cut -d. -f2); stagev="v0.${v#*.}"
  mkdir -p "$dir" "$out.tmp"
  log "kubernetes $K8S_VERSION: writing wrapper module (staging => $stagev)"
  {
    echo "module supportbot.local/kbuild"
    echo
    echo "go 1.25.0"
    echo
    echo "godebug default=go1.25"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in "${STAGING[@]}"; do echo "	k8s.io/$m => k8s.io/$m $stagev"; done
    echo ")"
  } > "$dir/go.mod"
  printf 'package kbuild\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n)\n' > "$dir/tools.go"
  local ld="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  log "kubernetes $K8S_VERSION: resolving modules (first run downloads ~1 GB of modules)"
  (cd "$dir" && go mod tidy >&2)
  log "kubernetes $K8S_VERSION: compiling kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (first run: ~10-20 min on 2 cores)"
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$out.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl >&2)
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "kubernetes $K8S_VERSION: done"
  echo "kubernetes=$out"
}

# ---- etcd ----------------------------------------------------------------------------------
build_etcd() {
  local out="$BIN/etcd-$ETCD_VERSION"
  if [[ -x "$out/etcd" ]]; then echo "etcd=$out"; return; fi
  local dir="$WORK/etcd-$ETCD_VERSION"
  mkdir -p "$dir" "$out.tmp"
  printf 'module supportbot.local/etcdbuild\n\ngo 1.25.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > "$dir/go.mod"
  printf 'package etcdbuild\n\nimport _ "go.etcd.io/etcd/server/v3/etcdmain"\n' > "$dir/tools.go"
  log "etcd $ETCD_VERSION: resolving and compiling"
  (cd "$dir" && go mod tidy >&2 && go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3 >&2)
  rm -rf "$out"; mv "$out.tmp" "$out"
  echo "etcd=$out"
}

# ---- helm ----------------------------------------------------------------------------------
build_helm() {
  local out="$BIN/helm-$HELM_VERSION"
  if [[ -x "$out/helm" ]]; then echo "helm=$out"; return; fi
  mkdir -p "$out.tmp"
  log "helm $HELM_VERSION: compiling"
  GOBIN="$out.tmp" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
  rm -rf "$out"; mv "$out.tmp" "$out"
  echo "helm=$out"
}

# ---- kwok ----------------------------------------------------------------------------------
build_kwok() {
  local out="$BIN/kwok-$KWOK_VERSION"
  if [[ -x "$out/kwok" ]]; then echo "kwok=$out"; return; fi
  mkdir -p "$out.tmp"
  log "kwok $KWOK_VERSION: compiling"
  GOBIN="$out.tmp" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
  rm -rf "$out"; mv "$out.tmp" "$out"
  echo "kwok=$out"
}

need_go
components=("$@")
[[ ${#components[@]} -eq 0 ]] && components=(etcd helm kwok kubernetes)
for c in "${components[@]}"; do
  case "$c" in
    etcd) build_etcd ;; helm) build_helm ;; kwok) build_kwok ;; kubernetes) build_kubernetes ;;
    *) log "unknown component: $c"; exit 2 ;;
  esac
done
