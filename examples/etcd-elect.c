/* etcd-elect -- leader election and locks on etcd v3 from the shell: the contract of
   `etcdctl elect` / `etcdctl lock` (same keys, one queue with etcdctl and Go programs),
   plus a child process that is stopped before anyone else can take over.

     etcd-elect [flags] elect NAME VALUE [-- CMD ARGS...]   lead; print "KEY\nVALUE\n"
     etcd-elect [flags] elect -l NAME                       print each new leader
     etcd-elect [flags] lock NAME [[--] CMD ARGS...]        hold the lock; print "KEY\n\n"
     etcd-elect [flags] leader NAME                         print the leader now, exit
     etcd-elect version                                     print the version
   Without CMD it holds until SIGINT/SIGTERM/SIGHUP, then resigns/unlocks and exits 0.
   With CMD it prints nothing, runs CMD in its own process group (env ETCD_ELECT_KEY,
   ETCD_ELECT_REV = fencing token, ETCD_ELECT_LEASE; or ETCD_LOCK_KEY, ETCD_LOCK_REV),
   forwards signals to it, resigns when it exits and exits with its status (128+N if
   killed by signal N). Flags: see usage_text; anywhere before "--", "--f=v" or "--f v";
   etcdctl's ETCDCTL_* variables stand in for flags that are not given.

   Exit status: 0 done; 1 error, lost leadership/lock, or interrupted while waiting;
   2 bad usage; 3 `leader` found no leader; with CMD the child's status.

   Built with ETCD_ELECT_TLS (the Makefile does when OpenSSL's headers are there), it
   speaks TLS through tls_openssl.h and the library's transport hook.

   Under systemd ($NOTIFY_SOCKET) it reports READY=1 once it leads or holds the lock,
   STATUS= lines, STOPPING=1, and WATCHDOG=1 while the lease's keepalives succeed.

   Where it differs from etcdctl 3.4 (marked "etcdctl:" below): the child is stopped when
   leadership/the lock is lost, and dies with us even when we are killed with SIGKILL;
   its exit status is passed on; the lease is revoked on
   exit; an unreachable etcd is an error after the timeouts instead of a hang; a deleted
   own key or revoked lease is noticed at once, not at the next keepalive; SIGHUP
   releases. */
#define _POSIX_C_SOURCE 200809L
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"
#ifdef ETCD_ELECT_TLS
#include "tls_openssl_dl.h" /* OpenSSL is loaded only by a run that speaks TLS */
#include "tls_openssl.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
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
    "       " PROG " [flags] lock [-n N] NAME [[--] CMD ARGS...] take the lock, print KEY, hold\n"
    "       " PROG " [flags] leader NAME                         print the leader now and exit\n"
    "       " PROG " version                                     print the version\n"
    "Without CMD: hold until SIGINT/SIGTERM, then resign/unlock. With CMD: run it while leading\n"
    "(env ETCD_ELECT_KEY, ETCD_ELECT_REV, ETCD_ELECT_LEASE) or holding (ETCD_LOCK_KEY,\n"
    "ETCD_LOCK_REV) and exit with its status. If leadership or the lock is lost, CMD's process\n"
    "group gets SIGTERM before the lease can expire at etcd, then SIGKILL, and we exit 1.\n"
    "A VALUE that starts with '-' goes after \"--\": elect NAME -- -5 [-- CMD ARGS...].\n"
    "leader exits 0 with KEY and VALUE printed, 3 if there is no leader, 1 on errors.\n"
    "flags (anywhere before \"--\"; for one not given, etcdctl's variable is read: ETCDCTL_\n"
    "ENDPOINTS, _USER, _PASSWORD, _DIAL_TIMEOUT, _COMMAND_TIMEOUT, _CACERT, _CERT, _KEY,\n"
    "_INSECURE_SKIP_TLS_VERIFY, _INSECURE_TRANSPORT):\n"
    "  --endpoints=H:P,...     etcd endpoints (default $ETCDCTL_ENDPOINTS, else 127.0.0.1:2379)\n"
    "  --ttl=SECONDS           session lease TTL (elect: 60, lock: 10)\n"
    "  --dial-timeout=DUR      TCP connect timeout per endpoint (default 2s)\n"
    "  --command-timeout=DUR   timeout of one request (default 5s)\n"
    "  --user=NAME[:PASS]      authenticate; --password=PASS if not given in --user\n"
    "  --max-request-bytes=N   etcd's --max-request-bytes, if raised there (default 1572864);\n"
    "                          values and keys up to it are written and read\n"
    "  --cacert=FILE           verify etcd's certificate with this CA bundle (TLS)\n"
    "  --cert=FILE             client certificate (TLS)\n"
    "  --key=FILE              client key (TLS)\n"
    "  --insecure-skip-tls-verify  do not verify etcd's certificate (TLS)\n"
    "  --insecure-transport=BOOL   false: TLS even without https:// or certificates\n"
    "                          (default true: TLS only with https:// or --cacert/--cert/--key)\n"
    "  -w, --write-out=FORMAT  simple (default) or json: one object per line with key,\n"
    "                          value, create_revision (the fencing token) and lease\n"
    "  -n, --holders=N         lock: a semaphore, held by up to N at once, FIFO (default 1;\n"
    "                          every user of NAME must give the same N; 1 is etcdctl's lock)\n"
    "  --kill-timeout=DUR      SIGTERM to SIGKILL grace for CMD's group on our SIGTERM/INT/HUP\n"
    "                          (default 10s); on loss at most what the lease leaves\n"
    "  --version               print the version\n"
    "  -h, --help              this text\n"
    "DUR: 500ms, 2s, 1m, 1m30s, 1.5s; a bare number means seconds.\n";

