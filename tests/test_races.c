/* Thread races on one client, against private etcds: re-authentication while several
   threads share one token, per-thread creation error messages, cancel racing uncancel
   (from threads and from a signal handler), closing a session from its own on_lost
   callback, a close that must publish the loss before the revoke frees the lock, and
   re-entrant lock/campaign calls that fail or are cancelled half-way. Meant to run clean
   plain, under ThreadSanitizer and under ASan+UBSan. */
#include "etcdt_test.h"
#include "etcdt_etcd.h"
#include "etcdt_proxy.h"
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sanitizers slow CPU-bound loops down a lot; fewer rounds keep the run bounded. */
#if defined(__SANITIZE_THREAD__)
#define RACES_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RACES_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RACES_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RACES_ASAN 1
#endif
#endif
#if defined(RACES_TSAN) || defined(RACES_ASAN)
#define SCALED(n) ((n) / 2 > 0 ? (n) / 2 : 1)
#else
#define SCALED(n) (n)
#endif

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define BUMP(p) __atomic_add_fetch((p), 1, __ATOMIC_ACQ_REL)

/* ---- sanitizer reports, counted per test ---------------------------------------------
   A sanitizer report printed in the middle of a test should fail that test, not only the
   exit status at the very end. The runtimes call this hook once per report. */
#if defined(RACES_TSAN) || defined(RACES_ASAN)
void __sanitizer_report_error_summary(const char *summary);
static int sanitizer_reports;
void __sanitizer_report_error_summary(const char *summary) {
    ssize_t w;
    BUMP(&sanitizer_reports);
    w = write(2, summary, strlen(summary));
    w = write(2, "\n", 1);
    (void)w;
}
#define REPORTS() LOAD(&sanitizer_reports)
#else
#define REPORTS() 0
#endif

#define NO_NEW_REPORTS(before) \
    CHECKF(REPORTS() == (before), "%d sanitizer report(s) during this test", REPORTS() - (before))

static etcdt_cluster *cl; /* plain etcd, no auth */
static int name_seq;

static const char *fresh_name(char *buf, size_t cap, const char *what) {
    snprintf(buf, cap, "races-%s-%d-%d", what, (int)getpid(), ++name_seq);
    return buf;
}

static etcde_client *client_at(const char *endpoints, const char *user, const char *password,
                               int req_ms) {
    etcde_options o = {0};
    etcde_client *c = NULL;
    o.endpoints = endpoints;
    o.user = user;
    o.password = password;
    o.request_timeout_ms = req_ms;
    return etcde_client_create(&o, &c) == ETCDE_OK ? c : NULL;
}

static etcde_session *session_on(etcde_client *c, int ttl) {
    etcde_session_options so = {0};
    etcde_session *s = NULL;
    so.ttl_s = ttl;
    return etcde_session_create(c, &so, &s) == ETCDE_OK ? s : NULL;
}

/* Polls an atomic flag until it holds `want` or ms pass; 1 if it does. */
static int wait_for(int *flag, int want, int ms) {
    int64_t end = etcdt_now_ms() + ms;
    while (LOAD(flag) != want) {
        if (etcdt_now_ms() >= end) return 0;
        etcdt_sleep_ms(1);
    }
    return 1;
}

/* Threads may not use CHECK (it writes shared test state): each keeps its own tally and
   the first failure's text, and the main thread reports them after the join. */
typedef struct tally {
    int n;
    char first[400];
} tally;

static void note(tally *t, const char *fmt, ...) ETCDT_PRINTF(2, 3);
static void note(tally *t, const char *fmt, ...) {
    va_list ap;
    if (t->n++) return;
    va_start(ap, fmt);
    vsnprintf(t->first, sizeof t->first, fmt, ap);
    va_end(ap);
}

