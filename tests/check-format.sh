#!/usr/bin/env bash
# tests/check-format.sh FILE... -- each file must equal its clang-format layout (.clang-format
# at the top); prints the first differences of any that do not. Installs Debian's
# clang-format when it is missing and we are root.
set -u
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-format >/dev/null 2>&1
fi
command -v clang-format >/dev/null 2>&1 ||
  { echo "clang-format is needed: apt-get install clang-format"; echo "0 passed, 1 failed"; exit 1; }
pass=0; fail=0
for f in "$@"; do
  if d=$(clang-format "$f" | diff -u "$f" - ); then
    pass=$((pass + 1))
  else
    echo "FAIL format.$f: differs from clang-format (make format fixes it):"
    echo "$d" | head -20
    fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
