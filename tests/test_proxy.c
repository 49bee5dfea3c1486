/* The fault proxy of the tests (tests/etcdt_proxy.h), mode by mode, against a loopback echo
   server on a thread of this program; and a session's keepalive through a DELAY proxy on a
   real etcd, where a deadline counted from the reply instead of the request shows. Figures
   are printed on lines starting with five spaces. */
#include "etcdt_test.h" /* first: it sets _GNU_SOURCE */
#include "etcdt_proc.h"
#include "etcdt_etcd.h"
#include "etcdt_proxy.h"
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
#include <unistd.h>

/* ---- an echo server on a thread ------------------------------------------------------ */

#define SRV_MAX 256

typedef struct srv {
    int lfd, port, wake[2];
    pthread_t th;
    int echo;           /* atomic: send back what arrives */
    int fd[SRV_MAX];    /* atomic: accepted connections, in order; -1 once ended */
    int n;              /* atomic */
    int ended[SRV_MAX]; /* atomic: 0 open, 1 EOF, else the errno of the read */
    long got;           /* atomic: bytes received, all connections */
} srv;

static void *srv_main(void *arg) {
    srv *v = (srv *)arg;
    char buf[65536];
    for (;;) {
        struct pollfd p[2 + SRV_MAX];
        int who[2 + SRV_MAX], np = 2, i, n = __atomic_load_n(&v->n, __ATOMIC_ACQUIRE);
        p[0].fd = v->wake[0];
        p[0].events = POLLIN;
        p[1].fd = v->lfd;
        p[1].events = POLLIN;
        for (i = 0; i < n; i++) {
            if (__atomic_load_n(&v->ended[i], __ATOMIC_ACQUIRE)) continue;
            p[np].fd = v->fd[i];
            p[np].events = POLLIN;
            who[np++] = i;
        }
        if (n == SRV_MAX) p[1].fd = -1; /* full */
        if (poll(p, (nfds_t)np, -1) < 0 && errno != EINTR) break;
        if (p[0].revents) break;
        for (i = 2; i < np; i++) {
            ssize_t got;
            if (!p[i].revents) continue;
            got = recv(p[i].fd, buf, sizeof buf, MSG_DONTWAIT);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (got <= 0) {
                __atomic_store_n(&v->ended[who[i]], got == 0 ? 1 : errno, __ATOMIC_RELEASE);
                __atomic_store_n(&v->fd[who[i]], -1, __ATOMIC_RELEASE);
                close(p[i].fd);
                continue;
            }
            __atomic_add_fetch(&v->got, (long)got, __ATOMIC_ACQ_REL);
            if (__atomic_load_n(&v->echo, __ATOMIC_ACQUIRE)) {
                ssize_t off = 0, w;
                struct pollfd o;
                o.fd = p[i].fd;
                o.events = POLLOUT;
                while (off < got) { /* a peer that reads nothing for 1 s loses the rest */
                    w = send(o.fd, buf + off, (size_t)(got - off), MSG_NOSIGNAL | MSG_DONTWAIT);
                    if (w > 0)
                        off += w;
                    else if (w == 0 || errno != EAGAIN || poll(&o, 1, 1000) != 1)
                        break;
                }
            }
        }
        if ((p[1].revents & POLLIN) && n < SRV_MAX) {
            int fd = accept4(v->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                __atomic_store_n(&v->fd[n], fd, __ATOMIC_RELEASE);
                __atomic_store_n(&v->n, n + 1, __ATOMIC_RELEASE);
            }
        }
    }
    return NULL;
}

static int srv_start(srv *v) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(v, 0, sizeof *v);
    v->echo = 1;
    v->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (v->lfd < 0 || bind(v->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(v->lfd, 64) != 0 || getsockname(v->lfd, (struct sockaddr *)&sa, &len) != 0 ||
        pipe2(v->wake, O_CLOEXEC) != 0)
        return -1;
    v->port = ntohs(sa.sin_port);
    return pthread_create(&v->th, NULL, srv_main, v) == 0 ? 0 : -1;
}