enum { ELECT, OBSERVE, LOCK, LEADER };

typedef struct cli {
    int mode;
    const char *name, *value;
    char **cmd; /* argv after "--", NULL without CMD */
    const char *endpoints, *user, *password;
    int ttl, dial_ms, cmd_ms;
    long max_request;
    const char *cacert, *cert, *key;
    int skip_verify, insecure_transport, json, kill_ms, kill_given;
    int holders; /* lock -n: a semaphore of that many holders */
} cli;

/* ---- arguments ---------------------------------------------------------------------- */

static int bad(const char *msg, const char *arg) {
    fprintf(stderr, PROG ": %s%s\nRun '" PROG " --help' for usage.\n", msg, arg ? arg : "");
    return 2;
}

/* Like bad(), with the flag or variable the value came from: "bad SRC WHAT: VAL". */
static int bad_value(const char *src, const char *what, const char *val) {
    char msg[160];
    snprintf(msg, sizeof msg, "bad %s %s: ", src, what);
    return bad(msg, val);
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

/* Go's strconv.ParseBool, as etcdctl's boolean flags take it. */
static int parse_bool(const char *s, int *out) {
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    int i;
    for (i = 0; i < 6; i++) {
        if (!strcmp(s, yes[i])) return *out = 1, 0;
        if (!strcmp(s, no[i])) return *out = 0, 0;
    }
    return -1;
}

enum {
    F_ENDPOINTS,
    F_TTL,
    F_DIAL,
    F_COMMAND,
    F_USER,
    F_PASSWORD,
    F_MAXREQ,
    F_CACERT,
    F_CERT,
    F_KEY,
    F_SKIP_VERIFY,
    F_INSECURE,
    F_WRITE_OUT,
    F_KILL,
    F_HOLDERS,
    NFLAGS
};
static const char *const flags[NFLAGS] = {"--endpoints",
                                          "--ttl",
                                          "--dial-timeout",
                                          "--command-timeout",
                                          "--user",
                                          "--password",
                                          "--max-request-bytes",
                                          "--cacert",
                                          "--cert",
                                          "--key",
                                          "--insecure-skip-tls-verify",
                                          "--insecure-transport",
                                          "--write-out",
                                          "--kill-timeout",
                                          "--holders"};
/* The variables etcdctl reads for the same flags; NULL: no variable (endpoints: the
   library reads $ETCDCTL_ENDPOINTS, and names it in its errors). */
static const char *const flag_env[NFLAGS] = {NULL,
                                             NULL,
                                             "ETCDCTL_DIAL_TIMEOUT",
                                             "ETCDCTL_COMMAND_TIMEOUT",
                                             "ETCDCTL_USER",
                                             "ETCDCTL_PASSWORD",
                                             NULL,
                                             "ETCDCTL_CACERT",
                                             "ETCDCTL_CERT",
                                             "ETCDCTL_KEY",
                                             "ETCDCTL_INSECURE_SKIP_TLS_VERIFY",
                                             "ETCDCTL_INSECURE_TRANSPORT",
                                             NULL,
                                             NULL,
                                             NULL};

/* Flag k = val; src names the flag or $VARIABLE for errors. 0, or 2 (reported). */
static int set_flag(cli *o, int k, const char *val, const char *src) {
    char *end;
    long n;
    switch (k) {
    case F_ENDPOINTS: o->endpoints = val; break;
    case F_TTL:
        n = strtol(val, &end, 10);
        if (!*val || *end || n < 1 || n > 1000000)
            return bad("--ttl wants whole seconds (1..1000000), not ", val);
        o->ttl = (int)n;
        break;
    case F_DIAL:
    case F_COMMAND:
    case F_KILL:
        if (parse_duration(val, k == F_DIAL      ? &o->dial_ms
                                : k == F_COMMAND ? &o->cmd_ms
                                                 : &o->kill_ms))
            return bad_value(src, "duration", val);
        o->kill_given |= k == F_KILL;
        break;
    case F_USER: o->user = val; break;
    case F_PASSWORD: o->password = val; break;
    case F_MAXREQ:
        n = strtol(val, &end, 10);
        if (!*val || *end || n < 1024 || n > (1L << 28))
            return bad("--max-request-bytes wants a byte count (1024..268435456), not ", val);
        o->max_request = n;
        break;
    case F_CACERT: o->cacert = val; break;
    case F_CERT: o->cert = val; break;
    case F_KEY: o->key = val; break;
    case F_SKIP_VERIFY:
    case F_INSECURE:
        if (parse_bool(val, k == F_SKIP_VERIFY ? &o->skip_verify : &o->insecure_transport))
            return bad_value(src, "boolean", val);
        break;
    case F_HOLDERS:
        n = strtol(val, &end, 10);
        if (!*val || *end || n < 1 || n > ETCDE_MAX_HOLDERS)
            return bad_value(src, "holder count (1..1000)", val);
        o->holders = (int)n;
        break;
    case F_WRITE_OUT:
        if (strcmp(val, "simple") && strcmp(val, "json"))
            return bad_value(src, "output format (simple or json)", val);
        o->json = !strcmp(val, "json");
        break;
    }
    return 0;
}

static void print_version(void) {
    printf(PROG " version: %s\n", ETCDE_VERSION_STRING);
#ifdef ETCD_ELECT_TLS
    if (tls_load())
        printf("TLS: %s\n", tls_load());
    else
        printf("TLS: %s\n", OpenSSL_version(OPENSSL_VERSION));
#else
    printf("TLS: not built in (NO_TLS)\n");
#endif
}

/* Returns 0 to run, 2 on bad usage (reported), 3 after printing the help or version. */
static int parse_args(int argc, char **argv, cli *o) {
    const char *pos[3];
    int npos = 0, listen = 0, given[NFLAGS] = {0}, i, k, rc;
    memset(o, 0, sizeof *o);
    o->dial_ms = 2000;
    o->cmd_ms = 5000;
    o->kill_ms = 10000;
    o->insecure_transport = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *eq, *val;
        size_t n;
        if (!strcmp(a, "--")) { /* the rest is the child's argv, verbatim */
            if (npos == 2 && !strcmp(pos[0], "elect") && !listen) {
                /* VALUE is still missing: it is the first word after "--", whatever it
                   looks like; a command then needs a "--" of its own */
                if (++i >= argc) return bad("missing VALUE after \"--\"", NULL);
                pos[npos++] = argv[i];
                if (i + 1 >= argc) break;
                if (strcmp(argv[++i], "--"))
                    return bad("after \"-- VALUE\" a command needs its own \"--\": ", argv[i]);
            }
            if (i + 1 >= argc) return bad("missing command after \"--\"", NULL);
            o->cmd = argv + i + 1;
            break;
        }
        if (a[0] != '-' || !a[1]) {
            if (npos == 2 && !strcmp(pos[0], "lock")) { /* lock NAME CMD ARGS..., as etcdctl */
                o->cmd = argv + i;
                break;
            }
            if (npos == 3) return bad("too many arguments: ", a);
            pos[npos++] = a;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 3;
        }
        if (!strcmp(a, "--version")) {
            print_version();
            return 3;
        }
        if (!strcmp(a, "-l") || !strcmp(a, "--listen")) {
            listen = 1;
            continue;
        }
        eq = strchr(a, '=');
        n = eq ? (size_t)(eq - a) : strlen(a);
        if (n == 2 && !strncmp(a, "-w", 2))
            k = F_WRITE_OUT;
        else if (n == 2 && !strncmp(a, "-n", 2))
            k = F_HOLDERS;
        else
            for (k = 0; k < NFLAGS && (strlen(flags[k]) != n || strncmp(a, flags[k], n)); k++) {}
        if (k == NFLAGS) return bad("unknown flag: ", a);
        if (eq)
            val = eq + 1;
        else if (k == F_SKIP_VERIFY || k == F_INSECURE) /* booleans: "--f" alone is true */
            val = "true";
        else if (i + 1 < argc && strcmp(argv[i + 1], "--"))
            val = argv[++i];
        else
            return bad("flag needs a value: ", a);
        if ((rc = set_flag(o, k, val, flags[k])) != 0) return rc;
        given[k] = 1;
    }
    for (k = 0; k < NFLAGS; k++) { /* etcdctl's variables, for the flags not given */
        const char *v = flag_env[k] ? getenv(flag_env[k]) : NULL;
        char src[48];
        snprintf(src, sizeof src, "$%s", flag_env[k] ? flag_env[k] : "");
        if (!given[k] && v && *v && (rc = set_flag(o, k, v, src)) != 0) return rc;
    }
    if (o->password && !o->user)
        return bad(given[F_PASSWORD] ? "--password needs --user"
                                     : "$ETCDCTL_PASSWORD needs a user "
                                       "(--user or $ETCDCTL_USER)",
                   NULL);
    if (!o->cert != !o->key)
        return bad(o->cert ? "--cert needs --key" : "--key needs --cert",
                   " (or $ETCDCTL_CERT / $ETCDCTL_KEY)");
    if (npos == 0) return bad("missing command: elect, lock, leader or version", NULL);
    if (!strcmp(pos[0], "elect")) {
        o->mode = listen ? OBSERVE : ELECT;
        if (listen && npos != 2)
            return bad(npos > 2 ? "a proposal is given but -l is set" : "elect -l needs a NAME",
                       NULL);
        if (!listen && npos != 3) return bad("elect needs NAME and VALUE (or -l NAME)", NULL);
        if (listen && o->cmd) return bad("elect -l takes no command", NULL);
        o->value = listen ? NULL : pos[2];
    } else if (!strcmp(pos[0], "lock") || !strcmp(pos[0], "leader")) {
        o->mode = pos[0][1] == 'o' ? LOCK : LEADER;
        if (npos != 2)
            return bad(o->mode == LOCK ? "lock takes one lock NAME and an optional CMD ARGS..."
                                       : "leader takes one election NAME",
                       NULL);
        if (o->mode == LEADER && o->cmd) return bad("leader takes no command", NULL);
        if (o->mode == LEADER && o->holders) return bad("-n is only for lock", NULL);
        if (listen) return bad("-l is only for elect", NULL);
    } else if (!strcmp(pos[0], "version") && npos == 1 && !o->cmd) {
        print_version();
        return 3;
    } else {
        return bad("unknown command: ", pos[0]);
    }
    if (o->holders && o->mode != LOCK) return bad("-n is only for lock", NULL);
    o->name = pos[1];
    if (!*o->name) return bad("empty NAME", NULL);
    if (!o->ttl) o->ttl = o->mode == LOCK ? 10 : 60; /* etcdctl's defaults */
    return 0;
}

