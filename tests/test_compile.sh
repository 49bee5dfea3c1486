#!/usr/bin/env bash
# The header compiles cleanly as C99 (gcc, clang), as C++11/17, at -O2/-Os, and with
# ETCD_ELECT_STATIC; and two translation units link (one implementation, one user).
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
printf '#define ETCD_ELECT_IMPLEMENTATION\n#include "etcd_elect.h"\nint main(void){ return etcde_strerror(ETCDE_OK)[0] != 0 ? 0 : 1; }\n' > "$tmp/impl.c"
printf '#include "etcd_elect.h"\nconst char *user_side(void){ return etcde_strerror(ETCDE_ERR_TIMEOUT); }\n' > "$tmp/user.c"
printf '#define ETCD_ELECT_IMPLEMENTATION\n#include "etcd_elect.h"\nconst char *user_side(void);\nint main(void){ return user_side()[0] == 0; }\n' > "$tmp/main.c"
W="-Wall -Wextra -Werror -Wshadow"
WC="$W -Wstrict-prototypes"
check() { # name, command...
  local name=$1; shift
  if "$@" >"$tmp/out" 2>&1; then echo "ok   compile.$name"; pass=$((pass+1))
  else echo "FAIL compile.$name: $*"; head -20 "$tmp/out"; fail=$((fail+1)); fi
}
for cc in gcc clang; do
  command -v $cc >/dev/null || continue
  check "$cc-c99" $cc -std=c99 -pedantic $WC -I. "$tmp/impl.c" -o "$tmp/a" -pthread
  check "$cc-c99-O2" $cc -std=c99 -pedantic $W -O2 -I. "$tmp/impl.c" -o "$tmp/a" -pthread
  check "$cc-c99-Os" $cc -std=c99 -pedantic $W -Os -I. "$tmp/impl.c" -o "$tmp/a" -pthread
  check "$cc-static" $cc -std=c99 -pedantic $W -O2 -DETCD_ELECT_STATIC -I. "$tmp/impl.c" -o "$tmp/a" -pthread
  check "$cc-two-units" sh -c "$cc -std=c99 -pedantic $W -I. -c $tmp/user.c -o $tmp/u.o && $cc -std=c99 -pedantic $W -I. $tmp/main.c $tmp/u.o -o $tmp/a -pthread && $tmp/a"
done
for cxx in g++ clang++; do
  command -v $cxx >/dev/null || continue
  check "$cxx-c++11" $cxx -x c++ -std=c++11 $W -I. "$tmp/impl.c" -o "$tmp/a" -pthread
  check "$cxx-c++17-O2" $cxx -x c++ -std=c++17 $W -O2 -I. "$tmp/impl.c" -o "$tmp/a" -pthread
done
check "gnu99-after-stdio" gcc -std=gnu99 $W -I. -include stdio.h "$tmp/impl.c" -o "$tmp/a" -pthread
# strict C99 with a system header first hides POSIX: one #error that names the fix
check "c99-after-stdio-says-why" sh -c "! gcc -std=c99 -I. -include stdio.h $tmp/impl.c -o $tmp/a -pthread 2>$tmp/err &&
  grep -q 'include etcd_elect.h first in this file, or define _POSIX_C_SOURCE=200809L' $tmp/err"
# the QUICK START in the header's doc block is a complete program
sed -n '/^   QUICK START$/,/^   OBJECTS$/p' etcd_elect.h | sed '1d;$d' | sed 's/^       //' > "$tmp/quick.c"
check quick-start-compiles sh -c "grep -q 'int main' $tmp/quick.c && gcc -std=c99 -pedantic $WC -I. $tmp/quick.c -o $tmp/q -pthread"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
