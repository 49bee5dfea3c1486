/* A hostile or broken server: a fake etcd on 127.0.0.1 answers with garbage, truncated,
   endless, oversized, deeply nested, silent, trickled and error responses. Every call must
   come back with the right result code and a specific, readable message, within its
   timeout, without a crash, without leaking descriptors, and with memory bounded by the
   configured caps (counted through etcde_options.allocator). Also: endpoint failover past
   a dead port, a campaign whose txn misbehaves, an observer whose watch stream
   misbehaves, a session whose every renewal fails, cancellation of calls blocked on a
   silent server, and etcd 3.6/3.7's own bytes (errors without "error", spaced bodies,
   stream errors ending in a newline, routing errors, 401 with WWW-Authenticate). No
   etcd is needed. */
#include "etcdt_test.h"
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define REQ_TIMEOUT_MS 1500
#define DIAL_TIMEOUT_MS 1000
#define SMALL_CAP ((size_t)64 << 10)
#define MEM_SLACK ((size_t)64 << 10) /* the "small constant" of the memory bound */

/* ---- what the fake server does --------------------------------------------------- */

enum {
    M_OK = 0,         /* etcd-shaped success for every path */
    M_GARBAGE,        /* binary bytes instead of HTTP */
    M_BAD_HEADER,     /* a valid status line, then a garbage header line */
    M_BAD_JSON,       /* 200 with a body that is not JSON */
    M_TRUNCATED,      /* Content-Length: 100, 10 bytes, close */
    M_HUGE_LEN,       /* Content-Length: 2147483648, then nothing */
    M_CHUNK_BOMB,     /* chunk size FFFFFFFFFFFFFFFFFFFF, then nothing */
    M_CHUNK_HUGE,     /* chunk size FFFFFFFFFFFFFF (legal), then endless data */
    M_CHUNK_ENDLESS,  /* 4 KiB chunks without end */
    M_CLOSE_ENDLESS,  /* HTTP/1.0 close-delimited body without end */
    M_DEEP_JSON,      /* 100 000 x '[' */
    M_MANY_TOKENS,    /* [1,1,1,...] with 2 000 000 elements */
    M_DENSE_JSON,     /* a valid object holding [1,1,...] that just fits the 64 KiB cap */
    M_SILENT,         /* reads the request, never answers */
    M_CLOSE,          /* closes right after accept */
    M_500,            /* etcd 3.4's chunked unary error with a trailer */
    M_503,            /* etcd 3.6's {"code":14,...} */
    M_404,            /* text/plain "Not Found" */
    M_LONG_HEADER,    /* one header line of 9000 bytes */
    M_MANY_HEADERS,   /* 10 000 header lines */
    M_SLOWLORIS,      /* a good response, one byte every 100 ms */
    M_CONTINUE_FLOOD, /* "100 Continue" interim responses without end */
    M_STATUS_CLOSE,   /* a status line, then close */
    M_WATCH_DEEP,     /* a watch stream: "created", then a 5 000-deep JSON line */
    M_WATCH_BIG_PUT,  /* a watch stream: "created", then a valid 12 KiB PUT event */
    M_WATCH_ERROR,    /* a watch stream ending in etcd's in-stream 503 error object */
    /* etcd 3.6/3.7 (grpc-gateway v2), the bytes of the protocol notes' section 7 */
    M_36_LEASE_GONE,    /* 404 {"code":5,"message":"etcdserver: requested lease not found"} */
    M_36_LEASE_GONE_SP, /* the same with a space after the comma */
    M_36_NO_USER,       /* 400 {"code":3,"message":"etcdserver: user name is empty"} */
    M_36_CANCELLED,     /* 499 {"code":1,...} */
    M_36_NO_METHOD,     /* 501 {"code":12,"message":"Method Not Allowed"}: the gateway's routing */
    M_36_NO_PATH,       /* 404 {"code":5,"message":"Not Found"}: the gateway's routing */
    M_36_SPACED,        /* M_OK, with a space after every comma of every unary body */
    M_36_WATCH_ERROR,   /* a watch stream ending in {"error":{"code":14,...}}\n */
    M_36_KA_NO_LEADER,  /* a keepalive stream answering {"error":{"code":14,...}}\n */
    M_36_KA_NO_USER,    /* a keepalive stream refused with 400 before its first message */
    M_36_KA_NO_TTL,     /* a keepalive of an unknown lease: a result without TTL */
    M_36_TOKEN          /* auth: the first token expires at once (401); no token: 400 */
};

/* The 3.6 unary error replies: mode, status line, body. */
static const struct {
    int mode;
    const char *status, *body;
} ERR36[] = {
    {M_36_LEASE_GONE, "404 Not Found",
     "{\"code\":5,\"message\":\"etcdserver: requested lease not found\"}"},
    {M_36_LEASE_GONE_SP, "404 Not Found",
     "{\"code\":5, \"message\":\"etcdserver: requested lease not found\"}"},
    {M_36_NO_USER, "400 Bad Request",
     "{\"code\":3,\"message\":\"etcdserver: user name is empty\"}"},
    {M_36_CANCELLED, "499 status code 499", "{\"code\":1,\"message\":\"context canceled\"}"},
    {M_36_NO_METHOD, "501 Not Implemented", "{\"code\":12,\"message\":\"Method Not Allowed\"}"},
    {M_36_NO_PATH, "404 Not Found", "{\"code\":5,\"message\":\"Not Found\"}"},
};

#define MAX_CONN_THREADS 128

typedef struct fake {
    int lfd, port;
    int stop[2];
    pthread_t th;
    pthread_mutex_t mu;
    pthread_t conn_th[MAX_CONN_THREADS];
    int nconn;
    int mode;
    const char *bad_path; /* NULL: every request gets `mode`; else only this path, others M_OK */
    int bad_limit;        /* non-zero: only so many requests get `mode`, later ones M_OK */
    int accepted, requests, bad_requests; /* under mu */
    int ttl;                              /* the TTL the fake grants and renews (default 5) */
    int queued;                           /* the campaign's queue read finds a key ahead of it */
    int tokens;                           /* under mu: tokens handed out by /v3/auth/authenticate */
} fake;

typedef struct fconn {
    fake *f;
    int fd;
    char buf[65536];
    size_t len;
    char auth[64]; /* the last request's Authorization header */
} fconn;

static const char HDR_JSON[] =
    "{\"cluster_id\":\"14841639068965178418\",\"member_id\":\"10276657743932975437\","
    "\"revision\":\"8\",\"raft_term\":\"2\"}";

/* 1: fd is ready; 0: ms passed; -1: the server is stopping. */
static int f_wait(fake *f, int fd, short ev, int ms) {
    struct pollfd p[2];
    int r;
    p[0].fd = f->stop[0];
    p[0].events = POLLIN;
    p[0].revents = 0;
    p[1].fd = fd;
    p[1].events = ev;
    p[1].revents = 0;
    r = poll(p, fd >= 0 ? 2 : 1, ms);
    if (r < 0) return errno == EINTR ? 0 : -1;
    if (p[0].revents) return -1;
    return r > 0 ? 1 : 0;
}

static int f_send(fake *f, int fd, const void *data, size_t n) {
    const char *p = (const char *)data;
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (f_wait(f, fd, POLLOUT, 5000) != 1) return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

static int f_sends(fake *f, int fd, const char *s) { return f_send(f, fd, s, strlen(s)); }

/* Sends a complete response with a Content-Length body. */
static int f_reply(fake *f, int fd, const char *status, const char *ctype, const char *body,
                   size_t n) {
    char head[256];
    snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %lu\r\n\r\n",
             status, ctype, (unsigned long)n);
    if (f_sends(f, fd, head)) return -1;
    return f_send(f, fd, body, n);
}

/* Reads one request (head + Content-Length body). 1 with the path and body, 0 at EOF,
   on an error or when stopping. */
static int f_read_request(fconn *c, char *path, size_t pcap, char *body, size_t bcap) {
    for (;;) {
        char *end = (char *)memmem(c->buf, c->len, "\r\n\r\n", 4);
        ssize_t k;
        if (end) {
            size_t hlen = (size_t)(end - c->buf) + 4, clen = 0, need;
            char *cl = NULL, *p;
            const char *sp1, *sp2;
            c->buf[hlen - 1] = 0;
            c->auth[0] = 0;
            for (p = c->buf; *p; p++) {
                if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0)
                    cl = p + 15;
                if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "authorization: ", 15) == 0)
                    snprintf(c->auth, sizeof c->auth, "%.*s", (int)strcspn(p + 15, "\r\n"), p + 15);
            }
            if (cl) clen = (size_t)strtoul(cl, NULL, 10);
            need = hlen + clen;
            if (need > sizeof c->buf) return 0;
            while (c->len < need) {
                if (f_wait(c->f, c->fd, POLLIN, 5000) != 1) return 0;
                k = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
                if (k <= 0) return 0;
                c->len += (size_t)k;
            }
            sp1 = strchr(c->buf, ' ');
            sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
            if (!sp1 || !sp2 || (size_t)(sp2 - sp1 - 1) >= pcap) return 0;
            memcpy(path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
            path[sp2 - sp1 - 1] = 0;
            if (clen >= bcap) clen = bcap - 1;
            memcpy(body, c->buf + hlen, clen);
            body[clen] = 0;
            memmove(c->buf, c->buf + need, c->len - need);
            c->len -= need;
            return 1;
        }
        if (c->len == sizeof c->buf) return 0;
        if (f_wait(c->f, c->fd, POLLIN, 10000) != 1) return 0;
        k = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (k <= 0) return 0;
        c->len += (size_t)k;
    }
}

