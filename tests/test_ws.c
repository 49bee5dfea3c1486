/* The WebSocket layer: SHA-1 and the accept key against RFC 3174/6455's own examples;
   frames out (masked, every length encoding); frames in from a hostile peer over a
   socketpair (reserved bits, masking, unknown opcodes, bad control frames, stray
   continuations, huge lengths, the message cap, a close frame, a silent peer); the
   upgrade against fake servers (refused, wrong accept key, missing headers, a frame in
   the same packet as the 101); and against a real etcd, a session renewing over one
   WebSocket stream, and over plain requests where a proxy refuses the upgrade. */
#include "etcdt_test.h"
#include "etcdt_etcd.h"
#include "etcdt_http.h"
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const etcde_allocator al = {etcde__default_alloc, etcde__default_free, NULL};

static void hex(const unsigned char *d, size_t n, char *out) {
    size_t i;
    for (i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

ETCDT_TEST(sha1_and_accept_key_match_the_rfcs) {
    static const struct {
        const char *in, *out;
    } v[] = {
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", /* 56: two blocks */
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
        {"The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"},
    };
    unsigned char sum[20];
    char h[41], acc[32];
    const char *both = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    size_t i;
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        etcde__sha1((const unsigned char *)v[i].in, strlen(v[i].in), sum);
        hex(sum, 20, h);
        CHECKF(strcmp(h, v[i].out) == 0, "sha1(\"%s\") = %s, want %s", v[i].in, h, v[i].out);
    }
    etcde__sha1((const unsigned char *)both, strlen(both), sum); /* RFC 6455 section 1.3 */
    acc[etcde__b64_encode(sum, 20, acc)] = 0;
    CHECKF(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0, "accept key %s", acc);
}

/* ---- a peer over a socketpair ------------------------------------------------------ */

typedef struct pair {
    etcde__conn cn; /* our side */
    int peer;       /* the server's side */
} pair;

static void pair_open(pair *p) {
    int sv[2];
    memset(p, 0, sizeof *p);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) abort();
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    p->cn.fd = sv[0];
    p->cn.rd = etcde__sock_read;
    p->cn.ws_rng = 42;
    p->peer = sv[1];
}

static void pair_close(pair *p) {
    if (p->cn.fd >= 0) close(p->cn.fd);
    if (p->peer >= 0) close(p->peer);
}

static void peer_send(pair *p, const void *d, size_t n) {
    if (write(p->peer, d, n) != (ssize_t)n) abort();
}

/* Reads one frame our side sent: opcode, unmasked payload (at most cap), whether masked,
   and the length of its head. */
typedef struct reader {
    int fd;
    int op, masked;
    unsigned char *back;
    size_t cap, head;
    long n;
} reader;

static long peer_frame(reader *r) {
    unsigned char h[14], m[4];
    uint64_t len;
    size_t hl = 0, i, got = 0;
    if (recv(r->fd, h, 2, MSG_WAITALL) != 2) return -1;
    r->op = h[0] & 15;
    r->masked = h[1] >> 7;
    len = h[1] & 127;
    if (len >= 126) {
        hl = len == 126 ? 2 : 8;
        if (recv(r->fd, h + 2, hl, MSG_WAITALL) != (ssize_t)hl) return -1;
        for (len = 0, i = 0; i < hl; i++) len = len << 8 | h[2 + i];
    }
    r->head = 2 + hl + (r->masked ? 4 : 0);
    if (r->masked && recv(r->fd, m, 4, MSG_WAITALL) != 4) return -1;
    while (got < len) {
        unsigned char tmp[4096];
        size_t want = (size_t)ETCDE__MIN(len - got, sizeof tmp);
        ssize_t k = recv(r->fd, tmp, want, MSG_WAITALL);
        if (k <= 0) return -1;
        for (i = 0; i < (size_t)k; i++, got++)
            if (got < r->cap) r->back[got] = tmp[i] ^ (r->masked ? m[got & 3] : 0);
    }
    return (long)len;
}

static void *reader_main(void *arg) {
    reader *r = (reader *)arg;
    r->n = peer_frame(r);
    return NULL;
}

static etcde__wait within_ms(int ms) {
    etcde__wait w;
    etcde__wait_init(&w, etcde__now_ms() + ms);
    return w;
}

ETCDT_TEST(frames_out_are_masked_with_the_shortest_length) {
    static const size_t sizes[] = {0, 1, 125, 126, 4000, 65535, 65536, 300000};
    static const size_t heads[] = {6, 6, 6, 8, 8, 8, 14, 14};
    size_t i, j, big = 300000;
    char *msg = (char *)etcdt__xmalloc(big);
    for (j = 0; j < big; j++) msg[j] = (char)(j * 7 + 3);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        pair p;
        etcde__err err;
        etcde__wait w = within_ms(5000);
        reader rd;
        pthread_t t;
        pair_open(&p);
        memset(&rd, 0, sizeof rd);
        rd.fd = p.peer;
        rd.back = (unsigned char *)etcdt__xmalloc(big);
        rd.cap = big;
        pthread_create(&t, NULL, reader_main, &rd); /* a frame bigger than the socket buffer */
        CHECKF(etcde__ws_send(&p.cn, ETCDE__WS_TEXT, msg, sizes[i], &w, &err) == ETCDE_OK,
               "send %lu: %s", (unsigned long)sizes[i], err.msg);
        pthread_join(t, NULL);
        CHECKF(rd.n == (long)sizes[i], "size %lu came back as %ld", (unsigned long)sizes[i], rd.n);
        CHECKF(rd.head == heads[i], "size %lu: a %lu-byte head, want %lu", (unsigned long)sizes[i],
               (unsigned long)rd.head, (unsigned long)heads[i]);
        CHECK(rd.op == ETCDE__WS_TEXT && rd.masked);
        CHECKF(rd.n < 0 || memcmp(rd.back, msg, sizes[i]) == 0, "payload of %lu differs",
               (unsigned long)sizes[i]);
        free(rd.back);
        pair_close(&p);
    }
    free(msg);
}

/* What the server sends, then whether it hangs up; what the next message read gives. */
typedef struct frames_case {
    const char *name;
    const char *bytes;
    size_t n;
    int hang_up;
    size_t cap;
    int want;         /* 1: a message, 0: closed by the server, else the error code */
    const char *text; /* the message, or a part of the error */
} frames_case;

#define B(s) s, sizeof s - 1

