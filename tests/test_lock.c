/* Locks and fenced writes against a private, real etcd: layout, trylock, timeout, FIFO,
   unlock fencing, re-entrancy, the expired-lease waiter, `etcdctl lock` interop, and
   writes that only land while the writer still leads or holds the lock. */
#include "etcdt_test.h"
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

static etcdt_cluster *cl;
static int name_seq;

static const char *fresh_name(char *buf, size_t cap) {
    snprintf(buf, cap, "lk-%d-%d", (int)getpid(), ++name_seq);
    return buf;
}

/* A lock holder: a candidate (tests/cand.h) whose campaign is etcde_lock. */
static int lock_open(cand *k, const char *name, int ttl) {
    if (cand_open_on(k, etcdt_endpoints(cl), name, "", ttl, NULL, NULL) != 0) return -1;
    k->lock = 1;
    return 0;
}

/* Non-empty lines of `etcdctl get --prefix --keys-only NAME/`. */
static int key_count(const char *name, char *out, size_t cap) {
    char pfx[128];
    int n = 0, in_line = 0;
    const char *s;
    snprintf(pfx, sizeof pfx, "%s/", name);
    if (etcdt_etcdctl(cl, out, cap, 10000, "get", "--prefix", "--keys-only", pfx, NULL) != 0)
        return -1;
    for (s = out; *s; s++) {
        if (*s == '\n')
            in_line = 0;
        else if (!in_line)
            in_line = 1, n++;
    }
    return n;
}

/* ------------------------------------------------------------------------------------ */

ETCDT_TEST(lock_key_layout_and_token) {
    char name[64], want[128], out[4096];
    cand a;
    fresh_name(name, sizeof name);
    REQUIRE(lock_open(&a, name, 10) == 0);
    CHECK(etcde_election_key(a.e)[0] == 0 && etcde_election_rev(a.e) == 0 && !etcde_is_leader(a.e));
    REQUIRE(etcde_lock(a.e, 5000) == ETCDE_OK);
    CHECK(etcde_is_leader(a.e));
    snprintf(want, sizeof want, "%s/%llx", name, (unsigned long long)etcde_session_lease(a.s));
    CHECKF(!strcmp(etcde_election_key(a.e), want), "key %s", etcde_election_key(a.e));
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "get", want, "-w", "json", NULL) == 0);
    {
        char needle[64];
        snprintf(needle, sizeof needle, "\"create_revision\":%lld",
                 (long long)etcde_election_rev(a.e));
        CHECKF(strstr(out, needle) != NULL, "etcdctl: %s", out);
        CHECKF(strstr(out, "\"value\"") == NULL, "a lock key has an empty value: %s", out);
    }
    CHECK(etcde_unlock(a.e) == ETCDE_OK && !etcde_is_leader(a.e));
    CHECK(key_count(name, out, sizeof out) == 0);
    CHECK(etcde_unlock(a.e) == ETCDE_OK); /* nothing to unlock: fine */
    cand_close(&a);
}

ETCDT_TEST(trylock_leaves_no_key_behind) {
    char name[64], out[4096];
    cand a, b;
    fresh_name(name, sizeof name);
    REQUIRE(lock_open(&a, name, 10) == 0);
    REQUIRE(lock_open(&b, name, 10) == 0);
    CHECK(etcde_trylock(a.e) == ETCDE_OK && etcde_is_leader(a.e));
    CHECK(etcde_trylock(b.e) == ETCDE_ERR_LOCKED);
    CHECKF(strstr(etcde_election_errmsg(b.e), etcde_election_key(a.e)) != NULL, "msg: %s",
           etcde_election_errmsg(b.e));
    CHECK(!etcde_is_leader(b.e) && etcde_election_key(b.e)[0] == 0);
    CHECK(key_count(name, out, sizeof out) == 1);
    CHECK(etcde_trylock(a.e) == ETCDE_OK); /* the cand may try again */
    CHECK(etcde_unlock(a.e) == ETCDE_OK);
    CHECK(etcde_trylock(b.e) == ETCDE_OK && etcde_is_leader(b.e));
    cand_close(&b);
    cand_close(&a);
}

