/* Demonstrates the classic etcd election demo in C: every instance campaigns on
   "my-election"; the leader says so, the others follow; Ctrl-C resigns and another
   instance takes over at once.

     demo -name A [-endpoints 127.0.0.1:2379] [-ttl 60]

   Prints "session leaseId is <id>", then "get master with: <value>" whenever the leader
   changes and every second, and every 5 s "oh, i'm master" or "slave!". */
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static etcde_client *client;
static volatile sig_atomic_t got_signal;

static void on_signal(int sig) {
    got_signal = sig;
    etcde_client_cancel(client); /* async-signal-safe: wakes campaign and observe */
}

typedef struct {
    etcde_election *e;
    const char *name;
    etcde_result result;
} campaign_arg;

static void *campaign_main(void *p) {
    campaign_arg *a = (campaign_arg *)p;
    a->result = etcde_campaign(a->e, a->name, strlen(a->name), -1);
    if (a->result != ETCDE_OK && a->result != ETCDE_ERR_CANCELLED)
        fprintf(stderr, "campaign: %s\n", etcde_election_errmsg(a->e));
    return NULL;
}

static int on_leader(etcde_event_type type, const etcde_kv *kv, int64_t rev, void *ud) {
    (void)rev;
    (void)ud;
    if (type == ETCDE_EVENT_LEADER)
        printf("get master with: %.*s\n", (int)kv->value_len, kv->value);
    else
        printf("get master with: (none)\n");
    return got_signal != 0;
}

static void *observe_main(void *p) {
    etcde_election *e = (etcde_election *)p;
    etcde_result r = etcde_observe(e, on_leader, NULL, -1);
    if (r != ETCDE_OK && r != ETCDE_ERR_CANCELLED)
        fprintf(stderr, "observe: %s\n", etcde_election_errmsg(e));
    return NULL;
}

int main(int argc, char **argv) {
    etcde_options o = {0};
    etcde_session_options so = {0};
    etcde_session *s;
    etcde_election *cand, *watcher, *query;
    campaign_arg ca;
    pthread_t tc, to;
    struct sigaction sa;
    const char *name = NULL;
    int i, tick = 0;
    etcde_result r;

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
    if ((r = etcde_client_create(&o, &client)) != ETCDE_OK) {
        fprintf(stderr, "client: %s\n", etcde_client_errmsg(NULL));
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if ((r = etcde_session_create(client, &so, &s)) != ETCDE_OK) {
        fprintf(stderr, "session: %s\n", etcde_client_errmsg(client));
        etcde_client_destroy(client);
        return 1;
    }
    printf("session leaseId is %lld\n", (long long)etcde_session_lease(s));
    if (etcde_election_create(client, s, "my-election", &cand) ||
        etcde_election_create(client, NULL, "my-election", &watcher) ||
        etcde_election_create(client, NULL, "my-election", &query)) {
        fprintf(stderr, "election: %s\n", etcde_client_errmsg(client));
        return 1;
    }
    ca.e = cand;
    ca.name = name;
    ca.result = ETCDE_OK;
    pthread_create(&tc, NULL, campaign_main, &ca);
    pthread_create(&to, NULL, observe_main, watcher);

    while (!got_signal && etcde_session_remaining_ms(s) > 0) {
        struct timespec one = {1, 0};
        etcde_kv kv;
        nanosleep(&one, NULL); /* a signal ends it early */
        if (got_signal) break;
        if (etcde_leader(query, &kv) == ETCDE_OK)
            printf("get master with: %.*s\n", (int)kv.value_len, kv.value);
        if (++tick % 5 == 0) printf("%s\n", etcde_is_leader(cand) ? "oh, i'm master" : "slave!");
    }
    if (got_signal)
        printf("Got signal: %s\n", got_signal == SIGINT ? "interrupt" : "terminated");
    else
        printf("session lost: %s\n", etcde_session_errmsg(s));
    etcde_client_cancel(client);
    pthread_join(tc, NULL);
    pthread_join(to, NULL);
    if ((r = etcde_resign(cand)) != ETCDE_OK)
        fprintf(stderr, "resign: %s\n", etcde_election_errmsg(cand));
    etcde_election_destroy(query);
    etcde_election_destroy(watcher);
    etcde_election_destroy(cand);
    etcde_session_destroy(s); /* revokes the lease */
    etcde_client_destroy(client);
    return got_signal ? 0 : 1;
}