/* ---- output: etcdctl's "KEY\nVALUE\n", or one JSON object per line ------------------- */

/* 1 if s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or values > U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], len, cp, j;
        if (c < 0x80) {
            i++;
            continue;
        }
        len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        if (!len || c > 0xf4 || i + len > n) return 0;
        cp = c & (0x7f >> len);
        for (j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* "field":"escaped UTF-8", or, for bytes that are not UTF-8, "field_base64":"...". */
static void json_bytes(const char *field, const char *s, size_t n) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *u = (const unsigned char *)s;
    size_t i;
    if (!utf8_valid(u, n)) {
        printf("\"%s_base64\":\"", field);
        for (i = 0; i < n; i += 3) {
            unsigned long v = (unsigned long)u[i] << 16 | (i + 1 < n ? u[i + 1] << 8 : 0) |
                              (i + 2 < n ? u[i + 2] : 0);
            putchar(b64[v >> 18]);
            putchar(b64[v >> 12 & 63]);
            putchar(i + 1 < n ? b64[v >> 6 & 63] : '=');
            putchar(i + 2 < n ? b64[v & 63] : '=');
        }
        putchar('"');
        return;
    }
    printf("\"%s\":\"", field);
    for (i = 0; i < n; i++) {
        if (u[i] == '"' || u[i] == '\\')
            printf("\\%c", u[i]);
        else if (u[i] == '\n')
            fputs("\\n", stdout);
        else if (u[i] < 0x20 || u[i] == 0x7f)
            printf("\\u%04x", u[i]);
        else
            putchar(u[i]);
    }
    putchar('"');
}