ETCDT_TEST(lock_timeout_deletes_the_waiting_key) {
    char name[64], out[4096];
    cand a, b;
    int64_t t0;
    fresh_name(name, sizeof name);
    REQUIRE(lock_open(&a, name, 10) == 0);
    REQUIRE(lock_open(&b, name, 10) == 0);
    REQUIRE(etcde_lock(a.e, 5000) == ETCDE_OK);
    t0 = etcdt_now_ms();
    CHECK(etcde_lock(b.e, 600) == ETCDE_ERR_TIMEOUT);
    CHECK(etcdt_now_ms() - t0 >= 600);
    CHECK(strstr(etcde_election_errmsg(b.e), "timed out") != NULL);
    CHECK(key_count(name, out, sizeof out) == 1 && strstr(out, etcde_election_key(a.e)));
    cand_close(&b);
    cand_close(&a);
}

ETCDT_TEST(waiters_acquire_in_fifo_order) {
    char name[64];
    cand h[3];
    int i;
    fresh_name(name, sizeof name);
    for (i = 0; i < 3; i++) REQUIRE(lock_open(&h[i], name, 10) == 0);
    REQUIRE(cand_lead_and_queue(&h[0], &h[1]) == 0);
    cand_start(&h[2]);
    CHECK(cand_wait_queued(&h[2], 3, 5000));
    CHECK(!cand_done(&h[1]) && !cand_done(&h[2]));
    CHECK(etcde_unlock(h[0].e) == ETCDE_OK);
    CHECK(cand_wait(&h[1], 5000) && h[1].result == ETCDE_OK);
    etcdt_sleep_ms(200); /* time to go wrong, if it would */
    CHECK(!cand_done(&h[2]));
    CHECK(etcde_unlock(h[1].e) == ETCDE_OK);
    CHECK(cand_wait(&h[2], 5000) && h[2].result == ETCDE_OK && etcde_is_leader(h[2].e));
    for (i = 0; i < 3; i++) cand_close(&h[i]);
}

ETCDT_TEST(stale_unlock_never_deletes_a_newer_lock) {
    /* One session locks, loses the key (deleted behind its back), locks again through a
       second handle: same key name, newer create revision. The first handle's stale
       unlock is fenced on the old revision and must leave the new lock alone. */
    char name[64], out[4096], key[128];
    cand a;
    etcde_election *m2;
    int64_t r1;
    fresh_name(name, sizeof name);
    REQUIRE(lock_open(&a, name, 10) == 0);
    REQUIRE(etcde_lock(a.e, 5000) == ETCDE_OK);
    r1 = etcde_election_rev(a.e);
    snprintf(key, sizeof key, "%s", etcde_election_key(a.e));
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "del", key, NULL) == 0);
    REQUIRE(etcde_election_create(a.c, a.s, name, &m2) == ETCDE_OK);
    REQUIRE(etcde_lock(m2, 5000) == ETCDE_OK);
    CHECK(!strcmp(etcde_election_key(m2), key) && etcde_election_rev(m2) > r1);
    CHECK(etcde_unlock(a.e) == ETCDE_OK); /* stale */
    CHECK(key_count(name, out, sizeof out) == 1 && strstr(out, key));
    CHECK(etcde_is_leader(m2));
    CHECK(etcde_election_put(m2, "fence-probe", "x", 1) == ETCDE_OK); /* still the holder */
    CHECK(etcde_unlock(m2) == ETCDE_OK);
    CHECK(key_count(name, out, sizeof out) == 0);
    etcde_election_destroy(m2);
    cand_close(&a);
}

