/*
 * etcdt_proc.h - child processes for the etcd_elect tests: etcdt_spawn,
 * etcdt_spawn_piped, etcdt_proc_*, etcdt_self_path; the fork/exec helpers
 * that etcdt_etcd.h starts its members with; and the safety net.
 *
 * Safety net: every spawned process, and every cluster of etcdt_etcd.h, is
 * recorded (etcdt__net_add) in a static list, with hooks from the header
 * that owns it.  Their children are SIGKILLed (and temp dirs removed) by an
 * atexit handler, and SIGKILLed by a handler for SIGINT, SIGTERM, SIGHUP,
 * SIGQUIT, SIGALRM, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL (only installed
 * for signals whose disposition was SIG_DFL; the handler then re-raises
 * the signal with the default action).  Children started from the main
 * thread also get PR_SET_PDEATHSIG=SIGKILL, which covers the test being
 * SIGKILLed.  (Children started from other threads do not, because the
 * kernel fires PDEATHSIG when the forking *thread* exits.)
 * The safety net acts only in the process that created the children, so a
 * plain fork() + exit() in a test does not kill the parent's cluster.
 */
#ifndef ETCDT_PROC_H
#define ETCDT_PROC_H

#include "etcdt_test.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ======================================================================
 * Safety net
 * ==================================================================== */

/* An owner of children (an etcdt_proc, an etcdt_cluster) as the net lists
 * it.  It is the owner struct's first member, so the hooks cast it back. */
typedef struct etcdt__net_entry {
    struct etcdt__net_entry *volatile next;
} etcdt__net_entry;

/* One kind of owner: its live entries and what to do with each.  kill runs
 * in signal handlers, so it may only call async-signal-safe functions. */
typedef struct etcdt__net_part {
    void (*kill)(etcdt__net_entry *); /* SIGKILL the entry's children */
    void (*reap)(etcdt__net_entry *); /* at exit, after every kill: wait, clean up */
    etcdt__net_entry *volatile live;
} etcdt__net_part;

#define ETCDT__NET_PARTS 4

ETCDT_VAR pthread_mutex_t etcdt__mu = PTHREAD_MUTEX_INITIALIZER;
ETCDT_VAR etcdt__net_part *volatile etcdt__net_parts[ETCDT__NET_PARTS];
ETCDT_VAR volatile int etcdt__net_nparts;
ETCDT_VAR volatile pid_t etcdt__owner_pid;
ETCDT_VAR int etcdt__net_installed;

/* Async-signal-safe: only kill(). */
ETCDT_FN void etcdt__net_kill(void) {
    etcdt__net_entry *e;
    int i;
    for (i = 0; i < etcdt__net_nparts; i++)
        for (e = etcdt__net_parts[i]->live; e; e = e->next) etcdt__net_parts[i]->kill(e);
}

ETCDT_FN void etcdt__net_on_signal(int sig) {
    if (getpid() == etcdt__owner_pid) etcdt__net_kill();
    signal(sig, SIG_DFL);
    raise(sig);
}

ETCDT_FN void etcdt__net_atexit(void) {
    etcdt__net_entry *e;
    int i;
    if (getpid() != etcdt__owner_pid) return;
    etcdt__net_kill();
    for (i = 0; i < etcdt__net_nparts; i++)
        for (e = etcdt__net_parts[i]->live; e; e = e->next) etcdt__net_parts[i]->reap(e);
}

/* Install the net in this process (again in a fork()ed child, which gets
 * a net of its own).  Call with etcdt__mu held. */
ETCDT_FN void etcdt__net_install(void) {
    static const int sigs[] = {SIGINT,  SIGTERM, SIGHUP, SIGQUIT, SIGALRM,
                               SIGABRT, SIGSEGV, SIGBUS, SIGFPE,  SIGILL};
    size_t i;
    int k;
    if (etcdt__net_installed && etcdt__owner_pid == getpid()) return;
    if (etcdt__net_installed) {
        /* a fork()ed child (no exec) of the owner: the inherited entries
         * belong to the parent; never kill or clean those up from here */
        for (k = 0; k < etcdt__net_nparts; k++) etcdt__net_parts[k]->live = NULL;
    }
    etcdt__owner_pid = getpid();
    if (!etcdt__net_installed) atexit(etcdt__net_atexit);
    etcdt__net_installed = 1;
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) != 0) continue;
        if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = etcdt__net_on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        sigaction(sigs[i], &sa, NULL);
    }
}

