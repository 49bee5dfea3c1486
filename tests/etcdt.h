/*
 * etcdt.h - header-only test support for the etcd_elect tests.
 *
 * C99 + POSIX, Linux only.  Every function is static, so the header can be
 * included by any number of test programs (one translation unit each).
 * Include this header FIRST (it defines _GNU_SOURCE if nobody did), or
 * compile with -D_GNU_SOURCE.
 *
 * Contents
 *   - a tiny test framework: ETCDT_TEST, CHECK, CHECKF, REQUIRE, REQUIREF,
 *     etcdt_skip, ETCDT_CASE, etcdt_run
 *   - time helpers: etcdt_now_ms, etcdt_sleep_ms
 *   - etcdt_free_port
 *   - a raw-socket HTTP/1.0 client: etcdt_http_post
 *   - a private etcd cluster launcher: etcdt_cluster_*, etcdt_member_*
 *   - an etcdctl runner: etcdt_etcdctl, etcdt_etcdctlv
 *   - a child process helper: etcdt_spawn, etcdt_spawn_piped, etcdt_proc_*
 *   - etcdt_self_path
 *
 * Safety net: every live cluster member and every spawned process is
 * recorded in a static list.  They are SIGKILLed (and temp dirs removed) by
 * an atexit handler, and SIGKILLed by a handler for SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT, SIGALRM, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL (only
 * installed for signals whose disposition was SIG_DFL; the handler then
 * re-raises the signal with the default action).  Children started from the
 * main thread also get PR_SET_PDEATHSIG=SIGKILL, which covers the test being
 * SIGKILLed.  (Children started from other threads do not, because the
 * kernel fires PDEATHSIG when the forking *thread* exits.)
 * The safety net acts only in the process that created the children, so a
 * plain fork() + exit() in a test does not kill the parent's cluster.
 */
#ifndef ETCDT_H
#define ETCDT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__GNUC__) || defined(__clang__)
#define ETCDT_FN static __attribute__((unused))
#define ETCDT_VAR static __attribute__((unused))
#define ETCDT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ETCDT_FN static
#define ETCDT_VAR static
#define ETCDT_PRINTF(a, b)
#endif

extern char **environ;

/* ======================================================================
 * Test framework
 * ==================================================================== */

struct etcdt_case {
    const char *name;
    void (*fn)(void);
};

#define ETCDT_TEST(name) static void name(void)
#define ETCDT_CASE(name) { #name, name }

ETCDT_VAR const char *etcdt__suite = "";
ETCDT_VAR const char *etcdt__case = "";
ETCDT_VAR volatile int etcdt__case_failed;
ETCDT_VAR volatile int etcdt__case_skipped;
ETCDT_VAR char etcdt__skip_reason[256];

ETCDT_FN ETCDT_PRINTF(3, 4) void etcdt__fail(const char *file, int line,
                                             const char *fmt, ...)
{
    va_list ap;
    char msg[1024];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    etcdt__case_failed = 1;
    fflush(stdout);
    fprintf(stderr, "%s:%d: [%s.%s] %s\n", file, line, etcdt__suite,
            etcdt__case, msg);
    fflush(stderr);
}

/* CHECK(cond): record a failure, keep going. */
#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond))                                                        \
            etcdt__fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);     \
    } while (0)

/* CHECKF(cond, fmt, ...): like CHECK with a printf-style message. */
#define CHECKF(cond, ...)                                                   \
    do {                                                                    \
        if (!(cond))                                                        \
            etcdt__fail(__FILE__, __LINE__, __VA_ARGS__);                   \
    } while (0)

/* REQUIRE(cond): record a failure and return from the test function. */
#define REQUIRE(cond)                                                       \
    do {                                                                    \
        if (!(cond)) {                                                      \
            etcdt__fail(__FILE__, __LINE__, "REQUIRE(%s) failed", #cond);   \
            return;                                                         \
        }                                                                   \
    } while (0)

/* REQUIREF(cond, fmt, ...) */
#define REQUIREF(cond, ...)                                                 \
    do {                                                                    \
        if (!(cond)) {                                                      \
            etcdt__fail(__FILE__, __LINE__, __VA_ARGS__);                   \
            return;                                                         \
        }                                                                   \
    } while (0)

/* Mark the current test as skipped.  The test should return afterwards.
 * A test that also recorded a failure counts as failed. */
ETCDT_FN void etcdt_skip(const char *reason)
{
    etcdt__case_skipped = 1;
    snprintf(etcdt__skip_reason, sizeof etcdt__skip_reason, "%s",
             reason ? reason : "");
}

/* 1 if the current test has recorded a failure so far. */
ETCDT_FN int etcdt_failed(void) { return etcdt__case_failed; }

/* ======================================================================
 * Time
 * ==================================================================== */

ETCDT_FN int64_t etcdt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ETCDT_FN void etcdt_sleep_ms(int ms)
{
    struct timespec ts;
    if (ms <= 0)
        return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Remaining ms until deadline (never negative). */
ETCDT_FN int etcdt__left(int64_t deadline)
{
    int64_t d = deadline - etcdt_now_ms();
    if (d < 0)
        return 0;
    if (d > INT_MAX)
        return INT_MAX;
    return (int)d;
}

/* ======================================================================
 * Runner
 * ==================================================================== */

ETCDT_FN int etcdt_run(const char *suite, struct etcdt_case *cases, int n,
                       int argc, char **argv)
{
    const char *filter = (argc > 1 && argv[1] && argv[1][0]) ? argv[1] : NULL;
    int passed = 0, failed = 0, skipped = 0, matched = 0, i;

    etcdt__suite = suite;
    for (i = 0; i < n; i++) {
        int64_t t0;
        if (filter && !strstr(cases[i].name, filter))
            continue;
        matched++;
        etcdt__case = cases[i].name;
        etcdt__case_failed = 0;
        etcdt__case_skipped = 0;
        etcdt__skip_reason[0] = 0;
        t0 = etcdt_now_ms();
        cases[i].fn();
        fflush(stderr);
        if (etcdt__case_failed) {
            failed++;
            printf("FAIL %s.%s\n", suite, cases[i].name);
        } else if (etcdt__case_skipped) {
            skipped++;
            printf("skip %s.%s: %s\n", suite, cases[i].name,
                   etcdt__skip_reason);
        } else {
            passed++;
            printf("ok   %s.%s (%lld ms)\n", suite, cases[i].name,
                   (long long)(etcdt_now_ms() - t0));
        }
        fflush(stdout);
    }
    etcdt__case = "";
    if (filter && matched == 0)
        fprintf(stderr, "etcdt: no test in suite %s matches \"%s\"\n", suite,
                filter);
    if (skipped > 0)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}

/* ======================================================================
 * Small internal helpers
 * ==================================================================== */

ETCDT_FN void *etcdt__xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "etcdt: out of memory\n");
        abort();
    }
    return p;
}

ETCDT_FN char *etcdt__xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = (char *)etcdt__xmalloc(n);
    memcpy(p, s, n);
    return p;
}

/* Find an executable on PATH (or take name as is if it contains '/').
 * Returns 0 and fills out, or -1. */
