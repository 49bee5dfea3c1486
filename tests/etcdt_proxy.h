/*
 * etcdt_proxy.h - a fault proxy for the etcd_elect tests: a loopback TCP
 * proxy on a thread of its own whose fault mode can be switched at any time,
 * from any thread, for its open connections and the new ones.
 *
 * etcdt_proxy_start(&px, target_port) listens on 127.0.0.1:px.port and
 * forwards each connection to the target. etcdt_proxy_set(&px, mode, delay_ms):
 *
 *   ETCDT_PX_PASS      forward (heals every other mode; bytes held by DELAY or
 *                      STALL are delivered first, in order)
 *   ETCDT_PX_CUT       swallow every byte both ways, keep connections open (a
 *                      silent partition); new connections are accepted but not
 *                      forwarded, and are closed when the cut heals
 *   ETCDT_PX_CUT_UP    swallow client->server bytes, forward server->client
 *   ETCDT_PX_CUT_DOWN  swallow server->client bytes, forward client->server
 *   ETCDT_PX_DELAY     deliver server->client bytes delay_ms after they reached
 *                      the proxy, in order; client->server at once
 *   ETCDT_PX_STALL     each direction forwards about half of what it has (at
 *                      least 1 byte) and holds the rest: a message begins and
 *                      never ends
 *   ETCDT_PX_RESET     close every open connection with a TCP RST on both
 *                      sides, then the mode is PASS
 *
 * etcdt_proxy_set returns once the proxy thread applies the mode (and, for
 * RESET, has closed the connections). Each STALL grants each direction a new
 * allowance. Bytes the proxy holds are never dropped by a later mode: a cut
 * keeps them until it heals, and any mode but DELAY sends them at once. A
 * peer's EOF in a direction being swallowed is swallowed too (the other side
 * stays open); otherwise it ends the whole connection once the bytes before
 * it are delivered. etcdt_proxy_partition(&px, on) is set(CUT) / set(PASS).
 * Held bytes are bounded (ETCDT_PROXY_QUEUE_MAX per direction and connection);
 * past it the proxy stops reading that side, so TCP pushes back.
 * etcdt_proxy_stats counts connections and bytes: delivered, swallowed,
 * delayed, held.
 */
#ifndef ETCDT_PROXY_H
#define ETCDT_PROXY_H

#include "etcdt_http.h"
#include "etcdt_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define ETCDT_PROXY_MAX 64
#define ETCDT_PROXY_QUEUE_MAX (4L << 20)

enum {
    ETCDT_PX_PASS,
    ETCDT_PX_CUT,
    ETCDT_PX_CUT_UP,
    ETCDT_PX_CUT_DOWN,
    ETCDT_PX_DELAY,
    ETCDT_PX_STALL,
    ETCDT_PX_RESET
};

typedef struct etcdt__px_chunk {
    struct etcdt__px_chunk *next;
    int64_t due_us; /* when DELAY may deliver it */
    size_t len, off;
    char data[];
} etcdt__px_chunk;

/* One direction of a connection: bytes read from fd[d], written to fd[1 - d]. */
typedef struct etcdt__px_dir {
    etcdt__px_chunk *head, *tail;
    long bytes, mem; /* queued bytes; their memory, chunk headers included */
    int eof;         /* the source ended: read no more */
    int stall_used;  /* this STALL's allowance was granted */
    long stall_left; /* bytes of it not sent yet */
    int want_out;    /* the destination would block: wait for POLLOUT */
} etcdt__px_dir;

typedef struct etcdt__px_conn {
    int fd[2]; /* client side, server side; -1 once closed */
    int dead;
    etcdt__px_dir dir[2]; /* [0] up: client->server, [1] down: server->client */
} etcdt__px_conn;

/* A snapshot of the counters (etcdt_proxy_stats). */
typedef struct etcdt_proxy_counts {
    long accepted;  /* connections accepted */
    long open;      /* connections open now */
    long resets;    /* connections closed by ETCDT_PX_RESET */
    long up, down;  /* bytes delivered client->server, server->client */
    long swallowed; /* bytes dropped by CUT, CUT_UP, CUT_DOWN */
    long delayed;   /* server->client bytes that went through DELAY's queue */
    long queued;    /* bytes held in the proxy now */
} etcdt_proxy_counts;

