/* Async calls (etcde_campaign_async, etcde_lock_async) against a private, real etcd: many
   waits on one runner thread and one watch stream, handovers chained from callbacks, the
   ends a blocking call has (timeout, cancel, session loss) with their cleanup, a destroy
   mid-call, and callbacks run by an event loop through etcde_client_fd/_process. */
#include "etcdt_test.h"
#include "etcdt_proc.h"
#include "etcdt_etcd.h"
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static etcdt_cluster *cl;
static int name_seq;
static char shards_path[PATH_MAX];

static const char *fresh_name(char *buf, size_t cap, const char *what) {
    snprintf(buf, cap, "async-%s-%d-%d", what, (int)getpid(), ++name_seq);
    return buf;
}

static etcde_client *client(int in_process) {
    etcde_options o;
    etcde_client *c = NULL;
    memset(&o, 0, sizeof o);
    o.endpoints = etcdt_endpoints(cl);
    o.callbacks_in_process = in_process;
    return etcde_client_create(&o, &c) == ETCDE_OK ? c : NULL;
}

static etcde_session *session(etcde_client *c) {
    etcde_session_options so;
    etcde_session *s = NULL;
    memset(&so, 0, sizeof so);
    so.ttl_s = 10;
    return c && etcde_session_create(c, &so, &s) == ETCDE_OK ? s : NULL;
}

/* What one call's callback saw. */
typedef struct done_rec {
    int calls; /* atomic */
    etcde_result r;
    int leader;
    int64_t at;
    pthread_t thread;
    char msg[512];
} done_rec;

static int done_count; /* atomic: callbacks run, over all records */

static void on_done(etcde_election *e, etcde_result r, void *ud) {
    done_rec *d = (done_rec *)ud;
    d->r = r;
    d->leader = etcde_is_leader(e);
    d->at = etcdt_now_ms();
    d->thread = pthread_self();
    snprintf(d->msg, sizeof d->msg, "%s", etcde_election_errmsg(e));
    __atomic_add_fetch(&d->calls, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&done_count, 1, __ATOMIC_SEQ_CST);
}

static int until_done(int n, int ms) {
    int64_t end = etcdt_now_ms() + ms;
    while (__atomic_load_n(&done_count, __ATOMIC_SEQ_CST) < n)
        if (etcdt_now_ms() > end)
            return 0;
        else
            etcdt_sleep_ms(5);
    return 1;
}

/* ------------------------------------------------------------------------------------ */

#define MANY 200

/* 200 async campaigns of one client wait behind another client's leaders: they add the
   runner, the watch stream's reader and the keepalive -- three threads, not 200 -- and
   all are elected, on the runner thread, once the leaders' session ends. */
ETCDT_TEST(many_async_campaigns_need_no_thread_each) {
    char pfx[64];
    etcde_client *lc = client(0), *wc;
    etcde_session *ls = session(lc), *ws;
    etcde_election *lead[MANY], *e[MANY];
    static done_rec d[MANY];
    int i, t0, t1, ok = 0, one_thread = 1;
    int64_t closed;
    fresh_name(pfx, sizeof pfx, "many");
    REQUIRE(ls);
    for (i = 0; i < MANY; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s/%d", pfx, i);
        REQUIRE(etcde_election_create(lc, ls, name, &lead[i]) == ETCDE_OK);
        REQUIRE(etcde_campaign(lead[i], "L", 1, 5000) == ETCDE_OK);
    }
    __atomic_store_n(&done_count, 0, __ATOMIC_SEQ_CST);
    memset(d, 0, sizeof d);
    t0 = etcdt_threads();
    wc = client(0);
    ws = session(wc);
    REQUIRE(ws);
    for (i = 0; i < MANY; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s/%d", pfx, i);
        REQUIRE(etcde_election_create(wc, ws, name, &e[i]) == ETCDE_OK);
        REQUIREF(etcde_campaign_async(e[i], "W", 1, 30000, on_done, &d[i]) == ETCDE_OK, "%s",
                 etcde_election_errmsg(e[i]));
    }
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), pfx, 2 * MANY, 15000));
    etcdt_sleep_ms(300); /* the last watches are created */
    t1 = etcdt_threads();
    printf("     %d waits: %d threads more than before the client\n", MANY, t1 - t0);
    CHECKF(t1 - t0 <= 3, "%d threads for %d waits", t1 - t0, MANY);
    CHECK(__atomic_load_n(&done_count, __ATOMIC_SEQ_CST) == 0);
    closed = etcdt_now_ms();
    CHECK(etcde_session_close(ls) == ETCDE_OK);
    CHECK(until_done(MANY, 15000));
    for (i = 0; i < MANY; i++) {
        if (d[i].calls == 1 && d[i].r == ETCDE_OK && d[i].leader && etcde_is_leader(e[i]))
            ok++;
        else
            CHECKF(0, "campaign %d: %d calls, %s", i, d[i].calls, d[i].msg);
        if (!pthread_equal(d[i].thread, d[0].thread) || pthread_equal(d[i].thread, pthread_self()))
            one_thread = 0;
    }
    printf("     %d of %d elected, the last %lld ms after the leaders' session closed\n", ok, MANY,
           (long long)(d[MANY - 1].at - closed));
    CHECK(ok == MANY);
    CHECKF(one_thread, "callbacks ran on more than the runner thread");
    for (i = 0; i < MANY; i++) {
        etcde_election_destroy(lead[i]);
        etcde_election_destroy(e[i]);
    }
    etcde_session_destroy(ls);
    etcde_session_destroy(ws);
    etcde_client_destroy(lc);
    etcde_client_destroy(wc);
}

