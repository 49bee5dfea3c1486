/* The etcd-elect CLI (build/etcd-elect) against a private, real etcd and the real etcdctl:
   interop both ways (elect, elect -l, lock), exit codes, the child's environment, signal
   forwarding, flag parsing, and -- through a partitioning proxy -- that the child is
   stopped before a second candidate is elected when leadership or the lock is lost. */
#include "etcdt_test.h" /* first: it sets _GNU_SOURCE */
#include "etcdt_proc.h"
#include "etcdt_etcd.h"
#include "etcdt_proxy.h"
#include "etcd_elect.h" /* ETCDE_VERSION_STRING */

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static etcdt_cluster *cl; /* one 1-member cluster for the whole suite */
static int name_seq;
static char cli_path[PATH_MAX];
static char epflag[256]; /* --endpoints=<the member> */

static const char *fresh_name(char *buf, size_t cap) {
    snprintf(buf, cap, "cli-%d-%d", (int)getpid(), ++name_seq);
    return buf;
}

static int64_t realtime_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- processes ------------------------------------------------------------------------ */

/* Spawns argv0 a0 args... (NULL-terminated) with extra environment `env` (may be NULL). */
static etcdt_proc *spawn_va(char *const *env, const char *argv0, const char *a0, va_list ap) {
    char *argv[64];
    int n = 0;
    const char *a;
    argv[n++] = (char *)argv0;
    argv[n++] = (char *)a0;
    while (n < 63 && (a = va_arg(ap, const char *)) != NULL) argv[n++] = (char *)a;
    argv[n] = NULL;
    return etcdt_spawn(argv, env);
}

/* build/etcd-elect ARGS... */
static etcdt_proc *cli(const char *a0, ...) {
    etcdt_proc *p;
    va_list ap;
    va_start(ap, a0);
    p = spawn_va(NULL, cli_path, a0, ap);
    va_end(ap);
    return p;
}

/* build/etcd-elect ARGS... with extra environment. */
static etcdt_proc *cli_env(char *const *env, const char *a0, ...) {
    etcdt_proc *p;
    va_list ap;
    va_start(ap, a0);
    p = spawn_va(env, cli_path, a0, ap);
    va_end(ap);
    return p;
}

/* etcdctl --endpoints=<member> ARGS... (a long-running one: elect, lock) */
static etcdt_proc *ctl(const char *a0, ...) {
    char *argv[64];
    int n = 0;
    const char *a;
    va_list ap;
    argv[n++] = (char *)"etcdctl";
    argv[n++] = epflag;
    argv[n++] = (char *)a0;
    va_start(ap, a0);
    while (n < 63 && (a = va_arg(ap, const char *)) != NULL) argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return etcdt_spawn(argv, NULL);
}

/* Reads lines until one equals `want`; 1 if found in time. */
static int wait_line(etcdt_proc *p, const char *want, int timeout_ms) {
    char line[512];
    int64_t end = etcdt_now_ms() + timeout_ms;
    while (etcdt_now_ms() < end)
        if (etcdt_proc_readline(p, line, sizeof line, (int)(end - etcdt_now_ms())) == 1 &&
            !strcmp(line, want))
            return 1;
    return 0;
}

/* Reads the "KEY\nVALUE\n" pair printed on election / lock; 1 if both lines came. */
static int read_pair(etcdt_proc *p, char *key, size_t kcap, char *val, size_t vcap,
                     int timeout_ms) {
    if (etcdt_proc_readline(p, key, kcap, timeout_ms) != 1) return 0;
    return etcdt_proc_readline(p, val, vcap, 5000) == 1;
}

/* ---- etcd state through etcdctl ---------------------------------------------------------- */

/* Number of keys under NAME/, or -1. */
static int count_keys(const char *name) { return etcdt_count_keys(etcdt_endpoints(cl), name); }

/* Waits until NAME/ holds n keys; 1 if it did in time. */
static int wait_keys(const char *name, int n, int timeout_ms) {
    return etcdt_wait_keys(etcdt_endpoints(cl), name, n, timeout_ms);
}

/* A number after "field": in JSON text, or -1. */
static long long json_num(const char *json, const char *field) {
    char needle[64];
    const char *p;
    snprintf(needle, sizeof needle, "\"%s\":", field);
    p = strstr(json, needle);
    return p ? strtoll(p + strlen(needle), NULL, 10) : -1;
}

/* create_revision, lease (as lower-case hex) and value of KEY, via etcdctl. 0 if found. */
static int key_info(const char *key, long long *create_rev, char *lease_hex, size_t lcap, char *val,
                    size_t vcap) {
    char out[4096];
    long long lease;
    if (etcdt_etcdctl(cl, out, sizeof out, 10000, "get", key, "-w", "json", NULL) != 0) return -1;
    *create_rev = json_num(out, "create_revision");
    lease = json_num(out, "lease");
    if (*create_rev <= 0 || lease <= 0) return -1;
    snprintf(lease_hex, lcap, "%llx", lease);
    if (etcdt_etcdctl(cl, out, sizeof out, 10000, "get", key, "--print-value-only", NULL) != 0)
        return -1;
    out[strcspn(out, "\n")] = 0;
    snprintf(val, vcap, "%s", out);
    return 0;
}

/* KEY is NAME/<lease hex>, that lease holds it, and its value is `want`. */
static void check_key_layout(const char *name, const char *key, const char *want) {
    long long rev;
    char hex[32], val[256], expect[256];
    CHECKF(key_info(key, &rev, hex, sizeof hex, val, sizeof val) == 0, "key %s not on etcd", key);
    snprintf(expect, sizeof expect, "%s/%s", name, hex);
    CHECKF(!strcmp(key, expect), "key %s, expected NAME/<lease hex> = %s", key, expect);
    CHECKF(!strcmp(val, want), "value of %s is \"%s\", expected \"%s\"", key, val, want);
}

/* ---- interop with etcdctl ------------------------------------------------------------------ */

ETCDT_TEST(elect_interop_with_etcdctl_both_ways) {
    /* etcdctl X leads; our C queues behind it; etcdctl Y behind us. Observers: etcdctl's
       `elect -l` and ours. SIGINT X -> C leads; SIGINT C -> Y leads. */
    char name[64], xkey[256], ckey[256], ykey[256], v[256];
    etcdt_proc *x, *c, *y, *ol, *cl_obs;
    int64_t t0;
    fresh_name(name, sizeof name);
    x = ctl("elect", name, "X", NULL);
    REQUIRE(x != NULL);
    REQUIRE(read_pair(x, xkey, sizeof xkey, v, sizeof v, 10000) && !strcmp(v, "X"));
    c = cli(epflag, "elect", name, "C", NULL);
    REQUIRE(c != NULL);
    CHECK(wait_keys(name, 2, 5000));
    CHECK(etcdt_proc_readline(c, v, sizeof v, 300) == -1); /* C waits behind X */
    cl_obs = cli(epflag, "elect", "-l", name, NULL);       /* our observer sees etcdctl's leader */
    CHECK(cl_obs && read_pair(cl_obs, ckey, sizeof ckey, v, sizeof v, 5000) &&
          !strcmp(ckey, xkey) && !strcmp(v, "X"));
    y = ctl("elect", name, "Y", NULL);
    CHECK(wait_keys(name, 3, 5000));
    t0 = etcdt_now_ms();
    etcdt_proc_signal(x, SIGINT); /* etcdctl resigns */
    CHECK(read_pair(c, ckey, sizeof ckey, v, sizeof v, 5000) && !strcmp(v, "C"));
    printf("    handover etcdctl -> etcd-elect: %lld ms (SIGINT to printed key)\n",
           (long long)(etcdt_now_ms() - t0));
    CHECK(etcdt_proc_wait(x, 5000) == 0);
    check_key_layout(name, ckey, "C");
    CHECK(etcdt_proc_readline(y, v, sizeof v, 300) == -1); /* Y is still behind us */
    CHECKF(cl_obs && wait_line(cl_obs, ckey, 5000), "our observer did not see %s", ckey);
    ol = ctl("elect", "-l", name, NULL); /* etcdctl's observer sees our leader */
    CHECKF(ol && wait_line(ol, ckey, 5000) && etcdt_proc_readline(ol, v, sizeof v, 2000) == 1 &&
               !strcmp(v, "C"),
           "etcdctl elect -l did not print our leader %s / C", ckey);
    t0 = etcdt_now_ms();
    etcdt_proc_signal(c, SIGINT); /* we resign */
    CHECK(read_pair(y, ykey, sizeof ykey, v, sizeof v, 5000) && !strcmp(v, "Y"));
    printf("    handover etcd-elect -> etcdctl: %lld ms\n", (long long)(etcdt_now_ms() - t0));
    CHECK(etcdt_proc_wait(c, 5000) == 0);
    CHECK(ol && wait_line(ol, ykey, 5000));
    CHECK(cl_obs && wait_line(cl_obs, ykey, 5000) &&
          etcdt_proc_readline(cl_obs, v, sizeof v, 2000) == 1 && !strcmp(v, "Y"));
    if (cl_obs) {
        etcdt_proc_signal(cl_obs, SIGINT);
        CHECK(etcdt_proc_wait(cl_obs, 5000) == 0);
    }
    etcdt_proc_signal(y, SIGINT);
    CHECK(etcdt_proc_wait(y, 5000) == 0);
    CHECK(wait_keys(name, 0, 5000));
    etcdt_proc_free(x);
    etcdt_proc_free(c);
    etcdt_proc_free(y);
    etcdt_proc_free(ol);
    etcdt_proc_free(cl_obs);
}

