/* Interop with etcd's own Go recipe (client/v3/concurrency) on one private etcd: for every
   Go peer in $ETCDT_GOPEERS (build/etcd-<v>/gopeer, built by tests/go/build.sh) the demos
   hand over both ways, our mutex and Go's share one FIFO queue, each side observes the
   other's leader, and Go's Unlock after its key vanished returns what its source says.
   The server is the `etcd` first on PATH. Not a test_*.c: `make test` must not need Go.

     ETCDT_GOPEERS="build/etcd-3.5.33/gopeer build/etcd-3.6.14/gopeer" build/tests/interop_go */
#include "etcdt_test.h"
#include "etcdt_proc.h"
#include "etcdt_etcd.h"
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"
#include "cand.h"

#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PEERS 8
#define NCASES 4      /* cases per peer */
#define STEP_MS 10000 /* any single step; generous for a loaded 2-core machine */

typedef struct peer {
    const char *path;
    char version[32]; /* client module version, "3.6.14" */
    int minor;        /* 6 */
} peer;

static etcdt_cluster *cl;
static peer peers[MAX_PEERS];
static char case_names[MAX_PEERS * NCASES][96];
static const peer *case_peer[MAX_PEERS * NCASES];
static int ncases;
static char demo_path[PATH_MAX];
static int name_seq;

/* The peer of the running case: etcdt_run passes no argument, so look the name up. */
static const peer *cur(void) {
    int i;
    for (i = 0; i < ncases; i++)
        if (case_names[i] == etcdt__case) return case_peer[i];
    return &peers[0];
}

static const char *fresh_name(char *buf, size_t cap, const char *what) {
    snprintf(buf, cap, "go%d-%s-%d-%d", cur()->minor, what, (int)getpid(), ++name_seq);
    return buf;
}

/* Reads lines until one equals `want`; 1 if seen within ms. The last line read goes to
   `last` (for the failure message). */
static int wait_line(etcdt_proc *p, const char *want, int ms, char *last, size_t cap) {
    int64_t end = etcdt_now_ms() + ms;
    last[0] = 0;
    while (etcdt_proc_readline(p, last, cap, etcdt__left(end)) == 1)
        if (!strcmp(last, want)) return 1;
    return 0;
}

/* ---- etcdctl views of the keys ----------------------------------------------------------- */

static int key_count(const char *name) { return etcdt_count_keys(etcdt_endpoints(cl), name); }

/* Waits until NAME/ holds n keys (a blocked waiter has put its key up). */
static int wait_keys(const char *name, int n) {
    return etcdt_wait_keys(etcdt_endpoints(cl), name, n, STEP_MS);
}

/* create_revision of key, 0 if absent. */
static int64_t create_rev(const char *key) {
    char out[4096];
    const char *p;
    if (etcdt_etcdctl(cl, out, sizeof out, STEP_MS, "get", key, "-w", "json", NULL) != 0) return -1;
    p = strstr(out, "\"create_revision\":");
    return p ? strtoll(p + 18, NULL, 10) : 0;
}

/* ---- the Go driver (gopeer drive) -------------------------------------------------------- */

typedef struct drv {
    etcdt_proc *p;
    int64_t lease;
    char obs[16][64]; /* "observed VALUE" lines not yet consumed */
    int nobs;
    char held[128]; /* a result line read while waiting for an observation */
} drv;

static int drv_open(drv *d, int ttl) {
    char ttls[16], line[128];
    char *argv[8];
    memset(d, 0, sizeof *d);
    snprintf(ttls, sizeof ttls, "%d", ttl);
    argv[0] = (char *)cur()->path;
    argv[1] = (char *)"drive";
    argv[2] = (char *)"-endpoints";
    argv[3] = (char *)etcdt_endpoints(cl);
    argv[4] = (char *)"-ttl";
    argv[5] = ttls;
    argv[6] = NULL;
    if (!(d->p = etcdt_spawn_piped(argv, NULL))) return -1;
    if (etcdt_proc_write(d->p, "lease\n") != 0 ||
        etcdt_proc_readline(d->p, line, sizeof line, STEP_MS) != 1) {
        fprintf(stderr, "gopeer drive did not start: %s\n", etcdt_proc_stderr(d->p));
        return -1;
    }
    d->lease = strtoll(line, NULL, 10);
    return d->lease > 0 ? 0 : -1;
}