#define CHAIN 5

/* Lock holders queued in order, each unlocking from its own callback: the lock passes
   down the queue in that order, every grant after the previous holder's release. */
typedef struct chain {
    etcde_election *e[CHAIN];
    int order[CHAIN];
    int n;          /* grants so far */
    int overlapped; /* a grant came while another holder still held */
} chain;

static chain ch;

static void on_chain(etcde_election *e, etcde_result r, void *ud) {
    int i = (int)(intptr_t)ud, k;
    for (k = 0; k < CHAIN; k++)
        if (k != i && etcde_is_leader(ch.e[k])) ch.overlapped = 1;
    ch.order[ch.n++] = r == ETCDE_OK && etcde_is_leader(e) ? i : -1 - i;
    if (r == ETCDE_OK) etcde_unlock(e); /* a blocking call from a callback */
    __atomic_add_fetch(&done_count, 1, __ATOMIC_SEQ_CST);
}

ETCDT_TEST(a_lock_passes_down_the_queue_from_callbacks) {
    char name[64];
    etcde_client *c = client(0);
    etcde_session *s[CHAIN];
    etcde_session *hs = session(c);
    etcde_election *holder;
    int i;
    fresh_name(name, sizeof name, "chain");
    memset(&ch, 0, sizeof ch);
    __atomic_store_n(&done_count, 0, __ATOMIC_SEQ_CST);
    REQUIRE(hs && etcde_election_create(c, hs, name, &holder) == ETCDE_OK);
    REQUIRE(etcde_lock(holder, 5000) == ETCDE_OK);
    for (i = 0; i < CHAIN; i++) {
        REQUIRE((s[i] = session(c)) != NULL);
        REQUIRE(etcde_election_create(c, s[i], name, &ch.e[i]) == ETCDE_OK);
        REQUIRE(etcde_lock_async(ch.e[i], 1, 20000, on_chain, (void *)(intptr_t)i) == ETCDE_OK);
        REQUIRE(etcdt_wait_keys(etcdt_endpoints(cl), name, i + 2, 5000));
    }
    CHECK(etcde_unlock(holder) == ETCDE_OK);
    CHECK(until_done(CHAIN, 15000));
    for (i = 0; i < CHAIN; i++) CHECKF(ch.order[i] == i, "grant %d went to %d", i, ch.order[i]);
    CHECK(!ch.overlapped);
    CHECK(etcdt_count_keys(etcdt_endpoints(cl), name) == 0);
    etcde_election_destroy(holder);
    etcde_session_destroy(hs);
    for (i = 0; i < CHAIN; i++) {
        etcde_election_destroy(ch.e[i]);
        etcde_session_destroy(s[i]);
    }
    etcde_client_destroy(c);
}

#define CH_ELECTIONS 10
#define CH_HANDLES 4 /* per election, one on each of the client's sessions */
#define CH_ROUNDS 5

/* One handle of the churn: its election, the leaderships it has left, and where it is. */
typedef struct churner {
    etcde_election *e;
    int el, left;
    int state; /* atomic: 0 campaigning, 1 elected (its callback ran), 2 done */
    int64_t at;
} churner;