ETCDT_TEST(lock_interop_fifo_both_ways) {
    /* etcdctl L1 holds; ours L2 waits; etcdctl L3 waits behind L2. FIFO: L2, then L3. */
    char name[64], k1[256], k2[256], k3[256], v[256];
    etcdt_proc *l1, *l2, *l3;
    int64_t t0;
    fresh_name(name, sizeof name);
    l1 = ctl("lock", name, NULL);
    REQUIRE(l1 && read_pair(l1, k1, sizeof k1, v, sizeof v, 10000) && v[0] == 0);
    l2 = cli("lock", name, epflag, NULL);
    REQUIRE(l2 != NULL);
    CHECK(wait_keys(name, 2, 5000));
    l3 = ctl("lock", name, NULL);
    CHECK(wait_keys(name, 3, 5000));
    CHECK(etcdt_proc_readline(l2, v, sizeof v, 300) == -1);
    t0 = etcdt_now_ms();
    etcdt_proc_signal(l1, SIGINT);
    /* etcdctl prints the key and the (empty) value: so do we */
    CHECK(read_pair(l2, k2, sizeof k2, v, sizeof v, 5000) && v[0] == 0);
    printf("    lock hand-off etcdctl -> etcd-elect: %lld ms\n", (long long)(etcdt_now_ms() - t0));
    CHECK(etcdt_proc_wait(l1, 5000) == 0);
    check_key_layout(name, k2, "");
    CHECK(etcdt_proc_readline(l3, v, sizeof v, 500) == -1); /* still excluded */
    t0 = etcdt_now_ms();
    etcdt_proc_signal(l2, SIGINT);
    CHECK(read_pair(l3, k3, sizeof k3, v, sizeof v, 5000) && v[0] == 0 && strcmp(k3, k2));
    printf("    lock hand-off etcd-elect -> etcdctl: %lld ms\n", (long long)(etcdt_now_ms() - t0));
    CHECK(etcdt_proc_wait(l2, 5000) == 0);
    etcdt_proc_signal(l3, SIGINT);
    CHECK(etcdt_proc_wait(l3, 5000) == 0);
    CHECK(wait_keys(name, 0, 5000));
    etcdt_proc_free(l1);
    etcdt_proc_free(l2);
    etcdt_proc_free(l3);
}

ETCDT_TEST(lock_n_is_a_semaphore) {
    /* lock -n 2: two hold at once, the third waits; the older holder's release lets it in;
       the waiter's CMD sees its own fencing token. -n is refused outside lock. */
    char name[64], k1[256], k2[256], v[256], line[256];
    etcdt_proc *h1, *h2, *w, *bad;
    fresh_name(name, sizeof name);
    h1 = cli(epflag, "lock", "-n", "2", name, NULL);
    REQUIRE(h1 && read_pair(h1, k1, sizeof k1, v, sizeof v, 10000));
    h2 = cli(epflag, "lock", "--holders=2", name, NULL);
    REQUIRE(h2 && read_pair(h2, k2, sizeof k2, v, sizeof v, 10000) && strcmp(k1, k2));
    w = cli(epflag, "lock", "-n", "2", name, "sh", "-c", "echo got $ETCD_LOCK_REV; sleep 30", NULL);
    REQUIRE(w != NULL);
    CHECK(wait_keys(name, 3, 5000));
    CHECK(etcdt_proc_readline(w, line, sizeof line, 500) == -1); /* two hold it */
    etcdt_proc_signal(h1, SIGINT);
    CHECK(etcdt_proc_readline(w, line, sizeof line, 5000) == 1 && !strncmp(line, "got ", 4) &&
          atoll(line + 4) > 0);
    CHECK(etcdt_proc_wait(h1, 5000) == 0);
    etcdt_proc_signal(w, SIGTERM);
    etcdt_proc_signal(h2, SIGINT);
    CHECK(etcdt_proc_wait(w, 10000) >= 0 && etcdt_proc_wait(h2, 5000) == 0);
    CHECK(wait_keys(name, 0, 5000));
    bad = cli(epflag, "elect", "-n", "2", name, "v", NULL);
    CHECK(bad && etcdt_proc_wait(bad, 5000) == 2 && strstr(etcdt_proc_stderr(bad), "-n"));
    etcdt_proc_free(bad);
    bad = cli(epflag, "lock", "-n", "0", name, NULL);
    CHECK(bad && etcdt_proc_wait(bad, 5000) == 2 && strstr(etcdt_proc_stderr(bad), "1..1000"));
    etcdt_proc_free(bad);
    etcdt_proc_free(h1);
    etcdt_proc_free(h2);
    etcdt_proc_free(w);
}

/* ---- exit codes, release, environment, signals ------------------------------------------------
 */

ETCDT_TEST(exit_codes) {
    char name[64], port[64], msg[1024], line[256];
    etcdt_proc *p;
    int64_t t0;
    fresh_name(name, sizeof name);
    p = cli(epflag, "lock", name, "--", "sh", "-c", "exit 3", NULL);
    CHECK(p && etcdt_proc_wait(p, 10000) == 3);
    etcdt_proc_free(p);
    p = cli(epflag, "elect", name, "V", "--", "sh", "-c", "exit 5", NULL);
    CHECK(p && etcdt_proc_wait(p, 10000) == 5);
    etcdt_proc_free(p);
    p = cli(epflag, "elect", name, "V", "--", "sh", "-c", "kill -9 $$", NULL);
    CHECK(p && etcdt_proc_wait(p, 10000) == 128 + 9);
    etcdt_proc_free(p);
    p = cli(epflag, "lock", name, "--", "/nonexistent/cmd", NULL);
    CHECK(p && etcdt_proc_wait(p, 10000) == 127);
    etcdt_proc_free(p);
    CHECK(wait_keys(name, 0, 3000)); /* every run resigned / unlocked */
    p = cli(epflag, "--bogus", "lock", name, NULL);
    CHECK(p && etcdt_proc_wait(p, 5000) == 2);
    CHECKF(p && strstr(etcdt_proc_stderr(p), "unknown flag: --bogus"), "stderr: %s",
           p ? etcdt_proc_stderr(p) : "");
    etcdt_proc_free(p);
    p = cli(epflag, "elect", name, NULL); /* missing VALUE */
    CHECK(p && etcdt_proc_wait(p, 5000) == 2);
    etcdt_proc_free(p);
    p = cli("-h", NULL);
    CHECK(p && etcdt_proc_readline(p, line, sizeof line, 5000) == 1 &&
          !strncmp(line, "usage: etcd-elect [flags] elect NAME VALUE", 42));
    CHECK(p && etcdt_proc_wait(p, 5000) == 0);
    etcdt_proc_free(p);
    /* unreachable: a free loopback port with nothing listening */
    snprintf(port, sizeof port, "--endpoints=127.0.0.1:%d", etcdt_free_port());
    t0 = etcdt_now_ms();
    p = cli(port, "--dial-timeout=1s", "elect", name, "V", NULL);
    CHECK(p && etcdt_proc_wait(p, 10000) == 1);
    CHECKF(etcdt_now_ms() - t0 < 5000, "took %lld ms", (long long)(etcdt_now_ms() - t0));
    snprintf(msg, sizeof msg, "%s", p ? etcdt_proc_stderr(p) : "");
    CHECKF(!strncmp(msg, "etcd-elect: ", 12) && strstr(msg, port + 12) && strstr(msg, "refused"),
           "stderr: %s", msg);
    etcdt_proc_free(p);
}

ETCDT_TEST(sigint_while_holding_releases_at_once) {
    char name[64], key[256], v[256], out[1024], hex[32];
    const char *cmds[2] = {"elect", "lock"};
    int i;
    for (i = 0; i < 2; i++) {
        etcdt_proc *p;
        fresh_name(name, sizeof name);
        p = i ? cli(epflag, "lock", name, NULL) : cli(epflag, "elect", name, "V", NULL);
        REQUIRE(p != NULL);
        CHECKF(read_pair(p, key, sizeof key, v, sizeof v, 10000), "%s printed no key", cmds[i]);
        CHECK(wait_keys(name, 1, 1000));
        snprintf(hex, sizeof hex, "%s", key + strlen(name) + 1);
        etcdt_proc_signal(p, SIGINT);
        CHECK(etcdt_proc_wait(p, 5000) == 0);
        CHECK(count_keys(name) == 0);
        /* and the lease is revoked, not left to expire (etcdctl leaves it) */
        CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "lease", "timetolive", hex, NULL) == 0);
        CHECKF(strstr(out, "already expired") != NULL, "%s: lease %s: %s", cmds[i], hex, out);
        etcdt_proc_free(p);
    }
}

