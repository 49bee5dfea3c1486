/* Elections against a private, real etcd: ordering, handover, proclaim, leader/observe,
   crashes, the expired-waiter (phantom leader) case, cancel/timeout cleanup, and
   interop with `etcdctl elect` on one name. */
#include "etcdt_test.h" /* first: it sets _GNU_SOURCE */
#include "etcdt_proc.h"
#include "etcdt_etcd.h"
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"
#include "cand.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static etcdt_cluster *cl; /* one 1-member cluster for the whole suite */
static int name_seq;

/* A fresh election name per test, so tests never see each other's keys. */
static const char *fresh_name(char *buf, size_t cap) {
    snprintf(buf, cap, "el-%d-%d", (int)getpid(), ++name_seq);
    return buf;
}

/* In-process candidates (tests/cand.h) on the suite's cluster. */
static int cand_open_log(cand *k, const char *name, const char *value, int ttl, etcde_log_fn log,
                         void *ud) {
    return cand_open_on(k, etcdt_endpoints(cl), name, value, ttl, log, ud);
}

static int cand_open(cand *k, const char *name, const char *value, int ttl) {
    return cand_open_log(k, name, value, ttl, NULL, NULL);
}

/* Keys under NAME/ as etcdctl sees them, one per line, in out. */
static int etcdctl_keys(const char *name, char *out, size_t cap) {
    char pfx[128];
    snprintf(pfx, sizeof pfx, "%s/", name);
    return etcdt_etcdctl(cl, out, cap, 10000, "get", "--prefix", "--keys-only", pfx, NULL);
}

/* Number of non-empty lines. */
static int count_lines(const char *s) {
    int n = 0, in_line = 0;
    for (; *s; s++) {
        if (*s == '\n')
            in_line = 0;
        else if (!in_line)
            in_line = 1, n++;
    }
    return n;
}

/* ------------------------------------------------------------------------------------ */

ETCDT_TEST(three_candidates_elected_in_creation_order) {
    char name[64];
    cand k[3];
    int i;
    fresh_name(name, sizeof name);
    for (i = 0; i < 3; i++) {
        char v[8];
        snprintf(v, sizeof v, "v%d", i);
        REQUIRE(cand_open(&k[i], name, v, 10) == 0);
    }
    for (i = 0; i < 3; i++) { /* queue in order: each one's key exists before the next starts */
        cand_start(&k[i]);
        CHECK(cand_wait_queued(&k[i], i + 1, 5000));
    }
    CHECK(cand_wait(&k[0], 5000) && k[0].result == ETCDE_OK);
    CHECK(!cand_done(&k[1]) && !cand_done(&k[2]));
    CHECK(etcde_is_leader(k[0].e) && !etcde_is_leader(k[1].e));
    CHECK(etcde_election_rev(k[0].e) < etcde_election_rev(k[1].e));
    CHECK(etcde_election_rev(k[1].e) < etcde_election_rev(k[2].e));
    CHECK(etcde_resign(k[0].e) == ETCDE_OK);
    CHECK(!etcde_is_leader(k[0].e));
    CHECK(cand_wait(&k[1], 5000) && k[1].result == ETCDE_OK);
    etcdt_sleep_ms(200);      /* time to go wrong, if it would */
    CHECK(!cand_done(&k[2])); /* the third still waits behind the second */
    CHECK(etcde_resign(k[1].e) == ETCDE_OK);
    CHECK(cand_wait(&k[2], 5000) && k[2].result == ETCDE_OK);
    CHECK(etcde_is_leader(k[2].e));
    for (i = 0; i < 3; i++) cand_close(&k[i]);
}

ETCDT_TEST(resign_hands_over_at_once) {
    char name[64];
    cand a, b;
    int64_t t0, ms[5];
    int i;
    fresh_name(name, sizeof name);
    for (i = 0; i < 5; i++) {
        REQUIRE(cand_open(&a, name, "A", 10) == 0);
        REQUIRE(cand_open(&b, name, "B", 10) == 0);
        CHECK(etcde_campaign(a.e, "A", 1, 5000) == ETCDE_OK);
        cand_start(&b);
        CHECK(cand_wait_queued(&b, 2, 5000));
        CHECK(!cand_done(&b));
        t0 = etcdt_now_ms();
        CHECK(etcde_resign(a.e) == ETCDE_OK);
        CHECK(cand_wait(&b, 5000) && b.result == ETCDE_OK);
        ms[i] = b.done_at - t0;
        CHECK(etcde_is_leader(b.e));
        cand_close(&b);
        cand_close(&a);
    }
    printf("     handover after resign (ms): %lld %lld %lld %lld %lld\n", (long long)ms[0],
           (long long)ms[1], (long long)ms[2], (long long)ms[3], (long long)ms[4]);
}

ETCDT_TEST(key_layout_matches_go_recipe) {
    char name[64], want[128], out[4096];
    cand a;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "hello", 10) == 0);
    CHECK(etcde_campaign(a.e, "hello", 5, 5000) == ETCDE_OK);
    snprintf(want, sizeof want, "%s/%llx", name, (unsigned long long)etcde_session_lease(a.s));
    CHECKF(strcmp(etcde_election_key(a.e), want) == 0, "key %s, want %s", etcde_election_key(a.e),
           want);
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "get", want, NULL) == 0);
    CHECKF(strstr(out, want) && strstr(out, "\nhello"), "etcdctl get printed: %s", out);
    cand_close(&a);
}

