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

   Usage: bench [--quick] [--handover]   (--quick: fewer runs, for a smoke test;
   --handover: the handover figure alone) */
#include "../etcdt_test.h"
#include "../etcdt_proc.h"
#include "../etcdt_etcd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/stat.h>

static etcdt_cluster *cl;
static char cli[4096], epflag[512];
static const char *etcdctl_path;
static int runs = 30, idle_s = 30, quick, only_handover;

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
        else {
            fprintf(stderr, "usage: bench [--quick] [--handover]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(self, sizeof self, "%s", etcdt_self_path());
    slash = strrchr(self, '/');
    if (slash) *slash = 0;
    snprintf(cli, sizeof cli, "%s/../etcd-elect", self); /* build/bench/bench -> build/etcd-elect */
    if (access(cli, X_OK) != 0) {
        fprintf(stderr, "bench: %s not found (run make first)\n", cli);
        return 1;
    }
    if (etcdt__which("etcdctl", which, sizeof which) != 0) {
        fprintf(stderr, "bench: etcdctl not found\n");
        return 1;
    }
    etcdctl_path = which;
    cl = etcdt_cluster_start(1, NULL);
    if (!cl) return 1;
    snprintf(epflag, sizeof epflag, "--endpoints=%s", etcdt_endpoints(cl));

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
    etcdt_cluster_stop(cl);
    return 0;
}