ETCDT_TEST(signal_while_waiting_gives_up_queue_place_exit_1) {
    /* like etcdctl 3.4: "Error: context canceled", status 1, waiting key deleted */
    char name[64], k[256], v[256];
    etcdt_proc *h, *w;
    fresh_name(name, sizeof name);
    h = ctl("lock", name, NULL);
    REQUIRE(h && read_pair(h, k, sizeof k, v, sizeof v, 10000));
    w = cli(epflag, "lock", name, NULL);
    CHECK(wait_keys(name, 2, 5000));
    etcdt_proc_signal(w, SIGTERM);
    CHECK(etcdt_proc_wait(w, 5000) == 1);
    CHECKF(strstr(etcdt_proc_stderr(w), "interrupted while waiting"), "stderr: %s",
           etcdt_proc_stderr(w));
    CHECK(count_keys(name) == 1);
    etcdt_proc_free(w);
    w = cli(epflag, "elect", name, "V", "--", "true",
            NULL); /* the election of the same name: same queue */
    CHECK(wait_keys(name, 2, 5000));
    etcdt_proc_signal(w, SIGINT);
    CHECK(etcdt_proc_wait(w, 5000) == 1);
    CHECK(count_keys(name) == 1);
    etcdt_proc_free(w);
    etcdt_proc_free(h);
}

ETCDT_TEST(child_env_matches_etcd) {
    char name[64], line[512], key[256], hex[32], val[256], expect[256];
    long long rev, got_rev;
    etcdt_proc *p;
    fresh_name(name, sizeof name);
    p = cli(epflag, "lock", name, "--", "sh", "-c",
            "echo \"$ETCD_LOCK_KEY $ETCD_LOCK_REV\"; exec sleep 30", NULL);
    REQUIRE(p && etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
    REQUIRE(sscanf(line, "%255s %lld", key, &got_rev) == 2);
    CHECKF(key_info(key, &rev, hex, sizeof hex, val, sizeof val) == 0 && rev == got_rev,
           "ETCD_LOCK_REV %lld, etcd create_revision %lld", got_rev, rev);
    snprintf(expect, sizeof expect, "%s/%s", name, hex);
    CHECK(!strcmp(key, expect));
    etcdt_proc_signal(p, SIGTERM); /* forwarded: sleep dies of it, and so the CLI's status */
    CHECK(etcdt_proc_wait(p, 5000) == 128 + SIGTERM);
    CHECK(count_keys(name) == 0);
    etcdt_proc_free(p);

    p = cli(epflag, "elect", name, "VAL", "--", "sh", "-c",
            "echo \"$ETCD_ELECT_KEY $ETCD_ELECT_REV $ETCD_ELECT_LEASE\"; exec sleep 30", NULL);
    REQUIRE(p && etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
    {
        char lease[64];
        REQUIRE(sscanf(line, "%255s %lld %63s", key, &got_rev, lease) == 3);
        CHECKF(key_info(key, &rev, hex, sizeof hex, val, sizeof val) == 0 && rev == got_rev,
               "ETCD_ELECT_REV %lld, etcd create_revision %lld", got_rev, rev);
        CHECKF(!strcmp(lease, hex), "ETCD_ELECT_LEASE %s, etcd says %s", lease, hex);
        check_key_layout(name, key, "VAL");
    }
    etcdt_proc_signal(p, SIGINT);
    CHECK(etcdt_proc_wait(p, 5000) == 128 + SIGINT);
    CHECK(count_keys(name) == 0);
    etcdt_proc_free(p);
}

ETCDT_TEST(signals_are_forwarded_to_the_child) {
    char name[64], line[256];
    etcdt_proc *p;
    fresh_name(name, sizeof name);
    p = cli(epflag, "lock", name, "--", "sh", "-c",
            "trap 'echo got-USR1' USR1; trap 'echo got-TERM; exit 42' TERM; echo ready; "
            "while :; do sleep 0.05; done",
            NULL);
    REQUIRE(p && etcdt_proc_readline(p, line, sizeof line, 10000) == 1 && !strcmp(line, "ready"));
    etcdt_proc_signal(p, SIGUSR1); /* to the CLI only: it must pass it on */
    CHECK(wait_line(p, "got-USR1", 5000));
    CHECK(etcdt_proc_running(p) && count_keys(name) == 1); /* still holding */
    etcdt_proc_signal(p, SIGTERM);
    CHECK(wait_line(p, "got-TERM", 5000));
    CHECK(etcdt_proc_wait(p, 5000) == 42);
    CHECK(count_keys(name) == 0);
    etcdt_proc_free(p);
}

/* ---- flags ------------------------------------------------------------------------------------
 */

static void check_ttl(const char *key, const char *name, int ttl) {
    char out[1024], want[64];
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "lease", "timetolive", key + strlen(name) + 1,
                        NULL) == 0);
    snprintf(want, sizeof want, "granted with TTL(%ds)", ttl);
    CHECKF(strstr(out, want) != NULL, "want %s: %s", want, out);
}

ETCDT_TEST(flag_parsing) {
    char name[64], key[256], v[256], env[300], line[256];
    char *envv[2];
    etcdt_proc *p;
    etcdt_proxy px;
    int64_t t0;
    int i;
    static const char *const good[] = {"500ms", "2s", "1m", "1m30s", "1.5s", "3"};
    fresh_name(name, sizeof name);
    /* flags after the subcommand and its arguments, in both forms */
    p = cli("elect", name, "V", "--ttl", "3", "--dial-timeout=500ms", epflag, "--command-timeout",
            "2s", NULL);
    REQUIRE(p && read_pair(p, key, sizeof key, v, sizeof v, 10000) && !strcmp(v, "V"));
    check_ttl(key, name, 3);
    etcdt_proc_signal(p, SIGINT);
    CHECK(etcdt_proc_wait(p, 5000) == 0);
    etcdt_proc_free(p);
    /* --endpoints from $ETCDCTL_ENDPOINTS; lock's default TTL is 10 */
    snprintf(env, sizeof env, "ETCDCTL_ENDPOINTS=%s", etcdt_endpoints(cl));
    envv[0] = env;
    envv[1] = NULL;
    p = cli_env(envv, "lock", name, "--command-timeout=1m", NULL);
    REQUIRE(p && read_pair(p, key, sizeof key, v, sizeof v, 10000));
    check_ttl(key, name, 10);
    etcdt_proc_signal(p, SIGINT);
    CHECK(etcdt_proc_wait(p, 5000) == 0);
    etcdt_proc_free(p);
    /* every duration form is accepted; junk is rejected with status 2 */
    for (i = 0; i < (int)(sizeof good / sizeof good[0]); i++) {
        char f[64];
        snprintf(f, sizeof f, "--dial-timeout=%s", good[i]);
        p = cli(epflag, f, "--ttl=3", "lock", name, "--", "true", NULL);
        CHECKF(p && etcdt_proc_wait(p, 10000) == 0, "%s rejected", f);
        etcdt_proc_free(p);
    }
    p = cli(epflag, "--command-timeout=5 s", "lock", name, NULL);
    CHECK(p && etcdt_proc_wait(p, 5000) == 2);
    etcdt_proc_free(p);
    p = cli(epflag, "--ttl=3s", "lock", name, NULL);
    CHECK(p && etcdt_proc_wait(p, 5000) == 2);
    etcdt_proc_free(p);
    /* after "--" nothing is ours: the child gets --ttl=bogus verbatim */
    p = cli(epflag, "lock", name, "--", "sh", "-c", "echo \"$1\"", "x", "--ttl=bogus", NULL);
    CHECK(p && etcdt_proc_readline(p, line, sizeof line, 10000) == 1 &&
          !strcmp(line, "--ttl=bogus"));
    CHECK(p && etcdt_proc_wait(p, 5000) == 0);
    etcdt_proc_free(p);
    /* --command-timeout bounds a request to an etcd that never answers (partitioned) */
    REQUIRE(etcdt_proxy_start(&px, etcdt_member_client_port(cl, 0)) == 0);
    etcdt_proxy_partition(&px, 1);
    {
        char ep[64];
        int64_t took;
        snprintf(ep, sizeof ep, "--endpoints=127.0.0.1:%d", px.port);
        t0 = etcdt_now_ms();
        p = cli(ep, "--command-timeout=500ms", "lock", name, NULL);
        CHECK(p && etcdt_proc_wait(p, 10000) == 1);
        took = etcdt_now_ms() - t0;
        CHECKF(took >= 400 && took < 2500, "--command-timeout=500ms took %lld ms", (long long)took);
        CHECKF(p && strstr(etcdt_proc_stderr(p), "etcd-elect: cannot create a session"),
               "stderr: %s", p ? etcdt_proc_stderr(p) : "");
        etcdt_proc_free(p);
        t0 = etcdt_now_ms();
        p = cli(ep, "--command-timeout", "2s", "lock", name, NULL);
        CHECK(p && etcdt_proc_wait(p, 10000) == 1);
        took = etcdt_now_ms() - t0;
        CHECKF(took >= 1800 && took < 4500, "--command-timeout 2s took %lld ms", (long long)took);
        etcdt_proc_free(p);
    }
    etcdt_proxy_stop(&px);
    CHECK(count_keys(name) == 0);
}

