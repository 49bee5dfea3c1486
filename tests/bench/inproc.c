/* build/bench/inproc: etcd_elect.h in one process, the C side of make bench's in-process
   rows. tests/bench/gobench is the Go side (client/v3/concurrency): the same scenarios,
   arguments and output, so bench.c runs the two side by side.

     inproc handover -endpoints E -runs R   resign -> the queued successor's campaign returns
     inproc campaign -endpoints E -runs R   one uncontended campaign (then a resign, untimed)
     inproc lock -endpoints E -runs R       8 contenders, R lock/unlock pairs each
     inproc scale -endpoints E -n N -prefix P
         N campaigns on one session, on elections P/0 .. P/N-1, behind leaders someone
         else holds: async campaigns, no thread each. Prints "launched", then
         "elected MED MAX FAILED" once every campaign has returned (MED, MAX:
         CLOCK_MONOTONIC microseconds of the returns), then waits for stdin to close and
         closes its session.

   Latency lines are "NAME MEDIAN_US P99_US". INPROC_LOG=1 in the environment: the library
   logs to stderr (INFO). */
#define ETCD_ELECT_IMPLEMENTATION
#include "../../etcd_elect.h"
#include "../etcdt_test.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static etcde_client *cli;
static const char *prefix = "inproc";

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("inproc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void log_stderr(int level, const char *msg, void *user_data) {
    (void)user_data;
    fprintf(stderr, "inproc: [%d] %s\n", level, msg);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v; prints "NAME MEDIAN P99". */
static void report(const char *name, int64_t *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    printf("%s %lld %lld\n", name, n ? (long long)v[n / 2] : -1LL,
           n ? (long long)v[(int)(0.99 * (n - 1) + 0.5)] : -1LL);
}

static etcde_session *session(void) {
    etcde_session_options so;
    etcde_session *s;
    memset(&so, 0, sizeof so);
    so.ttl_s = 60;
    if (etcde_session_create(cli, &so, &s) != ETCDE_OK)
        die("session: %s", etcde_client_errmsg(cli));
    return s;
}

static etcde_election *election(etcde_session *s, const char *name) {
    etcde_election *e;
    if (etcde_election_create(cli, s, name, &e) != ETCDE_OK)
        die("election %s: %s", name, etcde_client_errmsg(cli));
    return e;
}

/* ---- handover and campaign --------------------------------------------------------- */

typedef struct waiter {
    etcde_election *e;
    int64_t at;
    etcde_result r;
} waiter;

static void *campaign_main(void *arg) {
    waiter *w = (waiter *)arg;
    w->r = etcde_campaign(w->e, "B", 1, -1);
    w->at = now_us();
    return NULL;
}

static void handover(int runs) {
    etcde_session *sa = session(), *sb = session();
    int64_t *v = (int64_t *)calloc((size_t)runs, sizeof *v);
    char name[256];
    int i;
    snprintf(name, sizeof name, "%s/handover", prefix);
    for (i = 0; i < runs; i++) {
        etcde_election *a = election(sa, name);
        waiter b;
        pthread_t t;
        int64_t t0;
        b.e = election(sb, name);
        if (etcde_campaign(a, "A", 1, -1) != ETCDE_OK)
            die("handover: campaign A: %s", etcde_election_errmsg(a));
        pthread_create(&t, NULL, campaign_main, &b);
        etcdt_sleep_ms(400); /* B is queued behind A; the quiet the commit floor has */
        t0 = now_us();
        if (etcde_resign(a) != ETCDE_OK) die("handover: resign A: %s", etcde_election_errmsg(a));
        pthread_join(t, NULL);
        if (b.r != ETCDE_OK) die("handover: campaign B: %s", etcde_election_errmsg(b.e));
        v[i] = b.at - t0;
        if (etcde_resign(b.e) != ETCDE_OK)
            die("handover: resign B: %s", etcde_election_errmsg(b.e));
        etcde_election_destroy(a);
        etcde_election_destroy(b.e);
    }
    report("handover", v, runs);
    free(v);
    etcde_session_destroy(sa);
    etcde_session_destroy(sb);
}

static void campaign(int runs) {
    etcde_session *s = session();
    int64_t *v = (int64_t *)calloc((size_t)runs, sizeof *v);
    char name[256];
    int i;
    snprintf(name, sizeof name, "%s/campaign", prefix);
    for (i = 0; i < runs; i++) {
        etcde_election *e = election(s, name);
        int64_t t0 = now_us();
        if (etcde_campaign(e, "A", 1, -1) != ETCDE_OK)
            die("campaign: %s", etcde_election_errmsg(e));
        v[i] = now_us() - t0;
        if (etcde_resign(e) != ETCDE_OK) die("campaign: resign: %s", etcde_election_errmsg(e));
        etcde_election_destroy(e);
    }
    report("campaign", v, runs);
    free(v);
    etcde_session_destroy(s);
}

/* ---- lock: 8 contenders, a session each -------------------------------------------- */

#define CONTENDERS 8

typedef struct contender {
    int runs;
    int64_t *v; /* runs samples */
} contender;

static void *contender_main(void *arg) {
    contender *k = (contender *)arg;
    etcde_session *s = session();
    char name[256];
    int i;
    snprintf(name, sizeof name, "%s/lock", prefix);
    for (i = 0; i < k->runs; i++) {
        etcde_election *e = election(s, name);
        int64_t t0 = now_us();
        if (etcde_lock(e, -1) != ETCDE_OK) die("lock: %s", etcde_election_errmsg(e));
        if (etcde_unlock(e) != ETCDE_OK) die("unlock: %s", etcde_election_errmsg(e));
        k->v[i] = now_us() - t0;
        etcde_election_destroy(e);
    }
    etcde_session_destroy(s);
    return NULL;
}

static void lock(int runs) {
    contender k[CONTENDERS];
    pthread_t t[CONTENDERS];
    int64_t *all = (int64_t *)calloc((size_t)runs * CONTENDERS, sizeof *all);
    int i;
    for (i = 0; i < CONTENDERS; i++) {
        k[i].runs = runs;
        k[i].v = all + (size_t)i * (size_t)runs;
        pthread_create(&t[i], NULL, contender_main, &k[i]);
    }
    for (i = 0; i < CONTENDERS; i++) pthread_join(t[i], NULL);
    report("lock", all, runs * CONTENDERS);
    free(all);
}

/* ---- scale: N campaigns on one session --------------------------------------------- */
/* Async campaigns: no thread each; the callbacks run on the client's runner thread. */

static pthread_mutex_t scale_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t scale_cv = PTHREAD_COND_INITIALIZER;
static int scale_ended;

static void scale_done(etcde_election *e, etcde_result r, void *user_data) {
    waiter *w = (waiter *)user_data;
    w->at = now_us();
    w->r = r;
    if (r != ETCDE_OK) fprintf(stderr, "inproc: scale: %s\n", etcde_election_errmsg(e));
    pthread_mutex_lock(&scale_mu);
    scale_ended++;
    pthread_cond_signal(&scale_cv);
    pthread_mutex_unlock(&scale_mu);
}

static void scale(int n) {
    etcde_session *s = session();
    waiter *w = (waiter *)calloc((size_t)n, sizeof *w);
    int64_t *at = (int64_t *)calloc((size_t)n, sizeof *at);
    int i, failed = 0;
    char line[16];
    if (!w || !at) die("scale: out of memory");
    for (i = 0; i < n; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s/%d", prefix, i);
        w[i].e = election(s, name);
        if (etcde_campaign_async(w[i].e, "B", 1, -1, scale_done, &w[i]) != ETCDE_OK)
            die("scale: campaign %d: %s", i, etcde_election_errmsg(w[i].e));
    }
    printf("launched\n");
    fflush(stdout);
    pthread_mutex_lock(&scale_mu);
    while (scale_ended < n) pthread_cond_wait(&scale_cv, &scale_mu);
    pthread_mutex_unlock(&scale_mu);
    for (i = 0; i < n; i++) {
        at[i] = w[i].at;
        failed += w[i].r != ETCDE_OK;
    }
    qsort(at, (size_t)n, sizeof *at, cmp_i64);
    printf("elected %lld %lld %d\n", (long long)at[n / 2], (long long)at[n - 1], failed);
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) continue; /* until stdin closes */
    etcde_session_close(s);
    for (i = 0; i < n; i++) etcde_election_destroy(w[i].e);
    etcde_session_destroy(s);
    free(w);
    free(at);
}