/* A leader, a lock holder or ourselves: KEY and VALUE lines, or a JSON object. */
static void print_kv(int json, const char *key, size_t klen, const char *val, size_t vlen,
                     int64_t create_rev, int64_t lease) {
    if (json) {
        putchar('{');
        json_bytes("key", key, klen);
        putchar(',');
        json_bytes("value", val, vlen);
        printf(",\"create_revision\":%lld,\"lease\":%lld}\n", (long long)create_rev,
               (long long)lease);
    } else {
        fwrite(key, 1, klen, stdout);
        putchar('\n');
        fwrite(val, 1, vlen, stdout);
        putchar('\n');
    }
    fflush(stdout);
}

/* "; TLS: <reason>" after a failure a TLS alert explains (a refused client certificate
   shows up only on the first read after the handshake), else "". */
#ifdef ETCD_ELECT_TLS
static int with_client_cert;
#endif

static const char *tls_hint(void) {
#ifdef ETCD_ELECT_TLS
    static char buf[200];
    const char *why = tls_last_error();
    if (why) {
        snprintf(buf, sizeof buf, "; TLS: %s (%s)", why,
                 with_client_cert ? "is the client certificate one etcd trusts?"
                                  : "does etcd want a client certificate? --cert and --key");
        return buf;
    }
#endif
    return "";
}

