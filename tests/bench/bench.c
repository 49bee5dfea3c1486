/* make bench: etcd-elect against etcdctl on one private etcd, in one run, as ratios
   (ours / etcdctl), so the figures hold on a noisy machine.

   handover       SIGINT to the leader (it resigns) -> the queued candidate prints its key
   time to leader exec -> "KEY" printed, uncontended
   footprint      executable size (stripped), peak RSS while leading, CPU burnt while
                  idle as leader (TTL 60) over IDLE_S seconds
   scale          N of our CLI candidates queued on one election: handover latency and
                  etcd requests per handover (from etcd's /metrics) as N grows
   semaphore      lock -n 3 with 10 and 100 waiters: the same two figures; the requests
                  per handover stay flat, as each waiter watches only the 3 keys ahead
   requests       etcd requests (gRPC messages received, from /metrics) per operation
   in process     etcd_elect.h in one process (build/bench/inproc) against Go's
                  client/v3/concurrency (build/bench/gobench, tests/bench/gobench), run
                  alternately: handover, uncontended campaign, lock/unlock with 8
                  contenders; and N elections on one session behind leaders this program
                  holds (N = 1, 100, 1000, 10000): time until all are queued and all
                  elected, connections, threads, RSS, CPU while waiting, and what etcd
                  spends (goroutines, RSS, requests per handover)

   Usage: bench [--quick] [--handover] [--inproc] [--sizes N,N,...]
   (--quick: fewer runs, for a smoke test; --handover: the handover figure alone;
   --inproc: the in-process figures alone; --sizes: the scale sizes) */
#include "../etcdt_test.h"
#include "../etcdt_proc.h"
#include "../etcdt_etcd.h"
#include "../etcdt_http.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/stat.h>

static etcdt_cluster *cl;
static char cli[4096], epflag[512];
static const char *etcdctl_path;
static int runs = 30, idle_s = 30, quick, only_handover, only_inproc;

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(int64_t *v, int n, double p) {
    int i;
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    i = (int)(p * (n - 1) + 0.5);
    return (double)v[i];
}

/* Microseconds, for latencies in the millisecond range. */
static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* argv for "elect NAME VALUE" with our CLI (ours=1) or etcdctl (ours=0). */
static etcdt_proc *spawn_elect(int ours, const char *name, const char *value, const char *ttl) {
    char *argv[10];
    char ttlflag[32];
    int n = 0;
    argv[n++] = ours ? cli : (char *)"etcdctl";
    argv[n++] = epflag;
    if (ours && ttl) {
        snprintf(ttlflag, sizeof ttlflag, "--ttl=%s", ttl);
        argv[n++] = ttlflag;
    }
    argv[n++] = (char *)"elect";
    argv[n++] = (char *)name;
    argv[n++] = (char *)value;
    argv[n] = NULL;
    return etcdt_spawn(argv, NULL);
}

static void stop(etcdt_proc *p) {
    if (!p) return;
    etcdt_proc_signal(p, SIGINT);
    etcdt_proc_wait(p, 5000);
    etcdt_proc_free(p);
}

/* ---- /metrics ---- */

/* A TCP connection to the member's client port (loopback), or -1. */
static int dial_etcd(void) {
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)etcdt_member_client_port(cl, 0));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static long long requests(void) { return etcdt_requests(cl, 0); }
static long long keepalives(void) {
    return etcdt_metric_sum(cl, 0, "grpc_server_msg_received_total", 0) - requests();
}

/* ---- measurements ---- */

typedef struct {
    double med, p99;
} stat2;

/* Median and p99, in ms, of n samples in microseconds (zeros when there are none). */
static stat2 ms_stats(int64_t *v, int n) {
    stat2 s = {0, 0};
    if (n) {
        s.med = pct(v, n, 0.5) / 1000.0;
        s.p99 = pct(v, n, 0.99) / 1000.0;
    }
    return s;
}

static stat2 handover(int ours) {
    int64_t v[100];
    int i, n = 0;
    char line[512];
    for (i = 0; i < runs; i++) {
        char name[64];
        etcdt_proc *a, *b;
        int64_t t0;
        snprintf(name, sizeof name, "ho-%d-%d", ours, i);
        a = spawn_elect(ours, name, "A", NULL);
        if (!a || etcdt_proc_readline(a, line, sizeof line, 10000) != 1) {
            fprintf(stderr, "handover: leader did not start: %s\n", a ? etcdt_proc_stderr(a) : "");
            stop(a);
            continue;
        }
        etcdt_proc_readline(a, line, sizeof line, 2000);
        b = spawn_elect(ours, name, "B", NULL);
        etcdt_sleep_ms(400); /* b is queued behind a */
        t0 = now_us();
        etcdt_proc_signal(a, SIGINT);
        if (etcdt_proc_readline(b, line, sizeof line, 10000) == 1) v[n++] = now_us() - t0;
        stop(a);
        stop(b);
    }
    return ms_stats(v, n);
}

