/* examples/service.c, the long-running service, against a private, real etcd: two instances,
   one leads and works (fenced writes to ELECTION-work), the other waits; SIGTERM of the leader
   hands over at once; a revoked lease reaches the service through its session fd, a deleted
   key through its refused work, and either way it campaigns again with a new session. The
   history of the work key shows one leader at a time: in etcd's order, no write carries an
   older fencing token than the one before it. */
#include "etcdt_test.h" /* first: it sets _GNU_SOURCE */
#include "etcdt_proc.h"
#include "etcdt_etcd.h"

#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STEP_MS 10000 /* any single step; generous for a loaded 2-core machine */

static etcdt_cluster *cl;
static char service_path[PATH_MAX];
static char epflag[256]; /* --endpoints=<the member> */
static int name_seq;

static const char *fresh_name(char *buf, size_t cap) {
    snprintf(buf, cap, "svc-%d-%d", (int)getpid(), ++name_seq);
    return buf;
}

/* build/service as NAME on election `el`, with a TTL and a tick. */
static etcdt_proc *service(const char *name, const char *el, int ttl, int tick_ms) {
    char t[16], k[16];
    char *argv[] = {service_path,
                    (char *)"-e",
                    (char *)etcdt_endpoints(cl),
                    (char *)"-E",
                    (char *)el,
                    (char *)"-t",
                    t,
                    (char *)"-i",
                    k,
                    (char *)name,
                    NULL};
    snprintf(t, sizeof t, "%d", ttl);
    snprintf(k, sizeof k, "%d", tick_ms);
    return etcdt_spawn(argv, NULL);
}

/* Reads p's lines until one starts with `prefix`, left in line; 1 if it came in time. */
static int expect(etcdt_proc *p, const char *prefix, int ms, char *line, size_t cap) {
    int64_t end = etcdt_now_ms() + ms;
    char buf[1024];
    snprintf(line, cap, "(no line)");
    while (etcdt_proc_readline(p, buf, sizeof buf, etcdt__left(end)) == 1) {
        snprintf(line, cap, "%s", buf);
        if (!strncmp(buf, prefix, strlen(prefix))) return 1;
    }
    return 0;
}

/* Waits for "campaigning, lease L": L, or 0. */
static unsigned long long campaigning(etcdt_proc *p, const char *who) {
    char line[1024];
    unsigned long long lease = 0;
    CHECKF(expect(p, "campaigning, lease ", STEP_MS, line, sizeof line) &&
               sscanf(line, "campaigning, lease %llx", &lease) == 1,
           "%s: \"%s\"; stderr: %s", who, line, etcdt_proc_stderr(p));
    return lease;
}

/* Waits for "leading as KEY, fencing token T" (KEY into key, if given), then the first
   tick of that token: T, or 0. */
static long long leading(etcdt_proc *p, const char *who, int ms, char *key, size_t kcap) {
    char line[1024], k[256] = "", want[64];
    long long token = 0;
    CHECKF(expect(p, "leading as ", ms, line, sizeof line) &&
               sscanf(line, "leading as %255[^,], fencing token %lld", k, &token) == 2,
           "%s does not lead: \"%s\"; stderr: %s", who, line, etcdt_proc_stderr(p));
    if (key) snprintf(key, kcap, "%s", k);
    snprintf(want, sizeof want, "tick 1, token %lld", token);
    CHECKF(expect(p, want, STEP_MS, line, sizeof line), "%s does not work: \"%s\"; stderr: %s", who,
           line, etcdt_proc_stderr(p));
    return token;
}

/* SIGTERM; the service says `last` and exits 0. */
static void terminate(etcdt_proc *p, const char *who, const char *last) {
    char line[1024];
    etcdt_proc_signal(p, SIGTERM);
    CHECKF(expect(p, last, STEP_MS, line, sizeof line), "%s: \"%s\", want \"%s\"; stderr: %s", who,
           line, last, etcdt_proc_stderr(p));
    CHECKF(etcdt_proc_wait(p, STEP_MS) == 0, "%s exits 0; stderr: %s", who, etcdt_proc_stderr(p));
}

static long long json_field(const char *json, const char *field) {
    const char *s = strstr(json, field);
    return s ? strtoll(s + strlen(field), NULL, 10) : -1;
}