/* Record e in part's list (installing the net, and adding part to it, on
 * first use).  Call before e starts its first child. */
ETCDT_FN void etcdt__net_add(etcdt__net_part *part, etcdt__net_entry *e) {
    int k;
    pthread_mutex_lock(&etcdt__mu);
    etcdt__net_install();
    for (k = 0; k < etcdt__net_nparts && etcdt__net_parts[k] != part; k++) {}
    if (k == etcdt__net_nparts) {
        if (k == ETCDT__NET_PARTS) {
            fprintf(stderr, "etcdt: safety net full\n");
            abort();
        }
        etcdt__net_parts[k] = part;
        etcdt__net_nparts = k + 1; /* only now: signal handlers read the slot */
    }
    e->next = part->live;
    part->live = e;
    pthread_mutex_unlock(&etcdt__mu);
}

ETCDT_FN void etcdt__net_remove(etcdt__net_part *part, etcdt__net_entry *e) {
    etcdt__net_entry *volatile *pp;
    pthread_mutex_lock(&etcdt__mu);
    for (pp = &part->live; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    pthread_mutex_unlock(&etcdt__mu);
}

/* ======================================================================
 * Helpers for starting children
 * ==================================================================== */

/* Find an executable on PATH (or take name as is if it contains '/').
 * Returns 0 and fills out, or -1. */
ETCDT_FN int etcdt__which(const char *name, char *out, size_t cap) {
    const char *path, *p;
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0) return -1;
        snprintf(out, cap, "%s", name);
        return 0;
    }
    path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    p = path;
    for (;;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        struct stat st;
        if (len == 0)
            snprintf(out, cap, "./%s", name);
        else
            snprintf(out, cap, "%.*s/%s", (int)len, p, name);
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0) return 0;
        if (!e) break;
        p = e + 1;
    }
    return -1;
}

/* Build an environment: environ minus entries whose name starts with one of
 * the drop prefixes (NULL-terminated list, may be NULL) and minus entries
 * overridden by extra, plus extra.  Free the array (not the strings) with
 * free(). */
ETCDT_FN char **etcdt__mkenv(const char *const *drop_prefixes, char *const *extra) {
    size_t ne = 0, nx = 0, k = 0, i, j;
    char **env;
    while (environ && environ[ne]) ne++;
    while (extra && extra[nx]) nx++;
    env = (char **)etcdt__xmalloc((ne + nx + 1) * sizeof *env);
    for (i = 0; i < ne; i++) {
        const char *e = environ[i];
        const char *eq = strchr(e, '=');
        size_t klen = eq ? (size_t)(eq - e) : strlen(e);
        int keep = 1;
        for (j = 0; keep && drop_prefixes && drop_prefixes[j]; j++) {
            size_t pl = strlen(drop_prefixes[j]);
            if (strncmp(e, drop_prefixes[j], pl) == 0) keep = 0;
        }
        for (j = 0; keep && j < nx; j++) {
            const char *xe = strchr(extra[j], '=');
            size_t xl = xe ? (size_t)(xe - extra[j]) : strlen(extra[j]);
            if (xl == klen && strncmp(e, extra[j], klen) == 0) keep = 0;
        }
        if (keep) env[k++] = (char *)e;
    }
    for (j = 0; j < nx; j++) env[k++] = extra[j];
    env[k] = NULL;
    return env;
}

ETCDT_FN int etcdt__is_main_thread(void) { return (pid_t)syscall(SYS_gettid) == getpid(); }

/* Highest fd worth closing in a child (computed before fork). */
ETCDT_FN int etcdt__max_fd(void) {
    long m = sysconf(_SC_OPEN_MAX);
    if (m < 256) m = 256;
    if (m > 65536) m = 65536;
    return (int)m;
}

