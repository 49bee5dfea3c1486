/*
 * test_harness.c - exercises tests/etcdt.h itself: the test framework,
 * the etcd cluster launcher, the etcdctl runner, the child process helper
 * and the safety net.
 *
 * Helper modes (used when the program re-executes itself):
 *   --child        prints lines / stderr, exits with $ETCDT_CHILD_EXIT
 *   --sleep        prints "ready" and sleeps until killed
 *   --mini [flt]   runs a small suite with pass/fail/require/skip cases
 *   --orphan MODE  starts a 1-member cluster, prints its member pid and dir,
 *                  then MODE=exit: on SIGUSR1 exit(0) without stopping it;
 *                  MODE=wait: sleeps until a signal arrives
 */
#include "etcdt.h"

#include <ctype.h>

/* ---------------------------------------------------------------- modes */

static int mini_reached_after_require;

ETCDT_TEST(mini_pass) { CHECK(1 + 1 == 2); }

ETCDT_TEST(mini_fail) {
    CHECK(1 == 2);
    CHECKF(0, "value was %d", 5);
}

ETCDT_TEST(mini_require) {
    REQUIRE(0 > 1);
    mini_reached_after_require = 1;
    printf("SHOULD NOT BE REACHED\n");
}

ETCDT_TEST(mini_skip) { etcdt_skip("no reason at all"); }

static int mode_mini(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(mini_pass),
        ETCDT_CASE(mini_fail),
        ETCDT_CASE(mini_require),
        ETCDT_CASE(mini_skip),
    };
    return etcdt_run("mini", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
}

static int mode_child(void) {
    const char *code = getenv("ETCDT_CHILD_EXIT");
    const char *hello = getenv("ETCDT_HELLO");
    printf("line one\n");
    printf("hello=%s\n", hello ? hello : "(unset)");
    fflush(stdout);
    fprintf(stderr, "this goes to stderr\n");
    fflush(stderr);
    etcdt_sleep_ms(200);
    printf("unterminated");
    fflush(stdout);
    return code ? atoi(code) : 0;
}

static int mode_sleep(void) {
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
    return 0;
}

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig) {
    (void)sig;
    got_usr1 = 1;
}

static int mode_orphan(const char *how) {
    etcdt_cluster *cl;
    signal(SIGUSR1, on_usr1);
    cl = etcdt_cluster_start(1, NULL);
    if (!cl) return 2;
    printf("%ld %s\n", (long)etcdt_member_pid(cl, 0), etcdt_cluster_dir(cl));
    fflush(stdout);
    if (strcmp(how, "exit") == 0) {
        while (!got_usr1) etcdt_sleep_ms(10);
        exit(0); /* atexit safety net must kill and clean up */
    }
    for (;;) pause(); /* the signal safety net must kill the member */
    return 0;
}

/* ---------------------------------------------------------------- utils */

/* 1 if pid is gone or a zombie. */
static int pid_dead(pid_t pid) {
    char path[64], buf[512];
    FILE *f;
    char *rp;
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (!f) return 1;
    if (!fgets(buf, sizeof buf, f)) {
        fclose(f);
        return 1;
    }
    fclose(f);
    rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static int wait_pid_dead(pid_t pid, int timeout_ms) {
    int64_t deadline = etcdt_now_ms() + timeout_ms;
    while (!pid_dead(pid)) {
        if (etcdt_now_ms() >= deadline) return 0;
        etcdt_sleep_ms(20);
    }
    return 1;
}

static int is_hex(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s)) return 0;
    return 1;
}

/* ---------------------------------------------------------------- tests */