ETCDT_TEST(frames_in_are_checked_and_bounded) {
    static const frames_case cs[] = {
        {"text", B("\x81\x07{\"a\":1}"), 0, 64, 1, "{\"a\":1}"},
        {"binary", B("\x82\x02hi"), 0, 64, 1, "hi"},
        {"empty", B("\x81\x00"), 0, 64, 1, ""},
        {"16-bit length",
         B("\x81\x7e\x00\x03"
           "abc"),
         0, 64, 1, "abc"},
        {"64-bit length", B("\x81\x7f\x00\x00\x00\x00\x00\x00\x00\x02ok"), 0, 64, 1, "ok"},
        {"fragments with a ping and a pong between",
         B("\x01\x05{\"a\":\x89\x02hi\x8a\x00\x80\x02"
           "1}"),
         0, 64, 1, "{\"a\":1}"},
        {"reserved bits", B("\xc1\x00"), 0, 64, ETCDE_ERR_HTTP, "reserved bits set (0xc1)"},
        {"masked by the server", B("\x81\x81\x01\x02\x03\x04x"), 0, 64, ETCDE_ERR_HTTP,
         "masked WebSocket frame from the server"},
        {"unknown opcode", B("\x83\x00"), 0, 64, ETCDE_ERR_HTTP, "unknown opcode 3"},
        {"unknown control opcode", B("\x8b\x00"), 0, 64, ETCDE_ERR_HTTP, "unknown opcode 11"},
        {"fragmented ping", B("\x09\x00"), 0, 64, ETCDE_ERR_HTTP, "fragmented"},
        {"long ping", B("\x89\x7e\x00\x7e"), 0, 64, ETCDE_ERR_HTTP, "longer than 125 bytes"},
        {"stray continuation", B("\x80\x01x"), 0, 64, ETCDE_ERR_HTTP,
         "continuation frame without a message"},
        {"message inside a message", B("\x01\x01x\x81\x01y"), 0, 64, ETCDE_ERR_HTTP,
         "begun inside another"},
        {"length with its top bit", B("\x81\x7f\x80\x00\x00\x00\x00\x00\x00\x00"), 0, 64,
         ETCDE_ERR_HTTP, "top bit"},
        {"a terabyte announced", B("\x82\x7f\x00\x00\x01\x00\x00\x00\x00\x00"), 0, 64,
         ETCDE_ERR_TOO_BIG, "exceeds the 64-byte limit"},
        {"fragments over the cap", B("\x01\x28xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\x80\x28"), 0,
         64, ETCDE_ERR_TOO_BIG, "exceeds the 64-byte limit"},
        {"hang-up mid-frame",
         B("\x81\x05"
           "ab"),
         1, 64, ETCDE_ERR_IO, "mid-frame"},
        {"hang-up between frames", B(""), 1, 64, ETCDE_ERR_IO, "between frames"},
        {"close with a code and reason", B("\x88\x0a\x03\xf3internal"), 0, 64, 0,
         "closed the WebSocket stream (code 1011: internal)"},
        {"close without a code", B("\x88\x00"), 0, 64, 0, "(code 1005)"},
        {"silence", B(""), 0, 64, ETCDE_ERR_TIMEOUT, "timed out"},
    };
    size_t i;
    for (i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        const frames_case *c = &cs[i];
        pair p;
        etcde__buf b;
        etcde__err err;
        etcde__wait w = within_ms(300);
        int got;
        pair_open(&p);
        etcde__buf_init(&b, &al, c->cap);
        memset(&err, 0, sizeof err);
        if (c->n) peer_send(&p, c->bytes, c->n);
        if (c->hang_up) shutdown(p.peer, SHUT_WR);
        got = etcde__ws_next(&p.cn, &b, &w, &err);
        CHECKF(got == c->want, "%s: got %d (%s), want %d", c->name, got, err.msg, c->want);
        if (got == 1)
            CHECKF(b.len == strlen(c->text) && memcmp(b.p, c->text, b.len) == 0 && b.p[b.len] == 0,
                   "%s: message \"%.*s\", want \"%s\"", c->name, (int)b.len, b.p, c->text);
        else
            CHECKF(strstr(err.msg, c->text) != NULL, "%s: \"%s\" does not say \"%s\"", c->name,
                   err.msg, c->text);
        if (got < 0)
            CHECKF(err.code == got, "%s: code %d in err, %d returned", c->name, err.code, got);
        if (strstr(c->name, "ping")) { /* answered with the same bytes, masked */
            reader rd;
            unsigned char back[8];
            memset(&rd, 0, sizeof rd);
            rd.fd = p.peer;
            rd.back = back;
            rd.cap = sizeof back;
            if (c->want == 1) {
                CHECKF(peer_frame(&rd) == 2 && rd.op == ETCDE__WS_PONG && rd.masked &&
                           memcmp(back, "hi", 2) == 0,
                       "%s: no pong \"hi\"", c->name);
            }
        }
        if (c->want == 0) { /* a close is answered with the server's code */
            reader rd;
            unsigned char back[8];
            long n;
            memset(&rd, 0, sizeof rd);
            rd.fd = p.peer;
            rd.back = back;
            rd.cap = sizeof back;
            n = peer_frame(&rd);
            CHECKF(rd.op == ETCDE__WS_CLOSE && rd.masked &&
                       (c->bytes[1] == 0 ? n == 0 : n == 2 && memcmp(back, "\x03\xf3", 2) == 0),
                   "%s: the close was not answered in kind (opcode %d, %ld bytes)", c->name, rd.op,
                   n);
        }
        etcde__buf_free(&b);
        pair_close(&p);
    }
}

typedef struct trickle {
    pair *p;
    const char *d;
    size_t n;
} trickle;

static void *trickle_main(void *arg) {
    trickle *tr = (trickle *)arg;
    size_t i;
    for (i = 0; i < tr->n; i++) {
        peer_send(tr->p, tr->d + i, 1);
        etcdt_sleep_ms(1);
    }
    return NULL;
}

/* A message trickled one byte at a time, its heads split anywhere, comes out whole. */
ETCDT_TEST(frames_split_anywhere_are_joined) {
    char all[160], want[160];
    pair p;
    etcde__buf b;
    etcde__err err;
    etcde__wait w = within_ms(5000);
    pthread_t t;
    trickle tr;
    int got;
    memcpy(all, "\x01\x7e\x00\x80", 4); /* 128 bytes, then a final 3-byte fragment */
    memset(all + 4, 'x', 128);
    memcpy(all + 132,
           "\x80\x03"
           "end",
           5);
    memset(want, 'x', 128);
    memcpy(want + 128, "end", 4);
    pair_open(&p);
    etcde__buf_init(&b, &al, 1024);
    tr.p = &p;
    tr.d = all;
    tr.n = 137;
    pthread_create(&t, NULL, trickle_main, &tr);
    got = etcde__ws_next(&p.cn, &b, &w, &err);
    pthread_join(t, NULL);
    CHECKF(got == 1, "got %d: %s", got, got < 0 ? err.msg : "");
    CHECKF(got != 1 || (b.len == 131 && memcmp(b.p, want, 131) == 0), "message of %lu bytes",
           (unsigned long)b.len);
    etcde__buf_free(&b);
    pair_close(&p);
}

/* ---- the upgrade, against a fake server -------------------------------------------- */

enum {
    UP_GOOD,
    UP_GOOD_WITH_FRAME,
    UP_REFUSE,
    UP_PLAIN_200,
    UP_WRONG_KEY,
    UP_NO_UPGRADE,
    UP_NO_CONNECTION
};

typedef struct fake {
    int lfd, port, mode;
    char request[2048];
} fake;

