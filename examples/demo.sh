#!/usr/bin/env bash
# `make demo`: a private etcd on a loopback port, demo A and demo B campaigning on one
# election, A interrupted (Ctrl-C), B taking over at once; everything cleaned up after.
set -eu
cd "$(dirname "$0")/.."
bash tests/need-etcd.sh
demo=build/demo
dir=$(mktemp -d /tmp/etcd-elect-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

free_port() { # a loopback port nobody listens on
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
cport=$(free_port); pport=$(free_port)
while [ "$pport" = "$cport" ]; do pport=$(free_port); done
ep=127.0.0.1:$cport
echo "== starting a private etcd on $ep (data in $dir)"
etcd --name demo --data-dir "$dir/data" \
  --listen-client-urls "http://$ep" --advertise-client-urls "http://$ep" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "demo=http://127.0.0.1:$pport" >"$dir/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  ETCDCTL_API=3 etcdctl --endpoints="$ep" endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done

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