static void srv_stop(srv *v) {
    int i;
    ssize_t w = write(v->wake[1], "x", 1);
    (void)w;
    pthread_join(v->th, NULL);
    for (i = 0; i < v->n; i++)
        if (v->fd[i] >= 0) close(v->fd[i]);
    close(v->lfd);
    close(v->wake[0]);
    close(v->wake[1]);
}

static long srv_got(srv *v) { return __atomic_load_n(&v->got, __ATOMIC_ACQUIRE); }

/* The server side of its i-th connection, once accepted (within 1 s), or -1. */
static int srv_conn(srv *v, int i) {
    return etcdt_wait_int(&v->n, i + 1, 1000) ? __atomic_load_n(&v->fd[i], __ATOMIC_ACQUIRE) : -1;
}

/* 1 once the server has received at least n bytes in all, within timeout_ms. */
static int srv_wait_got(srv *v, long n, int timeout_ms) {
    int64_t end = etcdt_now_ms() + timeout_ms;
    while (srv_got(v) < n) {
        if (etcdt_now_ms() >= end) return 0;
        etcdt_sleep_ms(1);
    }
    return 1;
}

/* ---- client side helpers ------------------------------------------------------------- */

static int send_all(int fd, const void *p, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, (const char *)p + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        off += (size_t)w;
    }
    return 0;
}

/* Reads into buf until `want` bytes came or timeout_ms passed; the count read. *end: 0 (still
   open), -1 (EOF) or the errno of the read. */
static long read_for(int fd, char *buf, long want, int timeout_ms, int *end) {
    int64_t deadline = etcdt_now_ms() + timeout_ms;
    long have = 0;
    *end = 0;
    while (have < want) {
        struct pollfd p;
        ssize_t r;
        p.fd = fd;
        p.events = POLLIN;
        if (poll(&p, 1, etcdt__left(deadline)) <= 0) break;
        r = recv(fd, buf + have, (size_t)(want - have), MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r <= 0) {
            *end = r == 0 ? -1 : errno;
            break;
        }
        have += r;
    }
    return have;
}

/* 1 if neither a byte nor an EOF arrives on fd for ms. */
static int quiet_for(int fd, int ms) {
    char b;
    int end;
    return read_for(fd, &b, 1, ms, &end) == 0 && end == 0;
}

/* Bytes no shift of which looks like another: a wrong offset or order shows. */
static void pattern(char *p, long from, long n) {
    long i;
    for (i = 0; i < n; i++) p[i] = (char)((from + i) % 251);
}

static int is_pattern(const char *p, long from, long n) {
    long i;
    for (i = 0; i < n; i++)
        if (p[i] != (char)((from + i) % 251)) return 0;
    return 1;
}

static etcdt_proxy_counts counts(etcdt_proxy *px) {
    etcdt_proxy_counts c;
    etcdt_proxy_stats(px, &c);
    return c;
}

/* A server, a proxy in front of it and a client connected through it; 0 if so. */
static int rig(srv *v, etcdt_proxy *px, int *cfd) {
    if (srv_start(v) != 0) return -1;
    if (etcdt_proxy_start(px, v->port) != 0) return -1;
    *cfd = etcdt_connect_loopback(px->port, 1000);
    return *cfd >= 0 && srv_conn(v, 0) >= 0 ? 0 : -1;
}

static void unrig(srv *v, etcdt_proxy *px, int cfd) {
    close(cfd);
    etcdt_proxy_stop(px);
    srv_stop(v);
}

/* 1 if n bytes sent on fd come back whole within timeout_ms. */
static int echoes(int fd, long n, int timeout_ms) {
    char out[4096], in[4096];
    int end;
    if (n > (long)sizeof out) return 0;
    pattern(out, 0, n);
    if (send_all(fd, out, (size_t)n) != 0) return 0;
    return read_for(fd, in, n, timeout_ms, &end) == n && !memcmp(in, out, (size_t)n);
}