ETCDT_FN int etcdt__which(const char *name, char *out, size_t cap)
{
    const char *path, *p;
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0)
            return -1;
        snprintf(out, cap, "%s", name);
        return 0;
    }
    path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    p = path;
    for (;;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        struct stat st;
        if (len == 0)
            snprintf(out, cap, "./%s", name);
        else
            snprintf(out, cap, "%.*s/%s", (int)len, p, name);
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
            access(out, X_OK) == 0)
            return 0;
        if (!e)
            break;
        p = e + 1;
    }
    return -1;
}

/* Build an environment: environ minus entries whose name starts with one of
 * the drop prefixes (NULL-terminated list, may be NULL) and minus entries
 * overridden by extra, plus extra.  Free the array (not the strings) with
 * free(). */
ETCDT_FN char **etcdt__mkenv(const char *const *drop_prefixes,
                             char *const *extra)
{
    size_t ne = 0, nx = 0, k = 0, i, j;
    char **env;
    while (environ && environ[ne])
        ne++;
    while (extra && extra[nx])
        nx++;
    env = (char **)etcdt__xmalloc((ne + nx + 1) * sizeof *env);
    for (i = 0; i < ne; i++) {
        const char *e = environ[i];
        const char *eq = strchr(e, '=');
        size_t klen = eq ? (size_t)(eq - e) : strlen(e);
        int keep = 1;
        for (j = 0; keep && drop_prefixes && drop_prefixes[j]; j++) {
            size_t pl = strlen(drop_prefixes[j]);
            if (strncmp(e, drop_prefixes[j], pl) == 0)
                keep = 0;
        }
        for (j = 0; keep && j < nx; j++) {
            const char *xe = strchr(extra[j], '=');
            size_t xl = xe ? (size_t)(xe - extra[j]) : strlen(extra[j]);
            if (xl == klen && strncmp(e, extra[j], klen) == 0)
                keep = 0;
        }
        if (keep)
            env[k++] = (char *)e;
    }
    for (j = 0; j < nx; j++)
        env[k++] = extra[j];
    env[k] = NULL;
    return env;
}

ETCDT_FN int etcdt__is_main_thread(void)
{
    return (pid_t)syscall(SYS_gettid) == getpid();
}

/* Child side, after fork: own process group, optional parent death
 * signal.  Only async-signal-safe calls. */
/* Highest fd worth closing in a child (computed before fork). */
ETCDT_FN int etcdt__max_fd(void)
{
    long m = sysconf(_SC_OPEN_MAX);
    if (m < 256)
        m = 256;
    if (m > 65536)
        m = 65536;
    return (int)m;
}

/* Close every fd >= 3 (the child's 0/1/2 are already in place), so that
 * children do not keep the test's or its caller's pipes open. */
ETCDT_FN void etcdt__close_from3(int maxfd)
{
    int fd;
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
        return;
#endif
    for (fd = 3; fd < maxfd; fd++)
        close(fd);
}

ETCDT_FN void etcdt__child_setup(int pdeath, pid_t parent)
{
    /* Caught signals are reset by exec anyway; also undo SIG_IGN for the
     * ones tests send or rely on, and unblock everything. */
    static const int sigs[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
                               SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2};
    sigset_t none;
    size_t s;
    setpgid(0, 0);
    if (pdeath) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
    }
    for (s = 0; s < sizeof sigs / sizeof sigs[0]; s++)
        signal(sigs[s], SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

ETCDT_FN int etcdt__exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* Recursive remove (like rm -rf), no system(). */
ETCDT_FN void etcdt__rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                size_t len;
                char *sub;
                if (strcmp(de->d_name, ".") == 0 ||
                    strcmp(de->d_name, "..") == 0)
                    continue;
                len = strlen(path) + strlen(de->d_name) + 2;
                sub = (char *)etcdt__xmalloc(len);
                snprintf(sub, len, "%s/%s", path, de->d_name);
                etcdt__rm_rf(sub);
                free(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* ======================================================================
 * Safety net (live lists)
 * ==================================================================== */

#define ETCDT_MAX_MEMBERS 9

typedef struct etcdt__member {
    volatile pid_t pid; /* 0 when not running */
    int client_port;
    int peer_port;
    char name[16];
    char endpoint[32]; /* 127.0.0.1:P */
    char data_dir[160];
    char log_path[160];
} etcdt__member;

typedef struct etcdt_cluster {
    int n;
    char dir[256]; /* $ETCDT_DATA_DIR or /tmp, then /etcdt.XXXXXX */
    char token[64];
    char *initial_cluster;
    char *endpoints;
    char *extra_buf; /* strdup of extra_args, tokenised in place */
    char **extra;    /* NULL-terminated */
    etcdt__member m[ETCDT_MAX_MEMBERS];
    struct etcdt_cluster *volatile next;
} etcdt_cluster;

#define ETCDT_PROC_OUTMAX (8u << 20)
#define ETCDT_PROC_ERRMAX (8u << 20)

typedef struct etcdt_proc {
    volatile pid_t pid; /* also the process group id */
    volatile int reaped;
    int status; /* exit code in etcdt_proc_wait convention, once reaped */
    int out_fd; /* -1 after EOF */
    int err_fd; /* -1 after EOF */
    int in_fd;  /* write end of the child's stdin; -1 unless piped or once closed */
    char *out;
    size_t out_len, out_cap;
    char *err;
    size_t err_len, err_cap;
    struct etcdt_proc *volatile next;
} etcdt_proc;

ETCDT_VAR pthread_mutex_t etcdt__mu = PTHREAD_MUTEX_INITIALIZER;
ETCDT_VAR etcdt_cluster *volatile etcdt__clusters;
ETCDT_VAR etcdt_proc *volatile etcdt__procs;
ETCDT_VAR volatile pid_t etcdt__owner_pid;
ETCDT_VAR int etcdt__net_installed;

/* Async-signal-safe: only kill(). */
ETCDT_FN void etcdt__kill_all(void)
{
    etcdt_cluster *c;
    etcdt_proc *p;
    int i;
    for (c = etcdt__clusters; c; c = c->next)
        for (i = 0; i < c->n; i++)
            if (c->m[i].pid > 0)
                kill(c->m[i].pid, SIGKILL);
    for (p = etcdt__procs; p; p = p->next)
        if (p->pid > 0 && !p->reaped)
            kill(-p->pid, SIGKILL);
}

ETCDT_FN void etcdt__on_signal(int sig)
{
    if (getpid() == etcdt__owner_pid)
        etcdt__kill_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

ETCDT_FN void etcdt__atexit(void)
{
    etcdt_cluster *c;
    etcdt_proc *p;
    int i;
    if (getpid() != etcdt__owner_pid)
        return;
    etcdt__kill_all();
    for (c = etcdt__clusters; c; c = c->next) {
        for (i = 0; i < c->n; i++)
            if (c->m[i].pid > 0) {
                waitpid(c->m[i].pid, NULL, 0);
                c->m[i].pid = 0;
            }
        if (c->dir[0])
            etcdt__rm_rf(c->dir);
    }
    for (p = etcdt__procs; p; p = p->next)
        if (p->pid > 0 && !p->reaped) {
            waitpid(p->pid, NULL, 0);
            p->reaped = 1;
        }
}

/* Call with etcdt__mu held. */
ETCDT_FN void etcdt__install_net(void)
{
    static const int sigs[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGALRM,
                               SIGABRT, SIGSEGV, SIGBUS,  SIGFPE,  SIGILL};
    size_t i;
    if (etcdt__net_installed && etcdt__owner_pid == getpid())
        return;
    if (etcdt__net_installed) {
        /* a fork()ed child (no exec) of the owner: the inherited entries
         * belong to the parent; never kill or clean those up from here */
        etcdt__clusters = NULL;
        etcdt__procs = NULL;
    }
    etcdt__owner_pid = getpid();
    if (!etcdt__net_installed)
        atexit(etcdt__atexit);
    etcdt__net_installed = 1;
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) != 0)
            continue;
        if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO))
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = etcdt__on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        sigaction(sigs[i], &sa, NULL);
    }
}