static void *fake_main(void *arg) {
    fake *f = (fake *)arg;
    int fd = accept(f->lfd, NULL, NULL);
    size_t got = 0;
    char resp[512], acc[40], *k;
    unsigned char sum[20];
    if (fd < 0) return NULL;
    while (got < sizeof f->request - 1 && !strstr(f->request, "\r\n\r\n")) {
        ssize_t n = recv(fd, f->request + got, sizeof f->request - 1 - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
        f->request[got] = 0;
    }
    k = strstr(f->request, "Sec-WebSocket-Key: ");
    strcpy(acc, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    if (k && f->mode != UP_WRONG_KEY) {
        char both[80];
        memcpy(both, k + 19, 24);
        memcpy(both + 24, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
        etcde__sha1((const unsigned char *)both, 60, sum);
        acc[etcde__b64_encode(sum, 20, acc)] = 0;
    }
    if (f->mode == UP_REFUSE)
        snprintf(resp, sizeof resp, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    else if (f->mode == UP_PLAIN_200)
        snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    else
        snprintf(resp, sizeof resp,
                 "HTTP/1.1 101 Switching Protocols\r\n%s%sSec-WebSocket-Accept: %s\r\n\r\n%s",
                 f->mode == UP_NO_UPGRADE ? "" : "Upgrade: websocket\r\n",
                 f->mode == UP_NO_CONNECTION ? "" : "Connection: Upgrade\r\n", acc,
                 f->mode == UP_GOOD_WITH_FRAME ? "\x81\x02ok" : "");
    if (write(fd, resp, strlen(resp)) < 0) perror("fake: write");
    etcdt_sleep_ms(200);
    close(fd);
    return NULL;
}

ETCDT_TEST(upgrade_is_checked_and_a_refusal_remembered) {
    static const struct {
        int mode;
        etcde_result want;
        int refused;
        const char *text;
    } cs[] = {
        {UP_GOOD, ETCDE_OK, 0, ""},
        {UP_GOOD_WITH_FRAME, ETCDE_OK, 0, ""},
        {UP_REFUSE, ETCDE_ERR_HTTP, 1, "refused the WebSocket upgrade of /v3/watch (HTTP 400)"},
        {UP_PLAIN_200, ETCDE_ERR_HTTP, 1, "(HTTP 200); using HTTP streams"},
        {UP_WRONG_KEY, ETCDE_ERR_HTTP, 0, "wrong accept key"},
        {UP_NO_UPGRADE, ETCDE_ERR_HTTP, 0, "no \"Upgrade: websocket\""},
        {UP_NO_CONNECTION, ETCDE_ERR_HTTP, 0, "no \"Connection: Upgrade\""},
    };
    size_t i;
    for (i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        fake f;
        pthread_t t;
        etcde_client *c = NULL;
        etcde_options o;
        etcde__conn *cn = NULL;
        etcde__err err;
        etcde__wait w = within_ms(3000);
        etcde_result r;
        char ep[64];
        memset(&f, 0, sizeof f);
        f.mode = cs[i].mode;
        f.lfd = etcdt__bind_any(&f.port);
        REQUIRE(f.lfd >= 0 && listen(f.lfd, 4) == 0);
        pthread_create(&t, NULL, fake_main, &f);
        snprintf(ep, sizeof ep, "127.0.0.1:%d", f.port);
        memset(&o, 0, sizeof o);
        o.endpoints = ep;
        REQUIRE(etcde_client_create(&o, &c) == ETCDE_OK);
        memset(&err, 0, sizeof err);
        r = etcde__ws_open(c, 0, "/v3/watch", &w, &cn, &err);
        CHECKF(r == cs[i].want && strstr(err.msg, cs[i].text), "mode %d: %d \"%s\", want %d \"%s\"",
               cs[i].mode, r, err.msg, cs[i].want, cs[i].text);
        CHECKF(c->eps[0].ws_refused == cs[i].refused, "mode %d: refused flag %d", cs[i].mode,
               c->eps[0].ws_refused);
        CHECK(strstr(f.request, "GET /v3/watch HTTP/1.1\r\n") == f.request);
        CHECK(strstr(f.request, "\r\nSec-WebSocket-Version: 13\r\n") != NULL);
        if (r == ETCDE_OK) {
            etcde__buf b;
            etcde__buf_init(&b, &al, 64);
            if (cs[i].mode == UP_GOOD_WITH_FRAME) /* bytes behind the head are not lost */
                CHECK(etcde__ws_next(cn, &b, &w, &err) == 1 && strcmp(b.p, "ok") == 0);
            etcde__buf_free(&b);
            etcde__conn_close(c, cn);
        }
        pthread_join(t, NULL);
        close(f.lfd);
        etcde_client_destroy(c);
    }
}

/* ---- against etcd --------------------------------------------------------------------- */

static etcdt_cluster *cl;

/* A pass-through transport that tells the connections apart by their first bytes. */
typedef struct tap {
    long ws_conns, ws_writes, post_renewals; /* atomic */
    long watch_streams, post_watches;        /* atomic */
    long watch_closed;                       /* atomic: watch streams closed */
    long ka_closed;                          /* atomic: keepalive streams closed */
    int watch_fd;                            /* atomic: the last watch stream's socket */
} tap;

typedef struct tap_conn {
    tap *t;
    int kind; /* 0 unknown yet, 1 a keepalive WebSocket, 2 other, 3 a watch WebSocket */
} tap_conn;

static int tap_open(void *ud, int fd, const char *host, int timeout_ms, void **conn, char *err,
                    size_t cap) {
    tap_conn *k = (tap_conn *)calloc(1, sizeof *k);
    (void)fd, (void)host, (void)timeout_ms, (void)err, (void)cap;
    if (!k) return -1;
    k->t = (tap *)ud;
    *conn = k;
    return 0;
}

static long tap_read(void *conn, int fd, void *buf, size_t cap) {
    ssize_t n = recv(fd, buf, cap, 0);
    (void)conn;
    if (n >= 0) return (long)n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? ETCDE_IO_WANT_READ
                                                                     : ETCDE_IO_ERROR;
}

static long tap_write(void *conn, int fd, const void *buf, size_t len) {
    tap_conn *k = (tap_conn *)conn;
    ssize_t n;
    if (k->kind == 0) {
        k->kind = len >= 24 && memcmp(buf, "GET /v3/lease/keepalive ", 24) == 0 ? 1
                  : len >= 14 && memcmp(buf, "GET /v3/watch ", 14) == 0         ? 3
                                                                                : 2;
        if (k->kind == 1) __atomic_add_fetch(&k->t->ws_conns, 1, __ATOMIC_ACQ_REL);
    } else if (k->kind == 1) {
        __atomic_add_fetch(&k->t->ws_writes, 1, __ATOMIC_ACQ_REL);
    }
    if (len >= 25 && memcmp(buf, "POST /v3/lease/keepalive ", 25) == 0)
        __atomic_add_fetch(&k->t->post_renewals, 1, __ATOMIC_ACQ_REL);
    if (len >= 14 && memcmp(buf, "GET /v3/watch ", 14) == 0) {
        __atomic_add_fetch(&k->t->watch_streams, 1, __ATOMIC_ACQ_REL);
        __atomic_store_n(&k->t->watch_fd, fd, __ATOMIC_RELEASE);
    }
    if (len >= 15 && memcmp(buf, "POST /v3/watch ", 15) == 0)
        __atomic_add_fetch(&k->t->post_watches, 1, __ATOMIC_ACQ_REL);
    n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) return (long)n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? ETCDE_IO_WANT_WRITE
                                                                     : ETCDE_IO_ERROR;
}

static void tap_close(void *conn, int fd) {
    tap_conn *k = (tap_conn *)conn;
    (void)fd;
    if (k->kind == 3) __atomic_add_fetch(&k->t->watch_closed, 1, __ATOMIC_ACQ_REL);
    if (k->kind == 1) __atomic_add_fetch(&k->t->ka_closed, 1, __ATOMIC_ACQ_REL);
    free(conn);
}

static long tap_get(long *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

static etcde_client *tap_client(tap *t, etcde_transport *tr, const char *endpoints);
static etcde_client *plain_client(const char *endpoints);
static etcde_session *ttl_session(etcde_client *c, int ttl);

/* At TTL 2 a session renews every ~0.7 s. Alone on its client, it renews by POST and
   opens no stream; with a second session, both renew on one stream; once the second is
   gone, the stream is closed and POST takes over again. */
ETCDT_TEST(one_session_renews_by_post_and_two_share_a_stream) {
    tap t;
    etcde_transport tr;
    etcde_client *c;
    etcde_session *s, *s2;
    long posts, writes;
    memset(&t, 0, sizeof t);
    c = tap_client(&t, &tr, etcdt_endpoints(cl));
    REQUIRE(c && (s = ttl_session(c, 2)) != NULL);
    etcdt_sleep_ms(3000);
    CHECKF(etcde_session_remaining_ms(s) > 0, "session lost: %s", etcde_session_errmsg(s));
    CHECKF(tap_get(&t.ws_conns) == 0, "%ld keepalive streams for one session",
           tap_get(&t.ws_conns));
    CHECKF(tap_get(&t.post_renewals) >= 3, "%ld renewals by POST", tap_get(&t.post_renewals));
    REQUIRE((s2 = ttl_session(c, 2)) != NULL);
    posts = tap_get(&t.post_renewals);
    etcdt_sleep_ms(3000);
    CHECKF(etcde_session_remaining_ms(s) > 0 && etcde_session_remaining_ms(s2) > 0,
           "session lost: %s / %s", etcde_session_errmsg(s), etcde_session_errmsg(s2));
    CHECKF(tap_get(&t.ws_conns) == 1, "%ld keepalive streams", tap_get(&t.ws_conns));
    CHECKF(tap_get(&t.ws_writes) >= 6, "%ld renewals on the stream", tap_get(&t.ws_writes));
    CHECKF(tap_get(&t.post_renewals) == posts, "%ld renewals by POST beside the stream",
           tap_get(&t.post_renewals) - posts);
    CHECK(etcde_session_close(s2) == ETCDE_OK);
    etcde_session_destroy(s2);
    etcdt_sleep_ms(1500);
    writes = tap_get(&t.ws_writes);
    posts = tap_get(&t.post_renewals);
    etcdt_sleep_ms(2000);
    CHECKF(tap_get(&t.ka_closed) == 1, "%ld keepalive streams closed", tap_get(&t.ka_closed));
    CHECKF(tap_get(&t.ws_writes) == writes && tap_get(&t.post_renewals) >= posts + 2,
           "after the second session: %ld frames, %ld POSTs", tap_get(&t.ws_writes) - writes,
           tap_get(&t.post_renewals) - posts);
    CHECKF(etcde_session_remaining_ms(s) > 0, "session lost: %s", etcde_session_errmsg(s));
    CHECK(etcde_session_close(s) == ETCDE_OK);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
}

/* etcd's own view of a lease: its TTL left in seconds (-1: gone), or -2 on error. */
static long long lease_left(int64_t id) {
    char body[96], resp[512], *at;
    snprintf(body, sizeof body, "{\"ID\":\"%lld\"}", (long long)id);
    if (etcdt_http_post(etcdt_member_client_port(cl, 0), "/v3/lease/timetolive", body, resp,
                        sizeof resp, 3000) != 200)
        return -2;
    at = strstr(resp, "\"TTL\":\"");
    return at ? atoll(at + 7) : -2;
}

#define NSESS 20

/* Twenty sessions of one client at TTL 2: one keepalive thread and one stream renew them
   all, each lease on its own deadline, and the thread ends with the last session. */
ETCDT_TEST(sessions_of_a_client_share_one_keepalive_thread_and_stream) {
    tap t;
    etcde_transport tr;
    etcde_client *c;
    etcde_session *s[NSESS];
    int i, base, with, alive = 0, known = 0, left = -1;
    int64_t end;
    memset(&t, 0, sizeof t);
    memset(s, 0, sizeof s);
    base = etcdt_threads();
    c = tap_client(&t, &tr, etcdt_endpoints(cl));
    REQUIRE(c != NULL);
    for (i = 0; i < NSESS; i++) REQUIRE((s[i] = ttl_session(c, 2)) != NULL);
    with = etcdt_threads();
    etcdt_sleep_ms(4000); /* two TTLs: a lease left unrenewed is gone at etcd */
    for (i = 0; i < NSESS; i++) {
        alive += etcde_session_remaining_ms(s[i]) > 0;
        known += lease_left(etcde_session_lease(s[i])) > 0;
    }
    printf("     %d sessions: +%d thread(s), %ld keepalive stream(s), %ld renewals on it, "
           "%ld by POST\n",
           NSESS, with - base, tap_get(&t.ws_conns), tap_get(&t.ws_writes),
           tap_get(&t.post_renewals));
    CHECKF(with - base == 1, "%d threads for %d sessions", with - base, NSESS);
    CHECKF(alive == NSESS && known == NSESS, "%d alive here, %d at etcd, of %d", alive, known,
           NSESS);
    CHECKF(tap_get(&t.ws_conns) == 1, "%ld keepalive streams", tap_get(&t.ws_conns));
    CHECKF(tap_get(&t.ws_writes) >= NSESS * 4, "%ld renewals", tap_get(&t.ws_writes));
    CHECK(tap_get(&t.post_renewals) == 0);
    /* half of them close; the rest go on */
    for (i = 0; i < NSESS / 2; i++) {
        CHECK(etcde_session_close(s[i]) == ETCDE_OK);
        etcde_session_destroy(s[i]);
        s[i] = NULL;
    }
    etcdt_sleep_ms(2500);
    for (alive = known = 0, i = NSESS / 2; i < NSESS; i++) {
        alive += etcde_session_remaining_ms(s[i]) > 0;
        known += lease_left(etcde_session_lease(s[i])) > 0;
    }
    CHECKF(alive == NSESS / 2 && known == NSESS / 2, "after closes: %d alive, %d at etcd", alive,
           known);
    for (i = NSESS / 2; i < NSESS; i++) etcde_session_destroy(s[i]);
    for (end = etcdt_now_ms() + 3000; etcdt_now_ms() < end; etcdt_sleep_ms(10))
        if ((left = etcdt_threads()) <= base) break;
    CHECKF(left <= base, "%d threads left after the last session, %d before", left, base);
    etcde_client_destroy(c);
}

typedef struct lost_rec {
    int calls; /* atomic */
    char msg[256];
} lost_rec;

static void lost_record(etcde_session *s, etcde_result why, const char *detail, void *ud) {
    lost_rec *lr = (lost_rec *)ud;
    (void)s, (void)why;
    snprintf(lr->msg, sizeof lr->msg, "%s", detail);
    __atomic_add_fetch(&lr->calls, 1, __ATOMIC_ACQ_REL);
}

/* Three sessions on one stream; one lease is revoked behind the client's back. Its
   session is lost at its next renewal, which etcd answers without TTL; the other two,
   renewed on the same stream, stay alive. */
ETCDT_TEST(a_revoked_lease_loses_its_own_session_only) {
    etcde_client *c = plain_client(etcdt_endpoints(cl));
    etcde_session *s[3];
    lost_rec lr[3];
    char hex[32], out[512];
    int i;
    int64_t t0, end;
    memset(s, 0, sizeof s);
    memset(lr, 0, sizeof lr);
    REQUIRE(c != NULL);
    for (i = 0; i < 3; i++) {
        etcde_session_options so;
        memset(&so, 0, sizeof so);
        so.ttl_s = 3;
        so.on_lost = lost_record;
        so.user_data = &lr[i];
        REQUIRE(etcde_session_create(c, &so, &s[i]) == ETCDE_OK);
    }
    snprintf(hex, sizeof hex, "%llx", (unsigned long long)etcde_session_lease(s[1]));
    t0 = etcdt_now_ms();
    CHECKF(etcdt_etcdctl(cl, out, sizeof out, 10000, "lease", "revoke", hex, NULL) == 0,
           "revoke: %s", out);
    for (end = t0 + 3000; etcdt_now_ms() < end; etcdt_sleep_ms(10))
        if (__atomic_load_n(&lr[1].calls, __ATOMIC_ACQUIRE)) break;
    printf("     the revoked lease's session lost %lld ms after the revoke: %s\n",
           (long long)(etcdt_now_ms() - t0), lr[1].msg);
    CHECKF(__atomic_load_n(&lr[1].calls, __ATOMIC_ACQUIRE) == 1, "on_lost ran %d times",
           lr[1].calls);
    CHECKF(strstr(lr[1].msg, "expired or was revoked") != NULL, "lost: %s", lr[1].msg);
    CHECK(etcde_session_remaining_ms(s[1]) == 0);
    etcdt_sleep_ms(3500); /* past the others' TTL */
    for (i = 0; i < 3; i += 2) {
        CHECKF(etcde_session_remaining_ms(s[i]) > 0 && !lr[i].calls, "session %d lost: %s", i,
               etcde_session_errmsg(s[i]));
        CHECKF(lease_left(etcde_session_lease(s[i])) > 0, "lease of session %d gone at etcd", i);
    }
    for (i = 0; i < 3; i++) etcde_session_destroy(s[i]);
    etcde_client_destroy(c);
}

/* Two sessions of one client on one lease (the second re-attached): one renewal at a
   time serves both, and the revoke by one closes the other at its next renewal. */
ETCDT_TEST(two_sessions_on_one_lease_share_its_renewals) {
    tap t;
    etcde_transport tr;
    etcde_client *c;
    etcde_session *a = NULL, *b = NULL;
    etcde_session_options so;
    lost_rec lr;
    int64_t end;
    memset(&t, 0, sizeof t);
    memset(&lr, 0, sizeof lr);
    c = tap_client(&t, &tr, etcdt_endpoints(cl));
    REQUIRE(c != NULL);
    memset(&so, 0, sizeof so);
    so.ttl_s = 2;
    so.on_lost = lost_record;
    so.user_data = &lr;
    REQUIRE(etcde_session_create(c, &so, &a) == ETCDE_OK);
    memset(&so, 0, sizeof so);
    so.lease_id = etcde_session_lease(a);
    REQUIRE(etcde_session_create(c, &so, &b) == ETCDE_OK);
    CHECK(etcde_session_lease(b) == etcde_session_lease(a));
    etcdt_sleep_ms(4000);
    CHECKF(etcde_session_remaining_ms(a) > 0 && etcde_session_remaining_ms(b) > 0, "lost: %s / %s",
           etcde_session_errmsg(a), etcde_session_errmsg(b));
    /* ~6 rounds at TTL 2: renewing each session's copy would take twice as many */
    CHECKF(tap_get(&t.ws_writes) >= 4 && tap_get(&t.ws_writes) <= 8, "%ld renewals in 4 s",
           tap_get(&t.ws_writes));
    CHECK(etcde_session_close(b) == ETCDE_OK); /* revokes the lease a is on too */
    for (end = etcdt_now_ms() + 2000; etcdt_now_ms() < end; etcdt_sleep_ms(10))
        if (__atomic_load_n(&lr.calls, __ATOMIC_ACQUIRE)) break;
    CHECKF(__atomic_load_n(&lr.calls, __ATOMIC_ACQUIRE) == 1 && etcde_session_remaining_ms(a) == 0,
           "the other session on the lease: %s", etcde_session_errmsg(a));
    etcde_session_destroy(b);
    etcde_session_destroy(a);
    etcde_client_destroy(c);
}

/* A local server: one thread accepts, one detached thread serves each connection. */
typedef struct server {
    int lfd, port, target, stop; /* stop: atomic; target: a port to relay to */
    long count, live;            /* atomic; count: what the server is there to count */
    void *(*serve)(void *);      /* takes a server_conn it frees */
    pthread_t t;
} server;

typedef struct server_conn {
    server *sv;
    int fd;
} server_conn;

static void *server_main(void *arg) {
    server *sv = (server *)arg;
    while (!__atomic_load_n(&sv->stop, __ATOMIC_ACQUIRE)) {
        struct pollfd p;
        server_conn *k;
        pthread_t t;
        p.fd = sv->lfd;
        p.events = POLLIN;
        if (poll(&p, 1, 100) != 1) continue;
        k = (server_conn *)calloc(1, sizeof *k);
        k->sv = sv;
        k->fd = accept(sv->lfd, NULL, NULL);
        if (k->fd < 0) {
            free(k);
            continue;
        }
        __atomic_add_fetch(&sv->live, 1, __ATOMIC_ACQ_REL);
        pthread_create(&t, NULL, sv->serve, k);
        pthread_detach(t);
    }
    return NULL;
}

static int server_start(server *sv, void *(*serve)(void *)) {
    sv->serve = serve;
    sv->lfd = etcdt__bind_any(&sv->port);
    if (sv->lfd < 0 || listen(sv->lfd, 16) != 0) return -1;
    return pthread_create(&sv->t, NULL, server_main, sv) == 0 ? 0 : -1;
}

static void server_stop(server *sv) {
    __atomic_store_n(&sv->stop, 1, __ATOMIC_RELEASE);
    pthread_join(sv->t, NULL);
    while (tap_get(&sv->live) > 0) etcdt_sleep_ms(10);
    close(sv->lfd);
}

/* A proxy in between that answers every upgrade 400 and relays everything else. */
static void *relay_conn_main(void *arg) {
    server_conn *k = (server_conn *)arg;
    server *r = k->sv;
    char buf[16384];
    size_t got = 0;
    int up = -1;
    while (got < sizeof buf - 1) {
        ssize_t n = recv(k->fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
        buf[got] = 0;
        if (strstr(buf, "\r\n\r\n")) break;
    }
    if (got >= 4 && memcmp(buf, "GET ", 4) == 0) {
        static const char no[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 "Connection: close\r\n\r\n";
        __atomic_add_fetch(&r->count, 1, __ATOMIC_ACQ_REL);
        if (write(k->fd, no, sizeof no - 1) < 0) perror("relay: write");
    } else if (got && (up = etcdt_connect_loopback(r->target, 2000)) >= 0 &&
               write(up, buf, got) == (ssize_t)got) {
        for (;;) {
            struct pollfd p[2];
            int i, done = 0;
            p[0].fd = k->fd;
            p[1].fd = up;
            p[0].events = p[1].events = POLLIN;
            if (poll(p, 2, 100) < 0 || __atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) break;
            for (i = 0; i < 2; i++) {
                ssize_t n;
                if (!p[i].revents) continue;
                n = recv(p[i].fd, buf, sizeof buf, 0);
                if (n <= 0 || write(p[1 - i].fd, buf, (size_t)n) != n) done = 1;
            }
            if (done) break;
        }
    }
    if (up >= 0) close(up);
    close(k->fd);
    free(k);
    __atomic_sub_fetch(&r->live, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

ETCDT_TEST(a_refused_upgrade_falls_back_to_plain_renewals) {
    server r;
    etcde_options o;
    etcde_client *c = NULL;
    etcde_session *s = NULL, *s2 = NULL;
    etcde_session_options so;
    char ep[64];
    memset(&r, 0, sizeof r);
    r.target = etcdt_member_client_port(cl, 0);
    REQUIRE(server_start(&r, relay_conn_main) == 0);
    snprintf(ep, sizeof ep, "127.0.0.1:%d", r.port);
    memset(&o, 0, sizeof o);
    o.endpoints = ep;
    memset(&so, 0, sizeof so);
    so.ttl_s = 2;
    /* two sessions: renewals would take a stream */
    if (etcde_client_create(&o, &c) == ETCDE_OK && etcde_session_create(c, &so, &s) == ETCDE_OK &&
        etcde_session_create(c, &so, &s2) == ETCDE_OK) {
        etcdt_sleep_ms(4000);
        CHECKF(etcde_session_remaining_ms(s) > 0 && etcde_session_remaining_ms(s2) > 0,
               "session lost: %s / %s", etcde_session_errmsg(s), etcde_session_errmsg(s2));
        CHECKF(tap_get(&r.count) == 1, "%ld upgrades refused, want the first only",
               tap_get(&r.count));
        CHECK(__atomic_load_n(&c->eps[0].ws_refused, __ATOMIC_ACQUIRE) == 1);
        CHECK(etcde_session_close(s) == ETCDE_OK);
        CHECK(etcde_session_close(s2) == ETCDE_OK);
    } else {
        CHECKF(0, "no session through the relay: %s", c ? etcde_client_errmsg(c) : "no client");
    }
    etcde_session_destroy(s);
    etcde_session_destroy(s2);
    etcde_client_destroy(c);
    server_stop(&r);
}

/* The gateway's side of what one shared watch stream needs: many watches on one
   connection, each event tagged with its client-chosen watch_id; a cancel in-band that
   ends one watch and leaves the others; a watch from a compacted revision cancelled
   alone, the stream going on. */
static int put_key(const char *k64, const char *v64) {
    char body[256], resp[1024];
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64);
    return etcdt_http_post(etcdt_member_client_port(cl, 0), "/v3/kv/put", body, resp, sizeof resp,
                           3000);
}

/* The next message on the stream, parsed; its watch_id, or -1 on error. */
static long long ws_msg(etcde_client *c, etcde__conn *cn, etcde__resp *rp, int ms) {
    etcde__wait w = within_ms(ms);
    etcde__err err;
    int got = etcde__ws_next(cn, &rp->body, &w, &err);
    if (got != 1) {
        fprintf(stderr, "  ws_next: %d %s\n", got, err.msg);
        return -1;
    }
    rp->status = 200;
    if (etcde__resp_parse(c, rp, &err) != ETCDE_OK) return -1;
    return (long long)etcde__jint(&rp->j, etcde__jpath(&rp->j, 0, "result.watch_id"), 0);
}

static int has(etcde__resp *rp, const char *path) { return etcde__jpath(&rp->j, 0, path) >= 0; }

ETCDT_TEST(one_websocket_carries_many_watches) {
    etcde_options o;
    etcde_client *c = NULL;
    etcde__conn *cn = NULL;
    etcde__err err;
    etcde__resp rp;
    etcde__wait w = within_ms(3000);
    char req[512], resp[512];
    long long id, seen1 = 0, seen2 = 0, after_cancel1 = 0, rev;
    int i, canceled = 0, compacted = 0;
    memset(&o, 0, sizeof o);
    o.endpoints = etcdt_endpoints(cl);
    REQUIRE(etcde_client_create(&o, &c) == ETCDE_OK);
    etcde__resp_init(&rp, c);
    REQUIRE(etcde__ws_open(c, 0, "/v3/watch", &w, &cn, &err) == ETCDE_OK);
    /* keys "wsa" (d3Nh) and "wsb" (d3Ni), watch_ids 7 and 9 */
    snprintf(req, sizeof req, "{\"create_request\":{\"key\":\"d3Nh\",\"watch_id\":\"7\"}}");
    CHECK(etcde__ws_send(cn, ETCDE__WS_TEXT, req, strlen(req), &w, &err) == ETCDE_OK);
    snprintf(req, sizeof req, "{\"create_request\":{\"key\":\"d3Ni\",\"watch_id\":\"9\"}}");
    CHECK(etcde__ws_send(cn, ETCDE__WS_TEXT, req, strlen(req), &w, &err) == ETCDE_OK);
    for (i = 0; i < 2; i++) {
        id = ws_msg(c, cn, &rp, 3000);
        CHECKF((id == 7 || id == 9) &&
                   etcde__jtrue(&rp.j, etcde__jpath(&rp.j, 0, "result.created")),
               "created: %s", rp.body.p);
    }
    CHECK(put_key("d3Nh", "MQ==") == 200 && put_key("d3Ni", "Mg==") == 200);
    for (i = 0; i < 2; i++) {
        id = ws_msg(c, cn, &rp, 3000);
        if (id == 7) seen1++;
        if (id == 9) seen2++;
        CHECKF(has(&rp, "result.events"), "no events: %s", rp.body.p);
    }
    CHECKF(seen1 == 1 && seen2 == 1, "events by id: 7 x%lld, 9 x%lld", seen1, seen2);
    /* cancel 7 in-band; 9 goes on */
    snprintf(req, sizeof req, "{\"cancel_request\":{\"watch_id\":\"7\"}}");
    CHECK(etcde__ws_send(cn, ETCDE__WS_TEXT, req, strlen(req), &w, &err) == ETCDE_OK);
    id = ws_msg(c, cn, &rp, 3000);
    CHECKF(id == 7 && etcde__jtrue(&rp.j, etcde__jpath(&rp.j, 0, "result.canceled")),
           "cancel answered: %s", rp.body.p);
    CHECK(put_key("d3Nh", "Mw==") == 200 && put_key("d3Ni", "NA==") == 200);
    id = ws_msg(c, cn, &rp, 3000);
    if (id == 7) after_cancel1++;
    CHECKF(id == 9 && has(&rp, "result.events"), "after the cancel: %s", rp.body.p);
    /* compact, then a watch from before the compaction: cancelled alone */
    rev = etcde__jrev(&rp.j, etcde__jpath(&rp.j, 0, "result.header.revision"));
    snprintf(req, sizeof req, "{\"revision\":\"%lld\",\"physical\":true}", rev);
    CHECK(etcdt_http_post(etcdt_member_client_port(cl, 0), "/v3/kv/compaction", req, resp,
                          sizeof resp, 3000) == 200);
    snprintf(
        req, sizeof req,
        "{\"create_request\":{\"key\":\"d3Nh\",\"watch_id\":\"11\",\"start_revision\":\"1\"}}");
    CHECK(etcde__ws_send(cn, ETCDE__WS_TEXT, req, strlen(req), &w, &err) == ETCDE_OK);
    for (i = 0; i < 3 && !(canceled && compacted); i++) {
        id = ws_msg(c, cn, &rp, 3000);
        if (id != 11) continue;
        canceled |= etcde__jtrue(&rp.j, etcde__jpath(&rp.j, 0, "result.canceled"));
        compacted |= etcde__jrev(&rp.j, etcde__jpath(&rp.j, 0, "result.compact_revision")) == rev;
    }
    CHECKF(canceled && compacted, "compacted watch: %s", rp.body.p);
    CHECK(put_key("d3Ni", "NQ==") == 200);
    id = ws_msg(c, cn, &rp, 3000);
    CHECKF(id == 9 && has(&rp, "result.events"), "after the compacted one: %s", rp.body.p);
    CHECK(after_cancel1 == 0);
    etcde__ws_close(c, cn);
    etcde__resp_free(&rp);
    etcde_client_destroy(c);
}

/* ---- a late reply is never taken for a later renewal's ------------------------------ */

static int read_head(int fd, char *buf, size_t cap, size_t *got) {
    while (!strstr(buf, "\r\n\r\n")) {
        struct pollfd p;
        ssize_t n;
        p.fd = fd;
        p.events = POLLIN;
        if (poll(&p, 1, 200) != 1) return -1;
        n = recv(fd, buf + *got, cap - 1 - *got, 0);
        if (n <= 0) return -1;
        *got += (size_t)n;
        buf[*got] = 0;
    }
    return 0;
}

/* A fake etcd: grants lease 0x1234 at TTL 3 over HTTP; on its first keepalive stream it
   answers the first renewal 700 ms late (past the 500 ms a try gets) and nothing after;
   later streams are silent. Renewals stop reaching "etcd" after the first, so the lease
   lapses 3 s after the grant (or the first renewal), and the session must say so. */
static void *late_conn_main(void *arg) {
    server_conn *k = (server_conn *)arg;
    server *l = k->sv;
    char buf[4096];
    size_t got = 0;
    buf[0] = 0;
    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
        char *end, *cl_hdr;
        size_t head, body = 0;
        if (read_head(k->fd, buf, sizeof buf, &got) != 0) {
            if (got == 0 && !__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
                struct pollfd p;
                p.fd = k->fd;
                p.events = POLLIN;
                if (poll(&p, 1, 0) == 0) continue; /* idle keep-alive connection */
            }
            break;
        }
        end = strstr(buf, "\r\n\r\n");
        head = (size_t)(end - buf) + 4;
        if (strncmp(buf, "GET ", 4) == 0) { /* the keepalive stream */
            char resp[256], acc[40], both[80], *key = strstr(buf, "Sec-WebSocket-Key: ");
            unsigned char sum[20];
            long nth = __atomic_add_fetch(&l->count, 1, __ATOMIC_ACQ_REL);
            int frames = 0;
            if (!key) break;
            memcpy(both, key + 19, 24);
            memcpy(both + 24, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
            etcde__sha1((const unsigned char *)both, 60, sum);
            acc[etcde__b64_encode(sum, 20, acc)] = 0;
            snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     acc);
            if (write(k->fd, resp, strlen(resp)) < 0) break;
            for (;;) {
                reader rd;
                unsigned char pl[256];
                struct pollfd p;
                memset(&rd, 0, sizeof rd);
                rd.fd = k->fd;
                rd.back = pl;
                rd.cap = sizeof pl;
                p.fd = k->fd;
                p.events = POLLIN;
                if (__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) break;
                if (poll(&p, 1, 100) != 1) continue;
                if (peer_frame(&rd) < 0 || rd.op == ETCDE__WS_CLOSE) break;
                if (nth == 1 && ++frames == 1) {
                    static const char js[] = "{\"result\":{\"ID\":\"4660\",\"TTL\":\"3\"}}";
                    char reply[64];
                    reply[0] = (char)0x81;
                    reply[1] = (char)(sizeof js - 1);
                    memcpy(reply + 2, js, sizeof js - 1);
                    etcdt_sleep_ms(700);
                    if (write(k->fd, reply, sizeof js + 1) < 0) break;
                }
            }
            break;
        }
        cl_hdr = strstr(buf, "Content-Length: ");
        if (cl_hdr && cl_hdr < end) body = (size_t)atol(cl_hdr + 16);
        while (got < head + body) {
            ssize_t n = recv(k->fd, buf + got, sizeof buf - 1 - got, 0);
            if (n <= 0) break;
            got += (size_t)n;
        }
        {
            const char *js = strstr(buf, "POST /v3/lease/grant ") == buf
                                 ? "{\"ID\":\"4660\",\"TTL\":\"3\"}"
                                 : "{}";
            char resp[256];
            snprintf(resp, sizeof resp,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %lu\r\n\r\n%s",
                     (unsigned long)strlen(js), js);
            if (write(k->fd, resp, strlen(resp)) < 0) break;
        }
        memmove(buf, buf + head + body, got - head - body);
        got -= head + body;
        buf[got] = 0;
    }
    close(k->fd);
    free(k);
    __atomic_sub_fetch(&l->live, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

static void lost_at_now(etcde_session *s, etcde_result why, const char *detail, void *ud) {
    (void)s, (void)why, (void)detail;
    __atomic_store_n((int64_t *)ud, etcdt_now_ms(), __ATOMIC_RELEASE);
}

ETCDT_TEST(a_late_reply_never_renews_a_later_send) {
    server l;
    etcde_options o;
    etcde_client *c = NULL;
    etcde_session *s = NULL, *s2 = NULL;
    etcde_session_options so;
    char ep[64];
    int64_t t0, lost_at = 0;
    memset(&l, 0, sizeof l);
    REQUIRE(server_start(&l, late_conn_main) == 0);
    snprintf(ep, sizeof ep, "127.0.0.1:%d", l.port);
    memset(&o, 0, sizeof o);
    o.endpoints = ep;
    memset(&so, 0, sizeof so);
    so.ttl_s = 3;
    so.on_lost = lost_at_now;
    so.user_data = &lost_at;
    t0 = etcdt_now_ms();
    /* two sessions (on the fake's one lease), so that renewals take the stream */
    if (etcde_client_create(&o, &c) == ETCDE_OK && etcde_session_create(c, &so, &s) == ETCDE_OK &&
        etcde_session_create(c, &so, &s2) == ETCDE_OK) {
        while (!__atomic_load_n(&lost_at, __ATOMIC_ACQUIRE) && etcdt_now_ms() - t0 < 8000)
            etcdt_sleep_ms(10);
        lost_at = __atomic_load_n(&lost_at, __ATOMIC_ACQUIRE);
        printf("     first renewal answered 700 ms late, then none: lost %lld ms after the "
               "grant, on %ld streams\n",
               (long long)(lost_at ? lost_at - t0 : -1), tap_get(&l.count));
        /* grant + TTL - guard = 2.7 s; taking the late reply for a later renewal's
           would push it to 4.7 s or beyond */
        CHECKF(lost_at && lost_at - t0 <= 3000, "lost after %lld ms",
               (long long)(lost_at ? lost_at - t0 : -1));
        CHECKF(tap_get(&l.count) >= 2, "%ld streams: %s", tap_get(&l.count),
               etcde_session_errmsg(s)); /* dropped after the timeout */
    } else {
        CHECKF(0, "no session on the fake etcd: %s", c ? etcde_client_errmsg(c) : "no client");
    }
    etcde_session_destroy(s);
    etcde_session_destroy(s2);
    etcde_client_destroy(c);
    server_stop(&l);
}

/* ---- one watch stream for every wait of a client ------------------------------------ */

static etcde_client *tap_client(tap *t, etcde_transport *tr, const char *endpoints) {
    etcde_options o;
    etcde_client *c = NULL;
    memset(tr, 0, sizeof *tr);
    tr->open = tap_open;
    tr->read = tap_read;
    tr->write = tap_write;
    tr->close = tap_close;
    tr->user_data = t;
    memset(&o, 0, sizeof o);
    o.endpoints = endpoints;
    o.transport = tr;
    return etcde_client_create(&o, &c) == ETCDE_OK ? c : NULL;
}

static etcde_client *plain_client(const char *endpoints) {
    etcde_options o;
    etcde_client *c = NULL;
    memset(&o, 0, sizeof o);
    o.endpoints = endpoints;
    return etcde_client_create(&o, &c) == ETCDE_OK ? c : NULL;
}

static etcde_session *ttl_session(etcde_client *c, int ttl) {
    etcde_session_options so;
    etcde_session *s = NULL;
    memset(&so, 0, sizeof so);
    so.ttl_s = ttl;
    return c && etcde_session_create(c, &so, &s) == ETCDE_OK ? s : NULL;
}

/* Keys under "<prefix>/", counted by etcd. */
static long long keys_under(const char *prefix) {
    char k[128], end[128], kb[200], eb[200], body[512], resp[1024], *at;
    size_t n;
    snprintf(k, sizeof k, "%s/", prefix);
    snprintf(end, sizeof end, "%s0", prefix);
    n = etcde__b64_encode((const unsigned char *)k, strlen(k), kb);
    kb[n] = 0;
    n = etcde__b64_encode((const unsigned char *)end, strlen(end), eb);
    eb[n] = 0;
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"range_end\":\"%s\",\"count_only\":true}", kb,
             eb);
    if (etcdt_http_post(etcdt_member_client_port(cl, 0), "/v3/kv/range", body, resp, sizeof resp,
                        3000) != 200)
        return -1;
    at = strstr(resp, "\"count\":\"");
    return at ? atoll(at + 9) : 0;
}

static int until_keys(const char *prefix, long long n, int ms) {
    int64_t end = etcdt_now_ms() + ms;
    while (keys_under(prefix) < n)
        if (etcdt_now_ms() > end)
            return 0;
        else
            etcdt_sleep_ms(10);
    return 1;
}

typedef struct waiter {
    etcde_election *e;
    etcde_result r;
    int64_t at;
} waiter;

static void *waiter_main(void *arg) {
    waiter *w = (waiter *)arg;
    w->r = etcde_campaign(w->e, "W", 1, 15000);
    w->at = etcdt_now_ms();
    return NULL;
}

/* lc's leader leads `name`; a wait of wc queues behind it on a thread of its own, and
   its watches are created. 1 on success. */
static int queue_behind(etcde_client *lc, etcde_session *ls, etcde_client *wc, etcde_session *ws,
                        const char *name, etcde_election **lead, waiter *w, pthread_t *th) {
    if (etcde_election_create(lc, ls, name, lead) != ETCDE_OK ||
        etcde_campaign(*lead, "L", 1, 5000) != ETCDE_OK ||
        etcde_election_create(wc, ws, name, &w->e) != ETCDE_OK)
        return 0;
    pthread_create(th, NULL, waiter_main, w);
    if (!until_keys(name, 2, 5000)) return 0;
    etcdt_sleep_ms(300); /* the wait's watches are created */
    return 1;
}

#define MANY 40

/* 40 waits of one client, on 40 elections, behind another client's leaders: one watch
   stream carries them all, and each is elected when its leader resigns, in any order. */
ETCDT_TEST(many_waits_share_one_watch_stream) {
    tap t;
    etcde_transport tr;
    etcde_client *lc = plain_client(etcdt_endpoints(cl)), *wc;
    etcde_session *ls = ttl_session(lc, 10), *ws;
    etcde_election *lead[MANY];
    waiter w[MANY];
    pthread_t th[MANY];
    int i, order[MANY], elected = 0;
    memset(&t, 0, sizeof t);
    wc = tap_client(&t, &tr, etcdt_endpoints(cl));
    ws = ttl_session(wc, 10);
    REQUIRE(ls && ws);
    for (i = 0; i < MANY; i++) {
        char name[64];
        snprintf(name, sizeof name, "ws-many/%d", i);
        REQUIRE(etcde_election_create(lc, ls, name, &lead[i]) == ETCDE_OK);
        REQUIRE(etcde_campaign(lead[i], "L", 1, 5000) == ETCDE_OK);
        REQUIRE(etcde_election_create(wc, ws, name, &w[i].e) == ETCDE_OK);
        pthread_create(&th[i], NULL, waiter_main, &w[i]);
        order[i] = i;
    }
    CHECK(until_keys("ws-many", 2 * MANY, 10000));
    etcdt_sleep_ms(300);             /* the last creates are on the stream */
    for (i = MANY - 1; i > 0; i--) { /* resign in a shuffled order */
        int k = rand() % (i + 1), x = order[i];
        order[i] = order[k], order[k] = x;
    }
    for (i = 0; i < MANY; i++) CHECK(etcde_resign(lead[order[i]]) == ETCDE_OK);
    for (i = 0; i < MANY; i++) {
        pthread_join(th[i], NULL);
        if (w[i].r == ETCDE_OK && etcde_is_leader(w[i].e) &&
            etcde_election_rev(w[i].e) > etcde_election_rev(lead[i]))
            elected++;
        else
            CHECKF(0, "waiter %d: %s", i, etcde_election_errmsg(w[i].e));
    }
    printf("     %d of %d waits elected; %ld watch stream(s), %ld HTTP watches\n", elected, MANY,
           tap_get(&t.watch_streams), tap_get(&t.post_watches));
    CHECK(elected == MANY);
    CHECKF(tap_get(&t.watch_streams) == 1, "%ld watch streams", tap_get(&t.watch_streams));
    CHECKF(tap_get(&t.post_watches) == 0, "%ld HTTP watches", tap_get(&t.post_watches));
    for (i = 0; i < MANY; i++) {
        etcde_election_destroy(lead[i]);
        etcde_election_destroy(w[i].e);
    }
    etcde_session_destroy(ls);
    etcde_session_destroy(ws);
    etcde_client_destroy(lc);
    etcde_client_destroy(wc);
}

/* The watch stream breaks just before the leader resigns: the delete happens while no
   stream watches; the wait reads again on a new stream and is elected all the same. */
ETCDT_TEST(a_stream_break_mid_wait_loses_no_event) {
    tap t;
    etcde_transport tr;
    etcde_client *lc = plain_client(etcdt_endpoints(cl)), *wc;
    etcde_session *ls = ttl_session(lc, 10), *ws;
    etcde_election *lead = NULL;
    waiter w;
    pthread_t th;
    int64_t t0;
    memset(&t, 0, sizeof t);
    wc = tap_client(&t, &tr, etcdt_endpoints(cl));
    ws = ttl_session(wc, 10);
    REQUIRE(ls && ws);
    REQUIRE(queue_behind(lc, ls, wc, ws, "ws-break", &lead, &w, &th));
    CHECK(tap_get(&t.watch_streams) == 1);
    shutdown(__atomic_load_n(&t.watch_fd, __ATOMIC_ACQUIRE), SHUT_RDWR);
    t0 = etcdt_now_ms();
    CHECK(etcde_resign(lead) == ETCDE_OK);
    pthread_join(th, NULL);
    printf("     elected %lld ms after the break and resign\n", (long long)(w.at - t0));
    CHECKF(w.r == ETCDE_OK && etcde_is_leader(w.e), "%s", etcde_election_errmsg(w.e));
    CHECKF(w.at - t0 < 3000, "elected only after %lld ms", (long long)(w.at - t0));
    CHECKF(tap_get(&t.watch_closed) == 1, "%ld watch streams closed: the break went unseen",
           tap_get(&t.watch_closed));
    etcde_election_destroy(lead);
    etcde_election_destroy(w.e);
    etcde_session_destroy(ls);
    etcde_session_destroy(ws);
    etcde_client_destroy(lc);
    etcde_client_destroy(wc);
}

/* Through a proxy that refuses every upgrade, waits watch over HTTP, as before. */
ETCDT_TEST(a_refused_upgrade_falls_back_to_http_watches) {
    server r;
    char ep[64];
    etcde_client *lc = plain_client(etcdt_endpoints(cl)), *wc;
    etcde_session *ls = ttl_session(lc, 10), *ws;
    etcde_election *lead = NULL;
    waiter w;
    pthread_t th;
    memset(&r, 0, sizeof r);
    r.target = etcdt_member_client_port(cl, 0);
    REQUIRE(server_start(&r, relay_conn_main) == 0);
    snprintf(ep, sizeof ep, "127.0.0.1:%d", r.port);
    wc = plain_client(ep);
    ws = ttl_session(wc, 10);
    REQUIRE(ls && ws);
    REQUIRE(queue_behind(lc, ls, wc, ws, "ws-refused", &lead, &w, &th));
    CHECK(etcde_resign(lead) == ETCDE_OK);
    pthread_join(th, NULL);
    CHECKF(w.r == ETCDE_OK && etcde_is_leader(w.e), "%s", etcde_election_errmsg(w.e));
    CHECKF(tap_get(&r.count) == 1, "%ld upgrades refused, want the first only", tap_get(&r.count));
    etcde_election_destroy(lead);
    etcde_election_destroy(w.e);
    etcde_session_destroy(ls);
    etcde_session_destroy(ws);
    etcde_client_destroy(lc);
    etcde_client_destroy(wc);
    server_stop(&r);
}

static void async_done(etcde_election *e, etcde_result r, void *ud) {
    waiter *w = (waiter *)ud;
    (void)e;
    w->at = etcdt_now_ms();
    __atomic_store_n(&w->r, r, __ATOMIC_RELEASE);
}

/* An async campaign whose endpoint refuses the upgrade waits on an HTTP watch, on a thread
   of its own, and is elected as a blocking call would be. */
ETCDT_TEST(a_refused_upgrade_moves_an_async_wait_to_a_thread) {
    server r;
    char ep[64];
    etcde_client *lc = plain_client(etcdt_endpoints(cl)), *wc;
    etcde_session *ls = ttl_session(lc, 10), *ws;
    etcde_election *lead = NULL;
    waiter w;
    int64_t end;
    memset(&r, 0, sizeof r);
    r.target = etcdt_member_client_port(cl, 0);
    REQUIRE(server_start(&r, relay_conn_main) == 0);
    snprintf(ep, sizeof ep, "127.0.0.1:%d", r.port);
    wc = plain_client(ep);
    ws = ttl_session(wc, 10);
    REQUIRE(ls && ws);
    REQUIRE(etcde_election_create(lc, ls, "ws-refused-async", &lead) == ETCDE_OK);
    REQUIRE(etcde_campaign(lead, "L", 1, 5000) == ETCDE_OK);
    REQUIRE(etcde_election_create(wc, ws, "ws-refused-async", &w.e) == ETCDE_OK);
    w.r = (etcde_result)1; /* not yet */
    REQUIRE(etcde_campaign_async(w.e, "W", 1, 15000, async_done, &w) == ETCDE_OK);
    REQUIRE(until_keys("ws-refused-async", 2, 5000));
    etcdt_sleep_ms(300);
    CHECK(etcde_resign(lead) == ETCDE_OK);
    for (end = etcdt_now_ms() + 10000; __atomic_load_n(&w.r, __ATOMIC_ACQUIRE) == 1;)
        if (etcdt_now_ms() > end)
            break;
        else
            etcdt_sleep_ms(5);
    CHECKF(w.r == ETCDE_OK && etcde_is_leader(w.e), "%d: %s", (int)w.r, etcde_election_errmsg(w.e));
    CHECKF(tap_get(&r.count) == 1, "%ld upgrades refused, want the first only", tap_get(&r.count));
    etcde_election_destroy(lead);
    etcde_election_destroy(w.e);
    etcde_session_destroy(ls);
    etcde_session_destroy(ws);
    etcde_client_destroy(lc);
    etcde_client_destroy(wc);
    server_stop(&r);
}

typedef struct seen_rec {
    int states, done; /* atomic */
    etcde_result r;
    char msg[256];
} seen_rec;

static int stop_at_second(etcde_event_type type, const etcde_kv *leader, int64_t rev, void *ud) {
    (void)type, (void)leader, (void)rev;
    return __atomic_add_fetch(&((seen_rec *)ud)->states, 1, __ATOMIC_ACQ_REL) == 2;
}

static void seen_done(etcde_election *e, etcde_result r, void *ud) {
    seen_rec *sr = (seen_rec *)ud;
    sr->r = r;
    snprintf(sr->msg, sizeof sr->msg, "%.200s", etcde_election_errmsg(e));
    __atomic_add_fetch(&sr->done, 1, __ATOMIC_ACQ_REL);
}

/* Through the relay that refuses upgrades, an async observe with callbacks_in_process
   waits on an HTTP watch on a thread of its own. Its fn, in the loop, stops it at the
   second state (nobody leads), while the thread watches again; done gets ETCDE_OK -- not
   the abort that ended the watch. */
ETCDT_TEST(a_refused_upgrade_lets_an_in_process_observe_stop_its_thread) {
    server r;
    char ep[64];
    etcde_options o;
    etcde_client *lc = plain_client(etcdt_endpoints(cl)), *oc = NULL;
    etcde_session *ls = ttl_session(lc, 10);
    etcde_election *lead = NULL, *ob = NULL;
    seen_rec sr;
    int64_t end;
    memset(&r, 0, sizeof r);
    memset(&sr, 0, sizeof sr);
    r.target = etcdt_member_client_port(cl, 0);
    REQUIRE(server_start(&r, relay_conn_main) == 0);
    snprintf(ep, sizeof ep, "127.0.0.1:%d", r.port);
    memset(&o, 0, sizeof o);
    o.endpoints = ep;
    o.callbacks_in_process = 1;
    REQUIRE(ls && etcde_client_create(&o, &oc) == ETCDE_OK);
    REQUIRE(etcde_election_create(lc, ls, "ws-refused-observe", &lead) == ETCDE_OK);
    REQUIRE(etcde_campaign(lead, "L", 1, 5000) == ETCDE_OK);
    REQUIRE(etcde_election_create(oc, NULL, "ws-refused-observe", &ob) == ETCDE_OK);
    REQUIRE(etcde_observe_async(ob, stop_at_second, 10000, seen_done, &sr) == ETCDE_OK);
    for (end = etcdt_now_ms() + 5000; !__atomic_load_n(&sr.done, __ATOMIC_ACQUIRE);) {
        struct pollfd p;
        p.fd = etcde_client_fd(oc);
        p.events = POLLIN;
        if (etcdt_now_ms() > end) break;
        if (poll(&p, 1, 50) > 0) etcde_client_process(oc);
        if (sr.states == 1 && lead) { /* its thread watches the leader now */
            etcdt_sleep_ms(300);
            CHECK(etcde_resign(lead) == ETCDE_OK);
            etcde_election_destroy(lead);
            lead = NULL;
        }
    }
    CHECKF(sr.done == 1 && sr.states == 2 && sr.r == ETCDE_OK, "done %d, states %d, %d: %s",
           sr.done, sr.states, (int)sr.r, sr.msg);
    CHECKF(tap_get(&r.count) == 1, "%ld upgrades refused", tap_get(&r.count));
    etcde_election_destroy(lead);
    etcde_election_destroy(ob);
    etcde_session_destroy(ls);
    etcde_client_destroy(lc);
    etcde_client_destroy(oc);
    server_stop(&r);
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(sha1_and_accept_key_match_the_rfcs),
        ETCDT_CASE(frames_out_are_masked_with_the_shortest_length),
        ETCDT_CASE(frames_in_are_checked_and_bounded),
        ETCDT_CASE(frames_split_anywhere_are_joined),
        ETCDT_CASE(upgrade_is_checked_and_a_refusal_remembered),
        ETCDT_CASE(one_websocket_carries_many_watches),
        ETCDT_CASE(one_session_renews_by_post_and_two_share_a_stream),
        ETCDT_CASE(sessions_of_a_client_share_one_keepalive_thread_and_stream),
        ETCDT_CASE(a_revoked_lease_loses_its_own_session_only),
        ETCDT_CASE(two_sessions_on_one_lease_share_its_renewals),
        ETCDT_CASE(a_refused_upgrade_falls_back_to_plain_renewals),
        ETCDT_CASE(a_late_reply_never_renews_a_later_send),
        ETCDT_CASE(many_waits_share_one_watch_stream),
        ETCDT_CASE(a_stream_break_mid_wait_loses_no_event),
        ETCDT_CASE(a_refused_upgrade_falls_back_to_http_watches),
        ETCDT_CASE(a_refused_upgrade_moves_an_async_wait_to_a_thread),
        ETCDT_CASE(a_refused_upgrade_lets_an_in_process_observe_stop_its_thread),
    };
    int rc;
    signal(SIGPIPE, SIG_IGN);
    cl = etcdt_cluster_start(1, NULL);
    if (!cl) {
        fprintf(stderr, "test_ws: could not start etcd\n0 passed, 1 failed\n");
        return 1;
    }
    rc = etcdt_run("ws", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    etcdt_cluster_stop(cl);
    return rc;
}
