#!/usr/bin/env bash
# Runs the demo, the CLI and the async shards example under valgrind against a private etcd:
# every run must end with no memory errors and no leaks (valgrind's exit code 99 otherwise).
set -u
cd "$(dirname "$0")/.."
. tests/private-etcd.sh
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; echo "0 passed, 1 failed"; exit 1; }
trap stop_private_etcd EXIT
start_private_etcd || { echo "0 passed, 1 failed"; exit 1; }
VG="valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99"
pass=0; fail=0
log=$(mktemp)
# run NAME SECONDS-BEFORE-SIGINT EXPECTED-STATUS CMD...: start CMD under valgrind, SIGINT it
# after the given time (0 = let it finish), check its exit status
run() {
  local name=$1 after=$2 want=$3; shift 3
  $VG "$@" >"$log" 2>&1 &
  local pid=$!
  if [ "$after" != 0 ]; then sleep "$after"; kill -INT "$pid" 2>/dev/null; fi
  wait "$pid"; local rc=$?
  if [ "$rc" = "$want" ]; then echo "ok   valgrind.$name"; pass=$((pass+1))
  else echo "FAIL valgrind.$name: exit $rc, expected $want"; tail -30 "$log"; fail=$((fail+1)); fi
}
run demo-leads-and-resigns 4 0 build/demo -name V -endpoints "$ETCD_EP" -ttl 5
if [ -x build/etcd-elect ]; then
  run cli-elect 3 0 build/etcd-elect --endpoints="$ETCD_EP" elect vg-el V
  run cli-elect-cmd 0 3 build/etcd-elect --endpoints="$ETCD_EP" elect vg-el V -- sh -c 'exit 3'
  run cli-lock-cmd 0 0 build/etcd-elect --endpoints="$ETCD_EP" lock vg-lk -- true
  run cli-observe 3 0 build/etcd-elect --endpoints="$ETCD_EP" elect -l vg-el
  run cli-unreachable 0 1 build/etcd-elect --endpoints=127.0.0.1:1 --dial-timeout=1s elect vg-el V
fi
if [ -x build/shards ]; then # async campaigns: waiting ones ended by destroy, then leading ones
  build/shards "$ETCD_EP" vg-sh 20 >/dev/null 2>&1 &
  holder=$!
  sleep 1
  run shards-waiting 4 0 build/shards "$ETCD_EP" vg-sh 20
  kill -INT "$holder"; wait "$holder"
  run shards-leading 4 0 build/shards "$ETCD_EP" vg-sh 20
fi
rm -f "$log"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