/* Every write to EL-work in etcd's order (etcdctl watch from revision 1): its token never
   below the one before, and one token is one writer's. Returns the number of writes seen. */
static int check_work_history(const char *el) {
    char key[128], out[4096], line[512], value[512], prev[64] = "";
    char *argv[] = {(char *)"etcdctl", epflag, (char *)"watch", (char *)"--rev=1", key, NULL};
    long long writes, last = 0;
    int n = 0;
    etcdt_proc *w;
    snprintf(key, sizeof key, "%s-work", el);
    CHECKF(etcdt_etcdctl(cl, out, sizeof out, STEP_MS, "get", key, "-w", "json", NULL) == 0,
           "etcdctl get %s: %s", key, out);
    writes = json_field(out, "\"version\":"); /* puts since the key was made: it never goes */
    CHECKF(writes > 0, "no work written to %s: %s", key, out);
    if (!(w = etcdt_spawn(argv, NULL))) {
        CHECKF(0, "etcdctl watch %s did not start", key);
        return 0;
    }
    for (; n < writes; n++) {
        char who[64];
        long long tick, token;
        if (etcdt_proc_readline(w, line, sizeof line, STEP_MS) != 1 ||
            etcdt_proc_readline(w, line, sizeof line, STEP_MS) != 1 ||
            etcdt_proc_readline(w, value, sizeof value, STEP_MS) != 1) {
            CHECKF(0, "etcdctl watch %s: %d of %lld writes; stderr: %s", key, n, writes,
                   etcdt_proc_stderr(w));
            break;
        }
        if (sscanf(value, "%63s tick %lld, token %lld", who, &tick, &token) != 3) {
            CHECKF(0, "write %d to %s: \"%s\"", n + 1, key, value);
            break;
        }
        CHECKF(token >= last, "write %d (\"%s\") after one with token %lld: two leaders", n + 1,
               value, last);
        CHECKF(token != last || !strcmp(who, prev), "token %lld written by %s and %s", token, prev,
               who);
        last = token;
        snprintf(prev, sizeof prev, "%s", who);
    }
    etcdt_proc_free(w);
    return n;
}

ETCDT_TEST(sigterm_of_the_leader_hands_over_at_once) {
    char el[64], line[1024];
    etcdt_proc *a, *b;
    long long ta, tb;
    int64_t t0, took;
    fresh_name(el, sizeof el);
    REQUIRE((a = service("A", el, 5, 100)) != NULL);
    campaigning(a, "A");
    ta = leading(a, "A", STEP_MS, NULL, 0);
    REQUIRE((b = service("B", el, 5, 100)) != NULL);
    campaigning(b, "B");
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), el, 2, STEP_MS)); /* B waits behind A */
    t0 = etcdt_now_ms();
    terminate(a, "A", "resigned");
    tb = leading(b, "B", STEP_MS, NULL, 0);
    took = etcdt_now_ms() - t0;
    CHECKF(took < 2500, "B led %lld ms after A's SIGTERM: not at once (TTL 5 s)", (long long)took);
    CHECKF(tb > ta, "B's token %lld, A's %lld", tb, ta);
    terminate(b, "B", "resigned");
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), el, 0, STEP_MS));
    CHECK(!expect(b, "", 0, line, sizeof line)); /* nothing after "resigned" */
    CHECK(check_work_history(el) >= 2);
    etcdt_proc_free(a);
    etcdt_proc_free(b);
}