ETCDT_TEST(proclaim_changes_what_etcdctl_observer_prints) {
    char name[64], line[256], key[128];
    cand a;
    etcdt_proc *obs;
    char *argv[8];
    char epflag[256];
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "first", 10) == 0);
    REQUIRE(etcde_campaign(a.e, "first", 5, 5000) == ETCDE_OK);
    snprintf(key, sizeof key, "%s", etcde_election_key(a.e));
    snprintf(epflag, sizeof epflag, "--endpoints=%s", etcdt_endpoints(cl));
    argv[0] = (char *)"etcdctl";
    argv[1] = epflag;
    argv[2] = (char *)"elect";
    argv[3] = (char *)"-l";
    argv[4] = name;
    argv[5] = NULL;
    obs = etcdt_spawn(argv, NULL);
    REQUIRE(obs != NULL);
    CHECK(etcdt_proc_readline(obs, line, sizeof line, 10000) == 1 && strcmp(line, key) == 0);
    CHECK(etcdt_proc_readline(obs, line, sizeof line, 5000) == 1 && strcmp(line, "first") == 0);
    CHECK(etcde_proclaim(a.e, "second", 6) == ETCDE_OK);
    CHECK(etcdt_proc_readline(obs, line, sizeof line, 5000) == 1 && strcmp(line, key) == 0);
    CHECKF(etcdt_proc_readline(obs, line, sizeof line, 5000) == 1 && strcmp(line, "second") == 0,
           "got %s", line);
    etcdt_proc_free(obs);
    /* a proclaim after losing the key writes nothing */
    {
        char out[1024];
        CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "del", key, NULL) == 0);
        CHECK(etcde_proclaim(a.e, "third", 5) == ETCDE_ERR_NOT_LEADER);
        CHECK(!etcde_is_leader(a.e));
        CHECK(etcdctl_keys(name, out, sizeof out) == 0 && strstr(out, key) == NULL);
    }
    cand_close(&a);
}

ETCDT_TEST(leader_and_no_leader) {
    char name[64];
    cand a;
    etcde_kv kv;
    etcde_election *q;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "L", 10) == 0);
    REQUIRE(etcde_election_create(a.c, NULL, name, &q) == ETCDE_OK);
    CHECK(etcde_leader(q, &kv) == ETCDE_ERR_NO_LEADER);
    CHECK(etcde_campaign(q, "x", 1, 1000) == ETCDE_ERR_STATE); /* no session: observer only */
    REQUIRE(etcde_campaign(a.e, "L", 1, 5000) == ETCDE_OK);
    REQUIRE(etcde_leader(q, &kv) == ETCDE_OK);
    CHECK(strcmp(kv.key, etcde_election_key(a.e)) == 0 && kv.key_len == strlen(kv.key));
    CHECK(kv.value_len == 1 && kv.value[0] == 'L');
    CHECK(kv.create_rev == etcde_election_rev(a.e));
    CHECK(kv.lease == etcde_session_lease(a.s));
    CHECK(etcde_resign(a.e) == ETCDE_OK);
    CHECK(etcde_resign(a.e) == ETCDE_OK); /* idempotent */
    CHECK(etcde_leader(q, &kv) == ETCDE_ERR_NO_LEADER);
    CHECK(strstr(etcde_election_errmsg(q), "no leader") != NULL);
    etcde_election_destroy(q);
    cand_close(&a);
}

typedef struct obs_log {
    int n; /* atomic for readers on other threads */
    etcde_event_type type[16];
    char value[16][16];
    int64_t rev[16];
    int want;
} obs_log;

static int obs_cb(etcde_event_type t, const etcde_kv *kv, int64_t rev, void *ud) {
    (void)rev;
    obs_log *l = (obs_log *)ud;
    if (l->n < 16) {
        l->type[l->n] = t;
        snprintf(l->value[l->n], 16, "%s", kv ? kv->value : "-");
        l->rev[l->n] = kv ? kv->create_rev : 0;
        __atomic_store_n(&l->n, l->n + 1, __ATOMIC_RELEASE); /* the test thread waits on it */
    }
    return l->n >= l->want;
}

/* An observer on its own thread that stops after `want` reports. If gated, its callback
   holds it up after report 1 and report 3 until go[n] is set, so that the election can
   move two steps at once behind its back. */
typedef struct obs_arg {
    etcde_election *e;
    obs_log log;
    int gated;
    int held[8], go[8]; /* atomic, by report count */
    etcde_result r;
} obs_arg;

static int obs_gate_cb(etcde_event_type t, const etcde_kv *kv, int64_t rev, void *ud) {
    obs_arg *a = (obs_arg *)ud;
    int stop = obs_cb(t, kv, rev, &a->log), n = a->log.n;
    if (a->gated && (n == 1 || n == 3)) {
        __atomic_store_n(&a->held[n], 1, __ATOMIC_RELEASE);
        while (!__atomic_load_n(&a->go[n], __ATOMIC_ACQUIRE)) etcdt_sleep_ms(2);
    }
    return stop;
}

static void *obs_main(void *p) {
    obs_arg *a = (obs_arg *)p;
    a->r = etcde_observe(a->e, obs_gate_cb, a, 20000);
    return NULL;
}

/* Candidates A and B on a fresh election, and an observer of it that stops after 5 reports
   (on *th). 0 or -1. */
static int obs_setup(obs_arg *oa, cand *a, cand *b, pthread_t *th, int gated) {
    char name[64];
    fresh_name(name, sizeof name);
    memset(oa, 0, sizeof *oa);
    oa->log.want = 5;
    oa->gated = gated;
    if (cand_open(a, name, "A", 10) || cand_open(b, name, "B", 10) ||
        etcde_election_create(a->c, NULL, name, &oa->e) != ETCDE_OK)
        return -1;
    return pthread_create(th, NULL, obs_main, oa) == 0 ? 0 : -1;
}

ETCDT_TEST(observe_sees_every_leader_change) {
    cand a, b;
    obs_arg oa;
    pthread_t th;
    REQUIRE(obs_setup(&oa, &a, &b, &th, 0) == 0);
    /* each change waits for the observer's report of the state before it */
    CHECK(etcdt_wait_int(&oa.log.n, 1, 5000));
    CHECK(etcde_campaign(a.e, "A", 1, 5000) == ETCDE_OK);
    cand_start(&b);
    CHECK(cand_wait_queued(&b, 2, 5000));
    CHECK(etcdt_wait_int(&oa.log.n, 2, 5000));
    CHECK(etcde_proclaim(a.e, "A2", 2) == ETCDE_OK);
    CHECK(etcdt_wait_int(&oa.log.n, 3, 5000));
    CHECK(etcde_resign(a.e) == ETCDE_OK);
    CHECK(cand_wait(&b, 5000) && b.result == ETCDE_OK);
    CHECK(etcdt_wait_int(&oa.log.n, 4, 5000));
    CHECK(etcde_resign(b.e) == ETCDE_OK);
    pthread_join(th, NULL);
    CHECKF(oa.r == ETCDE_OK, "observe: %s", etcde_election_errmsg(oa.e));
    REQUIRE(oa.log.n == 5);
    CHECK(oa.log.type[0] == ETCDE_EVENT_NO_LEADER);
    CHECK(oa.log.type[1] == ETCDE_EVENT_LEADER && !strcmp(oa.log.value[1], "A"));
    CHECK(oa.log.type[2] == ETCDE_EVENT_LEADER && !strcmp(oa.log.value[2], "A2"));
    CHECK(oa.log.rev[1] == oa.log.rev[2]); /* same reign, new value */
    CHECK(oa.log.type[3] == ETCDE_EVENT_LEADER && !strcmp(oa.log.value[3], "B"));
    CHECK(oa.log.rev[3] > oa.log.rev[1]);
    CHECK(oa.log.type[4] == ETCDE_EVENT_NO_LEADER);
    etcde_election_destroy(oa.e);
    cand_close(&b);
    cand_close(&a);
}

