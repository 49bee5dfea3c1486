/* Demonstrates fenced writes: etcde_election_put writes a key in one transaction that
   also checks that our election key still has its create revision (the fencing token).
   While we lead the write lands; after resign the same call fails with
   ETCDE_ERR_NOT_LEADER and nothing is written -- also when we *think* we still lead but
   our key is gone (deleted by an operator, or expired while we were paused).

     fenced_write [ENDPOINTS]
   ENDPOINTS defaults to $ETCDCTL_ENDPOINTS, else 127.0.0.1:2379. */
#define _POSIX_C_SOURCE 200809L
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <stdio.h>
#include <string.h>

#define ELECTION "fenced-demo"
#define DATA_DIR "fenced-demo-data" /* the data key is the only key under DATA_DIR/ */
#define DATA_KEY DATA_DIR "/value"

static etcde_election *reader; /* observer on DATA_DIR: its "leader" is the data key */

static int failed(const char *what, etcde_result r, const char *detail) {
    fprintf(stderr, "%s: %s\n", what, detail[0] ? detail : etcde_strerror(r));
    return 1;
}

static void show(void) {
    etcde_kv kv;
    etcde_result r = etcde_leader(reader, &kv); /* reads the first key under DATA_DIR/ */
    if (r == ETCDE_OK)
        printf("  etcd has %s = \"%.*s\"\n", DATA_KEY, (int)kv.value_len, kv.value);
    else
        failed("read back", r, etcde_election_errmsg(reader));
}

static int put(etcde_election *e, const char *value) {
    etcde_result r = etcde_election_put(e, DATA_KEY, value, strlen(value));
    printf("fenced put \"%s\": %s%s%s\n", value, etcde_strerror(r), r ? ": " : "",
           r ? etcde_election_errmsg(e) : "");
    show();
    return r;
}

int main(int argc, char **argv) {
    etcde_options o;
    etcde_client *c;
    etcde_session *s = NULL;
    etcde_election *e = NULL;
    etcde_result r;
    int rc = 1;

    memset(&o, 0, sizeof o);
    o.endpoints = argc > 1 ? argv[1] : NULL; /* NULL: $ETCDCTL_ENDPOINTS or 127.0.0.1:2379 */
    if ((r = etcde_client_create(&o, &c)) != ETCDE_OK)
        return failed("client", r, etcde_client_errmsg(NULL));
    if ((r = etcde_session_create(c, NULL, &s)) != ETCDE_OK) {
        failed("session", r, etcde_client_errmsg(c));
        goto out;
    }
    if ((r = etcde_election_create(c, s, ELECTION, &e)) ||
        (r = etcde_election_create(c, NULL, DATA_DIR, &reader))) {
        failed("election", r, etcde_client_errmsg(c));
        goto out;
    }
    if ((r = etcde_campaign(e, "writer", 6, 10000)) != ETCDE_OK) {
        failed("campaign", r, etcde_election_errmsg(e));
        goto out;
    }
    printf("leading as %s, fencing token %lld\n", etcde_election_key(e),
           (long long)etcde_election_rev(e));
    if (put(e, "written while leading") != ETCDE_OK) goto out;

    if ((r = etcde_resign(e)) != ETCDE_OK) {
        failed("resign", r, etcde_election_errmsg(e));
        goto out;
    }
    printf("resigned\n");
    if (put(e, "stale write after resign") != ETCDE_ERR_NOT_LEADER) goto out;

    /* Lead again, then lose the key behind our back: the fenced delete of our own key
       stands in for `etcdctl del`. We still believe we lead, so this time the write
       reaches etcd -- and etcd's compare on the fencing token refuses it. */
    if ((r = etcde_campaign(e, "writer", 6, 10000)) != ETCDE_OK) {
        failed("campaign", r, etcde_election_errmsg(e));
        goto out;
    }
    printf("leading again with fencing token %lld; deleting our key behind our back\n",
           (long long)etcde_election_rev(e));
    if ((r = etcde_election_delete(e, etcde_election_key(e))) != ETCDE_OK) {
        failed("delete", r, etcde_election_errmsg(e));
        goto out;
    }
    if (put(e, "stale write after losing the key") != ETCDE_ERR_NOT_LEADER) goto out;
    rc = 0;
out:
    etcde_election_destroy(reader);
    etcde_election_destroy(e);
    etcde_session_destroy(s); /* revokes the lease */
    etcde_client_destroy(c);
    return rc;
}