ETCDT_FN void etcdt__register_cluster(etcdt_cluster *c)
{
    pthread_mutex_lock(&etcdt__mu);
    etcdt__install_net();
    c->next = etcdt__clusters;
    etcdt__clusters = c;
    pthread_mutex_unlock(&etcdt__mu);
}

ETCDT_FN void etcdt__unregister_cluster(etcdt_cluster *c)
{
    etcdt_cluster *volatile *pp;
    pthread_mutex_lock(&etcdt__mu);
    for (pp = &etcdt__clusters; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&etcdt__mu);
}

ETCDT_FN void etcdt__register_proc(etcdt_proc *p)
{
    pthread_mutex_lock(&etcdt__mu);
    etcdt__install_net();
    p->next = etcdt__procs;
    etcdt__procs = p;
    pthread_mutex_unlock(&etcdt__mu);
}

ETCDT_FN void etcdt__unregister_proc(etcdt_proc *p)
{
    etcdt_proc *volatile *pp;
    pthread_mutex_lock(&etcdt__mu);
    for (pp = &etcdt__procs; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    pthread_mutex_unlock(&etcdt__mu);
}

/* ======================================================================
 * Ports
 * ==================================================================== */

/* Bind 127.0.0.1:0; returns the bound fd (kept open) and stores the port. */
ETCDT_FN int etcdt__bind_any(int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A currently free port on 127.0.0.1 (racy by nature), or -1. */
ETCDT_FN int etcdt_free_port(void)
{
    int port = -1;
    int fd = etcdt__bind_any(&port);
    if (fd < 0)
        return -1;
    close(fd);
    return port;
}

/* ======================================================================
 * Raw HTTP/1.0 client (loopback only, test use)
 * ==================================================================== */

/* POST body to http://127.0.0.1:port<path> (Content-Type: application/json).
 * Returns the HTTP status code, or -1 on connect/IO/timeout/parse error.
 * If resp is not NULL the response body (NUL-terminated, truncated to
 * respcap) is stored there. */
ETCDT_FN int etcdt_http_post(int port, const char *path, const char *body,
                             char *resp, size_t respcap, int timeout_ms)
{
    int64_t deadline = etcdt_now_ms() + timeout_ms;
    struct sockaddr_in sa;
    struct pollfd pfd;
    char req[1024];
    char buf[16384];
    size_t have = 0, sent = 0;
    int reqlen, fd, status = -1, major, minor;
    size_t blen = strlen(body);
    char *hdr_end;

    if (resp && respcap)
        resp[0] = 0;
    reqlen = snprintf(req, sizeof req,
                      "POST %s HTTP/1.0\r\n"
                      "Host: 127.0.0.1:%d\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: %lu\r\n"
                      "Connection: close\r\n"
                      "\r\n",
                      path, port, (unsigned long)blen);
    if (reqlen < 0 || (size_t)reqlen >= sizeof req)
        return -1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int err = 0;
        socklen_t el = sizeof err;
        if (errno != EINPROGRESS)
            goto out;
        pfd.fd = fd;
        pfd.events = POLLOUT;
        if (poll(&pfd, 1, etcdt__left(deadline)) != 1)
            goto out;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err)
            goto out;
    }
    /* send headers then body */
    while (sent < (size_t)reqlen + blen) {
        const char *src;
        size_t left;
        ssize_t w;
        if (sent < (size_t)reqlen) {
            src = req + sent;
            left = (size_t)reqlen - sent;
        } else {
            src = body + (sent - (size_t)reqlen);
            left = (size_t)reqlen + blen - sent;
        }
        w = send(fd, src, left, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            goto out;
        pfd.fd = fd;
        pfd.events = POLLOUT;
        if (poll(&pfd, 1, etcdt__left(deadline)) != 1)
            goto out;
    }
    /* read until EOF */
    for (;;) {
        ssize_t r;
        if (have + 1 >= sizeof buf)
            break; /* enough; the rest is truncated */
        r = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (r > 0) {
            have += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            goto out;
        pfd.fd = fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, etcdt__left(deadline)) != 1)
            goto out;
    }
    buf[have] = 0;
    if (sscanf(buf, "HTTP/%d.%d %d", &major, &minor, &status) != 3) {
        status = -1;
        goto out;
    }
    hdr_end = strstr(buf, "\r\n\r\n");
    if (resp && respcap) {
        const char *b = hdr_end ? hdr_end + 4 : "";
        snprintf(resp, respcap, "%s", b);
    }
out:
    close(fd);
    return status;
}

/* ======================================================================
 * etcd cluster
 * ==================================================================== */

ETCDT_VAR int etcdt__token_counter;

ETCDT_FN const char *etcdt_endpoints(etcdt_cluster *cl) { return cl->endpoints; }

ETCDT_FN const char *etcdt_member_endpoint(etcdt_cluster *cl, int i)
{
    if (i < 0 || i >= cl->n)
        return NULL;
    return cl->m[i].endpoint;
}

ETCDT_FN int etcdt_member_count(etcdt_cluster *cl) { return cl->n; }

ETCDT_FN int etcdt_member_client_port(etcdt_cluster *cl, int i)
{
    return (i < 0 || i >= cl->n) ? -1 : cl->m[i].client_port;
}


/* Directory holding data dirs and logs (<dir>/m<i>.log). */
ETCDT_FN const char *etcdt_cluster_dir(etcdt_cluster *cl) { return cl->dir; }

/* Print the last ~maxbytes of member i's log to stderr. */
ETCDT_FN void etcdt_member_log_tail(etcdt_cluster *cl, int i, size_t maxbytes)
{
    char buf[8192];
    struct stat st;
    off_t start = 0;
    ssize_t r;
    int fd;
    if (i < 0 || i >= cl->n)
        return;
    if (maxbytes > sizeof buf - 1)
        maxbytes = sizeof buf - 1;
    fd = open(cl->m[i].log_path, O_RDONLY | O_CLOEXEC);
    fflush(stdout);
    fprintf(stderr, "---- etcdt: tail of %s ----\n", cl->m[i].log_path);
    if (fd < 0) {
        fprintf(stderr, "(cannot open: %s)\n", strerror(errno));
        return;
    }
    if (fstat(fd, &st) == 0 && st.st_size > (off_t)maxbytes)
        start = st.st_size - (off_t)maxbytes;
    if (lseek(fd, start, SEEK_SET) == start) {
        while ((r = read(fd, buf, sizeof buf - 1)) > 0) {
            buf[r] = 0;
            fputs(buf, stderr);
        }
    }
    close(fd);
    fprintf(stderr, "---- end of %s ----\n", cl->m[i].name);
    fflush(stderr);
}