ETCDT_TEST(observe_reports_states_that_change_before_it_reads) {
    /* A wins and proclaims A2 before the observer's next read; then A resigns and B wins
       and proclaims B2 before it. Each intermediate state stood at a revision of its own
       and must be reported: the observer reads at the revision of the event it saw. */
    cand a, b;
    obs_arg g;
    pthread_t th;
    REQUIRE(obs_setup(&g, &a, &b, &th, 1) == 0);
    CHECK(etcdt_wait_int(&g.held[1], 1, 5000));
    CHECK(cand_lead_and_queue(&a, &b) == 0);
    CHECK(etcde_proclaim(a.e, "A2", 2) == ETCDE_OK);
    __atomic_store_n(&g.go[1], 1, __ATOMIC_RELEASE);
    CHECK(etcdt_wait_int(&g.held[3], 1, 5000));
    CHECK(etcde_resign(a.e) == ETCDE_OK);
    CHECK(cand_wait(&b, 5000) && b.result == ETCDE_OK);
    CHECK(etcde_proclaim(b.e, "B2", 2) == ETCDE_OK);
    __atomic_store_n(&g.go[3], 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    CHECKF(g.r == ETCDE_OK, "observe: %s", etcde_election_errmsg(g.e));
    CHECKF(g.log.n == 5, "%d reports", g.log.n);
    if (g.log.n == 5) {
        CHECK(g.log.type[0] == ETCDE_EVENT_NO_LEADER);
        CHECKF(!strcmp(g.log.value[1], "A") && !strcmp(g.log.value[2], "A2"), "reports 2-3: %s, %s",
               g.log.value[1], g.log.value[2]);
        CHECKF(!strcmp(g.log.value[3], "B") && !strcmp(g.log.value[4], "B2"), "reports 4-5: %s, %s",
               g.log.value[3], g.log.value[4]);
    }
    etcde_election_destroy(g.e);
    cand_close(&b);
    cand_close(&a);
}

ETCDT_TEST(killed_leader_replaced_after_ttl) {
    char name[64], line[256];
    etcdt_proc *p;
    cand b;
    int64_t killed;
    fresh_name(name, sizeof name);
    p = cand_spawn("campaign", etcdt_endpoints(cl), name, "crashy", 2);
    REQUIRE(p != NULL);
    CHECK(etcdt_proc_readline(p, line, sizeof line, 10000) == 1 && !strncmp(line, "queued ", 7));
    CHECKF(etcdt_proc_readline(p, line, sizeof line, 10000) == 1 &&
               !strcmp(line, "campaign OK leader=1"),
           "%s", line);
    REQUIRE(cand_open(&b, name, "B", 10) == 0);
    cand_start(&b);
    CHECK(cand_wait_queued(&b, 2, 5000));
    CHECK(!cand_done(&b));
    etcdt_proc_signal(p, SIGKILL); /* no revoke, no resign: only the TTL frees the key */
    killed = etcdt_now_ms();
    CHECK(cand_wait(&b, 8000) && b.result == ETCDE_OK);
    printf("     elected %lld ms after kill -9 of a TTL-2 leader\n",
           (long long)(b.done_at - killed));
    CHECK(b.done_at - killed >= 1000); /* not before etcd expired the lease */
    etcdt_proc_free(p);
    cand_close(&b);
}

ETCDT_TEST(expired_waiter_never_reports_leadership) {
    /* The Go recipe's phantom leader: a queued candidate whose lease expires while it
       waits must not report victory when the keys ahead of it go. Pause the waiter
       (SIGSTOP) past its TTL, free the queue, resume it. */
    char name[64], line[256];
    cand a;
    etcdt_proc *w;
    int r;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "A", 10) == 0);
    REQUIRE(etcde_campaign(a.e, "A", 1, 5000) == ETCDE_OK);
    w = cand_spawn("campaign", etcdt_endpoints(cl), name, "W", 2);
    REQUIRE(w != NULL);
    CHECK(etcdt_proc_readline(w, line, sizeof line, 10000) == 1 && !strncmp(line, "queued ", 7));
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), name, 2, 5000)); /* the waiter's key is up */
    etcdt_proc_signal(w, SIGSTOP);
    etcdt_sleep_ms(4500);                 /* etcd expires the waiter's lease and deletes its key */
    CHECK(etcde_resign(a.e) == ETCDE_OK); /* nobody ahead of the waiter any more */
    etcdt_sleep_ms(200); /* the delete event reaches the stopped waiter before it runs again */
    etcdt_proc_signal(w, SIGCONT);
    r = etcdt_proc_readline(w, line, sizeof line, 10000);
    CHECKF(r == 1 && strstr(line, "session lost") && strstr(line, "leader=0"), "waiter said: %s",
           r == 1 ? line : "(nothing)");
    {
        char out[1024];
        CHECK(etcdctl_keys(name, out, sizeof out) == 0);
        CHECKF(count_lines(out) == 0, "keys left: %s", out);
    }
    etcdt_proc_free(w);
    cand_close(&a);
}