static churner chs[CH_ELECTIONS * CH_HANDLES];
static int churn_bad; /* atomic: violations seen */
static char churn_why[256];

static void churn_fail(const char *what, int el, const char *msg) {
    if (__atomic_add_fetch(&churn_bad, 1, __ATOMIC_SEQ_CST) == 1)
        snprintf(churn_why, sizeof churn_why, "election %d: %s: %.200s", el, what, msg);
}

/* No handle of h's election but h holds it. */
static void churn_alone(churner *h) {
    int k;
    for (k = 0; k < CH_HANDLES; k++) {
        churner *o = &chs[h->el * CH_HANDLES + k];
        if (o != h && etcde_is_leader(o->e)) churn_fail("two leaders", h->el, "");
    }
}

static void on_churn(etcde_election *e, etcde_result r, void *ud) {
    churner *h = (churner *)ud;
    if (r != ETCDE_OK) {
        churn_fail("campaign", h->el, etcde_election_errmsg(e));
        __atomic_store_n(&h->state, 2, __ATOMIC_SEQ_CST);
        return;
    }
    churn_alone(h);
    h->at = etcdt_now_ms();
    __atomic_store_n(&h->state, 1, __ATOMIC_SEQ_CST);
}

/* Ten elections, four handles each on the four sessions of one client: one watch stream
   and one keepalive stream carry them all while every handle is elected five times. A
   leader holds for 10 ms, so the others wait behind it on the stream; then the test's
   thread checks that etcd names it, resigns it and campaigns it again -- 200 handovers
   under churn, never two leaders of one election. */
ETCDT_TEST(many_elections_on_one_stream_hand_over_under_churn) {
    char names[CH_ELECTIONS][64];
    etcde_client *c = client(0);
    etcde_session *s[CH_HANDLES];
    int i, left = 1, handovers = 0;
    int64_t t0, end;
    memset(chs, 0, sizeof chs);
    __atomic_store_n(&churn_bad, 0, __ATOMIC_SEQ_CST);
    REQUIRE(c != NULL);
    for (i = 0; i < CH_HANDLES; i++) REQUIRE((s[i] = session(c)) != NULL);
    for (i = 0; i < CH_ELECTIONS; i++) fresh_name(names[i], sizeof names[i], "churn");
    for (i = 0; i < CH_ELECTIONS * CH_HANDLES; i++) {
        chs[i].el = i / CH_HANDLES;
        chs[i].left = CH_ROUNDS;
        REQUIRE(etcde_election_create(c, s[i % CH_HANDLES], names[chs[i].el], &chs[i].e) ==
                ETCDE_OK);
    }
    t0 = etcdt_now_ms();
    for (i = 0; i < CH_ELECTIONS * CH_HANDLES; i++)
        REQUIRE(etcde_campaign_async(chs[i].e, "v", 1, 30000, on_churn, &chs[i]) == ETCDE_OK);
    for (end = t0 + 60000; left && etcdt_now_ms() < end; etcdt_sleep_ms(2)) {
        for (left = 0, i = 0; i < CH_ELECTIONS * CH_HANDLES; i++) {
            churner *h = &chs[i];
            etcde_kv kv;
            int st = __atomic_load_n(&h->state, __ATOMIC_SEQ_CST);
            left += st != 2;
            if (st != 1 || etcdt_now_ms() - h->at < 10) continue;
            churn_alone(h);
            if (etcde_leader(h->e, &kv) != ETCDE_OK ||
                strcmp(kv.key, etcde_election_key(h->e)) != 0)
                churn_fail("etcd names another leader", h->el, etcde_election_errmsg(h->e));
            if (etcde_resign(h->e) != ETCDE_OK)
                churn_fail("resign", h->el, etcde_election_errmsg(h->e));
            handovers++;
            __atomic_store_n(&h->state, --h->left > 0 ? 0 : 2, __ATOMIC_SEQ_CST);
            if (h->left > 0 && etcde_campaign_async(h->e, "v", 1, 30000, on_churn, h) != ETCDE_OK) {
                churn_fail("campaign_async", h->el, etcde_election_errmsg(h->e));
                __atomic_store_n(&h->state, 2, __ATOMIC_SEQ_CST);
            }
        }
    }
    printf("     %d leaderships over %d elections in %lld ms, %d handles unfinished, "
           "%d violations\n",
           handovers, CH_ELECTIONS, (long long)(etcdt_now_ms() - t0), left, churn_bad);
    CHECKF(__atomic_load_n(&churn_bad, __ATOMIC_SEQ_CST) == 0, "%s", churn_why);
    CHECK(left == 0 && handovers == CH_ELECTIONS * CH_HANDLES * CH_ROUNDS);
    for (i = 0; i < CH_ELECTIONS; i++)
        CHECKF(etcdt_count_keys(etcdt_endpoints(cl), names[i]) == 0, "keys left in %s", names[i]);
    for (i = 0; i < CH_ELECTIONS * CH_HANDLES; i++) etcde_election_destroy(chs[i].e);
    for (i = 0; i < CH_HANDLES; i++) etcde_session_destroy(s[i]);
    etcde_client_destroy(c);
}

