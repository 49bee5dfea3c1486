#!/usr/bin/env bash
# Consumers of an installed etcd_elect.h: `make install` into a staging prefix, then a tiny
# project built with pkg-config; `cmake --install` into another, then a CMake project with
# find_package; and add_subdirectory straight from the source tree. The man page names
# every flag --help names.
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

# 1. make install + pkg-config
check make-install make -s install PREFIX="$tmp/stage"
check installed-files test -f "$tmp/stage/include/etcd_elect.h" -a -x "$tmp/stage/bin/etcd-elect" \
  -a -f "$tmp/stage/lib/pkgconfig/etcd_elect.pc" -a -f "$tmp/stage/share/man/man1/etcd-elect.1"
check pkg-config-version sh -c "test \"\$(PKG_CONFIG_PATH=$tmp/stage/lib/pkgconfig pkg-config --modversion etcd_elect)\" = $version"
check pkg-config-consumer sh -c "cc -std=c99 -Wall -Werror $tmp/app/app.c -o $tmp/app-pc \$(PKG_CONFIG_PATH=$tmp/stage/lib/pkgconfig pkg-config --cflags --libs etcd_elect) && test \"\$($tmp/app-pc)\" = $version"
check installed-cli-help sh -c "$tmp/stage/bin/etcd-elect --help | grep -q 'elect NAME VALUE'"

# 2. cmake --install + find_package
if command -v cmake >/dev/null; then
  check cmake-install sh -c "cmake -S $src -B $tmp/cm -DCMAKE_INSTALL_PREFIX=$tmp/cstage >/dev/null && cmake --build $tmp/cm >/dev/null && cmake --install $tmp/cm >/dev/null"
  check cmake-find-package sh -c "cmake -S $tmp/app -B $tmp/fp -DCMAKE_PREFIX_PATH=$tmp/cstage >/dev/null && cmake --build $tmp/fp >/dev/null && test \"\$($tmp/fp/app)\" = $version"
  check cmake-add-subdirectory sh -c "cmake -S $tmp/app -B $tmp/as -DETCD_ELECT_SOURCE=$src >/dev/null && cmake --build $tmp/as >/dev/null && test \"\$($tmp/as/app)\" = $version"
  check cmake-fetchcontent sh -c "cmake -S $tmp/app -B $tmp/fc -DETCD_ELECT_FETCH=$src >/dev/null && cmake --build $tmp/fc >/dev/null && test \"\$($tmp/fc/app)\" = $version"
else
  echo "FAIL install.cmake: cmake is not installed"; fail=$((fail+1))
fi

# 3. a static build of the CLI runs
check static-cli sh -c "make -s static B=$tmp/sb >/dev/null 2>&1 && $tmp/sb/etcd-elect-static --help | grep -q 'elect NAME VALUE'"

# 4. man page in step with --help
missing=""
sed 's/\\-/-/g' examples/etcd-elect.1 > "$tmp/man.txt" # roff's \- is a plain hyphen
for flag in $(build/etcd-elect --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
  grep -q -- "$flag" "$tmp/man.txt" || missing="$missing $flag"
done
check man-page-flags test -z "$missing"
[ -z "$missing" ] || echo "     flags in --help but not in examples/etcd-elect.1:$missing"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
