#!/usr/bin/env bash
# tests/compat.sh [VERSION...] -- the suites that talk to a real etcd, run on every etcd line
# against that version's own etcd and etcdctl: Debian's 3.4.23 from PATH, and 3.5.33, 3.6.14
# and 3.7.1 from build/etcd-VERSION (make etcd-versions). The Go interop suite runs Go's own
# client/v3/concurrency at 3.5, 3.6 and 3.7 against each server.
# Prints a table of suite x version (passed/failed), one "etcd VERSION: N passed, N failed"
# line per version, then the total.
set -u
cd "$(dirname "$0")/.."
root=$PWD
[ $# -gt 0 ] || set -- 3.4.23 3.5.33 3.6.14 3.7.1
suites=(build/tests/test_election build/tests/test_lock build/tests/test_semaphore build/tests/test_cli build/tests/test_auth
        build/tests/test_faults build/tests/test_transport build/tests/test_ws build/tests/test_async tests/test_tls.sh
        build/tests/interop_go)
# COMPAT_SUITES="build/tests/test_auth ..." runs only those
[ -z "${COMPAT_SUITES:-}" ] || read -ra suites <<< "$COMPAT_SUITES"
peers=""
for v in 3.5.33 3.6.14 3.7.1; do peers="$peers $root/build/etcd-$v/gopeer"; done
export ETCDT_GOPEERS=${peers# }

# The lines run COMPAT_JOBS at a time (default 2): the suites mostly wait on TTLs and
# timeouts, so two lines share 2 cores without crowding each other; logs print in order.
jobs=${COMPAT_JOBS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_line() { # VERSION: its suites, into $work/VERSION.log
  local v=$1 dir path got
  dir=$root/build/etcd-$v
  if [ -x "$dir/etcd" ]; then path=$dir:$PATH; else path=$PATH; fi
  got=$(PATH=$path etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p')
  {
    echo "##### etcd $v ($(PATH=$path command -v etcd))"
    if [ "$got" != "$v" ]; then
      echo "error: etcd $v is not available (found '${got:-nothing}'); run make etcd-versions"
      echo "not available" >"$work/$v.na"
    else
      PATH=$path bash tests/run.sh "${suites[@]}" 2>&1
    fi
  } >"$work/$v.log"
}
for v in "$@"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  run_line "$v" &
done
wait

lines=(); tp=0; tf=0
declare -A cell # "suite version" -> "passed/failed"
for v in "$@"; do
  log=$work/$v.log
  cat "$log"
  if [ -f "$work/$v.na" ]; then
    lines+=("etcd $v: 0 passed, 1 failed (not available)"); tf=$((tf + 1))
    continue
  fi
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  suite=
  while IFS= read -r l; do # run.sh: "=== PROG", PROG's output, its summary line
    case $l in
      "=== "*) suite=${l#=== }; suite=${suite##*/}; suite=${suite%.sh}; suite=${suite#test_} ;;
      *) if [ -n "$suite" ] && [[ $l =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
           cell["$suite $v"]="${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"; suite=
         fi ;;
    esac
  done < "$log"
  [ -n "$line" ] || line="0 passed, 1 failed"
  p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}; s=0
  case $line in *skipped*) s=${line##*failed, }; s=${s%% skipped*} ;; esac
  f=$((f + s)) # every suite runs on every version: a skip is a failure here
  tp=$((tp + p)); tf=$((tf + f))
  lines+=("etcd $v: $p passed, $f failed")
done
echo "##### compatibility (passed/failed)"
printf '| suite |'; printf ' %s |' "$@"; echo
printf '|---|'; printf -- '---:|%.0s' "$@"; echo
for p in "${suites[@]}"; do
  n=${p##*/}; n=${n%.sh}; n=${n#test_}
  printf '| %s |' "$n"
  for v in "$@"; do printf ' %s |' "${cell["$n $v"]:-–}"; done
  echo
done
printf '%s\n' "${lines[@]}"
echo "$tp passed, $tf failed"
[ "$tf" -eq 0 ]