/* An async campaign behind a leader: other calls on its handle are refused while it is in
   flight; at its timeout it ends as the blocking call would, its key deleted. A held lock
   asked for again ends at once, through the callback. */
ETCDT_TEST(a_timeout_ends_the_call_and_deletes_its_key) {
    char name[64];
    etcde_client *c = client(0);
    etcde_session *ls = session(c), *ws = session(c);
    etcde_election *lead, *e;
    done_rec d;
    int64_t t0;
    fresh_name(name, sizeof name, "timeout");
    memset(&d, 0, sizeof d);
    __atomic_store_n(&done_count, 0, __ATOMIC_SEQ_CST);
    REQUIRE(ls && ws);
    REQUIRE(etcde_election_create(c, ls, name, &lead) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, ws, name, &e) == ETCDE_OK);
    REQUIRE(etcde_campaign(lead, "L", 1, 5000) == ETCDE_OK);
    CHECK(etcde_campaign_async(e, "W", 1, 1000, NULL, NULL) == ETCDE_ERR_INVALID_ARGS);
    t0 = etcdt_now_ms();
    REQUIRE(etcde_campaign_async(e, "W", 1, 600, on_done, &d) == ETCDE_OK);
    CHECK(etcde_campaign_async(e, "W", 1, 600, on_done, &d) == ETCDE_ERR_STATE);
    CHECK(etcde_resign(e) == ETCDE_ERR_STATE);
    CHECKF(strstr(etcde_client_errmsg(NULL), "async call") != NULL, "%s",
           etcde_client_errmsg(NULL));
    CHECK(until_done(1, 5000));
    printf("     ended after %lld ms: %s\n", (long long)(d.at - t0), d.msg);
    CHECK(d.r == ETCDE_ERR_TIMEOUT && !d.leader);
    CHECKF(strstr(d.msg, "campaign timed out after 600 ms") != NULL, "%s", d.msg);
    CHECK(d.at - t0 >= 600 && d.at - t0 < 2600);
    CHECK(etcdt_count_keys(etcdt_endpoints(cl), name) == 1);
    /* a lock held by lead's handle: asked again, it ends at once with OK */
    memset(&d, 0, sizeof d);
    CHECK(etcde_resign(lead) == ETCDE_OK);
    REQUIRE(etcde_lock(e, 5000) == ETCDE_OK);
    REQUIRE(etcde_lock_async(e, 1, 5000, on_done, &d) == ETCDE_OK);
    CHECK(until_done(2, 5000));
    CHECK(d.calls == 1 && d.r == ETCDE_OK && d.leader);
    CHECK(etcde_unlock(e) == ETCDE_OK);
    etcde_election_destroy(lead);
    etcde_election_destroy(e);
    etcde_session_destroy(ls);
    etcde_session_destroy(ws);
    etcde_client_destroy(c);
}

/* A cancel of the client, and the loss of the waiting session, end async waits at once,
   each with the blocking call's result and message, their keys deleted. */
