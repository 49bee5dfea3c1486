/* The transport hook against a private etcd: a pass-through transport carries whole
   elections; the same hook injects faults without any proxy -- a black hole (a silent
   partition: the leader must report loss before anyone else is elected) and a reset
   connection (the client moves to the next endpoint). */
#include "etcdt_test.h"
#include "etcdt_etcd.h"
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static etcdt_cluster *cl;

/* Fault modes, switched by the test while connections are open. */
enum { PASS = 0, BLACKHOLE = 1, RESET = 2 };

typedef struct faulty {
    int mode;                         /* atomic */
    long opened, bytes_in, bytes_out; /* atomic counters */
} faulty;

static int f_open(void *ud, int fd, const char *host, int timeout_ms, void **conn, char *err,
                  size_t cap) {
    faulty *f = (faulty *)ud;
    (void)fd;
    (void)host;
    (void)timeout_ms;
    (void)err;
    (void)cap;
    __atomic_add_fetch(&f->opened, 1, __ATOMIC_ACQ_REL);
    *conn = f;
    return 0;
}

static long f_read(void *conn, int fd, void *buf, size_t cap) {
    faulty *f = (faulty *)conn;
    int mode = __atomic_load_n(&f->mode, __ATOMIC_ACQUIRE);
    ssize_t n;
    if (mode == RESET) return ETCDE_IO_ERROR;
    if (mode == BLACKHOLE) return ETCDE_IO_WANT_READ; /* nothing ever arrives */
    n = recv(fd, buf, cap, 0);
    if (n >= 0) {
        __atomic_add_fetch(&f->bytes_in, (long)n, __ATOMIC_ACQ_REL);
        return (long)n;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? ETCDE_IO_WANT_READ
                                                                     : ETCDE_IO_ERROR;
}

static long f_write(void *conn, int fd, const void *buf, size_t len) {
    faulty *f = (faulty *)conn;
    int mode = __atomic_load_n(&f->mode, __ATOMIC_ACQUIRE);
    ssize_t n;
    if (mode == RESET) return ETCDE_IO_ERROR;
    if (mode == BLACKHOLE) return (long)len; /* swallowed */
    n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) {
        __atomic_add_fetch(&f->bytes_out, (long)n, __ATOMIC_ACQ_REL);
        return (long)n;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? ETCDE_IO_WANT_WRITE
                                                                     : ETCDE_IO_ERROR;
}

static void f_close(void *conn, int fd) {
    (void)conn;
    (void)fd;
}

static etcde_client *client_with(faulty *f, const char *endpoints) {
    etcde_transport t;
    etcde_options o = {0};
    etcde_client *c = NULL;
    memset(&t, 0, sizeof t);
    t.open = f_open;
    t.read = f_read;
    t.write = f_write;
    t.close = f_close;
    t.user_data = f;
    o.endpoints = endpoints;
    o.transport = &t; /* copied: the struct may go */
    o.request_timeout_ms = 2000;
    return etcde_client_create(&o, &c) == ETCDE_OK ? c : NULL;
}

ETCDT_TEST(pass_through_transport_carries_an_election) {
    faulty f;
    etcde_client *c;
    etcde_session *s;
    etcde_election *e;
    etcde_kv kv;
    memset(&f, 0, sizeof f);
    c = client_with(&f, etcdt_endpoints(cl));
    REQUIRE(c != NULL);
    REQUIRE(etcde_session_create(c, NULL, &s) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, s, "tr-pass", &e) == ETCDE_OK);
    CHECK(etcde_campaign(e, "T", 1, 5000) == ETCDE_OK);
    CHECK(etcde_leader(e, &kv) == ETCDE_OK && !strcmp(kv.value, "T"));
    CHECK(etcde_resign(e) == ETCDE_OK);
    CHECK(__atomic_load_n(&f.opened, __ATOMIC_ACQUIRE) >= 1);
    CHECK(__atomic_load_n(&f.bytes_in, __ATOMIC_ACQUIRE) > 200 &&
          __atomic_load_n(&f.bytes_out, __ATOMIC_ACQUIRE) > 200);
    etcde_election_destroy(e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
}

ETCDT_TEST(transport_must_be_complete) {
    etcde_transport t;
    etcde_options o = {0};
    etcde_client *c;
    memset(&t, 0, sizeof t);
    t.read = f_read; /* no open, no write */
    o.endpoints = etcdt_endpoints(cl);
    o.transport = &t;
    CHECK(etcde_client_create(&o, &c) == ETCDE_ERR_INVALID_ARGS);
    o.transport = NULL;
    o.endpoints = "https://127.0.0.1:2379"; /* TLS needs a transport */
    CHECK(etcde_client_create(&o, &c) == ETCDE_ERR_INVALID_ARGS);
}

static int64_t lost_at;
static void on_lost(etcde_session *s, etcde_result why, const char *detail, void *ud) {
    (void)s;
    (void)why;
    (void)detail;
    (void)ud;
    __atomic_store_n(&lost_at, etcdt_now_ms(), __ATOMIC_RELEASE);
}

typedef struct {
    etcde_election *e;
    etcde_result r;
    int64_t at;
} camp;

static void *camp_main(void *p) {
    camp *k = (camp *)p;
    k->r = etcde_campaign(k->e, "B", 1, 15000);
    k->at = etcdt_now_ms();
    return NULL;
}

ETCDT_TEST(black_hole_leader_reports_loss_before_successor_is_elected) {
    faulty f;
    etcde_options o = {0};
    etcde_session_options so = {0};
    etcde_client *ca, *cb;
    etcde_session *sa, *sb;
    etcde_election *ea, *eb;
    camp k;
    pthread_t th;
    memset(&f, 0, sizeof f);
    ca = client_with(&f, etcdt_endpoints(cl));
    o.endpoints = etcdt_endpoints(cl);
    REQUIRE(ca && etcde_client_create(&o, &cb) == ETCDE_OK);
    so.ttl_s = 3;
    so.on_lost = on_lost;
    __atomic_store_n(&lost_at, 0, __ATOMIC_RELEASE);
    REQUIRE(etcde_session_create(ca, &so, &sa) == ETCDE_OK);
    so.on_lost = NULL;
    so.ttl_s = 10;
    REQUIRE(etcde_session_create(cb, &so, &sb) == ETCDE_OK);
    REQUIRE(etcde_election_create(ca, sa, "tr-hole", &ea) == ETCDE_OK);
    REQUIRE(etcde_election_create(cb, sb, "tr-hole", &eb) == ETCDE_OK);
    REQUIRE(etcde_campaign(ea, "A", 1, 5000) == ETCDE_OK);
    k.e = eb;
    pthread_create(&th, NULL, camp_main, &k);
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), "tr-hole", 2, 5000)); /* the successor waits */
    __atomic_store_n(&f.mode, BLACKHOLE, __ATOMIC_RELEASE); /* partition, connections stay open */
    pthread_join(th, NULL);
    CHECKF(k.r == ETCDE_OK, "successor: %s", etcde_election_errmsg(eb));
    CHECK(__atomic_load_n(&lost_at, __ATOMIC_ACQUIRE) > 0 &&
          __atomic_load_n(&lost_at, __ATOMIC_ACQUIRE) < k.at);
    CHECK(!etcde_is_leader(ea));
    printf("     black-holed leader reported loss %lld ms before the successor was elected\n",
           (long long)(k.at - __atomic_load_n(&lost_at, __ATOMIC_ACQUIRE)));
    etcde_election_destroy(ea);
    etcde_election_destroy(eb);
    etcde_session_destroy(sa); /* revoke goes into the black hole: bounded by the timeout */
    etcde_session_destroy(sb);
    etcde_client_destroy(ca);
    etcde_client_destroy(cb);
}