ETCDT_TEST(waiter_gives_up_when_its_lease_is_revoked) {
    char name[64], out[1024], hex[32];
    cand a, w;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "A", 10) == 0);
    REQUIRE(cand_open(&w, name, "W", 10) == 0);
    REQUIRE(cand_lead_and_queue(&a, &w) == 0);
    snprintf(hex, sizeof hex, "%llx", (unsigned long long)etcde_session_lease(w.s));
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "lease", "revoke", hex, NULL) == 0);
    /* the waiter watches its own key too, so it stops at once, not at the next renewal */
    CHECK(cand_wait(&w, 1000) && w.result == ETCDE_ERR_SESSION_LOST);
    CHECK(!etcde_is_leader(w.e));
    {
        struct pollfd p;
        p.fd = etcde_session_fd(w.s);
        p.events = POLLIN;
        CHECK(poll(&p, 1, 5000) == 1 &&
              etcde_session_remaining_ms(w.s) == 0); /* the next renewal agrees */
    }
    CHECK(etcde_resign(a.e) == ETCDE_OK);
    etcdt_sleep_ms(300); /* time to go wrong, if it would */
    CHECK(!etcde_is_leader(w.e));
    cand_close(&w);
    cand_close(&a);
}

/* Counts the library's "waits for" lines: one per read of the queue that leads to a watch. */
static void count_waits(int level, const char *msg, void *ud) {
    (void)level;
    if (strstr(msg, " waits for ")) __atomic_add_fetch((int *)ud, 1, __ATOMIC_RELAXED);
}

/* The key just after `key` in etcd's order that sorts before anything that follows key
   itself: key + "/n<i>" lies between key and any larger key of the same length. */
static void key_after(char *out, size_t cap, const char *key, int i) {
    snprintf(out, cap, "%s/n%d", key, i);
}

ETCDT_TEST(waiter_ignores_other_keys_between_it_and_its_predecessor) {
    char name[64], ka[128], kw[128], noise[160], out[1024];
    const char *lo;
    cand a, w;
    int waits = 0, i;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "A", 10) == 0);
    REQUIRE(cand_open_log(&w, name, "W", 10, count_waits, &waits) ==
            0); /* counts its reads of the queue */
    REQUIRE(cand_lead_and_queue(&a, &w) == 0);
    snprintf(ka, sizeof ka, "%s", etcde_election_key(a.e));
    /* w's election is busy on its thread; its key follows from its lease (thread-safe) */
    snprintf(kw, sizeof kw, "%s/%llx", name, (unsigned long long)etcde_session_lease(w.s));
    CHECK(etcdt_wait_int(&waits, 1, 5000)); /* its first read of the queue, logged after the put */
    CHECK(__atomic_load_n(&waits, __ATOMIC_RELAXED) == 1);
    /* keys that sort between the two (created after the waiter's: behind it in the queue),
       then deleted: the waiter's watch sees each delete and must ignore it */
    lo = strcmp(ka, kw) < 0 ? ka : kw;
    for (i = 0; i < 10; i++) {
        key_after(noise, sizeof noise, lo, i);
        CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "put", noise, "x", NULL) == 0);
    }
    for (i = 0; i < 5; i++) {
        key_after(noise, sizeof noise, lo, i);
        CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "del", noise, NULL) == 0);
    }
    etcdt_sleep_ms(200); /* time to react to the deletes, if it would */
    CHECK(!cand_done(&w));
    CHECK(__atomic_load_n(&waits, __ATOMIC_RELAXED) == 1); /* ignored, no read */
    for (; i < 10; i++) {
        key_after(noise, sizeof noise, lo, i);
        CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "del", noise, NULL) == 0);
    }
    CHECK(etcdt_wait_int(&waits, 2, 5000));
    CHECK(!cand_done(&w));
    /* too many strangers: it read the queue again and now watches the two keys exactly */
    CHECK(__atomic_load_n(&waits, __ATOMIC_RELAXED) == 2);
    CHECK(etcde_resign(a.e) == ETCDE_OK);
    CHECK(cand_wait(&w, 5000) && w.result == ETCDE_OK);
    CHECK(etcde_is_leader(w.e));
    cand_close(&w);
    cand_close(&a);
}

ETCDT_TEST(waits_behind_a_long_foreign_key) {
    char name[64], big[400], out[1024];
    cand a, w;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "A", 10) == 0);
    REQUIRE(cand_open(&w, name, "W", 10) == 0);
    REQUIRE(etcde_campaign(a.e, "A", 1, 5000) == ETCDE_OK);
    /* a key longer than any candidate's, sorting after them, queued between a and w:
       w's watch range runs from its own key to this one */
    snprintf(big, sizeof big, "%s/", name);
    memset(big + strlen(big), 'z', 300);
    big[strlen(name) + 1 + 300] = 0;
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "put", big, "x", NULL) == 0);
    cand_start(&w);
    CHECK(cand_wait_queued(&w, 3, 5000));
    CHECK(!cand_done(&w));
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "del", big, NULL) == 0);
    etcdt_sleep_ms(300);   /* time to go wrong, if it would */
    CHECK(!cand_done(&w)); /* a still leads */
    CHECK(etcde_resign(a.e) == ETCDE_OK);
    CHECK(cand_wait(&w, 5000) && w.result == ETCDE_OK && etcde_is_leader(w.e));
    cand_close(&w);
    cand_close(&a);
}

ETCDT_TEST(middle_candidate_leaving_elects_nobody) {
    char name[64];
    cand a, b, c;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "A", 10) == 0);
    REQUIRE(cand_open(&b, name, "B", 10) == 0);
    REQUIRE(cand_open(&c, name, "C", 10) == 0);
    b.timeout_ms = 700; /* gives up (deleting its key) while A still leads */
    REQUIRE(cand_lead_and_queue(&a, &b) == 0);
    cand_start(&c);
    CHECK(cand_wait(&b, 3000) && b.result == ETCDE_ERR_TIMEOUT);
    etcdt_sleep_ms(300); /* time to go wrong, if it would */
    /* C's predecessor went, but A is still ahead */
    CHECK(!cand_done(&c));
    CHECK(etcde_is_leader(a.e) && !etcde_is_leader(c.e));
    CHECK(etcde_resign(a.e) == ETCDE_OK);
    CHECK(cand_wait(&c, 5000) && c.result == ETCDE_OK && etcde_is_leader(c.e));
    cand_close(&c);
    cand_close(&b);
    cand_close(&a);
}

