# etcd_elect.h -- build the examples, run the tests, show the demo.
#   make            examples into build/
#   make test       unit, compile and integration tests against private etcd members
#   make demo       the election demo on a private etcd: A leads, is interrupted, B takes over
CC      ?= cc
CFLAGS  ?= -std=c99 -Wall -Wextra -Werror -pedantic -O2 -g
TCFLAGS ?= -std=c99 -Wall -Wextra -Werror -pedantic -O1 -g
LDLIBS  := -pthread
B       := build

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

demo: need-etcd $(B)/demo
	@bash examples/demo.sh

clean:
	rm -rf $(B)

.PHONY: all test demo clean need-etcd
