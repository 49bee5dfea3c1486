#!/usr/bin/env bash
# Consumers of an installed etcd_elect.h: `make install` into a staging prefix and the README's
# CMake recipe into another, each then used by a tiny project through pkg-config and through
# find_package; stripped installs of both; add_subdirectory and FetchContent straight from the
# source tree. `make demo` tells its story. The man page names every flag --help names.
set -u
cd "$(dirname "$0")/.."
src=$(pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() { # name, command...
  local name=$1; shift
  if "$@" >"$tmp/out" 2>&1; then echo "ok   install.$name"; pass=$((pass+1))
  else echo "FAIL install.$name: $*"; tail -20 "$tmp/out"; fail=$((fail+1)); fi
}

mkdir -p "$tmp/app"
cat > "$tmp/app/app.c" <<'EOF'
#define ETCD_ELECT_IMPLEMENTATION
#include <etcd_elect.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    etcde_client *c;
    etcde_options o = {0};
    o.endpoints = "127.0.0.1:1";
    if (etcde_client_create(&o, &c) != ETCDE_OK) return 1;
    etcde_client_destroy(c);
    printf("%s\n", ETCDE_VERSION_STRING);
    return strcmp(etcde_strerror(ETCDE_OK), "ok") != 0;
}
EOF
cat > "$tmp/app/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.14)
project(consumer C)
if(ETCD_ELECT_SOURCE)
  add_subdirectory(${ETCD_ELECT_SOURCE} etcd_elect)
elseif(ETCD_ELECT_FETCH)
  include(FetchContent)
  FetchContent_Declare(etcd_elect SOURCE_DIR ${ETCD_ELECT_FETCH})
  FetchContent_MakeAvailable(etcd_elect)
else()
  find_package(etcd_elect 0.3 REQUIRED)
endif()
add_executable(app app.c)
target_link_libraries(app PRIVATE etcd_elect::etcd_elect)
EOF
version=$(sed -n 's/^#define ETCDE_VERSION_STRING "\(.*\)"/\1/p' etcd_elect.h)

# consumers of an install at prefix $1 (label $2): pkg-config's flags name the prefix and build
# the app; find_package finds it (when cmake is there)
consumers() {
  local p=$1 l=$2
  check "$l-pkg-config-version" sh -c "test \"\$(PKG_CONFIG_PATH=$p/lib/pkgconfig pkg-config --modversion etcd_elect)\" = $version"
  check "$l-pkg-config-prefix" sh -c "test \$(PKG_CONFIG_PATH=$p/lib/pkgconfig pkg-config --cflags etcd_elect) = -I$p/include"
  check "$l-pkg-config-consumer" sh -c "cc -std=c99 -Wall -Werror $tmp/app/app.c -o $tmp/app-$l \$(PKG_CONFIG_PATH=$p/lib/pkgconfig pkg-config --cflags --libs etcd_elect) && test \"\$($tmp/app-$l)\" = $version"
  if command -v cmake >/dev/null; then
    check "$l-find-package" sh -c "cmake -S $tmp/app -B $tmp/fp-$l -DCMAKE_PREFIX_PATH=$p >/dev/null && cmake --build $tmp/fp-$l >/dev/null && test \"\$($tmp/fp-$l/app)\" = $version"
  fi
  check "$l-man-page" test -f "$p/share/man/man1/etcd-elect.1"
  check "$l-cli-help" sh -c "$p/bin/etcd-elect --help | grep -q 'elect NAME VALUE'"
}
# 1 if the binary $1 carries no symbol table
stripped() { nm "$1" 2>&1 | grep -q 'no symbols'; }

# 1. make install, make install-strip
check make-install make -s install PREFIX="$tmp/stage"
consumers "$tmp/stage" make
check make-install-not-stripped sh -c "! nm $tmp/stage/bin/etcd-elect 2>&1 | grep -q 'no symbols'"
check make-install-destdir sh -c "make -s install DESTDIR=$tmp/dest PREFIX=/opt/ee && grep -qx prefix=/opt/ee $tmp/dest/opt/ee/lib/pkgconfig/etcd_elect.pc && test -f $tmp/dest/opt/ee/lib/cmake/etcd_elect/etcd_elect-config.cmake"
check make-install-strip make -s install-strip PREFIX="$tmp/sstage"
check make-install-strip-stripped stripped "$tmp/sstage/bin/etcd-elect"

