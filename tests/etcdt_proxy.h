/*
 * etcdt_proxy.h - a fault proxy for the etcd_elect tests: a loopback TCP
 * proxy that can partition (etcdt_proxy_*), on a thread of its own.
 *
 * etcdt_proxy_start(&px, target_port) listens on 127.0.0.1:px.port and
 * forwards each connection to the target; etcdt_proxy_partition(&px, 1)
 * makes it swallow every byte in both directions while keeping connections
 * open (a silent partition), 0 heals it.
 */
#ifndef ETCDT_PROXY_H
#define ETCDT_PROXY_H

#include "etcdt_http.h"
#include "etcdt_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define ETCDT_PROXY_MAX 64

typedef struct etcdt_proxy {
    int lfd, port, target_port;
    int partitioned; /* atomic: swallow every byte, both ways, keep connections open */
    int stop_pipe[2];
    pthread_t th;
    int cfd[ETCDT_PROXY_MAX], sfd[ETCDT_PROXY_MAX]; /* client side, server side (-1: none) */
    int n;
    long accepted, swallowed; /* atomic */
} etcdt_proxy;

ETCDT_FN void etcdt__proxy_drop(etcdt_proxy *px, int i) {
    if (px->cfd[i] >= 0) close(px->cfd[i]);
    if (px->sfd[i] >= 0) close(px->sfd[i]);
    px->n--;
    px->cfd[i] = px->cfd[px->n];
    px->sfd[i] = px->sfd[px->n];
}

ETCDT_FN void *etcdt__proxy_main(void *arg) {
    etcdt_proxy *px = (etcdt_proxy *)arg;
    char buf[65536];
    for (;;) {
        struct pollfd p[2 + 2 * ETCDT_PROXY_MAX];
        int who[2 + 2 * ETCDT_PROXY_MAX]; /* index*2 + side, for the connection fds */
        int np = 0, i, part = __atomic_load_n(&px->partitioned, __ATOMIC_ACQUIRE);
        if (!part) /* healed: connections that lost their server side during the partition end */
            for (i = 0; i < px->n; i++)
                if (px->sfd[i] < 0) etcdt__proxy_drop(px, i--);
        p[np].fd = px->stop_pipe[0];
        p[np++].events = POLLIN;
        p[np].fd = px->lfd;
        p[np++].events = POLLIN;
        for (i = 0; i < px->n; i++) {
            p[np].fd = px->cfd[i];
            p[np].events = POLLIN;
            who[np++] = i * 2;
            if (px->sfd[i] >= 0) {
                p[np].fd = px->sfd[i];
                p[np].events = POLLIN;
                who[np++] = i * 2 + 1;
            }
        }
        for (i = 0; i < np; i++) p[i].revents = 0;
        if (poll(p, (nfds_t)np, 50) < 0 && errno != EINTR) break;
        if (p[0].revents) break;
        part = __atomic_load_n(&px->partitioned, __ATOMIC_ACQUIRE);
        if (p[1].revents & POLLIN) {
            int fd = accept4(px->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                __atomic_add_fetch(&px->accepted, 1, __ATOMIC_ACQ_REL);
                if (px->n >= ETCDT_PROXY_MAX) {
                    close(fd);
                } else {
                    px->cfd[px->n] = fd;
                    px->sfd[px->n] = part ? -1 : etcdt_connect_loopback(px->target_port, 5000);
                    if (!part && px->sfd[px->n] < 0)
                        close(fd);
                    else
                        px->n++;
                }
            }
            continue; /* indexes may have moved: poll again */
        }
        for (i = 2; i < np; i++) {
            int k = who[i] / 2, side = who[i] % 2, from, to;
            ssize_t got;
            if (!p[i].revents) continue;
            from = side ? px->sfd[k] : px->cfd[k];
            to = side ? px->cfd[k] : px->sfd[k];
            got = recv(from, buf, sizeof buf, MSG_DONTWAIT);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (got <= 0) {
                if (side && part) { /* etcd hung up: the client must not learn of it */
                    close(px->sfd[k]);
                    px->sfd[k] = -1;
                } else {
                    etcdt__proxy_drop(px, k);
                }
                break; /* indexes moved */
            }
            if (part || to < 0) {
                __atomic_add_fetch(&px->swallowed, (long)got, __ATOMIC_ACQ_REL);
                continue;
            }
            {
                ssize_t off = 0;
                while (off < got) {
                    ssize_t wr = send(to, buf + off, (size_t)(got - off), MSG_NOSIGNAL);
                    if (wr < 0 && errno == EINTR) continue;
                    if (wr <= 0) break;
                    off += wr;
                }
            }
        }
    }
    while (px->n > 0) etcdt__proxy_drop(px, 0);
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
        getsockname(px->lfd, (struct sockaddr *)&sa, &len) != 0 || pipe(px->stop_pipe) != 0) {
        close(px->lfd);
        return -1;
    }
    px->port = ntohs(sa.sin_port);
    if (pthread_create(&px->th, NULL, etcdt__proxy_main, px) != 0) {
        close(px->lfd);
        close(px->stop_pipe[0]);
        close(px->stop_pipe[1]);
        return -1;
    }
    return 0;
}

ETCDT_FN void etcdt_proxy_partition(etcdt_proxy *px, int on) {
    __atomic_store_n(&px->partitioned, on, __ATOMIC_RELEASE);
}

ETCDT_FN void etcdt_proxy_stop(etcdt_proxy *px) {
    char b = 1;
    ssize_t w = write(px->stop_pipe[1], &b, 1);
    (void)w;
    pthread_join(px->th, NULL);
    close(px->lfd);
    close(px->stop_pipe[0]);
    close(px->stop_pipe[1]);
}

#endif /* ETCDT_PROXY_H */
