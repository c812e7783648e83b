#!/usr/bin/env bash
# Builds the kube-apiserver and etcd binaries the Kubernetes tests run (through envtest) from
# Go modules into a cache, since nothing can be downloaded as a binary here. Prints the folder,
# which is what KUBEBUILDER_ASSETS must point at. A warm cache returns at once.
#
# `go install k8s.io/kubernetes/cmd/kube-apiserver@v` fails because kubernetes' go.mod replaces
# its staging modules with local folders; a throwaway wrapper module that replaces each of them
# with its published v0.<minor>.<patch> builds fine. etcd's server module has the same problem
# and is built from the same wrapper at the version kubernetes itself requires.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.35.4}
CACHE=${FERRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry}/kube/$KUBE_VERSION
if [[ -x $CACHE/kube-apiserver && -x $CACHE/etcd ]]; then
  echo "$CACHE"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
staging="v0.${KUBE_VERSION#v1.}"
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOWORK=off
go mod init ferry.local/kube-assets >/dev/null 2>&1
go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >kube.json
kmod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p' kube.json)
{
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  # Every staging module kubernetes replaces with a local path gets its published version.
  grep -E '^[[:space:]]*k8s\.io/[a-z0-9-]+ => \./staging/' "$kmod" |
    awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
} >>go.mod
etcd=$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2; exit}' "$kmod")
echo "require go.etcd.io/etcd/server/v3 $etcd" >>go.mod
cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
GO
go mod tidy -e >/dev/null 2>&1 || true
pkg=k8s.io/component-base/version
minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
ld="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"

echo "building kube-apiserver $KUBE_VERSION and etcd $etcd (several minutes on a cold cache)" >&2
mkdir -p "$CACHE.tmp"
go build -ldflags "$ld" -o "$CACHE.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
go build -ldflags "-s -w" -o "$CACHE.tmp/etcd" go.etcd.io/etcd/server/v3
rm -rf "$CACHE"
mv "$CACHE.tmp" "$CACHE"
echo "$CACHE"