/* Close every fd >= 3 (the child's 0/1/2 are already in place), so that
 * children do not keep the test's or its caller's pipes open. */
ETCDT_FN void etcdt__close_from3(int maxfd) {
    int fd;
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return;
#endif
    for (fd = 3; fd < maxfd; fd++) close(fd);
}

/* Child side, after fork: own process group, optional parent death
 * signal.  Only async-signal-safe calls. */
ETCDT_FN void etcdt__child_setup(int pdeath, pid_t parent) {
    /* Caught signals are reset by exec anyway; also undo SIG_IGN for the
     * ones tests send or rely on, and unblock everything. */
    static const int sigs[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
                               SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2};
    sigset_t none;
    size_t s;
    setpgid(0, 0);
    if (pdeath) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
    }
    for (s = 0; s < sizeof sigs / sizeof sigs[0]; s++) signal(sigs[s], SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

ETCDT_FN int etcdt__exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

/* ======================================================================
 * Child processes
 * ==================================================================== */

#define ETCDT_PROC_OUTMAX (8u << 20)
#define ETCDT_PROC_ERRMAX (8u << 20)

typedef struct etcdt_proc {
    etcdt__net_entry net; /* first: the net's hooks cast it back */
    volatile pid_t pid;   /* also the process group id */
    volatile int reaped;
    int status; /* exit code in etcdt_proc_wait convention, once reaped */
    int out_fd; /* -1 after EOF */
    int err_fd; /* -1 after EOF */
    int in_fd;  /* write end of the child's stdin; -1 unless piped or once closed */
    char *out;
    size_t out_len, out_cap;
    char *err;
    size_t err_len, err_cap;
} etcdt_proc;

ETCDT_FN void etcdt__proc_net_kill(etcdt__net_entry *e) {
    etcdt_proc *p = (etcdt_proc *)e;
    if (p->pid > 0 && !p->reaped) kill(-p->pid, SIGKILL);
}

ETCDT_FN void etcdt__proc_net_reap(etcdt__net_entry *e) {
    etcdt_proc *p = (etcdt_proc *)e;
    if (p->pid > 0 && !p->reaped) {
        waitpid(p->pid, NULL, 0);
        p->reaped = 1;
    }
}

ETCDT_VAR etcdt__net_part etcdt__procs = {etcdt__proc_net_kill, etcdt__proc_net_reap, NULL};

/* Spawn argv (argv[0] searched on PATH unless it contains '/') in its own
 * process group with stdout and stderr on separate pipes; stdin is
 * /dev/null, or a pipe written with etcdt_proc_write if pipe_stdin.
 * envp_extra: NULL-terminated "K=V" strings added to (and overriding) the
 * environment, may be NULL.  If merge_stderr, stderr goes to the stdout
 * pipe.  drop: env prefixes to remove (may be NULL). */
ETCDT_FN etcdt_proc *etcdt__spawn_io(char *const argv[], char *const envp_extra[],
                                     const char *const *drop, int merge_stderr, int pipe_stdin) {
    char exe[PATH_MAX];
    int op[2] = {-1, -1}, ep[2] = {-1, -1}, ip[2] = {-1, -1};
    char **env;
    etcdt_proc *p;
    pid_t pid, parent = getpid();
    int pdeath, maxfd = etcdt__max_fd();

    if (!argv || !argv[0]) return NULL;
    if (etcdt__which(argv[0], exe, sizeof exe) != 0) {
        fprintf(stderr, "etcdt: %s: not found\n", argv[0]);
        return NULL;
    }
    if (pipe2(op, O_CLOEXEC) != 0) return NULL;
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
    etcdt__net_add(&etcdt__procs, &p->net);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "etcdt: fork: %s\n", strerror(errno));
        etcdt__net_remove(&etcdt__procs, &p->net);
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
    if (ep[1] >= 0) close(ep[1]);
    if (ip[0] >= 0) close(ip[0]);
    fcntl(p->out_fd, F_SETFL, fcntl(p->out_fd, F_GETFL) | O_NONBLOCK);
    if (p->err_fd >= 0) fcntl(p->err_fd, F_SETFL, fcntl(p->err_fd, F_GETFL) | O_NONBLOCK);
    free(env);
    return p;
}

