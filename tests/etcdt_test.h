/*
 * etcdt_test.h - the test framework of the etcd_elect tests: ETCDT_TEST,
 * CHECK, CHECKF, REQUIRE, REQUIREF, etcdt_skip, ETCDT_CASE, etcdt_run; the
 * time helpers etcdt_now_ms, etcdt_sleep_ms, etcdt_wait_int; and the small
 * helpers that the other etcdt_*.h headers share.
 *
 * C99 + POSIX, Linux only.  Every function is static, so the etcdt headers
 * can be included by any number of test programs (one translation unit
 * each).  Include an etcdt header FIRST (each defines _GNU_SOURCE if nobody
 * did), or compile with -D_GNU_SOURCE.  tests/etcdt.h includes them all.
 */
#ifndef ETCDT_TEST_H
#define ETCDT_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GNUC__) || defined(__clang__)
#define ETCDT_FN static __attribute__((unused))
#define ETCDT_VAR static __attribute__((unused))
#define ETCDT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ETCDT_FN static
#define ETCDT_VAR static
#define ETCDT_PRINTF(a, b)
#endif

/* ======================================================================
 * Test framework
 * ==================================================================== */

struct etcdt_case {
    const char *name;
    void (*fn)(void);
};

#define ETCDT_TEST(name) static void name(void)
#define ETCDT_CASE(name) \
    { #name, name }

ETCDT_VAR const char *etcdt__suite = "";
ETCDT_VAR const char *etcdt__case = "";
ETCDT_VAR volatile int etcdt__case_failed;
ETCDT_VAR volatile int etcdt__case_skipped;
ETCDT_VAR char etcdt__skip_reason[256];

ETCDT_FN ETCDT_PRINTF(3, 4) void etcdt__fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    char msg[1024];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    etcdt__case_failed = 1;
    fflush(stdout);
    fprintf(stderr, "%s:%d: [%s.%s] %s\n", file, line, etcdt__suite, etcdt__case, msg);
    fflush(stderr);
}

/* CHECK(cond): record a failure, keep going. */
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) etcdt__fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond); \
    } while (0)

/* CHECKF(cond, fmt, ...): like CHECK with a printf-style message. */
#define CHECKF(cond, ...)                                          \
    do {                                                           \
        if (!(cond)) etcdt__fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

/* REQUIRE(cond): record a failure and return from the test function. */
#define REQUIRE(cond)                                                     \
    do {                                                                  \
        if (!(cond)) {                                                    \
            etcdt__fail(__FILE__, __LINE__, "REQUIRE(%s) failed", #cond); \
            return;                                                       \
        }                                                                 \
    } while (0)

/* REQUIREF(cond, fmt, ...) */
#define REQUIREF(cond, ...)                               \
    do {                                                  \
        if (!(cond)) {                                    \
            etcdt__fail(__FILE__, __LINE__, __VA_ARGS__); \
            return;                                       \
        }                                                 \
    } while (0)

/* Mark the current test as skipped.  The test should return afterwards.
 * A test that also recorded a failure counts as failed. */
ETCDT_FN void etcdt_skip(const char *reason) {
    etcdt__case_skipped = 1;
    snprintf(etcdt__skip_reason, sizeof etcdt__skip_reason, "%s", reason ? reason : "");
}

/* 1 if the current test has recorded a failure so far. */
ETCDT_FN int etcdt_failed(void) { return etcdt__case_failed; }

/* ======================================================================
 * Time
 * ==================================================================== */

ETCDT_FN int64_t etcdt_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ETCDT_FN void etcdt_sleep_ms(int ms) {
    struct timespec ts;
    if (ms <= 0) return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* ======================================================================
 * Resources: what a leak shows in
 * ==================================================================== */

/* Open file descriptors of this process, or -1. */
ETCDT_FN int etcdt_open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;
    if (!d) return -1;
    while ((de = readdir(d)) != NULL) n += de->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own */
}

/* Threads of this process, or -1. */
ETCDT_FN int etcdt_threads(void) {
    char line[256];
    int n = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Threads:", 8)) n = atoi(line + 8);
    fclose(f);
    return n;
}

/* Remaining ms until deadline (never negative). */
ETCDT_FN int etcdt__left(int64_t deadline) {
    int64_t d = deadline - etcdt_now_ms();
    if (d < 0) return 0;
    if (d > INT_MAX) return INT_MAX;
    return (int)d;
}

/* Waits until the int at p, read atomically, is at least n: 1 if it was
 * within timeout_ms.  For the flags and counters other threads set. */
ETCDT_FN int etcdt_wait_int(int *p, int n, int timeout_ms) {
    int64_t end = etcdt_now_ms() + timeout_ms;
    while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < n) {
        if (etcdt_now_ms() >= end) return 0;
        etcdt_sleep_ms(2);
    }
    return 1;
}

/* ======================================================================
 * Runner
 * ==================================================================== */

ETCDT_FN int etcdt_run(const char *suite, struct etcdt_case *cases, int n, int argc, char **argv) {
    const char *filter = (argc > 1 && argv[1] && argv[1][0]) ? argv[1] : NULL;
    int passed = 0, failed = 0, skipped = 0, matched = 0, i;

    etcdt__suite = suite;
    for (i = 0; i < n; i++) {
        int64_t t0;
        if (filter && !strstr(cases[i].name, filter)) continue;
        matched++;
        etcdt__case = cases[i].name;
        etcdt__case_failed = 0;
        etcdt__case_skipped = 0;
        etcdt__skip_reason[0] = 0;
        t0 = etcdt_now_ms();
        cases[i].fn();
        fflush(stderr);
        if (etcdt__case_failed) {
            failed++;
            printf("FAIL %s.%s\n", suite, cases[i].name);
        } else if (etcdt__case_skipped) {
            skipped++;
            printf("skip %s.%s: %s\n", suite, cases[i].name, etcdt__skip_reason);
        } else {
            passed++;
            printf("ok   %s.%s (%lld ms)\n", suite, cases[i].name,
                   (long long)(etcdt_now_ms() - t0));
        }
        fflush(stdout);
    }
    etcdt__case = "";
    if (filter && matched == 0)
        fprintf(stderr, "etcdt: no test in suite %s matches \"%s\"\n", suite, filter);
    if (skipped > 0)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}

/* ======================================================================
 * Small helpers the etcdt headers share
 * ==================================================================== */

ETCDT_FN void *etcdt__xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "etcdt: out of memory\n");
        abort();
    }
    return p;
}

ETCDT_FN char *etcdt__xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = (char *)etcdt__xmalloc(n);
    memcpy(p, s, n);
    return p;
}

#endif /* ETCDT_TEST_H */
