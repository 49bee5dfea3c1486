/* Auth against a private etcd with authentication enabled (root user) and simple tokens
   that expire after 2 s: elect and lock with a password, a wrong password, tokens
   renewed during a long campaign wait and during keepalives, no secret in any message. */
#include "etcdt_test.h"
#include "etcdt_etcd.h"
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define PASSWORD "s3cret-pw"

static etcdt_cluster *cl;
static char logbuf[16384];
static size_t loglen;
static pthread_mutex_t logmu = PTHREAD_MUTEX_INITIALIZER;

static void logger(int level, const char *msg, void *ud) {
    (void)level;
    (void)ud;
    pthread_mutex_lock(&logmu);
    loglen += (size_t)snprintf(logbuf + loglen, sizeof logbuf - loglen, "%s\n", msg);
    if (loglen >= sizeof logbuf) loglen = sizeof logbuf - 1;
    pthread_mutex_unlock(&logmu);
}

static int root_etcdctl(char *out, size_t cap, const char *a0, const char *a1, const char *a2) {
    return etcdt_etcdctl(cl, out, cap, 10000, "--user=root:" PASSWORD, a0, a1, a2, NULL);
}

static etcde_client *client_as(const char *user, const char *password) {
    etcde_options o = {0};
    etcde_client *c = NULL;
    o.endpoints = etcdt_endpoints(cl);
    o.user = user;
    o.password = password;
    o.log = logger;
    o.log_level = ETCDE_LOG_DEBUG;
    o.request_timeout_ms = 3000;
    return etcde_client_create(&o, &c) == ETCDE_OK ? c : NULL;
}

ETCDT_TEST(password_works_for_elect_and_lock) {
    etcde_client *c = client_as("root", PASSWORD);
    etcde_session_options so = {0};
    etcde_session *s;
    etcde_election *e;
    etcde_election *m;
    etcde_kv kv;
    char out[4096];
    REQUIRE(c != NULL);
    so.ttl_s = 10;
    REQUIRE(etcde_session_create(c, &so, &s) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, s, "auth-el", &e) == ETCDE_OK);
    CHECKF(etcde_campaign(e, "A", 1, 5000) == ETCDE_OK, "%s", etcde_election_errmsg(e));
    CHECK(etcde_leader(e, &kv) == ETCDE_OK && !strcmp(kv.value, "A"));
    CHECK(root_etcdctl(out, sizeof out, "get", "--prefix", "auth-el/") == 0 && strstr(out, "\nA"));
    CHECK(etcde_resign(e) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, s, "auth-lk", &m) == ETCDE_OK);
    CHECKF(etcde_lock(m, 5000) == ETCDE_OK, "%s", etcde_election_errmsg(m));
    CHECK(etcde_unlock(m) == ETCDE_OK);
    etcde_election_destroy(m);
    etcde_election_destroy(e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
}

ETCDT_TEST(user_colon_password_form) {
    etcde_client *c = client_as("root:" PASSWORD, NULL);
    etcde_election *e;
    etcde_kv kv;
    REQUIRE(c != NULL);
    REQUIRE(etcde_election_create(c, NULL, "auth-none", &e) == ETCDE_OK);
    CHECKF(etcde_leader(e, &kv) == ETCDE_ERR_NO_LEADER, "%s", etcde_election_errmsg(e));
    etcde_election_destroy(e);
    etcde_client_destroy(c);
}

ETCDT_TEST(wrong_password_is_a_clear_error) {
    etcde_client *c = client_as("root", "wrong-password");
    etcde_session *s = NULL;
    etcde_election *e;
    etcde_kv kv;
    etcde_result r;
    REQUIRE(c != NULL);
    r = etcde_session_create(c, NULL, &s);
    CHECKF(r == ETCDE_ERR_AUTH, "got %s", etcde_strerror(r));
    CHECK(s == NULL);
    CHECKF(strstr(etcde_client_errmsg(c), "root") &&
               strstr(etcde_client_errmsg(c), "authentication"),
           "msg: %s", etcde_client_errmsg(c));
    CHECK(strstr(etcde_client_errmsg(c), "wrong-password") == NULL);
    REQUIRE(etcde_election_create(c, NULL, "auth-x", &e) == ETCDE_OK);
    CHECK(etcde_leader(e, &kv) == ETCDE_ERR_AUTH);
    etcde_election_destroy(e);
    etcde_client_destroy(c);
}

ETCDT_TEST(no_credentials_is_a_clear_error) {
    etcde_client *c = client_as(NULL, NULL);
    etcde_election *e;
    etcde_kv kv;
    etcde_result r;
    REQUIRE(c != NULL);
    REQUIRE(etcde_election_create(c, NULL, "auth-x", &e) == ETCDE_OK);
    r = etcde_leader(e, &kv);
    CHECKF(r == ETCDE_ERR_AUTH, "got %s: %s", etcde_strerror(r), etcde_election_errmsg(e));
    CHECKF(strstr(etcde_election_errmsg(e), "user name is empty") != NULL, "msg: %s",
           etcde_election_errmsg(e));
    etcde_election_destroy(e);
    etcde_client_destroy(c);
}

typedef struct {
    etcde_election *e;
    etcde_result r;
} camp_arg;

static void *camp_main(void *p) {
    camp_arg *a = (camp_arg *)p;
    a->r = etcde_campaign(a->e, "W", 1, 20000);
    return NULL;
}