ETCDT_FN etcdt_proc *etcdt__spawn(char *const argv[], char *const envp_extra[],
                                  const char *const *drop, int merge_stderr) {
    return etcdt__spawn_io(argv, envp_extra, drop, merge_stderr, 0);
}

ETCDT_FN etcdt_proc *etcdt_spawn(char *const argv[], char *const envp_extra[]) {
    return etcdt__spawn(argv, envp_extra, NULL, 0);
}

/* etcdt_spawn with the child's stdin on a pipe: feed it with
 * etcdt_proc_write, end it with etcdt_proc_close_stdin. */
ETCDT_FN etcdt_proc *etcdt_spawn_piped(char *const argv[], char *const envp_extra[]) {
    return etcdt__spawn_io(argv, envp_extra, NULL, 0, 1);
}

ETCDT_FN pid_t etcdt_proc_pid(etcdt_proc *p) { return p->pid; }

/* Append up to n bytes to a growable buffer bounded by max (excess
 * dropped). */
ETCDT_FN void etcdt__buf_add(char **buf, size_t *len, size_t *cap, const char *src, size_t n,
                             size_t max) {
    if (*len + n + 1 > max) n = (*len + 1 >= max) ? 0 : max - *len - 1;
    if (n == 0) return;
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 4096;
        char *nb;
        while (nc < *len + n + 1) nc *= 2;
        nb = (char *)realloc(*buf, nc);
        if (!nb) return;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, src, n);
    *len += n;
    (*buf)[*len] = 0;
}

/* Read whatever is available on fd (nonblocking) into the buffer; close
 * and set fd to -1 on EOF/error.  Returns bytes read. */
