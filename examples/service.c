/* A long-running service that works only while it leads: the shape of a leader-only daemon.

     service [-e ENDPOINTS] [-E ELECTION] [-t TTL_S] [-i TICK_MS] NAME

   It campaigns as NAME on ELECTION (default "service") with a session of its own (TTL_S,
   default 60). Leading, it does one step of work every TICK_MS (default 1000): a fenced write
   of "NAME tick N, token T" to the key ELECTION-work, which etcd applies only while its
   election key still stands. It learns of a loss in two ways: the session's fd turns readable
   when the lease expired, was revoked or could not be renewed in time; the fenced write is
   refused when the key itself was deleted. Either way it stops working at once, drops that
   session and campaigns again with a new one. SIGTERM or SIGINT resigns, so the next
   candidate takes over at once, and exits 0.

   It prints "campaigning, lease L" (hex), "leading as KEY, fencing token T", "tick N, token
   T", "lost: WHY", and at the end "resigned" or "left the queue"; errors go to stderr. */
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

static etcde_client *client;
static volatile sig_atomic_t stopping;
static int stop_pipe[2]; /* the signal handler writes a byte: poll wakes up */

static void on_signal(int sig) {
    int saved = errno;
    (void)sig;
    stopping = 1;
    etcde_client_cancel(client);           /* a campaign or a write returns CANCELLED */
    if (write(stop_pipe[1], "", 1) < 0) {} /* full pipe: a wakeup is pending anyway */
    errno = saved;
}

/* SIGTERM and SIGINT stop the service, once the client exists (the handler cancels it). */
static int catch_stop_signals(void) {
    struct sigaction sa;
    if (pipe(stop_pipe) != 0 || fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK) != 0) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    return sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 ? -1 : 0;
}

typedef struct config {
    const char *name, *election;
    char work_key[256];
    int tick_ms;
} config;

enum { GO_ON, STOP, LOST };

/* Waits up to ms for a stop or, with s, the loss of s. */
static int wait_for(etcde_session *s, int ms) {
    struct pollfd p[2];
    int n;
    p[0].fd = stop_pipe[0];
    p[1].fd = s ? etcde_session_fd(s) : -1; /* a negative fd is ignored */
    p[0].events = p[1].events = POLLIN;
    n = poll(p, 2, ms);
    if (stopping) return STOP;
    return n > 0 && p[1].revents ? LOST : GO_ON;
}

/* Works while leading; STOP on a signal, LOST when leadership is gone. */
static int lead(etcde_election *e, etcde_session *s, const config *c) {
    long tick = 0;
    long long token = (long long)etcde_election_rev(e);
    printf("leading as %s, fencing token %lld\n", etcde_election_key(e), token);
    for (;;) {
        char step[300];
        int n = snprintf(step, sizeof step, "%s tick %ld, token %lld", c->name, ++tick, token);
        etcde_result r = etcde_election_put(e, c->work_key, step, (size_t)n);
        if (r == ETCDE_OK) {
            printf("tick %ld, token %lld\n", tick, token);
        } else if (r == ETCDE_ERR_NOT_LEADER) {
            printf("lost: the work was refused: %s\n", etcde_election_errmsg(e));
            return LOST;
        } else if (r != ETCDE_ERR_CANCELLED) { /* may have been applied; loss comes by the fd */
            fprintf(stderr, "tick %ld: %s\n", tick, etcde_election_errmsg(e));
        }
        switch (wait_for(s, c->tick_ms)) {
        case STOP: return STOP;
        case LOST: printf("lost: the session ended: %s\n", etcde_session_errmsg(s)); return LOST;
        }
    }
}

/* One session: campaign, lead, and resign on a stop. STOP, LOST or GO_ON (after an error). */
static int serve(etcde_session *s, const config *c) {
    etcde_election *e;
    etcde_result r;
    int how = GO_ON;
    if (etcde_election_create(client, s, c->election, &e) != ETCDE_OK) {
        fprintf(stderr, "election: %s\n", etcde_client_errmsg(client));
        return GO_ON;
    }
    printf("campaigning, lease %llx\n", (unsigned long long)etcde_session_lease(s));
    r = etcde_campaign(e, c->name, strlen(c->name), -1); /* blocks until elected */
    if (r == ETCDE_OK) {
        how = lead(e, s, c);
        if (how == STOP) {
            if (etcde_resign(e) == ETCDE_OK)
                printf("resigned\n");
            else
                fprintf(stderr, "resign: %s\n", etcde_election_errmsg(e));
        }
    } else if (stopping) {
        how = STOP; /* the campaign deleted its key */
        printf("left the queue\n");
    } else if (r == ETCDE_ERR_SESSION_LOST) {
        how = LOST;
        printf("lost: the session ended while waiting: %s\n", etcde_session_errmsg(s));
    } else {
        fprintf(stderr, "campaign: %s\n", etcde_election_errmsg(e));
    }
    etcde_election_destroy(e);
    return how;
}

int main(int argc, char **argv) {
    etcde_options o = {0};
    etcde_session_options so = {0};
    config c;
    int i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&c, 0, sizeof c);
    c.election = "service";
    c.tick_ms = 1000;
    while ((i = getopt(argc, argv, "e:E:t:i:")) != -1) {
        if (i == 'e')
            o.endpoints = optarg;
        else if (i == 'E')
            c.election = optarg;
        else if (i == 't')
            so.ttl_s = atoi(optarg);
        else if (i == 'i')
            c.tick_ms = atoi(optarg);
        else
            break;
    }
    if (i != -1 || optind + 1 != argc || c.tick_ms <= 0) {
        fprintf(stderr, "usage: %s [-e H:P,...] [-E ELECTION] [-t TTL_S] [-i TICK_MS] NAME\n",
                argv[0]);
        return 2;
    }
    c.name = argv[optind];
    snprintf(c.work_key, sizeof c.work_key, "%s-work", c.election);
    if (etcde_client_create(&o, &client) != ETCDE_OK) {
        fprintf(stderr, "client: %s\n", etcde_client_errmsg(NULL));
        return 1;
    }
    if (catch_stop_signals() != 0) {
        perror("stop signals");
        return 1;
    }

    while (!stopping) {
        etcde_session *s;
        if (etcde_session_create(client, &so, &s) != ETCDE_OK) {
            if (stopping) break;
            fprintf(stderr, "session: %s; again in 1 s\n", etcde_client_errmsg(client));
            wait_for(NULL, 1000);
            continue;
        }
        if (serve(s, &c) == GO_ON) wait_for(NULL, 1000); /* an error: do not spin */
        /* revokes the lease if it still stands */
        etcde_session_destroy(s);
    }
    etcde_client_destroy(client);
    return 0;
}
