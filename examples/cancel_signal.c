/* Demonstrates cancelling a blocking call from a signal handler: a candidate waits in
   etcde_campaign behind another leader; Ctrl-C (or SIGALRM after 3 s) calls
   etcde_client_cancel, which is async-signal-safe, and the campaign returns
   ETCDE_ERR_CANCELLED -- after deleting the candidate's key, so it leaves no trace in the
   queue.

     cancel_signal [ENDPOINTS]
   ENDPOINTS defaults to $ETCDCTL_ENDPOINTS, else 127.0.0.1:2379. */
#define _POSIX_C_SOURCE 200809L
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static etcde_client *client;

static void on_signal(int sig) {
    (void)sig;
    etcde_client_cancel(client); /* all a handler may do: wakes every blocking call */
}

static int failed(const char *what, etcde_result r, const char *detail) {
    fprintf(stderr, "%s: %s\n", what, detail[0] ? detail : etcde_strerror(r));
    return 1;
}

int main(int argc, char **argv) {
    etcde_options o;
    etcde_session *s1 = NULL, *s2 = NULL;
    etcde_election *leader = NULL, *waiter = NULL;
    struct sigaction sa;
    etcde_result r;
    int rc = 1;

    memset(&o, 0, sizeof o);
    o.endpoints = argc > 1 ? argv[1] : NULL; /* NULL: $ETCDCTL_ENDPOINTS or 127.0.0.1:2379 */
    if ((r = etcde_client_create(&o, &client)) != ETCDE_OK)
        return failed("client", r, etcde_client_errmsg(NULL));
    if ((r = etcde_session_create(client, NULL, &s1)) ||
        (r = etcde_session_create(client, NULL, &s2))) {
        failed("session", r, etcde_client_errmsg(client));
        goto out;
    }
    if ((r = etcde_election_create(client, s1, "cancel-demo", &leader)) ||
        (r = etcde_election_create(client, s2, "cancel-demo", &waiter))) {
        failed("election", r, etcde_client_errmsg(client));
        goto out;
    }
    if ((r = etcde_campaign(leader, "first", 5, 10000)) != ETCDE_OK) {
        failed("campaign", r, etcde_election_errmsg(leader));
        goto out;
    }
    printf("%s leads; a second candidate now waits behind it\n", etcde_election_key(leader));

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    alarm(3);
    printf("press Ctrl-C (or wait 3 s)\n");
    fflush(stdout);

    r = etcde_campaign(waiter, "second", 6, -1); /* would wait for ever */
    alarm(0);
    if (r != ETCDE_ERR_CANCELLED) {
        failed("campaign (expected ETCDE_ERR_CANCELLED)", r, etcde_election_errmsg(waiter));
        goto out;
    }
    printf("campaign returned %s; the waiting key was deleted\n", etcde_strerror(r));

    etcde_client_uncancel(client); /* blocking calls work again */
    if ((r = etcde_resign(leader)) != ETCDE_OK) {
        failed("resign", r, etcde_election_errmsg(leader));
        goto out;
    }
    printf("first candidate resigned\n");
    rc = 0;
out:
    etcde_election_destroy(leader);
    etcde_election_destroy(waiter);
    etcde_session_destroy(s1);
    etcde_session_destroy(s2);
    etcde_client_destroy(client);
    return rc;
}
