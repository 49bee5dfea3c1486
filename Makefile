# etcd_elect.h -- build the examples, run the tests, show the demo.
#   make             examples into build/ (build/demo, build/etcd-elect, ...)
#   make test        compile checks, unit, integration, fault and interop tests (private etcd)
#   make demo        the election story on a private etcd in about 15 lines: A leads; Ctrl-C
#                    hands over to B at once; kill -9 of B hands over to C after the TTL
#   make sanitize    the test programs again under ASan+UBSan (build/asan/)
#   make tsan        the test programs again under ThreadSanitizer (build/tsan/)
#   make valgrind    demo, CLI and async example runs under valgrind: no leaks, no errors
#   make bench       etcd-elect against etcdctl on one private etcd, and etcd_elect.h against
#                    Go's concurrency package in process (BENCH_ARGS=--inproc: that alone):
#                    tables of ratios
#   make soak        SECONDS=120 SEED=time: random faults against CLI candidates, fenced
#                    writers and lock holders on a 3-member etcd, then a checker of their
#                    histories and etcd's (tests/soak.c)
#   make fuzz        libFuzzer targets for the HTTP, chunked, JSON and WebSocket readers (FUZZ_SECONDS each)
#   make etcd-versions  etcd and etcdctl 3.5.33, 3.6.14, 3.7.1 and the Go peer from etcd's Go
#                    modules into build/etcd-<version>/ (needs Go; the build cache is kept)
#   make compat      the suites that need a real etcd, on 3.4.23, 3.5.33, 3.6.14 and 3.7.1
#                    (two lines at a time: COMPAT_JOBS=1 runs them one by one)
#   make format      clang-format the header, the examples and the tests (.clang-format)
#   make check-format  fail if any of them differs from its clang-format layout
#   make check       all of the above but the demo and format (what CI runs)
#   make install     PREFIX=/usr/local: header, etcd-elect, man page, pkg-config and CMake files
#                    (find_package(etcd_elect)); DESTDIR=staging dir for packages
#   make install-strip  the same with etcd-elect stripped
#   make static      a static, stripped build/etcd-elect-static, and its size
CC      ?= cc
CFLAGS  ?= -std=c99 -Wall -Wextra -Werror -pedantic -O2 -g
TCFLAGS ?= -std=c99 -Wall -Wextra -Werror -pedantic -O1 -g
LDLIBS  := -pthread
B       := build
SANCC   ?= clang
ASAN    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TSAN    := -fsanitize=thread
PREFIX  ?= /usr/local
VERSION := $(shell sed -n 's/^\#define ETCDE_VERSION_STRING "\(.*\)"/\1/p' etcd_elect.h)