static int close_lost_calls;
static void count_lost(etcde_session *s, etcde_result why, const char *detail, void *ud) {
    (void)s;
    (void)why;
    (void)detail;
    (void)ud;
    __atomic_add_fetch(&close_lost_calls, 1, __ATOMIC_RELAXED);
}

ETCDT_TEST(session_close_releases_everything_at_once) {
    char name[64], lname[80], out[2048];
    cand a, w;
    etcde_election *m = NULL;
    etcde_session *s2 = NULL;
    etcde_session_options so = {0};
    fresh_name(name, sizeof name);
    snprintf(lname, sizeof lname, "%s-lock", name);
    REQUIRE(cand_open(&a, name, "A", 10) == 0);
    REQUIRE(cand_open(&w, name, "W", 10) == 0);
    /* a's session holds the election and a lock; its on_lost must stay silent on close */
    so.ttl_s = 10;
    so.on_lost = count_lost;
    REQUIRE(etcde_session_create(a.c, &so, &s2) == ETCDE_OK);
    etcde_election_destroy(a.e);
    etcde_session_destroy(a.s);
    a.s = s2;
    REQUIRE(etcde_election_create(a.c, a.s, name, &a.e) == ETCDE_OK);
    REQUIRE(etcde_election_create(a.c, a.s, lname, &m) == ETCDE_OK);
    REQUIRE(etcde_lock(m, 5000) == ETCDE_OK);
    REQUIRE(cand_lead_and_queue(&a, &w) == 0);
    CHECK(etcde_session_close(a.s) == ETCDE_OK);
    CHECK(cand_wait(&w, 5000) && w.result == ETCDE_OK && etcde_is_leader(w.e));
    CHECK(!etcde_is_leader(a.e) && !etcde_is_leader(m) && etcde_session_remaining_ms(a.s) == 0);
    CHECK(strcmp(etcde_session_errmsg(a.s), "session closed") == 0);
    CHECK(etcde_session_close(a.s) == ETCDE_OK); /* again: nothing to do */
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "get", "--prefix", "--keys-only", lname,
                        NULL) == 0);
    CHECK(count_lines(out) == 0); /* the lock key went with the lease */
    CHECK(etcdctl_keys(name, out, sizeof out) == 0 && count_lines(out) == 1 &&
          strstr(out, etcde_election_key(w.e)));
    etcdt_sleep_ms(100); /* time for a late callback, if any */
    CHECK(__atomic_load_n(&close_lost_calls, __ATOMIC_RELAXED) == 0);
    etcde_election_destroy(m);
    cand_close(&w);
    cand_close(&a);
}

ETCDT_TEST(own_key_deleted_with_predecessor_is_no_victory) {
    char name[64], ka[128], kw[128], end[160], out[1024];
    cand a, w;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "A", 10) == 0);
    REQUIRE(cand_open(&w, name, "W", 10) == 0);
    REQUIRE(cand_lead_and_queue(&a, &w) == 0);
    snprintf(ka, sizeof ka, "%s", etcde_election_key(a.e));
    /* w's election is busy on its thread; its key follows from its lease (thread-safe) */
    snprintf(kw, sizeof kw, "%s/%llx", name, (unsigned long long)etcde_session_lease(w.s));
    /* one delete over [lower key, higher key + "0"): both keys go at one revision, and the
       predecessor's event may come first in it */
    if (strcmp(ka, kw) < 0) {
        snprintf(end, sizeof end, "%s0", kw);
        CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "del", ka, end, NULL) == 0);
    } else {
        snprintf(end, sizeof end, "%s0", ka);
        CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "del", kw, end, NULL) == 0);
    }
    CHECK(strstr(out, "2") != NULL); /* etcdctl del prints the number deleted */
    CHECK(cand_wait(&w, 5000) && w.result == ETCDE_ERR_SESSION_LOST);
    CHECK(strstr(etcde_election_errmsg(w.e), "own key") != NULL);
    CHECK(!etcde_is_leader(w.e));
    cand_close(&w);
    cand_close(&a);
}

ETCDT_TEST(timeout_deletes_the_waiter_key) {
    char name[64], out[1024];
    cand a, w;
    int64_t t0;
    etcde_result r;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "A", 10) == 0);
    REQUIRE(cand_open(&w, name, "W", 10) == 0);
    REQUIRE(etcde_campaign(a.e, "A", 1, 5000) == ETCDE_OK);
    t0 = etcdt_now_ms();
    r = etcde_campaign(w.e, "W", 1, 800);
    CHECKF(r == ETCDE_ERR_TIMEOUT, "campaign: %s", etcde_strerror(r));
    CHECK(etcdt_now_ms() - t0 >= 800 && etcdt_now_ms() - t0 < 5000);
    CHECK(etcde_election_key(w.e)[0] == 0 && etcde_election_rev(w.e) == 0);
    CHECK(etcdctl_keys(name, out, sizeof out) == 0);
    CHECKF(strstr(out, etcde_election_key(a.e)) && count_lines(out) == 1, "keys: %s", out);
    {
        char wkey[128];
        snprintf(wkey, sizeof wkey, "%s/%llx", name, (unsigned long long)etcde_session_lease(w.s));
        CHECKF(strstr(out, wkey) == NULL, "waiter key %s still there", wkey);
    }
    cand_close(&w);
    cand_close(&a);
}

