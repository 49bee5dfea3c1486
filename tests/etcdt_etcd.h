/*
 * etcdt_etcd.h - private etcd clusters for the etcd_elect tests: a
 * launcher (etcdt_cluster_*, etcdt_member_*, etcdt_endpoints) that starts
 * etcd members on loopback ports, etcdt_free_port, and an etcdctl runner
 * (etcdt_etcdctl, etcdt_etcdctlv) with the key counts built on it
 * (etcdt_count_keys, etcdt_wait_keys).  The members are covered by the
 * safety net of etcdt_proc.h.
 */
#ifndef ETCDT_ETCD_H
#define ETCDT_ETCD_H

#include "etcdt_test.h"
#include "etcdt_proc.h"
#include "etcdt_http.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Recursive remove (like rm -rf), no system(). */
ETCDT_FN void etcdt__rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                size_t len;
                char *sub;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
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
 * Clusters and their list in the safety net
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
    etcdt__net_entry net; /* first: the net's hooks cast it back */
    int n;
    char dir[256]; /* $ETCDT_DATA_DIR or /tmp, then /etcdt.XXXXXX */
    char token[64];
    char *initial_cluster;
    char *endpoints;
    char *extra_buf; /* strdup of extra_args, tokenised in place */
    char **extra;    /* NULL-terminated */
    etcdt__member m[ETCDT_MAX_MEMBERS];
} etcdt_cluster;

ETCDT_FN void etcdt__cluster_net_kill(etcdt__net_entry *e) {
    etcdt_cluster *c = (etcdt_cluster *)e;
    int i;
    for (i = 0; i < c->n; i++)
        if (c->m[i].pid > 0) kill(c->m[i].pid, SIGKILL);
}

ETCDT_FN void etcdt__cluster_net_reap(etcdt__net_entry *e) {
    etcdt_cluster *c = (etcdt_cluster *)e;
    int i;
    for (i = 0; i < c->n; i++)
        if (c->m[i].pid > 0) {
            waitpid(c->m[i].pid, NULL, 0);
            c->m[i].pid = 0;
        }
    if (c->dir[0]) etcdt__rm_rf(c->dir);
}

ETCDT_VAR etcdt__net_part etcdt__clusters = {etcdt__cluster_net_kill, etcdt__cluster_net_reap,
                                             NULL};

/* ======================================================================
 * Ports
 * ==================================================================== */

/* Bind 127.0.0.1:0; returns the bound fd (kept open) and stores the port. */
ETCDT_FN int etcdt__bind_any(int *port) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
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
ETCDT_FN int etcdt_free_port(void) {
    int port = -1;
    int fd = etcdt__bind_any(&port);
    if (fd < 0) return -1;
    close(fd);
    return port;
}

/* ======================================================================
 * etcd cluster
 * ==================================================================== */

ETCDT_VAR int etcdt__token_counter;

ETCDT_FN const char *etcdt_endpoints(etcdt_cluster *cl) { return cl->endpoints; }

ETCDT_FN const char *etcdt_member_endpoint(etcdt_cluster *cl, int i) {
    if (i < 0 || i >= cl->n) return NULL;
    return cl->m[i].endpoint;
}

ETCDT_FN int etcdt_member_count(etcdt_cluster *cl) { return cl->n; }

ETCDT_FN int etcdt_member_client_port(etcdt_cluster *cl, int i) {
    return (i < 0 || i >= cl->n) ? -1 : cl->m[i].client_port;
}

/* Directory holding data dirs and logs (<dir>/m<i>.log). */
ETCDT_FN const char *etcdt_cluster_dir(etcdt_cluster *cl) { return cl->dir; }