/* The body etcd would send for a successful call on `path`. */
static void ok_body(const fake *f, const char *path, const char *req, char *out, size_t cap) {
    if (strcmp(path, "/v3/lease/grant") == 0) {
        snprintf(out, cap, "{\"header\":%s,\"ID\":\"7587899121358946652\",\"TTL\":\"%d\"}",
                 HDR_JSON, f->ttl);
    } else if (strcmp(path, "/v3/lease/keepalive") == 0) {
        snprintf(out, cap,
                 "{\"result\":{\"header\":%s,\"ID\":\"7587899121358946652\",\"TTL\":\"%d\"}}\n",
                 HDR_JSON, f->ttl);
    } else if (strcmp(path, "/v3/kv/range") == 0) {
        snprintf(out, cap,
                 "{\"header\":%s,\"kvs\":[{\"key\":\"ZWwvNjk0ZGEyMGM2ODE5NDE1Yw==\",\"create_"
                 "revision\":\"7\","
                 "\"mod_revision\":\"7\",\"version\":\"1\",\"value\":\"Y2FuZGlkYXRlLUE=\","
                 "\"lease\":\"7587899121358946652\"}],\"count\":\"1\"}",
                 HDR_JSON);
    } else if (strcmp(path, "/v3/kv/txn") == 0 &&
               (strstr(req, "request_put") || strstr(req, "request_delete"))) {
        snprintf(out, cap,
                 "{\"header\":%s,\"succeeded\":true,\"responses\":[{\"response_put\":{\"header\":{"
                 "\"revision\":"
                 "\"8\"}}}]}",
                 HDR_JSON);
    } else if (strcmp(path, "/v3/kv/txn") == 0 && f->queued) { /* the campaign check: a key ahead */
        snprintf(
            out, cap,
            "{\"header\":%s,\"succeeded\":true,\"responses\":[{\"response_range\":{\"header\":{"
            "\"revision\":"
            "\"8\"},\"kvs\":[{\"key\":\"ZWwvNjk0ZGEyMGM2ODE5NDE1Yw==\",\"create_revision\":\"8\","
            "\"mod_revision\":\"8\",\"version\":\"1\",\"value\":\"Y2FuZGlkYXRlLUE=\","
            "\"lease\":\"7587899121358946652\"}],\"count\":\"1\"}},{\"response_range\":{\"header\":"
            "{"
            "\"revision\":\"8\"},\"kvs\":[{\"key\":\"ZWwvMQ==\",\"create_revision\":\"5\",\"mod_"
            "revision\":"
            "\"5\",\"version\":\"1\",\"value\":\"Qg==\",\"lease\":\"1\"}],\"count\":\"2\"}}]}",
            HDR_JSON);
    } else if (strcmp(path, "/v3/kv/txn") == 0) { /* the campaign check: own key, no predecessor */
        snprintf(
            out, cap,
            "{\"header\":%s,\"succeeded\":true,\"responses\":[{\"response_range\":{\"header\":{"
            "\"revision\":"
            "\"8\"},\"kvs\":[{\"key\":\"ZWwvNjk0ZGEyMGM2ODE5NDE1Yw==\",\"create_revision\":\"8\","
            "\"mod_revision\":\"8\",\"version\":\"1\",\"value\":\"Y2FuZGlkYXRlLUE=\","
            "\"lease\":\"7587899121358946652\"}],\"count\":\"1\"}},{\"response_range\":{\"header\":"
            "{"
            "\"revision\":\"8\"}}}]}",
            HDR_JSON);
    } else {
        snprintf(out, cap, "{\"header\":%s}", HDR_JSON);
    }
}

static const char WATCH_HEAD[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Grpc-Metadata-Content-Type: application/grpc\r\nTransfer-Encoding: chunked\r\n\r\n";

/* One watch message as one chunk (etcd sends each message as a chunk). */
static int f_chunk(fake *f, int fd, const char *msg) {
    char size[32];
    snprintf(size, sizeof size, "%lx\r\n", (unsigned long)strlen(msg));
    if (f_sends(f, fd, size) || f_sends(f, fd, msg)) return -1;
    return f_sends(f, fd, "\r\n");
}

static int f_watch_created(fake *f, int fd) {
    char msg[512];
    snprintf(msg, sizeof msg, "{\"result\":{\"header\":%s,\"created\":true}}\n", HDR_JSON);
    if (f_sends(f, fd, WATCH_HEAD)) return -1;
    return f_chunk(f, fd, msg);
}

/* A whole stream response: the status, one message as one chunk, the end. */
static int f_stream_reply(fake *f, int fd, const char *status, const char *msg) {
    char head[256];
    snprintf(head, sizeof head,
             "HTTP/1.1 %s\r\nContent-Type: application/json\r\nGrpc-Metadata-Content-Type: "
             "application/grpc\r\nTransfer-Encoding: chunked\r\n\r\n",
             status);
    if (f_sends(f, fd, head) || f_chunk(f, fd, msg)) return -1;
    return f_sends(f, fd, "0\r\n\r\n");
}

/* in with a space after every comma outside strings, as protojson may write it. */
static void spaced(const char *in, char *out, size_t cap) {
    size_t o = 0;
    int str = 0;
    for (; *in && o + 2 < cap; in++) {
        out[o++] = *in;
        if (str && *in == '\\' && in[1])
            out[o++] = *++in;
        else if (*in == '"')
            str = !str;
        else if (!str && *in == ',')
            out[o++] = ' ';
    }
    out[o] = 0;
}

static int f_ok(fake *f, int fd, const char *path, const char *req, int spaces) {
    char body[2048], sp[3072];
    if (strcmp(path, "/v3/watch") == 0) return f_watch_created(f, fd); /* then nothing happens */
    ok_body(f, path, req, body, sizeof body);
    if (strcmp(path, "/v3/lease/keepalive") == 0)
        return f_stream_reply(f, fd, "200 OK", body); /* streams stay compact */
    if (spaces) {
        spaced(body, sp, sizeof sp);
        return f_reply(f, fd, "200 OK", "application/json", sp, strlen(sp));
    }
    return f_reply(f, fd, "200 OK", "application/json", body, strlen(body));
}

/* The value of the big watch event: 9000 bytes, all different from their neighbours. */
#define BIG_VALUE 9000
static void big_value(char *v) {
    size_t i;
    for (i = 0; i < BIG_VALUE; i++) v[i] = (char)('a' + (i * 7 + i / 26) % 26);
}

/* Standard padded base64 of n bytes into out; returns the length written. */
static size_t b64(const char *in, size_t n, char *out) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    for (i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)in[i] << 16;
        if (i + 1 < n) v |= (unsigned)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)in[i + 2];
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    return o;
}

/* Sends `unit` again and again until the client goes away or the server stops. */
static int f_endless(fake *f, int fd, const char *unit, size_t n) {
    while (f_send(f, fd, unit, n) == 0) {}
    return -1;
}