ETCDT_TEST(time_and_ports) {
    int64_t t0 = etcdt_now_ms(), dt;
    int p1, p2;
    etcdt_sleep_ms(120);
    dt = etcdt_now_ms() - t0;
    CHECKF(dt >= 120 && dt < 1000, "slept %lld ms", (long long)dt);
    p1 = etcdt_free_port();
    p2 = etcdt_free_port();
    CHECK(p1 > 0 && p1 < 65536);
    CHECK(p2 > 0 && p2 < 65536);
    /* nothing listens there: the HTTP client fails fast */
    CHECK(etcdt_http_post(p1, "/v3/kv/range", "{}", NULL, 0, 1000) == -1);
    CHECK(etcdt_self_path() != NULL && etcdt_self_path()[0] == '/');
}

ETCDT_TEST(framework) {
    char *argv[] = {NULL, (char *)"--mini", NULL};
    char line[256];
    const char *expect[] = {"ok   mini.mini_pass (", "FAIL mini.mini_fail",
                            "FAIL mini.mini_require", "skip mini.mini_skip: no reason at all",
                            "1 passed, 2 failed, 1 skipped"};
    const char *err;
    etcdt_proc *p;
    size_t i;
    int st;

    argv[0] = (char *)etcdt_self_path();
    p = etcdt_spawn(argv, NULL);
    REQUIRE(p != NULL);
    for (i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        int r = etcdt_proc_readline(p, line, sizeof line, 10000);
        CHECKF(r == 1, "readline %d returned %d", (int)i, r);
        CHECKF(strncmp(line, expect[i], strlen(expect[i])) == 0,
               "line %d: got \"%s\", want prefix \"%s\"", (int)i, line, expect[i]);
    }
    CHECK(etcdt_proc_readline(p, line, sizeof line, 10000) == 0);
    st = etcdt_proc_wait(p, 10000);
    CHECKF(st == 1, "mini exit status %d", st);
    err = etcdt_proc_stderr(p);
    CHECKF(strstr(err, "[mini.mini_fail] CHECK(1 == 2) failed") != NULL, "stderr: %s", err);
    CHECKF(strstr(err, "[mini.mini_fail] value was 5") != NULL, "stderr: %s", err);
    CHECKF(strstr(err, "[mini.mini_require] REQUIRE(0 > 1) failed") != NULL, "stderr: %s", err);
    CHECK(strstr(err, "test_harness.c:") != NULL);
    etcdt_proc_free(p);

    /* filter by substring; no skip suffix when nothing skipped */
    {
        char *argv2[] = {NULL, (char *)"--mini", (char *)"pass", NULL};
        argv2[0] = (char *)etcdt_self_path();
        p = etcdt_spawn(argv2, NULL);
        REQUIRE(p != NULL);
        CHECK(etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
        CHECK(strncmp(line, "ok   mini.mini_pass (", 21) == 0);
        CHECK(etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
        CHECKF(strcmp(line, "1 passed, 0 failed") == 0, "got \"%s\"", line);
        CHECK(etcdt_proc_wait(p, 10000) == 0);
        etcdt_proc_free(p);
    }
}

ETCDT_TEST(spawn_child) {
    char *argv[] = {NULL, (char *)"--child", NULL};
    char *env[] = {(char *)"ETCDT_HELLO=world", (char *)"ETCDT_CHILD_EXIT=3", NULL};
    char line[64];
    etcdt_proc *p;
    int st;

    argv[0] = (char *)etcdt_self_path();
    p = etcdt_spawn(argv, env);
    REQUIRE(p != NULL);
    CHECK(etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
    CHECKF(strcmp(line, "line one") == 0, "got \"%s\"", line);
    CHECK(etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
    CHECKF(strcmp(line, "hello=world") == 0, "got \"%s\"", line);
    /* the final unterminated line is returned at EOF, then EOF */
    CHECK(etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
    CHECKF(strcmp(line, "unterminated") == 0, "got \"%s\"", line);
    CHECK(etcdt_proc_readline(p, line, sizeof line, 10000) == 0);
    st = etcdt_proc_wait(p, 10000);
    CHECKF(st == 3, "status %d", st);
    CHECK(etcdt_proc_wait(p, 0) == 3); /* stable after reaping */
    CHECKF(strcmp(etcdt_proc_stderr(p), "this goes to stderr\n") == 0, "stderr \"%s\"",
           etcdt_proc_stderr(p));
    CHECK(etcdt_proc_signal(p, SIGTERM) == -1); /* already reaped */
    etcdt_proc_free(p);

    /* timeouts, signals, truncation */
    argv[1] = (char *)"--sleep";
    p = etcdt_spawn(argv, NULL);
    REQUIRE(p != NULL);
    CHECK(etcdt_proc_readline(p, line, 3, 10000) == 1);
    CHECKF(strcmp(line, "re") == 0, "truncated line \"%s\"", line);
    {
        int64_t t0 = etcdt_now_ms();
        CHECK(etcdt_proc_readline(p, line, sizeof line, 200) == -1);
        CHECK(etcdt_proc_wait(p, 200) == -1);
        CHECK(etcdt_now_ms() - t0 >= 400);
    }
    CHECK(etcdt_proc_running(p));
    CHECK(etcdt_proc_signal(p, SIGTERM) == 0);
    st = etcdt_proc_wait(p, 10000);
    CHECKF(st == 128 + SIGTERM, "status %d", st);
    etcdt_proc_free(p);

    /* free() of a running process kills it */
    p = etcdt_spawn(argv, NULL);
    REQUIRE(p != NULL);
    CHECK(etcdt_proc_readline(p, line, sizeof line, 10000) == 1);
    {
        pid_t pid = etcdt_proc_pid(p);
        etcdt_proc_free(p);
        CHECK(pid_dead(pid));
    }

    /* missing program */
    {
        char *bad[] = {(char *)"etcdt-no-such-program-xyz", NULL};
        CHECK(etcdt_spawn(bad, NULL) == NULL);
    }
}

ETCDT_TEST(single_member) {
    char out[4096], line[256];
    etcdt_cluster *cl;
    etcdt_proc *p;
    int st;
    int64_t t0 = etcdt_now_ms();

    cl = etcdt_cluster_start(1, NULL);
    REQUIRE(cl != NULL);
    fprintf(stderr, "single_member: cluster up in %lld ms at %s\n",
            (long long)(etcdt_now_ms() - t0), etcdt_endpoints(cl));
    CHECK(strcmp(etcdt_endpoints(cl), etcdt_member_endpoint(cl, 0)) == 0);
    CHECK(strncmp(etcdt_endpoints(cl), "127.0.0.1:", 10) == 0);

    st = etcdt_etcdctl(cl, out, sizeof out, 10000, "put", "k", "v", NULL);
    CHECKF(st == 0, "put status %d: %s", st, out);
    CHECKF(strcmp(out, "OK\n") == 0, "put output \"%s\"", out);
    st = etcdt_etcdctl(cl, out, sizeof out, 10000, "get", "k", NULL);
    CHECKF(st == 0, "get status %d: %s", st, out);
    CHECKF(strcmp(out, "k\nv\n") == 0, "get output \"%s\"", out);
    st = etcdt_etcdctl(cl, out, sizeof out, 10000, "get", "missing", NULL);
    CHECKF(st == 0 && out[0] == 0, "get missing: %d \"%s\"", st, out);
    /* output truncation */
    st = etcdt_etcdctl(cl, out, 3, 10000, "get", "k", NULL);
    CHECKF(st == 0 && strcmp(out, "k\n") == 0, "truncated \"%s\"", out);
    /* the raw HTTP client sees the key too (base64 "k" = "aw==") */
    {
        char body[2048];
        int code = etcdt_http_post(etcdt_member_client_port(cl, 0), "/v3/kv/range",
                                   "{\"key\":\"aw==\"}", body, sizeof body, 5000);
        CHECKF(code == 200, "http status %d", code);
        CHECKF(strstr(body, "\"value\":\"dg==\"") != NULL, "body %s", body);
    }

    /* election via etcdctl elect */
    {
        char ep[600];
        char *argv[] = {(char *)"etcdctl", ep, (char *)"elect", (char *)"demo", (char *)"A", NULL};
        snprintf(ep, sizeof ep, "--endpoints=%s", etcdt_endpoints(cl));
        p = etcdt_spawn(argv, NULL);
        REQUIRE(p != NULL);
        st = etcdt_proc_readline(p, line, sizeof line, 10000);
        CHECKF(st == 1, "readline %d, stderr: %s", st, etcdt_proc_stderr(p));
        CHECKF(strncmp(line, "demo/", 5) == 0 && is_hex(line + 5), "leader key line \"%s\"", line);
        st = etcdt_proc_readline(p, line, sizeof line, 10000);
        CHECK(st == 1);
        CHECKF(strcmp(line, "A") == 0, "value line \"%s\"", line);

        /* a command that never ends is killed after the timeout -> -1 */
        t0 = etcdt_now_ms();
        st = etcdt_etcdctl(cl, out, sizeof out, 1500, "watch", "nothing", NULL);
        CHECKF(st == -1, "watch status %d: %s", st, out);
        CHECK(etcdt_now_ms() - t0 >= 1500 && etcdt_now_ms() - t0 < 5000);
        /* observers see A as the leader */
        st = etcdt_etcdctl(cl, out, sizeof out, 10000, "get", "--prefix", "demo/",
                           "--print-value-only", NULL);
        CHECKF(st == 0 && strcmp(out, "A\n") == 0, "leader value: %d \"%s\"", st, out);

        CHECK(etcdt_proc_signal(p, SIGINT) == 0);
        st = etcdt_proc_wait(p, 10000);
        CHECKF(st == 0, "elect exit status %d, stderr: %s", st, etcdt_proc_stderr(p));
        etcdt_proc_free(p);
        /* resigned: the election key is gone */
        st = etcdt_etcdctl(cl, out, sizeof out, 10000, "get", "--prefix", "demo/", NULL);
        CHECKF(st == 0 && out[0] == 0, "after resign: %d \"%s\"", st, out);
    }
    etcdt_cluster_stop(cl);
}

ETCDT_TEST(three_members) {
    char out[4096];
    etcdt_cluster *cl;
    int st, i;
    int64_t t0 = etcdt_now_ms();
    char dir[PATH_MAX];

    cl = etcdt_cluster_start(3, "--heartbeat-interval 50 --election-timeout 500");
    REQUIRE(cl != NULL);
    fprintf(stderr, "three_members: cluster up in %lld ms at %s\n",
            (long long)(etcdt_now_ms() - t0), etcdt_endpoints(cl));
    snprintf(dir, sizeof dir, "%s", etcdt_cluster_dir(cl));
    CHECK(etcdt_member_count(cl) == 3);
    {
        char want[256];
        snprintf(want, sizeof want, "%s,%s,%s", etcdt_member_endpoint(cl, 0),
                 etcdt_member_endpoint(cl, 1), etcdt_member_endpoint(cl, 2));
        CHECK(strcmp(etcdt_endpoints(cl), want) == 0);
    }
    for (i = 0; i < 3; i++) CHECK(etcdt_member_ready(cl, i, 5000));

    st = etcdt_etcdctl(cl, out, sizeof out, 10000, "put", "x", "1", NULL);
    CHECKF(st == 0, "put: %d %s", st, out);

    CHECK(etcdt_member_kill(cl, 1, SIGKILL) == 0);
    CHECK(etcdt_member_pid(cl, 1) == 0);
    CHECK(!etcdt_member_ready(cl, 1, 500));
    CHECK(etcdt_member_kill(cl, 1, SIGKILL) == -1); /* not running */
    /* Two of three still form a quorum.  If the killed member was the
     * leader, a put issued before the others notice can be lost and hang
     * until the command timeout, so retry with a short one. */
    t0 = etcdt_now_ms();
    do {
        st = etcdt_etcdctl(cl, out, sizeof out, 10000, "--command-timeout=2s", "put", "x", "2",
                           NULL);
    } while (st != 0 && etcdt_now_ms() - t0 < 15000);
    CHECKF(st == 0, "put with one member down: %d %s", st, out);
    fprintf(stderr, "three_members: put after kill took %lld ms\n",
            (long long)(etcdt_now_ms() - t0));

    t0 = etcdt_now_ms();
    CHECK(etcdt_member_restart(cl, 1) == 0);
    fprintf(stderr, "three_members: member restarted in %lld ms\n",
            (long long)(etcdt_now_ms() - t0));
    CHECK(etcdt_member_pid(cl, 1) > 0);
    CHECK(etcdt_member_ready(cl, 1, 5000));
    /* the restarted member alone serves the latest value */
    {
        char ep[64];
        snprintf(ep, sizeof ep, "--endpoints=%s", etcdt_member_endpoint(cl, 1));
        st =
            etcdt_etcdctl(NULL, out, sizeof out, 10000, ep, "get", "x", "--print-value-only", NULL);
        CHECKF(st == 0 && strcmp(out, "2\n") == 0, "get from m1: %d \"%s\"", st, out);
    }
    /* SIGSTOP / SIGCONT do not wait */
    CHECK(etcdt_member_kill(cl, 2, SIGSTOP) == 0);
    CHECK(etcdt_member_pid(cl, 2) > 0);
    CHECK(etcdt_member_kill(cl, 2, SIGCONT) == 0);
    /* SIGTERM waits for a graceful exit */
    CHECK(etcdt_member_kill(cl, 2, SIGTERM) == 0);
    CHECK(etcdt_member_pid(cl, 2) == 0);
    CHECK(etcdt_member_restart(cl, 2) == 0);

    etcdt_cluster_stop(cl);
    CHECK(access(dir, F_OK) != 0);
}

ETCDT_TEST(safety_net) {
    const char *modes[] = {"exit", "wait"};
    int k;
    for (k = 0; k < 2; k++) {
        char *argv[] = {NULL, (char *)"--orphan", (char *)modes[k], NULL};
        char line[PATH_MAX + 64], dir[PATH_MAX];
        long mpid = 0;
        etcdt_proc *p;
        int st;

        argv[0] = (char *)etcdt_self_path();
        p = etcdt_spawn(argv, NULL);
        REQUIRE(p != NULL);
        st = etcdt_proc_readline(p, line, sizeof line, 30000);
        CHECKF(st == 1, "%s: readline %d, stderr %s", modes[k], st, etcdt_proc_stderr(p));
        CHECK(sscanf(line, "%ld %s", &mpid, dir) == 2);
        if (mpid <= 0) {
            etcdt_proc_free(p);
            return;
        }
        CHECK(!pid_dead((pid_t)mpid));
        CHECK(etcdt_proc_signal(p, k == 0 ? SIGUSR1 : SIGTERM) == 0);
        st = etcdt_proc_wait(p, 15000);
        CHECKF(st == (k == 0 ? 0 : 128 + SIGTERM), "%s: status %d", modes[k], st);
        CHECKF(wait_pid_dead((pid_t)mpid, 5000), "%s: member %ld survived", modes[k], mpid);
        if (k == 0)
            CHECKF(access(dir, F_OK) != 0, "dir %s left behind", dir);
        else
            etcdt__rm_rf(dir); /* signal path cannot clean up */
        etcdt_proc_free(p);
    }
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(time_and_ports), ETCDT_CASE(framework),     ETCDT_CASE(spawn_child),
        ETCDT_CASE(single_member),  ETCDT_CASE(three_members), ETCDT_CASE(safety_net),
    };
    if (argc > 1 && strcmp(argv[1], "--mini") == 0) return mode_mini(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "--child") == 0) return mode_child();
    if (argc > 1 && strcmp(argv[1], "--sleep") == 0) return mode_sleep();
    if (argc > 2 && strcmp(argv[1], "--orphan") == 0) return mode_orphan(argv[2]);
    (void)mini_reached_after_require;
    return etcdt_run("harness", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
}
