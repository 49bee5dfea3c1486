#!/usr/bin/env bash
# tests/fuzz/run.sh - build the libFuzzer targets and run each on a copy of its seed corpus.
#
#   tests/fuzz/run.sh [target...]        targets: http chunked json api ws (default: all five)
#   FUZZ_SECONDS=60 tests/fuzz/run.sh     seconds per target (default 20)
#   FUZZ_CC=clang-15 tests/fuzz/run.sh    compiler (default clang)
#
# Builds build/fuzz/fuzz_<target> with -fsanitize=fuzzer,address,undefined and runs it with
# -max_total_time=$FUZZ_SECONDS -max_len=8192. A crash, leak, sanitizer report or slow unit
# is a failure: the reproducer is kept under build/fuzz/artifacts/<target>/ and its first
# bytes are printed. The last line is "N passed, N failed" (one count per target); the exit
# status is 0 only if every target built and ran clean.
# Without clang's fuzzer runtime: as root with apt-get, installs libclang-rt-<ver>-dev;
# otherwise says what to install and exits 1.

set -u

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 2

secs=${FUZZ_SECONDS:-20}
cc=${FUZZ_CC:-clang}
out=build/fuzz
flags=(-std=c99 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I.)

if [ "$#" -gt 0 ]; then targets=("$@"); else targets=(http chunked json api ws); fi

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "error: $cc not found. Install clang and its fuzzer runtime, e.g." >&2
    echo "    sudo apt-get install clang libclang-rt-dev      (Debian/Ubuntu; or libclang-rt-14-dev)" >&2
    exit 1
fi

mkdir -p "$out/artifacts"
work="$(mktemp -d "${TMPDIR:-/tmp}/etcde-fuzz.XXXXXX")" || exit 2
trap 'rm -rf "$work"' EXIT

# Can this compiler link a libFuzzer binary?
can_link() {
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
        'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
        > "$work/probe.c"
    "$cc" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" >"$work/probe.log" 2>&1
}

if ! can_link; then
    ver="$("$cc" -dumpversion 2>/dev/null | cut -d. -f1)"
    pkg="libclang-rt-${ver:-14}-dev"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "run.sh: $cc cannot link -fsanitize=fuzzer; installing $pkg with apt-get..." >&2
        export DEBIAN_FRONTEND=noninteractive
        { apt-get install -y "$pkg" || { apt-get update && apt-get install -y "$pkg"; } ||
              apt-get install -y libclang-rt-14-dev; } >"$work/apt.log" 2>&1 ||
            tail -5 "$work/apt.log" >&2
    fi
    if ! can_link; then
        tail -5 "$work/probe.log" >&2
        echo "error: $cc has no libFuzzer runtime. Install it, e.g." >&2
        echo "    sudo apt-get install $pkg        (Debian/Ubuntu)" >&2
        exit 1
    fi
fi

passed=0
failed=0
for t in "${targets[@]}"; do
    src="tests/fuzz/fuzz_$t.c"
    bin="$out/fuzz_$t"
    art="$out/artifacts/$t"
    if [ ! -f "$src" ]; then
        echo "FAIL fuzz_$t: no $src"
        failed=$((failed + 1))
        continue
    fi
    if ! "$cc" "${flags[@]}" "$src" -o "$bin" >"$work/build-$t.log" 2>&1; then
        cat "$work/build-$t.log"
        echo "FAIL fuzz_$t: does not build"
        failed=$((failed + 1))
        continue
    fi
    mkdir -p "$work/corpus-$t" "$art"
    cp tests/fuzz/corpus/"$t"/* "$work/corpus-$t/" 2>/dev/null
    rm -f "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-* "$art"/slow-unit-*
    echo "=== fuzz_$t for ${secs}s ($(ls "$work/corpus-$t" | wc -l) seeds)"
    timeout --kill-after=10 $((secs + 120)) "$bin" -max_total_time="$secs" -max_len=8192 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" "$work/corpus-$t" \
        >"$work/run-$t.log" 2>&1
    rc=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/run-$t.log" | tail -1)"
    cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$work/run-$t.log" | tail -1)"
    repro="$(ls "$art" 2>/dev/null | head -1)"
    if [ "$rc" -eq 0 ] && [ -z "$repro" ]; then
        echo "ok   fuzz_$t: ${runs:-?} runs, ${cov:-no coverage line}"
        passed=$((passed + 1))
    else
        grep -E 'ERROR:|SUMMARY:|differ|says|counts|failed|ended cleanly|^==[0-9]+==|^fuzz_[a-z]+: ' "$work/run-$t.log" | head -15
        if [ -n "$repro" ]; then
            echo "reproducer: $art/$repro ($(wc -c <"$art/$repro") bytes), first bytes:"
            od -An -c -N 256 "$art/$repro" | head -12
        else
            tail -20 "$work/run-$t.log"
        fi
        echo "FAIL fuzz_$t: exit status $rc after ${runs:-?} runs"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
