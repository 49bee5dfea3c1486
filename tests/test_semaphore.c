/* Semaphores (etcde_lock_n) against a private, real etcd: at most N holders under churn
   (releases, and crashes that leave a lease to expire), waiters granted in FIFO order, a
   waiter whose lease expired never granted, and a release that wakes only the waiters it
   concerns, however many wait. */
#include "etcdt_test.h"
#include "etcdt_proc.h"
#include "etcdt_etcd.h"
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"
#include "cand.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static etcdt_cluster *cl;
static int name_seq;

static const char *fresh_name(char *buf, size_t cap) {
    snprintf(buf, cap, "sem-%d-%d", (int)getpid(), ++name_seq);
    return buf;
}

/* A semaphore user: a candidate (tests/cand.h) whose campaign is etcde_lock_n(n). */
static int sem_open(cand *k, const char *name, int n, int ttl) {
    if (cand_open_on(k, etcdt_endpoints(cl), name, "", ttl, NULL, NULL) != 0) return -1;
    k->lock = n;
    return 0;
}

/* n users of a fresh semaphore of 2 holders: h[0] and h[1] hold it, h[2..n-1] wait in
   that order (each has put its key up before the next starts). 0 if so. */
static int sem_queue(cand *h, int n, char *name, size_t cap) {
    int i;
    fresh_name(name, cap);
    for (i = 0; i < n; i++)
        if (sem_open(&h[i], name, 2, 10) != 0) return -1;
    if (cand_campaign(&h[0], 5000) != ETCDE_OK || cand_campaign(&h[1], 5000) != ETCDE_OK) return -1;
    for (i = 2; i < n; i++) {
        cand_start(&h[i]);
        if (!cand_wait_queued(&h[i], i + 1, 5000)) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */

ETCDT_TEST(bad_holder_counts_are_refused) {
    char name[64];
    cand a;
    fresh_name(name, sizeof name);
    REQUIRE(sem_open(&a, name, 1, 10) == 0);
    CHECK(etcde_lock_n(a.e, 0, 1000) == ETCDE_ERR_INVALID_ARGS);
    CHECKF(strstr(etcde_election_errmsg(a.e), "1..1000") != NULL, "msg: %s",
           etcde_election_errmsg(a.e));
    CHECK(etcde_lock_n(a.e, ETCDE_MAX_HOLDERS + 1, 1000) == ETCDE_ERR_INVALID_ARGS);
    CHECK(etcdt_count_keys(etcdt_endpoints(cl), name) == 0);
    cand_close(&a);
}

#define CHURN_N 3
#define CHURN_WORKERS 8

typedef struct churn {
    const char *name;
    int64_t until;
    int holders;                   /* atomic: how many hold it now, each by its own account */
    int most;                      /* atomic: the most that held it at once */
    int grants, crashes, failures; /* atomic */
    char why[256];                 /* the first failure */
} churn;

static void churn_fail(churn *ch, const char *what, const char *msg) {
    if (__atomic_fetch_add(&ch->failures, 1, __ATOMIC_SEQ_CST) == 0)
        snprintf(ch->why, sizeof ch->why, "%s: %s", what, msg);
}

/* Takes and releases the semaphore until ch->until; every 5th time it crashes instead:
   it stops counting itself and abandons its session, whose key stays until the lease
   expires at etcd (TTL 2 s). */
static void *churn_worker(void *p) {
    churn *ch = (churn *)p;
    cand k;
    unsigned seed = (unsigned)(uintptr_t)&k ^ (unsigned)etcdt_now_ms();
    int i, most;
    if (sem_open(&k, ch->name, CHURN_N, 2) != 0) {
        churn_fail(ch, "setup", "no client, session or election");
        return NULL;
    }
    for (i = 1; etcdt_now_ms() < ch->until; i++) {
        etcde_result r = etcde_lock_n(k.e, CHURN_N, 20000);
        int now;
        if (r != ETCDE_OK) {
            churn_fail(ch, "lock_n", etcde_election_errmsg(k.e));
            break;
        }
        now = __atomic_add_fetch(&ch->holders, 1, __ATOMIC_SEQ_CST);
        most = __atomic_load_n(&ch->most, __ATOMIC_SEQ_CST);
        while (now > most && !__atomic_compare_exchange_n(&ch->most, &most, now, 0,
                                                          __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
        __atomic_add_fetch(&ch->grants, 1, __ATOMIC_SEQ_CST);
        etcdt_sleep_ms((int)(rand_r(&seed) % 30)); /* the work */
        __atomic_sub_fetch(&ch->holders, 1, __ATOMIC_SEQ_CST);
        if (i % 5 == 0) {
            __atomic_add_fetch(&ch->crashes, 1, __ATOMIC_SEQ_CST);
            etcde_election_destroy(k.e);
            etcde_session_orphan(k.s);
            etcde_client_destroy(k.c);
            if (sem_open(&k, ch->name, CHURN_N, 2) != 0) {
                churn_fail(ch, "setup", "no client, session or election");
                return NULL;
            }
        } else if (etcde_unlock(k.e) != ETCDE_OK) {
            churn_fail(ch, "unlock", etcde_election_errmsg(k.e));
            break;
        }
    }
    cand_close(&k);
    return NULL;
}

ETCDT_TEST(at_most_n_holders_under_churn) {
    char name[64];
    churn ch;
    pthread_t th[CHURN_WORKERS];
    int i;
    memset(&ch, 0, sizeof ch);
    ch.name = fresh_name(name, sizeof name);
    ch.until = etcdt_now_ms() + 4000;
    for (i = 0; i < CHURN_WORKERS; i++) pthread_create(&th[i], NULL, churn_worker, &ch);
    for (i = 0; i < CHURN_WORKERS; i++) pthread_join(th[i], NULL);
    printf("     %d workers, N=%d: %d grants, %d crashes, at most %d holders at once\n",
           CHURN_WORKERS, CHURN_N, ch.grants, ch.crashes, ch.most);
    CHECKF(ch.failures == 0, "%d failures, first: %s", ch.failures, ch.why);
    CHECKF(ch.most <= CHURN_N, "%d held it at once", ch.most);
    CHECKF(ch.most >= CHURN_N, "never %d holders at once: the test did not contend", CHURN_N);
    CHECK(ch.crashes > 0 && ch.grants > 2 * CHURN_WORKERS);
}

ETCDT_TEST(waiters_granted_in_fifo_order) {
    char name[64];
    cand h[6]; /* h[0], h[1] hold; h[2..5] wait in that order */
    int i, next;
    REQUIRE(sem_queue(h, 6, name, sizeof name) == 0);
    CHECK(!cand_done(&h[2]) && !cand_done(&h[5]));
    /* release the oldest holder each time: the oldest waiter, and only it, is granted */
    for (next = 2; next < 6; next++) {
        CHECK(etcde_unlock(h[next - 2].e) == ETCDE_OK);
        CHECKF(cand_wait(&h[next], 5000) && h[next].result == ETCDE_OK, "waiter %d", next);
        CHECK(etcde_is_leader(h[next].e));
        etcdt_sleep_ms(150); /* time to go wrong, if it would */
        for (i = next + 1; i < 6; i++) CHECKF(!cand_done(&h[i]), "waiter %d before %d", i, next);
    }
    for (i = 0; i < 6; i++) cand_close(&h[i]);
}

ETCDT_TEST(a_newer_holder_leaving_grants_the_oldest_waiter) {
    char name[64];
    cand h[4]; /* h[0], h[1] hold; h[2], h[3] wait */
    int i;
    REQUIRE(sem_queue(h, 4, name, sizeof name) == 0);
    CHECK(etcde_unlock(h[1].e) == ETCDE_OK); /* not the oldest */
    CHECK(cand_wait(&h[2], 5000) && h[2].result == ETCDE_OK);
    etcdt_sleep_ms(150);
    CHECK(!cand_done(&h[3]));
    CHECK(etcde_unlock(h[0].e) == ETCDE_OK);
    CHECK(cand_wait(&h[3], 5000) && h[3].result == ETCDE_OK);
    for (i = 0; i < 4; i++) cand_close(&h[i]);
}

ETCDT_TEST(expired_waiter_is_never_granted) {
    /* The waiter first in line is stopped past its TTL; a holder leaves; the waiter comes
       back. It must say its session is lost, and the next waiter holds instead. */
    char name[64], line[256];
    cand h[3]; /* h[0], h[1] hold; h[2] waits behind the stopped one */
    etcdt_proc *w;
    int i, r;
    fresh_name(name, sizeof name);
    for (i = 0; i < 3; i++) REQUIRE(sem_open(&h[i], name, 2, 10) == 0);
    CHECK(cand_campaign(&h[0], 5000) == ETCDE_OK && cand_campaign(&h[1], 5000) == ETCDE_OK);
    w = cand_spawn("lock2", etcdt_endpoints(cl), name, "", 2);
    REQUIRE(w != NULL);
    CHECK(etcdt_proc_readline(w, line, sizeof line, 10000) == 1 && !strncmp(line, "queued ", 7));
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), name, 3, 5000));
    cand_start(&h[2]);
    CHECK(cand_wait_queued(&h[2], 4, 5000));
    etcdt_proc_signal(w, SIGSTOP);
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), name, 3, 8000)); /* its lease expired */
    CHECK(etcde_unlock(h[0].e) == ETCDE_OK);
    CHECK(cand_wait(&h[2], 5000) && h[2].result == ETCDE_OK);
    etcdt_sleep_ms(200); /* the delete events reach the stopped waiter before it runs again */
    etcdt_proc_signal(w, SIGCONT);
    r = etcdt_proc_readline(w, line, sizeof line, 10000);
    CHECKF(r == 1 && strstr(line, "session lost") && strstr(line, "locked=0"), "waiter said: %s",
           r == 1 ? line : "-");
    CHECK(etcdt_count_keys(etcdt_endpoints(cl), name) == 2);
    etcdt_proc_free(w);
    for (i = 0; i < 3; i++) cand_close(&h[i]);
}