/* ---- systemd: sd_notify(3)'s datagrams, without libsystemd --------------------------- */

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;
static int watchdog_ms; /* half of $WATCHDOG_USEC, 0: no watchdog */

/* Reads $NOTIFY_SOCKET ("/path" or "@abstract") and the watchdog's variables, and takes
   them out of the environment: CMD is not the service's main process. */
static void notify_init(void) {
    const char *p = getenv("NOTIFY_SOCKET"), *us = getenv("WATCHDOG_USEC"),
               *pid = getenv("WATCHDOG_PID");
    size_t n = p ? strlen(p) : 0;
    if (us && *us && (!pid || !*pid || strtol(pid, NULL, 10) == (long)getpid())) {
        long long v = strtoll(us, NULL, 10);
        if (v > 0) watchdog_ms = v / 2000 > INT_MAX ? INT_MAX : v / 2000 ? (int)(v / 2000) : 1;
    }
    if (p && (*p == '/' || *p == '@') && n >= 2 && n < sizeof notify_addr.sun_path) {
        memset(&notify_addr, 0, sizeof notify_addr);
        notify_addr.sun_family = AF_UNIX;
        memcpy(notify_addr.sun_path, p, n);
        if (*p == '@') notify_addr.sun_path[0] = 0; /* Linux's abstract namespace */
        notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (*p == '/'));
        if ((notify_fd = socket(AF_UNIX, SOCK_DGRAM, 0)) >= 0)
            fcntl(notify_fd, F_SETFD, FD_CLOEXEC);
    }
    if (notify_fd < 0) watchdog_ms = 0;
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

/* Sends `state` ("READY=1", "STOPPING=1", ... or NULL) and a STATUS= line made from fmt
   (or none, if fmt is NULL), in one datagram. */
static void notify(const char *state, const char *fmt, ...) {
    char msg[1024];
    int n = 0;
    va_list ap;
    if (notify_fd < 0) return;
    if (state) n = snprintf(msg, sizeof msg, "%s%s", state, fmt ? "\n" : "");
    if (fmt) {
        char *p;
        int m = snprintf(msg + n, sizeof msg - (size_t)n, "STATUS=");
        va_start(ap, fmt);
        vsnprintf(msg + n + m, sizeof msg - (size_t)(n + m), fmt, ap);
        va_end(ap);
        for (p = msg + n + m; *p; p++) /* one line: names and keys may hold anything */
            if (*p == '\n') *p = ' ';
        n = (int)strlen(msg);
    }
    if (n > (int)sizeof msg - 1) n = (int)sizeof msg - 1;
    if (sendto(notify_fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&notify_addr,
               notify_len) < 0) {}
}

/* The watchdog thread: WATCHDOG=1 every half interval while the session's keepalives
   succeed (renewed within the last half TTL), so systemd restarts us when they stall. */
typedef struct watchdog {
    etcde_session *s;
    int64_t fresh_ms; /* remaining_ms at least this: renewed recently */
    int stop_pipe[2];
    pthread_t th;
    int running;
} watchdog;

static void *watchdog_main(void *p) {
    watchdog *w = (watchdog *)p;
    struct pollfd pf;
    pf.fd = w->stop_pipe[0];
    pf.events = POLLIN;
    for (;;) {
        if (etcde_session_remaining_ms(w->s) >= w->fresh_ms) notify("WATCHDOG=1", NULL);
        if (poll(&pf, 1, watchdog_ms) != 0) return NULL; /* stopped (or poll broke) */
    }
}