typedef struct etcdt_proxy {
    int lfd, port, target_port;
    int wake[2]; /* a byte wakes the thread: a new mode, or stop */
    pthread_t th;
    pthread_mutex_t mu; /* guards the fields down to `applied` */
    pthread_cond_t cv;
    int mode, delay_ms, stopping;
    long mode_gen;       /* etcdt_proxy_set calls */
    long asked, applied; /* calls that wait for the thread; the last one it went past */
    long resets_asked, resets_done;
    etcdt__px_conn conn[ETCDT_PROXY_MAX]; /* the thread's own */
    int n;
    /* atomic counters (etcdt_proxy_counts) */
    long accepted, swallowed, open, resets, up, down, delayed, queued;
} etcdt_proxy;

ETCDT_FN int64_t etcdt__px_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

ETCDT_FN void etcdt__px_count(long *c, long v) { __atomic_add_fetch(c, v, __ATOMIC_ACQ_REL); }

ETCDT_FN int etcdt__px_swallows(int mode, int d) {
    return mode == ETCDT_PX_CUT || (mode == ETCDT_PX_CUT_UP && d == 0) ||
           (mode == ETCDT_PX_CUT_DOWN && d == 1);
}

ETCDT_FN void etcdt__px_pop(etcdt_proxy *px, etcdt__px_dir *q) {
    etcdt__px_chunk *c = q->head;
    q->head = c->next;
    if (!q->head) q->tail = NULL;
    q->bytes -= (long)(c->len - c->off);
    q->mem -= (long)(sizeof *c + c->len);
    etcdt__px_count(&px->queued, -(long)(c->len - c->off));
    free(c);
}