/* One POST on a keep-alive connection; 0 once a whole Content-Length body arrived. */
static int post(int fd, const char *path, const char *body) {
    char req[1024], resp[8192], *hdr_end, *cl_at;
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s", path,
                     (int)strlen(body), body);
    size_t got = 0;
    if (write(fd, req, (size_t)n) != n) return -1;
    for (;;) {
        ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
        if (r <= 0) return -1;
        got += (size_t)r;
        resp[got] = 0;
        hdr_end = strstr(resp, "\r\n\r\n");
        cl_at = strstr(resp, "Content-Length: ");
        if (hdr_end && cl_at && got >= (size_t)(hdr_end + 4 - resp) + (size_t)atoi(cl_at + 16))
            return strncmp(resp, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
        if (got + 1 >= sizeof resp) return -1;
    }
}

/* The floor under every handover: etcd committing one write after the same 400 ms of
   quiet the handover runs have -- here the resign's own txn (compare create revision,
   delete), through the JSON gateway. */
static stat2 cold_write(void) {
    int64_t v[100];
    int i, n = 0, fd = dial_etcd();
    const char *k = "Y29sZC13cml0ZQ=="; /* "cold-write" */
    char txn[512], put[256];
    snprintf(put, sizeof put, "{\"key\":\"%s\",\"value\":\"eA==\"}", k);
    snprintf(txn, sizeof txn,
             "{\"compare\":[{\"key\":\"%s\",\"target\":\"CREATE\",\"result\":\"NOT_EQUAL\","
             "\"create_revision\":\"0\"}],"
             "\"success\":[{\"request_delete_range\":{\"key\":\"%s\"}}]}",
             k, k);
    for (i = 0; fd >= 0 && i < runs; i++) {
        int64_t t0;
        if (post(fd, "/v3/kv/put", put) != 0) break;
        etcdt_sleep_ms(400);
        t0 = now_us();
        if (post(fd, "/v3/kv/txn", txn) != 0) break;
        v[n++] = now_us() - t0;
    }
    if (fd >= 0) close(fd);
    return ms_stats(v, n);
}