/* Answers one request in mode m. 0: read the next request; -1: close. */
static int f_misbehave(fake *f, int fd, int m, const char *path, const char *req) {
    static const char garbage[] =
        "\x16\x03\x01\x00\x55\x02\x00\x00\x51\x03\x03\xff\xfe\x1b[31mGARBAGE\x07\r\n"
        "\x1b[2J more garbage \x7f\r\n\r\n";
    static const char bad_header[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     "\x01\x02\xfe\xff garbage without a colon \x1b[0m\r\n\r\n";
    static const char bad_json[] =
        "{\"header\": {\"revision\": \"8\"}, \"ID\": \"1\", \"TTL\": 5,, oops";
    static const char chunked_head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                       "Transfer-Encoding: chunked\r\n\r\n";
    char *big;
    size_t i, n;
    int r;
    switch (m) {
    case M_OK:
    case M_36_SPACED: return f_ok(f, fd, path, req, m == M_36_SPACED);
    case M_GARBAGE: return f_send(f, fd, garbage, sizeof garbage - 1);
    case M_BAD_HEADER: return f_sends(f, fd, bad_header);
    case M_BAD_JSON:
        return f_reply(f, fd, "200 OK", "application/json", bad_json, strlen(bad_json));
    case M_TRUNCATED:
        f_sends(f, fd,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                "{\"header\":");
        return -1;
    case M_HUGE_LEN:
        return f_sends(f, fd,
                       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: 2147483648\r\n\r\n{\"header\":");
    case M_CHUNK_BOMB:
        if (f_sends(f, fd, chunked_head)) return -1;
        return f_sends(f, fd, "FFFFFFFFFFFFFFFFFFFF\r\n{\"header\":");
    case M_CHUNK_HUGE: {
        char unit[4096];
        memset(unit, 'x', sizeof unit);
        if (f_sends(f, fd, chunked_head) || f_sends(f, fd, "FFFFFFFFFFFFFF\r\n")) return -1;
        return f_endless(f, fd, unit, sizeof unit);
    }
    case M_CHUNK_ENDLESS: {
        char unit[4096 + 8];
        memcpy(unit, "1000\r\n", 6);
        memset(unit + 6, ' ', 4096);
        memcpy(unit + 6 + 4096, "\r\n", 2);
        if (f_sends(f, fd, chunked_head)) return -1;
        return f_endless(f, fd, unit, sizeof unit);
    }
    case M_CLOSE_ENDLESS: {
        char unit[4096];
        memset(unit, ' ', sizeof unit);
        if (f_sends(f, fd, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")) return -1;
        return f_endless(f, fd, unit, sizeof unit);
    }
    case M_DEEP_JSON:
        n = 100000;
        big = (char *)malloc(n);
        if (!big) return -1;
        memset(big, '[', n);
        r = f_reply(f, fd, "200 OK", "application/json", big, n);
        free(big);
        return r;
    case M_MANY_TOKENS:
        n = 2 * 2000000 + 1; /* "[" + "1," x 1999999 + "1]" */
        big = (char *)malloc(n);
        if (!big) return -1;
        big[0] = '[';
        for (i = 1; i + 1 < n; i += 2) big[i] = '1', big[i + 1] = ',';
        big[n - 1] = ']';
        r = f_reply(f, fd, "200 OK", "application/json", big, n);
        free(big);
        return r;
    case M_DENSE_JSON: {
        static const char pre[] = "{\"header\":{\"revision\":\"8\"},\"x\":[1";
        n = SMALL_CAP - 16;
        big = (char *)malloc(n);
        if (!big) return -1;
        memcpy(big, pre, sizeof pre - 1);
        for (i = sizeof pre - 1; i + 3 < n; i += 2) big[i] = ',', big[i + 1] = '1';
        for (; i < n - 2; i++) big[i] = ' ';
        big[n - 2] = ']';
        big[n - 1] = '}';
        r = f_reply(f, fd, "200 OK", "application/json", big, n);
        free(big);
        return r;
    }
    case M_SILENT: return 0; /* the next read sees the client give up */
    case M_500: {
        static const char body[] = "{\"error\":\"boom\",\"code\":2,\"message\":\"boom\"}";
        char head[400];
        snprintf(head, sizeof head,
                 "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                 "Trailer: Grpc-Trailer-Content-Type\r\nTransfer-Encoding: "
                 "chunked\r\n\r\n%lx\r\n%s\r\n0\r\n"
                 "Grpc-Trailer-Content-Type: application/grpc\r\n\r\n",
                 (unsigned long)(sizeof body - 1), body);
        return f_sends(f, fd, head);
    }
    case M_503: {
        static const char body[] = "{\"code\":14,\"message\":\"etcdserver: no leader\"}";
        return f_reply(f, fd, "503 Service Unavailable", "application/json", body, sizeof body - 1);
    }
    case M_404:
        return f_reply(f, fd, "404 Not Found", "text/plain; charset=utf-8", "Not Found\n", 10);
    case M_LONG_HEADER:
        n = 9000;
        big = (char *)malloc(n + 64);
        if (!big) return -1;
        memcpy(big, "X-Long: ", 8);
        memset(big + 8, 'a', n);
        memcpy(big + 8 + n, "\r\n\r\n", 4);
        r = f_sends(f, fd, "HTTP/1.1 200 OK\r\n") || f_send(f, fd, big, n + 12) ? -1 : 0;
        free(big);
        return r;
    case M_MANY_HEADERS: {
        char line[64];
        if (f_sends(f, fd, "HTTP/1.1 200 OK\r\n")) return -1;
        for (i = 0; i < 10000; i++) {
            snprintf(line, sizeof line, "X-Header-%05lu: value\r\n", (unsigned long)i);
            if (f_sends(f, fd, line)) return -1;
        }
        f_sends(f, fd, "Content-Length: 2\r\n\r\n{}");
        return -1;
    }
    case M_SLOWLORIS: {
        char body[2048], all[2400];
        ok_body(f, path, req, body, sizeof body);
        snprintf(all, sizeof all, "HTTP/1.1 200 OK\r\nContent-Length: %lu\r\n\r\n%s",
                 (unsigned long)strlen(body), body);
        for (i = 0; all[i]; i++) {
            if (f_send(f, fd, all + i, 1)) return -1;
            if (f_wait(f, -1, 0, 100) < 0) return -1;
        }
        return -1;
    }
    case M_CONTINUE_FLOOD: {
        static const char unit[] = "HTTP/1.1 100 Continue\r\n\r\n";
        return f_endless(f, fd, unit, sizeof unit - 1);
    }
    case M_STATUS_CLOSE: f_sends(f, fd, "HTTP/1.1 200 OK\r\n"); return -1;
    case M_WATCH_DEEP:
        n = 5000;
        big = (char *)malloc(n + 2);
        if (!big) return -1;
        memset(big, '[', n);
        big[n] = '\n';
        big[n + 1] = 0;
        r = f_watch_created(f, fd) || f_chunk(f, fd, big) ? -1 : 0;
        free(big);
        return r;
    case M_WATCH_BIG_PUT: {
        static const char pre[] =
            "{\"result\":{\"header\":{\"revision\":\"9\"},\"events\":[{\"kv\":{\"key\":"
            "\"ZWwvNjk0ZGEyMGM2ODE5NDE1Yw==\",\"create_revision\":\"7\",\"mod_revision\":\"9\","
            "\"version\":\"2\",\"value\":\"";
        static const char post[] = "\",\"lease\":\"7587899121358946652\"}}]}}\n";
        char *raw = (char *)malloc(BIG_VALUE);
        big = (char *)malloc(sizeof pre + BIG_VALUE * 2 + sizeof post);
        if (!raw || !big) {
            free(raw);
            free(big);
            return -1;
        }
        big_value(raw);
        memcpy(big, pre, sizeof pre - 1);
        n = sizeof pre - 1 + b64(raw, BIG_VALUE, big + sizeof pre - 1);
        memcpy(big + n, post, sizeof post);
        r = f_watch_created(f, fd) || f_chunk(f, fd, big) ? -1 : 0;
        free(raw);
        free(big);
        return r;
    }
    case M_WATCH_ERROR:
        if (f_watch_created(f, fd) || f_chunk(f, fd,
                                              "{\"error\":{\"grpc_code\":14,\"http_code\":503,"
                                              "\"message\":\"etcdserver: no leader\","
                                              "\"http_status\":\"Service Unavailable\"}}"))
            return -1;
        f_sends(f, fd, "0\r\n\r\n");
        return 0;
    case M_36_WATCH_ERROR:
        if (f_watch_created(f, fd) ||
            f_chunk(f, fd, "{\"error\":{\"code\":14,\"message\":\"etcdserver: no leader\"}}\n"))
            return -1;
        f_sends(f, fd, "0\r\n\r\n");
        return 0;
    case M_36_KA_NO_LEADER:
        return f_stream_reply(f, fd, "200 OK",
                              "{\"error\":{\"code\":14,\"message\":\"etcdserver: no leader\"}}\n");
    case M_36_KA_NO_USER:
        return f_stream_reply(
            f, fd, "400 Bad Request",
            "{\"error\":{\"code\":3,\"message\":\"etcdserver: user name is empty\"}}\n");
    case M_36_KA_NO_TTL: {
        char msg[512];
        snprintf(msg, sizeof msg, "{\"result\":{\"header\":%s,\"ID\":\"7587863229436470000\"}}\n",
                 HDR_JSON);
        return f_stream_reply(f, fd, "200 OK", msg);
    }
    default:
        for (i = 0; i < sizeof ERR36 / sizeof ERR36[0]; i++)
            if (ERR36[i].mode == m)
                return f_reply(f, fd, ERR36[i].status, "application/json", ERR36[i].body,
                               strlen(ERR36[i].body));
        return -1;
    }
}

/* M_36_TOKEN: /v3/auth/authenticate hands out tok.1, tok.2, ...; tok.1 is refused as
   expired (401, as 3.6 says it), a missing token as 3.6 does (400), a later one served. */
static int f_token(fake *f, fconn *c, const char *path, const char *req) {
    static const char expired[] = "{\"code\":16,\"message\":\"etcdserver: invalid auth token\"}";
    char body[512];
    int n;
    if (strcmp(path, "/v3/auth/authenticate") == 0) {
        pthread_mutex_lock(&f->mu);
        n = ++f->tokens;
        pthread_mutex_unlock(&f->mu);
        snprintf(body, sizeof body, "{\"header\":%s, \"token\":\"tok.%d\"}", HDR_JSON, n);
        return f_reply(f, c->fd, "200 OK", "application/json", body, strlen(body));
    }
    if (strcmp(c->auth, "tok.1") == 0) /* the content type carries the extra header */
        return f_reply(f, c->fd, "401 Unauthorized",
                       "application/json\r\nWWW-Authenticate: etcdserver: invalid auth token",
                       expired, sizeof expired - 1);
    if (!c->auth[0]) return f_misbehave(f, c->fd, M_36_NO_USER, path, req);
    return f_ok(f, c->fd, path, req, 1);
}

static void *f_conn_main(void *arg) {
    fconn *c = (fconn *)arg;
    fake *f = c->f;
    char path[128];
    char *body = (char *)malloc(65536);
    if (!body) goto out;
    for (;;) {
        int m, r;
        if (!f_read_request(c, path, sizeof path, body, 65536)) break;
        pthread_mutex_lock(&f->mu);
        m = f->mode;
        if (f->bad_path && strcmp(path, f->bad_path) != 0) m = M_OK;
        if (f->bad_limit && f->bad_requests >= f->bad_limit) m = M_OK;
        f->requests++;
        if (m != M_OK) f->bad_requests++;
        pthread_mutex_unlock(&f->mu);
        r = m == M_36_TOKEN ? f_token(f, c, path, body) : f_misbehave(f, c->fd, m, path, body);
        if (r) break;
    }
out:
    free(body);
    close(c->fd);
    free(c);
    return NULL;
}

static void *f_accept_main(void *arg) {
    fake *f = (fake *)arg;
    int one = 1;
    for (;;) {
        fconn *c;
        int fd, close_now;
        if (f_wait(f, f->lfd, POLLIN, -1) != 1) break;
        fd = accept(f->lfd, NULL, NULL);
        if (fd < 0) continue;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                   sizeof one); /* no Nagle delays in the timings */
        pthread_mutex_lock(&f->mu);
        f->accepted++;
        close_now = (f->mode == M_CLOSE && !f->bad_path) || f->nconn >= MAX_CONN_THREADS;
        pthread_mutex_unlock(&f->mu);
        if (close_now) {
            close(fd);
            continue;
        }
        c = (fconn *)calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->f = f;
        c->fd = fd;
        pthread_mutex_lock(&f->mu);
        if (pthread_create(&f->conn_th[f->nconn], NULL, f_conn_main, c) == 0) {
            f->nconn++;
        } else {
            close(fd);
            free(c);
        }
        pthread_mutex_unlock(&f->mu);
    }
    return NULL;
}

static int fake_start_ttl(fake *f, int mode, const char *bad_path, int ttl);
static int fake_start(fake *f, int mode, const char *bad_path) {
    return fake_start_ttl(f, mode, bad_path, 5);
}

static int fake_start_ttl(fake *f, int mode, const char *bad_path, int ttl) {
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int one = 1;
    memset(f, 0, sizeof *f);
    f->mode = mode;
    f->bad_path = bad_path;
    f->ttl = ttl;
    pthread_mutex_init(&f->mu, NULL);
    if (pipe(f->stop)) return -1;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (f->lfd < 0) return -1;
    setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(f->lfd, (struct sockaddr *)&a, sizeof a) || listen(f->lfd, 64) ||
        getsockname(f->lfd, (struct sockaddr *)&a, &al))
        return -1;
    f->port = ntohs(a.sin_port);
    return pthread_create(&f->th, NULL, f_accept_main, f) ? -1 : 0;
}

static void fake_stop(fake *f) {
    int i, n;
    char b = 1;
    if (write(f->stop[1], &b, 1) != 1) perror("fake_stop");
    pthread_join(f->th, NULL);
    pthread_mutex_lock(&f->mu);
    n = f->nconn;
    pthread_mutex_unlock(&f->mu);
    for (i = 0; i < n; i++) pthread_join(f->conn_th[i], NULL);
    close(f->lfd);
    close(f->stop[0]);
    close(f->stop[1]);
    pthread_mutex_destroy(&f->mu);
}

static int fake_count(fake *f, int *which) {
    int v;
    pthread_mutex_lock(&f->mu);
    v = *which;
    pthread_mutex_unlock(&f->mu);
    return v;
}

/* A port on 127.0.0.1 nobody listens on. */
static int dead_port(void) {
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* ---- a counting allocator ---------------------------------------------------------- */

typedef struct counter {
    pthread_mutex_t mu;
    size_t cur, peak;
    long live;
} counter;

typedef union hdr16 {
    size_t n;
    long double ld;
    void *p;
    long long ll;
    char pad[16];
} hdr16;

static void *count_alloc(size_t n, void *ud) {
    counter *c = (counter *)ud;
    hdr16 *h = (hdr16 *)malloc(sizeof(hdr16) + n);
    if (!h) return NULL;
    h->n = n;
    pthread_mutex_lock(&c->mu);
    c->cur += n;
    c->live++;
    if (c->cur > c->peak) c->peak = c->cur;
    pthread_mutex_unlock(&c->mu);
    return h + 1;
}

static void count_free(void *p, void *ud) {
    counter *c = (counter *)ud;
    hdr16 *h = (hdr16 *)p - 1;
    pthread_mutex_lock(&c->mu);
    c->cur -= h->n;
    c->live--;
    pthread_mutex_unlock(&c->mu);
    free(h);
}

static void counter_init(counter *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

/* Starts a measurement: the peak restarts from what is allocated now; returns that. */
static size_t counter_mark(counter *c) {
    size_t v;
    pthread_mutex_lock(&c->mu);
    c->peak = c->cur;
    v = c->cur;
    pthread_mutex_unlock(&c->mu);
    return v;
}

static size_t counter_peak(counter *c) {
    size_t v;
    pthread_mutex_lock(&c->mu);
    v = c->peak;
    pthread_mutex_unlock(&c->mu);
    return v;
}

/* ---- helpers ----------------------------------------------------------------------- */

/* A detail line a person can read: not empty, no control characters, valid UTF-8. */
static int readable(const char *m) {
    const unsigned char *s = (const unsigned char *)m;
    if (!m || strlen(m) < 6) return 0;
    while (*s) {
        int k, more = 0;
        if (*s < 0x20 || *s == 0x7f) return 0;
        if (*s < 0x80) {
            s++;
            continue;
        }
        if ((*s & 0xE0) == 0xC0 && *s >= 0xC2)
            more = 1;
        else if ((*s & 0xF0) == 0xE0)
            more = 2;
        else if ((*s & 0xF8) == 0xF0 && *s <= 0xF4)
            more = 3;
        else
            return 0;
        for (k = 1; k <= more; k++)
            if ((s[k] & 0xC0) != 0x80) return 0;
        s += more + 1;
    }
    return 1;
}

/* The message, with bytes outside printable ASCII shown as \xNN (for failure output). */
static const char *shown(const char *m, char *out, size_t cap) {
    size_t o = 0;
    for (; m && *m && o + 5 < cap; m++) {
        unsigned char ch = (unsigned char)*m;
        if (ch >= 0x20 && ch < 0x7f)
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
    }
    out[o] = 0;
    return out;
}

/* 1 if m contains one of the '|'-separated needles. */
static int mentions(const char *m, const char *needles) {
    char one[128];
    while (*needles) {
        size_t n = strcspn(needles, "|");
        if (n >= sizeof one) n = sizeof one - 1;
        memcpy(one, needles, n);
        one[n] = 0;
        if (n && strstr(m, one)) return 1;
        needles += n + (needles[n] == '|');
    }
    return 0;
}

static etcde_result make_client(counter *cnt, const char *eps, size_t max_resp, int max_tokens,
                                etcde_client **out) {
    etcde_options o;
    memset(&o, 0, sizeof o);
    o.endpoints = eps;
    o.request_timeout_ms = REQ_TIMEOUT_MS;
    o.dial_timeout_ms = DIAL_TIMEOUT_MS;
    o.max_response_bytes = max_resp ? max_resp : SMALL_CAP;
    o.max_json_tokens = max_tokens;
    if (cnt) {
        o.allocator.alloc_fn = count_alloc;
        o.allocator.free_fn = count_free;
        o.allocator.user_data = cnt;
    }
    return etcde_client_create(&o, out);
}

/* ---- the table of hostile behaviours ------------------------------------------------ */

typedef struct hcase {
    const char *name;
    int mode;
    etcde_result want, want2; /* want2: an acceptable alternative (0: none) */
    const char *needle;       /* '|'-separated: the message must mention one */
    int slow;                 /* 1: ends at the request timeout; 0: must fail well before it */
    size_t max_resp;          /* 0: 64 KiB */
    int max_tokens;           /* 0: default */
} hcase;

enum { VIA_SESSION = 0, VIA_LEADER = 1 };

/* Runs one behaviour through one entry point and checks result, message, time, memory
   and file descriptors. */
static void run_case(const hcase *hc, int via) {
    fake f;
    counter cnt;
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    etcde_election *e = NULL;
    etcde_kv kv;
    etcde_result r;
    char eps[64], show[1024];
    const char *msg, *how = via == VIA_SESSION ? "session_create" : "leader";
    size_t cap = hc->max_resp ? hc->max_resp : SMALL_CAP, base, peak;
    int64_t t0, ms;
    int fds0 = etcdt_open_fds(), fds1;

    counter_init(&cnt);
    REQUIREF(fake_start(&f, hc->mode, NULL) == 0, "%s: cannot start the fake server", hc->name);
    snprintf(eps, sizeof eps, "127.0.0.1:%d", f.port);
    r = make_client(&cnt, eps, cap, hc->max_tokens, &c);
    CHECKF(r == ETCDE_OK, "%s: client_create: %s", hc->name, etcde_strerror(r));
    if (r == ETCDE_OK && via == VIA_LEADER) {
        r = etcde_election_create(c, NULL, "el", &e);
        CHECKF(r == ETCDE_OK, "%s: election_create: %s", hc->name, etcde_strerror(r));
    }
    if (r == ETCDE_OK) {
        base = counter_mark(&cnt);
        t0 = etcdt_now_ms();
        if (via == VIA_SESSION) {
            r = etcde_session_create(c, NULL, &s);
            msg = etcde_client_errmsg(c);
        } else {
            r = etcde_leader(e, &kv);
            msg = etcde_election_errmsg(e);
        }
        ms = etcdt_now_ms() - t0;
        peak = counter_peak(&cnt) - base;
        shown(msg, show, sizeof show);
        if (getenv("HOSTILE_VERBOSE"))
            printf("     %s via %s: %s after %lld ms, peak %lu B: \"%s\"\n", hc->name, how,
                   etcde_strerror(r), (long long)ms, (unsigned long)peak, show);
        CHECKF(r == hc->want || (hc->want2 && r == hc->want2),
               "%s via %s: got %s (%d) \"%s\", want %s%s%s", hc->name, how, etcde_strerror(r),
               (int)r, show, etcde_strerror(hc->want), hc->want2 ? " or " : "",
               hc->want2 ? etcde_strerror(hc->want2) : "");
        CHECKF(readable(msg), "%s via %s: message is not a readable line: \"%s\"", hc->name, how,
               show);
        CHECKF(mentions(msg, hc->needle), "%s via %s: message \"%s\" does not mention \"%s\"",
               hc->name, how, show, hc->needle);
        if (hc->slow)
            CHECKF(ms >= REQ_TIMEOUT_MS - 200 && ms <= REQ_TIMEOUT_MS + 700,
                   "%s via %s: returned after %lld ms, want about the %d ms request timeout",
                   hc->name, how, (long long)ms, REQ_TIMEOUT_MS);
        else
            CHECKF(ms < 1000, "%s via %s: took %lld ms, want a prompt failure", hc->name, how,
                   (long long)ms);
        CHECKF(peak <= 3 * cap + MEM_SLACK,
               "%s via %s: peak %lu bytes allocated, over 3 x %lu + %lu", hc->name, how,
               (unsigned long)peak, (unsigned long)cap, (unsigned long)MEM_SLACK);
    }
    etcde_session_destroy(s);
    etcde_election_destroy(e);
    etcde_client_destroy(c);
    fake_stop(&f);
    CHECKF(cnt.live == 0, "%s via %s: %ld allocations not freed", hc->name, how, cnt.live);
    fds1 = etcdt_open_fds();
    CHECKF(fds1 == fds0, "%s via %s: %d file descriptors before, %d after", hc->name, how, fds0,
           fds1);
    pthread_mutex_destroy(&cnt.mu);
}

static void run_both(const hcase *hc) {
    run_case(hc, VIA_SESSION);
    run_case(hc, VIA_LEADER);
}

#define HOSTILE(fn, ...)                            \
    ETCDT_TEST(fn) {                                \
        static const hcase hc = {#fn, __VA_ARGS__}; \
        run_both(&hc);                              \
    }

HOSTILE(garbage_instead_of_http, M_GARBAGE, ETCDE_ERR_HTTP, 0, "status line", 0, 0, 0)
HOSTILE(garbage_header_line, M_BAD_HEADER, ETCDE_ERR_HTTP, 0, "header", 0, 0, 0)
HOSTILE(invalid_json_body, M_BAD_JSON, ETCDE_ERR_JSON, 0, "JSON", 0, 0, 0)
HOSTILE(truncated_body, M_TRUNCATED, ETCDE_ERR_HTTP, ETCDE_ERR_IO, "truncated|mid-body", 0, 0, 0)
HOSTILE(two_gigabyte_content_length, M_HUGE_LEN, ETCDE_ERR_TOO_BIG, 0, "2147483648", 0, 0, 0)
HOSTILE(chunk_size_bomb, M_CHUNK_BOMB, ETCDE_ERR_TOO_BIG, ETCDE_ERR_HTTP, "chunk", 0, 0, 0)
HOSTILE(huge_chunk_then_endless_data, M_CHUNK_HUGE, ETCDE_ERR_TOO_BIG, 0, "limit", 0, 0, 0)
HOSTILE(endless_chunks, M_CHUNK_ENDLESS, ETCDE_ERR_TOO_BIG, 0, "limit", 0, 0, 0)
HOSTILE(endless_close_delimited_body, M_CLOSE_ENDLESS, ETCDE_ERR_TOO_BIG, 0, "limit", 0, 0, 0)
HOSTILE(json_nested_100000_deep, M_DEEP_JSON, ETCDE_ERR_TOO_BIG, ETCDE_ERR_JSON, "deep|nest|JSON",
        0, (size_t)256 << 10, 0)
HOSTILE(two_million_json_tokens, M_MANY_TOKENS, ETCDE_ERR_TOO_BIG, 0, "token", 0, (size_t)6 << 20,
        1000)
HOSTILE(silent_server, M_SILENT, ETCDE_ERR_TIMEOUT, 0, "timed out", 1, 0, 0)
HOSTILE(close_after_accept, M_CLOSE, ETCDE_ERR_IO, 0, "closed|reset|Broken pipe", 0, 0, 0)
HOSTILE(http_500_etcd_error, M_500, ETCDE_ERR_ETCD, 0, "boom", 0, 0, 0)
HOSTILE(http_503_no_leader, M_503, ETCDE_ERR_UNAVAILABLE, 0, "no leader", 0, 0, 0)
HOSTILE(http_404_text_plain, M_404, ETCDE_ERR_HTTP, 0, "404", 0, 0, 0)
HOSTILE(header_line_over_8k, M_LONG_HEADER, ETCDE_ERR_TOO_BIG, 0, "longer than", 0, 0, 0)
HOSTILE(ten_thousand_header_lines, M_MANY_HEADERS, ETCDE_ERR_TOO_BIG, 0, "header lines", 0, 0, 0)
HOSTILE(slowloris_one_byte_per_100ms, M_SLOWLORIS, ETCDE_ERR_TIMEOUT, 0, "timed out", 1, 0, 0)
HOSTILE(endless_100_continue, M_CONTINUE_FLOOD, ETCDE_ERR_TOO_BIG, 0, "interim", 0, 0, 0)
HOSTILE(status_line_then_close, M_STATUS_CLOSE, ETCDE_ERR_HTTP, ETCDE_ERR_IO, "closed", 0, 0, 0)
/* etcd 3.6/3.7's unary errors: no "error" member, status from the code */
HOSTILE(etcd36_lease_not_found, M_36_LEASE_GONE, ETCDE_ERR_SESSION_LOST, 0,
        "etcd 404 (code 5): etcdserver: requested lease not found", 0, 0, 0)
HOSTILE(etcd36_lease_not_found_spaced, M_36_LEASE_GONE_SP, ETCDE_ERR_SESSION_LOST, 0,
        "etcd 404 (code 5): etcdserver: requested lease not found", 0, 0, 0)
HOSTILE(etcd36_user_name_is_empty, M_36_NO_USER, ETCDE_ERR_AUTH, 0,
        "etcd 400 (code 3): etcdserver: user name is empty (etcd requires authentication; no user "
        "is configured)",
        0, 0, 0)
HOSTILE(etcd36_cancelled_499, M_36_CANCELLED, ETCDE_ERR_UNAVAILABLE, 0,
        "etcd 499 (code 1): context canceled", 0, 0, 0)
/* the gateway's own routing errors: the server lacks the endpoint, no etcd call ran (and
   404's code 5 is not etcd's "lease not found") */
HOSTILE(etcd36_method_not_allowed_501, M_36_NO_METHOD, ETCDE_ERR_HTTP, 0,
        "HTTP 501 (code 12): Method Not Allowed: the server has no such gateway endpoint", 0, 0, 0)
HOSTILE(etcd36_path_not_found_404, M_36_NO_PATH, ETCDE_ERR_HTTP, 0,
        "HTTP 404 (code 5): Not Found: the server has no such gateway endpoint", 0, 0, 0)

/* The 500 must also say which status it was. */
ETCDT_TEST(http_500_message_names_status_and_code) {
    fake f;
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    char eps[64];
    etcde_result r;
    REQUIRE(fake_start(&f, M_500, NULL) == 0);
    snprintf(eps, sizeof eps, "127.0.0.1:%d", f.port);
    REQUIRE(make_client(NULL, eps, 0, 0, &c) == ETCDE_OK);
    r = etcde_session_create(c, NULL, &s);
    CHECK(r == ETCDE_ERR_ETCD);
    CHECKF(strstr(etcde_client_errmsg(c), "500") && strstr(etcde_client_errmsg(c), "code 2"),
           "message \"%s\" should name HTTP 500 and code 2", etcde_client_errmsg(c));
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    fake_stop(&f);
}

/* A session, the leader, a campaign, proclaim, resign, lock and unlock against a fake
   answering every request in `mode`; as a user for M_36_TOKEN. */
static void round_trip(int mode) {
    fake f;
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    etcde_election *e = NULL;
    etcde_election *m = NULL;
    etcde_kv kv;
    char eps[64];
    etcde_result r;
    REQUIRE(fake_start(&f, mode, NULL) == 0);
    snprintf(eps, sizeof eps, "127.0.0.1:%d", f.port);
    if (mode == M_36_TOKEN) {
        etcde_options o;
        memset(&o, 0, sizeof o);
        o.endpoints = eps;
        o.user = "root:secret";
        o.request_timeout_ms = REQ_TIMEOUT_MS;
        REQUIRE(etcde_client_create(&o, &c) == ETCDE_OK);
    } else {
        REQUIRE(make_client(NULL, eps, 0, 0, &c) == ETCDE_OK);
    }
    r = etcde_session_create(c, NULL, &s);
    CHECKF(r == ETCDE_OK, "session_create: %s: %s", etcde_strerror(r), etcde_client_errmsg(c));
    if (mode == M_36_TOKEN) /* tok.1 refused with 401, then tok.2 for everything */
        CHECKF(fake_count(&f, &f.tokens) == 2, "%d authentications, want 2",
               fake_count(&f, &f.tokens));
    if (r == ETCDE_OK) {
        CHECK(etcde_session_lease(s) == 7587899121358946652LL);
        CHECK(etcde_session_ttl(s) == 5);
        CHECK(etcde_election_create(c, s, "el", &e) == ETCDE_OK);
        r = etcde_leader(e, &kv);
        CHECKF(r == ETCDE_OK, "leader: %s: %s", etcde_strerror(r), etcde_election_errmsg(e));
        if (r == ETCDE_OK) {
            CHECK(kv.create_rev == 7 && kv.mod_rev == 7 && kv.lease == 7587899121358946652LL);
            CHECK(kv.value_len == 11 && memcmp(kv.value, "candidate-A", 11) == 0);
            CHECK(kv.key_len == 19 && memcmp(kv.key, "el/694da20c6819415c", 19) == 0);
        }
        r = etcde_campaign(e, "candidate-A", 11, 3000);
        CHECKF(r == ETCDE_OK, "campaign: %s: %s", etcde_strerror(r), etcde_election_errmsg(e));
        CHECK(etcde_election_rev(e) == 8);
        CHECK(etcde_is_leader(e));
        r = etcde_proclaim(e, "candidate-B", 11);
        CHECKF(r == ETCDE_OK, "proclaim: %s: %s", etcde_strerror(r), etcde_election_errmsg(e));
        CHECK(etcde_resign(e) == ETCDE_OK);
        CHECK(etcde_election_create(c, s, "lk", &m) == ETCDE_OK);
        r = etcde_lock(m, 3000);
        CHECKF(r == ETCDE_OK, "lock: %s: %s", etcde_strerror(r), etcde_election_errmsg(m));
        CHECK(etcde_is_leader(m) && etcde_election_rev(m) == 8);
        CHECK(etcde_unlock(m) == ETCDE_OK && !etcde_is_leader(m));
        CHECK(etcde_session_remaining_ms(s) > 0);
    }
    etcde_election_destroy(m);
    etcde_election_destroy(e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    if (mode == M_OK)
        CHECK(fake_count(&f, &f.bad_requests) == 0);
    else
        CHECK(fake_count(&f, &f.bad_requests) >= 8); /* every request got the mode's reply */
    if (mode == M_36_TOKEN) CHECK(fake_count(&f, &f.tokens) == 2);
    fake_stop(&f);
}

/* The fake itself: all of it works against M_OK, so the failures above are the
   library's reaction to the misbehaviour, not to the fake. */
ETCDT_TEST(fake_server_ok_sanity) { round_trip(M_OK); }

/* etcd 3.6/3.7 may put a space after every comma of a unary body. */
ETCDT_TEST(etcd36_spaced_bodies_round_trip) { round_trip(M_36_SPACED); }

/* 3.6's 401 names the problem in WWW-Authenticate and a code-16 body: the client
   authenticates again and repeats the call, as it does for 3.4's shape. */
ETCDT_TEST(etcd36_expired_token_reauthenticates) { round_trip(M_36_TOKEN); }

/* "<dead port>,<fake ok>": the refused first endpoint is skipped. */
ETCDT_TEST(failover_past_a_dead_endpoint) {
    fake f;
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    etcde_election *e = NULL;
    etcde_kv kv;
    char eps[96];
    etcde_result r;
    int64_t t0;
    int dp = dead_port();
    REQUIRE(dp > 0);
    REQUIRE(fake_start(&f, M_OK, NULL) == 0);
    snprintf(eps, sizeof eps, "127.0.0.1:%d,127.0.0.1:%d", dp, f.port);
    REQUIRE(make_client(NULL, eps, 0, 0, &c) == ETCDE_OK);
    t0 = etcdt_now_ms();
    r = etcde_session_create(c, NULL, &s);
    CHECKF(r == ETCDE_OK, "session_create over \"%s\": %s: %s", eps, etcde_strerror(r),
           etcde_client_errmsg(c));
    CHECKF(etcdt_now_ms() - t0 < 1000, "failover took %lld ms", (long long)(etcdt_now_ms() - t0));
    CHECK(etcde_election_create(c, NULL, "el", &e) == ETCDE_OK);
    r = etcde_leader(e, &kv);
    CHECKF(r == ETCDE_OK, "leader: %s: %s", etcde_strerror(r), etcde_election_errmsg(e));
    CHECK(fake_count(&f, &f.requests) >= 2);
    etcde_election_destroy(e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    fake_stop(&f);

    /* a garbage-speaking first endpoint is also skipped (HTTP errors fail over) */
    {
        fake g;
        REQUIRE(fake_start(&g, M_GARBAGE, NULL) == 0);
        REQUIRE(fake_start(&f, M_OK, NULL) == 0);
        snprintf(eps, sizeof eps, "127.0.0.1:%d,127.0.0.1:%d", g.port, f.port);
        REQUIRE(make_client(NULL, eps, 0, 0, &c) == ETCDE_OK);
        s = NULL;
        r = etcde_session_create(c, NULL, &s);
        CHECKF(r == ETCDE_OK, "session_create over \"%s\": %s: %s", eps, etcde_strerror(r),
               etcde_client_errmsg(c));
        CHECK(fake_count(&g, &g.requests) == 1);
        etcde_session_destroy(s);
        etcde_client_destroy(c);
        fake_stop(&f);
        fake_stop(&g);
    }
}

/* Grant works; /v3/kv/txn misbehaves. The campaign must end with the right code, within
   its timeout, and leave nothing running. */
static void campaign_case(int mode, etcde_result want, const char *needle, int timeout_ms,
                          int max_ms) {
    fake f;
    counter cnt;
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    etcde_election *e = NULL;
    char eps[64], show[1024];
    etcde_result r;
    int64_t t0, ms;
    counter_init(&cnt);
    REQUIRE(fake_start(&f, mode, "/v3/kv/txn") == 0);
    snprintf(eps, sizeof eps, "127.0.0.1:%d", f.port);
    REQUIRE(make_client(&cnt, eps, 0, 0, &c) == ETCDE_OK);
    r = etcde_session_create(c, NULL, &s);
    CHECKF(r == ETCDE_OK, "session_create: %s: %s", etcde_strerror(r), etcde_client_errmsg(c));
    if (r == ETCDE_OK && etcde_election_create(c, s, "el", &e) == ETCDE_OK) {
        t0 = etcdt_now_ms();
        r = etcde_campaign(e, "candidate-A", 11, timeout_ms);
        ms = etcdt_now_ms() - t0;
        shown(etcde_election_errmsg(e), show, sizeof show);
        CHECKF(r == want, "mode %d: campaign gave %s \"%s\", want %s", mode, etcde_strerror(r),
               show, etcde_strerror(want));
        CHECKF(readable(etcde_election_errmsg(e)), "mode %d: unreadable message \"%s\"", mode,
               show);
        CHECKF(mentions(etcde_election_errmsg(e), needle),
               "mode %d: message \"%s\" does not mention \"%s\"", mode, show, needle);
        CHECKF(ms <= max_ms, "mode %d: campaign returned after %lld ms, want <= %d", mode,
               (long long)ms, max_ms);
        CHECK(!etcde_is_leader(e));
        CHECK(fake_count(&f, &f.bad_requests) >= 1);
        if (want == ETCDE_ERR_ETCD) { /* etcd answered and refused: nothing was made */
            CHECKF((etcde_session_remaining_ms(s) > 0),
                   "mode %d: a refused txn ended the session: %s", mode, etcde_session_errmsg(s));
        } else { /* the key may stand: it was deleted (impossible here) or its session ended */
            CHECKF(etcde_session_remaining_ms(s) == 0,
                   "mode %d: the session still renews a key that may stand", mode);
            CHECKF(strstr(etcde_session_errmsg(s), "may stand"), "mode %d: session message \"%s\"",
                   mode, etcde_session_errmsg(s));
        }
    }
    etcde_election_destroy(e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    fake_stop(&f);
    CHECKF(cnt.live == 0, "mode %d: %ld allocations not freed", mode, cnt.live);
    pthread_mutex_destroy(&cnt.mu);
}

ETCDT_TEST(campaign_txn_invalid_json) {
    campaign_case(M_BAD_JSON, ETCDE_ERR_JSON, "JSON", 3000, 1000);
}
ETCDT_TEST(campaign_txn_etcd_error) { campaign_case(M_500, ETCDE_ERR_ETCD, "boom", 3000, 1000); }
ETCDT_TEST(campaign_txn_endless_chunks) {
    campaign_case(M_CHUNK_ENDLESS, ETCDE_ERR_TOO_BIG, "limit", 3000, 1000);
}
/* transient (HTTP garbage, silence) is retried until the campaign's own timeout; the txn
   may have created the key, and the delete that follows cannot be confirmed within its
   1 s budget, so the session is ended (nothing renews the key) and the message says so */
ETCDT_TEST(campaign_txn_garbage_until_timeout) {
    campaign_case(M_GARBAGE, ETCDE_ERR_TIMEOUT, "timed out|session lease", 2000, 2000 + 1000 + 700);
}
ETCDT_TEST(campaign_txn_silent_until_timeout) {
    campaign_case(M_SILENT, ETCDE_ERR_TIMEOUT, "timed out|session lease", 2000, 2000 + 1000 + 700);
}

/* ---- observe: the range works, the watch stream misbehaves -------------------------- */

static int count_events(etcde_event_type type, const etcde_kv *leader, int64_t revision, void *ud) {
    (void)type;
    (void)leader;
    (void)revision;
    (*(int *)ud)++;
    return 0;
}

static void observe_case(int mode, etcde_result want, const char *needle, int timeout_ms,
                         int max_ms) {
    fake f;
    counter cnt;
    etcde_client *c = NULL;
    etcde_election *e = NULL;
    char eps[64], show[1024];
    etcde_result r;
    int64_t t0, ms;
    int events = 0, watches;
    counter_init(&cnt);
    REQUIRE(fake_start(&f, mode, "/v3/watch") == 0);
    snprintf(eps, sizeof eps, "127.0.0.1:%d", f.port);
    REQUIRE(make_client(&cnt, eps, 0, 0, &c) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, NULL, "el", &e) == ETCDE_OK);
    t0 = etcdt_now_ms();
    r = etcde_observe(e, count_events, &events, timeout_ms);
    ms = etcdt_now_ms() - t0;
    shown(etcde_election_errmsg(e), show, sizeof show);
    watches = fake_count(&f, &f.bad_requests);
    CHECKF(r == want, "mode %d: observe gave %s \"%s\", want %s", mode, etcde_strerror(r), show,
           etcde_strerror(want));
    CHECKF(readable(etcde_election_errmsg(e)), "mode %d: unreadable message \"%s\"", mode, show);
    CHECKF(mentions(etcde_election_errmsg(e), needle),
           "mode %d: message \"%s\" does not mention \"%s\"", mode, show, needle);
    CHECKF(ms <= max_ms, "mode %d: observe returned after %lld ms, want <= %d", mode, (long long)ms,
           max_ms);
    CHECKF(events == 1, "mode %d: %d observe callbacks, want 1 (the leader, before the watch)",
           mode, events);
    /* retries pause 500 ms between attempts: no busy loop against a failing stream */
    CHECKF(watches >= 1 && watches <= timeout_ms / 500 + 2, "mode %d: %d watch requests in %lld ms",
           mode, watches, (long long)ms);
    etcde_election_destroy(e);
    etcde_client_destroy(c);
    fake_stop(&f);
    CHECKF(cnt.live == 0, "mode %d: %ld allocations not freed", mode, cnt.live);
    pthread_mutex_destroy(&cnt.mu);
}

ETCDT_TEST(observe_watch_line_without_end) {
    observe_case(M_CHUNK_ENDLESS, ETCDE_ERR_TOO_BIG, "limit", 3000, 1000);
}
ETCDT_TEST(observe_watch_deep_json_line) {
    observe_case(M_WATCH_DEEP, ETCDE_ERR_TOO_BIG, "nested|deep", 3000, 1000);
}
/* A valid watch message longer than the stream buffer's first allocation (8 KiB): a
   proclamation of a 9000-byte value. The observer must see the value intact. */
typedef struct seen {
    int events;
    size_t last_len;
    int intact;
} seen;

static int on_big(etcde_event_type type, const etcde_kv *leader, int64_t revision, void *ud) {
    seen *sn = (seen *)ud;
    (void)revision;
    sn->events++;
    if (type == ETCDE_EVENT_LEADER && leader->mod_rev == 9) {
        char want[BIG_VALUE];
        big_value(want);
        sn->last_len = leader->value_len;
        sn->intact = leader->value_len == BIG_VALUE && memcmp(leader->value, want, BIG_VALUE) == 0;
        return 1;
    }
    return 0;
}

ETCDT_TEST(observe_watch_event_larger_than_8k) {
    fake f;
    etcde_client *c = NULL;
    etcde_election *e = NULL;
    char eps[64], show[1024];
    etcde_result r;
    seen sn;
    memset(&sn, 0, sizeof sn);
    REQUIRE(fake_start(&f, M_WATCH_BIG_PUT, "/v3/watch") == 0);
    snprintf(eps, sizeof eps, "127.0.0.1:%d", f.port);
    REQUIRE(make_client(NULL, eps, 0, 0, &c) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, NULL, "el", &e) == ETCDE_OK);
    r = etcde_observe(e, on_big, &sn, 3000);
    shown(etcde_election_errmsg(e), show, sizeof show);
    CHECKF(r == ETCDE_OK,
           "observe: %s \"%s\" (a valid 12 KiB watch message was not read back intact)",
           etcde_strerror(r), show);
    CHECKF(sn.events == 2, "%d observe callbacks, want 2", sn.events);
    CHECKF(sn.intact, "the proclaimed value came back as %lu bytes, not the 9000 sent",
           (unsigned long)sn.last_len);
    CHECKF(r != ETCDE_ERR_JSON || readable(etcde_election_errmsg(e)), "unreadable message \"%s\"",
           show);
    etcde_election_destroy(e);
    etcde_client_destroy(c);
    fake_stop(&f);
}

ETCDT_TEST(observe_watch_in_stream_503_retried_until_timeout) {
    observe_case(M_WATCH_ERROR, ETCDE_ERR_TIMEOUT, "observe|timed out", 1500, 1500 + 700);
}
ETCDT_TEST(observe_watch_garbage_retried_until_timeout) {
    observe_case(M_GARBAGE, ETCDE_ERR_TIMEOUT, "observe|timed out", 1500, 1500 + 700);
}
/* 3.6's stream error ends in a newline; the timeout names the failure it retried */
ETCDT_TEST(observe_etcd36_stream_error_retried_until_timeout) {
    observe_case(M_36_WATCH_ERROR, ETCDE_ERR_TIMEOUT,
                 "observe ended after 1500 ms; last watch failure: etcd 200 (code 14): etcdserver: "
                 "no leader",
                 1500, 1500 + 700);
}

/* A candidate waiting for the key ahead of it, whose watch keeps ending in 3.6's stream
   error: it reads and watches again until its timeout, then gives its key up. */
ETCDT_TEST(campaign_waiting_etcd36_stream_error_until_timeout) {
    fake f;
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    etcde_election *e = NULL;
    char eps[64], show[1024];
    const char *msg;
    etcde_result r;
    int64_t t0, ms;
    int watches;
    REQUIRE(fake_start(&f, M_36_WATCH_ERROR, "/v3/watch") == 0);
    f.queued = 1;
    snprintf(eps, sizeof eps, "127.0.0.1:%d", f.port);
    REQUIRE(make_client(NULL, eps, 0, 0, &c) == ETCDE_OK);
    REQUIRE(etcde_session_create(c, NULL, &s) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, s, "el", &e) == ETCDE_OK);
    t0 = etcdt_now_ms();
    r = etcde_campaign(e, "candidate-A", 11, 1500);
    ms = etcdt_now_ms() - t0;
    msg = etcde_election_errmsg(e);
    shown(msg, show, sizeof show);
    watches = fake_count(&f, &f.bad_requests);
    CHECKF(r == ETCDE_ERR_TIMEOUT, "campaign gave %s \"%s\", want timed out", etcde_strerror(r),
           show);
    CHECKF(readable(msg) && strstr(msg, "campaign timed out after 1500 ms") &&
               strstr(msg, "last watch failure: etcd 200 (code 14): etcdserver: no leader"),
           "campaign message \"%s\"", show);
    CHECKF(ms <= 1500 + 700, "campaign returned after %lld ms", (long long)ms);
    CHECKF(watches >= 2 && watches <= 1500 / 500 + 2, "%d watch requests in %lld ms", watches,
           (long long)ms);
    CHECK(!etcde_is_leader(e));
    CHECKF((etcde_session_remaining_ms(s) > 0), "session: %s",
           etcde_session_errmsg(s)); /* its key was deleted */
    etcde_election_destroy(e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    fake_stop(&f);
}

/* ---- keepalive: the grant works, every renewal misbehaves -------------------------- */

typedef struct lost_note {
    int calls; /* atomic */
    int64_t at;
    etcde_result why;
} lost_note;

static void on_lost(etcde_session *s, etcde_result reason, const char *detail, void *ud) {
    lost_note *ln = (lost_note *)ud;
    (void)s;
    (void)detail;
    ln->why = reason;
    ln->at = etcdt_now_ms();
    __atomic_add_fetch(&ln->calls, 1, __ATOMIC_ACQ_REL);
}

/* A 2 s lease (guard 200 ms) whose renewals all fail: the session must count as lost at
   its local deadline (grant + 1800 ms), not earlier and not later, and never be extended
   by a broken reply -- or, `at_once`, for renewals that can never succeed, at the first
   one (~667 ms). The message must contain `has`. */
static void keepalive_case(int mode, int at_once, const char *has) {
    fake f;
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    etcde_session_options so;
    lost_note ln;
    char eps[64], show[512];
    int64_t t0, end, want = at_once ? 667 : 1800, lo = at_once ? 500 : 1700,
                     hi = at_once ? 1200 : 2100;
    etcde_result r;
    memset(&ln, 0, sizeof ln);
    memset(&so, 0, sizeof so);
    so.ttl_s = 2;
    so.on_lost = on_lost;
    so.user_data = &ln;
    REQUIRE(fake_start_ttl(&f, mode, "/v3/lease/keepalive", 2) == 0);
    snprintf(eps, sizeof eps, "127.0.0.1:%d", f.port);
    REQUIRE(make_client(NULL, eps, 0, 0, &c) == ETCDE_OK);
    t0 = etcdt_now_ms();
    r = etcde_session_create(c, &so, &s);
    CHECKF(r == ETCDE_OK, "mode %d: session_create: %s: %s", mode, etcde_strerror(r),
           etcde_client_errmsg(c));
    if (r == ETCDE_OK) {
        CHECK(etcde_session_ttl(s) == 2);
        if (!at_once) {
            etcdt_sleep_ms(1200); /* at least one renewal has failed by now */
            CHECKF((etcde_session_remaining_ms(s) > 0),
                   "mode %d: lost after %lld ms, before the deadline", mode,
                   (long long)(etcdt_now_ms() - t0));
            CHECK(fake_count(&f, &f.bad_requests) >= 1);
        }
        end = etcdt_now_ms() + 2500;
        while (__atomic_load_n(&ln.calls, __ATOMIC_ACQUIRE) == 0 && etcdt_now_ms() < end)
            etcdt_sleep_ms(5);
        CHECKF(__atomic_load_n(&ln.calls, __ATOMIC_ACQUIRE) == 1, "mode %d: on_lost ran %d times",
               mode, ln.calls);
        CHECKF(ln.at - t0 >= lo && ln.at - t0 <= hi,
               "mode %d: lost %lld ms after the grant, want ~%lld", mode, (long long)(ln.at - t0),
               (long long)want);
        CHECK(ln.why == ETCDE_ERR_SESSION_LOST);
        CHECK(etcde_session_remaining_ms(s) == 0);
        shown(etcde_session_errmsg(s), show, sizeof show);
        CHECKF(readable(etcde_session_errmsg(s)) && strstr(show, has),
               "mode %d: session message \"%s\"", mode, show);
    }
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    fake_stop(&f);
}

ETCDT_TEST(keepalive_garbage_loses_session_at_deadline) {
    keepalive_case(
        M_GARBAGE, 0,
        "not renewed in time (its local deadline, last acknowledged renewal + TTL - guard, "
        "passed); last renewal failure: bad HTTP status line");
}
ETCDT_TEST(keepalive_silent_loses_session_at_deadline) {
    keepalive_case(M_SILENT, 0, "not renewed in time");
}
ETCDT_TEST(keepalive_endless_chunks_lose_session_at_deadline) {
    keepalive_case(M_CHUNK_ENDLESS, 0, "not renewed in time");
}
ETCDT_TEST(keepalive_etcd36_stream_error_loses_session_at_deadline) {
    keepalive_case(M_36_KA_NO_LEADER, 0,
                   "not renewed in time (its local deadline, last acknowledged renewal + TTL "
                   "- guard, passed); last renewal failure: etcd 200 (code 14): etcdserver: "
                   "no leader");
}
/* a routing 404 says the endpoint is missing, not that the lease is gone */
ETCDT_TEST(keepalive_etcd36_routing_404_loses_session_at_deadline) {
    keepalive_case(M_36_NO_PATH, 0,
                   "last renewal failure: HTTP 404 (code 5): Not Found: the server has no such "
                   "gateway endpoint");
}

ETCDT_TEST(keepalive_etcd36_unknown_lease_loses_session_at_once) {
    keepalive_case(M_36_KA_NO_TTL, 1,
                   "session lost: lease 694da20c6819415c expired or was revoked (keepalive "
                   "reply without TTL)");
}
/* 3.6's keepalive refused before its first message: 400 and a stream error line */
ETCDT_TEST(keepalive_etcd36_auth_required_loses_session_at_once) {
    keepalive_case(M_36_KA_NO_USER, 1,
                   "session lost: lease 694da20c6819415c cannot be renewed: etcd 400 (code 3): "
                   "etcdserver: user name is empty (etcd requires authentication; no user is "
                   "configured)");
}
/* A 2 s lease (deadline 1.8 s after the grant) whose first renewal (~667 ms) fails with
   a 503 and the rest succeed: the renewal is tried again ~500 ms after the failed one, in
   time, and the session lives on. */
ETCDT_TEST(a_failed_renewal_is_tried_again_before_the_deadline) {
    fake f;
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    etcde_session_options so;
    lost_note ln;
    char eps[64];
    memset(&ln, 0, sizeof ln);
    memset(&so, 0, sizeof so);
    so.ttl_s = 2;
    so.on_lost = on_lost;
    so.user_data = &ln;
    REQUIRE(fake_start_ttl(&f, M_503, "/v3/lease/keepalive", 2) == 0);
    pthread_mutex_lock(&f.mu);
    f.bad_limit = 2; /* the stream's upgrade (refused, so renewals are plain), the first one */
    pthread_mutex_unlock(&f.mu);
    snprintf(eps, sizeof eps, "127.0.0.1:%d", f.port);
    REQUIRE(make_client(NULL, eps, 0, 0, &c) == ETCDE_OK);
    REQUIRE(etcde_session_create(c, &so, &s) == ETCDE_OK);
    etcdt_sleep_ms(3500);
    CHECK(fake_count(&f, &f.bad_requests) == 2);
    CHECKF(__atomic_load_n(&ln.calls, __ATOMIC_ACQUIRE) == 0 && etcde_session_remaining_ms(s) > 0,
           "lost after a failed renewal: %s", etcde_session_errmsg(s));
    CHECK(fake_count(&f, &f.requests) >= 6); /* grant, upgrade, failure, retry, two more */
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    fake_stop(&f);
}

/* attaching to a lease etcd does not know: the renewal's reply has no TTL */
ETCDT_TEST(session_etcd36_attach_to_unknown_lease) {
    fake f;
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    etcde_session_options so;
    char eps[64];
    etcde_result r;
    memset(&so, 0, sizeof so);
    so.lease_id = 7587863229436470000LL;
    REQUIRE(fake_start(&f, M_36_KA_NO_TTL, "/v3/lease/keepalive") == 0);
    snprintf(eps, sizeof eps, "127.0.0.1:%d", f.port);
    REQUIRE(make_client(NULL, eps, 0, 0, &c) == ETCDE_OK);
    r = etcde_session_create(c, &so, &s);
    CHECKF(r == ETCDE_ERR_SESSION_LOST && s == NULL, "session_create: %s: %s", etcde_strerror(r),
           etcde_client_errmsg(c));
    CHECKF(readable(etcde_client_errmsg(c)) &&
               strstr(etcde_client_errmsg(c),
                      "lease 694d8167aacf22f0 does not exist (expired or revoked)"),
           "message \"%s\"", etcde_client_errmsg(c));
    etcde_client_destroy(c);
    fake_stop(&f);
}

/* ---- cancellation of a call blocked on a silent server ---------------------------- */

typedef struct blocked {
    etcde_client *c;
    etcde_election *e;
    int what; /* 0 leader, 1 session_create, 2 campaign */
    etcde_result r;
    int64_t returned;
    char msg[512];
} blocked;

static void *blocked_main(void *p) {
    blocked *b = (blocked *)p;
    etcde_kv kv;
    etcde_session *s = NULL;
    if (b->what == 0) {
        b->r = etcde_leader(b->e, &kv);
        snprintf(b->msg, sizeof b->msg, "%s", etcde_election_errmsg(b->e));
    } else if (b->what == 1) {
        b->r = etcde_session_create(b->c, NULL, &s);
        snprintf(b->msg, sizeof b->msg, "%s", etcde_client_errmsg(b->c));
        etcde_session_destroy(s);
    } else {
        b->r = etcde_campaign(b->e, "x", 1, -1);
        snprintf(b->msg, sizeof b->msg, "%s", etcde_election_errmsg(b->e));
    }
    __atomic_store_n(&b->returned, etcdt_now_ms(), __ATOMIC_RELEASE);
    return NULL;
}

static void cancel_case(int what) {
    fake f;
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    blocked b;
    pthread_t th;
    char eps[64];
    int64_t t_cancel, waited;
    memset(&b, 0, sizeof b);
    b.what = what;
    /* the campaign needs a session first: only the txn is silent then */
    REQUIRE(fake_start(&f, M_SILENT, what == 2 ? "/v3/kv/txn" : NULL) == 0);
    snprintf(eps, sizeof eps, "127.0.0.1:%d", f.port);
    /* a long request timeout, so only the cancel can end the call in time */
    {
        etcde_options o;
        memset(&o, 0, sizeof o);
        o.endpoints = eps;
        o.request_timeout_ms = 10000;
        o.dial_timeout_ms = DIAL_TIMEOUT_MS;
        REQUIRE(etcde_client_create(&o, &c) == ETCDE_OK);
    }
    b.c = c;
    if (what == 2) REQUIRE(etcde_session_create(c, NULL, &s) == ETCDE_OK);
    if (what != 1) REQUIRE(etcde_election_create(c, s, "el", &b.e) == ETCDE_OK);
    REQUIRE(pthread_create(&th, NULL, blocked_main, &b) == 0);
    /* wait until the request reached the server (or at most 2 s) */
    {
        int64_t until = etcdt_now_ms() + 2000;
        while (fake_count(&f, &f.bad_requests) < 1 && etcdt_now_ms() < until) etcdt_sleep_ms(5);
        CHECK(fake_count(&f, &f.bad_requests) >= 1);
    }
    etcdt_sleep_ms(100);
    CHECK(__atomic_load_n(&b.returned, __ATOMIC_ACQUIRE) == 0);
    t_cancel = etcdt_now_ms();
    etcde_client_cancel(c);
    pthread_join(th, NULL);
    waited = b.returned - t_cancel;
    CHECKF(b.r == ETCDE_ERR_CANCELLED, "what=%d: got %s \"%s\", want cancelled", what,
           etcde_strerror(b.r), b.msg);
    /* a campaign's txn may have created its key: the delete gets its 1 s budget first */
    CHECKF(waited < (what == 2 ? 1200 : 200), "what=%d: returned %lld ms after the cancel", what,
           (long long)waited);
    if (what == 2)
        CHECKF(etcde_session_remaining_ms(s) == 0, "the session still renews a key that may stand");
    CHECKF(readable(b.msg) && strstr(b.msg, "cancel"), "what=%d: message \"%s\"", what, b.msg);
    etcde_client_uncancel(c);
    etcde_election_destroy(b.e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    fake_stop(&f);
}

ETCDT_TEST(cancel_leader_blocked_on_silent_server) { cancel_case(0); }
ETCDT_TEST(cancel_session_create_blocked_on_silent_server) { cancel_case(1); }
ETCDT_TEST(cancel_campaign_blocked_on_silent_txn) { cancel_case(2); }

/* ---- memory ------------------------------------------------------------------------ */

/* A valid but unnaturally dense response that fits the 64 KiB cap (about 32 000 JSON
   tokens, two bytes each: etcd never sends fewer than four bytes per token). Refused
   before any token memory is allocated, so memory stays within ~3 x max_response_bytes. */
ETCDT_TEST(memory_dense_json_within_caps) {
    fake f;
    counter cnt;
    etcde_client *c = NULL;
    etcde_election *e = NULL;
    etcde_kv kv;
    char eps[64];
    etcde_result r;
    size_t base, peak;
    counter_init(&cnt);
    REQUIRE(fake_start(&f, M_DENSE_JSON, NULL) == 0);
    snprintf(eps, sizeof eps, "127.0.0.1:%d", f.port);
    REQUIRE(make_client(&cnt, eps, SMALL_CAP, 0, &c) == ETCDE_OK);
    REQUIRE(etcde_election_create(c, NULL, "el", &e) == ETCDE_OK);
    base = counter_mark(&cnt);
    r = etcde_leader(e, &kv);
    peak = counter_peak(&cnt) - base;
    CHECKF(r == ETCDE_ERR_TOO_BIG && strstr(etcde_election_errmsg(e), "tokens"), "leader: %s: %s",
           etcde_strerror(r), etcde_election_errmsg(e));
    CHECKF(peak <= 3 * SMALL_CAP + MEM_SLACK,
           "peak %lu bytes allocated for one %lu-byte response, over 3 x %lu + %lu (the JSON token "
           "array "
           "is 24 bytes per token)",
           (unsigned long)peak, (unsigned long)(SMALL_CAP - 16), (unsigned long)SMALL_CAP,
           (unsigned long)MEM_SLACK);
    etcde_election_destroy(e);
    etcde_client_destroy(c);
    fake_stop(&f);
    CHECK(cnt.live == 0);
    pthread_mutex_destroy(&cnt.mu);
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(fake_server_ok_sanity),
        ETCDT_CASE(garbage_instead_of_http),
        ETCDT_CASE(garbage_header_line),
        ETCDT_CASE(invalid_json_body),
        ETCDT_CASE(truncated_body),
        ETCDT_CASE(two_gigabyte_content_length),
        ETCDT_CASE(chunk_size_bomb),
        ETCDT_CASE(huge_chunk_then_endless_data),
        ETCDT_CASE(endless_chunks),
        ETCDT_CASE(endless_close_delimited_body),
        ETCDT_CASE(json_nested_100000_deep),
        ETCDT_CASE(two_million_json_tokens),
        ETCDT_CASE(silent_server),
        ETCDT_CASE(close_after_accept),
        ETCDT_CASE(http_500_etcd_error),
        ETCDT_CASE(http_500_message_names_status_and_code),
        ETCDT_CASE(http_503_no_leader),
        ETCDT_CASE(http_404_text_plain),
        ETCDT_CASE(header_line_over_8k),
        ETCDT_CASE(ten_thousand_header_lines),
        ETCDT_CASE(slowloris_one_byte_per_100ms),
        ETCDT_CASE(endless_100_continue),
        ETCDT_CASE(status_line_then_close),
        ETCDT_CASE(etcd36_lease_not_found),
        ETCDT_CASE(etcd36_lease_not_found_spaced),
        ETCDT_CASE(etcd36_user_name_is_empty),
        ETCDT_CASE(etcd36_cancelled_499),
        ETCDT_CASE(etcd36_method_not_allowed_501),
        ETCDT_CASE(etcd36_path_not_found_404),
        ETCDT_CASE(etcd36_spaced_bodies_round_trip),
        ETCDT_CASE(etcd36_expired_token_reauthenticates),
        ETCDT_CASE(failover_past_a_dead_endpoint),
        ETCDT_CASE(campaign_txn_invalid_json),
        ETCDT_CASE(campaign_txn_etcd_error),
        ETCDT_CASE(campaign_txn_endless_chunks),
        ETCDT_CASE(campaign_txn_garbage_until_timeout),
        ETCDT_CASE(campaign_txn_silent_until_timeout),
        ETCDT_CASE(observe_watch_line_without_end),
        ETCDT_CASE(observe_watch_deep_json_line),
        ETCDT_CASE(observe_watch_event_larger_than_8k),
        ETCDT_CASE(observe_watch_in_stream_503_retried_until_timeout),
        ETCDT_CASE(observe_watch_garbage_retried_until_timeout),
        ETCDT_CASE(observe_etcd36_stream_error_retried_until_timeout),
        ETCDT_CASE(campaign_waiting_etcd36_stream_error_until_timeout),
        ETCDT_CASE(keepalive_garbage_loses_session_at_deadline),
        ETCDT_CASE(a_failed_renewal_is_tried_again_before_the_deadline),
        ETCDT_CASE(keepalive_silent_loses_session_at_deadline),
        ETCDT_CASE(keepalive_endless_chunks_lose_session_at_deadline),
        ETCDT_CASE(keepalive_etcd36_stream_error_loses_session_at_deadline),
        ETCDT_CASE(keepalive_etcd36_routing_404_loses_session_at_deadline),
        ETCDT_CASE(keepalive_etcd36_unknown_lease_loses_session_at_once),
        ETCDT_CASE(keepalive_etcd36_auth_required_loses_session_at_once),
        ETCDT_CASE(session_etcd36_attach_to_unknown_lease),
        ETCDT_CASE(cancel_leader_blocked_on_silent_server),
        ETCDT_CASE(cancel_session_create_blocked_on_silent_server),
        ETCDT_CASE(cancel_campaign_blocked_on_silent_txn),
        ETCDT_CASE(memory_dense_json_within_caps),
    };
    signal(SIGPIPE, SIG_IGN);
    return etcdt_run("hostile", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
}