ETCDT_TEST(revoked_lease_reaches_it_through_the_session_fd) {
    char el[64], lease[32], out[1024], line[1024];
    etcdt_proc *a, *b;
    unsigned long long la, la2;
    long long ta, tb, ta2;
    int64_t t0, took;
    fresh_name(el, sizeof el);
    /* A works once a minute: only its session fd can tell it of the loss in time */
    REQUIRE((a = service("A", el, 3, 60000)) != NULL);
    la = campaigning(a, "A");
    ta = leading(a, "A", STEP_MS, NULL, 0);
    REQUIRE((b = service("B", el, 3, 100)) != NULL);
    campaigning(b, "B");
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), el, 2, STEP_MS));
    snprintf(lease, sizeof lease, "%llx", la);
    t0 = etcdt_now_ms();
    CHECKF(etcdt_etcdctl(cl, out, sizeof out, STEP_MS, "lease", "revoke", lease, NULL) == 0,
           "etcdctl lease revoke %s: %s", lease, out);
    tb = leading(b, "B", STEP_MS, NULL, 0);
    CHECKF(tb > ta, "B's token %lld, A's %lld", tb, ta);
    CHECKF(expect(a, "lost: the session ended: ", STEP_MS, line, sizeof line), "A: \"%s\"", line);
    took = etcdt_now_ms() - t0;
    /* the session ends at the latest a TTL after the last renewal: its next keepalive in
       practice (1 s); without the fd, A would learn of it at its next tick, a minute on */
    CHECKF(took < 4000, "A saw its revoked lease after %lld ms (TTL 3 s)", (long long)took);
    la2 = campaigning(a, "A");
    CHECKF(la2 != 0 && la2 != la, "A campaigns again on lease %llx (was %llx)", la2, la);
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), el, 2, STEP_MS)); /* A waits behind B */
    terminate(b, "B", "resigned");
    ta2 = leading(a, "A", STEP_MS, NULL, 0);
    CHECKF(ta2 > tb, "A's new token %lld, B's %lld", ta2, tb);
    terminate(a, "A", "resigned");
    CHECK(check_work_history(el) >= 3);
    etcdt_proc_free(a);
    etcdt_proc_free(b);
}

ETCDT_TEST(deleted_key_stops_the_work_and_it_campaigns_again) {
    char el[64], key[256], out[1024], line[1024];
    etcdt_proc *a;
    unsigned long long la, la2;
    long long ta, ta2;
    fresh_name(el, sizeof el);
    REQUIRE((a = service("A", el, 5, 100)) != NULL);
    la = campaigning(a, "A");
    ta = leading(a, "A", STEP_MS, key, sizeof key);
    CHECKF(etcdt_etcdctl(cl, out, sizeof out, STEP_MS, "del", key, NULL) == 0, "etcdctl del: %s",
           out);
    CHECKF(expect(a, "lost: the work was refused: ", STEP_MS, line, sizeof line), "A: \"%s\"",
           line);
    la2 = campaigning(a, "A");
    CHECKF(la2 != 0 && la2 != la, "A campaigns again on lease %llx (was %llx)", la2, la);
    ta2 = leading(a, "A", STEP_MS, NULL, 0); /* alone: it leads again */
    CHECKF(ta2 > ta, "A's new token %lld, the old %lld", ta2, ta);
    terminate(a, "A", "resigned");
    CHECK(check_work_history(el) >= 2);
    etcdt_proc_free(a);
}

ETCDT_TEST(sigterm_while_waiting_leaves_the_queue) {
    char el[64];
    etcdt_proc *a, *b;
    fresh_name(el, sizeof el);
    REQUIRE((a = service("A", el, 5, 100)) != NULL);
    campaigning(a, "A");
    leading(a, "A", STEP_MS, NULL, 0);
    REQUIRE((b = service("B", el, 5, 100)) != NULL);
    campaigning(b, "B");
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), el, 2, STEP_MS));
    terminate(b, "B", "left the queue");
    CHECK(etcdt_wait_keys(etcdt_endpoints(cl), el, 1, STEP_MS));
    terminate(a, "A", "resigned");
    etcdt_proc_free(a);
    etcdt_proc_free(b);
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(sigterm_of_the_leader_hands_over_at_once),
        ETCDT_CASE(revoked_lease_reaches_it_through_the_session_fd),
        ETCDT_CASE(deleted_key_stops_the_work_and_it_campaigns_again),
        ETCDT_CASE(sigterm_while_waiting_leaves_the_queue),
    };
    char dir[PATH_MAX];
    const char *why;
    int rc;
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "%s", etcdt_self_path() ? etcdt_self_path() : "");
    snprintf(service_path, sizeof service_path, "%s/../service", dirname(dir)); /* build/tests/.. */
    why = access(service_path, X_OK) != 0        ? "build/service is not built (make build/service)"
          : !(cl = etcdt_cluster_start(1, NULL)) ? "could not start etcd"
                                                 : NULL;
    if (why) {
        fprintf(stderr, "%s\n", why);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    snprintf(epflag, sizeof epflag, "--endpoints=%s", etcdt_member_endpoint(cl, 0));
    rc = etcdt_run("service", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    etcdt_cluster_stop(cl);
    return rc;
}