/* Sets an "observed VALUE" line aside; 0 if line is something else. */
static int drv_obs_push(drv *d, const char *line) {
    if (strncmp(line, "observed ", 9)) return 0;
    if (d->nobs < 16) snprintf(d->obs[d->nobs++], sizeof d->obs[0], "%.63s", line + 9);
    return 1;
}

static void drv_send(drv *d, const char *cmd) {
    etcdt_proc_write(d->p, cmd);
    etcdt_proc_write(d->p, "\n");
}

/* The next result line (observations are set aside); 1, or 0 if none came within ms. */
static int drv_result(drv *d, char *out, size_t cap, int ms) {
    int64_t end = etcdt_now_ms() + ms;
    if (d->held[0]) {
        snprintf(out, cap, "%s", d->held);
        d->held[0] = 0;
        return 1;
    }
    while (etcdt_proc_readline(d->p, out, cap, etcdt__left(end)) == 1)
        if (!drv_obs_push(d, out)) return 1;
    snprintf(out, cap, "(nothing within %d ms)", ms);
    return 0;
}

/* Sends cmd and returns its result line (valid until the next call). */
static const char *drv_cmd(drv *d, const char *cmd) {
    static char out[256];
    drv_send(d, cmd);
    drv_result(d, out, sizeof out, STEP_MS);
    return out;
}

/* 1 if the next observation is `value` (within STEP_MS). */
static int drv_observed(drv *d, const char *value, char *got, size_t cap) {
    int64_t end = etcdt_now_ms() + STEP_MS;
    char line[128];
    got[0] = 0;
    while (d->nobs == 0 && etcdt_proc_readline(d->p, line, sizeof line, etcdt__left(end)) == 1)
        if (!drv_obs_push(d, line)) snprintf(d->held, sizeof d->held, "%s", line);
    if (d->nobs == 0) return 0;
    snprintf(got, cap, "%s", d->obs[0]);
    memmove(d->obs[0], d->obs[1], (size_t)--d->nobs * sizeof d->obs[0]);
    return !strcmp(got, value);
}

/* Ends the driver: closing stdin cancels what blocks and the session is closed. */
static void drv_close(drv *d) {
    if (!d->p) return;
    etcdt_proc_close_stdin(d->p);
    if (etcdt_proc_wait(d->p, STEP_MS) != 0)
        fprintf(stderr, "gopeer drive: %s\n", etcdt_proc_stderr(d->p));
    etcdt_proc_free(d->p);
    d->p = NULL;
}

static void drv_key(drv *d, const char *name, char *key, size_t cap) {
    snprintf(key, cap, "%s/%llx", name, (unsigned long long)d->lease);
}

/* ---- our mutex on a thread --------------------------------------------------------------- */

typedef struct locker {
    etcde_client *c;
    etcde_session *s;
    etcde_election *m;
    pthread_t th;
    int started, done; /* done: atomic */
    etcde_result result;
} locker;

static int locker_open(locker *l, const char *name) {
    etcde_options o = {0};
    etcde_session_options so = {0};
    memset(l, 0, sizeof *l);
    o.endpoints = etcdt_endpoints(cl);
    so.ttl_s = 5;
    if (etcde_client_create(&o, &l->c) || etcde_session_create(l->c, &so, &l->s)) return -1;
    return etcde_election_create(l->c, l->s, name, &l->m) ? -1 : 0;
}

