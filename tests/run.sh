#!/usr/bin/env bash
# tests/run.sh - run test programs and total their results.
#
#   tests/run.sh [prog...]     (default: every executable build/tests/test_*)
#
# Each program runs under `timeout 600` with its output passed through.  Its
# last "N passed, N failed[, N skipped]" line on stdout is added to the
# totals.  A program that timed out, crashed, printed no summary, or exited
# non-zero while reporting no failures counts as (one more) failed.
# The very last line printed is the total, in the same format.
# Exit status: 0 iff the total failed count is 0.

set -u

TIMEOUT_SECS=${ETCDT_RUN_TIMEOUT:-600}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

progs=()
if [ "$#" -gt 0 ]; then
    progs=("$@")
else
    dir="build/tests"
    [ -d "$dir" ] || dir="$root/build/tests"
    for f in "$dir"/test_*; do
        [ -f "$f" ] && [ -x "$f" ] || continue
        case "$f" in
            *.o | *.d | *.a | *.so | *.c | *.h | *.sh | *.log) continue ;;
        esac
        progs+=("$f")
    done
fi

total_pass=0
total_fail=0
total_skip=0
problems=()

note() {
    # $1 = program, $2 = message
    problems+=("$1: $2")
    echo "run.sh: $1: $2"
}

if [ "${#progs[@]}" -eq 0 ]; then
    note "build/tests/test_*" "no test programs found (counted as 1 failed)"
    total_fail=1
fi

tmp="$(mktemp "${TMPDIR:-/tmp}/etcdt-run.XXXXXX")" || exit 2
trap 'rm -f "$tmp"' EXIT

for prog in "${progs[@]}"; do
    if [ ! -x "$prog" ]; then
        note "$prog" "not found or not executable (counted as 1 failed)"
        total_fail=$((total_fail + 1))
        continue
    fi
    case "$prog" in
        */*) cmd="$prog" ;;
        *) cmd="./$prog" ;;
    esac
    echo "=== $prog"
    : > "$tmp"
    timeout --kill-after=10 "$TIMEOUT_SECS" "$cmd" | tee "$tmp"
    rc=${PIPESTATUS[0]}

    summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$tmp" | tail -n 1)"

    if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ -z "$summary" ]; }; then
        note "$prog" "TIMED OUT after ${TIMEOUT_SECS}s (counted as 1 failed)"
        total_fail=$((total_fail + 1))
        continue
    fi
    if [ -z "$summary" ]; then
        if [ "$rc" -gt 128 ]; then
            note "$prog" "CRASHED (signal $((rc - 128))) without a summary (counted as 1 failed)"
        else
            note "$prog" "printed no summary line, exit status $rc (counted as 1 failed)"
        fi
        total_fail=$((total_fail + 1))
        continue
    fi

    p=0 f=0 s=0
    if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
        p=${BASH_REMATCH[1]}
        f=${BASH_REMATCH[2]}
        s=${BASH_REMATCH[4]:-0}
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + s))

    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        if [ "$rc" -gt 128 ]; then
            note "$prog" "CRASHED (signal $((rc - 128))) after its summary (counted as 1 failed)"
        else
            note "$prog" "exit status $rc despite 0 failed (counted as 1 failed)"
        fi
        total_fail=$((total_fail + 1))
    elif [ "$rc" -eq 0 ] && [ "$f" -ne 0 ]; then
        note "$prog" "exit status 0 despite $f failed"
    fi
done

if [ "${#problems[@]}" -gt 0 ]; then
    echo "run.sh: problems:"
    for m in "${problems[@]}"; do
        echo "  $m"
    done
fi

if [ "$total_skip" -gt 0 ]; then
    echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
    echo "$total_pass passed, $total_fail failed"
fi

[ "$total_fail" -eq 0 ]