/* Launch member i (not waiting for readiness). state: "new"/"existing".
 * Returns 0 or -1. */
ETCDT_FN int etcdt__member_launch(etcdt_cluster *cl, int i, const char *state)
{
    static const char *const drop[] = {"ETCD_DATA_DIR", "ETCD_NAME",
                                       "ETCD_LISTEN_", "ETCD_ADVERTISE_",
                                       "ETCD_INITIAL_", NULL};
    etcdt__member *m = &cl->m[i];
    char exe[PATH_MAX];
    char a_client[64], a_peer[64], a_adv_client[64], a_adv_peer[64];
    const char *argv[64];
    char **env;
    int k = 0, j, logfd, pdeath, maxfd = etcdt__max_fd();
    pid_t pid, parent = getpid();

    if (etcdt__which("etcd", exe, sizeof exe) != 0) {
        fprintf(stderr, "etcdt: etcd not found on PATH\n");
        return -1;
    }
    snprintf(a_client, sizeof a_client, "http://127.0.0.1:%d", m->client_port);
    snprintf(a_adv_client, sizeof a_adv_client, "http://127.0.0.1:%d",
             m->client_port);
    snprintf(a_peer, sizeof a_peer, "http://127.0.0.1:%d", m->peer_port);
    snprintf(a_adv_peer, sizeof a_adv_peer, "http://127.0.0.1:%d",
             m->peer_port);
    argv[k++] = "etcd";
    argv[k++] = "--name";
    argv[k++] = m->name;
    argv[k++] = "--data-dir";
    argv[k++] = m->data_dir;
    argv[k++] = "--listen-client-urls";
    argv[k++] = a_client;
    argv[k++] = "--advertise-client-urls";
    argv[k++] = a_adv_client;
    argv[k++] = "--listen-peer-urls";
    argv[k++] = a_peer;
    argv[k++] = "--initial-advertise-peer-urls";
    argv[k++] = a_adv_peer;
    argv[k++] = "--initial-cluster";
    argv[k++] = cl->initial_cluster;
    argv[k++] = "--initial-cluster-state";
    argv[k++] = state;
    argv[k++] = "--initial-cluster-token";
    argv[k++] = cl->token;
    for (j = 0; cl->extra && cl->extra[j] && k < 63; j++)
        argv[k++] = cl->extra[j];
    argv[k] = NULL;

    logfd = open(m->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        fprintf(stderr, "etcdt: open %s: %s\n", m->log_path, strerror(errno));
        return -1;
    }
    env = etcdt__mkenv(drop, NULL);
    pdeath = etcdt__is_main_thread();
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "etcdt: fork: %s\n", strerror(errno));
        close(logfd);
        free(env);
        return -1;
    }
    if (pid == 0) {
        int nullfd;
        etcdt__child_setup(pdeath, parent);
        nullfd = open("/dev/null", O_RDONLY);
        if (nullfd >= 0 && nullfd != 0) {
            dup2(nullfd, 0);
            close(nullfd);
        }
        dup2(logfd, 1);
        dup2(logfd, 2);
        etcdt__close_from3(maxfd);
        execve(exe, (char *const *)argv, env);
        _exit(127);
    }
    setpgid(pid, pid); /* also done in the child; avoids the race */
    close(logfd);
    free(env);
    m->pid = pid;
    return 0;
}

/* Is member i's process still alive?  Reaps it (pid=0) if it exited. */
ETCDT_FN int etcdt__member_alive(etcdt_cluster *cl, int i)
{
    pid_t pid = cl->m[i].pid;
    int st;
    if (pid <= 0)
        return 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
        cl->m[i].pid = 0;
        return 0;
    }
    return 1;
}

/* pid of the member, 0 if not running (reaps it if it exited). */
ETCDT_FN pid_t etcdt_member_pid(etcdt_cluster *cl, int i)
{
    if (i < 0 || i >= cl->n || !etcdt__member_alive(cl, i))
        return 0;
    return cl->m[i].pid;
}

/* 1 if member i answers a linearizable range request with 200. */
ETCDT_FN int etcdt_member_ready(etcdt_cluster *cl, int i, int timeout_ms)
{
    if (i < 0 || i >= cl->n)
        return 0;
    return etcdt_http_post(cl->m[i].client_port, "/v3/kv/range",
                           "{\"key\":\"AA==\"}", NULL, 0, timeout_ms) == 200;
}

/* Wait until member i answers.  Returns 0, -1 on timeout, -2 if the
 * process exited. */
ETCDT_FN int etcdt_member_wait_ready(etcdt_cluster *cl, int i, int timeout_ms)
{
    int64_t deadline = etcdt_now_ms() + timeout_ms;
    for (;;) {
        int left;
        if (!etcdt__member_alive(cl, i))
            return -2;
        left = etcdt__left(deadline);
        if (etcdt_member_ready(cl, i, left < 1000 ? left : 1000))
            return 0;
        if (etcdt_now_ms() >= deadline)
            return -1;
        etcdt_sleep_ms(50);
    }
}

ETCDT_FN void etcdt__cluster_free(etcdt_cluster *cl)
{
    int i;
    for (i = 0; i < cl->n; i++) {
        pid_t pid = cl->m[i].pid;
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            cl->m[i].pid = 0;
        }
    }
    if (cl->dir[0])
        etcdt__rm_rf(cl->dir);
    free(cl->initial_cluster);
    free(cl->endpoints);
    free(cl->extra_buf);
    free(cl->extra);
    free(cl);
}

/* One attempt.  *early_exit is set if a member died during startup (e.g.
 * lost a port race), which is worth a retry. */
