/* make soak SECONDS=N SEED=S: the nemesis soak. A 3-member etcd on loopback; clients of three
   kinds, each behind a fault proxy of its own to every member; a random, seeded schedule of
   faults; then a checker that reads every client's history and etcd's own.

   Clients (processes, so that they can be killed and stopped):
     cli     etcd-elect elect soak-el cN -- soak --child: the child records its start and an
             "act" every 20 ms while it runs, and ends on its own after a while;
     writer  an in-process candidate in soak-el that, while leading, writes the register
             soak-reg through etcde_election_put (fenced) every 50 ms, and resigns after a while;
     locker  etcde_lock on soak-lock; while holding, fenced writes to soak-lreg; then unlock.
   Each writes its history to its own file, one line per event, on one CLOCK_MONOTONIC.

   Faults, one at a time, each healed before the next: kill -9 of a client (the CLI alone);
   SIGSTOP of a client's process tree past its TTL; a client cut off both ways, one way, or
   with replies delayed past its TTL; a member killed, paused; the raft leader killed.

   The checker fails on: acts of two terms of one group overlapping in time (a paused
   process's acts after its SIGCONT are a resume window, measured apart); a term acting, or
   starting, after etcd deleted its key; a fenced write that etcd accepted while the
   writer's key was gone, or whose token is lower than an earlier one; no leader within
   TTL + 2 s after a fault heals; a call that outlives its timeout by 2 s; a client whose
   descriptors or threads grow. It prints the faults, the violations (target 0), the longest
   resume window, the time without a leader by fault kind, and the seed. */
#include "etcdt_test.h"
#include "etcdt_proc.h"
#include "etcdt_etcd.h"
#include "etcdt_proxy.h"
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- histories ---------------------------------------------------------------------- */

static int hist_fd = -1;

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One event: "<t_us> <text>\n" in one write, so concurrent writers never interleave. */
static void hist(const char *fmt, ...) ETCDT_PRINTF(1, 2);
static void hist(const char *fmt, ...) {
    char line[1024];
    int n = snprintf(line, sizeof line, "%lld ", (long long)now_us());
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    if (write(hist_fd, line, (size_t)n) != n) _exit(3);
}

static int hist_open(const char *path) {
    hist_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return hist_fd < 0 ? -1 : 0;
}

/* ---- the CLI's child ---------------------------------------------------------------- */

static volatile sig_atomic_t child_stop;
static void on_term(int sig) {
    (void)sig;
    child_stop = 1;
}

/* soak --child HIST LIFE_MS */
static int run_child(char **argv) {
    const char *rev = getenv("ETCD_ELECT_REV"), *key = getenv("ETCD_ELECT_KEY");
    int64_t end = now_us() + atoll(argv[1]) * 1000;
    if (hist_open(argv[0]) != 0 || !rev || !key) return 2;
    signal(SIGTERM, on_term);
    hist("start %s %s %d", rev, key, (int)getpid());
    while (!child_stop && now_us() < end) {
        hist("act %s", rev);
        etcdt_sleep_ms(20);
    }
    hist("stop %s", rev);
    return 0;
}

/* ---- writers and lockers ------------------------------------------------------------ */

/* Threads, the least of three looks 10 ms apart: pthread_join returns when the kernel
   clears the thread's id, a moment before /proc stops counting the thread. */
static int settled_threads(void) {
    int i, n = etcdt_threads(), m;
    for (i = 0; i < 2; i++) {
        etcdt_sleep_ms(10);
        if ((m = etcdt_threads()) < n) n = m;
    }
    return n;
}

/* A blocking call's record: name, duration, its timeout, result. */
static void hist_call(const char *name, int64_t t0, int timeout_ms, etcde_result r) {
    hist("call %s %lld %d %s", name, (long long)((now_us() - t0) / 1000), timeout_ms,
         etcde_strerror(r));
}