ETCDT_FN void etcdt__px_close(etcdt_proxy *px, etcdt__px_conn *k, int rst) {
    int s, d;
    for (s = 0; s < 2; s++) {
        if (k->fd[s] < 0) continue;
        if (rst) {
            struct linger lg;
            lg.l_onoff = 1;
            lg.l_linger = 0;
            setsockopt(k->fd[s], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(k->fd[s]);
        k->fd[s] = -1;
    }
    for (d = 0; d < 2; d++)
        while (k->dir[d].head) etcdt__px_pop(px, &k->dir[d]);
    k->dead = 1;
}

/* Closes and forgets the dead connections. */
ETCDT_FN void etcdt__px_reap(etcdt_proxy *px) {
    int i;
    for (i = 0; i < px->n; i++) {
        if (!px->conn[i].dead) continue;
        etcdt__px_close(px, &px->conn[i], 0);
        px->conn[i] = px->conn[--px->n];
        etcdt__px_count(&px->open, -1);
        i--;
    }
}

ETCDT_FN void etcdt__px_queue(etcdt_proxy *px, etcdt__px_dir *q, const char *p, size_t len,
                              int64_t due_us) {
    etcdt__px_chunk *c = (etcdt__px_chunk *)etcdt__xmalloc(sizeof *c + len);
    memcpy(c->data, p, len);
    c->next = NULL;
    c->due_us = due_us;
    c->len = len;
    c->off = 0;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    q->bytes += (long)len;
    q->mem += (long)(sizeof *c + len);
    etcdt__px_count(&px->queued, (long)len);
}

/* Sends what direction d of k may send now; *next_due_us learns when DELAY may send more. */
ETCDT_FN void etcdt__px_pump(etcdt_proxy *px, etcdt__px_conn *k, int d, int mode, int64_t now_us,
                             int64_t *next_due_us) {
    etcdt__px_dir *q = &k->dir[d];
    int to = k->fd[1 - d];
    q->want_out = 0;
    if (etcdt__px_swallows(mode, d)) return; /* held until the cut heals */
    if (to < 0) {                            /* the destination left during a cut */
        while (q->head) {
            etcdt__px_count(&px->swallowed, (long)(q->head->len - q->head->off));
            etcdt__px_pop(px, q);
        }
    }
    if (mode == ETCDT_PX_STALL && !q->stall_used && q->bytes > 0) {
        q->stall_used = 1;
        q->stall_left = q->bytes / 2 > 0 ? q->bytes / 2 : 1;
    }
    while (q->head) {
        etcdt__px_chunk *c = q->head;
        size_t len = c->len - c->off;
        ssize_t w;
        if (mode == ETCDT_PX_DELAY && d == 1 && c->due_us > now_us) {
            if (c->due_us < *next_due_us) *next_due_us = c->due_us;
            break;
        }
        if (mode == ETCDT_PX_STALL) {
            if (q->stall_left == 0) break;
            if ((long)len > q->stall_left) len = (size_t)q->stall_left;
        }
        w = send(to, c->data + c->off, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            q->want_out = 1;
            break;
        }
        if (w <= 0) {
            k->dead = 1;
            return;
        }
        etcdt__px_count(d ? &px->down : &px->up, (long)w);
        if (mode == ETCDT_PX_STALL) q->stall_left -= (long)w;
        c->off += (size_t)w;
        q->bytes -= (long)w;
        etcdt__px_count(&px->queued, -(long)w);
        if (c->off == c->len) etcdt__px_pop(px, q);
    }
    if (q->eof && !q->head && mode != ETCDT_PX_STALL) k->dead = 1;
}

/* Reads what fd[d] of k has for direction d. */
ETCDT_FN void etcdt__px_read(etcdt_proxy *px, etcdt__px_conn *k, int d, int mode, int delay_ms,
                             char *buf, size_t cap) {
    etcdt__px_dir *q = &k->dir[d];
    ssize_t got = recv(k->fd[d], buf, cap, MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (got <= 0) {
        q->eof = 1;
        if (etcdt__px_swallows(mode, d)) { /* the other side must not learn of it */
            close(k->fd[d]);
            k->fd[d] = -1;
            if (k->fd[1 - d] < 0) k->dead = 1;
        }
        return;
    }
    if (etcdt__px_swallows(mode, d) || k->fd[1 - d] < 0) {
        etcdt__px_count(&px->swallowed, (long)got);
        return;
    }
    if (mode == ETCDT_PX_DELAY && d == 1) {
        etcdt__px_count(&px->delayed, (long)got);
        etcdt__px_queue(px, q, buf, (size_t)got, etcdt__px_now_us() + (int64_t)delay_ms * 1000);
    } else {
        etcdt__px_queue(px, q, buf, (size_t)got, 0);
    }
}

ETCDT_FN void etcdt__px_accept(etcdt_proxy *px, int mode) {
    etcdt__px_conn *k;
    int fd = accept4(px->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    etcdt__px_count(&px->accepted, 1);
    if (px->n >= ETCDT_PROXY_MAX) {
        close(fd);
        return;
    }
    k = &px->conn[px->n];
    memset(k, 0, sizeof *k);
    k->fd[0] = fd;
    k->fd[1] = -1;
    if (mode == ETCDT_PX_CUT) {
        k->dir[1].eof = 1; /* never connected: closed when the cut heals */
    } else {
        k->fd[1] = etcdt_connect_loopback(px->target_port, 5000);
        if (k->fd[1] < 0) {
            close(fd);
            return;
        }
        fcntl(k->fd[1], F_SETFL, fcntl(k->fd[1], F_GETFL) | O_NONBLOCK);
    }
    px->n++;
    etcdt__px_count(&px->open, 1);
}

ETCDT_FN void *etcdt__proxy_main(void *arg) {
    etcdt_proxy *px = (etcdt_proxy *)arg;
    static const int64_t never = INT64_MAX;
    char *buf = (char *)etcdt__xmalloc(65536);
    long seen_gen = 0;
    for (;;) {
        struct pollfd p[2 + 2 * ETCDT_PROXY_MAX];
        int who[2 + 2 * ETCDT_PROXY_MAX]; /* connection * 2 + side */
        int np = 0, i, d, mode, delay_ms, timeout = -1, reset;
        long gen, asked;
        int64_t now_us, next_due_us = never;
        pthread_mutex_lock(&px->mu);
        if (px->stopping) {
            pthread_mutex_unlock(&px->mu);
            break;
        }
        mode = px->mode;
        delay_ms = px->delay_ms;
        gen = px->mode_gen;
        asked = px->asked;
        reset = px->resets_asked != px->resets_done;
        px->resets_done = px->resets_asked;
        pthread_mutex_unlock(&px->mu);
        if (reset) {
            for (i = 0; i < px->n; i++) etcdt__px_close(px, &px->conn[i], 1);
            etcdt__px_count(&px->resets, px->n);
            etcdt__px_reap(px);
        }
        if (gen != seen_gen) {
            for (i = 0; i < px->n; i++)
                for (d = 0; d < 2; d++) px->conn[i].dir[d].stall_used = 0; /* a new STALL */
            seen_gen = gen;
        }
        if (asked != px->applied) { /* the previous round, its counts included, is over */
            pthread_mutex_lock(&px->mu);
            px->applied = asked;
            pthread_cond_broadcast(&px->cv);
            pthread_mutex_unlock(&px->mu);
        }
        now_us = etcdt__px_now_us();
        for (i = 0; i < px->n; i++)
            for (d = 0; d < 2 && !px->conn[i].dead; d++)
                etcdt__px_pump(px, &px->conn[i], d, mode, now_us, &next_due_us);
        etcdt__px_reap(px);
        p[np].fd = px->wake[0];
        p[np++].events = POLLIN;
        p[np].fd = px->lfd;
        p[np++].events = POLLIN;
        for (i = 0; i < px->n; i++) {
            etcdt__px_conn *k = &px->conn[i];
            int s;
            for (s = 0; s < 2; s++) {
                short ev = 0;
                if (k->fd[s] < 0) continue;
                if (!k->dir[s].eof && k->dir[s].mem < ETCDT_PROXY_QUEUE_MAX) ev |= POLLIN;
                if (k->dir[1 - s].want_out) ev |= POLLOUT;
                if (!ev) continue; /* an idle fd would report POLLHUP at once, again and again */
                p[np].fd = k->fd[s];
                p[np].events = ev;
                who[np++] = i * 2 + s;
            }
        }
        if (next_due_us != never) {
            int64_t ms = (next_due_us - etcdt__px_now_us() + 999) / 1000;
            timeout = ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
        }
        for (i = 0; i < np; i++) p[i].revents = 0;
        if (poll(p, (nfds_t)np, timeout) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[0].revents) {
            char drain[64];
            while (read(px->wake[0], drain, sizeof drain) > 0) {}
        }
        for (i = 2; i < np; i++) {
            etcdt__px_conn *k = &px->conn[who[i] / 2];
            int s = who[i] % 2;
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)) || k->dead || k->fd[s] < 0) continue;
            if (p[i].events & POLLIN) {
                long room = ETCDT_PROXY_QUEUE_MAX - k->dir[s].mem;
                etcdt__px_read(px, k, s, mode, delay_ms, buf,
                               room < 65536 ? (size_t)room : (size_t)65536);
            }
        }
        if (p[1].revents & POLLIN) etcdt__px_accept(px, mode);
    }
    for (; px->n > 0; px->n--) etcdt__px_close(px, &px->conn[px->n - 1], 0);
    __atomic_store_n(&px->open, 0, __ATOMIC_RELEASE);
    free(buf);
    return NULL;
}

ETCDT_FN int etcdt_proxy_start(etcdt_proxy *px, int target_port) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(px, 0, sizeof *px);
    px->target_port = target_port;
    px->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (px->lfd < 0) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(px->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(px->lfd, 64) != 0 ||
        getsockname(px->lfd, (struct sockaddr *)&sa, &len) != 0 ||
        pipe2(px->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        close(px->lfd);
        return -1;
    }
    px->port = ntohs(sa.sin_port);
    pthread_mutex_init(&px->mu, NULL);
    pthread_cond_init(&px->cv, NULL);
    if (pthread_create(&px->th, NULL, etcdt__proxy_main, px) != 0) {
        close(px->lfd);
        close(px->wake[0]);
        close(px->wake[1]);
        pthread_mutex_destroy(&px->mu);
        pthread_cond_destroy(&px->cv);
        return -1;
    }
    return 0;
}

ETCDT_FN void etcdt__px_wake(etcdt_proxy *px) {
    char b = 1;
    ssize_t w = write(px->wake[1], &b, 1); /* a full pipe is awake already */
    (void)w;
}

/* Sets the mode if set, then waits until the proxy thread starts a new round. */
ETCDT_FN void etcdt__px_ask(etcdt_proxy *px, int set, int mode, int delay_ms) {
    long my;
    pthread_mutex_lock(&px->mu);
    if (!px->stopping) {
        if (set && mode == ETCDT_PX_RESET) {
            px->resets_asked++;
            mode = ETCDT_PX_PASS;
        }
        if (set) {
            px->mode = mode;
            px->delay_ms = delay_ms < 0 ? 0 : delay_ms;
            px->mode_gen++;
        }
        my = ++px->asked;
        etcdt__px_wake(px);
        while (px->applied < my && !px->stopping) pthread_cond_wait(&px->cv, &px->mu);
    }
    pthread_mutex_unlock(&px->mu);
}

/* Switches the fault mode (ETCDT_PX_*; delay_ms is for ETCDT_PX_DELAY); returns once the
   proxy thread applies it. */
ETCDT_FN void etcdt_proxy_set(etcdt_proxy *px, int mode, int delay_ms) {
    etcdt__px_ask(px, 1, mode, delay_ms);
}

ETCDT_FN void etcdt_proxy_partition(etcdt_proxy *px, int on) {
    etcdt_proxy_set(px, on ? ETCDT_PX_CUT : ETCDT_PX_PASS, 0);
}

/* The counters, exact for every byte delivered before the call. */
ETCDT_FN void etcdt_proxy_stats(etcdt_proxy *px, etcdt_proxy_counts *out) {
    etcdt__px_ask(px, 0, 0, 0);
    out->accepted = __atomic_load_n(&px->accepted, __ATOMIC_ACQUIRE);
    out->open = __atomic_load_n(&px->open, __ATOMIC_ACQUIRE);
    out->resets = __atomic_load_n(&px->resets, __ATOMIC_ACQUIRE);
    out->up = __atomic_load_n(&px->up, __ATOMIC_ACQUIRE);
    out->down = __atomic_load_n(&px->down, __ATOMIC_ACQUIRE);
    out->swallowed = __atomic_load_n(&px->swallowed, __ATOMIC_ACQUIRE);
    out->delayed = __atomic_load_n(&px->delayed, __ATOMIC_ACQUIRE);
    out->queued = __atomic_load_n(&px->queued, __ATOMIC_ACQUIRE);
}

ETCDT_FN const char *etcdt_proxy_mode_name(int mode) {
    static const char *const names[] = {"pass",  "cut",   "cut-up", "cut-down",
                                        "delay", "stall", "reset"};
    return mode >= 0 && mode <= ETCDT_PX_RESET ? names[mode] : "?";
}

/* Closes every connection, joins the thread and frees everything. */
ETCDT_FN void etcdt_proxy_stop(etcdt_proxy *px) {
    pthread_mutex_lock(&px->mu);
    px->stopping = 1;
    pthread_cond_broadcast(&px->cv);
    pthread_mutex_unlock(&px->mu);
    etcdt__px_wake(px);
    pthread_join(px->th, NULL);
    close(px->lfd);
    close(px->wake[0]);
    close(px->wake[1]);
    pthread_mutex_destroy(&px->mu);
    pthread_cond_destroy(&px->cv);
}

#endif /* ETCDT_PROXY_H */
