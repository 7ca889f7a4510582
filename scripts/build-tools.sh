#!/usr/bin/env bash
# Builds the Go-built test and demo tools from the module proxy into a cache outside the repo:
#   kube-apiserver, kube-controller-manager, kubectl (Kubernetes 1.36.3, tools/kube wrapper module)
#   kubelet, kube-scheduler, kube-proxy (same module; the one-node test cluster, tests/harness/test-node.ts)
#   etcd 3.6.8 (tools/etcd wrapper module)
#   vcsim and govc 0.46.3 (ESXi simulator)
#   kstatus (tools/kstatus: sigs.k8s.io/cli-utils' kstatus over objects given as JSON, for the tests)
#   helm 3.22.0 (tools/helm wrapper module; the chart's lint, template and install tests)
# Idempotent: a tool already in the cache is not rebuilt. Prints where everything is.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/versions.sh
source "$here/scripts/versions.sh"

export GOMODCACHE="$OMNIVISOR_CACHE/go/mod" GOCACHE="$OMNIVISOR_CACHE/go/build" GOFLAGS=-mod=mod CGO_ENABLED=0
mkdir -p "$GOMODCACHE" "$GOCACHE" "$KUBE_BIN" "$ETCD_BIN" "$VCSIM_BIN" "$KSTATUS_BIN" "$HELM_BIN"

built() { [ -x "$1" ] && [ -f "$1.ok" ]; }
stamp() { touch "$1.ok"; }

# supervise: a tiny C process supervisor (die-with-parent, child subreaper); see tools/supervise.
mkdir -p "$OMNIVISOR_CACHE/bin"
if [ ! -x "$OMNIVISOR_CACHE/bin/supervise" ] || [ "$here/tools/supervise/supervise.c" -nt "$OMNIVISOR_CACHE/bin/supervise" ]; then
  gcc -O2 -Wall -Wextra -o "$OMNIVISOR_CACHE/bin/supervise" "$here/tools/supervise/supervise.c"
fi

kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=${KUBE_VERSION%%.*} -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
for cmd in kube-apiserver kubectl kube-controller-manager kubelet kube-scheduler kube-proxy; do
  out="$KUBE_BIN/$cmd"
  if built "$out"; then continue; fi
  echo "building $cmd $KUBE_VERSION (cold: minutes; cached afterwards)" >&2
  start=$SECONDS
  (cd "$here/tools/kube" && go build -trimpath -ldflags "$kube_ldflags" -o "$out" "k8s.io/kubernetes/cmd/$cmd")
  stamp "$out"
  echo "built $cmd in $((SECONDS - start)) s" >&2
done

if ! built "$ETCD_BIN/etcd"; then
  echo "building etcd $ETCD_VERSION" >&2
  start=$SECONDS
  (cd "$here/tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$ETCD_BIN/etcd" go.etcd.io/etcd/server/v3)
  stamp "$ETCD_BIN/etcd"
  echo "built etcd in $((SECONDS - start)) s" >&2
fi

for cmd in vcsim govc; do
  if built "$VCSIM_BIN/$cmd"; then continue; fi
  echo "building $cmd $VCSIM_VERSION" >&2
  start=$SECONDS
  (cd "$here/tools/vcsim" && go build -trimpath -ldflags "-s -w" -o "$VCSIM_BIN/$cmd" "github.com/vmware/govmomi/$cmd")
  stamp "$VCSIM_BIN/$cmd"
  echo "built $cmd in $((SECONDS - start)) s" >&2
done

# rebuilt when its source changes (a small program: seconds with a warm cache)
if ! built "$KSTATUS_BIN/kstatus" || [ "$here/tools/kstatus/main.go" -nt "$KSTATUS_BIN/kstatus" ]; then
  echo "building kstatus (cli-utils $CLI_UTILS_VERSION)" >&2
  start=$SECONDS
  (cd "$here/tools/kstatus" && go build -trimpath -ldflags "-s -w" -o "$KSTATUS_BIN/kstatus" .)
  stamp "$KSTATUS_BIN/kstatus"
  echo "built kstatus in $((SECONDS - start)) s" >&2
fi

if ! built "$HELM_BIN/helm"; then
  echo "building helm $HELM_VERSION (cold: ~2-4 min)" >&2
  start=$SECONDS
  # The Kubernetes version helm assumes without a cluster (template, lint): the one of its
  # client-go, +1 major as helm's own Makefile sets it (v0.35 → 1.35), not the 1.20 fallback.
  k8s=$(cd "$here/tools/helm" && go list -f '{{.Version}}' -m k8s.io/client-go | sed 's/^v0\.\([0-9]*\)\..*/\1/')
  helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
  for pkg in pkg/lint/rules pkg/chartutil; do helm_ldflags="$helm_ldflags -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$k8s"; done
  (cd "$here/tools/helm" && go build -trimpath -ldflags "$helm_ldflags" -o "$HELM_BIN/helm" helm.sh/helm/v3/cmd/helm)
  stamp "$HELM_BIN/helm"
  echo "built helm in $((SECONDS - start)) s" >&2
fi