ETCDT_TEST(cancel_deletes_the_waiter_key) {
    char name[64], out[1024], wkey[128];
    cand a, w;
    etcde_result r;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "A", 10) == 0);
    REQUIRE(cand_open(&w, name, "W", 10) == 0);
    REQUIRE(etcde_campaign(a.e, "A", 1, 5000) == ETCDE_OK);
    cand_start(&w);
    CHECK(cand_wait_queued(&w, 2, 5000)); /* the cancel meets a campaign that waits */
    etcde_client_cancel(w.c);
    CHECK(cand_wait(&w, 5000));
    r = w.result;
    CHECKF(r == ETCDE_ERR_CANCELLED, "campaign: %s", etcde_strerror(r));
    snprintf(wkey, sizeof wkey, "%s/%llx", name, (unsigned long long)etcde_session_lease(w.s));
    CHECK(etcdctl_keys(name, out, sizeof out) == 0);
    CHECKF(strstr(out, wkey) == NULL && strstr(out, etcde_election_key(a.e)), "keys: %s", out);
    CHECK(etcde_session_remaining_ms(w.s) > 0); /* cancel stops waits, not keepalives */
    CHECK(etcde_campaign(w.e, "W", 1, 100) == ETCDE_ERR_CANCELLED); /* sticky */
    etcde_client_uncancel(w.c);
    CHECK(etcde_campaign(w.e, "W", 1, 300) == ETCDE_ERR_TIMEOUT);
    cand_close(&w);
    cand_close(&a);
}

/* A second candidate's short campaign: OK when the election is free. */
static etcde_result rival_try(const char *name, int ms) {
    cand b;
    etcde_result r;
    if (cand_open(&b, name, "B", 10) != 0) return ETCDE_ERR_IO;
    r = etcde_campaign(b.e, "B", 1, ms);
    cand_close(&b);
    return r;
}

ETCDT_TEST(reentrant_campaign_failures_leave_one_leader) {
    /* A leader campaigns again and fails (timeout 0, then a cancel): it must either still
       hold its key, and then nobody else can win, or hold nothing. Never both. */
    char name[64], out[1024];
    cand a;
    etcde_result r;
    int round;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "A", 10) == 0);
    REQUIRE(etcde_campaign(a.e, "A1", 2, 5000) == ETCDE_OK);
    for (round = 0; round < 2; round++) {
        if (round == 1) etcde_client_cancel(a.c);
        r = etcde_campaign(a.e, "A2", 2, 0);
        etcde_client_uncancel(a.c);
        CHECK(etcdctl_keys(name, out, sizeof out) == 0);
        if (etcde_is_leader(a.e)) {
            CHECKF(strstr(out, etcde_election_key(a.e)) != NULL,
                   "round %d (%s): leads, but no key: %s", round, etcde_strerror(r), out);
            CHECKF(rival_try(name, 300) == ETCDE_ERR_TIMEOUT,
                   "round %d: a rival won while a still leads", round);
            CHECK(etcde_proclaim(a.e, "A3", 2) == ETCDE_OK);
        } else {
            CHECKF(count_lines(out) == 0, "round %d (%s): no leader claimed, but keys stand: %s",
                   round, etcde_strerror(r), out);
            CHECK(etcde_proclaim(a.e, "A3", 2) == ETCDE_ERR_NOT_LEADER);
            CHECK(etcde_campaign(a.e, "A1", 2, 5000) == ETCDE_OK);
        }
    }
    cand_close(&a);
}

ETCDT_TEST(campaign_failing_after_its_txn_leaves_no_key) {
    /* The txn creates the key, then its reply is over the response cap: the key must go
       and a rival must win at once. (0.1.1 left it leading, renewed forever.) */
    char name[64], out[1024], *big;
    etcde_options o = {0};
    etcde_session_options so = {0};
    etcde_client *c;
    etcde_session *s;
    etcde_election *e;
    etcde_result r;
    fresh_name(name, sizeof name);
    o.endpoints = etcdt_endpoints(cl);
    o.max_response_bytes = 65536;
    so.ttl_s = 30;
    REQUIRE(etcde_client_create(&o, &c) == ETCDE_OK);
    REQUIRE(etcde_session_create(c, &so, &s) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, s, name, &e) == ETCDE_OK);
    big = (char *)calloc(1, 60000);
    REQUIRE(big != NULL);
    memset(big, 'v', 60000);
    r = etcde_campaign(e, big, 60000, 5000);
    CHECKF(r == ETCDE_ERR_TOO_BIG, "campaign: %s: %s", etcde_strerror(r), etcde_election_errmsg(e));
    CHECK(!etcde_is_leader(e));
    CHECK(etcdctl_keys(name, out, sizeof out) == 0);
    CHECKF(count_lines(out) == 0, "keys left: %s", out);
    CHECK(rival_try(name, 2000) == ETCDE_OK);
    /* a proclaim of the same size: small request, big reply is not read; no crash */
    CHECK(etcde_campaign(e, "x", 1, 5000) == ETCDE_OK);
    r = etcde_proclaim(e, big, 60000);
    CHECKF(r == ETCDE_OK, "proclaim: %s: %s", etcde_strerror(r), etcde_election_errmsg(e));
    CHECK(etcde_resign(e) == ETCDE_OK);
    free(big);
    etcde_election_destroy(e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
}

ETCDT_TEST(campaigns_timing_out_mid_txn_leave_no_key) {
    /* timeout_ms 1 expires while the txn is in flight: 0.1.1 left the key leading in 17 of
       20 runs. Now the txn runs to its reply, and a failed campaign deletes its key. */
    char name[64], out[1024];
    cand a;
    int i, won = 0;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "A", 10) == 0);
    for (i = 0; i < 20; i++) {
        etcde_result r = etcde_campaign(a.e, "A", 1, 1);
        CHECK(etcdctl_keys(name, out, sizeof out) == 0);
        if (r == ETCDE_OK) {
            won++;
            CHECKF(etcde_is_leader(a.e) && count_lines(out) == 1, "run %d: won, keys: %s", i, out);
            CHECK(etcde_resign(a.e) == ETCDE_OK);
        } else {
            CHECKF(!etcde_is_leader(a.e) && count_lines(out) == 0, "run %d: %s, keys left: %s", i,
                   etcde_strerror(r), out);
        }
    }
    CHECK(rival_try(name, 2000) == ETCDE_OK);
    printf("     timeout_ms 1, uncontended: %d of 20 campaigns won, every other left no key\n",
           won);
    { /* behind a leader: each times out in the queue and must take its key with it */
        cand b;
        char akey[128];
        REQUIRE(cand_open(&b, name, "B", 10) == 0);
        REQUIRE(etcde_campaign(b.e, "B", 1, 5000) == ETCDE_OK);
        snprintf(akey, sizeof akey, "%s/%llx", name, (unsigned long long)etcde_session_lease(a.s));
        for (i = 0; i < 20; i++) {
            etcde_result r = etcde_campaign(a.e, "A", 1, 1);
            CHECKF(r == ETCDE_ERR_TIMEOUT, "run %d: %s", i, etcde_strerror(r));
            CHECK(etcdctl_keys(name, out, sizeof out) == 0);
            CHECKF(!etcde_is_leader(a.e) && !strstr(out, akey) && count_lines(out) == 1,
                   "run %d: keys %s", i, out);
        }
        CHECK(etcde_session_remaining_ms(a.s) > 0); /* every delete was confirmed: nothing to end */
        cand_close(&b);
    }
    cand_close(&a);
}