/* Print the last ~maxbytes of member i's log to stderr. */
ETCDT_FN void etcdt_member_log_tail(etcdt_cluster *cl, int i, size_t maxbytes) {
    char buf[8192];
    struct stat st;
    off_t start = 0;
    ssize_t r;
    int fd;
    if (i < 0 || i >= cl->n) return;
    if (maxbytes > sizeof buf - 1) maxbytes = sizeof buf - 1;
    fd = open(cl->m[i].log_path, O_RDONLY | O_CLOEXEC);
    fflush(stdout);
    fprintf(stderr, "---- etcdt: tail of %s ----\n", cl->m[i].log_path);
    if (fd < 0) {
        fprintf(stderr, "(cannot open: %s)\n", strerror(errno));
        return;
    }
    if (fstat(fd, &st) == 0 && st.st_size > (off_t)maxbytes) start = st.st_size - (off_t)maxbytes;
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
ETCDT_FN int etcdt__member_launch(etcdt_cluster *cl, int i, const char *state) {
    static const char *const drop[] = {"ETCD_DATA_DIR",   "ETCD_NAME",     "ETCD_LISTEN_",
                                       "ETCD_ADVERTISE_", "ETCD_INITIAL_", NULL};
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
    snprintf(a_adv_client, sizeof a_adv_client, "http://127.0.0.1:%d", m->client_port);
    snprintf(a_peer, sizeof a_peer, "http://127.0.0.1:%d", m->peer_port);
    snprintf(a_adv_peer, sizeof a_adv_peer, "http://127.0.0.1:%d", m->peer_port);
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
    for (j = 0; cl->extra && cl->extra[j] && k < 63; j++) argv[k++] = cl->extra[j];
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
ETCDT_FN int etcdt__member_alive(etcdt_cluster *cl, int i) {
    pid_t pid = cl->m[i].pid;
    int st;
    if (pid <= 0) return 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
        cl->m[i].pid = 0;
        return 0;
    }
    return 1;
}

/* pid of the member, 0 if not running (reaps it if it exited). */
ETCDT_FN pid_t etcdt_member_pid(etcdt_cluster *cl, int i) {
    if (i < 0 || i >= cl->n || !etcdt__member_alive(cl, i)) return 0;
    return cl->m[i].pid;
}

/* 1 if member i answers a linearizable range request with 200. */
ETCDT_FN int etcdt_member_ready(etcdt_cluster *cl, int i, int timeout_ms) {
    if (i < 0 || i >= cl->n) return 0;
    return etcdt_http_post(cl->m[i].client_port, "/v3/kv/range", "{\"key\":\"AA==\"}", NULL, 0,
                           timeout_ms) == 200;
}

/* Wait until member i answers.  Returns 0, -1 on timeout, -2 if the
 * process exited. */
ETCDT_FN int etcdt_member_wait_ready(etcdt_cluster *cl, int i, int timeout_ms) {
    int64_t deadline = etcdt_now_ms() + timeout_ms;
    for (;;) {
        int left;
        if (!etcdt__member_alive(cl, i)) return -2;
        left = etcdt__left(deadline);
        if (etcdt_member_ready(cl, i, left < 1000 ? left : 1000)) return 0;
        if (etcdt_now_ms() >= deadline) return -1;
        etcdt_sleep_ms(50);
    }
}

ETCDT_FN void etcdt__cluster_free(etcdt_cluster *cl) {
    int i;
    for (i = 0; i < cl->n; i++) {
        pid_t pid = cl->m[i].pid;
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            cl->m[i].pid = 0;
        }
    }
    if (cl->dir[0]) etcdt__rm_rf(cl->dir);
    free(cl->initial_cluster);
    free(cl->endpoints);
    free(cl->extra_buf);
    free(cl->extra);
    free(cl);
}

/* One attempt.  *early_exit is set if a member died during startup (e.g.
 * lost a port race), which is worth a retry. */