ETCDT_TEST(waiter_whose_key_was_deleted_is_never_granted) {
    /* The first waiter's key is deleted by hand (its session lives on); then a holder
       leaves. The waiter must not take the place, and the next one does. */
    char name[64], out[256];
    cand h[4]; /* h[0], h[1] hold; h[2] waits first, h[3] behind it */
    int i;
    REQUIRE(sem_queue(h, 4, name, sizeof name) == 0);
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "del", etcde_election_key(h[2].e), NULL) == 0);
    CHECK(etcde_unlock(h[0].e) == ETCDE_OK);
    CHECK(cand_wait(&h[3], 5000) && h[3].result == ETCDE_OK);
    CHECK(cand_wait(&h[2], 5000));
    CHECKF(h[2].result == ETCDE_ERR_SESSION_LOST && !etcde_is_leader(h[2].e), "waiter: %s (%s)",
           etcde_strerror(h[2].result), etcde_election_errmsg(h[2].e));
    CHECK(etcdt_count_keys(etcdt_endpoints(cl), name) == 2);
    for (i = 0; i < 4; i++) cand_close(&h[i]);
}

#define HERD 30

ETCDT_TEST(a_release_wakes_only_the_waiters_it_concerns) {
    /* N=2 and 30 waiters. Each waits on the 2 keys just ahead of it, so a release concerns
       at most two waiters: etcd sees a few requests, not one per waiter. */
    char name[64];
    static cand h[HERD + 2];
    long long r0, r1;
    int64_t t0;
    int i, granted = 0;
    fresh_name(name, sizeof name);
    for (i = 0; i < HERD + 2; i++) REQUIRE(sem_open(&h[i], name, 2, 30) == 0);
    CHECK(cand_campaign(&h[0], 5000) == ETCDE_OK && cand_campaign(&h[1], 5000) == ETCDE_OK);
    for (i = 2; i < HERD + 2; i++) cand_start(&h[i]);
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), name, HERD + 2, 20000));
    etcdt_sleep_ms(1500); /* every waiter has read its window and opened its watch */
    r0 = etcdt_requests(cl, 0);
    CHECK(etcde_unlock(h[0].e) == ETCDE_OK);
    for (t0 = etcdt_now_ms(); !granted && etcdt_now_ms() - t0 < 5000; etcdt_sleep_ms(10))
        for (i = 2; i < HERD + 2; i++) granted += cand_done(&h[i]); /* the oldest waiter */
    CHECK(etcde_unlock(h[1].e) == ETCDE_OK); /* the newer holder: two waiters look again */
    etcdt_sleep_ms(1000);                    /* the other waiters' requests, if any, arrive */
    r1 = etcdt_requests(cl, 0);
    for (granted = 0, i = 2; i < HERD + 2; i++)
        granted += cand_done(&h[i]) && h[i].result == ETCDE_OK && etcde_is_leader(h[i].e);
    printf("     two releases with %d waiters: %lld requests at etcd\n", HERD, r1 - r0);
    CHECK(granted == 2);
    CHECKF(r0 > 0 && r1 - r0 <= 12, "%lld requests for two releases", r1 - r0);
    for (i = 0; i < HERD + 2; i++) cand_close(&h[i]);
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(bad_holder_counts_are_refused),
        ETCDT_CASE(at_most_n_holders_under_churn),
        ETCDT_CASE(waiters_granted_in_fifo_order),
        ETCDT_CASE(a_newer_holder_leaving_grants_the_oldest_waiter),
        ETCDT_CASE(expired_waiter_is_never_granted),
        ETCDT_CASE(waiter_whose_key_was_deleted_is_never_granted),
        ETCDT_CASE(a_release_wakes_only_the_waiters_it_concerns),
    };
    int rc;
    if (argc > 1 && !strcmp(argv[1], "--cand")) return cand_child(argv + 2);
    cl = etcdt_cluster_start(1, NULL);
    if (!cl) {
        fprintf(stderr, "could not start etcd\n0 passed, 1 failed\n");
        return 1;
    }
    rc = etcdt_run("semaphore", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    etcdt_cluster_stop(cl);
    return rc;
}