ETCDT_TEST(cancel_and_session_loss_end_async_waits) {
    char name[64];
    etcde_client *lc = client(0), *cc = client(0), *sc = client(0);
    etcde_session *ls = session(lc), *cs = session(cc), *ss = session(sc);
    etcde_election *lead, *ce, *se;
    done_rec dc, dl;
    int64_t t0;
    fresh_name(name, sizeof name, "ends");
    memset(&dc, 0, sizeof dc);
    memset(&dl, 0, sizeof dl);
    __atomic_store_n(&done_count, 0, __ATOMIC_SEQ_CST);
    REQUIRE(ls && cs && ss);
    REQUIRE(etcde_election_create(lc, ls, name, &lead) == ETCDE_OK);
    REQUIRE(etcde_campaign(lead, "L", 1, 5000) == ETCDE_OK);
    REQUIRE(etcde_election_create(cc, cs, name, &ce) == ETCDE_OK);
    REQUIRE(etcde_election_create(sc, ss, name, &se) == ETCDE_OK);
    REQUIRE(etcde_campaign_async(ce, "C", 1, -1, on_done, &dc) == ETCDE_OK);
    REQUIRE(etcde_campaign_async(se, "S", 1, -1, on_done, &dl) == ETCDE_OK);
    REQUIRE(etcdt_wait_keys(etcdt_endpoints(cl), name, 3, 5000));
    etcdt_sleep_ms(200);
    t0 = etcdt_now_ms();
    etcde_client_cancel(cc);
    CHECK(etcde_session_close(ss) == ETCDE_OK);
    CHECK(until_done(2, 5000));
    printf("     cancel: %lld ms, %s\n     session loss: %lld ms, %s\n", (long long)(dc.at - t0),
           dc.msg, (long long)(dl.at - t0), dl.msg);
    CHECK(dc.r == ETCDE_ERR_CANCELLED && !dc.leader && dc.at - t0 < 1000);
    CHECKF(strstr(dc.msg, "campaign cancelled") != NULL, "%s", dc.msg);
    CHECK(dl.r == ETCDE_ERR_SESSION_LOST && !dl.leader && dl.at - t0 < 1000);
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), name, 1, 5000));
    /* a cancelled client refuses new async calls at once */
    CHECK(etcde_campaign_async(ce, "C", 1, -1, on_done, &dc) == ETCDE_ERR_CANCELLED);
    etcde_election_destroy(lead);
    etcde_election_destroy(ce);
    etcde_election_destroy(se);
    etcde_session_destroy(ls);
    etcde_session_destroy(cs);
    etcde_session_destroy(ss);
    etcde_client_destroy(lc);
    etcde_client_destroy(cc);
    etcde_client_destroy(sc);
}

/* Destroying a handle mid-call ends the call without its callback, and deletes the key
   the call made; the runner goes on with the other calls. */
ETCDT_TEST(destroy_mid_call_runs_no_callback_and_deletes_its_key) {
    char name[64];
    etcde_client *c = client(0);
    etcde_session *ls = session(c), *ws = session(c), *os = session(c);
    etcde_election *lead, *e, *other;
    done_rec d, od;
    fresh_name(name, sizeof name, "destroy");
    memset(&d, 0, sizeof d);
    memset(&od, 0, sizeof od);
    __atomic_store_n(&done_count, 0, __ATOMIC_SEQ_CST);
    REQUIRE(ls && ws && os);
    REQUIRE(etcde_election_create(c, ls, name, &lead) == ETCDE_OK);
    REQUIRE(etcde_campaign(lead, "L", 1, 5000) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, ws, name, &e) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, os, name, &other) == ETCDE_OK);
    REQUIRE(etcde_campaign_async(e, "W", 1, -1, on_done, &d) == ETCDE_OK);
    REQUIRE(etcdt_wait_keys(etcdt_endpoints(cl), name, 2, 5000));
    REQUIRE(etcde_campaign_async(other, "O", 1, -1, on_done, &od) == ETCDE_OK);
    REQUIRE(etcdt_wait_keys(etcdt_endpoints(cl), name, 3, 5000));
    etcdt_sleep_ms(200);
    etcde_election_destroy(e);
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), name, 2, 5000));
    CHECK(etcde_resign(lead) == ETCDE_OK);
    CHECK(until_done(1, 5000));
    etcdt_sleep_ms(200);
    CHECKF(d.calls == 0, "the destroyed handle's callback ran (%s)", d.msg);
    CHECKF(od.calls == 1 && od.r == ETCDE_OK && od.leader, "%s", od.msg);
    CHECK(etcde_resign(other) == ETCDE_OK);
    etcde_election_destroy(lead);
    etcde_election_destroy(other);
    etcde_session_destroy(ls);
    etcde_session_destroy(ws);
    etcde_session_destroy(os);
    etcde_client_destroy(c);
}

/* With callbacks_in_process, callbacks wait until the event loop sees etcde_client_fd
   readable and calls etcde_client_process: they run on its thread. */
