/* libFuzzer target: the public API, driven from the request side against a fake etcd.

   Each input is a small program. Its first bytes set the client options (request and dial
   timeouts of tens of milliseconds, response and request caps, endpoint list, credentials)
   and script the fake server; the rest is a sequence of API calls on up to 2 sessions,
   3 elections and 2 mutexes: create, campaign, proclaim, resign, leader, observe, fenced
   puts and deletes, lock, trylock, unlock, state queries, cancel/uncancel (also from a
   timer thread), close, orphan, destroy, and a rare pause up to a 1 s lease's renewal or
   deadline. Names run from "" to ~10 KiB, with '/', spaces, UTF-8 and binary bytes;
   values sit around every size limit (built by repetition: inputs are at most 8 KiB).

   The fake is an etcd JSON gateway on 127.0.0.1, started once per process. It refuses
   WebSocket upgrades (400), so renewals and watches go by plain requests. Every request
   but keepalives takes the next script byte, which picks an etcd-shaped success (shaped
   so that campaigns can win, wait behind a predecessor, or find their key gone), an etcd
   3.4 or 3.6 error, a truncated reply, silence past the timeout, a close, an odd but legal
   HTTP shape, or a success with one number replaced (0, -1, INT64_MAX, "abc", ...).
   Keepalives follow one per-input mode instead, since they come from another thread.

   Checks (abort on violation; ASan, UBSan (made fatal) and LeakSanitizer add theirs):
     - every result is ETCDE_OK or a code etcde_strerror knows;
     - every failure leaves a non-empty message on its object: printable ASCII (but see
       FUZZ_API_USER_BYTES_IN_MESSAGES), not repeating a code text ("cancelled:
       cancelled"), not showing the password or token (nor may any log line);
     - a failed campaign or lock on a handle that did not lead leaves it not leading; a
       leading handle always has its own key and a positive fencing token; a fenced write
       or proclaim by a non-leader fails and sends nothing; a resign or unlock releases
       the other handles on the same session, name and key;
     - observe's callback gets consistent arguments and is not called after it stopped;
       calls from inside it (on the same handle, refused; on another) return cleanly;
       on_lost runs at most once, with a readable reason;
     - every call returns within its own timeouts plus SLACK_MS, not counting the time
       its thread waited for a CPU;
     - every request is well-formed HTTP/1.1 with known headers and a JSON body;
     - after everything is destroyed no connection or descriptor stays open.

   Input layout: 5 option bytes, a script (length from byte 4), then operations; see
   decode_options() and the OP_ list. Run: tests/fuzz/run.sh api */
#include "../etcdt_test.h" /* etcdt_open_fds */
#define ETCD_ELECT_STATIC
#define ETCD_ELECT_IMPLEMENTATION
#include "../../etcd_elect.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Switches (-D...=0/1) for input classes and checks, to keep fuzzing past a known finding. */
#ifndef FUZZ_API_MISUSE
#define FUZZ_API_MISUSE 1 /* calls with a NULL value and a length, NULL key, NULL session */
#endif
#ifndef FUZZ_API_MISUSE_MESSAGES
#define FUZZ_API_MISUSE_MESSAGES 1 /* 1: their INVALID_ARGS must leave a message too */
#endif
#ifndef FUZZ_API_WATCH_BAD_KEY
#define FUZZ_API_WATCH_BAD_KEY                                \
    0 /* 1: a watch DELETE whose key is not base64 (a waiting \
         campaign or lock must fail with a message; off by default: it ends most waits early) */
#endif
#ifndef FUZZ_API_USER_BYTES_IN_MESSAGES
#define FUZZ_API_USER_BYTES_IN_MESSAGES                \
    0 /* 1: tolerate user-name bytes shown unquoted in \
         auth messages (0: they must be quoted) */
#endif

#define BUDGET_MS 60 /* no new call starts after this much of an input */
#define SLACK_MS                                                            \
    400 /* a call may overrun its own timeouts by this much (ASan), besides \
           the time its thread waited for a CPU */
#define MAX_OPS 32
#define NAME_CAP 10400            /* longest generated name is 10299 bytes */
#define BIG_CAP ((size_t)5 << 20) /* past the default response cap, 4.6 MiB */
#define DEFAULT_MAX_REQUEST ((size_t)1572864)
#define PASSWORD_MARK "s3cr3tPW"
#define TOKEN_MARK "s3cr3tTOK"

const char *__ubsan_default_options(void);
/* UBSan reports only print by default: make them fatal so libFuzzer keeps a reproducer. */
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