/* ---- loss while holding: the child stops before anyone else is elected ------------------------
 */

/* The last number in FILE (one per line), or -1. */
static long long last_number(const char *path, int *lines) {
    char buf[256];
    long long last = -1;
    FILE *f = fopen(path, "r");
    *lines = 0;
    if (!f) return -1;
    while (fgets(buf, sizeof buf, f))
        if (buf[0] >= '0' && buf[0] <= '9') last = strtoll(buf, NULL, 10), (*lines)++;
    fclose(f);
    return last;
}

/* SIGKILLs the process group whose leader's pid is in FILE: a child that outlived a
   broken CLI must not outlive the test. (No "is it alive" check: orphaned zombies, which
   a lazy PID 1 may keep around, count as group members for kill(2).) */
static void kill_child_group(const char *pidfile) {
    FILE *f = fopen(pidfile, "r");
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) == 1 && pid > 1) kill((pid_t)-pid, SIGKILL);
        fclose(f);
    }
    unlink(pidfile);
}

/* A (through the proxy, TTL 3) runs a child that appends a CLOCK_REALTIME timestamp to a
   file every 50 ms; B queues behind it directly on etcd; the proxy partitions A. A must
   stop its child before B is elected. lock: B is etcdctl. */
static void loss_case(int lock, int stubborn) {
    char name[64], ep[64], file[400], pidfile[400], script[1024], key[256], v[256];
    etcdt_proc *a, *b;
    etcdt_proxy px;
    int64_t t_cut, t_b = 0, t_a_exit = 0;
    long long t_last;
    int lines, lines2, st;
    const char *kill_flag = stubborn ? "--kill-timeout=30s" : "--ttl=3";
    fresh_name(name, sizeof name);
    snprintf(file, sizeof file, "%s/%s.ticks", etcdt_cluster_dir(cl), name);
    snprintf(pidfile, sizeof pidfile, "%s/%s.pid", etcdt_cluster_dir(cl), name);
    snprintf(script, sizeof script,
             "%secho $$ > '%s'; while :; do date +%%s%%N >> '%s'; sleep 0.05; done",
             stubborn ? "trap '' TERM; " : "", pidfile, file);
    REQUIRE(etcdt_proxy_start(&px, etcdt_member_client_port(cl, 0)) == 0);
    snprintf(ep, sizeof ep, "--endpoints=127.0.0.1:%d", px.port);
    /* stubborn: a child that ignores SIGTERM, and a --kill-timeout far beyond the TTL */
    a = lock ? cli(ep, "--ttl=3", kill_flag, "lock", name, "--", "sh", "-c", script, NULL)
             : cli(ep, "--ttl=3", kill_flag, "elect", name, "A", "--", "sh", "-c", script, NULL);
    REQUIRE(a != NULL);
    {
        int64_t end = etcdt_now_ms() + 10000;
        while (last_number(file, &lines) < 0 && etcdt_now_ms() < end) etcdt_sleep_ms(20);
    }
    REQUIRE(last_number(file, &lines) > 0); /* A leads, its child runs */
    b = lock ? ctl("lock", name, NULL) : cli(epflag, "elect", name, "B", NULL);
    REQUIRE(b != NULL);
    CHECK(wait_keys(name, 2, 5000));
    CHECK(etcdt_proc_readline(b, key, sizeof key, 300) == -1); /* B waits */
    t_cut = etcdt_now_ms();
    etcdt_proxy_partition(&px, 1);
    while (etcdt_now_ms() - t_cut < 15000 && (!t_b || !t_a_exit)) {
        if (!t_b && etcdt_proc_readline(b, key, sizeof key, 5) == 1) t_b = realtime_ms();
        if (!t_a_exit && !etcdt_proc_running(a)) t_a_exit = etcdt_now_ms();
    }
    CHECKF(t_b && !strncmp(key, name, strlen(name)), "B was not elected (line \"%s\")", key);
    CHECK(etcdt_proc_readline(b, v, sizeof v, 2000) == 1 && !strcmp(v, lock ? "" : "B"));
    st = etcdt_proc_wait(a, 5000);
    CHECKF(st == 1, "A exited with %d", st);
    CHECKF(strstr(etcdt_proc_stderr(a),
                  lock ? "etcd-elect: lock lost: " : "etcd-elect: leadership lost: "),
           "A's stderr: %s", etcdt_proc_stderr(a));
    t_last = last_number(file, &lines) / 1000000; /* ns -> ms */
    etcdt_sleep_ms(300);
    CHECKF(last_number(file, &lines2) / 1000000 == t_last && lines2 == lines,
           "the child wrote after A exited");
    CHECKF(t_b && t_last < t_b, "child's last write %lld ms AFTER B was elected",
           (long long)(t_last - t_b));
    printf("    %s: child stopped %lld ms before B was elected (partition -> A's exit %lld ms; %d "
           "ticks)\n",
           lock ? "lock" : "elect", (long long)(t_b - t_last),
           t_a_exit ? (long long)(t_a_exit - t_cut) : -1LL, lines);
    fflush(stdout);
    etcdt_proc_signal(b, SIGINT);
    CHECK(etcdt_proc_wait(b, 5000) == 0);
    etcdt_proc_free(a);
    etcdt_proc_free(b);
    etcdt_proxy_stop(&px);
    kill_child_group(pidfile); /* in case A failed to */
    unlink(file);
}

ETCDT_TEST(elect_child_stopped_on_loss_before_successor) { loss_case(0, 0); }
ETCDT_TEST(lock_child_stopped_on_loss_before_successor) { loss_case(1, 0); }
ETCDT_TEST(elect_stubborn_child_killed_before_successor) { loss_case(0, 1); }

ETCDT_TEST(deleted_key_is_loss_at_once) {
    /* `etcdctl del` of the leader key: the child is stopped now, not at the next keepalive */
    char name[64], key[256], out[256], line[512];
    etcdt_proc *p;
    int64_t t0;
    fresh_name(name, sizeof name);
    p = cli(epflag, "elect", name, "V", "--", "sh", "-c", "echo \"$ETCD_ELECT_KEY\"; exec sleep 30",
            NULL);
    REQUIRE(p && etcdt_proc_readline(p, key, sizeof key, 10000) == 1);
    t0 = etcdt_now_ms();
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "del", key, NULL) == 0);
    CHECK(etcdt_proc_wait(p, 5000) == 1);
    CHECKF(etcdt_now_ms() - t0 < 3000, "noticed after %lld ms", (long long)(etcdt_now_ms() - t0));
    snprintf(line, sizeof line, "leadership lost: own key %s is gone", key);
    CHECKF(strstr(etcdt_proc_stderr(p), line), "stderr: %s", etcdt_proc_stderr(p));
    etcdt_proc_free(p);
}

/* 1 if pid is gone, or a zombie its new parent has not reaped yet. */
static int pid_dead(pid_t pid) {
    char path[64], buf[512], *rp;
    FILE *f;
    size_t n;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r"))) return 1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    rp = strrchr(buf, ')'); /* "pid (comm) S ...": comm may hold anything */
    return !rp || rp[1] == 0 || rp[2] == 'Z' || rp[2] == 'X';
}