/* soak --client KIND ID ENDPOINTS HIST TTL SEED, KIND writer or locker. Runs until killed. */
static int run_client(char **argv) {
    int locker = !strcmp(argv[0], "locker"), ttl = atoi(argv[4]);
    unsigned seed = (unsigned)atoi(argv[5]);
    const char *reg = locker ? "soak-lreg" : "soak-reg";
    char value[32];
    if (hist_open(argv[3]) != 0) return 2;
    snprintf(value, sizeof value, "%c%s", locker ? 'l' : 'w', argv[1]);
    hist("boot %d", (int)getpid());
    for (;;) {
        etcde_options o;
        etcde_session_options so;
        etcde_client *c = NULL;
        etcde_session *s = NULL;
        etcde_election *e = NULL;
        etcde_result r;
        int64_t t0;
        memset(&o, 0, sizeof o);
        memset(&so, 0, sizeof so);
        o.endpoints = argv[2];
        o.dial_timeout_ms = 1000;
        o.request_timeout_ms = 2000;
        so.ttl_s = ttl;
        if (etcde_client_create(&o, &c) != ETCDE_OK) return 2;
        t0 = now_us();
        r = etcde_session_create(c, &so, &s);
        hist_call("session", t0, 2 * (o.dial_timeout_ms + o.request_timeout_ms), r);
        if (r == ETCDE_OK && etcde_election_create(c, s, locker ? "soak-lock" : "soak-el", &e))
            r = ETCDE_ERR_NOMEM;
        if (r == ETCDE_OK) {
            t0 = now_us();
            r = locker ? etcde_lock(e, 10000) : etcde_campaign(e, value, strlen(value), 10000);
            hist_call(locker ? "lock" : "campaign", t0, 10000, r);
        }
        if (r == ETCDE_OK) {
            int64_t rev = etcde_election_rev(e), until;
            int seq = 0;
            /* a writer's term: 0.3 to 2 TTLs, so that some outlive their lease's TTL */
            until = now_us() +
                    (locker ? 100 + (int64_t)(rand_r(&seed) % 500)
                            : ttl * 300 + (int64_t)(rand_r(&seed) % (unsigned)(ttl * 1700))) *
                        1000;
            hist("lead %lld %s", (long long)rev, etcde_election_key(e));
            while (etcde_is_leader(e) && now_us() < until) {
                char v[256];
                hist("act %lld", (long long)rev);
                snprintf(v, sizeof v, "%lld %s %d", (long long)rev, etcde_election_key(e), ++seq);
                t0 = now_us();
                r = etcde_election_put(e, reg, v, strlen(v));
                hist("put %lld %d %lld %s", (long long)rev, seq,
                     (long long)((now_us() - t0) / 1000), etcde_strerror(r));
                etcdt_sleep_ms(locker ? 30 : 50);
            }
            hist("end %lld %s", (long long)rev, etcde_is_leader(e) ? "release" : "lost");
            if (etcde_is_leader(e)) {
                t0 = now_us();
                r = etcde_resign(e);
                hist_call(locker ? "unlock" : "resign", t0, o.request_timeout_ms, r);
            }
        } else {
            etcdt_sleep_ms(100 + (int)(rand_r(&seed) % 300));
        }
        etcde_election_destroy(e);
        etcde_session_destroy(s);
        etcde_client_destroy(c);
        hist("res %d %d", etcdt_open_fds(), settled_threads());
    }
}

/* ---- the soak ----------------------------------------------------------------------- */

enum { CLI, WRITER, LOCKER };
static const char *const kind_names[] = {"cli", "writer", "locker"};

typedef struct client {
    int kind, id;
    etcdt_proxy px[3]; /* one per member */
    char endpoints[256], hist[512], value[16];
    etcdt_proc *p;
    int down; /* killed by the nemesis: restarted when the fault heals */
} client;