static void die(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;
static void die(const char *fmt, ...) {
    va_list ap;
    fputs("fuzz_api: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds this thread has waited on a run queue (Linux schedstat; 0 elsewhere): a
   loaded machine stalls the caller, and that is not the library overrunning a deadline. */
static int SCHEDSTAT = -1; /* the fuzzing thread's, opened once; re-read with pread */

static int64_t queued_ms(void) {
    char b[96];
    long long cpu = 0, wait = 0;
    ssize_t n = SCHEDSTAT >= 0 ? pread(SCHEDSTAT, b, sizeof b - 1, 0) : -1;
    if (n <= 0) return 0;
    b[n] = 0;
    if (sscanf(b, "%lld %lld", &cpu, &wait) != 2) return 0;
    return wait / 1000000;
}

/* When a call started: wall clock and run-queue wait. */
typedef struct stamp {
    int64_t at, queued;
} stamp;

static stamp stamp_now(void) {
    stamp t;
    t.queued = queued_ms();
    t.at = now_ms();
    return t;
}

static void sleep_ms(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* ---- growable byte string (the fake's replies) ----------------------------------- */

typedef struct sb {
    char *p;
    size_t n, cap;
} sb;

static void sb_add(sb *b, const void *d, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        char *np;
        while (nc < b->n + n + 1) nc *= 2;
        np = (char *)realloc(b->p, nc);
        if (!np) die("out of memory in the fake server");
        b->p = np;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sb *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_rep(sb *b, char ch, size_t n) {
    char unit[256];
    memset(unit, ch, sizeof unit);
    while (n) {
        size_t k = n < sizeof unit ? n : sizeof unit;
        sb_add(b, unit, k);
        n -= k;
    }
}

static void sb_fmt(sb *b, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void sb_fmt(sb *b, const char *fmt, ...) {
    char t[512];
    va_list ap;
    int k;
    va_start(ap, fmt);
    k = vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof t) die("sb_fmt: %d bytes do not fit", k);
    sb_add(b, t, (size_t)k);
}

static const char *find(const char *h, size_t hn, const char *nd, size_t nn) {
    const char *end = h + hn, *p = h;
    if (nn == 0) return h;
    while (hn >= nn && (p = (const char *)memchr(p, nd[0], (size_t)(end - p))) != NULL) {
        if ((size_t)(end - p) < nn) return NULL;
        if (memcmp(p, nd, nn) == 0) return p;
        p++;
    }
    return NULL;
}

/* ---- base64, for keys the fake derives from the client's ------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64enc(const unsigned char *in, size_t n, char *out) {
    size_t i, o = 0;
    for (i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n) v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
        out[o++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? B64[v & 63] : '=';
    }
    return o;
}

static long b64dec(const char *in, size_t n, unsigned char *out) {
    size_t i, o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (i = 0; i < n && in[i] != '='; i++) {
        const char *p = (const char *)memchr(B64, in[i], 64);
        if (!p || !in[i]) return -1;
        acc = acc << 6 | (unsigned)(p - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 255);
        }
    }
    return (long)o;
}

/* ---- the fake etcd ----------------------------------------------------------------- */

#define HEAD_CAP 32768
#define BODY_MAX ((size_t)16 << 20)
#define KEY_CAP 16384 /* base64 of the longest key the fake derives (~10.6 KiB raw) */
#define SCRIPT_MAX 64

enum { T_KEEP, T_CLOSE, T_HOLD }; /* after a reply: next request, close, wait for the client */

typedef struct own_rec {
    uint64_t h; /* FNV-1a of the key's base64 */
    int64_t cr;
} own_rec;

#define WORKERS                                                             \
    48 /* connection threads, made once: no thread starts or ends during an \
          input, so libFuzzer's per-input malloc/free count stays balanced */
#define QUEUE 256

static struct fake {
    int lfd, port, dead_port;
    pthread_t accept_th, workers[WORKERS];
    pthread_mutex_t mu;
    pthread_cond_t queued, idle; /* a connection was queued; none is open */
    int queue[QUEUE];            /* accepted connections waiting for a worker */
    unsigned qhead, qtail;
    int active; /* connections accepted and not yet closed */
    /* per input, under mu */
    unsigned char script[SCRIPT_MAX];
    size_t nscript;
    unsigned k;    /* scripted requests so far */
    unsigned live; /* of those, the ones whose client still waited for the answer */
    int ka_mode, ttl_mode, id_mode;
    size_t max_resp;
    int64_t rev, grants, ttl_granted, leader_cr, pred_cr;
    own_rec own[8];
    int nown;
    char own_key[KEY_CAP], pred_key[KEY_CAP]; /* base64 */
    size_t nown_key, npred_key;
    char bad[400]; /* the first malformed request of this input, "" if none */
} F;

static void flag_bad(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static void flag_bad(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&F.mu);
    if (!F.bad[0]) {
        va_start(ap, fmt);
        vsnprintf(F.bad, sizeof F.bad, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&F.mu);
}

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

typedef struct req {
    char path[64];
    char *body;
    size_t n;
} req;

typedef struct conn {
    int fd;
    char buf[HEAD_CAP];
    size_t len;
} conn;

/* Waits for input; 0 when the peer went away or nothing came for 10 s. */
static int conn_fill(conn *c) {
    struct pollfd p;
    ssize_t k;
    p.fd = c->fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 10000) != 1) return 0;
    k = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (k <= 0) return 0;
    c->len += (size_t)k;
    return 1;
}

static int ieq(const char *a, size_t an, const char *b) {
    size_t i;
    if (an != strlen(b)) return 0;
    for (i = 0; i < an; i++) {
        int x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x += 32;
        if (y >= 'A' && y <= 'Z') y += 32;
        if (x != y) return 0;
    }
    return 1;
}

/* The request head in buf[0, hlen): "POST /v3/... HTTP/1.1", then only the headers the
   library sends, each printable. Sets the path and the Content-Length. */
static int check_head(const char *h, size_t hlen, req *q, size_t *clen) {
    const char *end = h + hlen, *line = h, *eol;
    int have_len = 0, first = 1;
    while (line < end && (eol = find(line, (size_t)(end - line), "\r\n", 2)) != NULL) {
        size_t n = (size_t)(eol - line), i;
        int show = n < 80 ? (int)n : 80; /* of the line, in a complaint */
        if (n == 0) break;
        for (i = 0; i < n; i++)
            if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) {
                flag_bad("control byte 0x%02x in request head line \"%.*s\"",
                         (unsigned char)line[i], show, line);
                return 0;
            }
        if (first) {
            const char *sp = (const char *)memchr(line + 5, ' ', n > 5 ? n - 5 : 0);
            first = 0;
            if (n < 15 || memcmp(line, "POST /v3/", 9) != 0 || !sp ||
                (size_t)(sp - line - 5) >= sizeof q->path || (size_t)(eol - sp) != 9 ||
                memcmp(sp, " HTTP/1.1", 9) != 0) {
                flag_bad("bad request line \"%.*s\"", show, line);
                return 0;
            }
            memcpy(q->path, line + 5, (size_t)(sp - line - 5));
            q->path[sp - line - 5] = 0;
        } else {
            const char *colon = (const char *)memchr(line, ':', n), *v;
            size_t nl;
            if (!colon) {
                flag_bad("request header line without a colon: \"%.*s\"", show, line);
                return 0;
            }
            nl = (size_t)(colon - line);
            v = colon + 1;
            while (v < eol && *v == ' ') v++;
            if (ieq(line, nl, "content-length")) {
                size_t k = 0;
                *clen = 0;
                for (; v + k < eol && v[k] >= '0' && v[k] <= '9' && k < 10; k++)
                    *clen = *clen * 10 + (size_t)(v[k] - '0');
                if (k == 0 || v + k != eol || have_len) {
                    flag_bad("bad or repeated Content-Length \"%.*s\"", show, line);
                    return 0;
                }
                have_len = 1;
            } else if (!ieq(line, nl, "host") && !ieq(line, nl, "content-type") &&
                       !ieq(line, nl, "authorization") &&
                       !ieq(line, nl, "grpc-metadata-hasleader")) {
                flag_bad("unexpected request header \"%.*s\"", show, line);
                return 0;
            }
        }
        line = eol + 2;
    }
    if (!have_len) {
        flag_bad("request %s without Content-Length", q->path);
        return 0;
    }
    return 1;
}

static int json_ok(const char *s, size_t n) {
    return n > 0 && n < (size_t)INT_MAX && s[0] == '{' && etcde__json_parse(s, (int)n, NULL, 0) > 0;
}

/* The body must be JSON: one object, or for a watch one or two concatenated objects. */
static void check_body(const req *q) {
    const char *two = strcmp(q->path, "/v3/watch") == 0 ? find(q->body, q->n, "}}{", 3) : NULL;
    int ok = two ? json_ok(q->body, (size_t)(two + 2 - q->body)) &&
                       json_ok(two + 2, q->n - (size_t)(two + 2 - q->body))
                 : json_ok(q->body, q->n);
    if (!ok) flag_bad("request body of %s is not a JSON object: \"%.80s\"", q->path, q->body);
}

/* Reads one request. 1 with path and body (malloc'd), 0 when the connection is done. */
static int read_req(conn *c, req *q) {
    const char *e;
    size_t hlen, clen = 0, have;
    memset(q, 0, sizeof *q);
    while ((e = find(c->buf, c->len, "\r\n\r\n", 4)) == NULL) {
        if (c->len == sizeof c->buf) {
            flag_bad("request head longer than %d bytes", HEAD_CAP);
            return 0;
        }
        if (!conn_fill(c)) return 0;
    }
    hlen = (size_t)(e - c->buf) + 4;
    if (hlen >= 8 && memcmp(c->buf, "GET /v3/", 8) == 0) {
        /* a WebSocket upgrade (renewals, watch stream): refused, as a proxy may; the client
           then renews and watches over plain requests, which this fake scripts */
        static const char no[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 "Connection: close\r\n\r\n";
        if (!find(c->buf, hlen, "Upgrade: websocket\r\n", 20))
            flag_bad("GET without a WebSocket upgrade: \"%.60s\"", c->buf);
        else
            (void)send(c->fd, no, sizeof no - 1, MSG_NOSIGNAL); /* the connection ends */
        return 0;
    }
    if (!check_head(c->buf, hlen, q, &clen)) return 0;
    if (clen > BODY_MAX) {
        flag_bad("request body of %lu bytes", (unsigned long)clen);
        return 0;
    }
    q->body = (char *)malloc(clen + 1);
    if (!q->body) die("out of memory in the fake server");
    have = c->len - hlen < clen ? c->len - hlen : clen;
    memcpy(q->body, c->buf + hlen, have);
    memmove(c->buf, c->buf + hlen + have, c->len - hlen - have);
    c->len -= hlen + have;
    while (have < clen) {
        struct pollfd p;
        ssize_t k;
        p.fd = c->fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 10000) != 1 || (k = recv(c->fd, q->body + have, clen - have, 0)) <= 0) {
            free(q->body);
            q->body = NULL;
            return 0;
        }
        have += (size_t)k;
    }
    q->body[clen] = 0;
    q->n = clen;
    check_body(q);
    return 1;
}

/* The text of string member `name` at or after *pos in the body; moves *pos past it. */
static int jfield(const req *q, size_t *pos, const char *name, const char **s, size_t *n) {
    char pat[48];
    const char *p, *e;
    size_t pl = (size_t)snprintf(pat, sizeof pat, "\"%s\":\"", name);
    if (*pos > q->n || !(p = find(q->body + *pos, q->n - *pos, pat, pl))) return 0;
    p += pl;
    e = (const char *)memchr(p, '"', (size_t)(q->body + q->n - p));
    if (!e) return 0;
    *s = p;
    *n = (size_t)(e - p);
    *pos = (size_t)(e + 1 - q->body);
    return 1;
}

static int64_t jnum(const req *q, const char *name, int64_t def) {
    const char *s;
    size_t n, pos = 0, i;
    int64_t v = 0;
    if (!jfield(q, &pos, name, &s, &n) || n == 0 || n > 18) return def;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return def;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* A reply body under construction; numbers go through rnum so one can be replaced. */
typedef struct rep {
    sb b;
    int mut_at, mut_with, nums;
} rep;

static const char *const MUTS[16] = {"\"0\"",
                                     "\"-1\"",
                                     "\"9223372036854775807\"",
                                     "\"-9223372036854775808\"",
                                     "\"abc\"",
                                     "\"\"",
                                     "\"99999999999999999999\"",
                                     "0",
                                     "-1",
                                     "9223372036854775807",
                                     "1.5",
                                     "null",
                                     "true",
                                     "\"2147483648\"",
                                     "\"2147483647\"",
                                     "{}"};

static void rnum(rep *r, int64_t v) {
    if (r->nums++ == r->mut_at)
        sb_str(&r->b, MUTS[r->mut_with & 15]);
    else
        sb_fmt(&r->b, "\"%lld\"", (long long)v);
}

static void rhdr(rep *r, int64_t rev) {
    sb_str(&r->b, "{\"cluster_id\":\"14841639068965178418\",\"member_id\":\"10276657743932975437\","
                  "\"revision\":");
    rnum(r, rev);
    sb_str(&r->b, ",\"raft_term\":\"2\"}");
}

/* {"key":K,"create_revision":..,"mod_revision":..,"version":..[,"value":V][,"lease":..]} */
static void rkv(rep *r, const char *k, size_t kn, int64_t cr, int64_t mr, const char *v, size_t vn,
                int64_t lease) {
    sb_str(&r->b, "{\"key\":\"");
    sb_add(&r->b, k, kn);
    sb_str(&r->b, "\",\"create_revision\":");
    rnum(r, cr);
    sb_str(&r->b, ",\"mod_revision\":");
    rnum(r, mr);
    sb_str(&r->b, ",\"version\":");
    rnum(r, 1);
    if (vn) {
        sb_str(&r->b, ",\"value\":\"");
        sb_add(&r->b, v, vn);
        sb_str(&r->b, "\"");
    }
    if (lease) {
        sb_str(&r->b, ",\"lease\":");
        rnum(r, lease);
    }
    sb_str(&r->b, "}");
}

static const char *reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Internal Server Error";
    }
}

static void http_json(sb *out, int status, const char *body, size_t n) {
    sb_fmt(out,
           "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nGrpc-Metadata-Content-Type: "
           "application/grpc\r\n"
           "Content-Length: %lu\r\n\r\n",
           status, reason(status), (unsigned long)n);
    sb_add(out, body, n);
}

static void chunk(sb *out, const char *d, size_t n) {
    sb_fmt(out, "%lx\r\n", (unsigned long)n);
    sb_add(out, d, n);
    sb_str(out, "\r\n");
}

/* Errors as etcd sends them; messages are JSON text (already escaped). */
static const struct {
    int status, code;
    const char *msg;
} ERRS[16] = {
    {500, 2, "boom"},
    {404, 5, "etcdserver: requested lease not found"},
    {503, 14, "etcdserver: no leader"},
    {504, 4, "context deadline exceeded"},
    {401, 16, "etcdserver: invalid auth token"},
    {403, 7, "etcdserver: permission denied"},
    {400, 3, "etcdserver: key is not provided"},
    {400, 11, "etcdserver: mvcc: required revision has been compacted"},
    {429, 8, "etcdserver: too many requests"},
    {500, 13, "etcdserver: request timed out"},
    {400, 3, "etcdserver: authentication failed, invalid user ID or password"},
    {500, 2, "\\u001b[31m\\u0007 \xc3\xa9\xff bytes \\\"quoted\\\""},
    {500, 2, ""},
    {200, 2, "an error with status 200"},
    {500, -1, "cancelled"},
    {503, 1, "timed out"},
};

static void err34(sb *out, unsigned v) {
    sb body = {NULL, 0, 0};
    sb_fmt(&body, "{\"error\":\"%s\",\"code\":%d,\"message\":\"%s\"}", ERRS[v].msg, ERRS[v].code,
           ERRS[v].msg);
    sb_fmt(
        out,
        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nTrailer: Grpc-Trailer-Content-Type\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        ERRS[v].status, reason(ERRS[v].status));
    chunk(out, body.p, body.n);
    sb_str(out, "0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\n");
    free(body.p);
}

static void err36(sb *out, unsigned v) {
    sb body = {NULL, 0, 0};
    sb_fmt(&body, "{\"code\":%d,\"message\":\"%s\",\"details\":[]}", ERRS[v].code, ERRS[v].msg);
    http_json(out, ERRS[v].status, body.p, body.n);
    free(body.p);
}

/* Suffixes for keys of other candidates: ordinary, sorting first, sorting last,
   control bytes, long. */
static const char *suffix(unsigned sel) {
    static char longer[301];
    switch (sel % 5) {
    case 0: return "694da20c6819415c";
    case 1: return "1";
    case 2: return "ffffffffffffffffff";
    case 3: return "\x1b[31mred\x07";
    default:
        memset(longer, 'k', 300);
        longer[300] = 0;
        return longer;
    }
}

/* Another candidate's key beside the base64 key b64: base64 of the decoded key up to and
   including its last '/', then suffix(sel). */
static size_t sibling(const char *b64, size_t n, unsigned sel, char *out) {
    static unsigned char raw[KEY_CAP];
    long m = n < KEY_CAP ? b64dec(b64, n, raw) : -1;
    const char *suf = suffix(sel);
    size_t cut, sl = strlen(suf);
    if (m < 0) m = 0;
    for (cut = (size_t)m; cut > 0 && raw[cut - 1] != '/'; cut--) {}
    if (cut == 0) cut = (size_t)m; /* a prefix ("NAME/") ends in '/' already */
    if ((cut + sl) / 3 * 4 + 4 >= KEY_CAP) cut = 0;
    memcpy(raw + cut, suf, sl);
    return b64enc(raw, cut + sl, out);
}

static int64_t own_cr(const char *k, size_t kn, int64_t def) {
    uint64_t h = fnv(k, kn);
    int i;
    for (i = 0; i < F.nown; i++)
        if (F.own[i].h == h) return F.own[i].cr;
    return def;
}

static void own_put(const char *k, size_t kn, int64_t cr) {
    uint64_t h = fnv(k, kn);
    int i;
    for (i = 0; i < F.nown && F.own[i].h != h; i++) {}
    if (i == F.nown) {
        if (F.nown == 8)
            i = 0;
        else
            F.nown++;
    }
    F.own[i].h = h;
    F.own[i].cr = cr;
    if (kn < KEY_CAP) {
        memcpy(F.own_key, k, kn);
        F.nown_key = kn;
    }
}

/* The OK body of a unary call; v varies it. Called with F.mu held. */
static void ok_body(const req *q, unsigned v, rep *r) {
    const char *k = "", *val = "";
    size_t kn = 0, vn = 0, pos = 0;
    int64_t rev = F.rev;
    static char sib[KEY_CAP];
    if (strcmp(q->path, "/v3/lease/grant") == 0) {
        int64_t want = jnum(q, "TTL", 60), ttl;
        static const int64_t fixed[8] = {1, 2, 5, 60, 3, 2, 1, 10};
        ttl = F.ttl_mode < 8    ? (want < 2 ? 2 : want)
              : F.ttl_mode < 12 ? fixed[F.ttl_mode - 8]
                                : want;
        F.ttl_granted = ttl;
        F.grants++;
        sb_str(&r->b, "{\"header\":");
        rhdr(r, rev);
        sb_str(&r->b, ",\"ID\":");
        rnum(r, F.id_mode == 2   ? F.grants
                : F.id_mode == 3 ? INT64_MAX - F.grants
                                 : 7587899121358946652LL + F.grants);
        sb_str(&r->b, ",\"TTL\":");
        rnum(r, ttl);
        sb_str(&r->b, "}");
    } else if (strcmp(q->path, "/v3/lease/revoke") == 0) {
        sb_str(&r->b, "{\"header\":");
        rhdr(r, ++F.rev);
        sb_str(&r->b, "}");
    } else if (strcmp(q->path, "/v3/auth/authenticate") == 0) {
        sb_str(&r->b, "{\"header\":");
        rhdr(r, rev);
        switch (v) { /* good; none; long; bytes that do not belong in an HTTP header */
        case 10: break;
        case 11:
            sb_str(&r->b, ",\"token\":\"faketok.");
            sb_rep(&r->b, 'a', 1500);
            sb_str(&r->b, TOKEN_MARK "\"");
            break;
        case 12: sb_str(&r->b, ",\"token\":\"faketok\\r\\nX-Evil: 1\""); break;
        case 13: sb_str(&r->b, ",\"token\":\"fake tok " TOKEN_MARK "\""); break;
        case 14: sb_str(&r->b, ",\"token\":\"faketok\\u0000hidden\""); break;
        case 15: sb_str(&r->b, ",\"token\":\"tok\\u00e9\\u0001" TOKEN_MARK "\""); break;
        default: sb_str(&r->b, ",\"token\":\"faketok." TOKEN_MARK ".1\""); break;
        }
        sb_str(&r->b, "}");
    } else if (strcmp(q->path, "/v3/kv/range") == 0) {
        /* the leader of the prefix in the request: none, the client's own key, another */
        jfield(q, &pos, "key", &k, &kn);
        sb_str(&r->b, "{\"header\":");
        rhdr(r, rev);
        if (v < 5) {
            if (v & 1) sb_str(&r->b, ",\"count\":\"0\"");
        } else {
            size_t sn = sibling(k, kn, 0, sib);
            int64_t cr = 5;
            const char *lk = sib;
            size_t ln = sn;
            if (v < 10 && F.nown_key) {
                lk = F.own_key;
                ln = F.nown_key;
                cr = own_cr(lk, ln, 7);
            }
            if (v == 15) lk = "!!!!", ln = 4;
            F.leader_cr = cr;
            sb_str(&r->b, ",\"kvs\":[");
            if (v == 13 || v == 14) { /* a value that brings the body just under / over the cap */
                size_t used = r->b.n + ln + 260; /* 260: the rest of the body, roughly */
                size_t room = F.max_resp > used ? F.max_resp - used : 0;
                if (room > ((size_t)2 << 20)) room = (size_t)2 << 20;
                if (v == 14) room += 400;
                room &= ~(size_t)3;
                sb_str(&r->b, "{\"key\":\"");
                sb_add(&r->b, lk, ln);
                sb_str(&r->b, "\",\"create_revision\":");
                rnum(r, cr);
                sb_str(&r->b, ",\"mod_revision\":");
                rnum(r, cr);
                sb_str(&r->b, ",\"value\":\"");
                sb_rep(&r->b, 'Q', room);
                sb_str(&r->b, "\"}");
            } else {
                rkv(r, lk, ln, cr, cr + 1, "dmFsdWU=", 8, 7587899121358946652LL);
            }
            sb_str(&r->b, "],\"count\":");
            rnum(r, 1);
        }
        sb_str(&r->b, "}");
    } else if (strcmp(q->path, "/v3/kv/txn") == 0) {
        int enter = find(q->body, q->n, "\"failure\":[", 11) != NULL;
        int check = q->n > 12 && memcmp(q->body, "{\"success\":[", 12) == 0;
        int del = find(q->body, q->n, "\"request_delete_range\"", 22) != NULL;
        jfield(q, &pos, "key", &k, &kn); /* the own key: compare, or first range */
        if (enter) {
            size_t p2 = pos, sn;
            int64_t cr;
            if (find(q->body, q->n, "\"request_put\"", 13)) jfield(q, &p2, "value", &val, &vn);
            rev = ++F.rev;
            cr = v == 13 || v == 14 ? own_cr(k, kn, rev - 10) : v == 12 ? rev + 5 : rev;
            if (cr < 1) cr = 1;
            own_put(k, kn, cr);
            sn = sibling(k, kn, (unsigned)F.rev + v, sib);
            if (sn < KEY_CAP) {
                memcpy(F.pred_key, sib, sn);
                F.npred_key = sn;
            }
            F.pred_cr = cr > 2 ? cr - 1 - (v & 1) : 1;
            sb_str(&r->b, "{\"header\":");
            rhdr(r, rev);
            if (v < 13) { /* created: [put, range DESCEND limit 2] */
                sb_str(&r->b, ",\"succeeded\":true,\"responses\":[{\"response_put\":{\"header\":{"
                              "\"revision\":");
                rnum(r, rev);
                sb_str(&r->b, "}}},{\"response_range\":{\"header\":{\"revision\":");
                rnum(r, rev);
                sb_str(&r->b, "},\"kvs\":[");
                rkv(r, k, kn, cr, cr, val, vn, 7587899121358946652LL);
                if (v >= 6 && v < 12) {
                    sb_str(&r->b, ",");
                    rkv(r, sib, sn, F.pred_cr, F.pred_cr, "b3RoZXI=", 8, 5);
                }
                sb_str(&r->b, "],\"count\":");
                rnum(r, v < 6 || v == 12 ? 1 : v < 10 ? 2 : 3);
                sb_str(&r->b, "}}]}");
            } else { /* existed: [range own, range first] */
                sb_str(&r->b, ",\"responses\":[{\"response_range\":{\"header\":{\"revision\":");
                rnum(r, rev);
                sb_str(&r->b, "}");
                if (v != 15) {
                    sb_str(&r->b, ",\"kvs\":[");
                    if (v == 13)
                        rkv(r, k, kn, cr, rev, val, vn, 7587899121358946652LL);
                    else
                        rkv(r, k, kn, cr, rev, "b2xk", 4, 7587899121358946652LL);
                    sb_str(&r->b, "],\"count\":\"1\"");
                }
                sb_str(&r->b, "}},{\"response_range\":{\"header\":{\"revision\":");
                rnum(r, rev);
                sb_str(&r->b, "},\"kvs\":[");
                if (v == 13)
                    rkv(r, k, kn, cr, rev, val, vn, 7587899121358946652LL);
                else
                    rkv(r, sib, sn, F.pred_cr, F.pred_cr, "b3RoZXI=", 8, 5);
                sb_str(&r->b, "],\"count\":\"2\"}}]}");
            }
        } else if (check) { /* [range own key, range DESCEND before own create revision] */
            int64_t cr = own_cr(k, kn, rev - 1);
            sb_str(&r->b, "{\"header\":");
            rhdr(r, rev);
            if (v == 15) {
                sb_str(&r->b, "}");
                return;
            }
            sb_str(&r->b, ",\"succeeded\":true,\"responses\":[{\"response_range\":{\"header\":{"
                          "\"revision\":");
            rnum(r, rev);
            sb_str(&r->b, "}");
            if (v != 13) {
                sb_str(&r->b, ",\"kvs\":[");
                rkv(r, k, kn, v == 14 ? cr + 1 : cr, rev, "dmFsdWU=", 8, 7587899121358946652LL);
                sb_str(&r->b, "],\"count\":\"1\"");
            }
            sb_str(&r->b, "}},{\"response_range\":{\"header\":{\"revision\":");
            rnum(r, rev);
            sb_str(&r->b, "}");
            if (v >= 9 && F.npred_key) {
                sb_str(&r->b, ",\"kvs\":[");
                rkv(r, F.pred_key, F.npred_key, F.pred_cr, F.pred_cr, "b3RoZXI=", 8, 5);
                sb_str(&r->b, "],\"count\":\"2\"");
                if (v == 12) sb_str(&r->b, ",\"more\":true");
            }
            sb_str(&r->b, "}}]}");
        } else { /* fenced put / delete, proclaim, re-put, resign */
            int ok = v < 13;
            if (ok) rev = ++F.rev;
            sb_str(&r->b, "{\"header\":");
            rhdr(r, rev);
            if (ok)
                sb_str(&r->b, ",\"succeeded\":true");
            else if (v == 14)
                sb_str(&r->b, ",\"succeeded\":false");
            if (ok && del) {
                sb_str(&r->b,
                       ",\"responses\":[{\"response_delete_range\":{\"header\":{\"revision\":");
                rnum(r, rev);
                sb_str(&r->b, "},\"deleted\":\"1\"}}]");
            } else if (ok) {
                sb_str(&r->b, ",\"responses\":[{\"response_put\":{\"header\":{\"revision\":");
                rnum(r, rev);
                sb_str(&r->b, "}}}]");
            }
            sb_str(&r->b, "}");
        }
    } else {
        if (!F.bad[0])
            snprintf(F.bad, sizeof F.bad, "request to unknown path %s", q->path); /* mu is held */
        sb_str(&r->b, "{\"code\":12,\"message\":\"Not Implemented\"}");
    }
}

/* A reply cut short: the connection closes after part of it. */
static void truncated(sb *out, const sb *body, unsigned v) {
    sb full = {NULL, 0, 0};
    size_t head;
    http_json(&full, 200, body->p, body->n);
    head = full.n - body->n;
    switch (v & 7) {
    case 0: sb_str(out, "HTTP/1.1 200 OK\r\n"); break;
    case 1: sb_add(out, full.p, head / 2); break;
    case 2: sb_add(out, full.p, head + body->n / 2); break;
    case 3:
        sb_str(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        sb_fmt(out, "%lx\r\n", (unsigned long)body->n);
        sb_add(out, body->p, body->n / 2);
        break;
    case 4:
        sb_str(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        chunk(out, body->p, body->n);
        break;
    case 5: sb_str(out, "HTTP/1.1 2"); break;
    case 6: sb_add(out, full.p, full.n - 1); break;
    default: sb_str(out, "\r\n"); break;
    }
    free(full.p);
}

/* Legal or near-legal HTTP shapes etcd does not use (v: 0-31). Returns what follows. */
static int odd(sb *out, const sb *body, unsigned v) {
    size_t i;
    switch (v) {
    case 0:
        sb_str(out, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; "
                    "charset=utf-8\r\nContent-Length: 19\r\n\r\n"
                    "404 page not found\n");
        return T_KEEP;
    case 1: http_json(out, 200, "{\"header\":{\"revision\":\"5\"},", 27); return T_KEEP;
    case 2: http_json(out, 200, "[]", 2); return T_KEEP;
    case 3: http_json(out, 200, "", 0); return T_KEEP;
    case 4:
        sb_str(out, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n");
        sb_add(out, body->p, body->n);
        return T_CLOSE;
    case 5:
        sb_str(out, "HTTP/1.1 100 Continue\r\n\r\n");
        http_json(out, 200, body->p, body->n);
        return T_KEEP;
    case 6:
        sb_fmt(out, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %lu\r\n\r\n",
               (unsigned long)body->n);
        sb_add(out, body->p, body->n);
        return T_CLOSE;
    case 7:
        sb_str(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (i = 0; i < body->n; i += 7) {
            size_t k = body->n - i < 7 ? body->n - i : 7;
            sb_fmt(out, "%lX;ext=\"x\"\r\n", (unsigned long)k);
            sb_add(out, body->p + i, k);
            sb_str(out, "\r\n");
        }
        sb_str(out, "0\r\nX-Trailer: 1\r\n\r\n");
        return T_KEEP;
    case 8: sb_str(out, "HTTP/1.1 204 No Content\r\n\r\n"); return T_KEEP;
    case 9:
        http_json(out, 200, body->p, body->n);
        sb_str(out, "junk\n"); /* stray bytes after the body: the connection must not be reused */
        return T_KEEP;
    case 10:
        sb_str(out, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                    "text/plain\r\nContent-Length: 22\r\n\r\n"
                    "upstream connect error");
        return T_KEEP;
    case 11: {
        sb deep = {NULL, 0, 0};
        sb_rep(&deep, '[', 70);
        sb_rep(&deep, ']', 70);
        http_json(out, 200, deep.p, deep.n);
        free(deep.p);
        return T_KEEP;
    }
    case 12:
        sb_fmt(out, "HTTP/1.1 200 OK\nContent-Length: %lu\n\n", (unsigned long)body->n);
        sb_add(out, body->p, body->n);
        return T_KEEP;
    case 13:
        sb_fmt(out, "HTTP/1.1 200 OK\r\nContent-Length: %lu\r\nContent-Length: %lu\r\n\r\n",
               (unsigned long)body->n, (unsigned long)body->n + 1);
        sb_add(out, body->p, body->n);
        return T_CLOSE;
    case 14:
        sb_fmt(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: %lu\r\n\r\n",
               (unsigned long)body->n);
        sb_add(out, body->p, body->n);
        return T_CLOSE;
    case 15: http_json(out, 200, "{\"header\":{}}", 13); return T_KEEP;
    case 16: /* a header line over the 8 KiB line limit */
        sb_str(out, "HTTP/1.1 200 OK\r\nX-Long: ");
        sb_rep(out, 'a', 9000);
        sb_str(out, "\r\n");
        http_json(out, 200, body->p, body->n); /* what follows no longer matters */
        return T_CLOSE;
    case 17:
    case 21: /* 70 header lines; 70 trailer lines */
        sb_str(out, "HTTP/1.1 200 OK\r\n");
        if (v == 17)
            for (i = 0; i < 70; i++) sb_fmt(out, "X-H%lu: v\r\n", (unsigned long)i);
        sb_str(out, "Transfer-Encoding: chunked\r\n\r\n");
        chunk(out, body->p, body->n);
        sb_str(out, "0\r\n");
        if (v == 21)
            for (i = 0; i < 70; i++) sb_fmt(out, "X-T%lu: v\r\n", (unsigned long)i);
        sb_str(out, "\r\n");
        return T_KEEP;
    case 18: sb_str(out, "HTTP/1.1 200 OK\r\nno colon in this header line\r\n\r\n"); return T_CLOSE;
    case 19:
    case 20: /* a chunk size that is not hex; one past any real size */
        sb_str(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        sb_str(out, v == 19 ? "zz\r\n" : "fffffffffffffffffff\r\n");
        sb_add(out, body->p, body->n);
        return T_CLOSE;
    case 22: /* a close-delimited body one byte over the cap (or 1 MiB) */
        sb_str(out, "HTTP/1.0 200 OK\r\n\r\n");
        sb_rep(out, ' ', (F.max_resp < ((size_t)1 << 20) ? F.max_resp : (size_t)1 << 20) + 1);
        return T_CLOSE;
    case 23:
        for (i = 0; i < 9; i++) sb_str(out, "HTTP/1.1 100 Continue\r\n\r\n");
        http_json(out, 200, body->p, body->n);
        return T_KEEP;
    default: /* a body that arrives in 1-byte chunks */
        sb_str(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (i = 0; i < body->n && i < 4096; i++) chunk(out, body->p + i, 1);
        if (i < body->n) chunk(out, body->p + i, body->n - i);
        sb_str(out, "0\r\n\r\n");
        return T_KEEP;
    }
}

/* One watch message: the JSON line as one chunk, as etcd's gateway sends it. */
static void wmsg(sb *out, rep *m) {
    sb_str(&m->b, "\n");
    chunk(out, m->b.p, m->b.n);
    m->b.n = 0;
}

static void wdelete(rep *m, const char *k, size_t kn, int64_t rev) {
    sb_str(&m->b, "{\"type\":\"DELETE\",\"kv\":{\"key\":\"");
    sb_add(&m->b, k, kn);
    sb_str(&m->b, "\",\"mod_revision\":");
    rnum(m, rev);
    sb_str(&m->b, "}}");
}

static void wevents_open(rep *m, int64_t rev) {
    sb_str(&m->b, "{\"result\":{\"header\":");
    rhdr(m, rev);
    sb_str(&m->b, ",\"events\":[");
}

/* A watch stream: "created", then events chosen by v; held open unless it ends. */
static int watch_ok(const req *q, unsigned v, unsigned extra, rep *m, sb *out) {
    const char *k = "", *pk, *ok; /* the watched key; the predecessor's; the client's own */
    size_t kn = 0, pkn, okn, pos = 0, i;
    int64_t rev = F.rev;
    jfield(q, &pos, "key", &k, &kn);
    pk = F.npred_key ? F.pred_key : k;
    pkn = F.npred_key ? F.npred_key : kn;
    ok = F.nown_key ? F.own_key : k;
    okn = F.nown_key ? F.nown_key : kn;
    sb_str(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nGrpc-Metadata-Content-Type: "
                "application/grpc\r\nTransfer-Encoding: chunked\r\n\r\n");
    if (v != 13) {
        sb_str(&m->b, "{\"result\":{\"header\":");
        rhdr(m, rev);
        sb_str(&m->b, ",\"created\":true}}");
        wmsg(out, m);
    }
    switch (v) {
    case 1:
    case 2:
    case 13:
        wevents_open(m, ++F.rev);
        wdelete(m, pk, pkn, F.rev);
        sb_str(&m->b, "]}}");
        wmsg(out, m);
        return T_HOLD;
    case 3:
    case 4:
    case 14:
        if (v != 4) { /* a proclamation */
            wevents_open(m, ++F.rev);
            sb_str(&m->b, "{\"kv\":");
            rkv(m, k, kn, F.leader_cr, F.rev, "cHJvY2xhaW1lZA==", 16, 7587899121358946652LL);
            sb_str(&m->b, "}]}}");
            wmsg(out, m);
        }
        if (v == 3) return T_HOLD;
        wevents_open(m, ++F.rev); /* the leader goes */
        wdelete(m, k, kn, F.rev);
        sb_str(&m->b, "]}}");
        wmsg(out, m);
        return T_HOLD;
    case 5:
        wevents_open(m, ++F.rev);
        wdelete(m, ok, okn, F.rev);
        sb_str(&m->b, "]}}");
        wmsg(out, m);
        return T_HOLD;
    case 6: sb_str(out, "0\r\n\r\n"); return T_KEEP;
    case 7: /* predecessor and own key go at one revision */
        wevents_open(m, ++F.rev);
        wdelete(m, pk, pkn, F.rev);
        sb_str(&m->b, ",");
        wdelete(m, ok, okn, F.rev);
        sb_str(&m->b, "]}}");
        wmsg(out, m);
        return T_HOLD;
    case 8: /* other keys in the watched range */
        for (i = 0; i < 9; i++) {
            char nk[16];
            size_t nn = b64enc((const unsigned char *)"noise-key-0", 11, nk);
            nk[nn - 1] = B64[i];
            wevents_open(m, ++F.rev);
            wdelete(m, nk, nn, F.rev);
            sb_str(&m->b, "]}}");
            wmsg(out, m);
        }
        return T_HOLD;
    case 9:
        sb_str(&m->b, "{\"result\":{\"header\":");
        rhdr(m, rev);
        sb_str(&m->b, ",\"canceled\":true,\"compact_revision\":");
        rnum(m, rev - 1);
        sb_str(&m->b,
               extra & 16
                   ? ",\"cancel_reason\":\"rpc error: code = Unauthenticated desc = etcdserver: "
                     "invalid auth token\"}}"
                   : ",\"cancel_reason\":\"mvcc: required revision has been compacted\"}}");
        wmsg(out, m);
        sb_str(out, "0\r\n\r\n");
        return T_KEEP;
    case 10:
        sb_str(
            &m->b,
            "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no leader\","
            "\"http_status\":\"Service Unavailable\"}}");
        wmsg(out, m);
        sb_str(out, "0\r\n\r\n");
        return T_KEEP;
    case 11: { /* a proclamation larger than the stream cap */
        size_t room = F.max_resp < ((size_t)2 << 20) ? F.max_resp : (size_t)2 << 20;
        wevents_open(m, ++F.rev);
        sb_str(&m->b, "{\"kv\":{\"key\":\"");
        sb_add(&m->b, k, kn);
        sb_str(&m->b, "\",\"create_revision\":");
        rnum(m, F.leader_cr);
        sb_str(&m->b, ",\"value\":\"");
        sb_rep(&m->b, 'Q', room & ~(size_t)3);
        sb_str(&m->b, "\"}}]}}");
        wmsg(out, m);
        return T_HOLD;
    }
    case 12: /* a key that is not base64, or (switched off) an unrelated one */
        wevents_open(m, ++F.rev);
        if (FUZZ_API_WATCH_BAD_KEY)
            wdelete(m, "!!!!", 4, F.rev);
        else
            wdelete(m, "b3RoZXI=", 8, F.rev);
        sb_str(&m->b, "]}}");
        wmsg(out, m);
        return T_HOLD;
    case 15:
        sb_str(&m->b, "oops, not JSON");
        wmsg(out, m);
        return T_HOLD;
    default: return T_HOLD;
    }
}

/* A renewal's answer, by the input's keepalive mode: 0-9 renewed, 10 without TTL (the
   lease is gone), 11 "lease not found", 14 TTL INT64_MAX, 15 TTL -1 (12 and 13, silence
   and close, are answer()'s). */
static void keepalive_reply(const req *q, sb *out) {
    rep r;
    size_t pos = 0, idn = 0;
    const char *id = "0";
    memset(&r, 0, sizeof r);
    r.mut_at = -1;
    jfield(q, &pos, "ID", &id, &idn);
    sb_str(&r.b, "{\"result\":{\"header\":");
    rhdr(&r, F.rev);
    sb_str(&r.b, ",\"ID\":\"");
    sb_add(&r.b, id, idn);
    sb_str(&r.b, "\"");
    if (F.ka_mode < 10)
        sb_fmt(&r.b, ",\"TTL\":\"%lld\"", (long long)F.ttl_granted);
    else if (F.ka_mode == 14)
        sb_str(&r.b, ",\"TTL\":\"9223372036854775807\"");
    else if (F.ka_mode == 15)
        sb_str(&r.b, ",\"TTL\":\"-1\"");
    sb_str(&r.b, "}}");
    if (F.ka_mode == 11) {
        err36(out, 1);
    } else {
        sb_str(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
                    "chunked\r\n\r\n");
        chunk(out, r.b.p, r.b.n);
        sb_str(out, "0\r\n\r\n");
    }
    free(r.b.p);
}

/* Whether the client still waits: one that gave up on a request has closed the
   connection, and its request must not count as sent by a later call. */
static int client_waits(int fd) {
    char ch;
    return recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) != 0;
}

/* Decides and builds the answer to one request on connection fd. The script byte's mode
   (bits 0-3): 0-8 an etcd-shaped success, 9 an etcd 3.4 error, 10 an etcd 3.6 error,
   11 a truncated reply, 12 silence until the client gives up, 13 a close, 14 a success
   with one number replaced (which and by what: the next script byte), 15 odd HTTP (the
   next byte's bit 0 picks a second set); its variant (bits 4-7) shapes each. */
static int answer(const req *q, int fd, sb *out) {
    unsigned b, extra, mode, v;
    int then = T_KEEP, watch = strcmp(q->path, "/v3/watch") == 0;
    rep r;
    memset(&r, 0, sizeof r);
    r.mut_at = -1;
    pthread_mutex_lock(&F.mu);
    if (strcmp(q->path, "/v3/lease/keepalive") == 0) { /* not scripted: another thread sends them */
        if (F.ka_mode == 12)
            then = T_HOLD;
        else if (F.ka_mode == 13)
            then = T_CLOSE;
        else
            keepalive_reply(q, out);
        pthread_mutex_unlock(&F.mu);
        return then;
    }
    b = F.nscript ? F.script[F.k % F.nscript] : 0;
    extra = F.nscript ? F.script[(F.k + 1) % F.nscript] : 0;
    F.k++;
    F.live += client_waits(fd); /* under mu: a caller reading `live` sees this or the close */
    mode = b & 15;
    v = b >> 4;
    if (mode == 14) {
        r.mut_at = (int)(extra & 15);
        r.mut_with = (int)(extra >> 4);
    }
    switch (mode) {
    case 9: err34(out, v); break;
    case 10: err36(out, v); break;
    case 12: then = T_HOLD; break;
    case 13: then = T_CLOSE; break;
    case 11:
    case 15:
        if (watch) {
            rep m;
            memset(&m, 0, sizeof m);
            m.mut_at = -1;
            sb_str(&m.b, "{\"result\":{\"header\":");
            rhdr(&m, F.rev);
            sb_str(&m.b, ",\"created\":true}}");
            if (mode == 11) {
                truncated(out, &m.b, 3);
                then = T_CLOSE;
            } else {
                http_json(out, 200, m.b.p, m.b.n);
            }
            free(m.b.p);
        } else {
            ok_body(q, extra >> 4, &r);
            if (mode == 11) {
                truncated(out, &r.b, v);
                then = T_CLOSE;
            } else {
                then = odd(out, &r.b, v | (extra & 1) << 4);
            }
        }
        break;
    default:
        if (watch) {
            rep m;
            memset(&m, 0, sizeof m);
            m.mut_at = r.mut_at;
            m.mut_with = r.mut_with;
            then = watch_ok(q, v, extra, &m, out);
            free(m.b.p);
        } else {
            ok_body(q, v, &r);
            http_json(out, 200, r.b.p, r.b.n);
        }
    }
    pthread_mutex_unlock(&F.mu);
    free(r.b.p);
    return then;
}

static int send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Keeps the connection open, answering nothing, until the client closes it. */
static void hold(int fd) {
    for (;;) {
        struct pollfd p;
        char junk[4096];
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 10000) != 1 || recv(fd, junk, sizeof junk, 0) <= 0) return;
    }
}

static void serve(conn *c) {
    for (;;) {
        req q;
        sb out = {NULL, 0, 0};
        int then;
        if (!read_req(c, &q)) break;
        then = answer(&q, c->fd, &out);
        free(q.body);
        if (out.n && send_all(c->fd, out.p, out.n)) then = T_CLOSE;
        free(out.p);
        if (then == T_HOLD) hold(c->fd);
        if (then != T_KEEP) break;
    }
}

static void *worker_main(void *arg) {
    static conn conns[WORKERS];
    conn *c = &conns[(intptr_t)arg];
    for (;;) {
        pthread_mutex_lock(&F.mu);
        while (F.qhead == F.qtail) pthread_cond_wait(&F.queued, &F.mu);
        c->fd = F.queue[F.qhead++ % QUEUE];
        pthread_mutex_unlock(&F.mu);
        c->len = 0;
        serve(c);
        close(c->fd);
        pthread_mutex_lock(&F.mu);
        if (--F.active == 0) pthread_cond_broadcast(&F.idle);
        pthread_mutex_unlock(&F.mu);
    }
    return NULL;
}

static void *accept_main(void *arg) {
    (void)arg;
    for (;;) {
        int fd = accept(F.lfd, NULL, NULL), one = 1;
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED) sleep_ms(5);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&F.mu);
        if (F.qtail - F.qhead == QUEUE) {
            close(fd);
        } else {
            F.queue[F.qtail++ % QUEUE] = fd;
            F.active++;
            pthread_cond_signal(&F.queued);
        }
        pthread_mutex_unlock(&F.mu);
    }
    return NULL;
}

static int bind_loopback(int *port) {
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &al)) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static void fake_start(void) {
    int dfd;
    intptr_t i;
    pthread_mutex_init(&F.mu, NULL);
    pthread_cond_init(&F.queued, NULL);
    pthread_cond_init(&F.idle, NULL);
    for (i = 0; i < WORKERS; i++)
        if (pthread_create(&F.workers[i], NULL, worker_main, (void *)i) != 0)
            die("cannot start the fake server");
    F.lfd = bind_loopback(&F.port);
    if (F.lfd < 0 || listen(F.lfd, 128) != 0) die("cannot listen on 127.0.0.1");
    /* a port nobody listens on, for a refused first endpoint: bound, never listening */
    dfd = bind_loopback(&F.dead_port);
    if (dfd < 0) die("cannot bind 127.0.0.1");
    if (pthread_create(&F.accept_th, NULL, accept_main, NULL) != 0)
        die("cannot start the fake server");
}

/* Waits until every connection to the fake is closed; the number still open after ms. */
static int fake_wait_idle(int ms) {
    struct timespec until;
    int n;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&F.mu);
    while (F.active > 0 && pthread_cond_timedwait(&F.idle, &F.mu, &until) == 0) {}
    n = F.active;
    pthread_mutex_unlock(&F.mu);
    return n;
}

static unsigned fake_requests(void) {
    unsigned n;
    pthread_mutex_lock(&F.mu);
    n = F.live;
    pthread_mutex_unlock(&F.mu);
    return n;
}

/* ---- input decoding ------------------------------------------------------------------ */

typedef struct rd {
    const uint8_t *p;
    size_t n, i;
} rd;

static unsigned u8(rd *in) { return in->i < in->n ? in->p[in->i++] : 0; }
static unsigned u16(rd *in) {
    unsigned a = u8(in);
    return a | u8(in) << 8;
}

/* ---- the program's state and checks ------------------------------------------------ */

typedef struct run {
    etcde_client *c;
    etcde_session *s[2];
    int64_t born[2]; /* when each session was created */
    int lost[2];     /* on_lost calls per session slot */
    etcde_election *e[3];
    int es[3];         /* session slot of each election, -1: none */
    uint64_t ename[3]; /* hash of each election's name */
    etcde_election *m[2];
    int ms[2];
    uint64_t mname[2];
    pthread_t canceller;
    int cancelling, cancel_ms;
    int rt;                /* request timeout in effect */
    int64_t t0, budget;    /* start of the input; ms from it in which new calls may start */
    size_t mreq, mresp;    /* request and response caps in effect */
    unsigned char odd[32]; /* bytes outside printable ASCII in the user name */
} run;

static unsigned char *BIG; /* BIG_CAP bytes of a fixed pattern: large values */

static const char *shown(const char *m) {
    static char out[1200];
    size_t o = 0;
    for (; m && *m && o + 5 < sizeof out; m++) {
        unsigned char ch = (unsigned char)*m;
        if (ch >= 0x20 && ch < 0x7f)
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", ch);
    }
    out[o] = 0;
    return out;
}

static int printable(const char *m) {
    for (; *m; m++)
        if ((unsigned char)*m < 0x20 || (unsigned char)*m > 0x7e) return 0;
    return 1;
}

/* Notes the bytes outside printable ASCII in a caller's string. */
static void note_odd(unsigned char *odd, const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            odd[(unsigned char)*s >> 3] |= 1 << (*s & 7);
}

/* Printable ASCII, or (if tolerated) bytes of the user name. */
static int readable(const unsigned char *odd, const char *m) {
    for (; *m; m++) {
        unsigned char ch = (unsigned char)*m;
        if ((ch < 0x20 || ch > 0x7e) &&
            !(FUZZ_API_USER_BYTES_IN_MESSAGES && (odd[ch >> 3] >> (ch & 7) & 1)))
            return 0;
    }
    return 1;
}

/* A code text followed, past separators or "last error:", by the same text again. */
static const char *repeats_code(const char *m) {
    int r;
    for (r = -1; r > ETCDE__RESULT_MIN; r--) {
        const char *t = etcde_strerror((etcde_result)r), *p = m;
        size_t n = strlen(t);
        if (strcmp(t, "unknown error") == 0) continue;
        while ((p = strstr(p, t)) != NULL) {
            const char *q = p + n;
            while (*q && strchr(":;,()- ", *q)) q++;
            if (strncmp(q, "last error", 10) == 0)
                for (q += 10; *q && strchr(": ", *q); q++) {}
            if (strncmp(q, t, n) == 0) return t;
            p++;
        }
    }
    return NULL;
}

static void check_text(const run *R, const char *what, etcde_result r, const char *msg) {
    const char *dup;
    if (!msg || !msg[0]) die("%s failed (%s) and left no message", what, etcde_strerror(r));
    if (!readable(R->odd, msg))
        die("%s failed (%s); message has bytes outside printable ASCII: \"%s\"", what,
            etcde_strerror(r), shown(msg));
    if ((dup = repeats_code(msg)) != NULL)
        die("%s failed (%s); message repeats \"%s\": \"%s\"", what, etcde_strerror(r), dup,
            shown(msg));
    if (strstr(msg, PASSWORD_MARK) || strstr(msg, TOKEN_MARK))
        die("%s: message shows the password or token: \"%s\"", what, shown(msg));
}

static void check_result(const run *R, const char *what, etcde_result r, const char *msg) {
#ifdef FUZZ_API_TRACE /* -DFUZZ_API_TRACE: every call's result, to read a reproducer */
    fprintf(stderr, "  %-16s %-9s %s\n", what, r ? etcde_strerror(r) : "ok", r ? shown(msg) : "");
#endif
    if (r == ETCDE_OK) return;
    if (r > 0 || strcmp(etcde_strerror(r), "unknown error") == 0)
        die("%s returned %d, which etcde_strerror does not know", what, (int)r);
    check_text(R, what, r, msg);
}

/* A call with a NULL argument: INVALID_ARGS, and (if required) a message. */
static void check_misuse(const run *R, const char *what, etcde_result r, const char *msg) {
#ifdef FUZZ_API_TRACE
    fprintf(stderr, "  %-16s %-9s %s (NULL argument)\n", what, r ? etcde_strerror(r) : "ok",
            r ? shown(msg) : "");
#endif
    if (r != ETCDE_ERR_INVALID_ARGS)
        die("%s with a NULL argument returned %s", what, etcde_strerror(r));
    if (FUZZ_API_MISUSE_MESSAGES) check_text(R, what, r, msg);
}

static void check_time(const char *what, stamp t0, int64_t bound) {
    int64_t ms = now_ms() - t0.at, queued;
    if (ms <= bound + SLACK_MS) return;
    queued = queued_ms() - t0.queued;
    if (ms - queued > bound + SLACK_MS)
        die("%s took %lld ms (%lld of them waiting for a CPU); its timeouts allow %lld", what,
            (long long)ms, (long long)queued, (long long)bound);
}

/* A leading handle holds its key: a fencing token of 0 would fence nothing. */
static void check_holds(const char *what, const etcde_election *e) {
    if (etcde_is_leader(e) && (!etcde_election_key(e)[0] || etcde_election_rev(e) <= 0))
        die("after %s: is_leader is 1 with key \"%s\" and fencing token %lld", what,
            shown(etcde_election_key(e)), (long long)etcde_election_rev(e));
}

static void check_mutex_holds(const char *what, const etcde_election *m) {
    if (etcde_is_leader(m) && (!etcde_election_key(m)[0] || etcde_election_rev(m) <= 0))
        die("after %s: is_leader is 1 with key \"%s\" and fencing token %lld", what,
            shown(etcde_election_key(m)), (long long)etcde_election_rev(m));
}

static void on_lost(etcde_session *s, etcde_result why, const char *detail, void *ud) {
    int *calls = (int *)ud;
    (void)s;
    if (__atomic_add_fetch(calls, 1, __ATOMIC_ACQ_REL) > 1)
        die("on_lost ran twice for one session");
    if (why != ETCDE_ERR_SESSION_LOST) die("on_lost with reason %d", (int)why);
    if (!detail || !detail[0] || !printable(detail)) die("on_lost detail \"%s\"", shown(detail));
}

static void on_log(int level, const char *msg, void *ud) {
    (void)ud;
    if (level < ETCDE_LOG_ERROR || level > ETCDE_LOG_DEBUG || !msg)
        die("log call with level %d", level);
    if (strstr(msg, PASSWORD_MARK) || strstr(msg, TOKEN_MARK))
        die("log shows the password or token: %s", shown(msg));
}

typedef struct obs {
    const run *R;
    etcde_election *e, *other; /* the observing handle; another one, or NULL */
    int events, stop_after, nested;
} obs;

static int on_observe(etcde_event_type type, const etcde_kv *kv, int64_t rev, void *ud) {
    obs *o = (obs *)ud;
    (void)rev;
    if (o->nested) { /* from the callback: a call on the observing handle, refused, or on
                        another handle, allowed */
        etcde_election *h = o->other ? o->other : o->e;
        etcde_kv other;
        check_result(o->R, "leader in observe", etcde_leader(h, &other), etcde_election_errmsg(h));
        (void)etcde_is_leader(o->e);
    }
    if (o->events >= o->stop_after) die("observe called its callback after it asked to stop");
    if (type == ETCDE_EVENT_LEADER) {
        if (!kv || !kv->key || !kv->value || kv->key[kv->key_len] || kv->value[kv->value_len])
            die("observe: LEADER event without a NUL-terminated key and value");
    } else if (type != ETCDE_EVENT_NO_LEADER || kv) {
        die("observe: event type %d with leader %p", (int)type, (const void *)kv);
    }
    return ++o->events >= o->stop_after;
}

static void *canceller_main(void *arg) {
    run *R = (run *)arg;
    sleep_ms(R->cancel_ms);
    etcde_client_cancel(R->c);
    return NULL;
}

static void join_canceller(run *R) {
    if (R->cancelling) pthread_join(R->canceller, NULL);
    R->cancelling = 0;
}

/* A name: "", 1 byte, short, ~1-10 KiB, with '/', spaces, UTF-8, binary, or "el". */
static void gen_name(rd *in, char *out) {
    static const char *const fixed[] = {
        "svc/leader//x/", " my election ",
        "\xc3\xa9lection-\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x99\x82"};
    unsigned k = u8(in) % 12, c;
    size_t n = 0, i, len;
    unsigned char pat[3];
    switch (k) {
    case 0: break;
    case 1:
        c = u8(in);
        out[n++] = (char)(c ? c : 'x');
        break;
    case 2:
        len = u8(in) % 40;
        for (i = 0; i < len; i++) {
            c = u8(in);
            out[n++] = (char)(c ? c : '_');
        }
        break;
    case 3:
        len = 1000 + u16(in) % 9300;
        for (i = 0; i < 3; i++) pat[i] = (unsigned char)(u8(in) | 0x40);
        for (i = 0; i < len; i++) out[n++] = (char)pat[i % 3];
        break;
    case 4:
    case 5:
    case 6:
        n = strlen(fixed[k - 4]);
        memcpy(out, fixed[k - 4], n);
        break;
    case 7:
        len = 1 + u8(in) % 16;
        for (i = 0; i < len; i++) {
            c = u8(in);
            out[n++] = (char)(c ? c : 0xff);
        }
        break;
    default: memcpy(out, "el", 2); n = 2;
    }
    out[n] = 0;
}

typedef struct val {
    const void *p;
    size_t n;
} val;

/* A value: NULL, "", 1 byte, short, around a request or response cap (raw or in base64
   terms, +-32 KiB to the byte), with NULs, or 9000 bytes (past the first 8 KiB buffer). */
static val gen_value(rd *in, const run *R, unsigned char *small) {
    val v;
    unsigned k = u8(in) % 10, i;
    v.p = small;
    v.n = 0;
    switch (k) {
    case 0: v.p = NULL; break;
    case 1: break;
    case 2:
        small[0] = (unsigned char)u8(in);
        v.n = 1;
        break;
    case 3:
        v.n = u8(in) % 48;
        for (i = 0; i < v.n; i++) small[i] = (unsigned char)u8(in);
        break;
    case 4:
    case 5:
    case 6:
    case 7: {
        size_t base = k == 4   ? R->mreq
                      : k == 5 ? R->mreq / 4 * 3
                      : k == 6 ? R->mresp
                               : R->mresp / 4 * 3;
        long off = (long)u16(in) - 32768;
        if (base > BIG_CAP) base = BIG_CAP;
        v.p = BIG;
        v.n = off < 0 && (size_t)-off > base ? 0 : base + (size_t)off;
        if (v.n > BIG_CAP) v.n = BIG_CAP;
        break;
    }
    case 8:
        v.n = 16;
        for (i = 0; i < 16; i++) small[i] = (unsigned char)(i % 3 ? u8(in) : 0);
        break;
    default: v.p = BIG; v.n = 9000;
    }
    return v;
}

static void drop_election(run *R, int i) {
    if (!R->e[i]) return;
    check_holds("a call", R->e[i]);
    etcde_election_destroy(R->e[i]);
    R->e[i] = NULL;
}

static void drop_mutex(run *R, int i) {
    if (!R->m[i]) return;
    check_mutex_holds("a call", R->m[i]);
    etcde_election_destroy(R->m[i]);
    R->m[i] = NULL;
}

/* Destroys (orphan: orphans) a session, after the handles that use it. */
static void drop_session(run *R, int slot, int orphan) {
    int i;
    stamp t;
    if (!R->s[slot]) return;
    for (i = 0; i < 3; i++)
        if (R->es[i] == slot) drop_election(R, i);
    for (i = 0; i < 2; i++)
        if (R->ms[i] == slot) drop_mutex(R, i);
    t = stamp_now();
    if (orphan)
        etcde_session_orphan(R->s[slot]);
    else
        etcde_session_destroy(R->s[slot]);
    check_time(orphan ? "session_orphan" : "session_destroy", t, R->rt);
    R->s[slot] = NULL;
}

/* ---- operations ------------------------------------------------------------------------ */

enum {
    OP_SESSION_CREATE,
    OP_SESSION_CLOSE,
    OP_SESSION_DESTROY,
    OP_SESSION_ORPHAN,
    OP_SESSION_QUERY,
    OP_ELECTION_CREATE,
    OP_ELECTION_DESTROY,
    OP_CAMPAIGN,
    OP_CAMPAIGN2,
    OP_PROCLAIM,
    OP_RESIGN,
    OP_LEADER,
    OP_OBSERVE,
    OP_EPUT,
    OP_EDELETE,
    OP_MUTEX_CREATE,
    OP_MUTEX_DESTROY,
    OP_LOCK,
    OP_TRYLOCK,
    OP_UNLOCK,
    OP_MPUT,
    OP_MDELETE,
    OP_QUERY,
    OP_CANCEL,
    OP_UNCANCEL,
    OP_CANCEL_AFTER,
    OP_PAUSE,
    OP_COUNT
};

static const int TTLS[8] = {0, 1, 2, 5, 60, INT_MAX, -1, 1000000};
static const int GUARDS[4] = {0, 50, 100000, -1};
static const int CAMPAIGN_MS[8] = {0, 1, 5, 10, 20, 40, 60, 10};
static const int OBSERVE_MS[4] = {0, 1, 10, 30};

static void op_session_create(run *R, rd *in) {
    unsigned a = u8(in), b = u8(in);
    int slot = (int)(a & 1);
    etcde_session_options so;
    etcde_result r;
    stamp t;
    drop_session(R, slot, 0);
    memset(&so, 0, sizeof so);
    so.ttl_s = TTLS[(a >> 1) & 7];
    switch (b & 7) {
    case 3: so.lease_id = 7587899121358946653LL; break; /* the fake's first grant */
    case 4: so.lease_id = 1; break;
    case 5: so.lease_id = INT64_MAX; break;
    case 6: so.lease_id = -5; break;
    default: so.lease_id = 0;
    }
    so.guard_ms = GUARDS[(b >> 3) & 3];
    R->lost[slot] = 0;
    if (b & 0x20) {
        so.on_lost = on_lost;
        so.user_data = &R->lost[slot];
    }
    t = stamp_now();
    r = etcde_session_create(R->c, &so, &R->s[slot]);
    check_time("session_create", t, R->rt);
    R->born[slot] = now_ms();
    check_result(R, "session_create", r, etcde_client_errmsg(R->c));
    if ((r == ETCDE_OK) != (R->s[slot] != NULL))
        die("session_create returned %d with *out %p", (int)r, (void *)R->s[slot]);
    if (r == ETCDE_OK &&
        (etcde_session_lease(R->s[slot]) <= 0 || etcde_session_ttl(R->s[slot]) <= 0))
        die("session_create succeeded with lease %lld, TTL %d",
            (long long)etcde_session_lease(R->s[slot]), etcde_session_ttl(R->s[slot]));
}

/* Nothing remains => a loss message. A renewal processed just after the local deadline
   moves it forward again, so the message is checked only when nothing remains both before
   and after it is read. */
static void op_session_query(run *R, int slot) {
    etcde_session *s = R->s[slot];
    const char *m;
    int64_t left, again;
    if (!s) return;
    left = etcde_session_remaining_ms(s);
    m = etcde_session_errmsg(s);
    again = etcde_session_remaining_ms(s);
    if (left == 0 && again == 0 && !m[0]) die("session not alive, but its message is empty");
    if (left < 0 || etcde_session_fd(s) < 0)
        die("session remaining %lld ms, fd %d", (long long)left, etcde_session_fd(s));
    if (m[0]) check_text(R, "session_errmsg", ETCDE_ERR_SESSION_LOST, m);
}

static void op_election_create(run *R, rd *in) {
    static char name[NAME_CAP];
    unsigned a = u8(in);
    int slot = (int)(a % 3), ss = (int)((a >> 2) % 3);
    etcde_result r;
    etcde_session *s = ss < 2 ? R->s[ss] : NULL;
    gen_name(in, name);
    drop_election(R, slot);
    r = etcde_election_create(R->c, s, name, &R->e[slot]);
    check_result(R, "election_create", r, etcde_client_errmsg(R->c));
    if ((r == ETCDE_OK) != (R->e[slot] != NULL))
        die("election_create returned %d with *out set wrongly", (int)r);
    R->es[slot] = s ? ss : -1;
    R->ename[slot] = fnv(name, strlen(name));
}

/* A session past its local deadline that a late renewal revived (see op_session_query):
   a handle on it may then lead again without a call of its own. */
static int revived(const run *R, int slot, int alive_before) {
    return slot >= 0 && R->s[slot] && !alive_before && (etcde_session_remaining_ms(R->s[slot]) > 0);
}

static int alive_now(const run *R, int slot) {
    return slot >= 0 && R->s[slot] && (etcde_session_remaining_ms(R->s[slot]) > 0);
}

static void op_campaign(run *R, rd *in) {
    unsigned a = u8(in);
    int slot = (int)(a % 3);
    etcde_election *e = R->e[slot];
    unsigned char small[64];
    val v = gen_value(in, R, small);
    int T = CAMPAIGN_MS[(a >> 2) & 7], was, was_alive,
        misuse = FUZZ_API_MISUSE && !v.p && (a & 0x80);
    stamp t;
    etcde_result r;
    if (!e) return;
    v.n = misuse ? 3 : v.p ? v.n : 0;
    was_alive = alive_now(R, R->es[slot]);
    was = etcde_is_leader(e);
    t = stamp_now();
    r = etcde_campaign(e, v.p, v.n, T);
    check_time("campaign", t, T + R->rt);
    if (misuse)
        check_misuse(R, "campaign", r, etcde_election_errmsg(e));
    else
        check_result(R, "campaign", r, etcde_election_errmsg(e));
    if (r != ETCDE_OK && !was && etcde_is_leader(e) && !revived(R, R->es[slot], was_alive))
        die("campaign failed (%s) but is_leader is 1", etcde_strerror(r));
    if (r == ETCDE_OK && (etcde_election_rev(e) <= 0 || !etcde_election_key(e)[0]))
        die("campaign won with key \"%s\" and fencing token %lld", shown(etcde_election_key(e)),
            (long long)etcde_election_rev(e));
    check_holds("campaign", e);
}

static void op_proclaim(run *R, rd *in) {
    int slot = (int)(u8(in) % 3);
    etcde_election *e = R->e[slot];
    unsigned char small[64];
    val v = gen_value(in, R, small);
    unsigned k0;
    int was, was_alive;
    stamp t;
    etcde_result r;
    if (!e) return;
    if (!v.p) v.n = 0;
    was_alive = alive_now(R, R->es[slot]);
    was = etcde_is_leader(e);
    k0 = fake_requests();
    t = stamp_now();
    r = etcde_proclaim(e, v.p, v.n);
    check_time("proclaim", t, R->rt);
    check_result(R, "proclaim", r, etcde_election_errmsg(e));
    if (!was && (r == ETCDE_OK || fake_requests() != k0) && !revived(R, R->es[slot], was_alive))
        die("proclaim by a non-leader returned %s after %u requests", etcde_strerror(r),
            fake_requests() - k0);
    check_holds("proclaim", e);
}

/* Handles on one session and one name share one key: a resign or unlock through one
   (`self`, election slot or 3 + mutex slot) releases the others standing on the same
   incarnation of it (create revision `rev`; any, when it was not known). */
static void check_released(const run *R, int self, int ss, uint64_t name, int64_t rev,
                           const char *what) {
    int i;
    if (ss < 0) return;
    for (i = 0; i < 3; i++)
        if (i != self && R->e[i] && R->es[i] == ss && R->ename[i] == name &&
            (rev <= 0 || etcde_election_rev(R->e[i]) == rev) && etcde_is_leader(R->e[i]))
            die("after %s, another election handle on the same session and name still leads", what);
    for (i = 0; i < 2; i++)
        if (3 + i != self && R->m[i] && R->ms[i] == ss && R->mname[i] == name &&
            (rev <= 0 || etcde_election_rev(R->m[i]) == rev) && etcde_is_leader(R->m[i]))
            die("after %s, a mutex handle on the same session and name still holds the lock", what);
}

static void op_resign(run *R, rd *in) {
    int slot = (int)(u8(in) % 3);
    etcde_election *e = R->e[slot];
    int64_t rev;
    stamp t;
    etcde_result r;
    if (!e) return;
    rev = etcde_election_rev(e);
    t = stamp_now();
    r = etcde_resign(e);
    check_released(R, slot, R->es[slot], R->ename[slot], rev, "resign");
    check_time("resign", t, R->rt);
    check_result(R, "resign", r, etcde_election_errmsg(e));
    if (etcde_is_leader(e)) die("is_leader is 1 after resign (%s)", etcde_strerror(r));
    if (r == ETCDE_OK && (etcde_election_key(e)[0] || etcde_election_rev(e) != 0))
        die("resign succeeded but the key \"%s\" (rev %lld) remains", shown(etcde_election_key(e)),
            (long long)etcde_election_rev(e));
}

static void op_leader(run *R, rd *in) {
    etcde_election *e = R->e[u8(in) % 3];
    etcde_kv kv;
    stamp t;
    etcde_result r;
    if (!e) return;
    t = stamp_now();
    r = etcde_leader(e, &kv);
    check_time("leader", t, R->rt);
    check_result(R, "leader", r, etcde_election_errmsg(e));
    if (r == ETCDE_OK && (!kv.key || !kv.value || kv.key[kv.key_len] || kv.value[kv.value_len]))
        die("leader: key or value not NUL-terminated");
}

static void op_observe(run *R, rd *in) {
    unsigned a = u8(in);
    etcde_election *e = R->e[a % 3];
    int T = OBSERVE_MS[(a >> 2) & 3];
    obs o;
    stamp t;
    etcde_result r;
    if (!e) return;
    o.R = R;
    o.e = e;
    o.other = (a & 0x80) ? R->e[(a + 1) % 3] : NULL;
    o.events = 0;
    o.stop_after = 1 + (int)((a >> 4) & 3);
    o.nested = (a & 0x40) != 0;
    t = stamp_now();
    r = etcde_observe(e, on_observe, &o, T);
    check_time("observe", t,
               T + (o.nested && o.other ? o.stop_after * R->rt : 0)); /* + nested calls */
    check_result(R, "observe", r, etcde_election_errmsg(e));
    if (r == ETCDE_OK && o.events != o.stop_after)
        die("observe returned OK after %d events; the callback stops after %d", o.events,
            o.stop_after);
}

/* Fenced put/delete on an election (mutex: its handle's election has the same rules). */
static void fenced(run *R, rd *in, int on_mutex, int put) {
    static char key[NAME_CAP];
    unsigned a = u8(in);
    unsigned char small[64];
    etcde_election *h = on_mutex ? R->m[a & 1] : R->e[a % 3]; /* a lock or a candidate */
    const char *what =
        on_mutex ? (put ? "lock put" : "lock delete") : (put ? "election_put" : "election_delete");
    const char *k = key;
    val v;
    unsigned k0;
    int was, was_alive, ss = on_mutex ? R->ms[a & 1] : R->es[a % 3]; /* session slot */
    stamp t;
    etcde_result r;
    gen_name(in, key);
    v = gen_value(in, R, small);
    if (!h) return;
    if (!v.p) v.n = 0;
    if (FUZZ_API_MISUSE && (a & 0x80)) k = NULL;
    was_alive = alive_now(R, ss);
    was = etcde_is_leader(h);
    k0 = fake_requests();
    t = stamp_now();
    r = put ? etcde_election_put(h, k, v.p, v.n) : etcde_election_delete(h, k);
    check_time(what, t, R->rt);
    if (!k)
        check_misuse(R, what, r, etcde_election_errmsg(h));
    else
        check_result(R, what, r, etcde_election_errmsg(h));
    if (!was && k && (r == ETCDE_OK || fake_requests() != k0) && !revived(R, ss, was_alive))
        die("%s by a non-holder returned %s after %u requests", what, etcde_strerror(r),
            fake_requests() - k0);
    if (on_mutex)
        check_mutex_holds(what, h);
    else
        check_holds(what, h);
}

static void op_mutex_create(run *R, rd *in) {
    static char name[NAME_CAP];
    unsigned a = u8(in);
    int slot = (int)(a & 1), ss = (int)((a >> 1) & 1);
    etcde_result r;
    gen_name(in, name);
    drop_mutex(R, slot);
    if (!R->s[ss]) { /* a lock needs a session: without one, a handle only observes */
        if (FUZZ_API_MISUSE && (a & 0x80)) {
            etcde_election *h = NULL;
            unsigned k0 = fake_requests();
            r = etcde_election_create(R->c, NULL, name, &h);
            check_result(R, "lock handle without a session", r, etcde_client_errmsg(R->c));
            if (r == ETCDE_OK) {
                etcde_result l = etcde_lock(h, 0), t = etcde_trylock(h);
                if (l != ETCDE_ERR_STATE || t != ETCDE_ERR_STATE)
                    die("lock/trylock without a session returned %s/%s", etcde_strerror(l),
                        etcde_strerror(t));
                if (FUZZ_API_MISUSE_MESSAGES) check_text(R, "trylock", t, etcde_election_errmsg(h));
                if (fake_requests() != k0) die("lock without a session sent a request");
                etcde_election_destroy(h);
            }
        }
        return;
    }
    r = etcde_election_create(R->c, R->s[ss], name, &R->m[slot]);
    check_result(R, "mutex_create", r, etcde_client_errmsg(R->c));
    if ((r == ETCDE_OK) != (R->m[slot] != NULL))
        die("mutex_create returned %d with *out set wrongly", (int)r);
    R->ms[slot] = ss;
    R->mname[slot] = fnv(name, strlen(name));
}

static void op_lock(run *R, rd *in, int try_only) {
    unsigned a = u8(in);
    etcde_election *m = R->m[a & 1];
    int T = CAMPAIGN_MS[(a >> 1) & 7], was, was_alive;
    const char *what = try_only ? "trylock" : "lock";
    stamp t;
    etcde_result r;
    if (!m) return;
    was_alive = alive_now(R, R->ms[a & 1]);
    was = etcde_is_leader(m);
    t = stamp_now();
    r = try_only ? etcde_trylock(m) : etcde_lock(m, T);
    check_time(what, t, try_only ? 2 * R->rt : T + R->rt);
    check_result(R, what, r, etcde_election_errmsg(m));
    if (r != ETCDE_OK && !was && etcde_is_leader(m) && !revived(R, R->ms[a & 1], was_alive))
        die("%s failed (%s) but is_leader is 1", what, etcde_strerror(r));
    if (r == ETCDE_OK && (etcde_election_rev(m) <= 0 || !etcde_election_key(m)[0]))
        die("%s succeeded with key \"%s\" and fencing token %lld", what,
            shown(etcde_election_key(m)), (long long)etcde_election_rev(m));
    check_mutex_holds(what, m);
}

static void op_unlock(run *R, rd *in) {
    int slot = (int)(u8(in) & 1);
    etcde_election *m = R->m[slot];
    int64_t rev;
    stamp t;
    etcde_result r;
    if (!m) return;
    rev = etcde_election_rev(m);
    t = stamp_now();
    r = etcde_unlock(m);
    check_released(R, 3 + slot, R->ms[slot], R->mname[slot], rev, "unlock");
    check_time("unlock", t, R->rt);
    check_result(R, "unlock", r, etcde_election_errmsg(m));
    if (etcde_is_leader(m)) die("is_leader is 1 after unlock (%s)", etcde_strerror(r));
}

static void op_query(run *R) {
    int i;
    for (i = 0; i < 3; i++)
        if (R->e[i]) {
            int l = etcde_is_leader(R->e[i]);
            if (l != 0 && l != 1) die("is_leader returned %d", l);
            check_holds("a query", R->e[i]);
            (void)etcde_election_errmsg(R->e[i]);
        }
    for (i = 0; i < 2; i++)
        if (R->m[i]) {
            int l = etcde_is_leader(R->m[i]);
            if (l != 0 && l != 1) die("is_leader returned %d", l);
            check_mutex_holds("a query", R->m[i]);
        }
    op_session_query(R, 0);
    op_session_query(R, 1);
}

/* Sleeps until shortly before the first renewal of a session with a 1 s TTL (at TTL/3),
   or once that is past, before its local deadline: the next calls then overlap a renewal,
   or a loss that the keepalive mode scripts. Calls get a fresh budget after it. Slow,
   hence only for that TTL, at most 400 ms, and not past 600 ms into the input. */
static void pause_for_keepalive(run *R) {
    int i;
    for (i = 0; i < 2; i++)
        if (R->s[i] && etcde_session_ttl(R->s[i]) == 1) {
            int64_t left = R->born[i] + 333 - 15 - now_ms();
            if (left <= 0) left = etcde_session_remaining_ms(R->s[i]) - 15;
            if (left > 0 && left < 400 && now_ms() - R->t0 < 600) {
                sleep_ms((int)left);
                R->budget = now_ms() - R->t0 + 2 * BUDGET_MS;
            }
            return;
        }
}

static void step(run *R, rd *in) {
    unsigned op = u8(in) % OP_COUNT, a;
    stamp t;
    etcde_result r;
    switch (op) {
    case OP_SESSION_CREATE: op_session_create(R, in); break;
    case OP_SESSION_CLOSE:
        a = u8(in) & 1;
        if (!R->s[a]) break;
        t = stamp_now();
        r = etcde_session_close(R->s[a]);
        check_time("session_close", t, R->rt);
        check_result(R, "session_close", r, etcde_session_errmsg(R->s[a]));
        if (etcde_session_remaining_ms(R->s[a]) > 0) die("session alive after session_close");
        break;
    case OP_SESSION_DESTROY: drop_session(R, (int)(u8(in) & 1), 0); break;
    case OP_SESSION_ORPHAN: drop_session(R, (int)(u8(in) & 1), 1); break;
    case OP_SESSION_QUERY: op_session_query(R, (int)(u8(in) & 1)); break;
    case OP_ELECTION_CREATE: op_election_create(R, in); break;
    case OP_ELECTION_DESTROY: drop_election(R, (int)(u8(in) % 3)); break;
    case OP_CAMPAIGN:
    case OP_CAMPAIGN2: op_campaign(R, in); break;
    case OP_PROCLAIM: op_proclaim(R, in); break;
    case OP_RESIGN: op_resign(R, in); break;
    case OP_LEADER: op_leader(R, in); break;
    case OP_OBSERVE: op_observe(R, in); break;
    case OP_EPUT: fenced(R, in, 0, 1); break;
    case OP_EDELETE: fenced(R, in, 0, 0); break;
    case OP_MUTEX_CREATE: op_mutex_create(R, in); break;
    case OP_MUTEX_DESTROY: drop_mutex(R, (int)(u8(in) & 1)); break;
    case OP_LOCK: op_lock(R, in, 0); break;
    case OP_TRYLOCK: op_lock(R, in, 1); break;
    case OP_UNLOCK: op_unlock(R, in); break;
    case OP_MPUT: fenced(R, in, 1, 1); break;
    case OP_MDELETE: fenced(R, in, 1, 0); break;
    case OP_QUERY: op_query(R); break;
    case OP_CANCEL: etcde_client_cancel(R->c); break;
    case OP_UNCANCEL:
        join_canceller(R);
        etcde_client_uncancel(R->c);
        break;
    case OP_CANCEL_AFTER:
        join_canceller(R);
        R->cancel_ms = 1 + (int)(u8(in) % 40);
        if (pthread_create(&R->canceller, NULL, canceller_main, R) != 0)
            die("cannot start a thread");
        R->cancelling = 1;
        break;
    default:
        a = u8(in);
        if (a & 0x80)
            pause_for_keepalive(R);
        else
            sleep_ms(1 + (int)(a % 20));
        break;
    }
}

/* ---- one input -------------------------------------------------------------------------- */

static const int REQ_MS[8] = {10, 15, 20, 30, 40, 60, 25, 50};
static const int DIAL_MS[4] = {10, 30, 100, 300};
static const size_t RESP_CAP[8] = {
    0, 300, 1024, 4096, 65536, (size_t)1 << 20, 100, (size_t)2 << 30};
static const int TOKENS[4] = {0, 0, 16, 200};
static const size_t REQ_CAP[8] = {
    0, 64, 1024, 4096, 65536, (size_t)1 << 20, 1572865, (size_t)1 << 29};

/* The input's first bytes:
     0  request timeout (bits 0-2), dial timeout (3-4), endpoint list (5-7; 7: invalid)
     1  response cap (0-2), JSON token cap (3-4), credentials (5-7)
     2  request cap (0-2), log callback (3), the TTL the fake grants (4-7)
     3  keepalive reply mode (0-3), lease ids the fake grants (4-5), 3 in 6-7: an invalid
        option
     4  script length (mod 65), then that many script bytes: per request, mode (bits 0-3)
        and variant (4-7), see answer()
   Then operations: one byte (mod OP_COUNT) each, with their argument bytes. */
static void decode_options(rd *in, run *R, etcde_options *o, char *eps, size_t epcap) {
    unsigned b0 = u8(in), b1 = u8(in), b2 = u8(in), b3 = u8(in), ns = u8(in) % (SCRIPT_MAX + 1), i;
    memset(o, 0, sizeof *o);
    R->rt = REQ_MS[b0 & 7];
    o->request_timeout_ms = R->rt;
    o->dial_timeout_ms = DIAL_MS[(b0 >> 3) & 3];
    switch (b0 >> 5) {
    case 4: snprintf(eps, epcap, "http://127.0.0.1:%d/", F.port); break;
    case 5: snprintf(eps, epcap, "127.0.0.1:%d,127.0.0.1:%d", F.dead_port, F.port); break;
    case 6: snprintf(eps, epcap, "127.0.0.1:%d, 127.0.0.1:%d", F.port, F.port); break;
    case 7: snprintf(eps, epcap, "127.0.0.1:%d,127.0.0.1:99999", F.port); break; /* invalid */
    default: snprintf(eps, epcap, "127.0.0.1:%d", F.port);
    }
    o->endpoints = eps;
    /* the library's defaults and clamps, so that values can be sized around them */
    o->max_request_bytes = REQ_CAP[b2 & 7];
    R->mreq = o->max_request_bytes ? o->max_request_bytes : DEFAULT_MAX_REQUEST;
    if (R->mreq > (size_t)1 << 28) R->mreq = (size_t)1 << 28;
    o->max_response_bytes = RESP_CAP[b1 & 7];
    R->mresp = o->max_response_bytes ? o->max_response_bytes : 3 * R->mreq + ((size_t)64 << 10);
    if (R->mresp > (size_t)1 << 30) R->mresp = (size_t)1 << 30;
    o->max_json_tokens = TOKENS[(b1 >> 3) & 3];
    switch (b1 >> 5) {
    case 4:
        o->user = "root";
        o->password = PASSWORD_MARK;
        break;
    case 5: o->user = "root:" PASSWORD_MARK; break;
    case 6:
        o->user = "r\"o\\ot\x01\xc3\xa9";
        o->password = "pa\"ss\n " PASSWORD_MARK;
        note_odd(R->odd, o->user);
        break;
    case 7:
        o->user = "";
        o->password = PASSWORD_MARK;
        break;
    default: break;
    }
    if (b2 & 8) {
        o->log = on_log;
        o->log_level = ETCDE_LOG_DEBUG;
    }
    if ((b3 >> 6) == 3) o->request_timeout_ms = -1; /* invalid: create must refuse it */
    pthread_mutex_lock(&F.mu);
    F.ttl_mode = (int)(b2 >> 4);
    F.ka_mode = (int)(b3 & 15);
    F.id_mode = (int)((b3 >> 4) & 3);
    F.max_resp = R->mresp;
    F.nscript = ns;
    for (i = 0; i < ns; i++) F.script[i] = (unsigned char)u8(in);
    F.k = F.live = 0;
    F.rev = 100;
    F.grants = 0;
    F.ttl_granted = 60;
    F.leader_cr = 7;
    F.pred_cr = 1;
    F.nown = 0;
    F.nown_key = F.npred_key = 0;
    F.bad[0] = 0;
    pthread_mutex_unlock(&F.mu);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    size_t i;
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    BIG = (unsigned char *)malloc(BIG_CAP);
    if (!BIG) die("out of memory");
    for (i = 0; i < BIG_CAP; i++) BIG[i] = (unsigned char)('a' + (i * 7 + i / 26) % 26);
    fake_start();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static run R;
    etcde_options o;
    char eps[96];
    rd in;
    int fds0, fds1 = 0, i, ops = 0;
    stamp t0, t;
    etcde_result r;
    if (SCHEDSTAT < 0) SCHEDSTAT = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    fds0 = etcdt_open_fds(); /* each time: libFuzzer opens some between inputs (symbolizer) */
    t0 = stamp_now();
    memset(&R, 0, sizeof R);
    R.es[0] = R.es[1] = R.es[2] = R.ms[0] = R.ms[1] = -1;
    R.t0 = t0.at;
    R.budget = BUDGET_MS;
    in.p = data;
    in.n = size;
    in.i = 0;
    decode_options(&in, &R, &o, eps, sizeof eps);
    r = etcde_client_create(&o, &R.c);
    if (r != ETCDE_OK && (r > 0 || strcmp(etcde_strerror(r), "unknown error") == 0))
        die("client_create returned %d", (int)r);
    if ((r == ETCDE_OK) != (R.c != NULL))
        die("client_create returned %d with *out set wrongly", (int)r);
    if (r == ETCDE_OK) {
        while (in.i < in.n && ops++ < MAX_OPS && now_ms() - R.t0 < R.budget) step(&R, &in);
        for (i = 0; i < 3; i++) drop_election(&R, i);
        for (i = 0; i < 2; i++) drop_mutex(&R, i);
        drop_session(&R, 0, 0); /* a pending cancel may land in these revokes */
        drop_session(&R, 1, 0);
        join_canceller(&R);
        t = stamp_now();
        etcde_client_destroy(R.c);
        check_time("client_destroy", t, 0);
    }
    /* every connection closed: the fake's threads see EOF and end */
    if ((i = fake_wait_idle(5000)) > 0)
        die("%d connections to the fake stayed open after client_destroy", i);
    pthread_mutex_lock(&F.mu);
    if (F.bad[0]) {
        char why[sizeof F.bad];
        memcpy(why, F.bad, sizeof why);
        pthread_mutex_unlock(&F.mu);
        die("malformed request: %s", shown(why));
    }
    pthread_mutex_unlock(&F.mu);
    /* a late accept of an abandoned connection can hold a descriptor for a moment */
    for (i = 0; i < 50 && (fds1 = etcdt_open_fds()) > fds0; i++) sleep_ms(10);
    if (fds1 > fds0) die("%d file descriptors open before the input, %d after", fds0, fds1);
    check_time("the whole input", t0, 3000 - SLACK_MS);
    return 0;
}