ETCDT_TEST(expired_tokens_are_renewed_during_waits_and_keepalives) {
    /* Tokens live 2 s here, counted from their last use. The session TTL is 9 s, so the
       keepalives (every TTL/3 = 3 s) leave the token idle past its TTL: on etcd 3.4.42,
       3.5.28, 3.6.9 and later, where keepalives carry the token, each renewal meets an
       expired one. The leader holds for 8 s; the waiter sits in a watch the whole time,
       then must be elected on the resign with a fresh token. */
    etcde_client *ca = client_as("root", PASSWORD), *cb = client_as("root", PASSWORD);
    etcde_session_options so = {0};
    etcde_session *sa, *sb;
    etcde_election *ea, *eb;
    camp_arg w;
    pthread_t th;
    int i, held = 1;
    REQUIRE(ca && cb);
    so.ttl_s = 9;
    REQUIRE(etcde_session_create(ca, &so, &sa) == ETCDE_OK);
    REQUIRE(etcde_session_create(cb, &so, &sb) == ETCDE_OK);
    REQUIRE(etcde_election_create(ca, sa, "auth-long", &ea) == ETCDE_OK);
    REQUIRE(etcde_election_create(cb, sb, "auth-long", &eb) == ETCDE_OK);
    REQUIRE(etcde_campaign(ea, "A", 1, 5000) == ETCDE_OK);
    w.e = eb;
    w.r = ETCDE_ERR_STATE;
    pthread_create(&th, NULL, camp_main, &w);
    for (i = 0; i < 80; i++) { /* 8 s: tokens expire three times over */
        etcdt_sleep_ms(100);
        held &= etcde_is_leader(ea) && (etcde_session_remaining_ms(sb) > 0);
    }
    CHECK(held);
    CHECK(etcde_proclaim(ea, "A2", 2) == ETCDE_OK); /* a unary call with an expired token */
    CHECK(etcde_resign(ea) == ETCDE_OK);
    pthread_join(th, NULL);
    CHECKF(w.r == ETCDE_OK, "waiter: %s: %s", etcde_strerror(w.r), etcde_election_errmsg(eb));
    CHECK(etcde_is_leader(eb));
    pthread_mutex_lock(&logmu); /* the renewal path really ran */
    CHECKF(strstr(logbuf, "authenticating again") != NULL, "log: %s", logbuf);
    if (getenv("ETCDT_VERBOSE")) printf("%s", logbuf);
    pthread_mutex_unlock(&logmu);
    etcde_election_destroy(ea);
    etcde_election_destroy(eb);
    etcde_session_destroy(sa);
    etcde_session_destroy(sb);
    etcde_client_destroy(ca);
    etcde_client_destroy(cb);
}

ETCDT_TEST(lease_grant_reattach_and_revoke_carry_the_token) {
    /* etcd 3.4.42, 3.5.28, 3.6.9 and later check the token on lease grant and revoke. Each
       call here also meets a token left idle past its 2 s TTL. */
    etcde_client *c = client_as("root", PASSWORD);
    etcde_session_options so = {0};
    etcde_session *s, *again;
    etcde_election *e;
    char out[4096];
    REQUIRE(c != NULL);
    so.ttl_s = 30;
    REQUIRE(etcde_session_create(c, &so, &s) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, s, "auth-lease", &e) == ETCDE_OK);
    CHECKF(etcde_campaign(e, "A", 1, 5000) == ETCDE_OK, "%s", etcde_election_errmsg(e));
    etcdt_sleep_ms(3100);
    so.lease_id = etcde_session_lease(s);
    CHECKF(etcde_session_create(c, &so, &again) == ETCDE_OK, "re-attach: %s",
           etcde_client_errmsg(c));
    etcdt_sleep_ms(3100);
    CHECKF(etcde_session_close(s) == ETCDE_OK, "revoke: %s", etcde_session_errmsg(s));
    CHECK(root_etcdctl(out, sizeof out, "get", "--prefix", "auth-lease/") == 0 && out[0] == 0);
    etcde_election_destroy(e);
    etcde_session_destroy(again);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
}

ETCDT_TEST(no_secret_in_logs) {
    pthread_mutex_lock(&logmu);
    CHECK(strstr(logbuf, PASSWORD) == NULL);
    CHECK(strstr(logbuf, "wrong-password") == NULL);
    pthread_mutex_unlock(&logmu);
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(password_works_for_elect_and_lock),
        ETCDT_CASE(user_colon_password_form),
        ETCDT_CASE(wrong_password_is_a_clear_error),
        ETCDT_CASE(no_credentials_is_a_clear_error),
        ETCDT_CASE(expired_tokens_are_renewed_during_waits_and_keepalives),
        ETCDT_CASE(lease_grant_reattach_and_revoke_carry_the_token),
        ETCDT_CASE(no_secret_in_logs),
    };
    char out[4096];
    int rc;
    cl = etcdt_cluster_start(1, "--auth-token=simple --auth-token-ttl=2");
    if (!cl) {
        fprintf(stderr, "could not start etcd\n0 passed, 1 failed\n");
        return 1;
    }
    if (etcdt_etcdctl(cl, out, sizeof out, 10000, "user", "add", "root:" PASSWORD, NULL) != 0 ||
        etcdt_etcdctl(cl, out, sizeof out, 10000, "auth", "enable", NULL) != 0) {
        fprintf(stderr, "could not enable auth: %s\n0 passed, 1 failed\n", out);
        etcdt_cluster_stop(cl);
        return 1;
    }
    rc = etcdt_run("auth", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    etcdt_cluster_stop(cl);
    return rc;
}