ETCDT_TEST(callbacks_run_in_process_on_the_loops_thread) {
    char name[64];
    etcde_client *c = client(1), *plain = client(0);
    etcde_session *s = session(c);
    etcde_election *e;
    done_rec d;
    struct pollfd p;
    int fd, ran = 0;
    int64_t end;
    fresh_name(name, sizeof name, "loop");
    memset(&d, 0, sizeof d);
    __atomic_store_n(&done_count, 0, __ATOMIC_SEQ_CST);
    REQUIRE(s && plain);
    CHECK(etcde_client_fd(plain) == -1);
    CHECK(strstr(etcde_client_errmsg(NULL), "callbacks_in_process") != NULL);
    fd = etcde_client_fd(c);
    REQUIRE(fd >= 0);
    REQUIRE(etcde_election_create(c, s, name, &e) == ETCDE_OK);
    REQUIRE(etcde_campaign_async(e, "A", 1, 5000, on_done, &d) == ETCDE_OK);
    etcdt_sleep_ms(300);
    CHECKF(d.calls == 0, "a callback ran outside etcde_client_process");
    end = etcdt_now_ms() + 5000;
    while (!ran && etcdt_now_ms() < end) {
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 100) > 0) ran += etcde_client_process(c);
    }
    CHECK(ran == 1 && d.calls == 1 && d.r == ETCDE_OK && d.leader);
    CHECK(pthread_equal(d.thread, pthread_self()));
    CHECK(etcde_client_process(c) == 0);
    CHECK(etcde_resign(e) == ETCDE_OK);
    etcde_election_destroy(e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    etcde_client_destroy(plain);
}

/* An async observe's record: its callback's (first, for on_done), and the states it saw
   in order, as "A", "B" or "-" (nobody leads). */
typedef struct observed {
    done_rec d;
    char states[16];
    int n; /* atomic */
} observed;

static int on_state(etcde_event_type type, const etcde_kv *leader, int64_t rev, void *ud) {
    observed *o = (observed *)ud;
    int n = __atomic_load_n(&o->n, __ATOMIC_SEQ_CST);
    (void)rev;
    if (n < 15) o->states[n] = type == ETCDE_EVENT_LEADER ? leader->value[0] : '-';
    __atomic_store_n(&o->n, n + 1, __ATOMIC_SEQ_CST);
    return type == ETCDE_EVENT_LEADER && leader->value[0] == 'B'; /* stop at B */
}

static int until_seen(observed *o, int n, int ms) {
    int64_t end = etcdt_now_ms() + ms;
    while (__atomic_load_n(&o->n, __ATOMIC_SEQ_CST) < n)
        if (etcdt_now_ms() > end)
            return 0;
        else
            etcdt_sleep_ms(5);
    return 1;
}

/* An async observe (on a handle without a session) reports A, nobody, then B -- where its
   callback stops it; another, of a quiet election, ends at its timeout with the blocking
   call's message. */
ETCDT_TEST(an_async_observe_reports_each_state_until_stopped) {
    char name[64], quiet[64];
    etcde_client *c = client(0);
    etcde_session *sa = session(c), *sb = session(c);
    etcde_election *a, *b, *o, *o2;
    observed ob, ob2;
    fresh_name(name, sizeof name, "observe");
    fresh_name(quiet, sizeof quiet, "quiet");
    memset(&ob, 0, sizeof ob);
    memset(&ob2, 0, sizeof ob2);
    __atomic_store_n(&done_count, 0, __ATOMIC_SEQ_CST);
    REQUIRE(sa && sb);
    REQUIRE(etcde_election_create(c, sa, name, &a) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, sb, name, &b) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, NULL, name, &o) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, NULL, quiet, &o2) == ETCDE_OK);
    REQUIRE(etcde_campaign(a, "A", 1, 5000) == ETCDE_OK);
    CHECK(etcde_observe_async(o, on_state, 10000, NULL, &ob) == ETCDE_ERR_INVALID_ARGS);
    REQUIRE(etcde_observe_async(o, on_state, 10000, on_done, &ob) == ETCDE_OK);
    REQUIRE(etcde_observe_async(o2, on_state, 400, on_done, &ob2) == ETCDE_OK);
    CHECK(until_seen(&ob, 1, 5000));
    CHECK(etcde_resign(a) == ETCDE_OK);
    CHECK(until_seen(&ob, 2, 5000));
    CHECK(etcde_campaign(b, "B", 1, 5000) == ETCDE_OK);
    CHECK(until_done(2, 5000));
    printf("     states seen: %s; the other: %s\n", ob.states, ob2.d.msg);
    CHECKF(!strcmp(ob.states, "A-B"), "states: %s", ob.states);
    CHECK(ob.d.calls == 1 && ob.d.r == ETCDE_OK);
    CHECK(ob2.d.calls == 1 && ob2.d.r == ETCDE_ERR_TIMEOUT && !strcmp(ob2.states, "-"));
    CHECKF(strstr(ob2.d.msg, "observe ended after 400 ms") != NULL, "%s", ob2.d.msg);
    CHECK(etcde_resign(b) == ETCDE_OK);
    etcde_election_destroy(a);
    etcde_election_destroy(b);
    etcde_election_destroy(o);
    etcde_election_destroy(o2);
    etcde_session_destroy(sa);
    etcde_session_destroy(sb);
    etcde_client_destroy(c);
}

