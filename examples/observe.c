/* Demonstrates observing an election without taking part in it: prints the current
   leader of an election, then every change (new leader, new value, nobody leads),
   until Ctrl-C. An observer needs no session, so it holds no lease and no key.

     observe [ENDPOINTS] [ELECTION]
   ENDPOINTS defaults to $ETCDCTL_ENDPOINTS, else 127.0.0.1:2379; ELECTION to my-election.
   Try it next to `etcdctl elect my-election A` and `build/demo -name B`. */
#define _POSIX_C_SOURCE 200809L
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static etcde_client *client;

static void on_sigint(int sig) {
    (void)sig;
    etcde_client_cancel(client); /* async-signal-safe: etcde_observe returns CANCELLED */
}

/* Called with the current state first, then at every change. */
static int on_change(etcde_event_type type, const etcde_kv *leader, int64_t rev, void *user_data) {
    (void)user_data;
    if (type == ETCDE_EVENT_LEADER)
        printf("[rev %lld] leader %.*s, value \"%.*s\", fencing token %lld\n", (long long)rev,
               (int)leader->key_len, leader->key, (int)leader->value_len, leader->value,
               (long long)leader->create_rev);
    else
        printf("[rev %lld] no leader\n", (long long)rev);
    fflush(stdout);
    return 0; /* non-zero would stop observing */
}

int main(int argc, char **argv) {
    const char *name = argc > 2 ? argv[2] : "my-election";
    etcde_options o;
    etcde_election *e;
    etcde_result r;
    struct sigaction sa;

    memset(&o, 0, sizeof o);
    o.endpoints = argc > 1 ? argv[1] : NULL; /* NULL: $ETCDCTL_ENDPOINTS or 127.0.0.1:2379 */
    if ((r = etcde_client_create(&o, &client)) != ETCDE_OK) {
        fprintf(stderr, "client: %s\n", etcde_client_errmsg(NULL));
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);

    /* NULL session: an observer. It may call etcde_leader and etcde_observe only. */
    if ((r = etcde_election_create(client, NULL, name, &e)) != ETCDE_OK) {
        fprintf(stderr, "election: %s\n", etcde_client_errmsg(client));
        etcde_client_destroy(client);
        return 1;
    }
    printf("observing %s (Ctrl-C to stop)\n", name);
    r = etcde_observe(e, on_change, NULL, -1); /* -1: until cancelled */
    if (r == ETCDE_ERR_CANCELLED)
        printf("stopped\n");
    else
        fprintf(stderr, "observe: %s\n", etcde_election_errmsg(e));

    etcde_election_destroy(e);
    etcde_client_destroy(client);
    return r == ETCDE_ERR_CANCELLED ? 0 : 1;
}
