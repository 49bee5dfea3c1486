/* Demonstrates a distributed lock: take it (waiting at most 10 s), do work while holding
   it -- fenced writes that land only while the lock is still ours -- and unlock; and
   trylock, which fails at once with ETCDE_ERR_LOCKED while another session holds it.
   The lock is the same as `etcdctl lock NAME`: both exclude each other.

     lock [ENDPOINTS] [LOCKNAME]
   ENDPOINTS defaults to $ETCDCTL_ENDPOINTS, else 127.0.0.1:2379; LOCKNAME to my-lock. */
#define _POSIX_C_SOURCE 200809L
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int failed(const char *what, etcde_result r, const char *detail) {
    fprintf(stderr, "%s: %s\n", what, detail[0] ? detail : etcde_strerror(r));
    return 1;
}

int main(int argc, char **argv) {
    const char *name = argc > 2 ? argv[2] : "my-lock";
    etcde_options o;
    etcde_session_options so;
    etcde_client *c;
    etcde_session *s1 = NULL, *s2 = NULL;
    etcde_election *m1 = NULL, *m2 = NULL;
    etcde_result r;
    int i, rc = 1;

    memset(&o, 0, sizeof o);
    o.endpoints = argc > 1 ? argv[1] : NULL; /* NULL: $ETCDCTL_ENDPOINTS or 127.0.0.1:2379 */
    if ((r = etcde_client_create(&o, &c)) != ETCDE_OK)
        return failed("client", r, etcde_client_errmsg(NULL));
    memset(&so, 0, sizeof so);
    so.ttl_s = 10; /* if this process dies, the lock frees itself within 10 s */
    /* two sessions stand for two processes competing for the lock */
    if ((r = etcde_session_create(c, &so, &s1)) || (r = etcde_session_create(c, &so, &s2))) {
        failed("session", r, etcde_client_errmsg(c));
        goto out;
    }
    if ((r = etcde_election_create(c, s1, name, &m1)) ||
        (r = etcde_election_create(c, s2, name, &m2))) {
        failed("lock handle", r, etcde_client_errmsg(c));
        goto out;
    }
    if ((r = etcde_lock(m1, 10000)) != ETCDE_OK) { /* blocks while someone else holds it */
        failed("lock", r, etcde_election_errmsg(m1));
        goto out;
    }
    printf("locked %s as %s, fencing token %lld\n", name, etcde_election_key(m1),
           (long long)etcde_election_rev(m1));

    r = etcde_trylock(m2); /* the other "process": does not wait */
    if (r != ETCDE_ERR_LOCKED) {
        failed("trylock while locked (expected ETCDE_ERR_LOCKED)", r, etcde_election_errmsg(m2));
        goto out;
    }
    printf("trylock from another session: %s (%s)\n", etcde_strerror(r), etcde_election_errmsg(m2));

    for (i = 1; i <= 3 && etcde_is_leader(m1); i++) { /* the work */
        char key[128], val[32];
        struct timespec pause = {0, 200000000L};
        snprintf(key, sizeof key, "%s-data/step", name);
        snprintf(val, sizeof val, "step %d", i);
        if ((r = etcde_election_put(m1, key, val, strlen(val))) != ETCDE_OK) { /* fenced */
            failed("fenced put", r, etcde_election_errmsg(m1));
            goto out;
        }
        printf("wrote %s = %s\n", key, val);
        nanosleep(&pause, NULL);
    }
    if ((r = etcde_unlock(m1)) != ETCDE_OK) {
        failed("unlock", r, etcde_election_errmsg(m1));
        goto out;
    }
    printf("unlocked\n");

    if ((r = etcde_trylock(m2)) != ETCDE_OK) { /* free now: taken at once */
        failed("trylock after unlock", r, etcde_election_errmsg(m2));
        goto out;
    }
    printf("trylock from another session: ok, %s holds it\n", etcde_election_key(m2));
    if ((r = etcde_unlock(m2)) != ETCDE_OK) {
        failed("unlock", r, etcde_election_errmsg(m2));
        goto out;
    }
    rc = 0;
out:
    etcde_election_destroy(m1);
    etcde_election_destroy(m2);
    etcde_session_destroy(s1); /* revokes the lease: deletes any key left on it */
    etcde_session_destroy(s2);
    etcde_client_destroy(c);
    return rc;
}