/* A tiny per-thread PRNG for jitter (rand() is not thread-safe). */
static unsigned rnd(unsigned *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void nap_us(long us) {
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Spins for a random short while, to shift two racing threads against each other. */
static void jitter(unsigned *s, unsigned max_spins) {
    volatile unsigned i, n = max_spins ? rnd(s) % max_spins : 0;
    for (i = 0; i < n; i++) {}
}

/* ---- signal handlers ----------------------------------------------------------------- */

static etcde_client *sig_cancel_client;  /* atomic: what SIGUSR1 cancels */
static int sig_cancels;                  /* atomic: SIGUSR1 handlers finished */
static const etcde_election *sig_handle; /* atomic: what SIGUSR2 samples ... */
static int sig_sample;                   /* atomic: ... and what it saw */
static int sig_samples;                  /* atomic: SIGUSR2 handlers finished */

static void on_sigusr1(int sig) {
    int saved = errno;
    etcde_client *c = LOAD(&sig_cancel_client);
    (void)sig;
    if (c) etcde_client_cancel(c);
    BUMP(&sig_cancels);
    errno = saved;
}

static void on_sigusr2(int sig) {
    int saved = errno;
    const etcde_election *h = LOAD(&sig_handle);
    (void)sig;
    STORE(&sig_sample, h ? etcde_is_leader(h) : -1);
    BUMP(&sig_samples);
    errno = saved;
}

/* etcde_is_leader as seen from a signal handler on this thread:
   0 or 1, or -1 if the handler did not run. */
static int sampled_in_handler(const etcde_election *h) {
    int before = LOAD(&sig_samples), i;
    STORE(&sig_handle, h);
    pthread_kill(pthread_self(), SIGUSR2);
    for (i = 0; i < 2000 && LOAD(&sig_samples) == before; i++) etcdt_sleep_ms(1);
    STORE(&sig_handle, NULL);
    return LOAD(&sig_samples) == before ? -1 : LOAD(&sig_sample);
}

static int count_tasks(void) {
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    int n = 0;
    if (!d) return -1;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* ======================================================================================
   1. Re-authentication on one client shared by many threads
   ====================================================================================== */

#define AUTH_PW "r00t-pw"
#define USER_PW "alice-pw"
#define AUTH_WORKERS 4
#define AUTH_PHASES 3

static int reauth_logs; /* atomic */

static void count_reauth(int level, const char *msg, void *ud) {
    (void)level;
    (void)ud;
    if (strstr(msg, "authenticating again")) BUMP(&reauth_logs);
}

static int long_lost; /* atomic: on_lost calls of the long-lived sessions */

static void count_lost(etcde_session *s, etcde_result reason, const char *detail, void *ud) {
    (void)s;
    (void)reason;
    (void)detail;
    (void)ud;
    BUMP(&long_lost);
}

typedef struct auth_worker {
    int id;
    etcde_client *c;
    pthread_barrier_t *bar;
    int *stop; /* atomic: the current burst is over */
    etcde_session *long_s;
    int cycles;
    tally t;
    pthread_t th;
} auth_worker;

#define WANT(w, call, want, detail)                                             \
    do {                                                                        \
        etcde_result r_ = (call);                                               \
        if (r_ != (want))                                                       \
            note(&(w)->t, "worker %d: %s gave %s, want %s: %s", (w)->id, #call, \
                 etcde_strerror(r_), etcde_strerror(want), (detail));           \
    } while (0)

/* One full round of everything a client does, on its own names, so every result is
   known in advance: a new session, campaign, leader, proclaim, fenced put, lock, fenced
   put under the lock, unlock, resign, close. */
static void auth_cycle(auth_worker *w) {
    char el[64], lk[64], data[64], v1[32], v2[32];
    etcde_session *s = NULL;
    etcde_election *e = NULL;
    etcde_election *m = NULL;
    etcde_kv kv;
    etcde_result r;
    snprintf(el, sizeof el, "race/el-%d", w->id);
    snprintf(lk, sizeof lk, "race/lk-%d", w->id);
    snprintf(data, sizeof data, "race/data-%d", w->id);
    snprintf(v1, sizeof v1, "w%d-%d", w->id, w->cycles);
    snprintf(v2, sizeof v2, "w%d-%d'", w->id, w->cycles);
    w->cycles++;
    s = session_on(w->c, 5);
    if (!s) {
        note(&w->t, "worker %d: session create failed: %s", w->id, etcde_client_errmsg(w->c));
        return;
    }
    if (etcde_election_create(w->c, s, el, &e) || etcde_election_create(w->c, s, lk, &m)) {
        note(&w->t, "worker %d: election/mutex create failed: %s", w->id,
             etcde_client_errmsg(w->c));
        goto out;
    }
    WANT(w, etcde_campaign(e, v1, strlen(v1), 5000), ETCDE_OK, etcde_election_errmsg(e));
    r = etcde_leader(e, &kv);
    if (r != ETCDE_OK || kv.value_len != strlen(v1) || memcmp(kv.value, v1, kv.value_len) != 0)
        note(&w->t, "worker %d: leader gave %s (%s), want value %s", w->id, etcde_strerror(r),
             etcde_election_errmsg(e), v1);
    WANT(w, etcde_proclaim(e, v2, strlen(v2)), ETCDE_OK, etcde_election_errmsg(e));
    WANT(w, etcde_election_put(e, data, v2, strlen(v2)), ETCDE_OK, etcde_election_errmsg(e));
    WANT(w, etcde_lock(m, 5000), ETCDE_OK, etcde_election_errmsg(m));
    WANT(w, etcde_election_put(m, data, v1, strlen(v1)), ETCDE_OK, etcde_election_errmsg(m));
    WANT(w, etcde_unlock(m), ETCDE_OK, etcde_election_errmsg(m));
    WANT(w, etcde_resign(e), ETCDE_OK, etcde_election_errmsg(e));
    WANT(w, etcde_leader(e, &kv), ETCDE_ERR_NO_LEADER, etcde_election_errmsg(e));
    WANT(w, etcde_session_close(s), ETCDE_OK, etcde_session_errmsg(s));
out:
    etcde_election_destroy(m);
    etcde_election_destroy(e);
    etcde_session_destroy(s);
}

static void *auth_worker_main(void *p) {
    auth_worker *w = (auth_worker *)p;
    int ph;
    for (ph = 0; ph < AUTH_PHASES; ph++) {
        pthread_barrier_wait(w->bar); /* all workers start a burst together */
        if (ph == 0 && w->id < 2) {   /* sessions whose keepalives run through every phase */
            etcde_session_options so = {0};
            so.ttl_s = 2;
            so.on_lost = count_lost;
            if (etcde_session_create(w->c, &so, &w->long_s) != ETCDE_OK)
                note(&w->t, "worker %d: long session: %s", w->id, etcde_client_errmsg(w->c));
        }
        do auth_cycle(w);
        while (!LOAD(w->stop));
        pthread_barrier_wait(w->bar);
    }
    return NULL;
}

ETCDT_TEST(reauth_races_on_one_client) {
    /* Tokens live 1 s at this etcd, but every use extends them, so busy threads keep one
       alive: each burst is followed by an idle gap long enough for it to expire. The first
       burst starts on a client with no token yet; the later ones on an expired token. Either
       way all workers find out at once and re-authenticate concurrently, while the
       long-lived sessions' keepalive threads keep sending requests. */
    etcdt_cluster *acl;
    etcde_options o = {0};
    etcde_client *c = NULL;
    auth_worker w[AUTH_WORKERS];
    pthread_barrier_t bar;
    int stop = 0, i, ph, reports = REPORTS(), cycles = 0;
    char out[4096];
    acl = etcdt_cluster_start(1, "--auth-token=simple --auth-token-ttl=1");
    REQUIRE(acl != NULL);
    if (etcdt_etcdctl(acl, out, sizeof out, 10000, "user", "add", "root:" AUTH_PW, NULL) != 0 ||
        etcdt_etcdctl(acl, out, sizeof out, 10000, "user", "add", "alice:" USER_PW, NULL) != 0 ||
        etcdt_etcdctl(acl, out, sizeof out, 10000, "role", "add", "race-rw", NULL) != 0 ||
        etcdt_etcdctl(acl, out, sizeof out, 10000, "role", "grant-permission", "race-rw",
                      "--prefix=true", "readwrite", "race/", NULL) != 0 ||
        etcdt_etcdctl(acl, out, sizeof out, 10000, "user", "grant-role", "alice", "race-rw",
                      NULL) != 0 ||
        etcdt_etcdctl(acl, out, sizeof out, 10000, "auth", "enable", NULL) != 0) {
        CHECKF(0, "auth setup failed: %s", out);
        etcdt_cluster_stop(acl);
        return;
    }
    STORE(&reauth_logs, 0);
    STORE(&long_lost, 0);
    o.endpoints = etcdt_endpoints(acl);
    o.user = "alice";
    o.password = USER_PW;
    o.request_timeout_ms = 5000;
    o.log = count_reauth;
    o.log_level = ETCDE_LOG_INFO;
    if (etcde_client_create(&o, &c) != ETCDE_OK) {
        CHECKF(0, "client create failed");
        etcdt_cluster_stop(acl);
        return;
    }
    pthread_barrier_init(&bar, NULL, AUTH_WORKERS + 1);
    memset(w, 0, sizeof w);
    for (i = 0; i < AUTH_WORKERS; i++) {
        w[i].id = i;
        w[i].c = c;
        w[i].bar = &bar;
        w[i].stop = &stop;
        pthread_create(&w[i].th, NULL, auth_worker_main, &w[i]);
    }
    for (ph = 0; ph < AUTH_PHASES; ph++) {
        if (ph > 0)
            etcdt_sleep_ms(2300); /* idle: etcd drops a token unused for TTL + its 1 s tick */
        STORE(&stop, 0);
        pthread_barrier_wait(&bar);
        etcdt_sleep_ms(700); /* the burst: a duration, not an ordering */
        STORE(&stop, 1);
        pthread_barrier_wait(&bar);
    }
    for (i = 0; i < AUTH_WORKERS; i++) {
        pthread_join(w[i].th, NULL);
        cycles += w[i].cycles;
        CHECKF(w[i].t.n == 0, "%d unexpected result(s); first: %s", w[i].t.n, w[i].t.first);
    }
    for (i = 0; i < 2; i++) {
        CHECKF(w[i].long_s && (etcde_session_remaining_ms(w[i].long_s) > 0),
               "long session %d lost: %s", i,
               w[i].long_s ? etcde_session_errmsg(w[i].long_s) : "never created");
    }
    CHECKF(LOAD(&long_lost) == 0, "%d long session(s) reported lost", LOAD(&long_lost));
    /* the test is only worth its time if tokens really expired and were replaced */
    CHECKF(LOAD(&reauth_logs) >= AUTH_PHASES - 1,
           "only %d re-authentications after rejected tokens", LOAD(&reauth_logs));
    if (getenv("ETCDT_VERBOSE"))
        printf("  %d cycles, %d re-authentications after rejected tokens\n", cycles,
               LOAD(&reauth_logs));
    for (i = 0; i < 2; i++) etcde_session_destroy(w[i].long_s);
    pthread_barrier_destroy(&bar);
    etcde_client_destroy(c);
    etcdt_cluster_stop(acl);
    NO_NEW_REPORTS(reports);
}

/* ======================================================================================
   2. etcde_client_errmsg is the calling thread's own
   ====================================================================================== */

#define MSG_THREADS 4

typedef struct msg_worker {
    int id, rounds;
    etcde_client *c;
    pthread_barrier_t *bar;
    tally t;
    pthread_t th;
} msg_worker;

static void *fail_alloc(size_t n, void *ud) {
    (void)n;
    (void)ud;
    return NULL;
}

/* A client_create that fails, in one of four ways chosen by k. */
static etcde_result failed_client_create(int id, int k) {
    etcde_options o = {0};
    etcde_client *c = NULL;
    char ep[64];
    etcde_result r;
    switch (k % 4) {
    case 0: /* a port past 65535, different per thread */
        snprintf(ep, sizeof ep, "127.0.0.1:%d", 70000 + id * 1000 + k % 1000);
        o.endpoints = ep;
        break;
    case 1: o.endpoints = "[::1"; break;
    case 2:
        o.endpoints = etcdt_endpoints(cl);
        o.dial_timeout_ms = -1;
        break;
    default: /* half an allocator */
        o.endpoints = etcdt_endpoints(cl);
        o.allocator.alloc_fn = fail_alloc;
        break;
    }
    r = etcde_client_create(&o, &c);
    if (c) etcde_client_destroy(c);
    return r;
}

static void *msg_worker_main(void *p) {
    msg_worker *w = (msg_worker *)p;
    int k, i;
    for (k = 0; k < w->rounds; k++) {
        /* a lease id nobody was granted, its hex unique to this thread and round */
        int64_t lease = (int64_t)0x7ace00000000LL + (int64_t)w->id * 0x100000 + k;
        char hex[32], mine[600], own0[600];
        etcde_session_options so = {0};
        etcde_session *s = NULL;
        etcde_result r;
        snprintf(hex, sizeof hex, "%llx", (unsigned long long)lease);
        so.lease_id = lease;
        r = etcde_session_create(w->c, &so, &s);
        if (r == ETCDE_OK || s) {
            note(&w->t, "thread %d: session on made-up lease %s was created", w->id, hex);
            etcde_session_destroy(s);
        }
        /* read at once, while the other threads are failing with their own ids */
        snprintf(mine, sizeof mine, "%s", etcde_client_errmsg(w->c));
        if (!strstr(mine, hex))
            note(&w->t, "thread %d, lease %s: errmsg right after: \"%s\"", w->id, hex, mine);
        pthread_barrier_wait(w->bar); /* now everybody has failed since */
        for (i = 0; i < 3; i++) {
            snprintf(mine, sizeof mine, "%s", etcde_client_errmsg(w->c));
            if (!strstr(mine, hex)) {
                note(&w->t, "thread %d, lease %s: errmsg after the others failed: \"%s\"", w->id,
                     hex, mine);
                break;
            }
            sched_yield();
        }
        pthread_barrier_wait(w->bar);
        /* the same for etcde_client_create, whose failures have no client to keep them */
        r = failed_client_create(w->id, k + w->id);
        if (r == ETCDE_OK) note(&w->t, "thread %d: a bad client_create succeeded", w->id);
        snprintf(own0, sizeof own0, "%s", etcde_client_errmsg(NULL));
        if (!own0[0])
            note(&w->t, "thread %d: etcde_client_errmsg(NULL) empty after a failed client_create",
                 w->id);
        pthread_barrier_wait(w->bar);
        if (strcmp(etcde_client_errmsg(NULL), own0) != 0)
            note(&w->t, "thread %d: errmsg(NULL) changed from \"%s\" to \"%s\" by other threads",
                 w->id, own0, etcde_client_errmsg(NULL));
        pthread_barrier_wait(w->bar);
    }
    return NULL;
}

ETCDT_TEST(client_errmsg_is_per_thread) {
    etcde_client *c = client_at(etcdt_endpoints(cl), NULL, NULL, 3000);
    msg_worker w[MSG_THREADS];
    pthread_barrier_t bar;
    int i, reports = REPORTS();
    REQUIRE(c != NULL);
    pthread_barrier_init(&bar, NULL, MSG_THREADS);
    memset(w, 0, sizeof w);
    for (i = 0; i < MSG_THREADS; i++) {
        w[i].id = i;
        w[i].rounds = SCALED(40);
        w[i].c = c;
        w[i].bar = &bar;
        pthread_create(&w[i].th, NULL, msg_worker_main, &w[i]);
    }
    for (i = 0; i < MSG_THREADS; i++) {
        pthread_join(w[i].th, NULL);
        CHECKF(w[i].t.n == 0, "%d wrong message(s); first: %s", w[i].t.n, w[i].t.first);
    }
    pthread_barrier_destroy(&bar);
    etcde_client_destroy(c);
    NO_NEW_REPORTS(reports);
}

/* ======================================================================================
   3. etcde_client_cancel racing etcde_client_uncancel
   ====================================================================================== */

typedef struct cancel_rig {
    etcde_client *c;
    etcde_election *ex;    /* X observes it; nobody ever leads it */
    etcde_election *probe; /* the main thread's fresh calls */
    /* X: blocks in etcde_observe until cancelled */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int x_go, x_quit; /* under mu */
    int x_armed;      /* atomic: X saw the first state and is watching */
    int x_done;       /* atomic: X returned, with x_r */
    etcde_result x_r;
    pthread_t x;
    /* Y cancels (directly, or through SIGUSR1 to W or to Z itself), Z uncancels */
    pthread_barrier_t start, end;
    int quit;   /* atomic */
    int y_busy; /* atomic: Y has signals to send this round */
    int y_n, z_n, z_until_y, use_signal, to_z;
    int y_cancels; /* atomic: Y's direct cancels completed */
    int goal;      /* completed cancels (direct or in handlers) once Y is through */
    unsigned y_seed, z_seed;
    pthread_t y, z, w;
} cancel_rig;

static int obs_cb(etcde_event_type type, const etcde_kv *leader, int64_t revision, void *ud) {
    cancel_rig *g = (cancel_rig *)ud;
    (void)type;
    (void)leader;
    (void)revision;
    STORE(&g->x_armed, 1);
    return 0;
}

static void *x_main(void *p) {
    cancel_rig *g = (cancel_rig *)p;
    int seen = 0;
    for (;;) {
        pthread_mutex_lock(&g->mu);
        while (g->x_go == seen && !g->x_quit) pthread_cond_wait(&g->cv, &g->mu);
        if (g->x_quit) {
            pthread_mutex_unlock(&g->mu);
            return NULL;
        }
        seen = g->x_go;
        pthread_mutex_unlock(&g->mu);
        g->x_r = etcde_observe(g->ex, obs_cb, g, -1);
        STORE(&g->x_done, 1);
    }
}

static void x_start(cancel_rig *g) {
    STORE(&g->x_armed, 0);
    STORE(&g->x_done, 0);
    pthread_mutex_lock(&g->mu);
    g->x_go++;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void *y_main(void *p) {
    cancel_rig *g = (cancel_rig *)p;
    for (;;) {
        int i;
        pthread_barrier_wait(&g->start);
        if (LOAD(&g->quit)) return NULL;
        for (i = 0; i < g->y_n; i++) {
            jitter(&g->y_seed, 3000);
            if (g->use_signal) {
                int before = LOAD(&sig_cancels);
                /* sometimes a byte for Z's drain loop to read first: the handler then has a
                   read to land behind */
                if (rnd(&g->y_seed) % 2) etcde_client_cancel(g->c);
                pthread_kill(g->to_z ? g->z : g->w, SIGUSR1);
                while (LOAD(&sig_cancels) == before)
                    sched_yield(); /* one at a time: they coalesce */
            } else {
                etcde_client_cancel(g->c);
                BUMP(&g->y_cancels);
            }
        }
        STORE(&g->y_busy, 0);
        pthread_barrier_wait(&g->end);
    }
}

static int cancels_completed(cancel_rig *g) {
    return g->use_signal ? LOAD(&sig_cancels) : LOAD(&g->y_cancels);
}

static void *z_main(void *p) {
    cancel_rig *g = (cancel_rig *)p;
    for (;;) {
        int i;
        pthread_barrier_wait(&g->start);
        if (LOAD(&g->quit)) return NULL;
        if (g->z_until_y) {
            /* Uncancel over and over until Y's last cancel has completed, and stop right
               after: when that cancel met an uncancel half-way, this was the last one. */
            while (cancels_completed(g) < g->goal) {
                jitter(&g->z_seed, g->to_z ? 50 : 200);
                etcde_client_uncancel(g->c);
            }
        } else {
            for (i = 0; i < g->z_n; i++) {
                jitter(&g->z_seed, 3000);
                etcde_client_uncancel(g->c);
            }
        }
        /* signals aimed at Z must land before the round ends (poll lets a sanitizer
           runtime deliver the ones it deferred) */
        while (LOAD(&g->y_busy)) poll(NULL, 0, 0);
        pthread_barrier_wait(&g->end);
    }
}

/* W only takes the SIGUSR1s; its handler cancels. */
static void *w_main(void *p) {
    cancel_rig *g = (cancel_rig *)p;
    while (!LOAD(&g->quit)) poll(NULL, 0, 20);
    return NULL;
}

static void cancel_rounds(int use_signal, int rounds) {
    /* static: if X never returns, it must not be left holding a dead stack frame */
    static cancel_rig rigs[2];
    cancel_rig *g = &rigs[use_signal];
    etcde_kv kv;
    char name[64];
    int i, reports = REPORTS(), cancelled_states = 0, stuck = 0;
    unsigned seed = 0x9e3779b9u ^ (unsigned)getpid();
    memset(g, 0, sizeof *g);
    g->c = client_at(etcdt_endpoints(cl), NULL, NULL, 3000);
    REQUIRE(g->c != NULL);
    fresh_name(name, sizeof name, "obs");
    REQUIRE(etcde_election_create(g->c, NULL, name, &g->ex) == ETCDE_OK);
    REQUIRE(etcde_election_create(g->c, NULL, name, &g->probe) == ETCDE_OK);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    pthread_barrier_init(&g->start, NULL, 3);
    pthread_barrier_init(&g->end, NULL, 3);
    g->use_signal = use_signal;
    g->y_seed = seed * 3 + 1;
    g->z_seed = seed * 7 + 5;
    STORE(&sig_cancel_client, g->c);
    pthread_create(&g->x, NULL, x_main, g);
    pthread_create(&g->w, NULL, w_main, g);
    pthread_create(&g->y, NULL, y_main, g);
    pthread_create(&g->z, NULL, z_main, g);
    for (i = 0; i < rounds; i++) {
        etcde_result p, q;
        etcde_session *s = NULL;
        int k, prefill;
        etcde_client_uncancel(g->c);
        x_start(g);
        if (!wait_for(&g->x_armed, 1, 5000)) {
            stuck = !LOAD(&g->x_done);
            CHECKF(0, "round %d: observe never reported the first state (%s)", i,
                   stuck ? "still running" : etcde_strerror(g->x_r));
            break;
        }
        /* the race: Y's cancels against Z's uncancels, in random numbers and offsets */
        g->y_n = 1 + (int)(rnd(&seed) % (use_signal ? 4 : 40));
        g->z_n = 1 + (int)(rnd(&seed) % (use_signal ? 12 : 3));
        g->to_z = use_signal && rnd(&seed) % 2; /* the handler then runs inside an uncancel */
        g->z_until_y = g->to_z || rnd(&seed) % 4 != 0;
        g->goal = cancels_completed(g) + g->y_n;
        /* Half the rounds start cancelled many times over (X returns at once then): the
           first uncancel has more to undo, which widens the window the race aims at. */
        prefill = rnd(&seed) % 2 ? 0 : 64 * (1 + (int)(rnd(&seed) % 16));
        for (k = 0; k < prefill; k++) etcde_client_cancel(g->c);
        STORE(&g->y_busy, 1);
        pthread_barrier_wait(&g->start);
        pthread_barrier_wait(&g->end);
        /* Nothing runs concurrently now. Whatever state the race left must be one state:
           fresh calls agree on it, and if they say "cancelled", a blocked call hears of it
           too (no lost wakeup). */
        p = etcde_leader(g->probe, &kv);
        CHECKF(p == ETCDE_ERR_NO_LEADER || p == ETCDE_ERR_CANCELLED, "round %d: leader gave %s: %s",
               i, etcde_strerror(p), etcde_election_errmsg(g->probe));
        /* session_create notices a cancel only while it waits, and etcd sometimes answers
           before it has to: one success proves little, five in a row mean waiting calls
           cannot see the cancel */
        for (k = 0; k < 5; k++) {
            s = NULL;
            q = etcde_session_create(g->c, NULL, &s);
            etcde_session_destroy(s);
            if (p != ETCDE_ERR_CANCELLED || q != ETCDE_OK) break;
        }
        CHECKF((p == ETCDE_ERR_CANCELLED) == (q == ETCDE_ERR_CANCELLED),
               "round %d (signal=%d): after the race a fresh leader call gives %s, fresh "
               "session_creates %s%s",
               i, use_signal, etcde_strerror(p), etcde_strerror(q),
               q == ETCDE_OK ? " five times (waiting calls do not see the cancel)" : "");
        if (p == ETCDE_ERR_CANCELLED) {
            cancelled_states++;
            if (!wait_for(&g->x_done, 1, 1000)) {
                CHECKF(0,
                       "round %d (signal=%d): a fresh call is cancelled, but observe still blocks "
                       "after 1 s "
                       "(lost wakeup)",
                       i, use_signal);
            }
        }
        /* a cancel that happens after the last uncancel finished always wakes X */
        if (use_signal) {
            int before = LOAD(&sig_cancels);
            pthread_kill(g->w, SIGUSR1);
            if (!wait_for(&sig_cancels, before + 1, 2000))
                CHECKF(0, "round %d: SIGUSR1 handler never ran", i);
        } else {
            etcde_client_cancel(g->c);
        }
        if (!wait_for(&g->x_done, 1, 1000)) {
            CHECKF(0, "round %d (signal=%d): observe still blocks 1 s after the final cancel", i,
                   use_signal);
            etcde_client_cancel(g->c); /* try once more to get X out */
            if (!wait_for(&g->x_done, 1, 3000)) {
                stuck = 1;
                break;
            }
        }
        CHECKF(g->x_r == ETCDE_ERR_CANCELLED, "round %d: observe returned %s: %s", i,
               etcde_strerror(g->x_r), etcde_election_errmsg(g->ex));
        /* every cancel has completed: after this uncancel nothing may stay cancelled */
        etcde_client_uncancel(g->c);
        p = etcde_leader(g->probe, &kv);
        CHECKF(p == ETCDE_ERR_NO_LEADER,
               "round %d (signal=%d): a call after the last uncancel gave %s: %s (stale cancel)", i,
               use_signal, etcde_strerror(p), etcde_election_errmsg(g->probe));
        if (etcdt_failed()) break; /* one failure says it all; keep the run short */
    }
    if (getenv("ETCDT_VERBOSE"))
        printf("  %d rounds, %d left cancelled by the race\n", i, cancelled_states);
    STORE(&g->quit, 1);
    STORE(&g->y_busy, 0);
    pthread_barrier_wait(&g->start);
    pthread_join(g->y, NULL);
    pthread_join(g->z, NULL);
    pthread_join(g->w, NULL);
    STORE(&sig_cancel_client, NULL);
    if (stuck) return; /* X still uses the client: leak rather than free under it */
    pthread_mutex_lock(&g->mu);
    g->x_quit = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->x, NULL);
    pthread_barrier_destroy(&g->start);
    pthread_barrier_destroy(&g->end);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    etcde_election_destroy(g->ex);
    etcde_election_destroy(g->probe);
    etcde_client_destroy(g->c);
    NO_NEW_REPORTS(reports);
}

ETCDT_TEST(cancel_races_uncancel) { cancel_rounds(0, SCALED(800)); }

ETCDT_TEST(cancel_from_signal_races_uncancel) { cancel_rounds(1, SCALED(500)); }

/* ======================================================================================
   4. etcde_session_close from the session's own on_lost callback
   ====================================================================================== */

typedef struct lost_ctx {
    int entered, closed, done; /* atomic */
    int64_t close_ms;
    int alive_after;
} lost_ctx;

static void close_in_callback(etcde_session *s, etcde_result reason, const char *detail, void *ud) {
    lost_ctx *x = (lost_ctx *)ud;
    int64_t t0 = etcdt_now_ms();
    (void)reason;
    (void)detail;
    STORE(&x->entered, 1);
    etcde_session_close(s); /* the lease is gone already: any result */
    x->close_ms = etcdt_now_ms() - t0;
    STORE(&x->closed, 1);
    /* a destroy that does not wait for this callback frees s while it sleeps */
    etcdt_sleep_ms(200);
    x->alive_after = (etcde_session_remaining_ms(s) > 0) + (etcde_session_errmsg(s)[0] == 0);
    STORE(&x->done, 1);
}

/* how: 0 revokes the lease behind the session's back, 1 cuts etcd off (a silent
   partition) so the local deadline passes */
static void close_from_on_lost(int how) {
    /* static: a callback that outlives destroy must not write into a dead stack frame */
    static lost_ctx ctxs[2];
    lost_ctx *x = &ctxs[how];
    etcdt_proxy px;
    etcde_session_options so = {0};
    etcde_client *c;
    etcde_session *s = NULL;
    char ep[64], hex[32], out[4096];
    int base, n = -1, reports = REPORTS();
    int64_t t;
    memset(x, 0, sizeof *x);
    if (how) {
        REQUIRE(etcdt_proxy_start(&px, etcdt_member_client_port(cl, 0)) == 0);
        snprintf(ep, sizeof ep, "127.0.0.1:%d", px.port);
    } else {
        snprintf(ep, sizeof ep, "%s", etcdt_endpoints(cl));
    }
    c = client_at(ep, NULL, NULL, 1000);
    base = count_tasks(); /* threads that exited lately may still be counted: only more is wrong
                             below */
    so.ttl_s = 2;
    so.on_lost = close_in_callback;
    so.user_data = x;
    if (!c || etcde_session_create(c, &so, &s) != ETCDE_OK) {
        CHECKF(0, "setup failed: %s", c ? etcde_client_errmsg(c) : "no client");
        goto out;
    }
    if (how) {
        etcdt_proxy_partition(&px, 1);
    } else {
        snprintf(hex, sizeof hex, "%llx", (unsigned long long)etcde_session_lease(s));
        CHECKF(etcdt_etcdctl(cl, out, sizeof out, 10000, "lease", "revoke", hex, NULL) == 0,
               "revoke: %s", out);
    }
    if (!wait_for(&x->closed, 1, 10000)) {
        /* a close that hangs on its own thread: s cannot be freed safely any more */
        CHECKF(0, "etcde_session_close inside on_lost did not return within 10 s (entered=%d)",
               LOAD(&x->entered));
        s = NULL;
        c = NULL;
        goto out;
    }
    CHECKF(x->close_ms < 1000 + 2000, "close inside on_lost took %lld ms", (long long)x->close_ms);
    CHECK(etcde_session_remaining_ms(s) == 0);
    t = etcdt_now_ms();
    etcde_session_destroy(s);
    s = NULL;
    if (LOAD(&x->done) != 1) {
        CHECKF(0, "etcde_session_destroy returned after %lld ms while on_lost was still running",
               (long long)(etcdt_now_ms() - t));
        wait_for(&x->done, 1, 3000); /* let it finish before anything else runs */
    }
    CHECK(x->alive_after == 0);
    /* the keepalive thread is gone, not left behind: an exited thread may linger in
       /proc for a moment after its join */
    for (t = etcdt_now_ms() + 3000; etcdt_now_ms() < t; etcdt_sleep_ms(5))
        if ((n = count_tasks()) <= base) break;
    CHECKF(n <= base, "%d threads after destroy, %d before the session", n, base);
out:
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    if (how) {
        etcdt_proxy_partition(&px, 0);
        etcdt_proxy_stop(&px);
    }
    NO_NEW_REPORTS(reports);
}

ETCDT_TEST(close_in_on_lost_after_revoke) { close_from_on_lost(0); }

ETCDT_TEST(close_in_on_lost_after_partition) { close_from_on_lost(1); }

/* ======================================================================================
   5. etcde_session_close publishes the loss before the revoke frees the lock
   ====================================================================================== */

typedef struct next_holder {
    etcde_election *m2, *m1;
    etcde_result r;
    int m1_locked; /* what etcde_is_leader(m1) said right after m2 was granted */
} next_holder;

static void *next_holder_main(void *p) {
    next_holder *h = (next_holder *)p;
    h->r = etcde_lock(h->m2, 10000);
    h->m1_locked = etcde_is_leader(h->m1);
    return NULL;
}

ETCDT_TEST(close_publishes_loss_before_revoke) {
    etcde_client *ca = client_at(etcdt_endpoints(cl), NULL, NULL, 3000);
    etcde_client *cb = client_at(etcdt_endpoints(cl), NULL, NULL, 3000);
    etcde_session *s2 = NULL;
    etcde_election *m2 = NULL;
    char name[64];
    int i, n = SCALED(150), both = 0, reports = REPORTS();
    REQUIRE(ca && cb);
    fresh_name(name, sizeof name, "lk");
    s2 = session_on(cb, 10);
    REQUIRE(s2 && etcde_election_create(cb, s2, name, &m2) == ETCDE_OK);
    for (i = 0; i < n; i++) {
        etcde_session *s1 = session_on(ca, 10);
        etcde_election *m1 = NULL;
        next_holder h;
        pthread_t th;
        if (!s1 || etcde_election_create(ca, s1, name, &m1) != ETCDE_OK) {
            CHECKF(0, "iteration %d: setup failed: %s", i, etcde_client_errmsg(ca));
            etcde_session_destroy(s1);
            break;
        }
        if (etcde_lock(m1, 5000) != ETCDE_OK) {
            CHECKF(0, "iteration %d: lock: %s", i, etcde_election_errmsg(m1));
        } else {
            int64_t end = etcdt_now_ms() + 5000;
            h.m1 = m1;
            h.m2 = m2;
            h.r = ETCDE_ERR_STATE;
            h.m1_locked = -1;
            pthread_create(&th, NULL, next_holder_main, &h);
            /* B's key is in the queue behind m1 once it has a create revision; its watch
               starts from that revision, so it cannot miss the delete */
            while (etcde_election_rev(m2) == 0 && etcdt_now_ms() < end) nap_us(50);
            CHECKF(etcde_election_rev(m2) > 0, "iteration %d: the waiter never queued", i);
            CHECKF(etcde_session_close(s1) == ETCDE_OK, "iteration %d: close: %s", i,
                   etcde_session_errmsg(s1));
            CHECK(!etcde_is_leader(m1));
            pthread_join(th, NULL);
            CHECKF(h.r == ETCDE_OK, "iteration %d: waiter: %s: %s", i, etcde_strerror(h.r),
                   etcde_election_errmsg(m2));
            if (h.m1_locked != 0) both++;
            CHECK(etcde_unlock(m2) == ETCDE_OK);
        }
        etcde_election_destroy(m1);
        etcde_session_destroy(s1);
        if (etcdt_failed() && i >= 20) break;
    }
    CHECKF(
        both == 0,
        "%d of %d times the new holder got the lock while etcde_is_leader(old holder) was still 1",
        both, i);
    etcde_election_destroy(m2);
    etcde_session_destroy(s2);
    etcde_client_destroy(ca);
    etcde_client_destroy(cb);
    NO_NEW_REPORTS(reports);
}

/* ======================================================================================
   6. Re-entrant lock / campaign that fails half-way
   ====================================================================================== */

typedef struct pair {
    etcde_client *ca, *cb;
    etcde_session *sa, *sb;
    etcde_election *ma, *mb; /* same lock name */
    etcde_election *ea, *eb; /* same election name */
} pair;

static int pair_open(pair *p) {
    char lk[64], el[64];
    memset(p, 0, sizeof *p);
    fresh_name(lk, sizeof lk, "relk");
    fresh_name(el, sizeof el, "reel");
    p->ca = client_at(etcdt_endpoints(cl), NULL, NULL, 3000);
    p->cb = client_at(etcdt_endpoints(cl), NULL, NULL, 3000);
    if (!p->ca || !p->cb) return -1;
    p->sa = session_on(p->ca, 10);
    p->sb = session_on(p->cb, 10);
    if (!p->sa || !p->sb) return -1;
    if (etcde_election_create(p->ca, p->sa, lk, &p->ma) ||
        etcde_election_create(p->cb, p->sb, lk, &p->mb))
        return -1;
    if (etcde_election_create(p->ca, p->sa, el, &p->ea) ||
        etcde_election_create(p->cb, p->sb, el, &p->eb))
        return -1;
    return 0;
}

static void pair_close(pair *p) {
    etcde_election_destroy(p->ma);
    etcde_election_destroy(p->mb);
    etcde_election_destroy(p->ea);
    etcde_election_destroy(p->eb);
    etcde_session_destroy(p->sa);
    etcde_session_destroy(p->sb);
    etcde_client_destroy(p->ca);
    etcde_client_destroy(p->cb);
}

/* After a re-entrant call on ma failed somehow: ma's claim and the key at etcd must
   agree. If ma says it holds the lock, another session cannot take it; if another
   session took it, ma says it does not hold it -- from a thread and from a handler. */
static void check_lock_consistent(pair *p, const char *what, int i) {
    int held = etcde_is_leader(p->ma), in_handler = sampled_in_handler(p->ma);
    etcde_result t = etcde_trylock(p->mb);
    CHECKF(in_handler == held, "%s #%d: is_leader %d in a thread, %d in a signal handler", what, i,
           held, in_handler);
    if (held)
        CHECKF(t == ETCDE_ERR_LOCKED, "%s #%d: is_leader(a) is 1, yet b's trylock gave %s", what, i,
               etcde_strerror(t));
    if (t == ETCDE_OK) {
        CHECKF(!etcde_is_leader(p->ma) && sampled_in_handler(p->ma) == 0,
               "%s #%d: b holds the lock while is_leader(a) is 1", what, i);
        CHECK(etcde_unlock(p->mb) == ETCDE_OK);
    } else {
        CHECKF(t == ETCDE_ERR_LOCKED, "%s #%d: trylock gave %s: %s", what, i, etcde_strerror(t),
               etcde_election_errmsg(p->mb));
    }
    CHECK(etcde_unlock(p->ma) == ETCDE_OK);
}

ETCDT_TEST(reentrant_lock_timeout_stays_consistent) {
    pair p;
    int i, reports = REPORTS();
    REQUIRE(pair_open(&p) == 0);
    for (i = 0; i < 16 && !etcdt_failed(); i++) {
        etcde_result r = etcde_lock(p.ma, 5000);
        if (r != ETCDE_OK) {
            CHECKF(0, "#%d: lock: %s", i, etcde_election_errmsg(p.ma));
            break;
        }
        r = etcde_lock(p.ma, i % 2); /* 0 or 1 ms: usually too short for the round trip */
        CHECKF(r == ETCDE_OK || r == ETCDE_ERR_TIMEOUT, "#%d: re-entrant lock gave %s", i,
               etcde_strerror(r));
        check_lock_consistent(&p, "lock timeout", i);
    }
    pair_close(&p);
    NO_NEW_REPORTS(reports);
}

typedef struct reentrant_arg {
    pair *p;
    int election;
    int holding; /* atomic */
    etcde_result first, last;
    int calls;
} reentrant_arg;

/* Takes the lock (or leadership) fresh, then repeats the re-entrant call until the
   cancel stops it. */
static void *reentrant_main(void *v) {
    reentrant_arg *a = (reentrant_arg *)v;
    etcde_result r;
    a->first = a->election ? etcde_campaign(a->p->ea, "A1", 2, 5000) : etcde_lock(a->p->ma, 5000);
    STORE(&a->holding, 1);
    r = a->first;
    while (r == ETCDE_OK && a->calls < 100000) {
        r = a->election ? etcde_campaign(a->p->ea, a->calls % 2 ? "A2" : "A1", 2, -1)
                        : etcde_lock(a->p->ma, -1);
        a->calls++;
    }
    a->last = r;
    return NULL;
}

static void check_leader_consistent(pair *p, const char *what, int i, int wait_ms);

static void reentrant_cancelled(int election) {
    pair p;
    int i, n = SCALED(30), reports = REPORTS();
    unsigned seed = 0x2545f491u ^ (unsigned)getpid();
    REQUIRE(pair_open(&p) == 0);
    STORE(&sig_cancel_client, p.ca);
    for (i = 0; i < n && !etcdt_failed(); i++) {
        reentrant_arg a;
        pthread_t th;
        int before = LOAD(&sig_cancels);
        memset(&a, 0, sizeof a);
        a.p = &p;
        a.election = election;
        pthread_create(&th, NULL, reentrant_main, &a);
        if (!wait_for(&a.holding, 1, 10000)) {
            CHECKF(0, "#%d: never took the lock", i);
            break;
        }
        nap_us((long)(rnd(&seed) % 3000)); /* lands the cancel at a random point of a call */
        pthread_kill(th, SIGUSR1);
        pthread_join(th, NULL);
        if (a.first != ETCDE_OK) {
            CHECKF(0, "#%d: first call: %s", i, etcde_strerror(a.first));
            break;
        }
        CHECKF(LOAD(&sig_cancels) == before + 1, "#%d: the handler ran %d times", i,
               LOAD(&sig_cancels) - before);
        CHECKF(a.last == ETCDE_ERR_CANCELLED, "#%d: re-entrant call ended with %s", i,
               etcde_strerror(a.last));
        etcde_client_uncancel(p.ca);
        if (election)
            check_leader_consistent(&p, "cancelled campaign", i, 150);
        else
            check_lock_consistent(&p, "cancelled lock", i);
    }
    STORE(&sig_cancel_client, NULL);
    pair_close(&p);
    NO_NEW_REPORTS(reports);
}

ETCDT_TEST(reentrant_lock_cancelled_by_signal_stays_consistent) { reentrant_cancelled(0); }

/* The election counterpart: if a still says it leads, etcd's leader is a's key and
   b's campaign cannot win; if b won, a says it does not lead. */
static void check_leader_consistent(pair *p, const char *what, int i, int wait_ms) {
    int lead = etcde_is_leader(p->ea), in_handler = sampled_in_handler(p->ea);
    etcde_kv kv;
    etcde_result r;
    CHECKF(in_handler == lead, "%s #%d: is_leader %d in a thread, %d in a signal handler", what, i,
           lead, in_handler);
    if (lead) {
        r = etcde_leader(p->eb, &kv);
        CHECKF(r == ETCDE_OK && kv.create_rev == etcde_election_rev(p->ea),
               "%s #%d: is_leader(a) is 1 but etcd's leader is %s (rev %lld, a's %lld)", what, i,
               r == ETCDE_OK ? kv.key : etcde_strerror(r),
               (long long)(r == ETCDE_OK ? kv.create_rev : 0),
               (long long)etcde_election_rev(p->ea));
    }
    r = etcde_campaign(p->eb, "B", 1, wait_ms);
    if (lead) CHECKF(r != ETCDE_OK, "%s #%d: is_leader(a) is 1, yet b's campaign won", what, i);
    if (r == ETCDE_OK) {
        CHECKF(!etcde_is_leader(p->ea) && sampled_in_handler(p->ea) == 0,
               "%s #%d: b leads while is_leader(a) is 1", what, i);
    } else {
        CHECKF(r == ETCDE_ERR_TIMEOUT, "%s #%d: b's campaign gave %s: %s", what, i,
               etcde_strerror(r), etcde_election_errmsg(p->eb));
    }
    CHECK(etcde_resign(p->eb) == ETCDE_OK);
    CHECK(etcde_resign(p->ea) == ETCDE_OK);
}

ETCDT_TEST(reentrant_campaign_timeout_stays_consistent) {
    pair p;
    int i, reports = REPORTS();
    REQUIRE(pair_open(&p) == 0);
    for (i = 0; i < 10 && !etcdt_failed(); i++) {
        if (etcde_campaign(p.ea, "A1", 2, 5000) != ETCDE_OK) {
            CHECKF(0, "#%d: campaign: %s", i, etcde_election_errmsg(p.ea));
            break;
        }
        etcde_campaign(p.ea, "A2", 2, i % 2); /* a new value, 0 or 1 ms: any result */
        check_leader_consistent(&p, "campaign timeout", i, 150);
    }
    pair_close(&p);
    NO_NEW_REPORTS(reports);
}

ETCDT_TEST(reentrant_campaign_cancelled_by_signal_stays_consistent) { reentrant_cancelled(1); }

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(reauth_races_on_one_client),
        ETCDT_CASE(client_errmsg_is_per_thread),
        ETCDT_CASE(cancel_races_uncancel),
        ETCDT_CASE(cancel_from_signal_races_uncancel),
        ETCDT_CASE(close_in_on_lost_after_revoke),
        ETCDT_CASE(close_in_on_lost_after_partition),
        ETCDT_CASE(close_publishes_loss_before_revoke),
        ETCDT_CASE(reentrant_lock_timeout_stays_consistent),
        ETCDT_CASE(reentrant_lock_cancelled_by_signal_stays_consistent),
        ETCDT_CASE(reentrant_campaign_timeout_stays_consistent),
        ETCDT_CASE(reentrant_campaign_cancelled_by_signal_stays_consistent),
    };
    struct sigaction sa;
    int rc;
    signal(SIGPIPE, SIG_IGN);
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_sigusr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_sigusr2;
    sigaction(SIGUSR2, &sa, NULL);
    cl = etcdt_cluster_start(1, NULL);
    if (!cl) {
        fprintf(stderr, "could not start etcd\n0 passed, 1 failed\n");
        return 1;
    }
    rc = etcdt_run("races", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    etcdt_cluster_stop(cl);
    return rc;
}