static etcde_election *nested_e;
static etcde_result nested_r;
static int nested_cb(etcde_event_type t, const etcde_kv *kv, int64_t rev, void *ud) {
    etcde_kv other;
    (void)t;
    (void)kv;
    (void)rev;
    (void)ud;
    nested_r = etcde_leader(nested_e, &other);
    return 1;
}

ETCDT_TEST(nested_call_from_observe_callback_is_refused) {
    /* 0.1.1 let etcde_leader reuse the stream buffer under the callback's feet */
    char name[64];
    cand a;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&a, name, "A", 10) == 0);
    REQUIRE(etcde_campaign(a.e, "A", 1, 5000) == ETCDE_OK);
    nested_e = a.e;
    nested_r = ETCDE_OK;
    CHECK(etcde_observe(a.e, nested_cb, NULL, 5000) == ETCDE_OK);
    CHECKF(nested_r == ETCDE_ERR_STATE, "nested leader: %s", etcde_strerror(nested_r));
    CHECK(strstr(etcde_election_errmsg(a.e), "callback") != NULL);
    CHECK(etcde_is_leader(a.e));
    cand_close(&a);
}

static int lost_calls;
static char lost_detail[256];
static void on_lost(etcde_session *s, etcde_result why, const char *detail, void *ud) {
    (void)s;
    (void)ud;
    snprintf(lost_detail, sizeof lost_detail, "%s", detail);
    if (why == ETCDE_ERR_SESSION_LOST) __atomic_add_fetch(&lost_calls, 1, __ATOMIC_ACQ_REL);
}

ETCDT_TEST(session_loss_fires_flag_fd_and_callback) {
    etcde_options o = {0};
    etcde_session_options so = {0};
    etcde_client *c;
    etcde_session *s;
    char hex[32], out[512];
    struct pollfd p;
    o.endpoints = etcdt_endpoints(cl);
    so.ttl_s = 5;
    so.on_lost = on_lost;
    lost_calls = 0;
    REQUIRE(etcde_client_create(&o, &c) == ETCDE_OK);
    REQUIRE(etcde_session_create(c, &so, &s) == ETCDE_OK);
    CHECK(etcde_session_ttl(s) == 5);
    CHECK(etcde_session_remaining_ms(s) > 0);
    CHECK(etcde_session_remaining_ms(s) > 3000 && etcde_session_remaining_ms(s) <= 5000);
    p.fd = etcde_session_fd(s);
    p.events = POLLIN;
    CHECK(poll(&p, 1, 0) == 0);
    etcdt_sleep_ms(2500); /* past one renewal: the deadline moved on */
    CHECK(etcde_session_remaining_ms(s) > 3000);
    snprintf(hex, sizeof hex, "%llx", (unsigned long long)etcde_session_lease(s));
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "lease", "revoke", hex, NULL) == 0);
    /* the next renewal (every TTL/3) finds the lease gone */
    CHECK(poll(&p, 1, 4000) == 1);
    CHECK(etcde_session_remaining_ms(s) == 0);
    { /* the callback runs right after the fd turns readable */
        int64_t end = etcdt_now_ms() + 1000;
        while (!__atomic_load_n(&lost_calls, __ATOMIC_ACQUIRE) && etcdt_now_ms() < end)
            etcdt_sleep_ms(1);
    }
    CHECK(etcde_session_remaining_ms(s) == 0);
    CHECK(__atomic_load_n(&lost_calls, __ATOMIC_ACQUIRE) == 1);
    CHECKF(strstr(lost_detail, hex) != NULL, "detail: %s", lost_detail);
    CHECK(strstr(etcde_session_errmsg(s), "lost") != NULL);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
}

ETCDT_TEST(reattached_lease_keeps_queue_position) {
    etcde_options o = {0};
    etcde_session_options so = {0};
    etcde_client *c;
    etcde_session *s1, *s2;
    etcde_election *e1, *e2;
    char name[64], key[128];
    int64_t rev, lease;
    fresh_name(name, sizeof name);
    o.endpoints = etcdt_endpoints(cl);
    so.ttl_s = 10;
    REQUIRE(etcde_client_create(&o, &c) == ETCDE_OK);
    REQUIRE(etcde_session_create(c, &so, &s1) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, s1, name, &e1) == ETCDE_OK);
    REQUIRE(etcde_campaign(e1, "one", 3, 5000) == ETCDE_OK);
    snprintf(key, sizeof key, "%s", etcde_election_key(e1));
    rev = etcde_election_rev(e1);
    lease = etcde_session_lease(s1);
    etcde_election_destroy(e1);
    etcde_session_orphan(s1); /* a restarting process: the lease lives on */
    so.lease_id = lease;
    REQUIRE(etcde_session_create(c, &so, &s2) == ETCDE_OK);
    CHECK(etcde_session_lease(s2) == lease);
    REQUIRE(etcde_election_create(c, s2, name, &e2) == ETCDE_OK);
    CHECK(etcde_campaign(e2, "two", 3, 5000) == ETCDE_OK);
    CHECK(strcmp(etcde_election_key(e2), key) == 0 && etcde_election_rev(e2) == rev);
    {
        etcde_kv kv;
        CHECK(etcde_leader(e2, &kv) == ETCDE_OK && kv.value_len == 3 &&
              !memcmp(kv.value, "two", 3));
    }
    etcde_election_destroy(e2);
    etcde_session_destroy(s2);
    so.lease_id = lease; /* revoked now */
    CHECK(etcde_session_create(c, &so, &s1) == ETCDE_ERR_SESSION_LOST);
    CHECK(strstr(etcde_client_errmsg(c), "does not exist") != NULL);
    etcde_client_destroy(c);
}