ETCDT_TEST(child_group_dies_with_a_killed_cli) {
    /* kill -9 of etcd-elect alone, as the OOM killer does it: the child and everything in
       its process group must be gone before the lease can expire at etcd, i.e. before the
       next candidate is elected and starts its own child. */
    char name[64], line[512];
    etcdt_proc *p, *q;
    long child = 0, grandchild = 0;
    int64_t t_kill, t_dead = -1, t_next = -1;
    fresh_name(name, sizeof name);
    p = cli(epflag, "--ttl=3", "elect", name, "A", "--", "sh", "-c", "sleep 300 & echo $$ $!; wait",
            NULL);
    REQUIRE(p && etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
    REQUIRE(sscanf(line, "%ld %ld", &child, &grandchild) == 2 && child > 0 && grandchild > 0);
    q = cli(epflag, "elect", name, "B", NULL);
    REQUIRE(q != NULL);
    CHECK(wait_keys(name, 2, 5000));
    t_kill = etcdt_now_ms();
    CHECK(kill(etcdt_proc_pid(p), SIGKILL) == 0);
    while (etcdt_now_ms() < t_kill + 8000 && (t_dead < 0 || t_next < 0)) {
        if (t_dead < 0 && pid_dead((pid_t)child) && pid_dead((pid_t)grandchild))
            t_dead = etcdt_now_ms();
        if (t_next < 0 && etcdt_proc_readline(q, line, sizeof line, 5) == 1)
            t_next = etcdt_now_ms();
    }
    CHECKF(t_dead >= 0 && (t_next < 0 || t_dead < t_next),
           "child %s, grandchild %s %lld ms after the kill; next candidate elected after %lld ms",
           pid_dead((pid_t)child) ? "gone" : "alive",
           pid_dead((pid_t)grandchild) ? "gone" : "alive",
           (long long)(t_dead < 0 ? etcdt_now_ms() - t_kill : t_dead - t_kill),
           (long long)(t_next < 0 ? -1 : t_next - t_kill));
    CHECKF(t_next >= 0, "the next candidate was not elected within 8 s");
    if (t_dead >= 0 && t_next >= 0)
        printf("     kill -9 of the CLI: its child's group gone %lld ms after, the next candidate "
               "elected %lld ms "
               "after\n",
               (long long)(t_dead - t_kill), (long long)(t_next - t_kill));
    if (!pid_dead((pid_t)child)) kill((pid_t)child, SIGKILL);
    if (!pid_dead((pid_t)grandchild)) kill((pid_t)grandchild, SIGKILL);
    etcdt_proc_free(p);
    etcdt_proc_signal(q, SIGINT);
    CHECK(etcdt_proc_wait(q, 5000) == 0);
    etcdt_proc_free(q);
}

/* ---- etcdctl's habits: ETCDCTL_* variables, lock without "--", version, leader, json ----------
 */

/* Runs build/etcd-elect ARGS... with extra environment `env` to its end; checks its status and
   that stderr holds `err` (if not NULL). Returns the process (for its output), or NULL. */
static etcdt_proc *run_cli(char *const *env, int want, const char *err, const char *a0, ...) {
    etcdt_proc *p;
    va_list ap;
    int st;
    va_start(ap, a0);
    p = spawn_va(env, cli_path, a0, ap);
    va_end(ap);
    if (!p) {
        CHECKF(0, "cannot run %s %s", cli_path, a0);
        return NULL;
    }
    st = etcdt_proc_wait(p, 15000);
    CHECKF(st == want, "%s ...: status %d, want %d; stderr: %s", a0, st, want,
           etcdt_proc_stderr(p));
    if (err)
        CHECKF(strstr(etcdt_proc_stderr(p), err) != NULL, "%s ...: stderr lacks \"%s\": %s", a0,
               err, etcdt_proc_stderr(p));
    return p;
}

/* run_cli for a run whose output does not matter. */
static void check_cli(char *const *env, int want, const char *err, const char *a0, const char *a1,
                      const char *a2, const char *a3) {
    etcdt_proc_free(run_cli(env, want, err, a0, a1, a2, a3, (const char *)NULL));
}

ETCDT_TEST(etcdctl_variables_are_read_and_flags_win) {
    char name[64], ep[300], ptl[64];
    char *env[4] = {NULL, NULL, NULL, NULL};
    etcdt_proc *p;
    etcdt_proxy px;
    int64_t t0, took;
    fresh_name(name, sizeof name);
    snprintf(ep, sizeof ep, "ETCDCTL_ENDPOINTS=%s", etcdt_member_endpoint(cl, 0));
    env[0] = ep;
    /* a bad value in a variable is named as such; a flag given instead is not even read */
    env[1] = (char *)"ETCDCTL_DIAL_TIMEOUT=soon";
    check_cli(env, 2, "bad $ETCDCTL_DIAL_TIMEOUT duration: soon", "leader", name, NULL, NULL);
    check_cli(env, 3, NULL, "--dial-timeout=1s", "leader", name, NULL);
    env[1] = (char *)"ETCDCTL_COMMAND_TIMEOUT=1 s";
    check_cli(env, 2, "bad $ETCDCTL_COMMAND_TIMEOUT duration", "leader", name, NULL, NULL);
    check_cli(env, 3, NULL, "--command-timeout=1s", "leader", name, NULL);
    /* the user comes from ETCDCTL_USER (auth is off on this etcd: the refusal names the user),
       and --user wins over it */
    env[1] = (char *)"ETCDCTL_USER=alice:pw";
    check_cli(env, 1, "user 'alice'", "leader", name, NULL, NULL);
    check_cli(env, 1, "user 'bob'", "--user=bob", "--password=pw", "leader", name);
    env[1] = (char *)"ETCDCTL_USER=carol";
    env[2] = (char *)"ETCDCTL_PASSWORD=pw";
    check_cli(env, 1, "user 'carol'", "leader", name, NULL, NULL);
    env[1] = env[2];
    env[2] = NULL;
    check_cli(env, 2, "$ETCDCTL_PASSWORD needs a user", "leader", name, NULL, NULL);
    check_cli(NULL, 2, "--password needs --user", epflag, "--password=pw", "leader", name);
    /* ETCDCTL_COMMAND_TIMEOUT bounds a request to an etcd that never answers */
    REQUIRE(etcdt_proxy_start(&px, etcdt_member_client_port(cl, 0)) == 0);
    etcdt_proxy_partition(&px, 1);
    snprintf(ptl, sizeof ptl, "--endpoints=127.0.0.1:%d", px.port);
    env[1] = (char *)"ETCDCTL_COMMAND_TIMEOUT=500ms";
    t0 = etcdt_now_ms();
    p = run_cli(env, 1, "cannot create a session", ptl, "lock", name, NULL);
    took = etcdt_now_ms() - t0;
    CHECKF(took >= 400 && took < 2500, "ETCDCTL_COMMAND_TIMEOUT=500ms: %lld ms", (long long)took);
    etcdt_proc_free(p);
    etcdt_proxy_stop(&px);
    /* a bad endpoint list names the bad part and where the list came from */
    check_cli(NULL, 2, "bad endpoint \"foo:bar\" in \"127.0.0.1:2379,foo:bar\" (from --endpoints)",
              "--endpoints=127.0.0.1:2379,foo:bar", "leader", name, NULL);
    env[0] = (char *)"ETCDCTL_ENDPOINTS=127.0.0.1:2379,http://h/x";
    env[1] = NULL;
    check_cli(env, 2,
              "bad endpoint \"h/x\" in \"127.0.0.1:2379,http://h/x\" (from $ETCDCTL_ENDPOINTS)",
              "leader", name, NULL, NULL);
    CHECK(count_keys(name) == 0);
}

ETCDT_TEST(lock_cmd_without_dashdash_and_dash_values) {
    char name[64], key[256], line[256], hex[32], val[256];
    long long rev;
    etcdt_proc *p;
    fresh_name(name, sizeof name);
    /* lock NAME CMD ARGS...: CMD's words are its own, flags included */
    p = cli(epflag, "lock", name, "sh", "-c", "echo \"$ETCD_LOCK_KEY\" \"$1\"", "x", "--ttl=bogus",
            NULL);
    REQUIRE(p && etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
    snprintf(key, sizeof key, "%s/", name);
    CHECKF(!strncmp(line, key, strlen(key)) && strstr(line, " --ttl=bogus"), "printed %s", line);
    CHECK(etcdt_proc_wait(p, 5000) == 0);
    etcdt_proc_free(p);
    /* elect NAME -- -5: the word after "--" is VALUE while VALUE is missing */
    p = cli(epflag, "elect", name, "--", "-5", NULL);
    REQUIRE(p && read_pair(p, key, sizeof key, line, sizeof line, 10000));
    CHECKF(!strcmp(line, "-5"), "printed value %s", line);
    check_key_layout(name, key, "-5");
    etcdt_proc_signal(p, SIGINT);
    CHECK(etcdt_proc_wait(p, 5000) == 0);
    etcdt_proc_free(p);
    /* ... and a command then follows its own "--" */
    p = cli(epflag, "elect", name, "--", "-n", "--", "sh", "-c",
            "echo \"$ETCD_ELECT_KEY\"; exec sleep 30", NULL);
    REQUIRE(p && etcdt_proc_readline(p, key, sizeof key, 10000) == 1);
    CHECK(key_info(key, &rev, hex, sizeof hex, val, sizeof val) == 0 && !strcmp(val, "-n"));
    etcdt_proc_signal(p, SIGTERM);
    CHECK(etcdt_proc_wait(p, 5000) == 128 + SIGTERM);
    etcdt_proc_free(p);
    etcdt_proc_free(run_cli(NULL, 2, "a command needs its own \"--\": sh", epflag, "elect", name,
                            "--", "-5", "sh", NULL));
    check_cli(NULL, 2, "unknown flag: -5", epflag, "elect", name, "-5");
    CHECK(count_keys(name) == 0);
}

ETCDT_TEST(version_flag_and_command) {
    static const char *const how[] = {"--version", "version"};
    char line[256], want[64];
    int i;
    snprintf(want, sizeof want, "etcd-elect version: %s", ETCDE_VERSION_STRING);
    for (i = 0; i < 2; i++) {
        etcdt_proc *p = cli(how[i], NULL);
        CHECKF(p && etcdt_proc_readline(p, line, sizeof line, 5000) == 1 && !strcmp(line, want),
               "%s printed \"%s\"", how[i], line);
        CHECK(p && etcdt_proc_readline(p, line, sizeof line, 5000) == 1 &&
              !strncmp(line, "TLS: ", 5));
        CHECK(p && etcdt_proc_wait(p, 5000) == 0);
        etcdt_proc_free(p);
    }
    check_cli(NULL, 2, "unknown command: version", "version", "x", NULL, NULL);
}

/* The JSON text of one string field, "field":"...", of a line; the raw text between the quotes. */
static int json_str(const char *json, const char *field, char *out, size_t cap) {
    char needle[64];
    const char *p, *q;
    snprintf(needle, sizeof needle, "\"%s\":\"", field);
    if (!(p = strstr(json, needle))) return -1;
    p += strlen(needle);
    for (q = p; *q && *q != '"'; q++)
        if (*q == '\\' && q[1]) q++;
    if (*q != '"' || (size_t)(q - p) >= cap) return -1;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = 0;
    return 0;
}

ETCDT_TEST(leader_query_for_scripts) {
    char name[64], xkey[256], v[256], line[1024], hex[32], val[256], want[512], port[64];
    long long rev;
    etcdt_proc *x, *p;
    int64_t t0;
    fresh_name(name, sizeof name);
    /* no leader: status 3, nothing on stdout, at once */
    t0 = etcdt_now_ms();
    p = run_cli(NULL, 3, "has no leader", epflag, "leader", name, NULL);
    CHECK(p && etcdt_proc_readline(p, line, sizeof line, 100) != 1);
    CHECKF(etcdt_now_ms() - t0 < 3000, "took %lld ms", (long long)(etcdt_now_ms() - t0));
    etcdt_proc_free(p);
    /* etcdctl leads: KEY and VALUE, status 0; in JSON with its fencing token and lease */
    x = ctl("elect", name, "X Y", NULL);
    REQUIRE(x && read_pair(x, xkey, sizeof xkey, v, sizeof v, 10000));
    p = run_cli(NULL, 0, NULL, epflag, "leader", name, NULL);
    CHECK(p && read_pair(p, line, sizeof line, v, sizeof v, 1000) && !strcmp(line, xkey) &&
          !strcmp(v, "X Y"));
    etcdt_proc_free(p);
    REQUIRE(key_info(xkey, &rev, hex, sizeof hex, val, sizeof val) == 0);
    snprintf(want, sizeof want,
             "{\"key\":\"%s\",\"value\":\"X Y\",\"create_revision\":%lld,\"lease\":%lld}", xkey,
             rev, strtoll(hex, NULL, 16));
    p = run_cli(NULL, 0, NULL, epflag, "-w", "json", "leader", name, NULL);
    CHECKF(p && etcdt_proc_readline(p, line, sizeof line, 1000) == 1 && !strcmp(line, want),
           "printed %s, want %s", line, want);
    etcdt_proc_free(p);
    etcdt_proc_signal(x, SIGINT);
    CHECK(etcdt_proc_wait(x, 5000) == 0);
    etcdt_proc_free(x);
    CHECK(wait_keys(name, 0, 5000));
    check_cli(NULL, 3, NULL, epflag, "leader", name, NULL);
    /* unreachable: an error (1) within the dial timeout, not a wait */
    snprintf(port, sizeof port, "--endpoints=127.0.0.1:%d", etcdt_free_port());
    t0 = etcdt_now_ms();
    check_cli(NULL, 1, "refused", port, "--dial-timeout=1s", "leader", name);
    CHECKF(etcdt_now_ms() - t0 < 5000, "took %lld ms", (long long)(etcdt_now_ms() - t0));
    etcdt_proc_free(
        run_cli(NULL, 2, "leader takes no command", epflag, "leader", name, "--", "true", NULL));
    check_cli(NULL, 2, "bad --write-out output format", epflag, "--write-out=table", "leader",
              name);
}

ETCDT_TEST(json_output_is_escaped_and_binary_safe) {
    /* a value with quotes, backslashes, a newline, a tab, a control byte and UTF-8: one JSON
       object per line, for the leader itself, an observer and the leader query alike; then
       bytes that are not UTF-8, which come base64-encoded */
    static const char tricky[] = "a\"b\\c\nd\te\001f \xc3\xa9";
    static const char tricky_json[] = "a\\\"b\\\\c\\nd\\u0009e\\u0001f \xc3\xa9";
    char name[64], line[1024], got[512], key[256], hex[32], val[256];
    long long rev;
    etcdt_proc *a, *o, *q;
    fresh_name(name, sizeof name);
    a = cli(epflag, "--write-out=json", "elect", name, tricky, NULL);
    REQUIRE(a && etcdt_proc_readline(a, line, sizeof line, 10000) == 1);
    CHECKF(json_str(line, "value", got, sizeof got) == 0 && !strcmp(got, tricky_json),
           "value in %s", line);
    CHECKF(json_str(line, "key", key, sizeof key) == 0 &&
               key_info(key, &rev, hex, sizeof hex, val, sizeof val) == 0 &&
               json_num(line, "create_revision") == rev &&
               json_num(line, "lease") == strtoll(hex, NULL, 16),
           "%s: etcd says create_revision %lld, lease %s", line, rev, hex);
    CHECK(etcdt_proc_readline(a, got, sizeof got, 200) != 1); /* one line, no more */
    o = cli(epflag, "-w", "json", "elect", "-l", name, NULL);
    CHECK(o && wait_line(o, line, 5000));
    q = cli(epflag, "-w=json", "leader", name, NULL);
    CHECK(q && wait_line(q, line, 5000) && etcdt_proc_wait(q, 5000) == 0);
    etcdt_proc_free(q);
    etcdt_proc_signal(a, SIGINT);
    CHECK(etcdt_proc_wait(a, 5000) == 0);
    etcdt_proc_free(a);
    a = cli(epflag, "-w", "json", "elect", name,
            "\xff\xfe"
            "A",
            NULL);
    REQUIRE(a && etcdt_proc_readline(a, line, sizeof line, 10000) == 1);
    CHECKF(strstr(line, "\"value_base64\":\"//5B\"") && !strstr(line, "\"value\":"), "%s", line);
    CHECK(o && etcdt_proc_readline(o, got, sizeof got, 5000) == 1 &&
          strstr(got, "\"value_base64\":\"//5B\""));
    etcdt_proc_signal(a, SIGINT);
    CHECK(etcdt_proc_wait(a, 5000) == 0);
    etcdt_proc_free(a);
    if (o) {
        etcdt_proc_signal(o, SIGINT);
        CHECK(etcdt_proc_wait(o, 5000) == 0);
    }
    etcdt_proc_free(o);
    CHECK(wait_keys(name, 0, 5000));
}

/* ---- systemd: sd_notify datagrams, the example units, --kill-timeout --------------------------
 */

/* A unix datagram socket for NOTIFY_SOCKET: a path in the cluster's directory, or (abstract) a
   name in Linux's abstract namespace, "@..." in `env_value`. Returns the fd or -1. */
static int notify_bind(int abstract, char *env_value, size_t cap) {
    struct sockaddr_un a;
    socklen_t len;
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (abstract) {
        snprintf(env_value, cap, "@etcd-elect-test-%d-%d", (int)getpid(), ++name_seq);
        memcpy(a.sun_path + 1, env_value + 1, strlen(env_value) - 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(env_value));
    } else {
        snprintf(env_value, cap, "%s/notify-%d", etcdt_cluster_dir(cl), ++name_seq);
        snprintf(a.sun_path, sizeof a.sun_path, "%s", env_value);
        len = (socklen_t)sizeof a;
    }
    if (bind(fd, (struct sockaddr *)&a, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* What the fake systemd received: WATCHDOG=1 pings counted (with the time of the last one),
   anything else returned. */
typedef struct notified {
    int fd, watchdogs;
    int64_t last_watchdog;
} notified;

/* The next datagram that is not WATCHDOG=1, within timeout_ms; 1 if one came. */
static int notify_next(notified *n, char *buf, size_t cap, int timeout_ms) {
    int64_t end = etcdt_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p;
        ssize_t r;
        int64_t left = end - etcdt_now_ms();
        p.fd = n->fd;
        p.events = POLLIN;
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) return 0;
        r = recv(n->fd, buf, cap - 1, 0);
        if (r < 0) return 0;
        buf[r] = 0;
        if (strcmp(buf, "WATCHDOG=1") != 0) return 1;
        n->watchdogs++;
        n->last_watchdog = etcdt_now_ms();
    }
}

/* Waits for a datagram that starts with `prefix` (others in between are skipped). */
static int notify_expect(notified *n, const char *prefix, char *buf, size_t cap, int timeout_ms) {
    int64_t end = etcdt_now_ms() + timeout_ms;
    while (notify_next(n, buf, cap, (int)(end - etcdt_now_ms())))
        if (!strncmp(buf, prefix, strlen(prefix))) return 1;
    return 0;
}

/* The ExecStart= line of examples/systemd/UNIT as an argv: etcd-elect's path replaced by the
   one under test, %H by "testhost", and the job (the last word, /usr/local/bin/...) by
   `sh -c SCRIPT`. `store` holds the words. Returns argc, or -1. */
static int unit_exec(const char *unit, const char *script, char **argv, int max, char *store,
                     size_t cap) {
    char path[PATH_MAX + 64], line[1024], *w, *save;
    const char *self = etcdt_self_path(), *slash = self ? strrchr(self, '/') : NULL;
    FILE *f = NULL;
    int up, n = 0;
    for (up = 0; up < 5 && !f && slash; up++) { /* the source tree is above the build tree */
        int k, len = snprintf(path, sizeof path, "%.*s", (int)(slash - self), self);
        for (k = 0; k < up; k++) len += snprintf(path + len, sizeof path - (size_t)len, "/..");
        snprintf(path + len, sizeof path - (size_t)len, "/examples/systemd/%s", unit);
        f = fopen(path, "r");
    }
    if (!f) return -1;
    store[0] = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "ExecStart=", 10)) snprintf(store, cap, "%s", line + 10);
    fclose(f);
    for (w = strtok_r(store, " \t\n", &save); w && n < max - 3; w = strtok_r(NULL, " \t\n", &save))
        argv[n++] = !strcmp(w, "%H") ? (char *)"testhost" : w;
    if (n < 3 || strcmp(argv[0], "/usr/local/bin/etcd-elect") != 0 ||
        strncmp(argv[n - 1], "/usr/local/bin/", 15) != 0)
        return -1;
    argv[0] = cli_path;
    argv[n - 1] = (char *)"sh";
    argv[n++] = (char *)"-c";
    argv[n++] = (char *)script;
    argv[n] = NULL;
    return n;
}

/* One run of a unit's ExecStart with a fake systemd: NOTIFY_SOCKET (abstract or a path), the
   test etcd in ETCDCTL_ENDPOINTS, WATCHDOG_USEC and, if not NULL, WATCHDOG_PID. */
typedef struct unit_run {
    char *argv[32], store[1024], sock[200], env_ns[256], env_ep[300], env_wd[64], env_pid[64];
    char *env[5];
    notified n;
} unit_run;

static etcdt_proc *unit_start(unit_run *u, const char *unit, const char *script, int abstract,
                              int watchdog_usec, const char *watchdog_pid) {
    memset(u, 0, sizeof *u);
    u->n.fd = -1;
    if (unit_exec(unit, script, u->argv, 32, u->store, sizeof u->store) < 0 ||
        (u->n.fd = notify_bind(abstract, u->sock, sizeof u->sock)) < 0)
        return NULL;
    snprintf(u->env_ns, sizeof u->env_ns, "NOTIFY_SOCKET=%s", u->sock);
    snprintf(u->env_ep, sizeof u->env_ep, "ETCDCTL_ENDPOINTS=%s", etcdt_member_endpoint(cl, 0));
    snprintf(u->env_wd, sizeof u->env_wd, "WATCHDOG_USEC=%d", watchdog_usec);
    snprintf(u->env_pid, sizeof u->env_pid, "WATCHDOG_PID=%s", watchdog_pid ? watchdog_pid : "");
    u->env[0] = u->env_ns;
    u->env[1] = u->env_ep;
    u->env[2] = u->env_wd;
    u->env[3] = watchdog_pid ? u->env_pid : NULL;
    return etcdt_spawn(u->argv, u->env);
}

static void unit_end(unit_run *u) {
    if (u->n.fd >= 0) close(u->n.fd);
    if (u->sock[0] == '/') unlink(u->sock);
}

ETCDT_TEST(systemd_leader_unit_notify_sequence) {
    /* examples/systemd/leader-only.service's command line, behind etcdctl elect on the same
       name: STATUS=waiting behind etcdctl's key, no READY while it leads; then READY=1 with
       our key and fencing token, WATCHDOG=1 pings, and STOPPING=1 on systemd's SIGTERM */
    char buf[1024], xkey[256], v[256], line[512], want[600], hex[32], val[256];
    long long rev;
    unit_run u;
    etcdt_proc *x, *p;
    x = ctl("elect", "myservice", "X", NULL);
    REQUIRE(x && read_pair(x, xkey, sizeof xkey, v, sizeof v, 10000));
    p = unit_start(&u, "leader-only.service",
                   "echo \"${NOTIFY_SOCKET:-no-socket} ${WATCHDOG_USEC:-no-watchdog} "
                   "$ETCD_ELECT_KEY\"; exec sleep 30",
                   0, 300000, NULL);
    REQUIRE(p != NULL);
    snprintf(want, sizeof want, "STATUS=waiting behind %s for the leadership of myservice", xkey);
    CHECKF(notify_expect(&u.n, "STATUS=", buf, sizeof buf, 10000) && !strcmp(buf, want),
           "got \"%s\", want \"%s\"", buf, want);
    CHECKF(!notify_next(&u.n, buf, sizeof buf, 500), "while etcdctl leads: \"%s\"", buf);
    etcdt_proc_signal(x, SIGINT);
    CHECK(etcdt_proc_wait(x, 5000) == 0);
    CHECKF(notify_next(&u.n, buf, sizeof buf, 5000) &&
               !strncmp(buf, "READY=1\nSTATUS=leading myservice as ", 36),
           "got \"%s\"", buf);
    REQUIRE(etcdt_proc_readline(p, line, sizeof line, 5000) == 1);
    CHECKF(!strncmp(line, "no-socket no-watchdog myservice/", 32), "the child saw %s", line);
    REQUIRE(key_info(line + 22, &rev, hex, sizeof hex, val, sizeof val) == 0);
    CHECK(!strcmp(val, "testhost"));
    snprintf(want, sizeof want, "READY=1\nSTATUS=leading myservice as %s, token %lld", line + 22,
             rev);
    CHECKF(!strcmp(buf, want), "got \"%s\", want \"%s\"", buf, want);
    u.n.watchdogs = 0;
    CHECKF(!notify_next(&u.n, buf, sizeof buf, 1000), "unexpected \"%s\"", buf);
    CHECKF(u.n.watchdogs >= 3 && u.n.watchdogs <= 12, "%d WATCHDOG=1 in 1 s, every 150 ms expected",
           u.n.watchdogs);
    etcdt_proc_signal(p, SIGTERM); /* systemctl stop */
    CHECKF(notify_expect(&u.n, "STOPPING=1", buf, sizeof buf, 5000), "no STOPPING=1");
    CHECK(etcdt_proc_wait(p, 5000) == 128 + SIGTERM); /* sleep died of the forwarded SIGTERM */
    CHECK(wait_keys("myservice", 0, 5000));
    etcdt_proc_free(p);
    etcdt_proc_free(x);
    unit_end(&u);
}

ETCDT_TEST(systemd_lock_unit_runs_the_job) {
    /* examples/systemd/locked-job.service's command line, on an abstract NOTIFY_SOCKET:
       READY=1 with the lock's key and token, the job runs, STOPPING=1, exit 0. A
       WATCHDOG_PID that is not ours: no WATCHDOG=1 at all. */
    char buf[1024], line[512], want[600], hex[32], val[256];
    long long rev;
    unit_run u;
    etcdt_proc *p;
    p = unit_start(&u, "locked-job.service", "echo \"$ETCD_LOCK_KEY $ETCD_LOCK_REV\"; sleep 0.5", 1,
                   100000, "1");
    REQUIRE(p != NULL);
    CHECKF(notify_expect(&u.n, "STATUS=", buf, sizeof buf, 10000) &&
               !strcmp(buf, "STATUS=waiting for the lock of locked-job"),
           "got \"%s\"", buf);
    REQUIRE(etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
    line[strcspn(line, " ")] = 0;
    REQUIRE(key_info(line, &rev, hex, sizeof hex, val, sizeof val) == 0);
    snprintf(want, sizeof want, "READY=1\nSTATUS=holding the lock locked-job as %s, token %lld",
             line, rev);
    CHECKF(notify_next(&u.n, buf, sizeof buf, 5000) && !strcmp(buf, want),
           "got \"%s\", want \"%s\"", buf, want);
    CHECKF(notify_expect(&u.n, "STOPPING=1", buf, sizeof buf, 5000), "no STOPPING=1");
    CHECK(etcdt_proc_wait(p, 5000) == 0);
    CHECKF(u.n.watchdogs == 0, "%d WATCHDOG=1 with WATCHDOG_PID=1", u.n.watchdogs);
    CHECK(count_keys("locked-job") == 0);
    etcdt_proc_free(p);
    unit_end(&u);
}

ETCDT_TEST(systemd_stop_while_waiting_never_hangs) {
    /* systemctl stop of the lock unit while etcdctl holds the lock: STOPPING=1 and exit 1 at
       once, the place in the queue given up, never READY=1 */
    char buf[1024], k[256], v[256];
    unit_run u;
    etcdt_proc *h, *p;
    int64_t t0;
    h = ctl("lock", "locked-job", NULL);
    REQUIRE(h && read_pair(h, k, sizeof k, v, sizeof v, 10000));
    p = unit_start(&u, "locked-job.service", "echo ran", 0, 100000, NULL);
    REQUIRE(p != NULL);
    CHECKF(notify_expect(&u.n, "STATUS=waiting behind ", buf, sizeof buf, 10000), "got \"%s\"",
           buf);
    CHECK(wait_keys("locked-job", 2, 5000));
    t0 = etcdt_now_ms();
    etcdt_proc_signal(p, SIGTERM);
    CHECKF(notify_next(&u.n, buf, sizeof buf, 2000) && !strncmp(buf, "STOPPING=1", 10),
           "got \"%s\"", buf);
    CHECK(etcdt_proc_wait(p, 2000) == 1);
    CHECKF(etcdt_now_ms() - t0 < 1500, "SIGTERM to exit: %lld ms",
           (long long)(etcdt_now_ms() - t0));
    CHECK(count_keys("locked-job") == 1);
    CHECK(etcdt_proc_readline(p, buf, sizeof buf, 100) != 1); /* the job never ran */
    etcdt_proc_signal(h, SIGINT);
    CHECK(etcdt_proc_wait(h, 5000) == 0);
    etcdt_proc_free(p);
    etcdt_proc_free(h);
    unit_end(&u);
}

ETCDT_TEST(watchdog_only_while_keepalives_succeed) {
    /* TTL 3 through a proxy, WATCHDOG=1 every 100 ms: the pings stop once renewals fail (the
       last renewal older than TTL/2), well before the session counts as lost */
    char name[64], ep[64], sock[200], env_ns[256], buf[1024], key[256], v[256];
    char *env[3];
    notified n = {-1, 0, 0};
    etcdt_proxy px;
    etcdt_proc *p;
    int64_t t_cut, t_lost;
    fresh_name(name, sizeof name);
    REQUIRE((n.fd = notify_bind(0, sock, sizeof sock)) >= 0);
    REQUIRE(etcdt_proxy_start(&px, etcdt_member_client_port(cl, 0)) == 0);
    snprintf(ep, sizeof ep, "--endpoints=127.0.0.1:%d", px.port);
    snprintf(env_ns, sizeof env_ns, "NOTIFY_SOCKET=%s", sock);
    env[0] = env_ns;
    env[1] = (char *)"WATCHDOG_USEC=200000";
    env[2] = NULL;
    p = cli_env(env, ep, "--ttl=3", "elect", name, "V", NULL);
    REQUIRE(p && read_pair(p, key, sizeof key, v, sizeof v, 10000));
    CHECK(notify_expect(&n, "READY=1", buf, sizeof buf, 5000));
    n.watchdogs = 0;
    CHECKF(!notify_next(&n, buf, sizeof buf, 1500), "unexpected \"%s\"", buf);
    CHECKF(n.watchdogs >= 8, "%d WATCHDOG=1 in 1.5 s, every 100 ms expected", n.watchdogs);
    t_cut = etcdt_now_ms();
    etcdt_proxy_partition(&px, 1);
    CHECKF(notify_expect(&n, "STATUS=lost: ", buf, sizeof buf, 5000), "no STATUS=lost");
    t_lost = etcdt_now_ms();
    printf("    partition -> last WATCHDOG=1 %lld ms, -> STATUS=lost %lld ms\n",
           (long long)(n.last_watchdog - t_cut), (long long)(t_lost - t_cut));
    CHECKF(t_lost - n.last_watchdog >= 400,
           "WATCHDOG=1 went on until %lld ms before the loss; renewals had failed since",
           (long long)(t_lost - n.last_watchdog));
    CHECK(etcdt_proc_wait(p, 5000) == 1);
    etcdt_proc_free(p);
    etcdt_proxy_stop(&px);
    close(n.fd);
    unlink(sock);
}

ETCDT_TEST(kill_timeout_bounds_a_child_that_ignores_sigterm) {
    char name[64], line[256], out[256];
    long child;
    etcdt_proc *p;
    int64_t t0, took;
    int st;
    static const char stubborn[] = "trap '' TERM; echo $$; while :; do sleep 0.1; done";
    fresh_name(name, sizeof name);
    /* our SIGTERM: forwarded, ignored; SIGKILL to the group after --kill-timeout */
    p = cli(epflag, "--kill-timeout=1s", "lock", name, "sh", "-c", stubborn, NULL);
    REQUIRE(p && etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
    child = strtol(line, NULL, 10);
    t0 = etcdt_now_ms();
    etcdt_proc_signal(p, SIGTERM);
    st = etcdt_proc_wait(p, 8000);
    took = etcdt_now_ms() - t0;
    CHECKF(st == 128 + SIGKILL, "status %d", st);
    CHECKF(took >= 900 && took < 3000, "SIGTERM to exit: %lld ms, --kill-timeout=1s",
           (long long)took);
    CHECK(child > 0 && pid_dead((pid_t)child));
    CHECK(count_keys(name) == 0);
    etcdt_proc_free(p);
    if (child > 0 && !pid_dead((pid_t)child)) kill((pid_t)-child, SIGKILL);
    /* loss (own key deleted): the same grace, here shorter than the default */
    p = cli(epflag, "--kill-timeout=300ms", "elect", name, "V", "--", "sh", "-c",
            "trap '' TERM; echo $$ $ETCD_ELECT_KEY; while :; do sleep 0.1; done", NULL);
    REQUIRE(p && etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
    child = strtol(line, NULL, 10);
    t0 = etcdt_now_ms();
    CHECK(etcdt_etcdctl(cl, out, sizeof out, 10000, "del", strchr(line, ' ') + 1, NULL) == 0);
    CHECK(etcdt_proc_wait(p, 5000) == 1);
    took = etcdt_now_ms() - t0;
    CHECKF(took >= 250 && took < 2000, "deletion to exit: %lld ms, --kill-timeout=300ms",
           (long long)took);
    CHECK(child > 0 && pid_dead((pid_t)child));
    etcdt_proc_free(p);
    if (child > 0 && !pid_dead((pid_t)child)) kill((pid_t)-child, SIGKILL);
    check_cli(NULL, 2, "bad --kill-timeout duration: x", epflag, "--kill-timeout=x", "lock", name);
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(elect_interop_with_etcdctl_both_ways),
        ETCDT_CASE(lock_interop_fifo_both_ways),
        ETCDT_CASE(lock_n_is_a_semaphore),
        ETCDT_CASE(exit_codes),
        ETCDT_CASE(sigint_while_holding_releases_at_once),
        ETCDT_CASE(signal_while_waiting_gives_up_queue_place_exit_1),
        ETCDT_CASE(child_env_matches_etcd),
        ETCDT_CASE(signals_are_forwarded_to_the_child),
        ETCDT_CASE(flag_parsing),
        ETCDT_CASE(elect_child_stopped_on_loss_before_successor),
        ETCDT_CASE(lock_child_stopped_on_loss_before_successor),
        ETCDT_CASE(deleted_key_is_loss_at_once),
        ETCDT_CASE(child_group_dies_with_a_killed_cli),
        ETCDT_CASE(etcdctl_variables_are_read_and_flags_win),
        ETCDT_CASE(lock_cmd_without_dashdash_and_dash_values),
        ETCDT_CASE(version_flag_and_command),
        ETCDT_CASE(leader_query_for_scripts),
        ETCDT_CASE(json_output_is_escaped_and_binary_safe),
        ETCDT_CASE(systemd_leader_unit_notify_sequence),
        ETCDT_CASE(systemd_lock_unit_runs_the_job),
        ETCDT_CASE(systemd_stop_while_waiting_never_hangs),
        ETCDT_CASE(watchdog_only_while_keepalives_succeed),
        ETCDT_CASE(kill_timeout_bounds_a_child_that_ignores_sigterm),
        ETCDT_CASE(elect_stubborn_child_killed_before_successor),
    };
    const char *self = etcdt_self_path();
    const char *slash = self ? strrchr(self, '/') : NULL;
    int rc;
    signal(SIGPIPE, SIG_IGN);
    if (!slash) {
        fprintf(stderr, "cannot find the test binary's directory\n0 passed, 1 failed\n");
        return 1;
    }
    snprintf(cli_path, sizeof cli_path, "%.*s/../etcd-elect", (int)(slash - self), self);
    if (access(cli_path, X_OK) != 0) {
        fprintf(stderr, "%s not built (make build/etcd-elect)\n0 passed, 1 failed\n", cli_path);
        return 1;
    }
    cl = etcdt_cluster_start(1, NULL);
    if (!cl) {
        fprintf(stderr, "could not start etcd\n0 passed, 1 failed\n");
        return 1;
    }
    snprintf(epflag, sizeof epflag, "--endpoints=%s", etcdt_member_endpoint(cl, 0));
    rc = etcdt_run("cli", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    etcdt_cluster_stop(cl);
    return rc;
}