ETCDT_TEST(lock_is_reentrant_on_one_session) {
    char name[64], out[4096];
    cand a;
    etcde_election *m2;
    int64_t t0;
    fresh_name(name, sizeof name);
    REQUIRE(lock_open(&a, name, 10) == 0);
    REQUIRE(etcde_lock(a.e, 5000) == ETCDE_OK);
    CHECK(etcde_lock(a.e, 5000) == ETCDE_OK); /* again: same key, same token */
    REQUIRE(etcde_election_create(a.c, a.s, name, &m2) == ETCDE_OK);
    t0 = etcdt_now_ms();
    CHECK(etcde_lock(m2, 5000) == ETCDE_OK);
    CHECK(etcdt_now_ms() - t0 < 1000);
    CHECK(!strcmp(etcde_election_key(m2), etcde_election_key(a.e)));
    CHECK(etcde_election_rev(m2) == etcde_election_rev(a.e));
    CHECK(key_count(name, out, sizeof out) == 1);
    CHECK(etcde_unlock(a.e) == ETCDE_OK); /* one unlock releases it, as in Go */
    CHECK(key_count(name, out, sizeof out) == 0);
    etcde_election_destroy(m2);
    cand_close(&a);
}

/* 1 if another session's trylock on `name` succeeds (then it unlocks again). */
static int rival_gets_lock(const char *name) {
    cand b;
    int got;
    if (lock_open(&b, name, 10) != 0) return -1;
    got = etcde_trylock(b.e) == ETCDE_OK;
    if (got) etcde_unlock(b.e);
    cand_close(&b);
    return got;
}

ETCDT_TEST(reentrant_lock_failures_never_make_two_holders) {
    /* 0.1.1: a re-entrant lock(m1, 1) timed out, deleted the held key, and left
       is_leader(m1) at 1 while another session took the lock. */
    char name[64], out[4096];
    cand a;
    etcde_result r;
    int i;
    fresh_name(name, sizeof name);
    REQUIRE(lock_open(&a, name, 10) == 0);
    REQUIRE(etcde_lock(a.e, 5000) == ETCDE_OK);
    for (i = 0; i < 3; i++) {
        if (i == 1) etcde_client_cancel(a.c); /* as a signal handler would */
        r = i == 2 ? etcde_trylock(a.e) : etcde_lock(a.e, i == 0 ? 1 : -1);
        etcde_client_uncancel(a.c);
        if (etcde_is_leader(a.e)) {
            CHECKF(rival_gets_lock(name) == 0, "call %d (%s): two holders", i, etcde_strerror(r));
            CHECK(key_count(name, out, sizeof out) == 1);
        } else {
            CHECKF(key_count(name, out, sizeof out) == 0, "call %d (%s): not held, keys %s", i,
                   etcde_strerror(r), out);
        }
    }
    CHECK(etcde_is_leader(a.e));
    CHECK(etcde_unlock(a.e) == ETCDE_OK);
    CHECK(!etcde_is_leader(a.e));
    CHECK(rival_gets_lock(name) == 1);
    cand_close(&a);
}

ETCDT_TEST(unlock_through_one_handle_releases_every_handle) {
    /* two handles on one session share one key: after one unlock neither may claim it */
    char name[64], out[4096];
    cand a;
    etcde_election *m2;
    fresh_name(name, sizeof name);
    REQUIRE(lock_open(&a, name, 10) == 0);
    REQUIRE(etcde_election_create(a.c, a.s, name, &m2) == ETCDE_OK);
    REQUIRE(etcde_lock(a.e, 5000) == ETCDE_OK);
    REQUIRE(etcde_lock(m2, 5000) == ETCDE_OK);
    CHECK(etcde_is_leader(m2));
    CHECK(etcde_unlock(a.e) == ETCDE_OK);
    CHECK(!etcde_is_leader(a.e));
    CHECK(!etcde_is_leader(m2));
    CHECK(etcde_election_put(m2, "fence-probe", "x", 1) == ETCDE_ERR_NOT_LEADER);
    CHECK(key_count(name, out, sizeof out) == 0);
    CHECK(rival_gets_lock(name) == 1);
    etcde_election_destroy(m2);
    cand_close(&a);
}