/* ---- the modes ----------------------------------------------------------------------- */

ETCDT_TEST(pass_forwards_both_ways_and_counts) {
    srv v;
    etcdt_proxy px;
    int cfd, end;
    char buf[64];
    etcdt_proxy_counts c;
    REQUIRE(rig(&v, &px, &cfd) == 0);
    CHECK(echoes(cfd, 1000, 1000));
    CHECK(send_all(srv_conn(&v, 0), "push", 4) == 0);
    CHECK(read_for(cfd, buf, 4, 1000, &end) == 4 && !memcmp(buf, "push", 4));
    c = counts(&px);
    CHECK(c.accepted == 1 && c.open == 1);
    CHECKF(c.up == 1000 && c.down == 1004, "up %ld down %ld", c.up, c.down);
    CHECK(c.swallowed == 0 && c.delayed == 0 && c.queued == 0 && c.resets == 0);
    unrig(&v, &px, cfd);
}

ETCDT_TEST(cut_swallows_both_ways_and_keeps_connections_open) {
    srv v;
    etcdt_proxy px;
    int cfd, late, hung, hung_srv, i, end;
    char buf[100];
    etcdt_proxy_counts c;
    REQUIRE(rig(&v, &px, &cfd) == 0);
    hung = etcdt_connect_loopback(px.port, 1000);
    hung_srv = srv_conn(&v, 1);
    CHECK(hung >= 0 && hung_srv >= 0);
    CHECK(echoes(cfd, 10, 1000));
    etcdt_proxy_set(&px, ETCDT_PX_CUT, 0);
    pattern(buf, 0, 100);
    CHECK(send_all(cfd, buf, 100) == 0);
    CHECK(send_all(srv_conn(&v, 0), buf, 100) == 0);
    CHECK(quiet_for(cfd, 500)); /* neither the echo, nor the push, nor an EOF */
    CHECKF(srv_got(&v) == 10, "the server got %ld bytes, 10 before the cut", srv_got(&v));
    c = counts(&px);
    CHECKF(c.swallowed == 200, "swallowed %ld", c.swallowed);
    CHECK(c.open == 2);
    /* the server hangs up: the client must not learn of it until the cut heals */
    shutdown(hung_srv, SHUT_RDWR);
    CHECK(quiet_for(hung, 300));
    /* a connection made during the cut reaches nobody, and ends when the cut heals */
    late = etcdt_connect_loopback(px.port, 1000);
    CHECK(late >= 0);
    CHECK(send_all(late, "x", 1) == 0);
    CHECK(quiet_for(late, 300));
    CHECK(__atomic_load_n(&v.n, __ATOMIC_ACQUIRE) == 2);
    etcdt_proxy_partition(&px, 0);
    for (i = 0; i < 2; i++) {
        int64_t t0 = etcdt_now_ms();
        CHECK(read_for(i ? hung : late, buf, 1, 1000, &end) == 0 && end == -1);
        CHECKF(etcdt_now_ms() - t0 < 500, "EOF after %lld ms", (long long)(etcdt_now_ms() - t0));
    }
    close(late);
    close(hung);
    CHECK(echoes(cfd, 10, 1000)); /* the old connection forwards again */
    etcdt_proxy_partition(&px, 1);
    CHECK(send_all(cfd, "y", 1) == 0);
    CHECK(quiet_for(cfd, 200));
    CHECK(counts(&px).swallowed == 202);
    etcdt_proxy_partition(&px, 0);
    unrig(&v, &px, cfd);
}