static pthread_t loop_thread;
static int off_loop; /* atomic: states seen on another thread */

static int on_state_in_loop(etcde_event_type type, const etcde_kv *leader, int64_t rev, void *ud) {
    if (!pthread_equal(pthread_self(), loop_thread))
        __atomic_add_fetch(&off_loop, 1, __ATOMIC_SEQ_CST);
    return on_state(type, leader, rev, ud);
}

/* With callbacks_in_process, an async observe's states wait for the loop too. Five are
   queued (A, nobody, B, nobody, C) before the loop first runs; B stops it there, so the
   two after it are dropped, and done runs last -- all on the loop's thread. */
ETCDT_TEST(an_in_process_observe_reports_in_the_loop_and_stops_there) {
    char name[64];
    etcde_client *c = client(1), *plain = client(0);
    etcde_session *s = session(plain);
    etcde_election *a, *b, *x, *o;
    observed ob;
    struct pollfd p;
    int fd, ran = 0;
    int64_t end;
    fresh_name(name, sizeof name, "inloop");
    memset(&ob, 0, sizeof ob);
    loop_thread = pthread_self();
    __atomic_store_n(&off_loop, 0, __ATOMIC_SEQ_CST);
    REQUIRE(c && s);
    fd = etcde_client_fd(c);
    REQUIRE(fd >= 0);
    REQUIRE(etcde_election_create(plain, s, name, &a) == ETCDE_OK);
    REQUIRE(etcde_election_create(plain, s, name, &b) == ETCDE_OK);
    REQUIRE(etcde_election_create(plain, s, name, &x) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, NULL, name, &o) == ETCDE_OK);
    REQUIRE(etcde_campaign(a, "A", 1, 5000) == ETCDE_OK);
    REQUIRE(etcde_observe_async(o, on_state_in_loop, 10000, on_done, &ob) == ETCDE_OK);
    etcdt_sleep_ms(300);
    CHECK(etcde_resign(a) == ETCDE_OK);
    etcdt_sleep_ms(300);
    CHECK(etcde_campaign(b, "B", 1, 5000) == ETCDE_OK);
    etcdt_sleep_ms(300);
    CHECK(etcde_resign(b) == ETCDE_OK);
    etcdt_sleep_ms(300);
    CHECK(etcde_campaign(x, "C", 1, 5000) == ETCDE_OK);
    etcdt_sleep_ms(500);
    CHECKF(__atomic_load_n(&ob.n, __ATOMIC_SEQ_CST) == 0, "%d states outside the loop",
           __atomic_load_n(&ob.n, __ATOMIC_SEQ_CST));
    end = etcdt_now_ms() + 5000;
    while (!ob.d.calls && etcdt_now_ms() < end) {
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 100) > 0) ran += etcde_client_process(c);
    }
    ob.states[ETCDE__MIN(__atomic_load_n(&ob.n, __ATOMIC_SEQ_CST), 15)] = 0;
    printf("     states seen in the loop: %s, then done (%d callbacks)\n", ob.states, ran);
    CHECKF(!strcmp(ob.states, "A-B"), "states: %s", ob.states);
    CHECK(ob.d.calls == 1 && ob.d.r == ETCDE_OK && pthread_equal(ob.d.thread, pthread_self()));
    CHECK(ran == 4); /* three states and done */
    CHECK(__atomic_load_n(&off_loop, __ATOMIC_SEQ_CST) == 0);
    CHECK(etcde_client_process(c) == 0);
    CHECK(etcde_resign(x) == ETCDE_OK);
    etcde_election_destroy(a);
    etcde_election_destroy(b);
    etcde_election_destroy(x);
    etcde_election_destroy(o);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    etcde_client_destroy(plain);
}