int main(int argc, char **argv) {
    etcde_options o;
    const char *endpoints = "127.0.0.1:2379";
    int i, runs = 30, n = 100;
    if (argc < 2) die("usage: inproc handover|campaign|lock|scale -endpoints E [-runs R] [-n N]");
    for (i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-endpoints"))
            endpoints = argv[i + 1];
        else if (!strcmp(argv[i], "-runs"))
            runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-n"))
            n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-prefix"))
            prefix = argv[i + 1];
        else
            die("unknown flag %s", argv[i]);
    }
    if (i != argc || runs < 1 || n < 1) die("bad arguments");
    memset(&o, 0, sizeof o);
    o.endpoints = endpoints;
    if (getenv("INPROC_LOG")) { /* the library's own account, for a run that looks wrong */
        o.log = log_stderr;
        o.log_level = ETCDE_LOG_INFO;
    }
    if (etcde_client_create(&o, &cli) != ETCDE_OK) die("client: %s", etcde_client_errmsg(NULL));
    if (!strcmp(argv[1], "handover"))
        handover(runs);
    else if (!strcmp(argv[1], "campaign"))
        campaign(runs);
    else if (!strcmp(argv[1], "lock"))
        lock(runs);
    else if (!strcmp(argv[1], "scale"))
        scale(n);
    else
        die("unknown scenario %s", argv[1]);
    fflush(stdout);
    etcde_client_destroy(cli);
    return 0;
}
