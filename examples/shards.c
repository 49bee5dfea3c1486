/* One thread, one event loop, many elections: this process campaigns for N shards at once
   with etcde_campaign_async, and leads each shard whose campaign it wins. Callbacks run in
   the loop (etcde_options.callbacks_in_process): the loop polls etcde_client_fd beside its
   own descriptors -- here the session's loss fd and a self-pipe for signals; an epoll or
   libuv loop adds the same descriptors. Run two copies: the first leads every shard; stop
   it (Ctrl-C resigns them all) and the second takes them over within milliseconds, or
   within the TTL after a kill -9.

     shards [ENDPOINTS] [NAME] [N]
   ENDPOINTS defaults to $ETCDCTL_ENDPOINTS, else 127.0.0.1:2379; NAME to my-shards (the
   elections are NAME/0 .. NAME/N-1); N to 16. Prints "leading shard K" as each is won,
   "leading all N shards" once every one is, and exits 0 after a signal, 1 on failure. */
#define _POSIX_C_SOURCE 200809L
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SHARDS 4096

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    ssize_t n = write(sig_pipe[1], "s", 1);
    (void)n;
    (void)sig;
    errno = saved;
}

static int leading, failures;

/* Runs inside etcde_client_process, on the loop's thread: no locking needed. */
static void on_campaign(etcde_election *e, etcde_result r, void *user_data) {
    int shard = (int)(intptr_t)user_data;
    if (r != ETCDE_OK) {
        fprintf(stderr, "shard %d: %s\n", shard, etcde_election_errmsg(e));
        failures++;
        return;
    }
    leading++;
    printf("leading shard %d (fencing token %lld)\n", shard, (long long)etcde_election_rev(e));
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *name = argc > 2 ? argv[2] : "my-shards";
    int n = argc > 3 ? atoi(argv[3]) : 16, i, rc = 1, all_said = 0;
    etcde_options o;
    etcde_session_options so;
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    static etcde_election *e[MAX_SHARDS];
    struct sigaction sa;
    etcde_result r;
    if (n < 1 || n > MAX_SHARDS) {
        fprintf(stderr, "N must be 1..%d\n", MAX_SHARDS);
        return 2;
    }
    memset(&o, 0, sizeof o);
    o.endpoints = argc > 1 ? argv[1] : NULL;
    o.callbacks_in_process = 1;
    memset(&so, 0, sizeof so);
    so.ttl_s = 5;
    if ((r = etcde_client_create(&o, &c)) != ETCDE_OK ||
        (r = etcde_session_create(c, &so, &s)) != ETCDE_OK) {
        fprintf(stderr, "%s\n", etcde_client_errmsg(c));
        goto out;
    }
    if (pipe(sig_pipe) != 0) goto out;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (i = 0; i < n; i++) {
        char shard[256];
        snprintf(shard, sizeof shard, "%s/%d", name, i);
        if ((r = etcde_election_create(c, s, shard, &e[i])) != ETCDE_OK) {
            fprintf(stderr, "%s\n", etcde_client_errmsg(c));
            goto out;
        }
        /* no timeout: wait for as long as the shard is someone else's */
        if ((r = etcde_campaign_async(e[i], "me", 2, -1, on_campaign, (void *)(intptr_t)i))) {
            fprintf(stderr, "shard %d: %s\n", i, etcde_election_errmsg(e[i]));
            goto out;
        }
    }
    printf("campaigning for %d shards of %s\n", n, name);
    fflush(stdout);
    for (;;) {
        struct pollfd p[3];
        p[0].fd = etcde_client_fd(c);  /* callbacks are waiting */
        p[1].fd = etcde_session_fd(s); /* readable once the session is lost */
        p[2].fd = sig_pipe[0];
        p[0].events = p[1].events = p[2].events = POLLIN;
        p[0].revents = p[1].revents = p[2].revents = 0; /* poll leaves them on EINTR */
        if (poll(p, 3, -1) < 0 && errno != EINTR) break;
        if (p[0].revents) etcde_client_process(c);
        if (leading == n && !all_said++) {
            printf("leading all %d shards\n", n);
            fflush(stdout);
        }
        if (failures || p[1].revents) {
            fprintf(stderr, "%s\n", failures ? "a campaign failed" : etcde_session_errmsg(s));
            break;
        }
        if (p[2].revents) {
            rc = 0;
            break;
        }
    }
out:
    /* destroying a waiting handle ends its campaign (its key goes); resign the ones led */
    for (i = 0; i < n; i++) {
        if (e[i] && etcde_is_leader(e[i])) etcde_resign(e[i]);
        etcde_election_destroy(e[i]);
    }
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    return rc;
}
