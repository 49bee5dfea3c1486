/* etcd-elect -- leader election and locks on etcd v3 from the shell: the contract of
   `etcdctl elect` / `etcdctl lock` (same keys, one queue with etcdctl and Go programs),
   plus a child process that is stopped before anyone else can take over.

     etcd-elect [flags] elect NAME VALUE [-- CMD ARGS...]   lead; print "KEY\nVALUE\n"
     etcd-elect [flags] elect -l NAME                       print each new leader
     etcd-elect [flags] lock NAME [-- CMD ARGS...]          hold the lock; print "KEY\n\n"
   Without CMD it holds until SIGINT/SIGTERM/SIGHUP, then resigns/unlocks and exits 0.
   With CMD it prints nothing, runs CMD in its own process group (env ETCD_ELECT_KEY,
   ETCD_ELECT_REV = fencing token, ETCD_ELECT_LEASE; or ETCD_LOCK_KEY, ETCD_LOCK_REV),
   forwards signals to it, resigns when it exits and exits with its status (128+N if
   killed by signal N). Flags: see usage_text; anywhere before "--", "--f=v" or "--f v".

   Exit status: 0 done; 1 error, lost leadership/lock, or interrupted while waiting;
   2 bad usage; with CMD the child's status.

   Where it differs from etcdctl 3.4 (marked "etcdctl:" below): the child is stopped when
   leadership/the lock is lost, and dies with us even when we are killed with SIGKILL;
   its exit status is passed on; the lease is revoked on
   exit; an unreachable etcd is an error after the timeouts instead of a hang; a deleted
   own key or revoked lease is noticed at once, not at the next keepalive; SIGHUP
   releases. */
#define _POSIX_C_SOURCE 200809L
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define PROG "etcd-elect"

static const char usage_text[] =
    "usage: " PROG
    " [flags] elect NAME VALUE [-- CMD ARGS...]   campaign, print KEY and VALUE, hold\n"
    "       " PROG
    " [flags] elect -l NAME                       print KEY and VALUE of each leader\n"
    "       " PROG " [flags] lock NAME [-- CMD ARGS...]          take the lock, print KEY, hold\n"
    "Without CMD: hold until SIGINT/SIGTERM, then resign/unlock. With CMD: run it while leading\n"
    "(env ETCD_ELECT_KEY, ETCD_ELECT_REV, ETCD_ELECT_LEASE) or holding (ETCD_LOCK_KEY,\n"
    "ETCD_LOCK_REV) and exit with its status. If leadership or the lock is lost, CMD's process\n"
    "group gets SIGTERM before the lease can expire at etcd, then SIGKILL, and we exit 1.\n"
    "flags (anywhere before \"--\"):\n"
    "  --endpoints=H:P,...     etcd endpoints (default $ETCDCTL_ENDPOINTS, else 127.0.0.1:2379)\n"
    "  --ttl=SECONDS           session lease TTL (elect: 60, lock: 10)\n"
    "  --dial-timeout=DUR      TCP connect timeout per endpoint (default 2s)\n"
    "  --command-timeout=DUR   timeout of one request (default 5s)\n"
    "  --user=NAME[:PASS]      authenticate; --password=PASS if not given in --user\n"
    "  --max-request-bytes=N   etcd's --max-request-bytes, if raised there (default 1572864);\n"
    "                          values and keys up to it are written and read\n"
    "  -h, --help              this text\n"
    "DUR: 500ms, 2s, 1m, 1m30s, 1.5s; a bare number means seconds.\n";

enum { ELECT, OBSERVE, LOCK };

typedef struct cli {
    int mode;
    const char *name, *value;
    char **cmd; /* argv after "--", NULL without CMD */
    const char *endpoints, *user, *password;
    int ttl, dial_ms, cmd_ms;
    long max_request;
} cli;

/* ---- arguments ---------------------------------------------------------------------- */

static int bad(const char *msg, const char *arg) {
    fprintf(stderr, PROG ": %s%s\nRun '" PROG " --help' for usage.\n", msg, arg ? arg : "");
    return 2;
}