static stat2 time_to_leader(int ours) {
    int64_t v[100];
    int i, n = 0;
    char line[512];
    for (i = 0; i < runs; i++) {
        char name[64];
        etcdt_proc *a;
        int64_t t0 = now_us();
        snprintf(name, sizeof name, "ttl-%d-%d", ours, i);
        a = spawn_elect(ours, name, "A", NULL);
        if (a && etcdt_proc_readline(a, line, sizeof line, 10000) == 1) v[n++] = now_us() - t0;
        stop(a);
    }
    return ms_stats(v, n);
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Size of a stripped copy (the Debian etcdctl ships stripped). */
static long stripped_size(const char *path) {
    char cmd[9000], out[256];
    long sz;
    snprintf(out, sizeof out, "/tmp/etcd-elect-bench-strip.%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "strip -o %s %s 2>/dev/null", out, path);
    if (system(cmd) != 0) return file_size(path);
    sz = file_size(out);
    unlink(out);
    return sz;
}

static long vm_hwm_kb(pid_t pid) {
    char path[64], line[256];
    long kb = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atol(line + 6);
    fclose(f);
    return kb;
}

/* CPU time of all threads of pid, in nanoseconds (schedstat: time on CPU). */
static long long cpu_ns(pid_t pid) {
    char path[64];
    long long sum = 0;
    DIR *d;
    struct dirent *de;
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    d = opendir(path);
    if (!d) return -1;
    while ((de = readdir(d))) {
        char p2[320];
        long long ns = 0;
        FILE *f;
        if (de->d_name[0] == '.') continue;
        snprintf(p2, sizeof p2, "/proc/%d/task/%s/schedstat", (int)pid, de->d_name);
        f = fopen(p2, "r");
        if (f) {
            if (fscanf(f, "%lld", &ns) == 1) sum += ns;
            fclose(f);
        }
    }
    closedir(d);
    return sum;
}

/* Our CLI with TTL 60: "elect NAME VALUE", or "lock -n HOLDERS NAME" if holders > 0. */
static etcdt_proc *spawn_ours(const char *name, const char *value, int holders) {
    char hs[16];
    char *argv[] = {cli,          epflag, (char *)"--ttl=60", (char *)"lock",
                    (char *)"-n", hs,     (char *)name,       NULL};
    if (!holders) return spawn_elect(1, name, value, "60");
    snprintf(hs, sizeof hs, "%d", holders);
    return etcdt_spawn(argv, NULL);
}

/* n of our CLI candidates queued in spawn order on one election (holders 0) or on a
   semaphore of `holders`: the handover latency and the etcd requests per handover when the
   oldest holder is interrupted, `hops` times. */
static void scale(int n, int holders, int hops, double *lat_med, double *req_per) {
    etcdt_proc **p = (etcdt_proc **)calloc((size_t)n, sizeof *p);
    int64_t v[64];
    char name[64], line[512];
    int i, first = holders ? holders : 1, k = 0, ok = 1;
    long long r0, r1;
    snprintf(name, sizeof name, "scale-%d-%d", n, holders);
    for (i = 0; i < n; i++) {
        char val[16];
        snprintf(val, sizeof val, "c%d", i);
        p[i] = spawn_ours(name, val, holders);
        if (i >= first) {
            etcdt_sleep_ms(30); /* queue in spawn order */
        } else if (etcdt_proc_readline(p[i], line, sizeof line, 10000) == 1) {
            etcdt_proc_readline(p[i], line, sizeof line, 2000);
        } else {
            fprintf(stderr, "bench: scale: candidate %d did not hold: %s\n", i,
                    p[i] ? etcdt_proc_stderr(p[i]) : "not started");
            ok = 0;
        }
    }
    etcdt_sleep_ms(500); /* the last one is queued too */
    r0 = requests();
    for (k = 0; ok && k < hops && first + k < n; k++) {
        int64_t t0 = now_us();
        etcdt_proc_signal(p[k], SIGINT);
        if (etcdt_proc_readline(p[first + k], line, sizeof line, 10000) != 1) {
            fprintf(stderr, "bench: scale: candidate %d did not take over\n", first + k);
            break;
        }
        v[k] = now_us() - t0;
        etcdt_proc_readline(p[first + k], line, sizeof line, 2000);
        etcdt_proc_wait(p[k], 5000);
    }
    etcdt_sleep_ms(300); /* the last hop's trailing requests (the new holder's key watcher) */
    r1 = requests();
    *lat_med = k ? pct(v, k, 0.5) / 1000.0 : -1;
    *req_per = k ? (double)(r1 - r0) / k : -1;
    for (i = 0; i < n; i++) etcdt_proc_free(p[i]);
    free(p);
}

/* Requests one operation costs: a campaign (uncontended), a resign, a keepalive. */
static void requests_per_op(int ours, double *campaign, double *resign, double *keepalive) {
    char name[64], line[512];
    etcdt_proc *a;
    long long r0, r1, k0, k1;
    snprintf(name, sizeof name, "rq-%d", ours);
    r0 = requests();
    a = spawn_elect(ours, name, "A", ours ? "6" : NULL);
    etcdt_proc_readline(a, line, sizeof line, 10000);
    etcdt_proc_readline(a, line, sizeof line, 2000);
    etcdt_sleep_ms(300);
    r1 = requests();
    *campaign = (double)(r1 - r0);
    if (ours) { /* TTL 6: renewals every 2 s; count 3 of them */
        k0 = keepalives();
        etcdt_sleep_ms(6100);
        k1 = keepalives();
        *keepalive = (double)(k1 - k0) / 3.0;
    } else { /* etcdctl elect has no --ttl: 60 s, renewals every 20 s */
        k0 = keepalives();
        etcdt_sleep_ms(quick ? 100 : 20500);
        k1 = keepalives();
        *keepalive = quick ? -1 : (double)(k1 - k0);
    }
    r0 = requests();
    etcdt_proc_signal(a, SIGINT);
    etcdt_proc_wait(a, 5000);
    etcdt_sleep_ms(200);
    r1 = requests();
    *resign = (double)(r1 - r0);
    etcdt_proc_free(a);
}

/* ---- in process: etcd_elect.h against Go's client/v3/concurrency -------------------- */

static char drv_c[4096], drv_go[4096]; /* build/bench/inproc, build/bench/gobench */

/* A gauge on the member's /metrics, or -1. */
static double gauge(const char *name) { return (double)etcdt_metric_gauge(cl, 0, name); }

/* A line of /proc/PID/status ("Threads:", "VmRSS:") as a number, or -1. */
static long proc_status(pid_t pid, const char *field) {
    char path[64], line[256];
    long v = -1;
    size_t fl = strlen(field);
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r"))) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl)) v = atol(line + fl);
    fclose(f);
    return v;
}

/* The sockets pid holds: its TCP connections to etcd, as it has no others. */
static long sockets(pid_t pid) {
    char path[64];
    long k = 0;
    DIR *d;
    struct dirent *de;
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    if (!(d = opendir(path))) return -1;
    while ((de = readdir(d))) {
        char p2[320], to[64];
        ssize_t n;
        snprintf(p2, sizeof p2, "%s/%s", path, de->d_name);
        n = readlink(p2, to, sizeof to - 1);
        if (n > 0 && (to[n] = 0, !strncmp(to, "socket:", 7))) k++;
    }
    closedir(d);
    return k;
}

static void b64(const char *in, char *out) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), i, o = 0;
    for (i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n) v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)in[i + 2];
        out[o++] = al[v >> 18 & 63];
        out[o++] = al[v >> 12 & 63];
        out[o++] = i + 1 < n ? al[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? al[v & 63] : '=';
    }
    out[o] = 0;
}