ETCDT_TEST(cut_up_swallows_requests_only) {
    srv v;
    etcdt_proxy px;
    int cfd, end;
    char buf[100];
    REQUIRE(rig(&v, &px, &cfd) == 0);
    etcdt_proxy_set(&px, ETCDT_PX_CUT_UP, 0);
    pattern(buf, 0, 100);
    CHECK(send_all(cfd, buf, 100) == 0);
    CHECK(quiet_for(cfd, 500)); /* nothing to echo */
    CHECKF(srv_got(&v) == 0, "the server got %ld bytes", srv_got(&v));
    CHECK(send_all(srv_conn(&v, 0), buf, 50) == 0);
    CHECK(read_for(cfd, buf + 50, 50, 1000, &end) == 50 && is_pattern(buf + 50, 0, 50));
    CHECKF(counts(&px).swallowed == 100, "swallowed %ld", counts(&px).swallowed);
    etcdt_proxy_set(&px, ETCDT_PX_PASS, 0);
    CHECK(echoes(cfd, 10, 1000));
    unrig(&v, &px, cfd);
}

ETCDT_TEST(cut_down_swallows_replies_only) {
    srv v;
    etcdt_proxy px;
    int cfd;
    char buf[100];
    REQUIRE(rig(&v, &px, &cfd) == 0);
    etcdt_proxy_set(&px, ETCDT_PX_CUT_DOWN, 0);
    pattern(buf, 0, 100);
    CHECK(send_all(cfd, buf, 100) == 0);
    CHECKF(srv_wait_got(&v, 100, 1000), "the server got %ld bytes of 100", srv_got(&v));
    CHECK(send_all(srv_conn(&v, 0), buf, 50) == 0);
    CHECK(quiet_for(cfd, 500)); /* neither the echo nor the push */
    CHECKF(counts(&px).swallowed == 150, "swallowed %ld", counts(&px).swallowed);
    etcdt_proxy_set(&px, ETCDT_PX_PASS, 0);
    CHECK(echoes(cfd, 10, 1000));
    unrig(&v, &px, cfd);
}

ETCDT_TEST(delay_holds_each_reply_for_its_time_and_requests_not_at_all) {
    enum { DELAY = 400, MSGS = 3, GAP = 300, ALL = 10 * MSGS };
    srv v;
    etcdt_proxy px;
    int cfd, i, n_sent = 0;
    int64_t sent[MSGS], took[MSGS], up_at = 0, next = 0;
    char out[ALL], in[ALL];
    long have = 0;
    REQUIRE(rig(&v, &px, &cfd) == 0);
    etcdt_proxy_set(&px, ETCDT_PX_DELAY, DELAY);
    pattern(out, 0, ALL);
    memset(took, 0, sizeof took);
    /* a message every GAP ms, each reply timed as it arrives */
    while (have < ALL) {
        struct pollfd p;
        int64_t now = etcdt_now_ms();
        ssize_t r;
        if (n_sent < MSGS && now >= next) {
            sent[n_sent] = now;
            CHECK(send_all(cfd, out + 10 * n_sent, 10) == 0);
            if (n_sent == 0 && srv_wait_got(&v, 10, GAP / 2)) up_at = etcdt_now_ms();
            next = now + GAP;
            n_sent++;
            continue;
        }
        if (now - sent[0] > 5000) break;
        p.fd = cfd;
        p.events = POLLIN;
        if (poll(&p, 1, n_sent < MSGS ? (int)(next - now) : 1000) <= 0) continue;
        r = recv(cfd, in + have, (size_t)(ALL - have), MSG_DONTWAIT);
        if (r < 0 && errno == EAGAIN) continue;
        if (r <= 0) break;
        for (now = etcdt_now_ms(); r > 0; r--)
            if (++have % 10 == 0) took[have / 10 - 1] = now - sent[have / 10 - 1];
    }
    CHECKF(up_at && up_at - sent[0] < GAP / 2, "the request reached the server after %lld ms",
           (long long)(up_at - sent[0]));
    CHECKF(have == ALL && is_pattern(in, 0, ALL), "%ld of %d bytes, in order: %d", have, ALL,
           is_pattern(in, 0, have));
    printf("     delay %d ms: replies after", DELAY);
    for (i = 0; i < MSGS; i++) printf(" %lld", (long long)took[i]);
    printf(" ms\n");
    for (i = 0; i < MSGS; i++)
        CHECKF(took[i] >= DELAY && took[i] < DELAY + 500, "reply %d after %lld ms", i,
               (long long)took[i]);
    CHECK(counts(&px).delayed == ALL);
    CHECK(counts(&px).queued == 0);
    unrig(&v, &px, cfd);
}