ETCDT_FN etcdt_cluster *etcdt__cluster_try(int members, const char *extra_args,
                                           int *early_exit)
{
    etcdt_cluster *cl;
    int fds[2 * ETCDT_MAX_MEMBERS];
    int nfds = 0, i, ok = 1;
    size_t icap, ecap;
    int64_t deadline;
    char dir[64];

    *early_exit = 0;
    cl = (etcdt_cluster *)etcdt__xmalloc(sizeof *cl);
    memset(cl, 0, sizeof *cl);
    cl->n = members;
    /* ETCDT_DATA_DIR picks where member data lives (e.g. a tmpfs, to take disk fsync
       out of a benchmark); default /tmp */
    snprintf(cl->dir, sizeof cl->dir, "%s/etcdt.XXXXXX",
             getenv("ETCDT_DATA_DIR") && *getenv("ETCDT_DATA_DIR") ? getenv("ETCDT_DATA_DIR") : "/tmp");
    if (!mkdtemp(cl->dir)) {
        fprintf(stderr, "etcdt: mkdtemp: %s\n", strerror(errno));
        cl->dir[0] = 0;
        etcdt__cluster_free(cl);
        return NULL;
    }
    pthread_mutex_lock(&etcdt__mu);
    snprintf(cl->token, sizeof cl->token, "etcdt-%ld-%d", (long)getpid(),
             etcdt__token_counter++);
    pthread_mutex_unlock(&etcdt__mu);

    /* extra args: tokenise a private copy on whitespace */
    if (extra_args) {
        char *p;
        int cnt = 0;
        cl->extra_buf = etcdt__xstrdup(extra_args);
        cl->extra = (char **)etcdt__xmalloc(
            (strlen(extra_args) / 2 + 2) * sizeof(char *));
        p = cl->extra_buf;
        for (;;) {
            while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
                *p++ = 0;
            if (!*p)
                break;
            cl->extra[cnt++] = p;
            while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
                p++;
        }
        cl->extra[cnt] = NULL;
    }

    /* Ports: hold all sockets open while choosing so they are distinct. */
    for (i = 0; i < members; i++) {
        fds[nfds] = etcdt__bind_any(&cl->m[i].client_port);
        if (fds[nfds++] < 0)
            ok = 0;
        fds[nfds] = etcdt__bind_any(&cl->m[i].peer_port);
        if (fds[nfds++] < 0)
            ok = 0;
    }
    for (i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (!ok) {
        fprintf(stderr, "etcdt: cannot allocate ports\n");
        etcdt__cluster_free(cl);
        return NULL;
    }

    icap = (size_t)members * 64 + 1;
    ecap = (size_t)members * 32 + 1;
    cl->initial_cluster = (char *)etcdt__xmalloc(icap);
    cl->endpoints = (char *)etcdt__xmalloc(ecap);
    cl->initial_cluster[0] = 0;
    cl->endpoints[0] = 0;
    memcpy(dir, cl->dir, sizeof dir);
    for (i = 0; i < members; i++) {
        etcdt__member *m = &cl->m[i];
        size_t l;
        snprintf(m->name, sizeof m->name, "m%d", i);
        snprintf(m->endpoint, sizeof m->endpoint, "127.0.0.1:%d",
                 m->client_port);
        snprintf(m->data_dir, sizeof m->data_dir, "%s/m%d.etcd", dir, i);
        snprintf(m->log_path, sizeof m->log_path, "%s/m%d.log", dir, i);
        l = strlen(cl->initial_cluster);
        snprintf(cl->initial_cluster + l, icap - l, "%s%s=http://127.0.0.1:%d",
                 i ? "," : "", m->name, m->peer_port);
        l = strlen(cl->endpoints);
        snprintf(cl->endpoints + l, ecap - l, "%s%s", i ? "," : "",
                 m->endpoint);
    }

    /* Register before spawning so the safety net covers the members. */
    etcdt__register_cluster(cl);
    for (i = 0; i < members; i++)
        if (etcdt__member_launch(cl, i, "new") != 0) {
            ok = 0;
            break;
        }

    deadline = etcdt_now_ms() + 20000;
    if (ok) {
        int ready[ETCDT_MAX_MEMBERS];
        int nready = 0;
        memset(ready, 0, sizeof ready);
        while (nready < members) {
            for (i = 0; i < members; i++) {
                if (ready[i])
                    continue;
                if (!etcdt__member_alive(cl, i)) {
                    fprintf(stderr, "etcdt: member %s exited during startup\n",
                            cl->m[i].name);
                    *early_exit = 1;
                    ok = 0;
                    break;
                }
                if (etcdt_member_ready(cl, i, 1000)) {
                    ready[i] = 1;
                    nready++;
                }
            }
            if (!ok || nready == members)
                break;
            if (etcdt_now_ms() >= deadline) {
                fprintf(stderr,
                        "etcdt: cluster of %d not ready within 20 s\n",
                        members);
                ok = 0;
                break;
            }
            etcdt_sleep_ms(50);
        }
    }
    if (!ok) {
        for (i = 0; i < members; i++)
            if (cl->m[i].pid > 0)
                kill(cl->m[i].pid, SIGKILL);
        for (i = 0; i < members; i++)
            if (cl->m[i].pid > 0) {
                waitpid(cl->m[i].pid, NULL, 0);
                cl->m[i].pid = 0;
            }
        for (i = 0; i < members; i++)
            etcdt_member_log_tail(cl, i, 3000);
        etcdt__unregister_cluster(cl);
        etcdt__cluster_free(cl);
        return NULL;
    }
    return cl;
}

/* Start a private cluster of `members` (1..ETCDT_MAX_MEMBERS) etcd
 * processes on loopback and wait (20 s) until every member serves a
 * linearizable range.  extra_args: whitespace-separated extra etcd flags
 * for every member, or NULL.  Returns NULL on failure (member log tails
 * are printed to stderr). */
ETCDT_FN etcdt_cluster *etcdt_cluster_start(int members, const char *extra_args)
{
    int attempt;
    if (members < 1 || members > ETCDT_MAX_MEMBERS) {
        fprintf(stderr, "etcdt: bad member count %d\n", members);
        return NULL;
    }
    for (attempt = 1; attempt <= 3; attempt++) {
        int early = 0;
        etcdt_cluster *cl = etcdt__cluster_try(members, extra_args, &early);
        if (cl)
            return cl;
        if (!early)
            break;
        fprintf(stderr, "etcdt: retrying cluster start (attempt %d)\n",
                attempt + 1);
    }
    return NULL;
}

/* Send sig to member i.  For SIGKILL and SIGTERM wait for it to exit
 * (SIGTERM: escalate to SIGKILL after 10 s).  Returns 0, or -1 if the
 * member was not running. */
ETCDT_FN int etcdt_member_kill(etcdt_cluster *cl, int i, int sig)
{
    pid_t pid;
    if (i < 0 || i >= cl->n)
        return -1;
    pid = cl->m[i].pid;
    if (pid <= 0)
        return -1;
    if (kill(pid, sig) != 0)
        return -1;
    if (sig == SIGKILL || sig == SIGTERM) {
        int64_t deadline = etcdt_now_ms() + 10000;
        int st;
        if (sig == SIGTERM) {
            kill(pid, SIGCONT); /* in case it was stopped */
            while (waitpid(pid, &st, WNOHANG) == 0) {
                if (etcdt_now_ms() >= deadline) {
                    kill(pid, SIGKILL);
                    waitpid(pid, &st, 0);
                    break;
                }
                etcdt_sleep_ms(10);
            }
        } else {
            waitpid(pid, &st, 0);
        }
        cl->m[i].pid = 0;
    }
    return 0;
}

/* Start member i again (same name, data dir and ports, initial cluster
 * state "existing") without waiting.  Kills it first if still running. */
ETCDT_FN int etcdt_member_start_nowait(etcdt_cluster *cl, int i)
{
    if (i < 0 || i >= cl->n)
        return -1;
    if (cl->m[i].pid > 0)
        etcdt_member_kill(cl, i, SIGKILL);
    return etcdt__member_launch(cl, i, "existing");
}

/* Restart member i and wait (20 s) until it answers.  Returns 0 or -1
 * (log tail printed). */
ETCDT_FN int etcdt_member_restart(etcdt_cluster *cl, int i)
{
    int r;
    if (etcdt_member_start_nowait(cl, i) != 0)
        return -1;
    r = etcdt_member_wait_ready(cl, i, 20000);
    if (r != 0) {
        fprintf(stderr, "etcdt: member %s %s after restart\n", cl->m[i].name,
                r == -2 ? "exited" : "not ready within 20 s");
        etcdt_member_log_tail(cl, i, 3000);
        return -1;
    }
    return 0;
}

/* SIGKILL all members, reap, remove the temp dir, free.  NULL is ok. */
ETCDT_FN void etcdt_cluster_stop(etcdt_cluster *cl)
{
    if (!cl)
        return;
    etcdt__unregister_cluster(cl);
    etcdt__cluster_free(cl);
}

/* ======================================================================
 * Child processes
 * ==================================================================== */

/* Spawn argv (argv[0] searched on PATH unless it contains '/') in its own
 * process group with stdout and stderr on separate pipes; stdin is
 * /dev/null, or a pipe written with etcdt_proc_write if pipe_stdin.
 * envp_extra: NULL-terminated "K=V" strings added to (and overriding) the
 * environment, may be NULL.  If merge_stderr, stderr goes to the stdout
 * pipe.  drop: env prefixes to remove (may be NULL). */
ETCDT_FN etcdt_proc *etcdt__spawn_io(char *const argv[],
                                     char *const envp_extra[],
                                     const char *const *drop, int merge_stderr,
                                     int pipe_stdin)
{
    char exe[PATH_MAX];
    int op[2] = {-1, -1}, ep[2] = {-1, -1}, ip[2] = {-1, -1};
    char **env;
    etcdt_proc *p;
    pid_t pid, parent = getpid();
    int pdeath, maxfd = etcdt__max_fd();

    if (!argv || !argv[0])
        return NULL;
    if (etcdt__which(argv[0], exe, sizeof exe) != 0) {
        fprintf(stderr, "etcdt: %s: not found\n", argv[0]);
        return NULL;
    }
    if (pipe2(op, O_CLOEXEC) != 0)
        return NULL;
    if (!merge_stderr && pipe2(ep, O_CLOEXEC) != 0) {
        close(op[0]);
        close(op[1]);
        return NULL;
    }
    if (pipe_stdin && pipe2(ip, O_CLOEXEC) != 0) {
        close(op[0]);
        close(op[1]);
        if (ep[0] >= 0) {
            close(ep[0]);
            close(ep[1]);
        }
        return NULL;
    }
    p = (etcdt_proc *)etcdt__xmalloc(sizeof *p);
    memset(p, 0, sizeof *p);
    p->out_fd = op[0];
    p->err_fd = ep[0];
    p->in_fd = ip[1];
    p->status = -1;
    env = etcdt__mkenv(drop, envp_extra);
    pdeath = etcdt__is_main_thread();

    /* Register first (pid 0 is skipped by the net), then fill the pid. */
    etcdt__register_proc(p);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "etcdt: fork: %s\n", strerror(errno));
        etcdt__unregister_proc(p);
        close(op[0]);
        close(op[1]);
        if (ep[0] >= 0) {
            close(ep[0]);
            close(ep[1]);
        }
        if (ip[0] >= 0) {
            close(ip[0]);
            close(ip[1]);
        }
        free(env);
        free(p);
        return NULL;
    }
    if (pid == 0) {
        int nullfd;
        etcdt__child_setup(pdeath, parent);
        nullfd = ip[0] >= 0 ? ip[0] : open("/dev/null", O_RDONLY);
        if (nullfd >= 0 && nullfd != 0) {
            dup2(nullfd, 0);
            close(nullfd);
        } else if (nullfd == 0) {
            fcntl(0, F_SETFD, 0); /* the stdin pipe is O_CLOEXEC */
        }
        dup2(op[1], 1);
        dup2(merge_stderr ? op[1] : ep[1], 2);
        etcdt__close_from3(maxfd);
        execve(exe, argv, env);
        {
            static const char msg[] = "etcdt: exec failed\n";
            ssize_t w = write(2, msg, sizeof msg - 1);
            (void)w;
        }
        _exit(127);
    }
    setpgid(pid, pid);
    p->pid = pid;
    close(op[1]);
    if (ep[1] >= 0)
        close(ep[1]);
    if (ip[0] >= 0)
        close(ip[0]);
    fcntl(p->out_fd, F_SETFL, fcntl(p->out_fd, F_GETFL) | O_NONBLOCK);
    if (p->err_fd >= 0)
        fcntl(p->err_fd, F_SETFL, fcntl(p->err_fd, F_GETFL) | O_NONBLOCK);
    free(env);
    return p;
}