static void watchdog_start(watchdog *w, etcde_session *s, int ttl_s, int guard_ms) {
    memset(w, 0, sizeof *w);
    if (!watchdog_ms || pipe(w->stop_pipe) != 0) return;
    fcntl(w->stop_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(w->stop_pipe[1], F_SETFD, FD_CLOEXEC);
    w->s = s;
    w->fresh_ms = (int64_t)ttl_s * 500 - guard_ms;
    if (w->fresh_ms < 1) w->fresh_ms = 1;
    if (pthread_create(&w->th, NULL, watchdog_main, w) == 0)
        w->running = 1;
    else {
        close(w->stop_pipe[0]);
        close(w->stop_pipe[1]);
    }
}

static void watchdog_stop(watchdog *w) {
    ssize_t n;
    if (!w->running) return;
    n = write(w->stop_pipe[1], "x", 1);
    (void)n;
    pthread_join(w->th, NULL);
    close(w->stop_pipe[0]);
    close(w->stop_pipe[1]);
    w->running = 0;
}

/* ---- signals: the handler only cancels (async-signal-safe) and writes to a pipe ----- */

static int sig_pipe[2] = {-1, -1};
static etcde_client *client; /* atomic: the handler reads it */
static int waiting = 1;      /* atomic: the handler may run on any thread, the library's too */
static int in_handler;       /* atomic: handlers running now */

static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w;
    __atomic_add_fetch(&in_handler, 1, __ATOMIC_SEQ_CST);
    /* While waiting (session, campaign, lock, observe) SIGINT/SIGTERM/SIGHUP make the
       blocking call return ETCDE_ERR_CANCELLED; the library then deletes the waiting key.
       While holding, the main loop reads the pipe and releases. */
    if ((sig == SIGINT || sig == SIGTERM || sig == SIGHUP) &&
        __atomic_load_n(&waiting, __ATOMIC_ACQUIRE))
        etcde_client_cancel(__atomic_load_n(&client, __ATOMIC_SEQ_CST));
    w = write(sig_pipe[1], &b, 1);
    (void)w;
    __atomic_sub_fetch(&in_handler, 1, __ATOMIC_SEQ_CST);
    errno = saved;
}

/* Before the client is destroyed: no handler uses it from here on, and one running on
   another thread has finished with it. */
static void forget_client(void) {
    __atomic_store_n(&client, (etcde_client *)NULL, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&in_handler, __ATOMIC_SEQ_CST)) sched_yield();
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
    int lock, holders; /* holders: lock -n, else 1 */
    const char *what;  /* "leadership" or "lock" */
    char *key;         /* own key, any length (the name is the user's) */
    int64_t rev;
    pid_t child;
    int guard_fd; /* write end of the guard's pipe, or -1 */
    int grace_ms, lost;
    int kill_ms;     /* --kill-timeout: after our own SIGTERM/SIGINT/SIGHUP */
    int64_t kill_at; /* then the child's group gets SIGKILL at this time; 0: not yet */
    /* the watcher thread observes the election: our key deleted (etcdctl del, lease
       revoke) is loss at once, not at the next keepalive. A semaphore's holder (-n) may
       stand behind others: only no key at all, or a first key newer than ours, says that
       ours is gone; else the session's own loss detection covers it */
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
    if (type == ETCDE_EVENT_LEADER && h->holders > 1 && kv->create_rev < h->rev) return 0;
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
    notify(NULL, "lost: %s", *why ? why : "no longer held");
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
        if (h->kill_at && now_ms() >= h->kill_at) { /* the grace after our SIGTERM is over */
            kill(-h->child, SIGKILL);
            h->kill_at = 0;
        }
        if (h->kill_at && h->kill_at - now_ms() < left) left = h->kill_at - now_ms();
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
            int term = sigs[i] == SIGINT || sigs[i] == SIGTERM || sigs[i] == SIGHUP;
            if (sigs[i] == SIGCHLD) continue;
            if (term) notify("STOPPING=1", "stopping: signal %d", sigs[i]);
            if (h->child > 0) {
                kill(-h->child, sigs[i]); /* forward to the child's group */
                if (term && !h->kill_at) h->kill_at = now_ms() + h->kill_ms;
            } else if (term)
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
    if (type == ETCDE_EVENT_LEADER) /* NO_LEADER prints nothing, like etcdctl */
        print_kv(((const cli *)ud)->json, kv->key, kv->key_len, kv->value, kv->value_len,
                 kv->create_rev, kv->lease);
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
    if (o->mode == LEADER) { /* the one-shot query: what etcde_leader said, and exit */
        if (r == ETCDE_OK)
            print_kv(o->json, kv.key, kv.key_len, kv.value, kv.value_len, kv.create_rev, kv.lease);
        rc = r == ETCDE_OK ? 0 : r == ETCDE_ERR_NO_LEADER ? 3 : 1;
        if (rc == 3) fprintf(stderr, PROG ": %s has no leader\n", o->name);
    } else if (r == ETCDE_OK || r == ETCDE_ERR_NO_LEADER)
        r = etcde_observe(e, on_observe, (void *)o, -1);
    if (r != ETCDE_OK && r != ETCDE_ERR_CANCELLED && r != ETCDE_ERR_NO_LEADER) {
        /* SIGINT: exit 0, like etcdctl */
        fprintf(stderr, PROG ": %s %s: %s%s\n", o->mode == LEADER ? "leader" : "observe", o->name,
                etcde_election_errmsg(e), tls_hint());
        rc = 1;
    }
    etcde_election_destroy(e);
    return rc;
}

