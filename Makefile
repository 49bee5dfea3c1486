# etcd_elect.h -- build the examples, run the tests, show the demo.
#   make             examples into build/ (build/demo, build/etcd-elect, ...)
#   make test        compile checks, unit, integration, fault and interop tests (private etcd)
#   make demo        the election demo on a private etcd: A leads, is interrupted, B takes over
#   make sanitize    the test programs again under ASan+UBSan (build/asan/)
#   make tsan        the test programs again under ThreadSanitizer (build/tsan/)
#   make valgrind    demo and CLI runs under valgrind: no leaks, no errors
#   make fuzz        libFuzzer targets for the HTTP, chunked and JSON readers (FUZZ_SECONDS each)
#   make check       all of the above but the demo (what CI runs)
CC      ?= cc
CFLAGS  ?= -std=c99 -Wall -Wextra -Werror -pedantic -O2 -g
TCFLAGS ?= -std=c99 -Wall -Wextra -Werror -pedantic -O1 -g
LDLIBS  := -pthread
B       := build
SANCC   ?= clang
ASAN    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TSAN    := -fsanitize=thread

EXAMPLES := $(patsubst examples/%.c,$(B)/%,$(wildcard examples/*.c))
TESTS    := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_*.c))

all: $(EXAMPLES)

$(B)/%: examples/%.c etcd_elect.h
	@mkdir -p $(B)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

$(B)/tests/%: tests/%.c etcd_elect.h tests/etcdt.h
	@mkdir -p $(B)/tests
	$(CC) $(TCFLAGS) -I. $< -o $@ $(LDLIBS)

need-etcd:
	@bash tests/need-etcd.sh

test: need-etcd $(EXAMPLES) $(TESTS)
	@bash tests/run.sh tests/test_compile.sh $(TESTS)

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

check: test sanitize tsan valgrind fuzz

demo: need-etcd $(B)/demo
	@bash examples/demo.sh

clean:
	rm -rf $(B)

.PHONY: all test run-tests sanitize tsan valgrind fuzz check demo clean need-etcd