ETCDT_FN etcdt_proc *etcdt__spawn(char *const argv[], char *const envp_extra[],
                                  const char *const *drop, int merge_stderr)
{
    return etcdt__spawn_io(argv, envp_extra, drop, merge_stderr, 0);
}

ETCDT_FN etcdt_proc *etcdt_spawn(char *const argv[], char *const envp_extra[])
{
    return etcdt__spawn(argv, envp_extra, NULL, 0);
}

/* etcdt_spawn with the child's stdin on a pipe: feed it with
 * etcdt_proc_write, end it with etcdt_proc_close_stdin. */
ETCDT_FN etcdt_proc *etcdt_spawn_piped(char *const argv[],
                                       char *const envp_extra[])
{
    return etcdt__spawn_io(argv, envp_extra, NULL, 0, 1);
}

ETCDT_FN pid_t etcdt_proc_pid(etcdt_proc *p) { return p->pid; }

/* Append up to n bytes to a growable buffer bounded by max (excess
 * dropped). */
ETCDT_FN void etcdt__buf_add(char **buf, size_t *len, size_t *cap,
                             const char *src, size_t n, size_t max)
{
    if (*len + n + 1 > max)
        n = (*len + 1 >= max) ? 0 : max - *len - 1;
    if (n == 0)
        return;
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 4096;
        char *nb;
        while (nc < *len + n + 1)
            nc *= 2;
        nb = (char *)realloc(*buf, nc);
        if (!nb)
            return;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, src, n);
    *len += n;
    (*buf)[*len] = 0;
}

/* Read whatever is available on fd (nonblocking) into the buffer; close
 * and set fd to -1 on EOF/error.  Returns bytes read. */