# 2. CMake: the README's recipe, its prefix (/usr/local) replaced by a staging one; the
# build configured for /usr/local installs for the --prefix given at install time
if command -v cmake >/dev/null; then
  recipe=$(grep -m1 '^cmake -S \. -B b ' README.md)
  check readme-recipe-found sh -c "echo '$recipe' | grep -q -- '--install b --prefix /usr/local\$'"
  recipe=$(printf '%s' "$recipe" | sed -e "s| -S \. | -S $src |" -e "s| b | $tmp/rb |g" -e "s|/usr/local\$|$tmp/cstage|")
  case $recipe in
    *"--prefix $tmp/cstage") check readme-recipe sh -c "$recipe >/dev/null" ;;
    *) echo "FAIL install.readme-recipe: not run, it would not install into $tmp: $recipe"; fail=$((fail+1)) ;;
  esac
  consumers "$tmp/cstage" cmake
  check cmake-same-config-as-make diff -r "$tmp/stage/lib/cmake" "$tmp/cstage/lib/cmake"
  # with OpenSSL's headers there (CI installs them), CMake's etcd-elect speaks TLS, as make's
  if [ -f /usr/include/openssl/ssl.h ]; then
    check cmake-cli-tls sh -c "$tmp/cstage/bin/etcd-elect --version | grep -q '^TLS: OpenSSL'"
  fi
  check cmake-install-strip sh -c "cmake --install $tmp/rb --prefix $tmp/csstage --strip >/dev/null"
  check cmake-install-strip-stripped stripped "$tmp/csstage/bin/etcd-elect"
  check cmake-add-subdirectory sh -c "cmake -S $tmp/app -B $tmp/as -DETCD_ELECT_SOURCE=$src >/dev/null && cmake --build $tmp/as >/dev/null && test \"\$($tmp/as/app)\" = $version"
  check cmake-fetchcontent sh -c "cmake -S $tmp/app -B $tmp/fc -DETCD_ELECT_FETCH=$src >/dev/null && cmake --build $tmp/fc >/dev/null && test \"\$($tmp/fc/app)\" = $version"
else
  echo "FAIL install.cmake: cmake is not installed"; fail=$((fail+1))
fi

# 3. a static build of the CLI runs
check static-cli sh -c "make -s static B=$tmp/sb >/dev/null 2>&1 && $tmp/sb/etcd-elect-static --help | grep -q 'elect NAME VALUE'"

# 4. make demo tells its story to the end in about 15 lines: A's key and token, a handover
# at once on Ctrl-C (ms), a takeover only once the killed leader's lease (TTL 5 s) has expired
# (more than a second, less than 15)
failed_before=$fail
check demo sh -c "make -s demo >$tmp/demo.out 2>&1"
check demo-short sh -c "test \$(wc -l <$tmp/demo.out) -le 20"
check demo-a-key-and-token grep -qE '\[A\] key my-election/[0-9a-f]+, fencing token [0-9]+$' "$tmp/demo.out"
ms=$(sed -n 's/.*== B leads \([0-9]*\) ms after the Ctrl-C to A.*/\1/p' "$tmp/demo.out")
check demo-handover-at-once test -n "$ms" -a "${ms:-9999}" -lt 2000
ds=$(sed -n 's/.*== C leads \([0-9]*\)\.\([0-9]\) s after the kill -9 of B.*/\1\2/p' "$tmp/demo.out")
check demo-takeover-after-ttl test -n "$ds" -a "${ds:-0}" -ge 10 -a "${ds:-0}" -le 150
[ "$fail" -eq "$failed_before" ] || cat "$tmp/demo.out"

# 5. man page in step with --help
missing=""
sed 's/\\-/-/g' examples/etcd-elect.1 > "$tmp/man.txt" # roff's \- is a plain hyphen
for flag in $(build/etcd-elect --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
  grep -q -- "$flag" "$tmp/man.txt" || missing="$missing $flag"
done
check man-page-flags test -z "$missing"
[ -z "$missing" ] || echo "     flags in --help but not in examples/etcd-elect.1:$missing"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