#define NCLIENTS 8
static client cls[NCLIENTS];
static etcdt_cluster *cl;
static char self[4096], cli_path[4096], dir[400];
static int ttl = 3;
static unsigned nem_seed;

static int rnd(int lo, int hi) { return lo + (int)(rand_r(&nem_seed) % (unsigned)(hi - lo + 1)); }

static void client_spawn(client *k) {
    char ttls[16], seeds[16], ids[16], life[16], epf[300], ttlf[32];
    snprintf(ttls, sizeof ttls, "%d", ttl);
    snprintf(seeds, sizeof seeds, "%d", rnd(1, 1 << 30));
    snprintf(ids, sizeof ids, "%d", k->id);
    if (k->kind == CLI) {
        char *argv[16];
        int n = 0;
        snprintf(epf, sizeof epf, "--endpoints=%s", k->endpoints);
        snprintf(ttlf, sizeof ttlf, "--ttl=%d", ttl);
        snprintf(life, sizeof life, "%d", rnd(ttl * 300, ttl * 2000)); /* some outlive a TTL */
        argv[n++] = cli_path;
        argv[n++] = epf;
        argv[n++] = ttlf;
        argv[n++] = (char *)"--dial-timeout=1s";
        argv[n++] = (char *)"--command-timeout=2s";
        argv[n++] = (char *)"elect";
        argv[n++] = (char *)"soak-el";
        argv[n++] = k->value;
        argv[n++] = (char *)"--";
        argv[n++] = self;
        argv[n++] = (char *)"--child";
        argv[n++] = k->hist;
        argv[n++] = life;
        argv[n] = NULL;
        k->p = etcdt_spawn(argv, NULL);
    } else {
        char *argv[] = {self,
                        (char *)"--client",
                        (char *)kind_names[k->kind],
                        ids,
                        k->endpoints,
                        k->hist,
                        ttls,
                        seeds,
                        NULL};
        k->p = etcdt_spawn(argv, NULL);
    }
}

/* Restarts the clients that exited on their own (a CLI after its child ended or after a
   loss), keeps the pipes of the others drained. */
static void tend(void) {
    int i;
    for (i = 0; i < NCLIENTS; i++) {
        client *k = &cls[i];
        if (k->down) continue;
        if (k->p && etcdt_proc_running(k->p)) {
            etcdt__proc_drain(k->p);
            continue;
        }
        etcdt_proc_free(k->p);
        client_spawn(k);
    }
}

static void idle_ms(int ms) {
    int64_t end = etcdt_now_ms() + ms;
    while (etcdt_now_ms() < end) {
        tend();
        etcdt_sleep_ms(50);
    }
}

/* Signals a client's process and, for a CLI, its child's and guard's process groups. */
static void tree_signal(client *k, int sig) {
    DIR *d;
    struct dirent *de;
    pid_t pid = etcdt_proc_pid(k->p);
    kill(-pid, sig);
    if (!(d = opendir("/proc"))) return;
    while ((de = readdir(d)) != NULL) {
        char path[300], buf[512], *rp;
        FILE *f;
        int ppid = 0;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || !(f = fopen(path, "r"))) continue;
        if (fgets(buf, sizeof buf, f) && (rp = strrchr(buf, ')')) != NULL)
            sscanf(rp + 2, "%*c %d", &ppid);
        fclose(f);
        if (ppid == pid) kill(-getpgid(atoi(de->d_name)), sig);
    }
    closedir(d);
}

static void proxies_set(client *k, int mode, int delay_ms) {
    int m;
    for (m = 0; m < 3; m++) etcdt_proxy_set(&k->px[m], mode, delay_ms);
}

/* The raft leader's index, or -1. */
static int raft_leader(void) {
    int m;
    for (m = 0; m < 3; m++)
        if (etcdt_member_pid(cl, m) > 0 && etcdt_metric_gauge(cl, m, "etcd_server_is_leader") == 1)
            return m;
    return -1;
}