ETCDT_FN etcdt_cluster *etcdt__cluster_try(int members, const char *extra_args, int *early_exit) {
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
             getenv("ETCDT_DATA_DIR") && *getenv("ETCDT_DATA_DIR") ? getenv("ETCDT_DATA_DIR")
                                                                   : "/tmp");
    if (!mkdtemp(cl->dir)) {
        fprintf(stderr, "etcdt: mkdtemp: %s\n", strerror(errno));
        cl->dir[0] = 0;
        etcdt__cluster_free(cl);
        return NULL;
    }
    pthread_mutex_lock(&etcdt__mu);
    snprintf(cl->token, sizeof cl->token, "etcdt-%ld-%d", (long)getpid(), etcdt__token_counter++);
    pthread_mutex_unlock(&etcdt__mu);

    /* extra args: tokenise a private copy on whitespace */
    if (extra_args) {
        char *p;
        int cnt = 0;
        cl->extra_buf = etcdt__xstrdup(extra_args);
        cl->extra = (char **)etcdt__xmalloc((strlen(extra_args) / 2 + 2) * sizeof(char *));
        p = cl->extra_buf;
        for (;;) {
            while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') *p++ = 0;
            if (!*p) break;
            cl->extra[cnt++] = p;
            while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
        }
        cl->extra[cnt] = NULL;
    }

    /* Ports: hold all sockets open while choosing so they are distinct. */
    for (i = 0; i < members; i++) {
        fds[nfds] = etcdt__bind_any(&cl->m[i].client_port);
        if (fds[nfds++] < 0) ok = 0;
        fds[nfds] = etcdt__bind_any(&cl->m[i].peer_port);
        if (fds[nfds++] < 0) ok = 0;
    }
    for (i = 0; i < nfds; i++)
        if (fds[i] >= 0) close(fds[i]);
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
        snprintf(m->endpoint, sizeof m->endpoint, "127.0.0.1:%d", m->client_port);
        snprintf(m->data_dir, sizeof m->data_dir, "%s/m%d.etcd", dir, i);
        snprintf(m->log_path, sizeof m->log_path, "%s/m%d.log", dir, i);
        l = strlen(cl->initial_cluster);
        snprintf(cl->initial_cluster + l, icap - l, "%s%s=http://127.0.0.1:%d", i ? "," : "",
                 m->name, m->peer_port);
        l = strlen(cl->endpoints);
        snprintf(cl->endpoints + l, ecap - l, "%s%s", i ? "," : "", m->endpoint);
    }

    /* Register before spawning so the safety net covers the members. */
    etcdt__net_add(&etcdt__clusters, &cl->net);
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
                if (ready[i]) continue;
                if (!etcdt__member_alive(cl, i)) {
                    fprintf(stderr, "etcdt: member %s exited during startup\n", cl->m[i].name);
                    *early_exit = 1;
                    ok = 0;
                    break;
                }
                if (etcdt_member_ready(cl, i, 1000)) {
                    ready[i] = 1;
                    nready++;
                }
            }
            if (!ok || nready == members) break;
            if (etcdt_now_ms() >= deadline) {
                fprintf(stderr, "etcdt: cluster of %d not ready within 20 s\n", members);
                ok = 0;
                break;
            }
            etcdt_sleep_ms(50);
        }
    }
    if (!ok) {
        for (i = 0; i < members; i++)
            if (cl->m[i].pid > 0) kill(cl->m[i].pid, SIGKILL);
        for (i = 0; i < members; i++)
            if (cl->m[i].pid > 0) {
                waitpid(cl->m[i].pid, NULL, 0);
                cl->m[i].pid = 0;
            }
        for (i = 0; i < members; i++) etcdt_member_log_tail(cl, i, 3000);
        etcdt__net_remove(&etcdt__clusters, &cl->net);
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
ETCDT_FN etcdt_cluster *etcdt_cluster_start(int members, const char *extra_args) {
    int attempt;
    if (members < 1 || members > ETCDT_MAX_MEMBERS) {
        fprintf(stderr, "etcdt: bad member count %d\n", members);
        return NULL;
    }
    for (attempt = 1; attempt <= 3; attempt++) {
        int early = 0;
        etcdt_cluster *cl = etcdt__cluster_try(members, extra_args, &early);
        if (cl) return cl;
        if (!early) break;
        fprintf(stderr, "etcdt: retrying cluster start (attempt %d)\n", attempt + 1);
    }
    return NULL;
}

/* Send sig to member i.  For SIGKILL and SIGTERM wait for it to exit
 * (SIGTERM: escalate to SIGKILL after 10 s).  Returns 0, or -1 if the
 * member was not running. */
ETCDT_FN int etcdt_member_kill(etcdt_cluster *cl, int i, int sig) {
    pid_t pid;
    if (i < 0 || i >= cl->n) return -1;
    pid = cl->m[i].pid;
    if (pid <= 0) return -1;
    if (kill(pid, sig) != 0) return -1;
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
ETCDT_FN int etcdt_member_start_nowait(etcdt_cluster *cl, int i) {
    if (i < 0 || i >= cl->n) return -1;
    if (cl->m[i].pid > 0) etcdt_member_kill(cl, i, SIGKILL);
    return etcdt__member_launch(cl, i, "existing");
}

/* Restart member i and wait (20 s) until it answers.  Returns 0 or -1
 * (log tail printed). */
ETCDT_FN int etcdt_member_restart(etcdt_cluster *cl, int i) {
    int r;
    if (etcdt_member_start_nowait(cl, i) != 0) return -1;
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
ETCDT_FN void etcdt_cluster_stop(etcdt_cluster *cl) {
    if (!cl) return;
    etcdt__net_remove(&etcdt__clusters, &cl->net);
    etcdt__cluster_free(cl);
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
ETCDT_FN int etcdt_etcdctlv(etcdt_cluster *cl, char *out, size_t outcap, int timeout_ms,
                            char *const argv[]) {
    static const char *const drop[] = {"ETCDCTL_", NULL};
    char epflag[1024];
    char **full;
    size_t n = 0, i, k = 0;
    etcdt_proc *p;
    int st;

    if (out && outcap) out[0] = 0;
    while (argv && argv[n]) n++;
    full = (char **)etcdt__xmalloc((n + 3) * sizeof *full);
    full[k++] = (char *)"etcdctl";
    if (cl) {
        snprintf(epflag, sizeof epflag, "--endpoints=%s", cl->endpoints);
        full[k++] = epflag;
    }
    for (i = 0; i < n; i++) full[k++] = argv[i];
    full[k] = NULL;
    p = etcdt__spawn(full, NULL, drop, 1);
    free(full);
    if (!p) return -1;
    st = etcdt_proc_wait(p, timeout_ms);
    if (st < 0)
        fprintf(stderr, "etcdt: etcdctl %s timed out after %d ms\n", n ? argv[0] : "", timeout_ms);
    etcdt__proc_drain(p);
    if (out && outcap) {
        size_t c = p->out_len < outcap - 1 ? p->out_len : outcap - 1;
        if (c) memcpy(out, p->out, c);
        out[c] = 0;
    }
    etcdt_proc_free(p);
    return st;
}

/* Variadic form: etcdt_etcdctl(cl, out, cap, ms, "put", "k", "v", NULL). */
ETCDT_FN int etcdt_etcdctl(etcdt_cluster *cl, char *out, size_t outcap, int timeout_ms,
                           const char *arg0, ...) {
    const char *args[64];
    int n = 0, r;
    va_list ap;
    if (arg0) {
        args[n++] = arg0;
        va_start(ap, arg0);
        while (n < 63) {
            const char *a = va_arg(ap, const char *);
            if (!a) break;
            args[n++] = a;
        }
        va_end(ap);
    }
    args[n] = NULL;
    r = etcdt_etcdctlv(cl, out, outcap, timeout_ms, (char *const *)args);
    return r;
}

/* Keys under NAME/ on `endpoints` (etcdctl get --prefix --keys-only), or -1
 * if etcdctl failed. */
ETCDT_FN int etcdt_count_keys(const char *endpoints, const char *name) {
    char epflag[1024], pfx[512], out[16384];
    const char *s;
    int n = 0;
    snprintf(epflag, sizeof epflag, "--endpoints=%s", endpoints);
    snprintf(pfx, sizeof pfx, "%s/", name);
    if (etcdt_etcdctl(NULL, out, sizeof out, 10000, epflag, "get", "--prefix", "--keys-only", pfx,
                      NULL) != 0)
        return -1;
    for (s = out; *s; s++)
        if (*s != '\n' && (s == out || s[-1] == '\n')) n++;
    return n;
}

/* Waits until NAME/ on `endpoints` holds n keys (a candidate queued, or its
 * key deleted): 1 if it did within timeout_ms. */
ETCDT_FN int etcdt_wait_keys(const char *endpoints, const char *name, int n, int timeout_ms) {
    int64_t end = etcdt_now_ms() + timeout_ms;
    for (;;) {
        if (etcdt_count_keys(endpoints, name) == n) return 1;
        if (etcdt_now_ms() >= end) return 0;
        etcdt_sleep_ms(50);
    }
}

/* The sum of a Prometheus counter family on member i's /metrics, or -1; with
 * skip_keepalive, leaving out the LeaseKeepAlive series. */
ETCDT_FN long long etcdt_metric_sum(etcdt_cluster *cl, int i, const char *family,
                                    int skip_keepalive) {
    static char buf[1 << 20];
    const char *req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    int fd = etcdt_connect_loopback(etcdt_member_client_port(cl, i), 5000), n;
    size_t got = 0, fl = strlen(family);
    long long sum = 0;
    char *line, *save = NULL;
    if (fd < 0) return -1;
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        return -1;
    }
    while (got + 1 < sizeof buf && (n = (int)read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = 0;
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp;
        if (strncmp(line, family, fl) != 0 || line[fl] != '{') continue;
        if (skip_keepalive && strstr(line, "LeaseKeepAlive")) continue;
        sp = strrchr(line, ' ');
        if (sp) sum += atoll(sp + 1);
    }
    return sum;
}

/* A gauge without labels ("NAME VALUE") on member i's /metrics, or -1. */
ETCDT_FN long long etcdt_metric_gauge(etcdt_cluster *cl, int i, const char *name) {
    static char buf[1 << 20];
    const char *req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    int fd = etcdt_connect_loopback(etcdt_member_client_port(cl, i), 5000), n;
    size_t got = 0, nl = strlen(name);
    char *line, *save = NULL;
    if (fd < 0) return -1;
    if (write(fd, req, strlen(req)) == (ssize_t)strlen(req))
        while (got + 1 < sizeof buf && (n = (int)read(fd, buf + got, sizeof buf - 1 - got)) > 0)
            got += (size_t)n;
    close(fd);
    buf[got] = 0;
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, name, nl) == 0 && line[nl] == ' ') return atoll(line + nl + 1);
    return -1;
}

/* gRPC messages member i received, keepalives apart: requests, in the gateway's terms. */
ETCDT_FN long long etcdt_requests(etcdt_cluster *cl, int i) {
    return etcdt_metric_sum(cl, i, "grpc_server_msg_received_total", 1);
}

#endif /* ETCDT_ETCD_H */
