#!/usr/bin/env bash
# Builds the test bed's Go binaries once and caches them outside the repo.
#
#   build-go.sh k8s   -> $NTH_TESTBED_CACHE/k8s/<ver>-linux-amd64/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   build-go.sh etcd  -> $NTH_TESTBED_CACHE/k8s/<ver>-linux-amd64/etcd
#   build-go.sh kwok  -> $NTH_TESTBED_CACHE/kwok/<ver>/kwok (+ stages.yaml)
#   build-go.sh helm  -> $NTH_TESTBED_CACHE/helm/<ver>/helm               (the chart's tests)
#   build-go.sh kubeconform -> $NTH_TESTBED_CACHE/kubeconform/<ver>/kubeconform
#   build-go.sh monitoring-crds -> $NTH_TESTBED_CACHE/monitoring-crds/<ver>/{servicemonitors,podmonitors}.yaml
#   build-go.sh template-oracle -> $NTH_TESTBED_CACHE/template-oracle/<hash>/template-oracle  (prints its path)
#
# The k8s folder doubles as a KUBEBUILDER_ASSETS folder. Each target is skipped when its
# binaries are already there; a build writes into a temporary folder and renames it at the
# end, so an interrupted build never leaves a half-filled cache behind.
set -euo pipefail

K8S_VERSION="${NTH_K8S_VERSION:-1.36.3}"
ETCD_VERSION="${NTH_ETCD_VERSION:-3.6.16}"
KWOK_VERSION="${NTH_KWOK_VERSION:-0.8.0}"
HELM_VERSION="${NTH_HELM_VERSION:-4.3.2}"
KUBECONFORM_VERSION="${NTH_KUBECONFORM_VERSION:-0.8.0}"
MONITORING_VERSION="${NTH_MONITORING_VERSION:-0.95.2}"
CONTROLLER_TOOLS_VERSION="${NTH_CONTROLLER_TOOLS_VERSION:-0.23.0}"
CACHE="${NTH_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nth-testbed}"
ASSETS="$CACHE/k8s/${K8S_VERSION}-linux-amd64"

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

log() { printf '[testbed build] %s\n' "$*" >&2; }

have_all() {
  local dir=$1; shift
  for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
}

