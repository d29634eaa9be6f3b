#!/bin/bash
# Builds a real control plane for admission tests from the Go module proxy into ${1:-./bin}:
# kube-apiserver and kubectl v1.35.4, etcd v3.6.16, Gatekeeper's manager v3.23.1 and helm v3 (v3.21.4),
# each from the wrapper module of its folder here (apiserver/, etcd/, gatekeeper/, helm/).
# A binary already in the output folder is not built again (`make k8s-bins` runs this;
# internal/testcluster runs it when RATIFY_TEST_K8S_BIN is unset).
# About 10 minutes on a fresh 2-core machine, seconds once the Go build cache is warm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "${1:-$here/bin}" && cd "${1:-$here/bin}" && pwd)
export GOFLAGS="-buildvcs=false -modcacherw"
# One build at a time into $out: test binaries of several packages, run in parallel by
# `go test ./...`, may all find a binary missing and run this script.
if command -v flock >/dev/null; then exec 9>"$out.lock"; flock 9; fi
KV=v1.35.4
LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LD="$LD -X $p.gitVersion=$KV -X $p.gitMajor=1 -X $p.gitMinor=35 -X $p.gitTreeState=clean"
done
need() { for b in "$@"; do [[ -x $out/$b ]] || return 0; done; return 1; }
# Each binary is built into a temporary folder and renamed into $out, so that a test that
# finds it there never runs a half-written file.
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
place() { for b in "$@"; do mv -f "$tmp/$b" "$out/$b"; done; }
if need kube-apiserver kubectl; then
  (cd "$here/apiserver" && go build -trimpath -ldflags "$LD" -o "$tmp/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
  place kube-apiserver kubectl
fi
if need etcd; then
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
  place etcd
fi
if need gatekeeper-manager; then
  (cd "$here/gatekeeper" && go build -trimpath -ldflags "-s -w -X github.com/open-policy-agent/gatekeeper/v3/pkg/version.Version=v3.23.1" \
     -o "$tmp/gatekeeper-manager" github.com/open-policy-agent/gatekeeper/v3)
  place gatekeeper-manager
fi
if need helm; then
  (cd "$here/helm" && go build -trimpath \
     -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$(go list -m -f '{{.Version}}' helm.sh/helm/v3)" \
     -o "$tmp/helm" helm.sh/helm/v3/cmd/helm)
  place helm
fi
echo "$out"