# tls_openssl.c needs OpenSSL: tests/test_tls.sh builds it
EXAMPLES := $(patsubst examples/%.c,$(B)/%,$(filter-out examples/tls_openssl.c,$(wildcard examples/*.c)))
TESTS    := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_*.c))

all: $(EXAMPLES)

$(B)/%: examples/%.c etcd_elect.h
	@mkdir -p $(B)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

# etcd-elect speaks TLS through OpenSSL (examples/tls_openssl.h) when its headers are there,
# loading it only when a run speaks TLS (examples/tls_openssl_dl.h; the static build links
# it); make NO_TLS=1 builds it without, and then it refuses TLS flags and https:// clearly
ifeq ($(NO_TLS),)
TLS_CFLAGS := $(shell pkg-config --cflags openssl 2>/dev/null)
TLS_LIBS   := $(shell pkg-config --libs openssl 2>/dev/null || { test -f /usr/include/openssl/ssl.h && echo -lssl -lcrypto; })
endif
CLI_TLS := $(if $(strip $(TLS_LIBS)),-DETCD_ELECT_TLS $(TLS_CFLAGS))

$(B)/etcd-elect: examples/etcd-elect.c examples/tls_openssl.h examples/tls_openssl_dl.h etcd_elect.h
	@mkdir -p $(B)
	$(CC) $(CFLAGS) $(CLI_TLS) $< -o $@ $(LDLIBS) $(if $(CLI_TLS),-ldl)

$(B)/tests/%: tests/%.c etcd_elect.h $(wildcard tests/etcdt*.h) tests/cand.h tests/soak_check.h
	@mkdir -p $(B)/tests
	$(CC) $(TCFLAGS) -I. $< -o $@ $(LDLIBS)

need-etcd:
	@bash tests/need-etcd.sh

test: need-etcd $(EXAMPLES) $(TESTS)
	@bash tests/run.sh tests/test_compile.sh tests/test_install.sh tests/test_tls.sh $(TESTS)

# the test programs alone, for the sanitizer builds below
run-tests: need-etcd $(EXAMPLES) $(TESTS)
	@bash tests/run.sh $(TESTS)

sanitize:
	@$(MAKE) --no-print-directory run-tests B=build/asan CC=$(SANCC) \
	    CFLAGS="$(CFLAGS) $(ASAN)" TCFLAGS="$(TCFLAGS) $(ASAN)"

tsan:
	@$(MAKE) --no-print-directory run-tests B=build/tsan CC=$(SANCC) \
	    CFLAGS="$(CFLAGS) $(TSAN)" TCFLAGS="$(TCFLAGS) $(TSAN)"

valgrind: need-etcd $(EXAMPLES)
	@bash tests/valgrind.sh

fuzz:
	@bash tests/fuzz/run.sh

$(B)/bench/bench: tests/bench/bench.c $(wildcard tests/etcdt*.h)
	@mkdir -p $(B)/bench
	$(CC) $(TCFLAGS) -O2 $< -o $@ $(LDLIBS)

$(B)/bench/inproc: tests/bench/inproc.c etcd_elect.h $(wildcard tests/etcdt*.h)
	@mkdir -p $(B)/bench
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

# Go's side of the in-process rows, from etcd's client module (through the Go module proxy)
$(B)/bench/gobench: tests/bench/gobench/main.go tests/bench/gobench/go.mod
	@mkdir -p $(B)/bench
	cd tests/bench/gobench && PATH="$$PATH:/usr/local/go/bin" go build -trimpath -buildvcs=false -o $(abspath $@) .

bench: need-etcd $(B)/etcd-elect $(B)/bench/bench $(B)/bench/inproc $(B)/bench/gobench
	@$(B)/bench/bench $(BENCH_ARGS)

ETCD_VERSIONS := 3.5.33 3.6.14 3.7.1

etcd-versions:
	@bash tests/go/build.sh $(ETCD_VERSIONS)

compat: need-etcd etcd-versions $(EXAMPLES) $(TESTS) $(B)/tests/interop_go
	@bash tests/compat.sh

FORMATTED := etcd_elect.h $(wildcard examples/*.c tests/*.c tests/*.h tests/fuzz/*.c tests/fuzz/*.h tests/bench/*.c)

format:
	clang-format -i $(FORMATTED)

check-format:
	@bash tests/check-format.sh $(FORMATTED)

check: check-format test sanitize tsan valgrind fuzz compat soak

SECONDS ?= 120
soak: need-etcd $(B)/etcd-elect $(B)/tests/soak
	@$(B)/tests/soak --seconds $(SECONDS) $(if $(SEED),--seed $(SEED))

# the templates CMake's install fills in too; the config file finds the header relative to itself
SUBST = -e 's|@prefix@|$(PREFIX)|' -e 's|@includedir@|$${prefix}/include|' -e 's|@version@|$(VERSION)|' \
	 -e 's|@config_includedir@|$${CMAKE_CURRENT_LIST_DIR}/../../../include|'
CMAKEDIR = $(DESTDIR)$(PREFIX)/lib/cmake/etcd_elect

install: $(B)/etcd-elect
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(CMAKEDIR) $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 etcd_elect.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(INSTALL_STRIP) $(B)/etcd-elect $(DESTDIR)$(PREFIX)/bin/
	install -m 644 examples/etcd-elect.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	sed $(SUBST) etcd_elect.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/etcd_elect.pc
	sed $(SUBST) cmake/etcd_elect-config.cmake.in > $(CMAKEDIR)/etcd_elect-config.cmake
	sed $(SUBST) cmake/etcd_elect-config-version.cmake.in > $(CMAKEDIR)/etcd_elect-config-version.cmake

install-strip:
	@$(MAKE) --no-print-directory install INSTALL_STRIP=-s

static: $(B)/etcd-elect-static

# glibc warns that getaddrinfo in a static binary needs its NSS libraries at run time for
# host names; numeric endpoints need nothing
$(B)/etcd-elect-static: examples/etcd-elect.c examples/tls_openssl.h examples/tls_openssl_dl.h etcd_elect.h
	@mkdir -p $(B)
	$(CC) -std=c99 -Wall -Wextra -Werror -pedantic -Os -static $(CLI_TLS) \
	    $(if $(CLI_TLS),-DETCD_ELECT_TLS_LINKED) $< -o $@ $(LDLIBS) $(TLS_LIBS)
	strip $@
	@echo "$@: $$(stat -c %s $@) bytes, static and stripped"

demo: need-etcd $(B)/demo
	@bash examples/demo.sh

clean:
	rm -rf $(B)

.PHONY: soak all test run-tests sanitize tsan valgrind fuzz bench etcd-versions compat format check-format check install install-strip static demo clean need-etcd