/* `etcdctl elect NAME VALUE` on the test cluster, running. */
static etcdt_proc *etcdctl_elect(const char *name, const char *value) {
    char epflag[256];
    char *argv[] = {(char *)"etcdctl", epflag, (char *)"elect", (char *)name, (char *)value, NULL};
    snprintf(epflag, sizeof epflag, "--endpoints=%s", etcdt_endpoints(cl));
    return etcdt_spawn(argv, NULL);
}

ETCDT_TEST(interop_queue_with_etcdctl_elect) {
    /* etcdctl X leads; our C candidate queues behind it; etcdctl Y queues behind us.
       Interrupting X elects us; our resign elects Y. One queue, one order. */
    char name[64], line[256], xkey[128];
    etcdt_proc *x, *y;
    cand c;
    fresh_name(name, sizeof name);
    x = etcdctl_elect(name, "X");
    REQUIRE(x != NULL);
    CHECK(etcdt_proc_readline(x, xkey, sizeof xkey, 10000) == 1 &&
          !strncmp(xkey, name, strlen(name)));
    CHECK(etcdt_proc_readline(x, line, sizeof line, 5000) == 1 && !strcmp(line, "X"));
    REQUIRE(cand_open(&c, name, "C", 10) == 0);
    cand_start(&c);
    CHECK(cand_wait_queued(&c, 2, 5000));
    CHECK(!cand_done(&c));
    y = etcdctl_elect(name, "Y");
    REQUIRE(y != NULL);
    CHECK(etcdt_proc_readline(y, line, sizeof line, 1500) == -1); /* Y waits */
    etcdt_proc_signal(x, SIGINT);                                 /* etcdctl resigns */
    CHECK(etcdt_proc_wait(x, 5000) == 0);
    CHECK(cand_wait(&c, 5000) && c.result == ETCDE_OK);
    CHECK(etcdt_proc_readline(y, line, sizeof line, 700) == -1); /* still behind us */
    {
        etcde_kv kv;
        etcde_election *q;
        REQUIRE(etcde_election_create(c.c, NULL, name, &q) == ETCDE_OK);
        CHECK(etcde_leader(q, &kv) == ETCDE_OK && !strcmp(kv.value, "C"));
        etcde_election_destroy(q);
    }
    CHECK(etcde_resign(c.e) == ETCDE_OK);
    CHECK(etcdt_proc_readline(y, line, sizeof line, 5000) == 1 &&
          !strncmp(line, name, strlen(name)));
    CHECK(etcdt_proc_readline(y, line, sizeof line, 5000) == 1 && !strcmp(line, "Y"));
    etcdt_proc_signal(y, SIGINT);
    CHECK(etcdt_proc_wait(y, 5000) == 0);
    etcdt_proc_free(x);
    etcdt_proc_free(y);
    cand_close(&c);
}

ETCDT_TEST(etcdctl_waits_behind_our_leader) {
    char name[64], line[256];
    etcdt_proc *x;
    cand c;
    fresh_name(name, sizeof name);
    REQUIRE(cand_open(&c, name, "C", 10) == 0);
    REQUIRE(etcde_campaign(c.e, "C", 1, 5000) == ETCDE_OK);
    x = etcdctl_elect(name, "X");
    REQUIRE(x != NULL);
    CHECK(etcdt_proc_readline(x, line, sizeof line, 1500) == -1);
    CHECK(etcde_resign(c.e) == ETCDE_OK);
    CHECK(etcdt_proc_readline(x, line, sizeof line, 5000) == 1 &&
          !strncmp(line, name, strlen(name)));
    CHECK(etcdt_proc_readline(x, line, sizeof line, 5000) == 1 && !strcmp(line, "X"));
    etcdt_proc_free(x);
    cand_close(&c);
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(three_candidates_elected_in_creation_order),
        ETCDT_CASE(resign_hands_over_at_once),
        ETCDT_CASE(key_layout_matches_go_recipe),
        ETCDT_CASE(proclaim_changes_what_etcdctl_observer_prints),
        ETCDT_CASE(leader_and_no_leader),
        ETCDT_CASE(observe_sees_every_leader_change),
        ETCDT_CASE(observe_reports_states_that_change_before_it_reads),
        ETCDT_CASE(killed_leader_replaced_after_ttl),
        ETCDT_CASE(expired_waiter_never_reports_leadership),
        ETCDT_CASE(waiter_gives_up_when_its_lease_is_revoked),
        ETCDT_CASE(waiter_ignores_other_keys_between_it_and_its_predecessor),
        ETCDT_CASE(waits_behind_a_long_foreign_key),
        ETCDT_CASE(middle_candidate_leaving_elects_nobody),
        ETCDT_CASE(own_key_deleted_with_predecessor_is_no_victory),
        ETCDT_CASE(session_close_releases_everything_at_once),
        ETCDT_CASE(timeout_deletes_the_waiter_key),
        ETCDT_CASE(cancel_deletes_the_waiter_key),
        ETCDT_CASE(reentrant_campaign_failures_leave_one_leader),
        ETCDT_CASE(campaign_failing_after_its_txn_leaves_no_key),
        ETCDT_CASE(campaigns_timing_out_mid_txn_leave_no_key),
        ETCDT_CASE(nested_call_from_observe_callback_is_refused),
        ETCDT_CASE(session_loss_fires_flag_fd_and_callback),
        ETCDT_CASE(reattached_lease_keeps_queue_position),
        ETCDT_CASE(interop_queue_with_etcdctl_elect),
        ETCDT_CASE(etcdctl_waits_behind_our_leader),
    };
    int rc;
    if (argc == 7 && !strcmp(argv[1], "--cand")) return cand_child(argv + 2);
    signal(SIGPIPE, SIG_IGN);
    cl = etcdt_cluster_start(1, NULL);
    if (!cl) {
        fprintf(stderr, "could not start etcd\n0 passed, 1 failed\n");
        return 1;
    }
    rc = etcdt_run("election", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    etcdt_cluster_stop(cl);
    return rc;
}