ETCDT_TEST(pass_after_delay_delivers_the_queued_bytes_in_order) {
    enum { MSGS = 20, LEN = 1000 };
    srv v;
    etcdt_proxy px;
    int cfd, i, end;
    static char buf[MSGS * LEN + LEN];
    int64_t t0;
    REQUIRE(rig(&v, &px, &cfd) == 0);
    etcdt_proxy_set(&px, ETCDT_PX_DELAY, 5000);
    pattern(buf, 0, MSGS * LEN + LEN);
    for (i = 0; i < MSGS; i++) CHECK(send_all(cfd, buf + i * LEN, LEN) == 0);
    t0 = etcdt_now_ms();
    while (counts(&px).queued < MSGS * LEN && etcdt_now_ms() - t0 < 2000) etcdt_sleep_ms(2);
    CHECKF(counts(&px).queued == MSGS * LEN, "queued %ld", counts(&px).queued);
    CHECK(quiet_for(cfd, 100));
    t0 = etcdt_now_ms();
    etcdt_proxy_set(&px, ETCDT_PX_PASS, 0);
    /* the new bytes go behind the queued ones */
    CHECK(send_all(cfd, buf + MSGS * LEN, LEN) == 0);
    memset(buf, 0, sizeof buf);
    CHECK(read_for(cfd, buf, MSGS * LEN + LEN, 1000, &end) == MSGS * LEN + LEN);
    CHECKF(etcdt_now_ms() - t0 < 500, "delivered %lld ms after PASS",
           (long long)(etcdt_now_ms() - t0));
    CHECK(is_pattern(buf, 0, MSGS * LEN + LEN));
    CHECK(counts(&px).queued == 0);
    unrig(&v, &px, cfd);
}

ETCDT_TEST(delay_queue_is_bounded_and_pushes_back_without_loss) {
    enum { TRY = 64 << 20, PIECE = 65536 };
    srv v;
    etcdt_proxy px;
    int cfd, sfd, end;
    long pushed = 0, got, max_queued = 0;
    char *buf = (char *)etcdt__xmalloc(PIECE + 251);
    REQUIRE(rig(&v, &px, &cfd) == 0);
    sfd = srv_conn(&v, 0);
    etcdt_proxy_set(&px, ETCDT_PX_DELAY, 60000);
    pattern(buf, 0, PIECE + 251);
    while (pushed < TRY) { /* until the server cannot send for 500 ms */
        ssize_t w = send(sfd, buf + pushed % 251, PIECE, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            pushed += w;
        } else {
            struct pollfd p;
            p.fd = sfd;
            p.events = POLLOUT;
            if (w < 0 && errno != EAGAIN) break;
            if (poll(&p, 1, 500) == 0) break;
        }
        if (counts(&px).queued > max_queued) max_queued = counts(&px).queued;
    }
    max_queued = counts(&px).queued > max_queued ? counts(&px).queued : max_queued;
    printf("     delay queue: %ld bytes held, %ld pushed before the server blocked\n", max_queued,
           pushed);
    CHECKF(pushed < TRY, "the server never blocked (%ld bytes)", pushed);
    CHECK(max_queued <= ETCDT_PROXY_QUEUE_MAX && max_queued >= ETCDT_PROXY_QUEUE_MAX / 2);
    etcdt_proxy_set(&px, ETCDT_PX_PASS, 0);
    for (got = 0; got < pushed;) {
        long r = read_for(cfd, buf, PIECE < pushed - got ? PIECE : pushed - got, 2000, &end);
        if (r <= 0 || !is_pattern(buf, got, r)) break;
        got += r;
    }
    CHECKF(got == pushed, "%ld of %ld bytes arrived in order", got, pushed);
    CHECK(counts(&px).queued == 0);
    free(buf);
    unrig(&v, &px, cfd);
}