ETCDT_FN size_t etcdt__drain(int *fd, char **buf, size_t *len, size_t *cap, size_t max) {
    char tmp[8192];
    size_t total = 0;
    while (*fd >= 0) {
        ssize_t r = read(*fd, tmp, sizeof tmp);
        if (r > 0) {
            etcdt__buf_add(buf, len, cap, tmp, (size_t)r, max);
            total += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        close(*fd);
        *fd = -1;
    }
    return total;
}

ETCDT_FN void etcdt__proc_drain(etcdt_proc *p) {
    etcdt__drain(&p->out_fd, &p->out, &p->out_len, &p->out_cap, ETCDT_PROC_OUTMAX);
    etcdt__drain(&p->err_fd, &p->err, &p->err_len, &p->err_cap, ETCDT_PROC_ERRMAX);
}

/* Wait up to ms for input on the proc's pipes (whichever are open). */
ETCDT_FN void etcdt__proc_poll(etcdt_proc *p, int ms) {
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
ETCDT_FN int etcdt_proc_readline(etcdt_proc *p, char *buf, size_t cap, int timeout_ms) {
    int64_t deadline = etcdt_now_ms() + timeout_ms;
    for (;;) {
        char *nl;
        size_t linelen, consumed;
        etcdt__proc_drain(p);
        nl = p->out_len ? (char *)memchr(p->out, '\n', p->out_len) : NULL;
        if (nl || (p->out_fd < 0 && p->out_len > 0) || p->out_len + 1 >= ETCDT_PROC_OUTMAX) {
            linelen = nl ? (size_t)(nl - p->out) : p->out_len;
            consumed = nl ? linelen + 1 : linelen;
            if (cap > 0) {
                size_t c = linelen < cap - 1 ? linelen : cap - 1;
                memcpy(buf, p->out, c);
                buf[c] = 0;
            }
            memmove(p->out, p->out + consumed, p->out_len - consumed);
            p->out_len -= consumed;
            if (p->out) p->out[p->out_len] = 0;
            return 1;
        }
        if (p->out_fd < 0) {
            if (cap > 0) buf[0] = 0;
            return 0;
        }
        if (etcdt_now_ms() >= deadline) {
            if (cap > 0) buf[0] = 0;
            return -1;
        }
        etcdt__proc_poll(p, etcdt__left(deadline));
    }
}

/* Everything read from the child's stderr so far (drains what is
 * available now, without blocking).  Valid until the next call on p. */
ETCDT_FN const char *etcdt_proc_stderr(etcdt_proc *p) {
    etcdt__proc_drain(p);
    return p->err ? p->err : "";
}

/* Write all of s to the child's stdin (etcdt_spawn_piped); blocks while the
 * pipe is full.  Returns 0, or -1 if stdin is not piped or the child stopped
 * reading (EPIPE: ignore SIGPIPE in the test, as the suites do). */
ETCDT_FN int etcdt_proc_write(etcdt_proc *p, const char *s) {
    size_t len = strlen(s), off = 0;
    if (p->in_fd < 0) return -1;
    while (off < len) {
        ssize_t w = write(p->in_fd, s + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        off += (size_t)w;
    }
    return 0;
}

/* Close the child's stdin so that it reads EOF.  Idempotent. */
ETCDT_FN void etcdt_proc_close_stdin(etcdt_proc *p) {
    if (p->in_fd >= 0) {
        close(p->in_fd);
        p->in_fd = -1;
    }
}

/* Send sig to the child process (not its group).  Returns 0 or -1 (also
 * if it has already been reaped). */
ETCDT_FN int etcdt_proc_signal(etcdt_proc *p, int sig) {
    if (p->pid <= 0 || p->reaped) return -1;
    return kill(p->pid, sig);
}

/* Send sig to the child's whole process group. */
ETCDT_FN int etcdt_proc_signal_group(etcdt_proc *p, int sig) {
    if (p->pid <= 0 || p->reaped) return -1;
    return kill(-p->pid, sig);
}

/* Non-blocking: 1 if exited (status stored), 0 if running. */
ETCDT_FN int etcdt__proc_try_reap(etcdt_proc *p) {
    int st;
    pid_t r;
    if (p->reaped) return 1;
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
ETCDT_FN int etcdt_proc_wait(etcdt_proc *p, int timeout_ms) {
    int64_t deadline = etcdt_now_ms() + timeout_ms;
    for (;;) {
        etcdt__proc_drain(p);
        if (etcdt__proc_try_reap(p)) {
            etcdt__proc_drain(p);
            return p->status;
        }
        if (etcdt_now_ms() >= deadline) return -1;
        {
            int left = etcdt__left(deadline);
            /* pipes may stay open (e.g. grandchildren): poll briefly */
            etcdt__proc_poll(p, left < 5 ? left : 5);
            if (p->out_fd < 0 && p->err_fd < 0) etcdt_sleep_ms(left < 5 ? left : 5);
        }
    }
}

/* SIGKILL the group if still running, reap, close, free.  NULL is ok. */
ETCDT_FN void etcdt_proc_free(etcdt_proc *p) {
    if (!p) return;
    if (!etcdt__proc_try_reap(p)) {
        int st;
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        if (waitpid(p->pid, &st, 0) == p->pid) p->status = etcdt__exit_code(st);
        p->reaped = 1;
    }
    etcdt__net_remove(&etcdt__procs, &p->net);
    etcdt_proc_close_stdin(p);
    if (p->out_fd >= 0) close(p->out_fd);
    if (p->err_fd >= 0) close(p->err_fd);
    free(p->out);
    free(p->err);
    free(p);
}

/* ======================================================================
 * The test program itself
 * ==================================================================== */

/* Absolute path of the running executable (/proc/self/exe resolved), for
 * re-executing the test program in a helper mode.  Static storage. */
ETCDT_FN const char *etcdt_self_path(void) {
    static char path[PATH_MAX];
    ssize_t n;
    if (path[0]) return path;
    n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) {
        path[0] = 0;
        return NULL;
    }
    path[n] = 0;
    return path;
}

#endif /* ETCDT_PROC_H */