ETCDT_FN size_t etcdt__drain(int *fd, char **buf, size_t *len, size_t *cap,
                             size_t max)
{
    char tmp[8192];
    size_t total = 0;
    while (*fd >= 0) {
        ssize_t r = read(*fd, tmp, sizeof tmp);
        if (r > 0) {
            etcdt__buf_add(buf, len, cap, tmp, (size_t)r, max);
            total += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        close(*fd);
        *fd = -1;
    }
    return total;
}

ETCDT_FN void etcdt__proc_drain(etcdt_proc *p)
{
    etcdt__drain(&p->out_fd, &p->out, &p->out_len, &p->out_cap,
                 ETCDT_PROC_OUTMAX);
    etcdt__drain(&p->err_fd, &p->err, &p->err_len, &p->err_cap,
                 ETCDT_PROC_ERRMAX);
}

/* Wait up to ms for input on the proc's pipes (whichever are open). */
ETCDT_FN void etcdt__proc_poll(etcdt_proc *p, int ms)
{
    struct pollfd pf[2];
    int n = 0;
    if (p->out_fd >= 0) {
        pf[n].fd = p->out_fd;
        pf[n].events = POLLIN;
        n++;
    }
    if (p->err_fd >= 0) {
        pf[n].fd = p->err_fd;
        pf[n].events = POLLIN;
        n++;
    }
    if (n == 0) {
        etcdt_sleep_ms(ms);
        return;
    }
    poll(pf, (nfds_t)n, ms);
}

/* Read one line from the child's stdout.  Returns 1 with the line (no
 * newline; truncated to cap-1 if longer), 0 on EOF with nothing buffered,
 * -1 on timeout.  A final unterminated line is returned at EOF. */
ETCDT_FN int etcdt_proc_readline(etcdt_proc *p, char *buf, size_t cap,
                                 int timeout_ms)
{
    int64_t deadline = etcdt_now_ms() + timeout_ms;
    for (;;) {
        char *nl;
        size_t linelen, consumed;
        etcdt__proc_drain(p);
        nl = p->out_len ? (char *)memchr(p->out, '\n', p->out_len) : NULL;
        if (nl || (p->out_fd < 0 && p->out_len > 0) ||
            p->out_len + 1 >= ETCDT_PROC_OUTMAX) {
            linelen = nl ? (size_t)(nl - p->out) : p->out_len;
            consumed = nl ? linelen + 1 : linelen;
            if (cap > 0) {
                size_t c = linelen < cap - 1 ? linelen : cap - 1;
                memcpy(buf, p->out, c);
                buf[c] = 0;
            }
            memmove(p->out, p->out + consumed, p->out_len - consumed);
            p->out_len -= consumed;
            if (p->out)
                p->out[p->out_len] = 0;
            return 1;
        }
        if (p->out_fd < 0) {
            if (cap > 0)
                buf[0] = 0;
            return 0;
        }
        if (etcdt_now_ms() >= deadline) {
            if (cap > 0)
                buf[0] = 0;
            return -1;
        }
        etcdt__proc_poll(p, etcdt__left(deadline));
    }
}

/* Everything read from the child's stderr so far (drains what is
 * available now, without blocking).  Valid until the next call on p. */
ETCDT_FN const char *etcdt_proc_stderr(etcdt_proc *p)
{
    etcdt__proc_drain(p);
    return p->err ? p->err : "";
}

/* Write all of s to the child's stdin (etcdt_spawn_piped); blocks while the
 * pipe is full.  Returns 0, or -1 if stdin is not piped or the child stopped
 * reading (EPIPE: ignore SIGPIPE in the test, as the suites do). */
ETCDT_FN int etcdt_proc_write(etcdt_proc *p, const char *s)
{
    size_t len = strlen(s), off = 0;
    if (p->in_fd < 0)
        return -1;
    while (off < len) {
        ssize_t w = write(p->in_fd, s + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

/* Close the child's stdin so that it reads EOF.  Idempotent. */
ETCDT_FN void etcdt_proc_close_stdin(etcdt_proc *p)
{
    if (p->in_fd >= 0) {
        close(p->in_fd);
        p->in_fd = -1;
    }
}

/* Send sig to the child process (not its group).  Returns 0 or -1 (also
 * if it has already been reaped). */
ETCDT_FN int etcdt_proc_signal(etcdt_proc *p, int sig)
{
    if (p->pid <= 0 || p->reaped)
        return -1;
    return kill(p->pid, sig);
}

/* Send sig to the child's whole process group. */
ETCDT_FN int etcdt_proc_signal_group(etcdt_proc *p, int sig)
{
    if (p->pid <= 0 || p->reaped)
        return -1;
    return kill(-p->pid, sig);
}

/* Non-blocking: 1 if exited (status stored), 0 if running. */
ETCDT_FN int etcdt__proc_try_reap(etcdt_proc *p)
{
    int st;
    pid_t r;
    if (p->reaped)
        return 1;
    r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        p->status = etcdt__exit_code(st);
        p->reaped = 1;
        return 1;
    }
    if (r < 0 && errno == ECHILD) { /* someone else reaped it */
        p->reaped = 1;
        p->status = -1;
        return 1;
    }
    return 0;
}

/* 1 if the child is still running. */
ETCDT_FN int etcdt_proc_running(etcdt_proc *p) { return !etcdt__proc_try_reap(p); }

/* Wait for the child to exit.  Returns its exit status (or 128+signal),
 * -1 on timeout.  Output keeps being collected meanwhile. */
ETCDT_FN int etcdt_proc_wait(etcdt_proc *p, int timeout_ms)
{
    int64_t deadline = etcdt_now_ms() + timeout_ms;
    for (;;) {
        etcdt__proc_drain(p);
        if (etcdt__proc_try_reap(p)) {
            etcdt__proc_drain(p);
            return p->status;
        }
        if (etcdt_now_ms() >= deadline)
            return -1;
        {
            int left = etcdt__left(deadline);
            /* pipes may stay open (e.g. grandchildren): poll briefly */
            etcdt__proc_poll(p, left < 5 ? left : 5);
            if (p->out_fd < 0 && p->err_fd < 0)
                etcdt_sleep_ms(left < 5 ? left : 5);
        }
    }
}

/* SIGKILL the group if still running, reap, close, free.  NULL is ok. */
ETCDT_FN void etcdt_proc_free(etcdt_proc *p)
{
    if (!p)
        return;
    if (!etcdt__proc_try_reap(p)) {
        int st;
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        if (waitpid(p->pid, &st, 0) == p->pid)
            p->status = etcdt__exit_code(st);
        p->reaped = 1;
    }
    etcdt__unregister_proc(p);
    etcdt_proc_close_stdin(p);
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    free(p->out);
    free(p->err);
    free(p);
}

/* ======================================================================
 * etcdctl
 * ==================================================================== */

/* Run `etcdctl --endpoints=<cluster endpoints> argv...` (argv NULL-
 * terminated, without "etcdctl") with every ETCDCTL_* variable removed
 * from the environment (etcdctl speaks v3 by default from 3.4 on, and 3.6
 * warns about ETCDCTL_API on stderr).  stdout+stderr go to out
 * (NUL-terminated, truncated to outcap; out may be NULL).  Killed after
 * timeout_ms.  Returns the exit status, -1 on timeout or spawn error.
 * cl may be NULL: then no --endpoints flag is added (pass your own, e.g.
 * to talk to a single member; etcdctl APPENDS repeated --endpoints flags,
 * it does not override them). */
ETCDT_FN int etcdt_etcdctlv(etcdt_cluster *cl, char *out, size_t outcap,
                            int timeout_ms, char *const argv[])
{
    static const char *const drop[] = {"ETCDCTL_", NULL};
    char epflag[1024];
    char **full;
    size_t n = 0, i, k = 0;
    etcdt_proc *p;
    int st;

    if (out && outcap)
        out[0] = 0;
    while (argv && argv[n])
        n++;
    full = (char **)etcdt__xmalloc((n + 3) * sizeof *full);
    full[k++] = (char *)"etcdctl";
    if (cl) {
        snprintf(epflag, sizeof epflag, "--endpoints=%s", cl->endpoints);
        full[k++] = epflag;
    }
    for (i = 0; i < n; i++)
        full[k++] = argv[i];
    full[k] = NULL;
    p = etcdt__spawn(full, NULL, drop, 1);
    free(full);
    if (!p)
        return -1;
    st = etcdt_proc_wait(p, timeout_ms);
    if (st < 0)
        fprintf(stderr, "etcdt: etcdctl %s timed out after %d ms\n",
                n ? argv[0] : "", timeout_ms);
    etcdt__proc_drain(p);
    if (out && outcap) {
        size_t c = p->out_len < outcap - 1 ? p->out_len : outcap - 1;
        if (c)
            memcpy(out, p->out, c);
        out[c] = 0;
    }
    etcdt_proc_free(p);
    return st;
}

/* Variadic form: etcdt_etcdctl(cl, out, cap, ms, "put", "k", "v", NULL). */
ETCDT_FN int etcdt_etcdctl(etcdt_cluster *cl, char *out, size_t outcap,
                           int timeout_ms, const char *arg0, ...)
{
    const char *args[64];
    int n = 0, r;
    va_list ap;
    if (arg0) {
        args[n++] = arg0;
        va_start(ap, arg0);
        while (n < 63) {
            const char *a = va_arg(ap, const char *);
            if (!a)
                break;
            args[n++] = a;
        }
        va_end(ap);
    }
    args[n] = NULL;
    r = etcdt_etcdctlv(cl, out, outcap, timeout_ms, (char *const *)args);
    return r;
}

/* ======================================================================
 * Misc
 * ==================================================================== */

/* Absolute path of the running executable (/proc/self/exe resolved), for
 * re-executing the test program in a helper mode.  Static storage. */
ETCDT_FN const char *etcdt_self_path(void)
{
    static char path[PATH_MAX];
    ssize_t n;
    if (path[0])
        return path;
    n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) {
        path[0] = 0;
        return NULL;
    }
    path[n] = 0;
    return path;
}

/* ---- a loopback TCP proxy that can partition ------------------------------------------
   etcdt_proxy_start(&px, target_port) listens on 127.0.0.1:px.port and forwards each
   connection to the target; etcdt_proxy_partition(&px, 1) makes it swallow every byte in
   both directions while keeping connections open (a silent partition), 0 heals it. */

#define ETCDT_PROXY_MAX 64

typedef struct etcdt_proxy {
    int lfd, port, target_port;
    int partitioned; /* atomic: swallow every byte, both ways, keep connections open */
    int stop_pipe[2];
    pthread_t th;
    int cfd[ETCDT_PROXY_MAX], sfd[ETCDT_PROXY_MAX]; /* client side, server side (-1: none) */
    int n;
    long accepted, swallowed; /* atomic */
} etcdt_proxy;

ETCDT_FN int etcdt__connect_loopback(int port) {
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

ETCDT_FN void etcdt_proxy__drop(etcdt_proxy *px, int i) {
    if (px->cfd[i] >= 0) close(px->cfd[i]);
    if (px->sfd[i] >= 0) close(px->sfd[i]);
    px->n--;
    px->cfd[i] = px->cfd[px->n];
    px->sfd[i] = px->sfd[px->n];
}

ETCDT_FN void *etcdt_proxy__main(void *arg) {
    etcdt_proxy *px = (etcdt_proxy *)arg;
    char buf[65536];
    for (;;) {
        struct pollfd p[2 + 2 * ETCDT_PROXY_MAX];
        int who[2 + 2 * ETCDT_PROXY_MAX]; /* index*2 + side, for the connection fds */
        int np = 0, i, part = __atomic_load_n(&px->partitioned, __ATOMIC_ACQUIRE);
        if (!part) /* healed: connections that lost their server side during the partition end */
            for (i = 0; i < px->n; i++)
                if (px->sfd[i] < 0) etcdt_proxy__drop(px, i--);
        p[np].fd = px->stop_pipe[0];
        p[np++].events = POLLIN;
        p[np].fd = px->lfd;
        p[np++].events = POLLIN;
        for (i = 0; i < px->n; i++) {
            p[np].fd = px->cfd[i];
            p[np].events = POLLIN;
            who[np++] = i * 2;
            if (px->sfd[i] >= 0) {
                p[np].fd = px->sfd[i];
                p[np].events = POLLIN;
                who[np++] = i * 2 + 1;
            }
        }
        for (i = 0; i < np; i++) p[i].revents = 0;
        if (poll(p, (nfds_t)np, 50) < 0 && errno != EINTR) break;
        if (p[0].revents) break;
        part = __atomic_load_n(&px->partitioned, __ATOMIC_ACQUIRE);
        if (p[1].revents & POLLIN) {
            int fd = accept4(px->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                __atomic_add_fetch(&px->accepted, 1, __ATOMIC_ACQ_REL);
                if (px->n >= ETCDT_PROXY_MAX) {
                    close(fd);
                } else {
                    px->cfd[px->n] = fd;
                    px->sfd[px->n] = part ? -1 : etcdt__connect_loopback(px->target_port);
                    if (!part && px->sfd[px->n] < 0) close(fd);
                    else px->n++;
                }
            }
            continue; /* indexes may have moved: poll again */
        }
        for (i = 2; i < np; i++) {
            int k = who[i] / 2, side = who[i] % 2, from, to;
            ssize_t got;
            if (!p[i].revents) continue;
            from = side ? px->sfd[k] : px->cfd[k];
            to = side ? px->cfd[k] : px->sfd[k];
            got = recv(from, buf, sizeof buf, MSG_DONTWAIT);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (got <= 0) {
                if (side && part) { /* etcd hung up: the client must not learn of it */
                    close(px->sfd[k]);
                    px->sfd[k] = -1;
                } else {
                    etcdt_proxy__drop(px, k);
                }
                break; /* indexes moved */
            }
            if (part || to < 0) {
                __atomic_add_fetch(&px->swallowed, (long)got, __ATOMIC_ACQ_REL);
                continue;
            }
            {
                ssize_t off = 0;
                while (off < got) {
                    ssize_t wr = send(to, buf + off, (size_t)(got - off), MSG_NOSIGNAL);
                    if (wr < 0 && errno == EINTR) continue;
                    if (wr <= 0) break;
                    off += wr;
                }
            }
        }
    }
    while (px->n > 0) etcdt_proxy__drop(px, 0);
    return NULL;
}

ETCDT_FN int etcdt_proxy_start(etcdt_proxy *px, int target_port) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(px, 0, sizeof *px);
    px->target_port = target_port;
    px->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (px->lfd < 0) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(px->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(px->lfd, 64) != 0 ||
        getsockname(px->lfd, (struct sockaddr *)&sa, &len) != 0 || pipe(px->stop_pipe) != 0) {
        close(px->lfd);
        return -1;
    }
    px->port = ntohs(sa.sin_port);
    if (pthread_create(&px->th, NULL, etcdt_proxy__main, px) != 0) {
        close(px->lfd);
        close(px->stop_pipe[0]);
        close(px->stop_pipe[1]);
        return -1;
    }
    return 0;
}

ETCDT_FN void etcdt_proxy_partition(etcdt_proxy *px, int on) { __atomic_store_n(&px->partitioned, on, __ATOMIC_RELEASE); }

ETCDT_FN void etcdt_proxy_stop(etcdt_proxy *px) {
    char b = 1;
    ssize_t w = write(px->stop_pipe[1], &b, 1);
    (void)w;
    pthread_join(px->th, NULL);
    close(px->lfd);
    close(px->stop_pipe[0]);
    close(px->stop_pipe[1]);
}


#endif /* ETCDT_H */
