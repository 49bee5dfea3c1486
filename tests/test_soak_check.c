/* The soak's checker (tests/soak_check.h) on histories written here, one violation at a
   time: each kind is found, and a clean history and a paused process's resume window are
   not called violations. No etcd: the histories are the input. */
#include "etcdt_test.h"
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"
#include "soak_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

/* A fresh directory with empty histories: c0..c7, nemesis, etcd. */
static void fresh(void) {
    char path[300];
    int i;
    snprintf(dir, sizeof dir, "/tmp/soak-check-XXXXXX");
    if (!mkdtemp(dir)) abort();
    for (i = 0; i < SC_CLIENTS + 2; i++) {
        FILE *f;
        if (i < SC_CLIENTS)
            snprintf(path, sizeof path, "%s/c%d", dir, i);
        else
            snprintf(path, sizeof path, "%s/%s", dir, i == SC_CLIENTS ? "nemesis" : "etcd");
        if (!(f = fopen(path, "w"))) abort();
        fclose(f);
    }
}

static void cleanup(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Appends a line to DIR/file; times are given in ms and written in us. */
static void put(const char *file, const char *fmt, ...) ETCDT_PRINTF(2, 3);
static void put(const char *file, const char *fmt, ...) {
    char path[300];
    va_list ap;
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (!(f = fopen(path, "a"))) abort();
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

/* A term of client c: "lead" at t0 ms, then an act every 50 ms up to t1 ms. */
static void term(int c, long long rev, const char *key, long long t0, long long t1) {
    char file[8];
    long long t;
    snprintf(file, sizeof file, "c%d", c);
    put(file, "%lld lead %lld %s", t0 * 1000, rev, key);
    for (t = t0; t <= t1; t += 50) put(file, "%lld act %lld", t * 1000, rev);
}

/* etcd's history: a put (created at `rev` when create) or a delete, seen at t ms. */
static void etcd_event(long long t, const char *key_b64, long long create, long long mod,
                       const char *value_b64, int del) {
    if (del)
        put("etcd",
            "%lld {\"Events\":[{\"type\":1,\"kv\":{\"key\":\"%s\",\"mod_revision\":%lld}}]}",
            t * 1000, key_b64, mod);
    else
        put("etcd",
            "%lld {\"Events\":[{\"kv\":{\"key\":\"%s\",\"create_revision\":%lld,\"mod_revision\":"
            "%lld,\"value\":\"%s\"}}]}",
            t * 1000, key_b64, create, mod, value_b64);
}

/* The checker's count of one kind (the others must be 0), with the histories removed. */
static int only(int kind) {
    sc s;
    int k, n = -1;
    memset(&s, 0, sizeof s);
    s.ttl = 3;
    sc_read_nemesis(&s, dir);
    for (k = 0; k < SC_CLIENTS; k++) sc_read_client(&s, dir, k);
    sc_read_etcd(&s, dir);
    sc_check_terms(&s);
    sc_check_liveness(&s);
    for (k = 0; k < 8; k++)
        if (k == kind)
            n = s.violations[k];
        else if (s.violations[k])
            n = -100 - k; /* another kind was found */
    if (kind < 0) n = n == -1 ? 0 : n;
    free(s.acts);
    free(s.terms);
    free(s.faults);
    cleanup();
    return n;
}

/* "soak-el/1" and "soak-el/2" in base64, and "soak-reg" */
#define K1 "c29hay1lbC8x"
#define K2 "c29hay1lbC8y"
#define REG "c29hay1yZWc="

/* Two terms one after the other, each key created and deleted around its acts. */
static void clean_history(void) {
    term(0, 10, "soak-el/1", 1000, 2000);
    term(3, 20, "soak-el/2", 2100, 3000);
    etcd_event(900, K1, 10, 10, "", 0);
    etcd_event(2050, K1, 0, 15, "", 1);
    etcd_event(950, K2, 11, 11, "", 0); /* queued behind the first, created early */
    etcd_event(3100, K2, 0, 30, "", 1);
}

ETCDT_TEST(a_clean_history_has_no_violation) {
    fresh();
    clean_history();
    /* "10 soak-el/1 1" and "11 soak-el/2 1": writes under live keys, tokens growing */
    etcd_event(1500, REG, 12, 12, "MTAgc29hay1lbC8xIDE=", 0);
    etcd_event(2500, REG, 12, 16, "MTEgc29hay1lbC8yIDE=", 0);
    CHECK(only(-1) == 0);
}

ETCDT_TEST(overlapping_terms_are_found) {
    fresh();
    term(0, 10, "soak-el/1", 1000, 2000);
    term(3, 20, "soak-el/2", 1500, 3000);
    CHECK(only(SC_OVERLAP) == 1);
}

ETCDT_TEST(a_resumed_process_is_a_resume_window_not_an_overlap) {
    sc s;
    fresh();
    put("nemesis", "%lld fault pause c0", 1100LL * 1000);
    put("nemesis", "%lld cont c0", 1500LL * 1000);
    put("nemesis", "%lld heal pause", 1500LL * 1000);
    put("c0", "%lld lead 10 soak-el/1", 1000LL * 1000);
    put("c0", "%lld act 10", 1050LL * 1000);
    put("c0", "%lld act 10", 1520LL * 1000); /* after SIGCONT, before it saw the loss */
    put("c0", "%lld stop 10", 1535LL * 1000);
    term(3, 20, "soak-el/2", 1400, 3000);
    put("c1", "%lld lead 30 soak-el/3", 3100LL * 1000); /* paused, but not holding: no window */
    put("c1", "%lld act 30", 3150LL * 1000);
    put("nemesis", "%lld fault pause c1", 3050LL * 1000);
    put("nemesis", "%lld cont c1", 3090LL * 1000);
    put("nemesis", "%lld heal pause", 3090LL * 1000);
    memset(&s, 0, sizeof s);
    s.ttl = 3;
    sc_read_nemesis(&s, dir);
    sc_read_client(&s, dir, 0);
    sc_read_client(&s, dir, 1);
    sc_read_client(&s, dir, 3);
    sc_check_terms(&s);
    sc_resume_windows(&s);
    CHECK(s.violations[SC_OVERLAP] == 0 && s.resumes == 1);
    CHECKF(s.longest_resume == 35000, "%lld us", (long long)s.longest_resume);
    free(s.acts);
    free(s.terms);
    free(s.faults);
    cleanup();
}

ETCDT_TEST(a_lower_token_after_a_higher_one_is_found) {
    fresh();
    term(0, 20, "soak-el/1", 1000, 1500);
    term(3, 10, "soak-el/2", 2000, 2500);
    CHECK(only(SC_TOKEN_ORDER) == 1);
}

ETCDT_TEST(acting_after_the_key_went_is_found) {
    fresh();
    term(0, 10, "soak-el/1", 1000, 2000);
    etcd_event(900, K1, 10, 10, "", 0);
    etcd_event(1500, K1, 0, 15, "", 1);
    CHECK(only(SC_AFTER_GONE) == 1);
}

ETCDT_TEST(leading_after_the_key_went_is_found) {
    fresh();
    etcd_event(900, K1, 10, 10, "", 0);
    etcd_event(950, K1, 0, 15, "", 1);
    put("c0", "%lld lead 10 soak-el/1", 1000LL * 1000);
    CHECK(only(SC_AFTER_GONE) == 1);
}

ETCDT_TEST(a_write_without_its_key_is_found) {
    fresh();
    clean_history();
    etcd_event(2060, REG, 16, 16, "MTAgc29hay1lbC8xIDE=", 0); /* "10 soak-el/1 1" at 16 */
    CHECK(only(SC_STALE_WRITE) == 1);
}

ETCDT_TEST(decreasing_write_tokens_are_found) {
    fresh();
    etcd_event(900, K1, 10, 10, "", 0);
    etcd_event(950, K2, 11, 11, "", 0);
    etcd_event(1500, REG, 12, 12, "MTEgc29hay1lbC8yIDE=", 0); /* "11 soak-el/2 1" */
    etcd_event(1600, REG, 12, 13, "MTAgc29hay1lbC8xIDE=", 0); /* "10 soak-el/1 1" */
    CHECK(only(SC_WRITE_ORDER) == 1);
}

ETCDT_TEST(no_leader_after_a_heal_is_found) {
    fresh();
    term(0, 10, "soak-el/1", 1000, 2000);
    put("nemesis", "%lld fault cut c0", 1900LL * 1000);
    put("nemesis", "%lld heal cut", 3000LL * 1000);
    CHECK(only(SC_LIVENESS) == 1);
}

ETCDT_TEST(a_call_past_its_timeout_is_found) {
    fresh();
    put("c4", "%lld call campaign 12001 10000 timed out", 20000LL * 1000);
    put("c4", "%lld call campaign 11999 10000 timed out", 40000LL * 1000);
    CHECK(only(SC_HANG) == 1);
}

ETCDT_TEST(growing_descriptors_are_found) {
    fresh();
    put("c5", "%lld boot 1", 1000LL * 1000);
    put("c5", "%lld res 9 3", 2000LL * 1000);
    put("c5", "%lld res 9 4", 3000LL * 1000); /* once: a thread /proc still counts */
    put("c5", "%lld res 9 3", 4000LL * 1000);
    put("c5", "%lld res 10 3", 5000LL * 1000);
    put("c5", "%lld res 10 3", 6000LL * 1000); /* twice in a row: a leak */
    CHECK(only(SC_LEAK) == 1);
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(a_clean_history_has_no_violation),
        ETCDT_CASE(overlapping_terms_are_found),
        ETCDT_CASE(a_resumed_process_is_a_resume_window_not_an_overlap),
        ETCDT_CASE(a_lower_token_after_a_higher_one_is_found),
        ETCDT_CASE(acting_after_the_key_went_is_found),
        ETCDT_CASE(leading_after_the_key_went_is_found),
        ETCDT_CASE(a_write_without_its_key_is_found),
        ETCDT_CASE(decreasing_write_tokens_are_found),
        ETCDT_CASE(no_leader_after_a_heal_is_found),
        ETCDT_CASE(a_call_past_its_timeout_is_found),
        ETCDT_CASE(growing_descriptors_are_found),
    };
    return etcdt_run("soak_check", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
}