ETCDT_TEST(stall_begins_a_message_and_never_ends_it) {
    enum { LEN = 1000 };
    srv v;
    etcdt_proxy px;
    int cfd, end;
    long first, got;
    char in[LEN], out[LEN];
    REQUIRE(rig(&v, &px, &cfd) == 0);
    CHECK(echoes(cfd, 10, 1000));
    etcdt_proxy_set(&px, ETCDT_PX_STALL, 0);
    pattern(out, 0, LEN);
    CHECK(send_all(cfd, out, LEN) == 0);
    /* the server gets part of it and echoes that; the client gets part of the echo */
    first = read_for(cfd, in, LEN, 500, &end);
    got = srv_got(&v) - 10;
    printf("     stall: the server got %ld of %d bytes, the client %ld\n", got, LEN, first);
    CHECKF(got > 0 && got < LEN, "the server got %ld of %d bytes", got, LEN);
    CHECKF(first > 0 && first < got && end == 0, "the client got %ld bytes (end %d)", first, end);
    CHECK(is_pattern(in, 0, first));
    CHECK(quiet_for(cfd, 1000));
    CHECK(srv_got(&v) - 10 == got);
    etcdt_proxy_set(&px, ETCDT_PX_PASS, 0);
    CHECK(read_for(cfd, in + first, LEN - first, 1000, &end) == LEN - first);
    CHECK(is_pattern(in, 0, LEN));
    CHECK(srv_got(&v) == 10 + LEN);
    /* a new STALL grants a new allowance */
    etcdt_proxy_set(&px, ETCDT_PX_STALL, 0);
    CHECK(send_all(cfd, out, LEN) == 0);
    first = read_for(cfd, in, LEN, 500, &end);
    CHECKF(first > 0 && first < LEN, "the client got %ld bytes", first);
    etcdt_proxy_set(&px, ETCDT_PX_PASS, 0);
    CHECK(read_for(cfd, in + first, LEN - first, 1000, &end) == LEN - first);
    CHECK(is_pattern(in, 0, LEN));
    unrig(&v, &px, cfd);
}

ETCDT_TEST(reset_sends_rst_both_ways_then_passes) {
    srv v;
    etcdt_proxy px;
    int cfd, cfd2, i, end[2];
    char b;
    int64_t t0;
    etcdt_proxy_counts c;
    REQUIRE(rig(&v, &px, &cfd) == 0);
    cfd2 = etcdt_connect_loopback(px.port, 1000);
    CHECK(echoes(cfd, 10, 1000) && echoes(cfd2, 10, 1000));
    t0 = etcdt_now_ms();
    etcdt_proxy_set(&px, ETCDT_PX_RESET, 0);
    CHECK(read_for(cfd, &b, 1, 1000, &end[0]) == 0);
    CHECK(read_for(cfd2, &b, 1, 1000, &end[1]) == 0);
    for (i = 0; i < 2; i++) {
        CHECKF(end[i] == ECONNRESET || end[i] == -1, "client %d: end %d", i, end[i]);
        CHECKF(etcdt_wait_int(&v.ended[i], 1, 1000), "server side %d still open", i);
        CHECKF(__atomic_load_n(&v.ended[i], __ATOMIC_ACQUIRE) == ECONNRESET, "server side %d: %d",
               i, v.ended[i]);
    }
    printf("     reset: clients saw %s and %s after %lld ms\n",
           end[0] == ECONNRESET ? "ECONNRESET" : "EOF", end[1] == ECONNRESET ? "ECONNRESET" : "EOF",
           (long long)(etcdt_now_ms() - t0));
    CHECK(etcdt_now_ms() - t0 < 500);
    c = counts(&px);
    CHECK(c.resets == 2 && c.open == 0);
    close(cfd);
    close(cfd2);
    cfd = etcdt_connect_loopback(px.port, 1000);
    CHECK(echoes(cfd, 10, 1000)); /* PASS again */
    CHECK(counts(&px).accepted == 3);
    unrig(&v, &px, cfd);
}

