/* The classic etcd election demo, in C: every instance campaigns on "my-election"; the
   leader says so, the others follow; Ctrl-C resigns and another instance takes over at once.

     demo -name A [-endpoints 127.0.0.1:2379] [-ttl 60]

   Prints "session leaseId is <id>" first; then, at every change of leader, "get master with:
   <value>", followed by "slave!" when that leader is another instance; once elected, "oh, i'm
   master" and the own key with its fencing token. Ctrl-C or SIGTERM resigns ("Got signal:
   interrupt" / "terminated"); a lost session ends it with status 1. */
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static etcde_client *client;
static volatile sig_atomic_t got_signal;

static void on_signal(int sig) {
    got_signal = sig;
    etcde_client_cancel(client); /* async-signal-safe: wakes campaign and observe */
}

/* "oh, i'm master" comes once the campaign has won and the observer has shown the own key
   as the leader, whichever is later, so it always follows its "get master with:" line. */
static pthread_mutex_t say_mu = PTHREAD_MUTEX_INITIALIZER;
static int won, shown;
static char own_key[64];

static void announce(int *flag, etcde_election *cand) {
    pthread_mutex_lock(&say_mu);
    *flag = 1;
    if (won == 1 && shown) {
        won = 2;
        printf("oh, i'm master\nkey %s, fencing token %lld\n", own_key,
               (long long)etcde_election_rev(cand));
    }
    pthread_mutex_unlock(&say_mu);
}

typedef struct {
    etcde_election *e;
    const char *name;
} campaign_arg;

static void *campaign_main(void *p) {
    campaign_arg *a = (campaign_arg *)p;
    etcde_result r = etcde_campaign(a->e, a->name, strlen(a->name), -1);
    if (r == ETCDE_OK)
        announce(&won, a->e);
    else if (r != ETCDE_ERR_CANCELLED)
        fprintf(stderr, "campaign: %s\n", etcde_election_errmsg(a->e));
    return NULL;
}

static int on_leader(etcde_event_type type, const etcde_kv *kv, int64_t rev, void *ud) {
    (void)rev;
    if (type != ETCDE_EVENT_LEADER) {
        printf("get master with: (none)\n");
    } else {
        printf("get master with: %.*s\n", (int)kv->value_len, kv->value);
        if (strcmp(kv->key, own_key) != 0)
            printf("slave!\n");
        else
            announce(&shown, (etcde_election *)ud);
    }
    return got_signal != 0;
}

typedef struct {
    etcde_election *watcher, *cand;
} observe_arg;

static void *observe_main(void *p) {
    observe_arg *a = (observe_arg *)p;
    etcde_result r = etcde_observe(a->watcher, on_leader, a->cand, -1);
    if (r != ETCDE_OK && r != ETCDE_ERR_CANCELLED)
        fprintf(stderr, "observe: %s\n", etcde_election_errmsg(a->watcher));
    return NULL;
}

int main(int argc, char **argv) {
    etcde_options o = {0};
    etcde_session_options so = {0};
    etcde_session *s;
    etcde_election *cand, *watcher;
    campaign_arg ca;
    observe_arg oa;
    pthread_t tc, to;
    struct sigaction sa;
    struct pollfd lost;
    const char *name = NULL;
    int i, n;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 1; i + 1 < argc; i += 2) {
        const char *f = argv[i] + (argv[i][0] == '-' && argv[i][1] == '-'); /* -x or --x */
        if (!strcmp(f, "-name"))
            name = argv[i + 1];
        else if (!strcmp(f, "-endpoints"))
            o.endpoints = argv[i + 1];
        else if (!strcmp(f, "-ttl"))
            so.ttl_s = atoi(argv[i + 1]);
        else
            break;
    }
    if (!name || i < argc) {
        fprintf(stderr, "usage: %s -name NAME [-endpoints H:P,...] [-ttl SECONDS]\n", argv[0]);
        return 2;
    }
    if (etcde_client_create(&o, &client) != ETCDE_OK) {
        fprintf(stderr, "client: %s\n", etcde_client_errmsg(NULL));
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (etcde_session_create(client, &so, &s) != ETCDE_OK) {
        fprintf(stderr, "session: %s\n", etcde_client_errmsg(client));
        etcde_client_destroy(client);
        return 1;
    }
    printf("session leaseId is %lld\n", (long long)etcde_session_lease(s));
    snprintf(own_key, sizeof own_key, "my-election/%llx",
             (unsigned long long)etcde_session_lease(s)); /* the key layout: NAME/<lease hex> */
    if (etcde_election_create(client, s, "my-election", &cand) ||
        etcde_election_create(client, NULL, "my-election", &watcher)) {
        fprintf(stderr, "election: %s\n", etcde_client_errmsg(client));
        return 1;
    }
    ca.e = cand;
    ca.name = name;
    oa.watcher = watcher;
    oa.cand = cand;
    pthread_create(&tc, NULL, campaign_main, &ca);
    pthread_create(&to, NULL, observe_main, &oa);

    lost.fd = etcde_session_fd(s); /* readable once the session is lost */
    lost.events = POLLIN;
    do n = poll(&lost, 1, 1000); /* a signal ends it early (EINTR) */
    while (!got_signal && (n == 0 || (n < 0 && errno == EINTR)));
    if (got_signal)
        printf("Got signal: %s\n", got_signal == SIGINT ? "interrupt" : "terminated");
    else
        printf("session lost: %s\n", etcde_session_errmsg(s));
    etcde_client_cancel(client);
    pthread_join(tc, NULL);
    pthread_join(to, NULL);
    if (etcde_resign(cand) != ETCDE_OK)
        fprintf(stderr, "resign: %s\n", etcde_election_errmsg(cand));
    etcde_election_destroy(watcher);
    etcde_election_destroy(cand);
    etcde_session_destroy(s); /* revokes the lease */
    etcde_client_destroy(client);
    return got_signal ? 0 : 1;
}