/* Reads a decimal number with an optional fraction; returns the end, or NULL. */
static const char *parse_number(const char *p, double *v) {
    double scale = 1;
    int digits = 0;
    for (*v = 0; *p >= '0' && *p <= '9'; p++, digits++) *v = *v * 10 + (*p - '0');
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) *v += (*p - '0') * (scale /= 10);
    return digits ? p : NULL;
}

/* etcdctl's (Go's) duration syntax: 500ms, 2s, 1m30s, 1.5s, 1h; a bare number is seconds. */
static int parse_duration(const char *s, int *out_ms) {
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    size_t i, n = sizeof units / sizeof units[0];
    double total = 0, v;
    const char *p = parse_number(s, &v);
    int ms;
    if (p && !*p) /* the whole string is a number: seconds */
        total = v * 1000;
    else
        for (p = s; *p;) { /* NUMBER UNIT, repeated */
            if (!(p = parse_number(p, &v))) return -1;
            for (i = 0; i < n && strncmp(p, units[i].unit, strlen(units[i].unit)) != 0; i++) {}
            if (i == n) return -1;
            total += v * units[i].ms;
            p += strlen(units[i].unit);
        }
    if (total <= 0 || total > INT_MAX) return -1;
    ms = (int)total;
    *out_ms = ms < total ? ms + 1 : ms; /* round up: 500us is 1 ms, not "no timeout" */
    return 0;
}

/* Returns 0 to run, 2 on bad usage (reported), 3 after printing the help. */
static int parse_args(int argc, char **argv, cli *o) {
    static const char *const flags[] = {"--endpoints",        "--ttl",  "--dial-timeout",
                                        "--command-timeout",  "--user", "--password",
                                        "--max-request-bytes"};
    const char *pos[3];
    int npos = 0, listen = 0, i;
    memset(o, 0, sizeof *o);
    o->dial_ms = 2000;
    o->cmd_ms = 5000;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *eq, *val;
        size_t n, k, nflags = sizeof flags / sizeof flags[0];
        if (!strcmp(a, "--")) { /* the rest is the child's argv, verbatim */
            if (i + 1 >= argc) return bad("missing command after \"--\"", NULL);
            o->cmd = argv + i + 1;
            break;
        }
        if (a[0] != '-' || !a[1]) {
            if (npos == 3) return bad("too many arguments: ", a);
            pos[npos++] = a;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 3;
        }
        if (!strcmp(a, "-l") || !strcmp(a, "--listen")) {
            listen = 1;
            continue;
        }
        eq = strchr(a, '=');
        n = eq ? (size_t)(eq - a) : strlen(a);
        for (k = 0; k < nflags && (strlen(flags[k]) != n || strncmp(a, flags[k], n)); k++) {}
        if (k == nflags) return bad("unknown flag: ", a);
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc && strcmp(argv[i + 1], "--"))
            val = argv[++i];
        else
            return bad("flag needs a value: ", a);
        if (k == 0)
            o->endpoints = val;
        else if (k == 1) {
            char *end;
            long t = strtol(val, &end, 10);
            if (!*val || *end || t < 1 || t > 1000000)
                return bad("--ttl wants whole seconds (1..1000000), not ", val);
            o->ttl = (int)t;
        } else if (k == 2 && parse_duration(val, &o->dial_ms))
            return bad("bad --dial-timeout duration: ", val);
        else if (k == 3 && parse_duration(val, &o->cmd_ms))
            return bad("bad --command-timeout duration: ", val);
        else if (k == 4)
            o->user = val;
        else if (k == 5)
            o->password = val;
        else if (k == 6) {
            char *end;
            long b = strtol(val, &end, 10);
            if (!*val || *end || b < 1024 || b > (1L << 28))
                return bad("--max-request-bytes wants a byte count (1024..268435456), not ", val);
            o->max_request = b;
        }
    }
    if (npos == 0) return bad("missing command: elect or lock", NULL);
    if (!strcmp(pos[0], "elect")) {
        o->mode = listen ? OBSERVE : ELECT;
        if (listen && npos != 2)
            return bad(npos > 2 ? "a proposal is given but -l is set" : "elect -l needs a NAME",
                       NULL);
        if (!listen && npos != 3) return bad("elect needs NAME and VALUE (or -l NAME)", NULL);
        if (listen && o->cmd) return bad("elect -l takes no command", NULL);
        o->value = listen ? NULL : pos[2];
    } else if (!strcmp(pos[0], "lock")) {
        o->mode = LOCK;
        if (npos != 2)
            return bad("lock takes one lock NAME and an optional \"-- CMD ARGS...\"", NULL);
        if (listen) return bad("-l is only for elect", NULL);
    } else {
        return bad("unknown command: ", pos[0]);
    }
    o->name = pos[1];
    if (!*o->name) return bad("empty NAME", NULL);
    if (!o->ttl) o->ttl = o->mode == LOCK ? 10 : 60; /* etcdctl's defaults */
    return 0;
}