/* The nemesis log, read by the checker: "<t> fault KIND TARGET", "<t> cont CLIENT",
   "<t> heal KIND". */
static FILE *nem;

static void nem_log(const char *fmt, ...) ETCDT_PRINTF(1, 2);
static void nem_log(const char *fmt, ...) {
    va_list ap;
    fprintf(nem, "%lld ", (long long)now_us());
    va_start(ap, fmt);
    vfprintf(nem, fmt, ap);
    va_end(ap);
    fputc('\n', nem);
    fflush(nem);
}

#define NKINDS 10
static const char *const fault_names[NKINDS] = {
    "kill",  "pause",       "cut",          "cut-up",      "cut-down",
    "delay", "member-kill", "member-pause", "leader-kill", "delay-cut"};

/* The client that leads the election now (its value is "cN" or "wN"), or -1. */
static int election_leader(void) {
    char out[256];
    if (etcdt_etcdctl(cl, out, sizeof out, 5000, "get", "--prefix", "--sort-by=CREATE",
                      "--order=ASCEND", "--limit=1", "--print-value-only", "soak-el/", NULL) != 0 ||
        (out[0] != 'c' && out[0] != 'w'))
        return -1;
    return atoi(out + 1);
}

static int aim; /* --only: every client fault hits the election's leader */

/* One fault: inject, hold, heal. A client fault hits the election's leader half the time. */
static void fault(int f) {
    int ci = rnd(0, NCLIENTS - 1), m = rnd(0, 2);
    int lead = rnd(0, 1) || aim ? election_leader() : -1;
    client *k;
    if (lead >= 0 && lead < NCLIENTS) ci = lead;
    k = &cls[ci];
    switch (f) {
    case 0: /* kill -9 of the client process alone */
        nem_log("fault kill c%d", ci);
        if (k->p) etcdt_proc_signal(k->p, SIGKILL);
        k->down = 1;
        idle_ms(rnd(0, ttl * 1000));
        k->down = 0;
        break;
    case 1: /* the whole tree stopped past the TTL */
        nem_log("fault pause c%d", ci);
        if (k->p) tree_signal(k, SIGSTOP);
        k->down = 1;
        idle_ms(ttl * 1000 + rnd(500, ttl * 1000));
        nem_log("cont c%d", ci);
        if (k->p) tree_signal(k, SIGCONT);
        k->down = 0;
        break;
    case 2:
    case 3:
    case 4:
    case 5: {
        static const int modes[4] = {ETCDT_PX_CUT, ETCDT_PX_CUT_UP, ETCDT_PX_CUT_DOWN,
                                     ETCDT_PX_DELAY};
        nem_log("fault %s c%d", fault_names[f], ci);
        proxies_set(k, modes[f - 2], ttl * 1000 + 1000);
        idle_ms(ttl * 1000 + rnd(0, ttl * 1000));
        proxies_set(k, ETCDT_PX_PASS, 0);
        break;
    }
    case 6:
    case 8:
        if (f == 8 && (m = raft_leader()) < 0) m = 0;
        nem_log("fault %s m%d", fault_names[f], m);
        etcdt_member_kill(cl, m, SIGKILL);
        idle_ms(rnd(1000, 4000));
        if (etcdt_member_restart(cl, m) != 0) nem_log("restart-failed m%d", m);
        break;
    case 7:
        /* not the raft leader: etcd before 3.4.28 and 3.5.11 lets a paused leader, resumed,
           revoke leases that its successor kept alive (etcd-io/etcd#15247) -- a server bug
           no client deadline can cover; leader-kill covers the leader */
        if (m == raft_leader()) m = (m + 1) % 3;
        nem_log("fault member-pause m%d", m);
        etcdt_member_kill(cl, m, SIGSTOP);
        idle_ms(rnd(1000, 4000));
        etcdt_member_kill(cl, m, SIGCONT);
        break;
    case 9:
        /* replies late by more than the guard (TTL/10) but less than a keepalive's try
           (TTL/6), so they count: a deadline taken from the reply would run past etcd's;
           then a cut, so that it matters */
        nem_log("fault delay-cut c%d", ci);
        proxies_set(k, ETCDT_PX_DELAY, ttl * 140);
        idle_ms(ttl * 1000);
        proxies_set(k, ETCDT_PX_CUT, 0);
        idle_ms(ttl * 1000 + rnd(500, ttl * 1000));
        proxies_set(k, ETCDT_PX_PASS, 0);
        break;
    }
    nem_log("heal %s", fault_names[f]);
}