/* POST to the member; 0 on HTTP 200. */
static int gw(const char *path, const char *body, char *resp, size_t cap) {
    return etcdt_http_post(etcdt_member_client_port(cl, 0), path, body, resp, cap, 30000) == 200
               ? 0
               : -1;
}

/* Keys under prefix P/ (P/0/..., P/1/...). */
static long long count_keys(const char *prefix) {
    char k[256], end[256], kb[400], eb[400], body[1024], resp[4096], *at;
    snprintf(k, sizeof k, "%s/", prefix);
    snprintf(end, sizeof end, "%s0", prefix); /* '/' + 1 */
    b64(k, kb);
    b64(end, eb);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"range_end\":\"%s\",\"count_only\":true}", kb,
             eb);
    if (gw("/v3/kv/range", body, resp, sizeof resp) != 0) return -1;
    at = strstr(resp, "\"count\":\"");
    return at ? atoll(at + 9) : 0;
}

/* One driver run of a latency scenario: "NAME MED_US P99_US" -> ms. */
static int drive_latency(const char *drv, const char *scenario, int r, stat2 *out) {
    char rs[16], pf[64], line[256], *argv[10];
    etcdt_proc *p;
    long long med, p99;
    int ok;
    static int seq;
    snprintf(rs, sizeof rs, "%d", r);
    snprintf(pf, sizeof pf, "lat-%d", seq++);
    argv[0] = (char *)drv, argv[1] = (char *)scenario, argv[2] = (char *)"-endpoints";
    argv[3] = (char *)etcdt_endpoints(cl), argv[4] = (char *)"-runs", argv[5] = rs;
    argv[6] = (char *)"-prefix", argv[7] = pf, argv[8] = NULL;
    p = etcdt_spawn(argv, NULL);
    ok = p && etcdt_proc_readline(p, line, sizeof line, 300000) == 1 &&
         sscanf(line, "%*s %lld %lld", &med, &p99) == 2;
    if (ok)
        out->med = med / 1000.0, out->p99 = p99 / 1000.0;
    else
        fprintf(stderr, "bench: %s %s failed: %s\n", drv, scenario, p ? etcdt_proc_stderr(p) : "");
    if (p) etcdt_proc_wait(p, 10000), etcdt_proc_free(p);
    return ok ? 0 : -1;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_d(double *v, int n) {
    if (!n) return -1;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

/* Rounds of both drivers, alternately (who goes first alternates too): the median of the
   rounds' medians, the largest p99. */
static void latency_pair(const char *scenario, int r, stat2 *c, stat2 *go) {
    double mc[5], mg[5];
    int k, rounds = quick ? 1 : 3, nc = 0, ng = 0;
    c->p99 = go->p99 = 0;
    for (k = 0; k < rounds; k++) {
        int j;
        for (j = 0; j < 2; j++) {
            int ours = (j == 0) == (k % 2 == 0);
            stat2 s;
            if (drive_latency(ours ? drv_c : drv_go, scenario, r, &s) != 0) continue;
            if (ours) {
                mc[nc++] = s.med;
                if (s.p99 > c->p99) c->p99 = s.p99;
            } else {
                mg[ng++] = s.med;
                if (s.p99 > go->p99) go->p99 = s.p99;
            }
        }
    }
    c->med = median_d(mc, nc);
    go->med = median_d(mg, ng);
}

typedef struct scale_fig {
    int ok, failed;
    double queued_ms, elected_ms, per_shard_ms; /* all queued; all elected; median shard */
    long conns, threads, rss_kib;
    double idle_cpu_ms;               /* over 5 s, all waiting */
    double etcd_goroutines, etcd_rss; /* added by this driver's elections, per election */
    double req_per_handover;
} scale_fig;

/* Holds n leaders on P/0 .. P/n-1 (one lease of this program), starts the driver with n
   campaigns on one session behind them, measures it while all wait, then revokes the
   leaders' lease and times every campaign's return. */
static scale_fig scale_run(const char *drv, int n) {
    scale_fig f;
    char pf[64], ns[16], body[1 << 16], resp[1 << 16], *argv[10], line[256], *at;
    long long lease = 0, r0, r1, med, last;
    double g0, m0;
    int64_t t0, t_rev;
    etcdt_proc *p = NULL;
    int i, failed;
    static int seq;
    memset(&f, 0, sizeof f);
    snprintf(pf, sizeof pf, "scale-%d-%d", n, seq++);
    if (gw("/v3/lease/grant", "{\"TTL\":\"600\"}", resp, sizeof resp) != 0 ||
        !(at = strstr(resp, "\"ID\":\"")) || (lease = atoll(at + 6)) <= 0) {
        fprintf(stderr, "bench: scale: no lease: %s\n", resp);
        return f;
    }
    for (i = 0; i < n;) { /* the leaders, 100 puts per txn */
        size_t o = (size_t)snprintf(body, sizeof body, "{\"success\":[");
        int j;
        for (j = 0; j < 100 && i < n; j++, i++) {
            char k[128], kb[200];
            snprintf(k, sizeof k, "%s/%d/leader", pf, i);
            b64(k, kb);
            o += (size_t)snprintf(body + o, sizeof body - o,
                                  "%s{\"request_put\":{\"key\":\"%s\",\"value\":\"QQ==\","
                                  "\"lease\":\"%lld\"}}",
                                  j ? "," : "", kb, lease);
        }
        snprintf(body + o, sizeof body - o, "]}");
        if (gw("/v3/kv/txn", body, resp, sizeof resp) != 0) {
            fprintf(stderr, "bench: scale: leaders not written: %.200s\n", resp);
            return f;
        }
    }
    etcdt_sleep_ms(500);
    g0 = gauge("go_goroutines");
    m0 = gauge("process_resident_memory_bytes");
    snprintf(ns, sizeof ns, "%d", n);
    argv[0] = (char *)drv, argv[1] = (char *)"scale", argv[2] = (char *)"-endpoints";
    argv[3] = (char *)etcdt_endpoints(cl), argv[4] = (char *)"-n", argv[5] = ns;
    argv[6] = (char *)"-prefix", argv[7] = pf, argv[8] = NULL;
    t0 = now_us();
    p = etcdt_spawn_piped(argv, NULL);
    if (!p || etcdt_proc_readline(p, line, sizeof line, 300000) != 1 || strcmp(line, "launched")) {
        fprintf(stderr, "bench: scale %d: %s did not start: %s\n", n, drv,
                p ? etcdt_proc_stderr(p) : "");
        goto out;
    }
    while (count_keys(pf) < 2LL * n) {
        if (now_us() - t0 > 300000000LL || !etcdt_proc_running(p)) {
            fprintf(stderr, "bench: scale %d: %s: not all queued: %s\n", n, drv,
                    etcdt_proc_stderr(p));
            goto out;
        }
        etcdt_sleep_ms(20);
    }
    f.queued_ms = (now_us() - t0) / 1000.0;
    etcdt_sleep_ms(2000);
    { /* all wait: CPU over 5 s, then the steady state */
        long long c0 = cpu_ns(etcdt_proc_pid(p));
        etcdt_sleep_ms(5000);
        f.idle_cpu_ms = (cpu_ns(etcdt_proc_pid(p)) - c0) / 1e6;
    }
    f.conns = sockets(etcdt_proc_pid(p));
    f.threads = proc_status(etcdt_proc_pid(p), "Threads:");
    f.rss_kib = proc_status(etcdt_proc_pid(p), "VmRSS:");
    f.etcd_goroutines = (gauge("go_goroutines") - g0) / n;
    f.etcd_rss = (gauge("process_resident_memory_bytes") - m0) / n;
    snprintf(body, sizeof body, "{\"ID\":\"%lld\"}", lease);
    r0 = requests();
    t_rev = now_us();
    if (gw("/v3/lease/revoke", body, resp, sizeof resp) != 0) {
        fprintf(stderr, "bench: scale %d: revoke failed: %s\n", n, resp);
        goto out;
    }
    lease = 0;
    if (etcdt_proc_readline(p, line, sizeof line, 300000) != 1 ||
        sscanf(line, "elected %lld %lld %d", &med, &last, &failed) != 3) {
        fprintf(stderr, "bench: scale %d: %s: not all elected: %s\n", n, drv, etcdt_proc_stderr(p));
        goto out;
    }
    etcdt_sleep_ms(300);
    r1 = requests();
    f.elected_ms = (last - t_rev) / 1000.0;
    f.per_shard_ms = (med - t_rev) / 1000.0;
    f.req_per_handover = (double)(r1 - r0 - 1) / n; /* the revoke apart */
    f.failed = failed;
    f.ok = 1;
out:
    if (p) {
        etcdt_proc_close_stdin(p);
        etcdt_proc_wait(p, 30000);
        etcdt_proc_free(p); /* killed if it is still running */
    }
    if (lease) {
        snprintf(body, sizeof body, "{\"ID\":\"%lld\"}", lease);
        gw("/v3/lease/revoke", body, resp, sizeof resp);
    }
    return f;
}

static void row(const char *what, const char *unit, double ours, double theirs,
                const char *target) {
    char ratio[32];
    if (theirs > 0)
        snprintf(ratio, sizeof ratio, "%.3f", ours / theirs);
    else
        snprintf(ratio, sizeof ratio, "n/a");
    printf("| %-34s | %12.3f %-3s | %12.3f %-3s | %7s | %-7s |\n", what, ours, unit, theirs, unit,
           ratio, target);
}

static int scale_sizes[8] = {1, 100, 1000, 10000}, n_sizes = 4;

static void parse_sizes(const char *list) {
    n_sizes = 0;
    while (*list && n_sizes < 8) {
        scale_sizes[n_sizes++] = atoi(list);
        list += strcspn(list, ",");
        if (*list) list++;
    }
}

static void figure(const char *what, const char *unit, double ours, double go, const char *target) {
    char ratio[32];
    if (go > 0 && ours >= 0)
        snprintf(ratio, sizeof ratio, "%.3f", ours / go);
    else
        snprintf(ratio, sizeof ratio, "n/a");
    printf("| %-44s | %12.3f %-3s | %12.3f %-3s | %7s | %-7s |\n", what, ours, unit, go, unit,
           ratio, target);
}

/* The in-process rows: both drivers, alternately; 1 when one is missing or fails. */
static int in_process(void) {
    stat2 ho_c, ho_g, ca_c, ca_g, lk_c, lk_g, cw;
    scale_fig fc[8], fg[8];
    int i, r = quick ? 5 : runs;
    if (access(drv_c, X_OK) != 0 || access(drv_go, X_OK) != 0) {
        fprintf(stderr, "bench: %s or %s missing (make bench builds them; gobench needs Go)\n",
                drv_c, drv_go);
        return 1;
    }
    fprintf(stderr, "bench: in process, against Go's concurrency package (%d runs a round)...\n",
            r);
    latency_pair("handover", r, &ho_c, &ho_g);
    cw = cold_write();
    latency_pair("campaign", r, &ca_c, &ca_g);
    latency_pair("lock", quick ? 3 : 10, &lk_c, &lk_g);
    for (i = 0; i < n_sizes; i++) {
        fprintf(stderr, "bench: %d elections on one session...\n", scale_sizes[i]);
        fc[i] = scale_run(drv_c, scale_sizes[i]);
        fg[i] = scale_run(drv_go, scale_sizes[i]);
    }
    printf("\n| %-44s |     etcd_elect.h |   Go concurrency |   ratio | target  |\n", "in process");
    printf("|----------------------------------------------|-----------------:|---------------"
           "---:|--------:|---------|\n");
    figure("handover after resign, median", "ms", ho_c.med, ho_g.med, "");
    figure("handover after resign, p99", "ms", ho_c.p99, ho_g.p99, "");
    figure("  above the resign's commit", "ms", ho_c.med - cw.med, ho_g.med - cw.med, "<= 0.3");
    figure("uncontended campaign, median", "ms", ca_c.med, ca_g.med, "");
    figure("lock+unlock, 8 contenders, median", "ms", lk_c.med, lk_g.med, "");
    figure("lock+unlock, 8 contenders, p99", "ms", lk_c.p99, lk_g.p99, "");
    for (i = 0; i < n_sizes; i++) {
        char w[64];
        int n = scale_sizes[i];
        scale_fig *c = &fc[i], *g = &fg[i];
        if (!c->ok || !g->ok) {
            snprintf(w, sizeof w, "%d elections", n);
            printf("| %-44s | %16s | %16s |         |         |\n", w,
                   c->ok ? "done" : "did not complete", g->ok ? "done" : "did not complete");
            if (!c->ok && !g->ok) continue;
        }
#define FIG(label, unit, field, target)               \
    snprintf(w, sizeof w, "%d elections: " label, n); \
    figure(w, unit, c->ok ? (double)c->field : -1, g->ok ? (double)g->field : -1, target)
        FIG("all queued", "ms", queued_ms, "");
        FIG("all elected after revoke", "ms", elected_ms, n >= 1000 ? "<= 1" : "");
        FIG("median shard elected", "ms", per_shard_ms, "");
        FIG("TCP connections", "", conns, n == 1000 ? "ours<=2" : "");
        FIG("threads", "", threads, "");
        snprintf(w, sizeof w, "%d elections: library threads", n);
        figure(w, "", c->ok ? (double)(c->threads - 1) : -1, g->ok ? (double)g->threads : -1,
               n == 1000 ? "ours<=3" : "");
        FIG("client RSS", "KiB", rss_kib, n == 1000 ? "<= 0.25" : n == 10000 ? "<=64MiB" : "");
        FIG("CPU while all wait, 5 s", "ms", idle_cpu_ms, "");
        FIG("etcd goroutines per election", "", etcd_goroutines, n == 1000 ? "<= 1" : "");
        FIG("etcd RSS per election", "B", etcd_rss, "");
        FIG("etcd requests per handover", "", req_per_handover, "");
#undef FIG
        if (c->failed || g->failed)
            printf("| %-44s | %16d | %16d |         |         |\n", "campaigns failed", c->failed,
                   g->failed);
    }
    printf("\nGo: client/v3/concurrency as tests/bench/gobench/go.mod pins it; latency: the "
           "median of %d alternating rounds of %d runs.\nThreads are the process's: ours "
           "campaigns async (library threads: all but main),\nGo's are its runtime's.\n",
           quick ? 1 : 3, r);
    return 0;
}

int main(int argc, char **argv) {
    char self[2048], *slash, line[512];
    stat2 ho_o, ho_t, tl_o, tl_t, cw;
    long exe_o, exe_t, rss_o, rss_t;
    long long c0o, c0t, c1o, c1t;
    double s_lat[3], s_req[3], rq_o[3], rq_t[3], m_lat[2], m_req[2];
    int sizes[3] = {10, 50, 200}, waiters[2] = {10, 100}, i;
    etcdt_proc *lo, *lt;
    static char which[4096];
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1, runs = 5, idle_s = 3;
        else if (!strcmp(argv[i], "--handover"))
            only_handover = 1;
        else if (!strcmp(argv[i], "--inproc"))
            only_inproc = 1;
        else if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
            parse_sizes(argv[++i]);
        else {
            fprintf(stderr, "usage: bench [--quick] [--handover] [--inproc] [--sizes N,N,...]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(self, sizeof self, "%s", etcdt_self_path());
    slash = strrchr(self, '/');
    if (slash) *slash = 0;
    snprintf(cli, sizeof cli, "%s/../etcd-elect", self); /* build/bench/bench -> build/etcd-elect */
    snprintf(drv_c, sizeof drv_c, "%s/inproc", self);
    snprintf(drv_go, sizeof drv_go, "%s/gobench", self);
    if (!only_inproc && access(cli, X_OK) != 0) {
        fprintf(stderr, "bench: %s not found (run make first)\n", cli);
        return 1;
    }
    if (!only_inproc && etcdt__which("etcdctl", which, sizeof which) != 0) {
        fprintf(stderr, "bench: etcdctl not found\n");
        return 1;
    }
    etcdctl_path = which;
    cl = etcdt_cluster_start(1, NULL);
    if (!cl) return 1;
    snprintf(epflag, sizeof epflag, "--endpoints=%s", etcdt_endpoints(cl));

    if (only_inproc) {
        int rc = in_process();
        etcdt_cluster_stop(cl);
        return rc;
    }
    fprintf(stderr, "bench: handover (%d runs each)...\n", runs);
    ho_o = handover(1);
    ho_t = handover(0);
    cw = cold_write();
    if (only_handover) {
        printf("handover median: ours %.3f ms, etcdctl %.3f ms, ratio %.3f; p99 %.3f / %.3f ms;"
               " a cold etcd write alone %.3f ms\n",
               ho_o.med, ho_t.med, ho_t.med > 0 ? ho_o.med / ho_t.med : 0, ho_o.p99, ho_t.p99,
               cw.med);
        etcdt_cluster_stop(cl);
        return 0;
    }
    fprintf(stderr, "bench: time to leader (%d runs each)...\n", runs);
    tl_o = time_to_leader(1);
    tl_t = time_to_leader(0);

    fprintf(stderr, "bench: footprint (%d s idle as leader)...\n", idle_s);
    exe_o = stripped_size(cli);
    exe_t = stripped_size(etcdctl_path);
    lo = spawn_elect(1, "idle-ours", "A", "60");
    lt = spawn_elect(0, "idle-theirs", "A", NULL);
    etcdt_proc_readline(lo, line, sizeof line, 10000);
    etcdt_proc_readline(lt, line, sizeof line, 10000);
    etcdt_sleep_ms(1000);
    c0o = cpu_ns(etcdt_proc_pid(lo));
    c0t = cpu_ns(etcdt_proc_pid(lt));
    etcdt_sleep_ms(idle_s * 1000);
    c1o = cpu_ns(etcdt_proc_pid(lo));
    c1t = cpu_ns(etcdt_proc_pid(lt));
    rss_o = vm_hwm_kb(etcdt_proc_pid(lo));
    rss_t = vm_hwm_kb(etcdt_proc_pid(lt));
    stop(lo);
    stop(lt);

    fprintf(stderr, "bench: requests per operation...\n");
    requests_per_op(1, &rq_o[0], &rq_o[1], &rq_o[2]);
    requests_per_op(0, &rq_t[0], &rq_t[1], &rq_t[2]);

    for (i = 0; i < (quick ? 2 : 3); i++) {
        fprintf(stderr, "bench: scale, %d candidates...\n", sizes[i]);
        scale(sizes[i], 0, quick ? 3 : 10, &s_lat[i], &s_req[i]);
    }
    for (i = 0; i < 2; i++) {
        fprintf(stderr, "bench: semaphore of 3, %d waiters...\n", waiters[i]);
        scale(3 + waiters[i], 3, quick ? 3 : 10, &m_lat[i], &m_req[i]);
    }

    printf("\n| figure                             |          etcd-elect |             etcdctl |   "
           "ratio | target  |\n");
    printf("|------------------------------------|--------------------:|--------------------:|-----"
           "---:|---------|\n");
    row("handover after resign, median", "ms", ho_o.med, ho_t.med, "<= 0.5");
    row("handover after resign, p99", "ms", ho_o.p99, ho_t.p99, "");
    row("  its floor: the resign's commit", "ms", cw.med, cw.med, "");
    row("  handover above that floor", "ms", ho_o.med - cw.med, ho_t.med - cw.med, "");
    row("time to leader, median", "ms", tl_o.med, tl_t.med, "<= 0.25");
    row("time to leader, p99", "ms", tl_o.p99, tl_t.p99, "");
    row("executable size (stripped)", "KiB", exe_o / 1024.0, exe_t / 1024.0, "<= 0.02");
    row("peak RSS while leading", "KiB", (double)rss_o, (double)rss_t, "<= 0.15");
    {
        char what[64];
        snprintf(what, sizeof what, "CPU idle as leader, %d s", idle_s);
        row(what, "ms", (c1o - c0o) / 1e6, (c1t - c0t) / 1e6, "<= 1.0");
    }
    row("requests: campaign, uncontended", "", rq_o[0], rq_t[0], "");
    row("requests: resign (and exit)", "", rq_o[1], rq_t[1], "");
    row("requests: one keepalive", "", rq_o[2], rq_t[2], "");
    for (i = 0; i < (quick ? 2 : 3); i++) {
        char what[64];
        snprintf(what, sizeof what, "scale %d: handover median", sizes[i]);
        row(what, "ms", s_lat[i], 0, "");
        snprintf(what, sizeof what, "scale %d: requests per handover", sizes[i]);
        row(what, "", s_req[i], 0, "");
    }
    for (i = 0; i < 2; i++) {
        char what[64];
        snprintf(what, sizeof what, "lock -n 3, %d waiting: handover", waiters[i]);
        row(what, "ms", m_lat[i], 0, "");
        snprintf(what, sizeof what, "lock -n 3, %d waiting: requests", waiters[i]);
        row(what, "", m_req[i], 0, "O(1)");
    }
    printf(
        "\nruns: %d per latency figure; requests = gRPC messages etcd received (keepalives apart,\n"
        "except the keepalive row), from its /metrics; etcd-elect %s\n",
        runs, cli);
    i = in_process();
    etcdt_cluster_stop(cl);
    return i;
}
