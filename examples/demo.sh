#!/usr/bin/env bash
# `make demo`: the election story on a private etcd (a loopback port), in about 15 lines with
# timestamps. A leads (its key and fencing token) and B follows; Ctrl-C to A hands over to B at
# once; C joins; kill -9 of B, a crash, hands over to C only when B's lease has expired. Both
# handovers are measured. The instances are build/demo; the lines that tell the story are
# shown, and every line of every instance is in $ETCD_DIR/events while it runs.
set -eu
cd "$(dirname "$0")/.."
bash tests/need-etcd.sh
demo=build/demo
ttl=${DEMO_TTL:-5}
. tests/private-etcd.sh
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  stop_private_etcd
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { local t=$EPOCHREALTIME; t=${t//[.,]/}; echo $((t / 1000)); }
clock() { printf '%(%T)T.%03d' $(($1 / 1000)) $(($1 % 1000)); }
say() { echo "$(clock "$(now_ms)") == $*"; }
fail() { say "FAILED: $*"; exit 1; }

start_private_etcd
events=$ETCD_DIR/events # "<epoch ms> <instance> <line>" for every line of every instance
: >"$events"
say "a private etcd on $ETCD_EP; demo A, B and C campaign on my-election with TTL $ttl s"

stamp() { # NAME: the instance's lines, timestamped; the story's lines to stdout, all to $events
  local line t
  while IFS= read -r line; do
    t=$(now_ms)
    case $line in
      "session leaseId is "* | "Got signal: "*) ;;
      *) echo "$(clock "$t")    [$1] $line" ;;
    esac
    echo "$t $1 $line" >>"$events"
  done
}
start() { # NAME: runs build/demo as NAME in the background; its pid in $pid
  "$demo" -name "$1" -endpoints "$ETCD_EP" -ttl "$ttl" > >(stamp "$1") 2>&1 &
  pid=$!
  pids+=("$pid")
}
# wait_event NAME TEXT SINCE SECONDS: prints the time of the first line of instance NAME that
# starts with TEXT, seen at SINCE (epoch ms) or later; fails after SECONDS
wait_event() {
  local end=$(($(now_ms) + $4 * 1000)) t
  while [ "$(now_ms)" -lt "$end" ]; do
    t=$(awk -v n="$1" -v w="$2" -v s="$3" \
      '{ l = $0; sub(/^[^ ]+ [^ ]+ /, "", l) } $1 >= s && $2 == n && index(l, w) == 1 { print $1; exit }' "$events")
    if [ -n "$t" ]; then echo "$t"; return 0; fi
    sleep 0.02
  done
  return 1
}
# leads NAME SINCE SECONDS: waits for NAME's "oh, i'm master" and the key line after it;
# prints the time of the first
leads() {
  local t
  t=$(wait_event "$1" "oh, i'm master" "$2" "$3") && wait_event "$1" "key " "$t" 5 >/dev/null && echo "$t"
}

# follow NAME LEADER: starts NAME and waits until it follows LEADER
follow() {
  start "$1"
  wait_event "$1" "slave!" 0 10 >/dev/null || fail "$1 did not follow $2"
}

start A
pa=$pid
leads A 0 10 >/dev/null || fail "A was not elected"
follow B A
pb=$pid

say "Ctrl-C to A"
t0=$(now_ms)
kill -INT "$pa"
t1=$(leads B "$t0" 10) || fail "B did not take over from A"
say "B leads $((t1 - t0)) ms after the Ctrl-C to A: A resigned, B's watch saw its key go"
wait "$pa" || fail "A did not exit 0"

follow C B
pc=$pid
say "kill -9 of B, the leader: a crash, nothing resigns"
t0=$(now_ms)
{ kill -KILL "$pb"; wait "$pb" || true; } 2>/dev/null # bash's "Killed" notice is no part of the story
t1=$(leads C "$t0" $((2 * ttl + 10))) || fail "C did not take over from B"
d=$((t1 - t0))
say "C leads $((d / 1000)).$((d % 1000 / 100)) s after the kill -9 of B: B's lease expired (TTL $ttl s)"

kill -INT "$pc"
wait "$pc" || fail "C did not exit 0"
say "Ctrl-C to C; done"