/* build/shards NAME N, and its first line. */
static etcdt_proc *shards(const char *name, const char *n) {
    char line[256];
    char *argv[] = {shards_path, (char *)etcdt_endpoints(cl), (char *)name, (char *)n, NULL};
    etcdt_proc *p = etcdt_spawn(argv, NULL);
    if (p && (etcdt_proc_readline(p, line, sizeof line, 5000) != 1 || !strstr(line, "campaign"))) {
        etcdt_proc_signal(p, SIGKILL);
        etcdt_proc_wait(p, 5000);
        etcdt_proc_free(p);
        return NULL;
    }
    return p;
}

/* Reads p's lines until one starts with `prefix`; 1 if it came within ms. */
static int until_line(etcdt_proc *p, const char *prefix, int ms) {
    char line[256];
    int64_t end = etcdt_now_ms() + ms;
    while (etcdt_proc_readline(p, line, sizeof line, etcdt__left(end)) == 1)
        if (!strncmp(line, prefix, strlen(prefix))) return 1;
    return 0;
}

/* The event-loop example: a first copy leads all 30 shards, a second queues for all;
   Ctrl-C on the first (it resigns) hands every shard to the second at once. */
ETCDT_TEST(the_event_loop_example_takes_over_every_shard) {
    char name[64];
    etcdt_proc *a, *b;
    int64_t t0;
    fresh_name(name, sizeof name, "shards");
    REQUIRE((a = shards(name, "30")) != NULL);
    CHECKF(until_line(a, "leading all 30 shards", 10000), "stderr: %s", etcdt_proc_stderr(a));
    REQUIRE((b = shards(name, "30")) != NULL);
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), name, 60, 10000));
    etcdt_sleep_ms(300);
    t0 = etcdt_now_ms();
    etcdt_proc_signal(a, SIGINT);
    CHECKF(etcdt_proc_wait(a, 5000) == 0, "stderr: %s", etcdt_proc_stderr(a));
    CHECKF(until_line(b, "leading all 30 shards", 5000), "stderr: %s", etcdt_proc_stderr(b));
    printf("     30 shards handed over in %lld ms\n", (long long)(etcdt_now_ms() - t0));
    etcdt_proc_signal(b, SIGINT);
    CHECKF(etcdt_proc_wait(b, 5000) == 0, "stderr: %s", etcdt_proc_stderr(b));
    CHECK(etcdt_count_keys(etcdt_endpoints(cl), name) == 0);
    etcdt_proc_free(a);
    etcdt_proc_free(b);
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(many_async_campaigns_need_no_thread_each),
        ETCDT_CASE(a_lock_passes_down_the_queue_from_callbacks),
        ETCDT_CASE(many_elections_on_one_stream_hand_over_under_churn),
        ETCDT_CASE(a_timeout_ends_the_call_and_deletes_its_key),
        ETCDT_CASE(cancel_and_session_loss_end_async_waits),
        ETCDT_CASE(destroy_mid_call_runs_no_callback_and_deletes_its_key),
        ETCDT_CASE(callbacks_run_in_process_on_the_loops_thread),
        ETCDT_CASE(an_async_observe_reports_each_state_until_stopped),
        ETCDT_CASE(an_in_process_observe_reports_in_the_loop_and_stops_there),
        ETCDT_CASE(the_event_loop_example_takes_over_every_shard),
    };
    char dir[PATH_MAX];
    const char *why;
    int rc;
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "%s", etcdt_self_path() ? etcdt_self_path() : "");
    snprintf(shards_path, sizeof shards_path, "%s/../shards", dirname(dir)); /* build/tests/.. */
    why = access(shards_path, X_OK) != 0         ? "build/shards is not built (make build/shards)"
          : !(cl = etcdt_cluster_start(1, NULL)) ? "could not start etcd"
                                                 : NULL;
    if (why) {
        fprintf(stderr, "%s\n0 passed, 1 failed\n", why);
        return 1;
    }
    rc = etcdt_run("async", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    etcdt_cluster_stop(cl);
    return rc;
}
