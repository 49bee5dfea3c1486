#!/usr/bin/env bash
# `make demo`: a private etcd on a loopback port, demo A and demo B campaigning on one
# election, A interrupted (Ctrl-C), B taking over at once; everything cleaned up after.
set -eu
cd "$(dirname "$0")/.."
bash tests/need-etcd.sh
demo=build/demo
. tests/private-etcd.sh
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  stop_private_etcd
}
trap cleanup EXIT INT TERM

start_private_etcd
ep=$ETCD_EP
echo "== a private etcd runs on $ep (data in $ETCD_DIR)"

stamp() { # prefix each line with the time and the instance name
  while IFS= read -r line; do printf '%s [%s] %s\n' "$(date +%T.%3N)" "$1" "$line"; done
}
echo "== starting A, then B"
"$demo" -name A -endpoints "$ep" > >(stamp A) 2>&1 &
pa=$!; pids+=($pa)
sleep 2
"$demo" -name B -endpoints "$ep" > >(stamp B) 2>&1 &
pb=$!; pids+=($pb)
sleep 6
echo "== $(date +%T.%3N) Ctrl-C to A"
kill -INT "$pa"
sleep 6
echo "== Ctrl-C to B"
kill -INT "$pb"
wait "$pa" "$pb" 2>/dev/null || true
sleep 0.2
echo "== done: B took over from A as soon as A resigned"