ETCDT_TEST(expired_lease_waiter_is_not_granted_the_lock) {
    /* The lock Jepsen found granted on an expired lease (etcd 3.4): pause the waiter past
       its TTL, release the lock, resume the waiter. */
    char name[64], line[256], out[4096];
    cand a;
    etcdt_proc *w;
    int r;
    fresh_name(name, sizeof name);
    REQUIRE(lock_open(&a, name, 10) == 0);
    REQUIRE(etcde_lock(a.e, 5000) == ETCDE_OK);
    w = cand_spawn("lock", etcdt_endpoints(cl), name, "", 2);
    REQUIRE(w != NULL);
    CHECK(etcdt_proc_readline(w, line, sizeof line, 10000) == 1 && !strncmp(line, "queued ", 7));
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), name, 2, 5000)); /* the waiter's key is up */
    etcdt_proc_signal(w, SIGSTOP);
    etcdt_sleep_ms(4500); /* etcd expires the waiter's lease and deletes its key */
    CHECK(etcde_unlock(a.e) == ETCDE_OK);
    etcdt_sleep_ms(200); /* the delete event reaches the stopped waiter before it runs again */
    etcdt_proc_signal(w, SIGCONT);
    r = etcdt_proc_readline(w, line, sizeof line, 10000);
    CHECKF(r == 1 && strstr(line, "session lost") && strstr(line, "locked=0"), "waiter said: %s",
           r == 1 ? line : "-");
    CHECK(key_count(name, out, sizeof out) == 0);
    etcdt_proc_free(w);
    cand_close(&a);
}

ETCDT_TEST(excludes_etcdctl_lock_both_ways) {
    char name[64], line[256], epflag[256], xkey[256];
    char *ax[8];
    cand a;
    etcdt_proc *x;
    fresh_name(name, sizeof name);
    snprintf(epflag, sizeof epflag, "--endpoints=%s", etcdt_endpoints(cl));
    ax[0] = (char *)"etcdctl";
    ax[1] = epflag;
    ax[2] = (char *)"lock";
    ax[3] = name;
    ax[4] = NULL;
    /* ours first: etcdctl waits, then gets it when we unlock */
    REQUIRE(lock_open(&a, name, 10) == 0);
    REQUIRE(etcde_lock(a.e, 5000) == ETCDE_OK);
    x = etcdt_spawn(ax, NULL);
    REQUIRE(x != NULL);
    CHECK(etcdt_proc_readline(x, line, sizeof line, 1500) == -1);
    CHECK(etcde_unlock(a.e) == ETCDE_OK);
    CHECK(etcdt_proc_readline(x, xkey, sizeof xkey, 5000) == 1 &&
          !strncmp(xkey, name, strlen(name)));
    /* theirs first: we wait, and get it when etcdctl unlocks */
    CHECK(etcde_trylock(a.e) == ETCDE_ERR_LOCKED);
    cand_start(&a);
    CHECK(cand_wait_queued(&a, 2, 5000));
    CHECK(!cand_done(&a));
    etcdt_proc_signal(x, SIGINT);
    CHECK(etcdt_proc_wait(x, 5000) == 0);
    CHECK(cand_wait(&a, 5000) && a.result == ETCDE_OK && etcde_is_leader(a.e));
    etcdt_proc_free(x);
    cand_close(&a);
}