ETCDT_TEST(reset_connections_fail_fast_with_a_clear_error) {
    faulty f;
    etcde_client *c;
    etcde_election *e;
    etcde_kv kv;
    int64_t t0;
    etcde_result r;
    memset(&f, 0, sizeof f);
    f.mode = RESET;
    c = client_with(&f, etcdt_endpoints(cl));
    REQUIRE(c != NULL);
    REQUIRE(etcde_election_create(c, NULL, "tr-reset", &e) == ETCDE_OK);
    t0 = etcdt_now_ms();
    r = etcde_leader(e, &kv);
    CHECKF(r == ETCDE_ERR_IO, "got %s", etcde_strerror(r));
    CHECK(etcdt_now_ms() - t0 < 1000);
    CHECKF(strstr(etcde_election_errmsg(e), "transport") != NULL, "msg: %s",
           etcde_election_errmsg(e));
    __atomic_store_n(&f.mode, PASS, __ATOMIC_RELEASE); /* healed: the next call works */
    CHECK(etcde_leader(e, &kv) == ETCDE_ERR_NO_LEADER);
    etcde_election_destroy(e);
    etcde_client_destroy(c);
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(pass_through_transport_carries_an_election),
        ETCDT_CASE(transport_must_be_complete),
        ETCDT_CASE(black_hole_leader_reports_loss_before_successor_is_elected),
        ETCDT_CASE(reset_connections_fail_fast_with_a_clear_error),
    };
    int rc;
    cl = etcdt_cluster_start(1, NULL);
    if (!cl) {
        fprintf(stderr, "could not start etcd\n0 passed, 1 failed\n");
        return 1;
    }
    rc = etcdt_run("transport", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    etcdt_cluster_stop(cl);
    return rc;
}