/* ---- many proxies, switched from another thread -------------------------------------- */

#define NPX 10

typedef struct flipper {
    etcdt_proxy *px;
    unsigned seed;
    int done; /* atomic */
    int flips;
} flipper;

static void *flip_main(void *arg) {
    flipper *f = (flipper *)arg;
    int i;
    for (i = 0; i < 300; i++) {
        int mode = (int)(rand_r(&f->seed) % (ETCDT_PX_RESET + 1));
        etcdt_proxy_set(&f->px[rand_r(&f->seed) % NPX], mode, (int)(rand_r(&f->seed) % 50));
        f->flips++;
        etcdt_sleep_ms(1);
    }
    __atomic_store_n(&f->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

ETCDT_TEST(many_proxies_switched_from_another_thread_stop_clean) {
    srv v;
    etcdt_proxy px[NPX];
    int cfd[NPX], i, fds0 = etcdt_open_fds(), rounds = 0;
    flipper f;
    pthread_t th;
    char buf[4096];
    REQUIRE(srv_start(&v) == 0);
    for (i = 0; i < NPX; i++) {
        REQUIRE(etcdt_proxy_start(&px[i], v.port) == 0);
        cfd[i] = etcdt_connect_loopback(px[i].port, 1000);
        fcntl(cfd[i], F_SETFL, fcntl(cfd[i], F_GETFL) | O_NONBLOCK);
    }
    memset(&f, 0, sizeof f);
    f.px = px;
    f.seed = (unsigned)getpid();
    pthread_create(&th, NULL, flip_main, &f);
    pattern(buf, 0, sizeof buf);
    while (!__atomic_load_n(&f.done, __ATOMIC_ACQUIRE)) {
        for (i = 0; i < NPX; i++) {
            ssize_t w = send(cfd[i], buf, 1 + (size_t)(rounds * 37 % (int)sizeof buf),
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            ssize_t r;
            char in[65536];
            while ((r = recv(cfd[i], in, sizeof in, MSG_DONTWAIT)) > 0) {}
            if ((w < 0 && errno != EAGAIN) || r == 0 || (r < 0 && errno != EAGAIN)) {
                close(cfd[i]); /* reset or closed: come back */
                cfd[i] = etcdt_connect_loopback(px[i].port, 1000);
                if (cfd[i] >= 0) fcntl(cfd[i], F_SETFL, fcntl(cfd[i], F_GETFL) | O_NONBLOCK);
            }
        }
        rounds++;
        etcdt_sleep_ms(1);
    }
    pthread_join(th, NULL);
    printf("     %d flips over %d proxies, %d rounds of traffic\n", f.flips, NPX, rounds);
    for (i = 0; i < NPX; i++) {
        int fd;
        etcdt_proxy_set(&px[i], ETCDT_PX_PASS, 0);
        fd = etcdt_connect_loopback(px[i].port, 1000);
        CHECKF(fd >= 0 && echoes(fd, 100, 1000), "proxy %d does not pass after the flips", i);
        if (fd >= 0) close(fd);
        if (cfd[i] >= 0) close(cfd[i]);
        etcdt_proxy_stop(&px[i]);
    }
    srv_stop(&v);
    CHECKF(etcdt_open_fds() == fds0, "%d fds open, %d before", etcdt_open_fds(), fds0);
}

/* ---- a session through a DELAY proxy on a real etcd ---------------------------------- */

static void on_lost(etcde_session *s, etcde_result why, const char *detail, void *ud) {
    (void)s;
    (void)why;
    (void)detail;
    __atomic_store_n((int64_t *)ud, etcdt_now_ms(), __ATOMIC_RELEASE);
}

ETCDT_TEST(session_deadline_counts_from_the_request_through_delayed_replies) {
    enum { TTL = 3, SHORT = 400, LONG = 4000 };
    etcdt_cluster *cl = etcdt_cluster_start(1, NULL);
    etcdt_proxy px;
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    etcde_options o = {0};
    etcde_session_options so = {0};
    char ep[64];
    int64_t lost_at = 0, t0, most = 0;
    if (!cl) {
        etcdt_skip("no etcd");
        return;
    }
    REQUIRE(etcdt_proxy_start(&px, etcdt_member_client_port(cl, 0)) == 0);
    snprintf(ep, sizeof ep, "127.0.0.1:%d", px.port);
    o.endpoints = ep;
    so.ttl_s = TTL;
    so.on_lost = on_lost;
    so.user_data = &lost_at;
    if (etcde_client_create(&o, &c) != ETCDE_OK || etcde_session_create(c, &so, &s) != ETCDE_OK) {
        CHECKF(0, "session: %s", etcde_client_errmsg(c));
        goto out;
    }
    /* replies a little late: the session lives, and never counts on more than TTL - delay */
    etcdt_proxy_set(&px, ETCDT_PX_DELAY, SHORT);
    for (t0 = etcdt_now_ms(); etcdt_now_ms() - t0 < 2 * TTL * 1000;) {
        int64_t left = etcde_session_remaining_ms(s);
        if (left > most && etcdt_now_ms() - t0 > SHORT) most = left;
        etcdt_sleep_ms(5);
    }
    printf("     replies %d ms late, TTL %d s: at most %lld ms left\n", SHORT, TTL,
           (long long)most);
    CHECK(!__atomic_load_n(&lost_at, __ATOMIC_ACQUIRE));
    CHECKF(most > 0 && most <= TTL * 1000 - SHORT, "%lld ms left with replies %d ms late",
           (long long)most, SHORT);
    /* replies later than the TTL: every one comes too late to prove anything */
    etcdt_proxy_set(&px, ETCDT_PX_DELAY, LONG);
    t0 = etcdt_now_ms();
    while (!__atomic_load_n(&lost_at, __ATOMIC_ACQUIRE) && etcdt_now_ms() - t0 < 3 * TTL * 1000)
        etcdt_sleep_ms(5);
    lost_at = __atomic_load_n(&lost_at, __ATOMIC_ACQUIRE);
    printf("     replies %d ms late, TTL %d s: lost after %lld ms\n", LONG, TTL,
           (long long)(lost_at ? lost_at - t0 : -1));
    CHECKF(lost_at && lost_at - t0 <= TTL * 1000, "the session %s",
           lost_at ? "was lost late" : "was never lost");
    CHECK(counts(&px).delayed > 0);
out:
    etcdt_proxy_set(&px, ETCDT_PX_PASS, 0);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    etcdt_proxy_stop(&px);
    etcdt_cluster_stop(cl);
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(pass_forwards_both_ways_and_counts),
        ETCDT_CASE(cut_swallows_both_ways_and_keeps_connections_open),
        ETCDT_CASE(cut_up_swallows_requests_only),
        ETCDT_CASE(cut_down_swallows_replies_only),
        ETCDT_CASE(delay_holds_each_reply_for_its_time_and_requests_not_at_all),
        ETCDT_CASE(pass_after_delay_delivers_the_queued_bytes_in_order),
        ETCDT_CASE(delay_queue_is_bounded_and_pushes_back_without_loss),
        ETCDT_CASE(stall_begins_a_message_and_never_ends_it),
        ETCDT_CASE(reset_sends_rst_both_ways_then_passes),
        ETCDT_CASE(many_proxies_switched_from_another_thread_stop_clean),
        ETCDT_CASE(session_deadline_counts_from_the_request_through_delayed_replies),
    };
    signal(SIGPIPE, SIG_IGN);
    return etcdt_run("proxy", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
}
