#!/usr/bin/env bash
# tests/go/build.sh VERSION... -- etcd, etcdctl and the Go peer (tests/go/peer) at each etcd
# VERSION (3.5.33, 3.6.14 or 3.7.1), built from etcd's own Go modules into
# build/etcd-VERSION/{etcd,etcdctl,gopeer}. The module file pins the version: go.mod for
# 3.7.1, vVERSION.mod for the others. Go's build cache makes a rebuild cost nothing.
set -u
cd "$(dirname "$0")"
out=../../build
command -v go >/dev/null 2>&1 || {
  echo "error: Go is needed to build etcd's versions (Go 1.25 or later, with the module proxy)" >&2
  exit 1
}
[ $# -gt 0 ] || set -- 3.5.33 3.6.14 3.7.1
for v in "$@"; do
  if [ "$v" = 3.7.1 ]; then mf=go.mod; else mf=v$v.mod; fi
  [ -f "$mf" ] || { echo "error: no module file for etcd $v (tests/go/$mf)" >&2; exit 1; }
  dir=$out/etcd-$v
  mkdir -p "$dir"
  for cmd in etcd etcdctl peer; do
    bin=$cmd; [ $cmd = peer ] && bin=gopeer
    go build -modfile="$mf" -trimpath -buildvcs=false -o "$dir/$bin" "./$cmd" || {
      echo "error: building $cmd at etcd $v failed" >&2
      exit 1
    }
  done
  echo "build/etcd-$v: $("$dir/etcd" --version | head -1)"
done