ETCDT_TEST(fenced_writes_only_while_leading) {
    char name[64], out[4096], k1[128], k2[128];
    etcde_options o = {0};
    etcde_session_options so = {0};
    etcde_client *c;
    etcde_session *s;
    etcde_election *e;
    fresh_name(name, sizeof name);
    snprintf(k1, sizeof k1, "%s-data-1", name);
    snprintf(k2, sizeof k2, "%s-data-2", name);
    o.endpoints = etcdt_endpoints(cl);
    so.ttl_s = 10;
    REQUIRE(etcde_client_create(&o, &c) == ETCDE_OK);
    REQUIRE(etcde_session_create(c, &so, &s) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, s, name, &e) == ETCDE_OK);
    CHECK(etcde_election_put(e, k1, "early", 5) == ETCDE_ERR_NOT_LEADER); /* not yet */
    REQUIRE(etcde_campaign(e, "L", 1, 5000) == ETCDE_OK);
    CHECK(etcde_election_put(e, k1, "v1", 2) == ETCDE_OK);
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "get", k1, "--print-value-only", NULL) == 0 &&
          !strcmp(out, "v1\n"));
    CHECK(etcde_election_put(e, k2, "v2", 2) == ETCDE_OK);
    CHECK(etcde_election_delete(e, k2) == ETCDE_OK);
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "get", k2, NULL) == 0 && out[0] == 0);
    /* the leader key vanishes behind our back: the next write is refused, nothing lands */
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "del", etcde_election_key(e), NULL) == 0);
    CHECK(etcde_election_put(e, k1, "stale", 5) == ETCDE_ERR_NOT_LEADER);
    CHECK(!etcde_is_leader(e));
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "get", k1, "--print-value-only", NULL) == 0 &&
          !strcmp(out, "v1\n"));
    CHECK(etcde_election_delete(e, k1) == ETCDE_ERR_NOT_LEADER);
    /* after a resign, too */
    REQUIRE(etcde_campaign(e, "L", 1, 5000) == ETCDE_OK);
    CHECK(etcde_resign(e) == ETCDE_OK);
    CHECK(etcde_election_put(e, k1, "after", 5) == ETCDE_ERR_NOT_LEADER);
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "get", k1, "--print-value-only", NULL) == 0 &&
          !strcmp(out, "v1\n"));
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "del", k1, NULL) == 0);
    etcde_election_destroy(e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
}

ETCDT_TEST(fenced_writes_only_while_holding_the_lock) {
    char name[64], out[4096], k[128];
    cand a, b;
    fresh_name(name, sizeof name);
    snprintf(k, sizeof k, "%s-data", name);
    REQUIRE(lock_open(&a, name, 10) == 0);
    REQUIRE(lock_open(&b, name, 10) == 0);
    REQUIRE(etcde_lock(a.e, 5000) == ETCDE_OK);
    CHECK(etcde_election_put(a.e, k, "a", 1) == ETCDE_OK);
    CHECK(etcde_election_put(b.e, k, "b", 1) == ETCDE_ERR_NOT_LEADER); /* b never held it */
    CHECK(etcde_unlock(a.e) == ETCDE_OK);
    REQUIRE(etcde_lock(b.e, 5000) == ETCDE_OK);
    CHECK(etcde_election_put(a.e, k, "stale", 5) == ETCDE_ERR_NOT_LEADER);
    CHECK(strstr(etcde_election_errmsg(a.e), "lock holder") != NULL);
    CHECK(etcde_election_put(b.e, k, "b", 1) == ETCDE_OK);
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "get", k, "--print-value-only", NULL) == 0 &&
          !strcmp(out, "b\n"));
    CHECK(etcde_election_delete(b.e, k) == ETCDE_OK);
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "get", k, NULL) == 0 && out[0] == 0);
    cand_close(&b);
    cand_close(&a);
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(lock_key_layout_and_token),
        ETCDT_CASE(trylock_leaves_no_key_behind),
        ETCDT_CASE(lock_timeout_deletes_the_waiting_key),
        ETCDT_CASE(waiters_acquire_in_fifo_order),
        ETCDT_CASE(stale_unlock_never_deletes_a_newer_lock),
        ETCDT_CASE(lock_is_reentrant_on_one_session),
        ETCDT_CASE(reentrant_lock_failures_never_make_two_holders),
        ETCDT_CASE(unlock_through_one_handle_releases_every_handle),
        ETCDT_CASE(expired_lease_waiter_is_not_granted_the_lock),
        ETCDT_CASE(excludes_etcdctl_lock_both_ways),
        ETCDT_CASE(fenced_writes_only_while_leading),
        ETCDT_CASE(fenced_writes_only_while_holding_the_lock),
    };
    int rc;
    if (argc == 7 && !strcmp(argv[1], "--cand")) return cand_child(argv + 2);
    signal(SIGPIPE, SIG_IGN);
    cl = etcdt_cluster_start(1, NULL);
    if (!cl) {
        fprintf(stderr, "could not start etcd\n0 passed, 1 failed\n");
        return 1;
    }
    rc = etcdt_run("lock", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    etcdt_cluster_stop(cl);
    return rc;
}