static void *locker_main(void *p) {
    locker *l = (locker *)p;
    l->result = etcde_lock(l->m, -1);
    __atomic_store_n(&l->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void locker_start(locker *l) {
    l->started = 1;
    pthread_create(&l->th, NULL, locker_main, l);
}

static int locker_wait(locker *l, int ms) {
    int64_t end = etcdt_now_ms() + ms;
    while (!__atomic_load_n(&l->done, __ATOMIC_ACQUIRE) && etcdt_now_ms() < end) etcdt_sleep_ms(2);
    return __atomic_load_n(&l->done, __ATOMIC_ACQUIRE);
}

static void locker_close(locker *l) {
    if (l->started) {
        etcde_client_cancel(l->c);
        pthread_join(l->th, NULL);
    }
    etcde_election_destroy(l->m);
    etcde_session_destroy(l->s);
    etcde_client_destroy(l->c);
}

/* ---- the demos --------------------------------------------------------------------------- */

/* Our demo, or Go's (`gopeer demo`), with the same flags; its first line is checked. */
static etcdt_proc *demo_start(int go, const char *name) {
    const char *first = go ? "session lessId is " : "session leaseId is "; /* Go's spelling */
    char *argv[10], line[256];
    int k = 0;
    etcdt_proc *p;
    argv[k++] = go ? (char *)cur()->path : demo_path;
    if (go) argv[k++] = (char *)"demo";
    argv[k++] = (char *)"-name";
    argv[k++] = (char *)name;
    argv[k++] = (char *)"-endpoints";
    argv[k++] = (char *)etcdt_endpoints(cl);
    argv[k++] = (char *)"-ttl";
    argv[k++] = (char *)"5";
    argv[k] = NULL;
    if (!(p = etcdt_spawn(argv, NULL))) return NULL;
    CHECKF(etcdt_proc_readline(p, line, sizeof line, STEP_MS) == 1 &&
               !strncmp(line, first, strlen(first)),
           "%s demo: \"%s\" %s", go ? "Go" : "C", line, etcdt_proc_stderr(p));
    return p;
}

/* `first` leads and `second` follows; SIGINT to `first` hands over to `second`, which
   says so within 3 s (it prints the leader every second) and then calls itself master. */
static void handover(etcdt_proc *first, const char *fname, etcdt_proc *second, const char *sname) {
    char want[64], line[256];
    snprintf(want, sizeof want, "get master with: %s", fname);
    CHECKF(wait_line(second, want, STEP_MS, line, sizeof line),
           "follower %s: \"%s\", want \"%s\"; stderr: %s", sname, line, want,
           etcdt_proc_stderr(second));
    CHECKF(wait_line(first, "oh, i'm master", STEP_MS, line, sizeof line),
           "leader %s: \"%s\"; stderr: %s", fname, line, etcdt_proc_stderr(first));
    CHECKF(wait_line(second, "slave!", STEP_MS, line, sizeof line), "follower %s: \"%s\"", sname,
           line);
    etcdt_proc_signal(first, SIGINT);
    CHECKF(wait_line(first, "Got signal: interrupt", STEP_MS, line, sizeof line), "%s: \"%s\"",
           fname, line);
    CHECKF(etcdt_proc_wait(first, STEP_MS) == 0, "%s exits 0; stderr: %s", fname,
           etcdt_proc_stderr(first));
    snprintf(want, sizeof want, "get master with: %s", sname);
    CHECKF(wait_line(second, want, 3000, line, sizeof line), "%s not master within 3 s: \"%s\"",
           sname, line);
    CHECKF(wait_line(second, "oh, i'm master", STEP_MS, line, sizeof line), "%s: \"%s\"", sname,
           line);
}

ETCDT_TEST(demo_handover_both_ways) {
    char cname[32], gname[32], cname2[32], want[64], line[256];
    etcdt_proc *c, *g, *c2;
    snprintf(cname, sizeof cname, "C-%d", cur()->minor);
    snprintf(gname, sizeof gname, "Go-%d", cur()->minor);
    snprintf(cname2, sizeof cname2, "C2-%d", cur()->minor);
    etcdt_etcdctl(cl, NULL, 0, STEP_MS, "del", "--prefix", "my-election/", NULL);
    REQUIRE((c = demo_start(0, cname)) != NULL);
    snprintf(want, sizeof want, "get master with: %s", cname);
    CHECKF(wait_line(c, want, STEP_MS, line, sizeof line), "C demo: \"%s\"", line);
    g = demo_start(1, gname);
    REQUIRE(g != NULL);
    handover(c, cname, g, gname); /* C leads, Go takes over */
    etcdt_proc_free(c);
    c2 = demo_start(0, cname2);
    REQUIRE(c2 != NULL);
    handover(g, gname, c2, cname2); /* Go leads, C takes over */
    etcdt_proc_signal(c2, SIGINT);
    CHECK(etcdt_proc_wait(c2, STEP_MS) == 0);
    etcdt_proc_free(g);
    etcdt_proc_free(c2);
    CHECK(key_count("my-election") == 0);
}

/* ---- mutexes ----------------------------------------------------------------------------- */

ETCDT_TEST(mutex_fifo_queue_with_go) {
    char name[64], gkey[128], cmd[128], line[256];
    const char *r;
    locker a, b;
    drv d;
    int64_t grev;
    fresh_name(name, sizeof name, "lock");
    REQUIRE(locker_open(&a, name) == 0 && locker_open(&b, name) == 0);
    REQUIRE(drv_open(&d, 5) == 0);
    drv_key(&d, name, gkey, sizeof gkey);
    /* a (C) holds; Go's TryLock is refused and leaves no key; Go then queues behind a */
    REQUIRE(etcde_lock(a.m, STEP_MS) == ETCDE_OK);
    snprintf(cmd, sizeof cmd, "trylock %s", name);
    r = drv_cmd(&d, cmd);
    CHECKF(!strcmp(r, "locked"), "Go TryLock while C holds: %s", r);
    CHECK(key_count(name) == 1);
    snprintf(cmd, sizeof cmd, "lock %s", name);
    drv_send(&d, cmd);
    CHECK(wait_keys(name, 2));
    /* b (C) queues behind Go */
    locker_start(&b);
    CHECK(wait_keys(name, 3));
    grev = create_rev(gkey);
    CHECKF(etcde_election_rev(a.m) < grev, "a %lld, Go %lld", (long long)etcde_election_rev(a.m),
           (long long)grev);
    /* a unlocks: Go is next (FIFO by create revision), b still waits */
    CHECK(drv_result(&d, line, sizeof line, 300) == 0);
    CHECK(etcde_unlock(a.m) == ETCDE_OK);
    CHECKF(drv_result(&d, line, sizeof line, STEP_MS) && !strcmp(line, "ok"), "Go Lock: %s", line);
    CHECK(!locker_wait(&b, 300));
    CHECK(etcde_trylock(a.m) == ETCDE_ERR_LOCKED); /* ours while Go holds: busy */
    CHECK(!strcmp(drv_cmd(&d, "key"), gkey));
    /* Go unlocks: b gets it; b's key came after Go's */
    r = drv_cmd(&d, "unlock");
    CHECKF(!strcmp(r, "ok"), "Go Unlock: %s", r);
    CHECK(locker_wait(&b, STEP_MS) && b.result == ETCDE_OK && etcde_is_leader(b.m));
    CHECKF(etcde_election_rev(b.m) > grev, "b %lld, Go %lld", (long long)etcde_election_rev(b.m),
           (long long)grev);
    snprintf(cmd, sizeof cmd, "trylock %s", name);
    CHECK(!strcmp(drv_cmd(&d, cmd), "locked"));
    CHECK(etcde_unlock(b.m) == ETCDE_OK);
    CHECK(!strcmp(drv_cmd(&d, cmd), "ok"));
    CHECK(etcde_trylock(a.m) == ETCDE_ERR_LOCKED);
    CHECK(!strcmp(drv_cmd(&d, "unlock"), "ok"));
    CHECK(etcde_trylock(a.m) == ETCDE_OK && etcde_unlock(a.m) == ETCDE_OK);
    drv_close(&d);
    locker_close(&b);
    locker_close(&a);
    CHECK(key_count(name) == 0);
}

/* Go's Mutex.Unlock after its key was deleted behind its back (and we took the lock):
   it deletes its own (absent) key by name, so it returns nil at every version and never
   touches ours. A second Unlock: 3.5 deletes the key "\0" and returns nil; 3.6 and 3.7
   return ErrLockReleased. A Go waiter whose key is deleted gets ErrSessionExpired. */
ETCDT_TEST(go_unlock_after_its_key_was_deleted) {
    char name[64], gkey[128], cmd[128], line[256];
    const char *r;
    locker a;
    drv d;
    int64_t arev;
    fresh_name(name, sizeof name, "gone");
    REQUIRE(locker_open(&a, name) == 0);
    REQUIRE(drv_open(&d, 5) == 0);
    drv_key(&d, name, gkey, sizeof gkey);
    snprintf(cmd, sizeof cmd, "lock %s", name);
    REQUIRE(!strcmp(drv_cmd(&d, cmd), "ok"));
    locker_start(&a);
    CHECK(wait_keys(name, 2));
    CHECK(etcdt_etcdctl(cl, NULL, 0, STEP_MS, "del", gkey, NULL) == 0);
    CHECK(locker_wait(&a, STEP_MS) && a.result == ETCDE_OK);
    arev = etcde_election_rev(a.m);
    r = drv_cmd(&d, "unlock");
    CHECKF(!strcmp(r, "ok"), "Go Unlock of a deleted key: %s", r);
    CHECK(etcde_is_leader(a.m) && create_rev(etcde_election_key(a.m)) == arev);
    r = drv_cmd(&d, "unlock");
    if (cur()->minor <= 5)
        CHECKF(!strcmp(r, "ok"), "3.5 second Unlock: %s", r);
    else
        CHECKF(!strncmp(r, "err ErrLockReleased:", 20), "3.%d second Unlock: %s", cur()->minor, r);
    CHECK(etcde_is_leader(a.m) && create_rev(etcde_election_key(a.m)) == arev);
    /* the waiter's side: Go queues behind us, loses its key, and is not granted the lock */
    drv_send(&d, cmd);
    CHECK(wait_keys(name, 2));
    CHECK(etcdt_etcdctl(cl, NULL, 0, STEP_MS, "del", gkey, NULL) == 0);
    CHECK(etcde_unlock(a.m) == ETCDE_OK);
    CHECKF(drv_result(&d, line, sizeof line, STEP_MS) &&
               !strncmp(line, "err ErrSessionExpired:", 22),
           "Go Lock after its waiting key was deleted: %s", line);
    CHECK(key_count(name) == 0);
    drv_close(&d);
    locker_close(&a);
}

/* ---- observe ------------------------------------------------------------------------------ */

typedef struct obs_log {
    char value[8][32]; /* "-" for NO_LEADER */
    int n;             /* atomic */
    etcde_election *e;
    etcde_result r;
} obs_log;

static int obs_cb(etcde_event_type t, const etcde_kv *kv, int64_t rev, void *ud) {
    obs_log *l = (obs_log *)ud;
    int n = __atomic_load_n(&l->n, __ATOMIC_ACQUIRE);
    (void)rev;
    if (n < 8) {
        snprintf(l->value[n], sizeof l->value[n], "%s", t == ETCDE_EVENT_LEADER ? kv->value : "-");
        __atomic_store_n(&l->n, n + 1, __ATOMIC_RELEASE);
    }
    return n + 1 >= 8;
}

static void *obs_main(void *p) {
    obs_log *l = (obs_log *)p;
    l->r = etcde_observe(l->e, obs_cb, l, -1);
    return NULL;
}

/* 1 once our observer has logged n events. */
static int obs_wait(obs_log *l, int n) {
    int64_t end = etcdt_now_ms() + STEP_MS;
    while (__atomic_load_n(&l->n, __ATOMIC_ACQUIRE) < n && etcdt_now_ms() < end) etcdt_sleep_ms(2);
    return __atomic_load_n(&l->n, __ATOMIC_ACQUIRE) >= n;
}

ETCDT_TEST(observe_both_ways) {
    static const char *const want[] = {"-", "cA", "cA2", "gB", "gB2", "-"};
    char name[64], cmd[128], got[64], line[256];
    cand a;
    drv d;
    obs_log ol;
    pthread_t th;
    etcde_kv kv;
    int i;
    fresh_name(name, sizeof name, "obs");
    REQUIRE(cand_open_on(&a, etcdt_endpoints(cl), name, "cA", 5, NULL, NULL) == 0);
    REQUIRE(drv_open(&d, 5) == 0);
    memset(&ol, 0, sizeof ol);
    REQUIRE(etcde_election_create(a.c, NULL, name, &ol.e) == ETCDE_OK);
    pthread_create(&th, NULL, obs_main, &ol);
    CHECK(obs_wait(&ol, 1));
    snprintf(cmd, sizeof cmd, "observe %s", name);
    CHECK(!strcmp(drv_cmd(&d, cmd), "ok"));
    /* our leader, seen by Go */
    CHECK(etcde_campaign(a.e, "cA", 2, STEP_MS) == ETCDE_OK);
    CHECKF(drv_observed(&d, "cA", got, sizeof got), "Go observed \"%s\", want cA", got);
    /* Each state is let stand until both observers saw it: ours re-reads the leader after
       a watch event, at the then newest revision, so a state shorter than that round
       trip is reported as the next one (Go's does so after a delete, but takes the first
       leader of an empty election from the event itself). */
    CHECK(obs_wait(&ol, 2));
    CHECK(etcde_proclaim(a.e, "cA2", 3) == ETCDE_OK);
    CHECKF(drv_observed(&d, "cA2", got, sizeof got), "Go observed \"%s\", want cA2", got);
    CHECK(obs_wait(&ol, 3));
    snprintf(cmd, sizeof cmd, "leader %s", name);
    CHECK(!strcmp(drv_cmd(&d, cmd), "cA2"));
    /* Go's leader, seen by us */
    snprintf(cmd, sizeof cmd, "campaign %s gB", name);
    drv_send(&d, cmd);
    CHECK(wait_keys(name, 2));
    CHECK(etcde_resign(a.e) == ETCDE_OK);
    CHECKF(drv_result(&d, line, sizeof line, STEP_MS) && !strcmp(line, "ok"), "Go Campaign: %s",
           line);
    CHECKF(drv_observed(&d, "gB", got, sizeof got), "Go observed \"%s\", want gB", got);
    CHECK(obs_wait(&ol, 4));
    CHECK(!strcmp(drv_cmd(&d, "proclaim gB2"), "ok"));
    CHECKF(drv_observed(&d, "gB2", got, sizeof got), "Go observed \"%s\", want gB2", got);
    CHECK(obs_wait(&ol, 5));
    CHECK(etcde_leader(a.e, &kv) == ETCDE_OK && !strcmp(kv.value, "gB2") &&
          !strcmp(kv.key, drv_cmd(&d, "key")));
    CHECK(!strcmp(drv_cmd(&d, "resign"), "ok"));
    CHECK(obs_wait(&ol, 6));
    snprintf(cmd, sizeof cmd, "leader %s", name);
    CHECK(!strncmp(drv_cmd(&d, cmd), "err ErrElectionNoLeader:", 24));
    CHECK(!strncmp(drv_cmd(&d, "proclaim late"), "err ErrElectionNotLeader:", 25));
    for (i = 0; i < 6; i++)
        CHECKF(i < ol.n && !strcmp(ol.value[i], want[i]),
               "our observer, event %d: \"%s\", want \"%s\"", i, i < ol.n ? ol.value[i] : "(none)",
               want[i]);
    etcde_client_cancel(a.c);
    pthread_join(th, NULL);
    CHECK(ol.r == ETCDE_ERR_CANCELLED);
    etcde_election_destroy(ol.e);
    drv_close(&d);
    cand_close(&a);
}

/* ---- setup -------------------------------------------------------------------------------- */

/* A setup failure counts as one failed test; the summary goes to stdout, as etcdt_run's. */
static int setup_failed(const char *fmt, const char *arg) {
    fflush(stdout);
    fprintf(stderr, "interop_go: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    printf("0 passed, 1 failed\n");
    return 1;
}

/* `etcd --version`'s first line. */
static void server_version(char *out, size_t cap) {
    char *argv[] = {(char *)"etcd", (char *)"--version", NULL};
    etcdt_proc *p = etcdt_spawn(argv, NULL);
    out[0] = 0;
    if (p && etcdt_proc_readline(p, out, cap, STEP_MS) != 1)
        snprintf(out, cap, "(etcd --version said nothing)");
    etcdt_proc_free(p);
}

/* `gopeer version` into pr; 0 or -1. */
static int peer_version(peer *pr) {
    char *argv[3];
    etcdt_proc *p;
    int major = 0, ok;
    argv[0] = (char *)pr->path;
    argv[1] = (char *)"version";
    argv[2] = NULL;
    if (!(p = etcdt_spawn(argv, NULL))) return -1;
    ok = etcdt_proc_readline(p, pr->version, sizeof pr->version, STEP_MS) == 1 &&
         sscanf(pr->version, "%d.%d", &major, &pr->minor) == 2 && major == 3;
    if (!ok)
        fprintf(stderr, "%s version: \"%s\" %s\n", pr->path, pr->version, etcdt_proc_stderr(p));
    etcdt_proc_free(p);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    static const struct etcdt_case per_peer[NCASES] = {
        ETCDT_CASE(demo_handover_both_ways),
        ETCDT_CASE(mutex_fifo_queue_with_go),
        ETCDT_CASE(go_unlock_after_its_key_was_deleted),
        ETCDT_CASE(observe_both_ways),
    };
    struct etcdt_case cases[MAX_PEERS * NCASES];
    const char *env = getenv("ETCDT_GOPEERS");
    char *list, *tok, ver[128], self[PATH_MAX];
    int npeers = 0, i, j, rc;

    signal(SIGPIPE, SIG_IGN);
    list = etcdt__xstrdup(env ? env : "");
    for (tok = strtok(list, " \t"); tok; tok = strtok(NULL, " \t")) {
        if (npeers == MAX_PEERS)
            return setup_failed("more peers in ETCDT_GOPEERS than %s", "8 (MAX_PEERS)");
        peers[npeers].path = tok;
        if (peer_version(&peers[npeers]) != 0)
            return setup_failed("%s is not a working gopeer", tok);
        npeers++;
    }
    if (npeers == 0) /* never a silent skip: the run was asked for and has nothing to run */
        return setup_failed("ETCDT_GOPEERS is empty: set it to the gopeer binaries to test, e.g.\n"
                            "  ETCDT_GOPEERS=\"build/etcd-3.5.33/gopeer build/etcd-3.6.14/gopeer "
                            "build/etcd-3.7.1/gopeer\"\n  (%s builds them)",
                            "bash tests/go/build.sh");
    snprintf(self, sizeof self, "%s", etcdt_self_path());
    snprintf(demo_path, sizeof demo_path, "%s/../demo", dirname(self)); /* build/tests/.. */
    if (access(demo_path, X_OK) != 0) return setup_failed("%s is missing (run make)", demo_path);
    server_version(ver, sizeof ver);
    printf("server: %s\n", ver);
    for (i = 0; i < npeers; i++) {
        printf("peer go3.%d: %s (client v%s)\n", peers[i].minor, peers[i].path, peers[i].version);
        for (j = 0; j < NCASES; j++) {
            snprintf(case_names[ncases], sizeof case_names[0], "go3.%d.%s", peers[i].minor,
                     per_peer[j].name);
            case_peer[ncases] = &peers[i];
            cases[ncases].name = case_names[ncases];
            cases[ncases].fn = per_peer[j].fn;
            ncases++;
        }
    }
    fflush(stdout);
    if (!(cl = etcdt_cluster_start(1, NULL))) return setup_failed("could not start %s", "etcd");
    rc = etcdt_run("interop_go", cases, ncases, argc, argv);
    etcdt_cluster_stop(cl);
    free(list);
    return rc;
}