/* ---- signals: the handler only cancels (async-signal-safe) and writes to a pipe ----- */

static int sig_pipe[2] = {-1, -1};
static etcde_client *volatile client;
static int waiting = 1; /* atomic: the handler may run on any thread, the library's too */

static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w;
    /* While waiting (session, campaign, lock, observe) SIGINT/SIGTERM/SIGHUP make the
       blocking call return ETCDE_ERR_CANCELLED; the library then deletes the waiting key.
       While holding, the main loop reads the pipe and releases. */
    if ((sig == SIGINT || sig == SIGTERM || sig == SIGHUP) &&
        __atomic_load_n(&waiting, __ATOMIC_ACQUIRE))
        etcde_client_cancel(client);
    w = write(sig_pipe[1], &b, 1);
    (void)w;
    errno = saved;
}

/* The signals forwarded to the child's process group. */
static const int fwd_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define NFWD ((int)(sizeof fwd_sigs / sizeof fwd_sigs[0]))

static int install_signals(int with_child) {
    struct sigaction sa;
    int i;
    if (pipe(sig_pipe) != 0) return -1;
    for (i = 0; i < 2; i++) {
        fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
        fcntl(sig_pipe[i], F_SETFL, fcntl(sig_pipe[i], F_GETFL) | O_NONBLOCK);
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigfillset(&sa.sa_mask);
    /* Without CMD, SIGQUIT/SIGUSR1/SIGUSR2 keep their default action. etcdctl: SIGHUP
       kills it, leaving its key until the lease expires; we release as for SIGINT. */
    for (i = 0; i < (with_child ? NFWD : 3); i++) sigaction(fwd_sigs[i], &sa, NULL);
    if (with_child) sigaction(SIGCHLD, &sa, NULL);
    return 0;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* ---- holding: a leader or lock holder, its optional child, and a key watcher ------- */

typedef struct holder {
    etcde_session *s;
    etcde_election *e; /* the candidate, or the lock */
    int lock;
    const char *what; /* "leadership" or "lock" */
    char *key;        /* own key, any length (the name is the user's) */
    int64_t rev;
    pid_t child;
    int guard_fd; /* write end of the guard's pipe, or -1 */
    int grace_ms, lost;
    /* the watcher thread observes the election: our key deleted (etcdctl del, lease
       revoke) is loss at once, not at the next keepalive */
    etcde_election *obs;
    pthread_t th;
    int watching, watch_pipe[2];
    char watch_why[700];
} holder;

static int held(const holder *h) { return etcde_is_leader(h->e); }

static int on_watch(etcde_event_type type, const etcde_kv *kv, int64_t rev, void *ud) {
    holder *h = (holder *)ud;
    ssize_t w;
    (void)rev;
    if (type == ETCDE_EVENT_LEADER && kv->create_rev == h->rev) return 0; /* still ours */
    if (type == ETCDE_EVENT_LEADER)
        snprintf(h->watch_why, sizeof h->watch_why,
                 "own key %s is gone (deleted or lease revoked); %.*s holds it now", h->key,
                 (int)(kv->key_len > 300 ? 300 : kv->key_len), kv->key); /* both cut to fit */
    else
        snprintf(h->watch_why, sizeof h->watch_why, "own key %s is gone (deleted or lease revoked)",
                 h->key);
    w = write(h->watch_pipe[1], "x", 1);
    (void)w;
    return 1;
}

static void *watch_main(void *p) {
    holder *h = (holder *)p;
    etcde_result r = etcde_observe(h->obs, on_watch, h, -1);
    if (r != ETCDE_OK && r != ETCDE_ERR_CANCELLED) /* keep holding: the session still guards us */
        fprintf(stderr, PROG ": warning: cannot watch own key: %s\n",
                etcde_election_errmsg(h->obs));
    return NULL;
}

static void start_watcher(holder *h, const char *name) {
    if (pipe(h->watch_pipe) != 0) return;
    fcntl(h->watch_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(h->watch_pipe[1], F_SETFD, FD_CLOEXEC);
    if (etcde_election_create(client, NULL, name, &h->obs) == ETCDE_OK &&
        pthread_create(&h->th, NULL, watch_main, h) == 0)
        h->watching = 1;
}

/* Cancels the client (only the watcher blocks on it now) and waits for the watcher. */
static void stop_watcher(holder *h) {
    if (h->watching) {
        etcde_client_cancel(client);
        pthread_join(h->th, NULL);
        h->watching = 0;
    }
}

/* Waits until the child's whole process group is gone or the grace period ends, then
   SIGKILLs the group; reaps the child. */
static void stop_child(holder *h) {
    int64_t end = now_ms() + h->grace_ms;
    int st, reaped = 0;
    while (now_ms() < end) {
        if (!reaped && waitpid(h->child, &st, WNOHANG) == h->child) reaped = 1;
        if (reaped && kill(-h->child, 0) != 0) break;
        sleep_ms(5);
    }
    kill(-h->child, SIGKILL);
    if (!reaped) waitpid(h->child, &st, 0);
    h->child = 0;
}

/* Leadership or the lock is lost: the child's group gets SIGTERM first of all.
   etcdctl: does not watch the session while its child runs; the child runs on. */
static int lose(holder *h, int by_watcher) {
    const char *why;
    if (h->child > 0) kill(-h->child, SIGTERM);
    stop_watcher(h); /* after the join, watch_why is ours to read */
    why = by_watcher ? h->watch_why : etcde_session_errmsg(h->s);
    fprintf(stderr, PROG ": %s lost: %s\n", h->what, *why ? why : "no longer held");
    if (h->child > 0) stop_child(h);
    h->lost = 1;
    return 1;
}

/* etcdctl: 3.4 exits 1 ("Error: exit status N") whatever the child's status. */
static int exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

/* Runs until the child exits, a terminating signal (no child), or loss. Returns the exit
   status; h->child is 0 afterwards. */
static int hold(holder *h) {
    for (;;) {
        struct pollfd p[3];
        int64_t left = etcde_session_remaining_ms(h->s);
        int st, np = 2;
        unsigned char sigs[64];
        ssize_t n, i;
        if (left <= 0 || !held(h)) return lose(h, 0);
        if (h->child > 0 && waitpid(h->child, &st, WNOHANG) == h->child) {
            h->child = 0;
            return exit_code(st);
        }
        p[0].fd = sig_pipe[0];
        p[1].fd = etcde_session_fd(h->s);
        p[2].fd = h->watch_pipe[0];
        if (h->watching) np = 3;
        for (i = 0; i < np; i++) {
            p[i].events = POLLIN;
            p[i].revents = 0;
        }
        /* wake at the local deadline at the latest (and once a second to re-check) */
        if (poll(p, (nfds_t)np, left > 1000 ? 1000 : (int)left) < 0 && errno != EINTR)
            return lose(h, 0);
        if (np == 3 && p[2].revents) return lose(h, 1);
        if (!(p[0].revents & POLLIN)) continue; /* a deadline or the session fd: checked above */
        n = read(sig_pipe[0], sigs, sizeof sigs);
        for (i = 0; i < n; i++) {
            if (sigs[i] == SIGCHLD) continue;
            if (h->child > 0)
                kill(-h->child, sigs[i]); /* forward to the child's group */
            else if (sigs[i] == SIGINT || sigs[i] == SIGTERM || sigs[i] == SIGHUP)
                return 0;
        }
    }
}

static void put_env(const char *k, const char *v) {
    if (setenv(k, v, 1) != 0) fprintf(stderr, PROG ": warning: cannot set %s\n", k);
}

/* fork + exec CMD in its own process group; returns 0 or -1 (reported). */
static int start_child(holder *h, char **cmd) {
    sigset_t all, old;
    pid_t pid, parent = getpid();
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* no handler runs in the child before exec */
    pid = fork();
    if (pid == 0) {
        struct sigaction dfl;
        int i;
        const char *why;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        setpgid(0, 0);
#ifdef __linux__
        /* if we die without a word (kill -9, the OOM killer), the kernel kills the child;
           start_guard covers the rest of its group */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1); /* we died already */
#else
        (void)parent;
#endif
        for (i = 0; i < NFWD; i++) sigaction(fwd_sigs[i], &dfl, NULL);
        sigaction(SIGCHLD, &dfl, NULL);
        sigaction(SIGPIPE, &dfl, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        execvp(cmd[0], cmd);
        why = errno == ENOENT   ? ": command not found\n"
              : errno == EACCES ? ": permission denied\n"
                                : ": cannot execute\n";
        if (write(2, PROG ": ", sizeof PROG + 1) > 0 && write(2, cmd[0], strlen(cmd[0])) > 0 &&
            write(2, why, strlen(why)) > 0) {}
        _exit(errno == ENOENT ? 127 : 126);
    }
    if (pid > 0) {
        setpgid(pid, pid); /* both sides set it: no race with kill(-pid) */
        h->child = pid;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* A guard process outlives a kill -9 of ours, which no code of ours survives: it holds the
   read end of a pipe whose write end only we hold. End of file without a byte first means
   we died without stopping the child, and the guard SIGKILLs the child's whole group at
   once -- long before the lease can expire at etcd and a successor start its own child.
   It ignores the signals meant for us (a terminal's SIGINT reaches our whole group). */
static void start_guard(holder *h) {
    int p[2], fd, maxfd = (int)sysconf(_SC_OPEN_MAX);
    sigset_t all, old;
    pid_t pid;
    if (maxfd < 0 || maxfd > 65536) maxfd = 65536;
    if (pipe(p) != 0) {
        fprintf(stderr, PROG ": warning: no guard for the child (pipe: %s)\n", strerror(errno));
        return;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid = fork();
    if (pid == 0) { /* only async-signal-safe calls from here on */
        struct sigaction ign;
        char b;
        ssize_t n;
        int i;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        for (i = 1; i <= SIGRTMAX; i++)
            if (i != SIGKILL && i != SIGSTOP) sigaction(i, &ign, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        for (fd = 0; fd < maxfd; fd++) /* no copy of our etcd connections, stdout or pipes */
            if (fd != p[0]) close(fd);
        while ((n = read(p[0], &b, 1)) < 0 && errno == EINTR) {}
        if (n == 0) kill(-h->child, SIGKILL);
        _exit(0);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(p[0]);
    if (pid < 0) {
        fprintf(stderr, PROG ": warning: no guard for the child (fork: %s)\n", strerror(errno));
        close(p[1]);
        return;
    }
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    h->guard_fd = p[1];
}

/* The child is reaped and its group stopped: the guard may go without killing anything. */
static void stop_guard(holder *h) {
    ssize_t w;
    if (h->guard_fd < 0) return;
    w = write(h->guard_fd, "x", 1);
    (void)w;
    close(h->guard_fd);
    h->guard_fd = -1;
}

/* ---- the three commands -------------------------------------------------------------- */

static int on_observe(etcde_event_type type, const etcde_kv *kv, int64_t rev, void *ud) {
    (void)rev;
    (void)ud;
    if (type == ETCDE_EVENT_LEADER) { /* NO_LEADER prints nothing, like etcdctl */
        fwrite(kv->key, 1, kv->key_len, stdout);
        putchar('\n');
        fwrite(kv->value, 1, kv->value_len, stdout);
        putchar('\n');
        fflush(stdout);
    }
    return 0;
}

static int run_observe(const cli *o) {
    etcde_election *e;
    etcde_kv kv;
    etcde_result r;
    int rc = 0;
    if ((r = etcde_election_create(client, NULL, o->name, &e)) != ETCDE_OK) {
        fprintf(stderr, PROG ": %s\n", etcde_client_errmsg(client));
        return 1;
    }
    /* One bounded read first, so an unreachable etcd is an error, not a silent wait.
       etcdctl: creates an (unused) 60 s session instead. */
    r = etcde_leader(e, &kv);
    if (r == ETCDE_OK || r == ETCDE_ERR_NO_LEADER) r = etcde_observe(e, on_observe, NULL, -1);
    if (r != ETCDE_OK && r != ETCDE_ERR_CANCELLED) { /* SIGINT: exit 0, like etcdctl */
        fprintf(stderr, PROG ": observe %s: %s\n", o->name, etcde_election_errmsg(e));
        rc = 1;
    }
    etcde_election_destroy(e);
    return rc;
}

static int run_hold(const cli *o) {
    etcde_session_options so;
    holder h;
    etcde_result r;
    int rc, i;
    unsigned char sigs[64];
    ssize_t n;
    memset(&h, 0, sizeof h);
    h.watch_pipe[0] = h.watch_pipe[1] = -1;
    h.guard_fd = -1;
    h.what = o->mode == LOCK ? "lock" : "leadership";
    /* The session counts as lost `guard` ms before etcd can expire the lease; at that
       moment the child gets SIGTERM, and SIGKILL `grace` ms later. grace < guard, so
       even a child that ignores SIGTERM is dead before the lease can expire at etcd, i.e.
       before a successor can be elected. guard = TTL/4 up to 2.5 s: 2 s of grace and
       0.5 s of slack for long TTLs, 750/600 ms for TTL 3. The price: an etcd outage is
       survived for TTL - guard instead of TTL - TTL/10. */
    memset(&so, 0, sizeof so);
    so.ttl_s = o->ttl;
    so.guard_ms = o->ttl >= 10 ? 2500 : o->ttl * 250;
    h.grace_ms = so.guard_ms - (so.guard_ms / 5 > 100 ? so.guard_ms / 5 : 100);
    /* bounded by --dial-timeout/--command-timeout. etcdctl: retries an unreachable etcd
       for ever. */
    if ((r = etcde_session_create(client, &so, &h.s)) != ETCDE_OK) {
        if (r == ETCDE_ERR_CANCELLED)
            fprintf(stderr, PROG ": interrupted\n");
        else
            fprintf(stderr, PROG ": cannot create a session: %s\n", etcde_client_errmsg(client));
        return 1;
    }
    h.lock = o->mode == LOCK;
    r = etcde_election_create(client, h.s, o->name, &h.e);
    if (r != ETCDE_OK) {
        fprintf(stderr, PROG ": %s\n", etcde_client_errmsg(client));
        etcde_session_destroy(h.s);
        return 1;
    }
    if (h.lock)
        r = etcde_lock(h.e, -1); /* unbounded, as etcdctl */
    else
        r = etcde_campaign(h.e, o->value, strlen(o->value), -1);
    if (r != ETCDE_OK) {
        /* SIGINT/SIGTERM while waiting: the library deleted our waiting key. etcdctl 3.4
           exits 1 here ("Error: context canceled"), for both signals and both commands;
           so do we. */
        if (r == ETCDE_ERR_CANCELLED)
            fprintf(
                stderr,
                PROG
                ": interrupted while waiting for the %s of %s; gave up the place in the queue\n",
                h.what, o->name);
        else
            fprintf(stderr, PROG ": %s %s: %s\n", h.lock ? "lock" : "campaign", o->name,
                    etcde_election_errmsg(h.e));
        rc = 1;
        goto out;
    }
    __atomic_store_n(&waiting, 0, __ATOMIC_RELEASE);
    h.key = strdup(etcde_election_key(h.e));
    if (!h.key) {
        fprintf(stderr, PROG ": out of memory\n");
        rc = 1;
        goto release;
    }
    /* The key's create revision: the fencing token. etcdctl: ETCD_LOCK_REV is the
       revision of the lock response header, which differs from it when contended. */
    h.rev = etcde_election_rev(h.e);
    if (!o->cmd) { /* etcdctl prints key and value (empty for a lock); with a CMD, nothing */
        printf("%s\n%s\n", h.key, h.lock ? "" : o->value);
        fflush(stdout);
    } else {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)h.rev);
        put_env(h.lock ? "ETCD_LOCK_KEY" : "ETCD_ELECT_KEY", h.key);
        put_env(h.lock ? "ETCD_LOCK_REV" : "ETCD_ELECT_REV", num);
        if (!h.lock) {
            snprintf(num, sizeof num, "%llx", (unsigned long long)etcde_session_lease(h.s));
            put_env("ETCD_ELECT_LEASE", num);
        }
        /* A terminating signal that came after we won but before the child runs: stop. */
        n = read(sig_pipe[0], sigs, sizeof sigs);
        for (i = 0; i < n; i++)
            if (sigs[i] == SIGINT || sigs[i] == SIGTERM || sigs[i] == SIGHUP) {
                fprintf(stderr, PROG ": interrupted before the command started\n");
                rc = 1;
                goto release;
            }
        if (start_child(&h, o->cmd) != 0) {
            rc = 1;
            goto release;
        }
        start_guard(&h);
    }
    start_watcher(&h, o->name);
    rc = hold(&h);
release:
    /* The key watcher goes quiet first (it would read the election again as the key goes),
       then the release: revoking the lease deletes the key (resign or unlock) and ends the
       session in one request, not cancellable. etcdctl: resigns and leaves its lease to
       expire. */
    if (h.watching) etcde_client_cancel(client);
    if (!h.lost && etcde_session_close(h.s) != ETCDE_OK) {
        fprintf(stderr, PROG ": %s: %s\n", h.lock ? "unlock" : "resign", etcde_session_errmsg(h.s));
        if (!o->cmd) rc = 1; /* with CMD, its status wins */
    }
    stop_watcher(&h);
out:
    if (h.child == 0) stop_guard(&h); /* else it is still needed: it kills the group as we go */
    free(h.key);
    etcde_election_destroy(h.obs);
    etcde_election_destroy(h.e);
    /* Revoked above, or lost: no revoke through a partition, which would only wait out
       --command-timeout. */
    if (etcde_session_remaining_ms(h.s) > 0)
        etcde_session_destroy(h.s);
    else
        etcde_session_orphan(h.s);
    if (h.watch_pipe[0] >= 0) {
        close(h.watch_pipe[0]);
        close(h.watch_pipe[1]);
    }
    return rc;
}

int main(int argc, char **argv) {
    etcde_options opts;
    etcde_client *c;
    etcde_result r;
    cli o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 3 ? 0 : rc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&opts, 0, sizeof opts);
    opts.endpoints = o.endpoints; /* NULL: $ETCDCTL_ENDPOINTS, else 127.0.0.1:2379 */
    opts.dial_timeout_ms = o.dial_ms;
    opts.request_timeout_ms = o.cmd_ms;
    opts.user = o.user;
    opts.password = o.password;
    opts.max_request_bytes = (size_t)o.max_request;
    if ((r = etcde_client_create(&opts, &c)) != ETCDE_OK) {
        if (r == ETCDE_ERR_INVALID_ARGS) return bad(etcde_client_errmsg(NULL), NULL);
        fprintf(stderr, PROG ": %s\n", etcde_client_errmsg(NULL));
        return 1;
    }
    client = c;
    if (install_signals(o.cmd != NULL) != 0) {
        fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
        etcde_client_destroy(c);
        return 1;
    }
    rc = o.mode == OBSERVE ? run_observe(&o) : run_hold(&o);
    client = NULL;
    etcde_client_destroy(c);
    return rc;
}
