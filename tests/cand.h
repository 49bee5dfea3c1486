/* tests/cand.h - candidates for the integration tests: each has its own client, session
   and election, and campaigns (or, with `lock` set, locks) on a thread of its own, or in a
   child process (cand_spawn) for the tests that kill or stop it. Include after
   etcdt_test.h, etcdt_proc.h, etcdt_etcd.h and the implementation of etcd_elect.h. */
#ifndef ETCDT_CAND_H
#define ETCDT_CAND_H

typedef struct cand {
    etcde_client *c;
    etcde_session *s;
    etcde_election *e;
    char endpoints[512];
    char name[128];
    char value[32];
    int lock;       /* > 0: etcde_lock_n with this many holders instead of etcde_campaign */
    int timeout_ms; /* for the campaign; -1 (the default) waits until closed */
    pthread_t th;
    int started;
    int done; /* atomic */
    etcde_result result;
    int64_t done_at;
    int64_t lost_at; /* atomic: CLOCK_MONOTONIC ms of the on_lost callback, 0 before */
} cand;

/* Set in a child of cand_spawn that reports loss (MODE "loop"). */
ETCDT_VAR int cand__print_lost;

ETCDT_FN void cand_on_lost(etcde_session *s, etcde_result why, const char *detail, void *ud) {
    cand *k = (cand *)ud;
    int64_t now = etcdt_now_ms();
    (void)s;
    __atomic_store_n(&k->lost_at, now, __ATOMIC_RELEASE);
    if (cand__print_lost) {
        printf("lost t=%lld why=%s detail=%s\n", (long long)now, etcde_strerror(why), detail);
        fflush(stdout);
    }
}

/* A client on `endpoints` (logging down to DEBUG into `log`, if given), a session with
   `ttl`, an election `name`; 0 or -1 (said on stderr). */
ETCDT_FN int cand_open_on(cand *k, const char *endpoints, const char *name, const char *value,
                          int ttl, etcde_log_fn log, void *log_ud) {
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
    snprintf(k->endpoints, sizeof k->endpoints, "%s", endpoints);
    snprintf(k->name, sizeof k->name, "%s", name);
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

/* k's campaign, or its lock. */
ETCDT_FN etcde_result cand_campaign(cand *k, int timeout_ms) {
    if (k->lock == 1) return etcde_lock(k->e, timeout_ms);
    if (k->lock) return etcde_lock_n(k->e, k->lock, timeout_ms);
    return etcde_campaign(k->e, k->value, strlen(k->value), timeout_ms);
}

ETCDT_FN void *cand_main(void *p) {
    cand *k = (cand *)p;
    k->result = cand_campaign(k, k->timeout_ms);
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
ETCDT_FN int cand_wait(cand *k, int timeout_ms) { return etcdt_wait_int(&k->done, 1, timeout_ms); }

/* 1 once NAME/ holds n_keys keys (within timeout_ms): a started candidate has put its key
   up and waits. Its campaign watches from the revision of that put, so whatever happens
   to the queue from then on reaches it in order. */
ETCDT_FN int cand_wait_queued(cand *k, int n_keys, int timeout_ms) {
    return etcdt_wait_keys(k->endpoints, k->name, n_keys, timeout_ms);
}

/* a leads (elected), w waits behind it (campaign running on its thread); 0 if so. */
ETCDT_FN int cand_lead_and_queue(cand *a, cand *w) {
    if (cand_campaign(a, 5000) != ETCDE_OK) return -1;
    cand_start(w);
    return cand_wait_queued(w, 2, 5000) && !cand_done(w) ? 0 : -1;
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

/* ---- a candidate in a child process ------------------------------------------------- */

/* This program as `--cand MODE ENDPOINTS NAME VALUE TTL`: main hands argv + 2 to
   cand_child. */
ETCDT_FN etcdt_proc *cand_spawn(const char *mode, const char *endpoints, const char *name,
                                const char *value, int ttl) {
    char ttls[16], *argv[8];
    snprintf(ttls, sizeof ttls, "%d", ttl);
    argv[0] = (char *)etcdt_self_path();
    argv[1] = (char *)"--cand";
    argv[2] = (char *)mode;
    argv[3] = (char *)endpoints;
    argv[4] = (char *)name;
    argv[5] = (char *)value;
    argv[6] = ttls;
    argv[7] = NULL;
    return etcdt_spawn(argv, NULL);
}

/* argv: MODE ENDPOINTS NAME VALUE TTL. Prints "queued LEASE", campaigns with no timeout
   (MODE "lock": locks; "lockN": N may hold it), prints "campaign RESULT leader=N" ("lock RESULT
   locked=N"), then idles until killed. MODE "loop" goes on instead: every 20 ms "leader=N t=T0/T1"
   (CLOCK_MONOTONIC ms around etcde_is_leader), once "fd t=..." when etcde_session_fd
   turns readable, and "lost t=..." from on_lost. */
ETCDT_FN int cand_child(char **argv) {
    cand k;
    int lock = strncmp(argv[0], "lock", 4) ? 0 : argv[0][4] ? atoi(argv[0] + 4) : 1, fd_seen = 0;
    cand__print_lost = !strcmp(argv[0], "loop");
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (cand_open_on(&k, argv[1], argv[2], argv[3], atoi(argv[4]), NULL, NULL)) {
        printf("setup failed\n");
        return 1;
    }
    k.lock = lock;
    printf("queued %llx\n", (unsigned long long)etcde_session_lease(k.s));
    k.result = cand_campaign(&k, -1);
    printf("%s %s %s=%d\n", lock ? "lock" : "campaign",
           k.result == ETCDE_OK ? "OK" : etcde_strerror(k.result), lock ? "locked" : "leader",
           etcde_is_leader(k.e));
    fflush(stdout);
    if (!cand__print_lost)
        for (;;) pause();
    for (;;) {
        int64_t t0 = etcdt_now_ms();
        int lead = etcde_is_leader(k.e);
        int64_t t1 = etcdt_now_ms();
        printf("leader=%d t=%lld/%lld\n", lead, (long long)t0, (long long)t1);
        fflush(stdout);
        if (!fd_seen) {
            struct pollfd p;
            p.fd = etcde_session_fd(k.s);
            p.events = POLLIN;
            p.revents = 0;
            if (poll(&p, 1, 20) == 1 && (p.revents & POLLIN)) {
                fd_seen = 1;
                printf("fd t=%lld\n", (long long)etcdt_now_ms());
                fflush(stdout);
            }
        } else {
            etcdt_sleep_ms(20);
        }
    }
}

#endif