/* etcd's history of soak-*, live: each response of `etcdctl watch` with the time it came. */
typedef struct watcher {
    etcdt_proc *p;
    FILE *out;
    char epflag[512];
    long long next_rev; /* where a new etcdctl watch starts: after the last event seen */
    int stop;           /* atomic */
    int seen_end;       /* atomic: the marker put at the end has come through */
    pthread_t th;
} watcher;

static etcdt_proc *watch_spawn(watcher *w) {
    char rev[48];
    char *argv[] = {(char *)"etcdctl",
                    w->epflag,
                    (char *)"watch",
                    (char *)"--prefix",
                    rev,
                    (char *)"-w",
                    (char *)"json",
                    (char *)"soak",
                    NULL};
    snprintf(rev, sizeof rev, "--rev=%lld", w->next_rev);
    return etcdt_spawn(argv, NULL);
}

/* A watch that a member's death cancels, or whose etcdctl exits, starts again after the
   last event it delivered. */
static void *watch_main(void *arg) {
    watcher *w = (watcher *)arg;
    static char line[1 << 20];
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        int r = w->p ? etcdt_proc_readline(w->p, line, sizeof line, 200) : 0;
        const char *m;
        if (r < 0) continue;
        if (r == 0 || strstr(line, "\"Canceled\":true")) {
            etcdt_proc_free(w->p);
            etcdt_sleep_ms(200);
            w->p = watch_spawn(w);
            continue;
        }
        for (m = line; (m = strstr(m, "\"mod_revision\":")) != NULL; m++)
            if (atoll(m + 15) >= w->next_rev) w->next_rev = atoll(m + 15) + 1;
        fprintf(w->out, "%lld %s\n", (long long)now_us(), line);
        fflush(w->out);
        if (strstr(line, "c29hay1lbmQ=")) /* "soak-end" */
            __atomic_store_n(&w->seen_end, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* ---- the checker -------------------------------------------------------------------- */

#include "soak_check.h"

/* ---- main --------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    int seconds = 120, i, m, nfault[NKINDS] = {0}, only = -1;
    unsigned seed = (unsigned)time(NULL);
    char path[600], out[256];
    watcher w;
    int64_t end;
    if (argc > 1 && !strcmp(argv[1], "--child")) return run_child(argv + 2);
    if (argc > 1 && !strcmp(argv[1], "--client")) return run_client(argv + 2);
    if (argc == 4 && !strcmp(argv[1], "--check")) /* the checker alone, on kept histories */
        return soak_check(argv[2], atoi(argv[3]), 1) ? 1 : 0;
    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds"))
            seconds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed"))
            seed = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--ttl"))
            ttl = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--only")) /* one kind of fault, aimed at the leader */
            for (only = 0, aim = 1; only < NKINDS && strcmp(fault_names[only], argv[i + 1]);
                 only++) {}
        else
            break;
    }
    if (i < argc || seconds < 10 || ttl < 2 || only == NKINDS) {
        fprintf(stderr, "usage: soak [--seconds N>=10] [--seed S] [--ttl T>=2] [--only KIND]\n");
        return 2;
    }
    nem_seed = seed;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    printf("soak: seed %u, %d s, TTL %d s (replay: make soak SECONDS=%d SEED=%u)\n", seed, seconds,
           ttl, seconds, seed);
    snprintf(self, sizeof self, "%s", etcdt_self_path());
    snprintf(cli_path, sizeof cli_path, "%s", self);
    *strrchr(cli_path, '/') = 0;
    strcat(cli_path, "/../etcd-elect"); /* build/tests/soak -> build/etcd-elect */
    snprintf(dir, sizeof dir, "%s/soak-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (access(cli_path, X_OK) != 0 || !mkdtemp(dir)) {
        fprintf(stderr, "soak: %s not built, or no temp dir\n0 passed, 1 failed\n", cli_path);
        return 1;
    }
    cl = etcdt_cluster_start(3, NULL);
    if (!cl) {
        fprintf(stderr, "soak: could not start a 3-member etcd\n0 passed, 1 failed\n");
        return 1;
    }
    snprintf(path, sizeof path, "%s/nemesis", dir);
    nem = fopen(path, "w");
    for (i = 0; i < NCLIENTS; i++) {
        client *k = &cls[i];
        size_t at = 0;
        k->kind = i < 3 ? CLI : i < 6 ? WRITER : LOCKER;
        k->id = i;
        snprintf(k->value, sizeof k->value, "c%d", i);
        snprintf(k->hist, sizeof k->hist, "%s/c%d", dir, i);
        for (m = 0; m < 3; m++) {
            if (etcdt_proxy_start(&k->px[m], etcdt_member_client_port(cl, m)) != 0) {
                fprintf(stderr, "soak: proxy\n0 passed, 1 failed\n");
                return 1;
            }
            at += (size_t)snprintf(k->endpoints + at, sizeof k->endpoints - at, "%s127.0.0.1:%d",
                                   m ? "," : "", k->px[m].port);
        }
    }
    memset(&w, 0, sizeof w);
    snprintf(path, sizeof path, "%s/etcd", dir);
    w.out = fopen(path, "w");
    snprintf(w.epflag, sizeof w.epflag, "--endpoints=%s", etcdt_endpoints(cl));
    w.next_rev = 1;
    w.p = watch_spawn(&w);
    if (!nem || !w.out || !w.p) {
        fprintf(stderr, "soak: setup\n0 passed, 1 failed\n");
        return 1;
    }
    pthread_create(&w.th, NULL, watch_main, &w);
    tend();
    end = etcdt_now_ms() + (int64_t)seconds * 1000;
    idle_ms(ttl * 1000 + 2000); /* the first leaders */
    while (etcdt_now_ms() + 2 * ttl * 1000 + 6000 < end) {
        int f = only >= 0 ? only : rnd(0, NKINDS - 1);
        nfault[f]++;
        fault(f);
        idle_ms(ttl * 1000 + 2500 + rnd(0, 1500)); /* quiet: a leader must appear */
    }
    while (etcdt_now_ms() < end) idle_ms(100);
    /* the end: a marker through etcd, so the watcher has seen everything before it */
    etcdt_etcdctl(cl, out, sizeof out, 10000, "put", "soak-end", "x", NULL);
    for (i = 0; i < 100 && !__atomic_load_n(&w.seen_end, __ATOMIC_ACQUIRE); i++)
        etcdt_sleep_ms(100);
    for (i = 0; i < NCLIENTS; i++) {
        if (cls[i].p) tree_signal(&cls[i], SIGKILL);
        etcdt_proc_free(cls[i].p);
        for (m = 0; m < 3; m++) etcdt_proxy_stop(&cls[i].px[m]);
    }
    __atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
    pthread_join(w.th, NULL);
    etcdt_proc_free(w.p);
    fclose(w.out);
    fclose(nem);
    etcdt_cluster_stop(cl);
    printf("faults injected:");
    for (i = 0; i < NKINDS; i++) printf(" %s %d", fault_names[i], nfault[i]);
    printf("\n");
    return soak_check(dir, ttl, w.seen_end) ? 1 : 0;
}