# A throw-away module that requires k8s.io/kubernetes and replaces every staging module
# with its published v0.Y.Z: the list is read from k8s.io/kubernetes's own go.mod because it
# changes between minors (1.36 added k8s.io/streaming).
build_k8s() {
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  if have_all "$ASSETS" "${bins[@]}"; then log "kubernetes v$K8S_VERSION: cached in $ASSETS"; return; fi
  local work; work=$(mktemp -d "$CACHE/.build-k8s.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  local minor; minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  log "kubernetes v$K8S_VERSION: resolving modules (downloads ~850 MB the first time)"
  mkdir -p "$work/src" "$work/bin"
  (
    cd "$work/src"
    go mod init nth.local/testbed-k8s >/dev/null 2>&1
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
    [ -f "$gomod" ] || { log "could not find k8s.io/kubernetes's go.mod"; exit 1; }
    go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
    local mods
    mods=$(go mod edit -json "$gomod" | python3 -c 'import json,sys; print("\n".join(r["Old"]["Path"] for r in json.load(sys.stdin).get("Replace") or [] if r["Old"]["Path"].startswith("k8s.io/")))')
    for m in $mods; do go mod edit -replace="$m=$m@v0.$minor.${K8S_VERSION##*.}"; done
    go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" >/dev/null 2>&1 || go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION"
    local v="v$K8S_VERSION"
    local ldf="-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    log "kubernetes v$K8S_VERSION: compiling ${bins[*]} (about 10 minutes on 2 cores the first time)"
    go build -trimpath -ldflags "$ldf" -o "$work/bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  )
  mkdir -p "$ASSETS"
  for b in "${bins[@]}"; do mv "$work/bin/$b" "$ASSETS/$b"; done
  log "kubernetes v$K8S_VERSION: done"
}

# etcd's server module root is its main package; it gets its own wrapper module so that its
# grpc/otel versions don't mix with the Kubernetes graph.
build_etcd() {
  if have_all "$ASSETS" etcd; then log "etcd v$ETCD_VERSION: cached"; return; fi
  local work; work=$(mktemp -d "$CACHE/.build-etcd.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  log "etcd v$ETCD_VERSION: building (about 3 minutes the first time)"
  (
    cd "$work"
    go mod init nth.local/testbed-etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >/dev/null 2>&1 || go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
    go build -trimpath -ldflags "-s -w" -o "$work/etcd" go.etcd.io/etcd/server/v3
  )
  mkdir -p "$ASSETS"
  mv "$work/etcd" "$ASSETS/etcd"
  log "etcd v$ETCD_VERSION: done"
}

# KWOK plays the kubelet of the fake nodes. Its binary needs stage definitions: KWOK's own "fast" stages make
# annotated nodes Ready and pods Running/Ready at once (and complete Job pods); nth's pod-delete stages
# (tooling/testbed/kwok/pod-delete.yaml) finish a terminating pod when its grace period ends. The stages file is
# rebuilt on every run (it is cheap) so a change to nth's stages always takes effect.
build_kwok() {
  local dir="$CACHE/kwok/v$KWOK_VERSION"
  if ! have_all "$dir" kwok; then
    local work; work=$(mktemp -d "$CACHE/.build-kwok.XXXXXX")
    trap 'rm -rf "$work"' RETURN
    log "kwok v$KWOK_VERSION: building (about 4 minutes the first time)"
    GOBIN="$work" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
    mkdir -p "$dir"
    mv "$work/kwok" "$dir/kwok"
    log "kwok v$KWOK_VERSION: done"
  else
    log "kwok v$KWOK_VERSION: cached"
  fi
  local src; src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@v$KWOK_VERSION/kustomize/stage"
  [ -d "$src" ] || go mod download "sigs.k8s.io/kwok@v$KWOK_VERSION"
  local here; here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  {
    for f in "$src/node/fast/node-initialize.yaml" "$src/pod/fast/pod-ready.yaml" "$src/pod/fast/pod-complete.yaml" \
      "$here/kwok/pod-delete.yaml"; do
      echo "---"; cat "$f"; echo
    done
  } >"$dir/stages.yaml.tmp"
  mv "$dir/stages.yaml.tmp" "$dir/stages.yaml"
}

# A command installed from the Go module proxy, as `go install <module>/cmd/<name>@v<version>` does.
# `version_var` is the package variable its releases set to their version with -X (so that `helm version` says
# v4.3.2, as a released helm does, and charts see that version in .Capabilities).
build_tool() {
  local name=$1 version=$2 package=$3 minutes=$4 version_var=$5
  local dir="$CACHE/$name/v$version"
  if have_all "$dir" "$name"; then log "$name v$version: cached in $dir"; return; fi
  local work; work=$(mktemp -d "$CACHE/.build-$name.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  log "$name v$version: building (about $minutes the first time)"
  GOBIN="$work" go install -trimpath -ldflags "-s -w -X $version_var=v$version" "$package@v$version"
  mkdir -p "$dir"
  mv "$work/$name" "$dir/$name"
  log "$name v$version: done"
}

# The Prometheus Operator's ServiceMonitor and PodMonitor CRDs, for the chart's monitors: generated, as the
# operator's own release does, by controller-gen from its published API types (the module proxy serves the types'
# module, not the repository that holds the generated YAML). controller-gen itself is built here and not kept.
build_monitoring_crds() {
  local dir="$CACHE/monitoring-crds/v$MONITORING_VERSION"
  if [ -f "$dir/servicemonitors.yaml" ] && [ -f "$dir/podmonitors.yaml" ]; then
    log "monitoring CRDs v$MONITORING_VERSION: cached in $dir"; return
  fi
  local work; work=$(mktemp -d "$CACHE/.build-monitoring-crds.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  log "monitoring CRDs v$MONITORING_VERSION: building controller-gen v$CONTROLLER_TOOLS_VERSION (about 1.5 minutes the first time)"
  GOBIN="$work" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/controller-tools/cmd/controller-gen@v$CONTROLLER_TOOLS_VERSION"
  local types="github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring"
  local src
  src=$(go mod download -json "$types@v$MONITORING_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -d "$src" ] || { log "could not download $types@v$MONITORING_VERSION"; exit 1; }
  (cd "$src" && "$work/controller-gen" crd:crdVersions=v1 paths=./v1/... output:crd:dir="$work/crds")
  mkdir -p "$dir"
  mv "$work/crds/monitoring.coreos.com_servicemonitors.yaml" "$dir/servicemonitors.yaml"
  mv "$work/crds/monitoring.coreos.com_podmonitors.yaml" "$dir/podmonitors.yaml"
  log "monitoring CRDs v$MONITORING_VERSION: done"
}

# Go's text/template with the Sprig functions, as the AWS Node Termination Handler renders its webhook templates:
# the reference @nth/go-template's differential test renders against (tooling/testbed/go/template-oracle). Its
# folder is named after a hash of its sources and of the Go version, so an edit or a new Go builds a new one; the
# build uses the committed go.sum as is (-mod=readonly), so it fetches exactly the modules it names.
build_template_oracle() {
  local here; here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  local src="$here/go/template-oracle"
  local hash
  hash=$( { go env GOVERSION; cd "$src" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort |
    while read -r f; do echo "$f"; cat "$f"; done; } | sha256sum | cut -c1-16)
  local dir="$CACHE/template-oracle/$hash"
  if have_all "$dir" template-oracle; then
    log "template oracle: cached in $dir"
  else
    local work; work=$(mktemp -d "$CACHE/.build-template-oracle.XXXXXX")
    trap 'rm -rf "$work"' RETURN
    log "template oracle: building (about 15 seconds the first time)"
    cp -R "$src" "$work/src"
    (cd "$work/src" && GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags "-s -w" -o "$work/bin/template-oracle" .)
    mkdir -p "$dir"
    mv "$work/bin/template-oracle" "$dir/template-oracle"
    log "template oracle: done"
  fi
  echo "$dir/template-oracle"
}

mkdir -p "$CACHE"
for target in "${@:-k8s etcd kwok}"; do
  for t in $target; do
    case "$t" in
      k8s) build_k8s ;;
      etcd) build_etcd ;;
      kwok) build_kwok ;;
      helm) build_tool helm "$HELM_VERSION" helm.sh/helm/v4/cmd/helm "2 minutes" \
        helm.sh/helm/v4/internal/version.version ;;
      kubeconform) build_tool kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform \
        "30 seconds" main.version ;;
      monitoring-crds) build_monitoring_crds ;;
      template-oracle) build_template_oracle ;;
      *) log "unknown target: $t"; exit 2 ;;
    esac
  done
done
