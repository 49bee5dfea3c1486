/* tests/cand.h - in-process candidates for the integration tests: each has its own client,
   session and election, and campaigns on a thread of its own. Include after etcdt_test.h and
   the implementation of etcd_elect.h. */
#ifndef ETCDT_CAND_H
#define ETCDT_CAND_H

typedef struct cand {
    etcde_client *c;
    etcde_session *s;
    etcde_election *e;
    char value[32];
    int timeout_ms; /* for the campaign; -1 (the default) waits until closed */
    pthread_t th;
    int started;
    int done; /* atomic */
    etcde_result result;
    int64_t done_at;
    int64_t lost_at; /* atomic: CLOCK_MONOTONIC ms of the on_lost callback, 0 before */
} cand;

ETCDT_FN void cand_on_lost(etcde_session *s, etcde_result why, const char *detail, void *ud) {
    cand *k = (cand *)ud;
    (void)s; (void)why; (void)detail;
    __atomic_store_n(&k->lost_at, etcdt_now_ms(), __ATOMIC_RELEASE);
}

/* A client on `endpoints` (logging down to DEBUG into `log`, if given), a session with
   `ttl`, an election `name`; 0 or -1 (said on stderr). */
ETCDT_FN int cand_open_on(cand *k, const char *endpoints, const char *name, const char *value, int ttl,
                          etcde_log_fn log, void *log_ud) {
    etcde_options o = {0};
    etcde_session_options so = {0};
    memset(k, 0, sizeof *k);
    o.endpoints = endpoints;
    o.log = log;
    o.log_user_data = log_ud;
    o.log_level = ETCDE_LOG_DEBUG;
    so.ttl_s = ttl;
    so.on_lost = cand_on_lost;
    so.user_data = k;
    snprintf(k->value, sizeof k->value, "%s", value);
    k->timeout_ms = -1;
    if (etcde_client_create(&o, &k->c)) return -1;
    if (etcde_session_create(k->c, &so, &k->s)) {
        fprintf(stderr, "session on %s: %s\n", endpoints, etcde_client_errmsg(k->c));
        return -1;
    }
    if (etcde_election_create(k->c, k->s, name, &k->e)) {
        fprintf(stderr, "election: %s\n", etcde_client_errmsg(k->c));
        return -1;
    }
    return 0;
}

ETCDT_FN void *cand_main(void *p) {
    cand *k = (cand *)p;
    k->result = etcde_campaign(k->e, k->value, strlen(k->value), k->timeout_ms);
    k->done_at = etcdt_now_ms();
    __atomic_store_n(&k->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

ETCDT_FN void cand_start(cand *k) {
    k->started = 1;
    pthread_create(&k->th, NULL, cand_main, k);
}

ETCDT_FN int cand_done(cand *k) { return __atomic_load_n(&k->done, __ATOMIC_ACQUIRE); }

/* 1 if the campaign returned within timeout_ms. */
ETCDT_FN int cand_wait(cand *k, int timeout_ms) {
    int64_t end = etcdt_now_ms() + timeout_ms;
    while (!cand_done(k) && etcdt_now_ms() < end) etcdt_sleep_ms(2);
    return cand_done(k);
}

/* a leads (elected), w waits behind it (campaign running on its thread); 0 if so. */
ETCDT_FN int cand_lead_and_queue(cand *a, cand *w) {
    if (etcde_campaign(a->e, a->value, strlen(a->value), 5000) != ETCDE_OK) return -1;
    cand_start(w);
    etcdt_sleep_ms(300);
    return cand_done(w) ? -1 : 0;
}

/* Cancels a running campaign, then frees everything (the session revokes its lease). */
ETCDT_FN void cand_close(cand *k) {
    if (k->started) {
        etcde_client_cancel(k->c);
        pthread_join(k->th, NULL);
        k->started = 0;
    }
    etcde_election_destroy(k->e);
    etcde_session_destroy(k->s);
    etcde_client_destroy(k->c);
    k->e = NULL;
    k->s = NULL;
    k->c = NULL;
}

#endif
