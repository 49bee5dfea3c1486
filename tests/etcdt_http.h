/*
 * etcdt_http.h - a raw-socket HTTP/1.0 client for the etcd_elect tests
 * (loopback only): etcdt_http_post, for requests that must not go through
 * etcd_elect.h itself.
 */
#ifndef ETCDT_HTTP_H
#define ETCDT_HTTP_H

#include "etcdt_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* A blocking TCP socket connected to 127.0.0.1:port within timeout_ms, or -1. */
ETCDT_FN int etcdt_connect_loopback(int port, int timeout_ms) {
    int64_t deadline = etcdt_now_ms() + timeout_ms;
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int err = 0;
        socklen_t el = sizeof err;
        struct pollfd pfd;
        pfd.fd = fd;
        pfd.events = POLLOUT;
        if (errno != EINPROGRESS || poll(&pfd, 1, etcdt__left(deadline)) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
            close(fd);
            return -1;
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/* POST body to http://127.0.0.1:port<path> (Content-Type: application/json).
 * Returns the HTTP status code, or -1 on connect/IO/timeout/parse error.
 * If resp is not NULL the response body (NUL-terminated, truncated to
 * respcap) is stored there. */
ETCDT_FN int etcdt_http_post(int port, const char *path, const char *body, char *resp,
                             size_t respcap, int timeout_ms) {
    int64_t deadline = etcdt_now_ms() + timeout_ms;
    struct pollfd pfd;
    char req[1024];
    char buf[16384];
    size_t have = 0, sent = 0;
    int reqlen, fd, status = -1, major, minor;
    size_t blen = strlen(body);
    char *hdr_end;

    if (resp && respcap) resp[0] = 0;
    reqlen = snprintf(req, sizeof req,
                      "POST %s HTTP/1.0\r\n"
                      "Host: 127.0.0.1:%d\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: %lu\r\n"
                      "Connection: close\r\n"
                      "\r\n",
                      path, port, (unsigned long)blen);
    if (reqlen < 0 || (size_t)reqlen >= sizeof req) return -1;

    fd = etcdt_connect_loopback(port, timeout_ms);
    if (fd < 0) return -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    /* send headers then body */
    while (sent < (size_t)reqlen + blen) {
        const char *src;
        size_t left;
        ssize_t w;
        if (sent < (size_t)reqlen) {
            src = req + sent;
            left = (size_t)reqlen - sent;
        } else {
            src = body + (sent - (size_t)reqlen);
            left = (size_t)reqlen + blen - sent;
        }
        w = send(fd, src, left, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) goto out;
        pfd.fd = fd;
        pfd.events = POLLOUT;
        if (poll(&pfd, 1, etcdt__left(deadline)) != 1) goto out;
    }
    /* read until EOF */
    for (;;) {
        ssize_t r;
        if (have + 1 >= sizeof buf) break; /* enough; the rest is truncated */
        r = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (r > 0) {
            have += (size_t)r;
            continue;
        }
        if (r == 0) break;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) goto out;
        pfd.fd = fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, etcdt__left(deadline)) != 1) goto out;
    }
    buf[have] = 0;
    if (sscanf(buf, "HTTP/%d.%d %d", &major, &minor, &status) != 3) {
        status = -1;
        goto out;
    }
    hdr_end = strstr(buf, "\r\n\r\n");
    if (resp && respcap) {
        const char *b = hdr_end ? hdr_end + 4 : "";
        snprintf(resp, respcap, "%s", b);
    }
out:
    close(fd);
    return status;
}

#endif /* ETCDT_HTTP_H */