/* Where we stand in the queue, for systemd's status line: behind the current holder. */
static void notify_waiting(holder *h, const char *name) {
    etcde_kv kv;
    etcde_result r;
    if (notify_fd < 0) return;
    r = etcde_leader(h->e, &kv);
    if (r == ETCDE_OK)
        notify(NULL, "waiting behind %.*s for the %s of %s",
               (int)(kv.key_len > 300 ? 300 : kv.key_len), kv.key, h->what, name);
    else
        notify(NULL, "waiting for the %s of %s", h->what, name);
}

static int run_hold(const cli *o) {
    etcde_session_options so;
    holder h;
    watchdog wd;
    etcde_result r;
    int rc, i, slack;
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
       survived for TTL - guard instead of TTL - TTL/10. A longer --kill-timeout widens
       guard to fit it (up to TTL/2, which then bounds the grace on loss); a shorter one
       shortens the grace. */
    memset(&so, 0, sizeof so);
    so.ttl_s = o->ttl;
    so.guard_ms = o->ttl >= 10 ? 2500 : o->ttl * 250;
    if (o->kill_given && o->kill_ms > so.guard_ms - 500)
        so.guard_ms = o->kill_ms + 500 < o->ttl * 500 ? o->kill_ms + 500 : o->ttl * 500;
    slack = so.guard_ms / 5 > 500 ? 500 : so.guard_ms / 5 > 100 ? so.guard_ms / 5 : 100;
    h.grace_ms = so.guard_ms - slack;
    if (o->kill_given && o->kill_ms < h.grace_ms) h.grace_ms = o->kill_ms;
    h.kill_ms = o->kill_ms;
    wd.running = 0;
    /* bounded by --dial-timeout/--command-timeout. etcdctl: retries an unreachable etcd
       for ever. */
    if ((r = etcde_session_create(client, &so, &h.s)) != ETCDE_OK) {
        if (r == ETCDE_ERR_CANCELLED)
            fprintf(stderr, PROG ": interrupted\n");
        else
            fprintf(stderr, PROG ": cannot create a session: %s%s\n", etcde_client_errmsg(client),
                    tls_hint());
        notify("STOPPING=1", "cannot create a session");
        return 1;
    }
    h.lock = o->mode == LOCK;
    h.holders = o->holders ? o->holders : 1;
    r = etcde_election_create(client, h.s, o->name, &h.e);
    if (r != ETCDE_OK) {
        fprintf(stderr, PROG ": %s\n", etcde_client_errmsg(client));
        etcde_session_destroy(h.s);
        return 1;
    }
    watchdog_start(&wd, h.s, etcde_session_ttl(h.s), so.guard_ms);
    notify_waiting(&h, o->name);
    if (h.lock)
        r = etcde_lock_n(h.e, o->holders ? o->holders : 1, -1); /* unbounded, as etcdctl */
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
    notify("READY=1", "%s %s as %s, token %lld", h.lock ? "holding the lock" : "leading", o->name,
           h.key, (long long)h.rev);
    if (!o->cmd) { /* etcdctl prints key and value (empty for a lock); with a CMD, nothing */
        const char *v = h.lock ? "" : o->value;
        print_kv(o->json, h.key, strlen(h.key), v, strlen(v), h.rev, etcde_session_lease(h.s));
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
    notify("STOPPING=1", NULL);
    watchdog_stop(&wd);
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

static void free_tls(void *ctx) {
#ifdef ETCD_ELECT_TLS
    if (ctx) SSL_CTX_free((SSL_CTX *)ctx); /* without TLS, OpenSSL was never loaded */
#else
    (void)ctx;
#endif
}

/* ---- TLS, as etcdctl decides it -------------------------------------------------------- */

/* etcdctl speaks TLS to an https:// endpoint, and to every endpoint once --cacert, --cert
   or --key is given or --insecure-transport=false; --insecure-skip-tls-verify only
   matters then. One transport serves every endpoint here, so with TLS on an explicit
   http:// endpoint is refused. Returns 0 (t set up if TLS is on, *ctx to free), or the
   exit status after the error is reported. */
static int setup_tls(const cli *o, etcde_transport *t, void **ctx) {
    const char *eps = o->endpoints, *src = "--endpoints", *why = NULL;
    if (!eps || !*eps) eps = getenv("ETCDCTL_ENDPOINTS"), src = "$ETCDCTL_ENDPOINTS";
    if (!eps) eps = "";
    *ctx = NULL;
    if (strstr(eps, "https://"))
        why = src[0] == '$' ? "an https:// endpoint in $ETCDCTL_ENDPOINTS"
                            : "an https:// endpoint in --endpoints";
    else if (o->cacert || o->cert || o->key)
        why = o->cacert ? "--cacert ($ETCDCTL_CACERT)" : "--cert/--key ($ETCDCTL_CERT/KEY)";
    else if (!o->insecure_transport)
        why = "--insecure-transport=false";
    if (!why) return 0;
#ifdef ETCD_ELECT_TLS
    {
        char err[600];
        const char *p = strstr(eps, "http://");
        if (p) {
            fprintf(stderr,
                    PROG ": %s: %.*s is plain http:// but TLS is on (%s); one connection type "
                         "serves all endpoints\n",
                    src, (int)strcspn(p, ","), p, why);
            return 2;
        }
        if (tls_load()) {
            fprintf(stderr, PROG ": TLS: %s\n", tls_load());
            return 1;
        }
        if (!(*ctx = tls_ctx_new(o->cacert, o->cert, o->key, !o->skip_verify, err, sizeof err))) {
            fprintf(stderr, PROG ": TLS: %s\n", err);
            return 1;
        }
        tls_transport(t, (SSL_CTX *)*ctx);
        with_client_cert = o->cert != NULL;
        return 0;
    }
#else
    (void)t;
    fprintf(stderr,
            PROG ": this " PROG " was built without TLS (make NO_TLS=1), so %s cannot be "
                 "used; rebuild it with OpenSSL's headers installed\n",
            why);
    return 2;
#endif
}

int main(int argc, char **argv) {
    etcde_options opts;
    etcde_client *c;
    etcde_result r;
    etcde_transport tls;
    void *tls_ctx;
    cli o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 3 ? 0 : rc;
    if ((rc = setup_tls(&o, &tls, &tls_ctx)) != 0) return rc;
    notify_init();
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&opts, 0, sizeof opts);
    opts.endpoints = o.endpoints; /* NULL: $ETCDCTL_ENDPOINTS, else 127.0.0.1:2379 */
    opts.dial_timeout_ms = o.dial_ms;
    opts.request_timeout_ms = o.cmd_ms;
    opts.user = o.user;
    opts.password = o.password;
    opts.max_request_bytes = (size_t)o.max_request;
    if (tls_ctx) opts.transport = &tls;
    if ((r = etcde_client_create(&opts, &c)) != ETCDE_OK) {
        free_tls(tls_ctx);
        if (r == ETCDE_ERR_INVALID_ARGS) { /* the library names its option: ours is a flag */
            char msg[600];
            const char *m = etcde_client_errmsg(NULL), *at = strstr(m, "etcde_options.endpoints");
            if (!at) return bad(m, NULL);
            snprintf(msg, sizeof msg, "%.*s--endpoints%s", (int)(at - m), m,
                     at + strlen("etcde_options.endpoints"));
            return bad(msg, NULL);
        }
        fprintf(stderr, PROG ": %s\n", etcde_client_errmsg(NULL));
        return 1;
    }
    __atomic_store_n(&client, c, __ATOMIC_SEQ_CST);
    if (install_signals(o.cmd != NULL) != 0) {
        fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
        forget_client();
        etcde_client_destroy(c);
        free_tls(tls_ctx);
        return 1;
    }
    rc = o.mode == OBSERVE || o.mode == LEADER ? run_observe(&o) : run_hold(&o);
    forget_client();
    etcde_client_destroy(c);
    free_tls(tls_ctx);
    return rc;
}
