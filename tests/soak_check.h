/* tests/soak_check.h - the soak's checker. soak_check(DIR, TTL, complete) reads the client
   histories DIR/c0..c7, the nemesis log DIR/nemesis and etcd's history DIR/etcd (see
   tests/soak.c for their lines), prints the figures and every violation, and returns the
   number of violations. Include after the implementation of etcd_elect.h (it reads etcd's
   JSON with the header's own reader). */
#ifndef SOAK_CHECK_H
#define SOAK_CHECK_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SC_CLIENTS 8

/* One act: a time, its term (the holder key's create revision), its group (0 elections,
   1 locks) and client. */
typedef struct sc_act {
    int64_t t, rev;
    int group, client;
} sc_act;

/* A term: a holder key's create revision, who held it, and its acts' span. */
typedef struct sc_term {
    int64_t rev, first, last, began; /* began: its "start"/"lead" record */
    int64_t ended;                   /* its "stop"/"end" record (0: none) */
    int group, client;
    char key[96];
    int64_t deleted; /* when the watcher saw its key deleted (0: never) */
} sc_term;

/* A fault from the nemesis log. */
typedef struct sc_fault {
    int64_t start, heal, cont; /* cont: a pause's SIGCONT */
    char kind[32];
    int client; /* -1: a member */
} sc_fault;

typedef struct sc {
    sc_act *acts;
    size_t nacts, capacts;
    sc_term *terms;
    size_t nterms, capterms;
    sc_fault *faults;
    size_t nfaults, capfaults;
    int ttl, violations[8];
    int64_t longest_resume;
    int resumes;
} sc;

enum {
    SC_OVERLAP,
    SC_TOKEN_ORDER,
    SC_AFTER_GONE,
    SC_STALE_WRITE,
    SC_WRITE_ORDER,
    SC_LIVENESS,
    SC_HANG,
    SC_LEAK
};
static const char *const sc_names[8] = {"overlapping terms",
                                        "token order of terms",
                                        "acting or leading after the key was gone",
                                        "fenced write accepted without its key",
                                        "fenced write tokens decreasing",
                                        "no leader within TTL + 2 s of a heal",
                                        "call past its timeout + 2 s",
                                        "descriptors or threads growing"};

static void *sc_grow(void *p, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return p;
    *cap = *cap ? *cap * 2 : 256;
    p = realloc(p, *cap * size);
    if (!p) abort();
    return p;
}

static void sc_violation(sc *s, int kind, const char *fmt, ...) ETCDT_PRINTF(3, 4);
static void sc_violation(sc *s, int kind, const char *fmt, ...) {
    va_list ap;
    if (s->violations[kind]++ < 5) { /* the first few of each kind, in full */
        printf("VIOLATION %s: ", sc_names[kind]);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
}

static sc_term *sc_term_of(sc *s, int64_t rev) {
    size_t i;
    for (i = s->nterms; i-- > 0;) /* recent terms are asked for most */
        if (s->terms[i].rev == rev) return &s->terms[i];
    return NULL;
}

static sc_term *sc_term_add(sc *s, int64_t rev, int group, int client) {
    sc_term *t = sc_term_of(s, rev);
    if (t) return t;
    s->terms = (sc_term *)sc_grow(s->terms, &s->capterms, s->nterms, sizeof *s->terms);
    t = &s->terms[s->nterms++];
    memset(t, 0, sizeof *t);
    t->rev = rev;
    t->group = group;
    t->client = client;
    return t;
}

static void sc_act_add(sc *s, int64_t t, int64_t rev, int group, int client) {
    sc_term *tm = sc_term_add(s, rev, group, client);
    s->acts = (sc_act *)sc_grow(s->acts, &s->capacts, s->nacts, sizeof *s->acts);
    s->acts[s->nacts].t = t;
    s->acts[s->nacts].rev = rev;
    s->acts[s->nacts].group = group;
    s->acts[s->nacts++].client = client;
    if (!tm->first || t < tm->first) tm->first = t;
    if (t > tm->last) tm->last = t;
}

/* The pause of `client` whose SIGCONT came at or before t and at most 5 s before it. */
static const sc_fault *sc_resumed(const sc *s, int client, int64_t t) {
    size_t i;
    for (i = 0; i < s->nfaults; i++) {
        const sc_fault *f = &s->faults[i];
        if (f->client == client && f->cont && f->cont <= t && t - f->cont <= 5000000) return f;
    }
    return NULL;
}

/* 1 if client was stopped at some moment in [a, b]. */
static int sc_paused_during(const sc *s, int client, int64_t a, int64_t b) {
    size_t i;
    for (i = 0; i < s->nfaults; i++) {
        const sc_fault *f = &s->faults[i];
        if (f->client == client && f->cont && f->start <= b && f->cont >= a) return 1;
    }
    return 0;
}

static void sc_read_nemesis(sc *s, const char *dir) {
    char path[600], line[256], kind[32], target[32];
    long long t;
    FILE *f;
    snprintf(path, sizeof path, "%s/nemesis", dir);
    if (!(f = fopen(path, "r"))) return;
    while (fgets(line, sizeof line, f)) {
        sc_fault *x = s->nfaults ? &s->faults[s->nfaults - 1] : NULL;
        char word[16];
        if (sscanf(line, "%lld %15s", &t, word) != 2) continue;
        if (!strcmp(word, "fault") && sscanf(line, "%lld fault %31s %31s", &t, kind, target) == 3) {
            s->faults = (sc_fault *)sc_grow(s->faults, &s->capfaults, s->nfaults, sizeof *x);
            x = &s->faults[s->nfaults++];
            memset(x, 0, sizeof *x);
            x->start = t;
            snprintf(x->kind, sizeof x->kind, "%s", kind);
            x->client = target[0] == 'c' ? atoi(target + 1) : -1;
        } else if (x && !strcmp(word, "cont")) {
            x->cont = t;
        } else if (x && !strcmp(word, "heal")) {
            x->heal = t;
        }
    }
    fclose(f);
}

/* One client's history: acts, terms, calls (hangs) and resources (leaks). */
static void sc_read_client(sc *s, const char *dir, int client) {
    char path[600], line[1024], word[16], text[512];
    long long t, a, b;
    int base_fds = -1, base_thr = -1, above = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/c%d", dir, client);
    if (!(f = fopen(path, "r"))) return;
    while (fgets(line, sizeof line, f)) {
        int group = client >= 6; /* lockers: tests/soak.c's clients 6 and 7 */
        text[0] = 0;
        if (sscanf(line, "%lld %15s %lld %511[^\n]", &t, word, &a, text) < 2) continue;
        if (!strcmp(word, "act")) {
            sc_act_add(s, t, a, group, client);
        } else if (!strcmp(word, "start") || !strcmp(word, "lead")) {
            sc_term *tm = sc_term_add(s, a, group, client);
            tm->began = t;
            sscanf(text, "%95s", tm->key);
        } else if (!strcmp(word, "stop") || !strcmp(word, "end")) {
            sc_term *tm = sc_term_add(s, a, group, client);
            if (!tm->ended) tm->ended = t;
        } else if (!strcmp(word, "boot")) {
            base_fds = base_thr = -1;
        } else if (!strcmp(word, "res") && sscanf(text, "%lld", &b) == 1) {
            /* after everything was destroyed: above the first count twice in a row is a leak
               (once may be a thread that /proc still counts just after its join) */
            above = base_fds >= 0 && (a > base_fds || b > base_thr) ? above + 1 : 0;
            if (above == 2)
                sc_violation(s, SC_LEAK, "c%d at %lld: %lld fds, %lld threads (first %d, %d)",
                             client, t / 1000, a, b, base_fds, base_thr);
            if (base_fds < 0 || above >= 2) base_fds = (int)a, base_thr = (int)b, above = 0;
        } else if (!strcmp(word, "call")) {
            char name[16];
            long long dur, tmo;
            if (sscanf(line, "%lld call %15s %lld %lld", &t, name, &dur, &tmo) == 4 &&
                dur > tmo + 2000 && !sc_paused_during(s, client, t - dur * 1000, t))
                sc_violation(s, SC_HANG, "c%d %s took %lld ms (timeout %lld ms) at %lld", client,
                             name, dur, tmo, t / 1000);
        }
    }
    fclose(f);
}

/* etcd's history: when each term's key went, and every register write checked against the
   writer's key at the write's revision. */
typedef struct sc_key {
    char key[96];
    int64_t created, deleted; /* revisions; deleted 0: still there */
} sc_key;

/* A write to a register that etcd accepted: its revision, the writer's token and key. */
typedef struct sc_write {
    int64_t mod, token;
    char key[96], reg[16];
} sc_write;

static sc_key *sc_key_at(sc_key *ks, size_t n, const char *key, int64_t rev) {
    size_t i;
    for (i = n; i-- > 0;)
        if (!strcmp(ks[i].key, key) && (rev == 0 || ks[i].created == rev)) return &ks[i];
    return NULL;
}

static int sc_read_etcd(sc *s, const char *dir) {
    char path[600];
    static char line[1 << 20];
    sc_key *keys = NULL;
    size_t nkeys = 0, capkeys = 0, nw = 0, capw = 0, i;
    sc_write *w = NULL;
    etcde__tok *tok = NULL;
    FILE *f;
    snprintf(path, sizeof path, "%s/etcd", dir);
    if (!(f = fopen(path, "r"))) return -1;
    while (fgets(line, sizeof line, f)) {
        long long t;
        int off = 0, n, evs, e;
        etcde__json j;
        if (sscanf(line, "%lld %n", &t, &off) != 1) continue;
        n = etcde__json_parse(line + off, (int)strlen(line + off), NULL, 0);
        if (n <= 0) continue;
        tok = (etcde__tok *)realloc(tok, sizeof *tok * (size_t)n);
        etcde__json_parse(line + off, (int)strlen(line + off), tok, n);
        j.s = line + off;
        j.t = tok;
        j.n = n;
        evs = etcde__jget(&j, 0, "Events");
        for (e = 0; evs >= 0 && e < j.t[evs].size; e++) {
            int ev = etcde__jat(&j, evs, e), kv = etcde__jget(&j, ev, "kv");
            int del = etcde__jint(&j, etcde__jget(&j, ev, "type"), 0) == 1;
            int64_t mod = etcde__jint(&j, etcde__jget(&j, kv, "mod_revision"), 0);
            int64_t created = etcde__jint(&j, etcde__jget(&j, kv, "create_revision"), 0);
            const char *k, *v;
            size_t kl, vl;
            char key[96];
            if (etcde__jb64(&j, etcde__jget(&j, kv, "key"), &k, &kl) ||
                etcde__jb64(&j, etcde__jget(&j, kv, "value"), &v, &vl) || kl >= sizeof key)
                continue;
            memcpy(key, k, kl);
            key[kl] = 0;
            if (del) {
                sc_key *x = sc_key_at(keys, nkeys, key, 0);
                sc_term *tm;
                if (x && !x->deleted) {
                    x->deleted = mod;
                    if ((tm = sc_term_of(s, x->created)) != NULL && !tm->deleted) tm->deleted = t;
                }
            } else if (created == mod) {
                keys = (sc_key *)sc_grow(keys, &capkeys, nkeys, sizeof *keys);
                snprintf(keys[nkeys].key, sizeof keys[nkeys].key, "%s", key);
                keys[nkeys].created = created;
                keys[nkeys++].deleted = 0;
            }
            if (!del && (!strcmp(key, "soak-reg") || !strcmp(key, "soak-lreg"))) {
                long long token;
                char wk[96];
                if (sscanf(v, "%lld %95s", &token, wk) != 2) continue;
                w = (sc_write *)sc_grow(w, &capw, nw, sizeof *w);
                w[nw].mod = mod;
                w[nw].token = token;
                snprintf(w[nw].key, sizeof w[nw].key, "%s", wk);
                snprintf(w[nw++].reg, sizeof w[0].reg, "%.15s", key);
            }
        }
    }
    fclose(f);
    for (i = 0; i < nw; i++) {
        sc_key *x = sc_key_at(keys, nkeys, w[i].key, w[i].token);
        size_t p;
        if (!x || w[i].mod < x->created || (x->deleted && w[i].mod >= x->deleted))
            sc_violation(s, SC_STALE_WRITE, "%s at revision %lld by %s (token %lld): key %s",
                         w[i].reg, (long long)w[i].mod, w[i].key, (long long)w[i].token,
                         x ? "deleted before" : "never created");
        for (p = i; p-- > 0;)
            if (!strcmp(w[p].reg, w[i].reg)) {
                if (w[p].token > w[i].token)
                    sc_violation(s, SC_WRITE_ORDER, "%s at revision %lld has token %lld after %lld",
                                 w[i].reg, (long long)w[i].mod, (long long)w[i].token,
                                 (long long)w[p].token);
                break;
            }
    }
    printf("etcd history: %lu keys, %lu accepted fenced writes\n", (unsigned long)nkeys,
           (unsigned long)nw);
    free(keys);
    free(w);
    free(tok);
    return 0;
}

static int sc_cmp_first(const void *a, const void *b) {
    const sc_term *x = (const sc_term *)a, *y = (const sc_term *)b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static int sc_cmp_act(const void *a, const void *b) {
    const sc_act *x = (const sc_act *)a, *y = (const sc_act *)b;
    return x->t < y->t ? -1 : x->t > y->t;
}

static int sc_cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Terms that act at once, out of token order, or after their key went. */
static void sc_check_terms(sc *s) {
    size_t i, k, a;
    if (s->nterms) qsort(s->terms, s->nterms, sizeof *s->terms, sc_cmp_first);
    for (i = 0; i < s->nterms; i++) {
        sc_term *b = &s->terms[i];
        if (b->deleted && b->began > b->deleted)
            sc_violation(s, SC_AFTER_GONE, "term %lld (c%d) began at %lld, its key went at %lld",
                         (long long)b->rev, b->client, (long long)b->began / 1000,
                         (long long)b->deleted / 1000);
        if (!b->first) continue;
        for (k = 0; k < i; k++) {
            sc_term *o = &s->terms[k];
            if (o->group != b->group || !o->first) continue;
            if (o->rev > b->rev)
                sc_violation(s, SC_TOKEN_ORDER, "term %lld (c%d) acts from %lld, after term %lld",
                             (long long)b->rev, b->client, (long long)b->first / 1000,
                             (long long)o->rev);
            if (o->last >= b->first) {
                /* o acted after b began: only a paused process, resumed, may (its resume
                   window, which sc_resume_windows measures) */
                for (a = 0; a < s->nacts; a++)
                    if (s->acts[a].rev == o->rev && s->acts[a].t >= b->first &&
                        !sc_resumed(s, o->client, s->acts[a].t))
                        break;
                if (a < s->nacts)
                    sc_violation(s, SC_OVERLAP,
                                 "term %lld (c%d) acted at %lld, while term %lld (c%d) held "
                                 "from %lld",
                                 (long long)o->rev, o->client, (long long)s->acts[a].t / 1000,
                                 (long long)b->rev, b->client, (long long)b->first / 1000);
            }
        }
    }
    for (a = 0; a < s->nacts; a++) {
        sc_term *t = sc_term_of(s, s->acts[a].rev);
        if (t && t->deleted && s->acts[a].t > t->deleted &&
            !sc_resumed(s, s->acts[a].client, s->acts[a].t)) {
            sc_violation(s, SC_AFTER_GONE, "term %lld (c%d) acted at %lld, its key went at %lld",
                         (long long)t->rev, t->client, (long long)s->acts[a].t / 1000,
                         (long long)t->deleted / 1000);
            t->deleted = 0; /* once per term */
        }
    }
}

/* A resume window: a term that held when its process tree was stopped, from the SIGCONT
   until it stopped acting (its last act, or its "stop"/"end" record). */
static void sc_resume_windows(sc *s) {
    size_t i, k;
    for (i = 0; i < s->nfaults; i++) {
        const sc_fault *f = &s->faults[i];
        if (!f->cont || f->client < 0) continue;
        for (k = 0; k < s->nterms; k++) {
            const sc_term *t = &s->terms[k];
            int64_t until = t->last > t->ended ? t->last : t->ended;
            if (t->client != f->client || !t->first || t->first > f->start ||
                (t->ended && t->ended <= f->start) || until < f->cont)
                continue;
            s->resumes++;
            if (until - f->cont > s->longest_resume) s->longest_resume = until - f->cont;
        }
    }
}

/* After each heal, an election leader within TTL + 2 s; and, per fault kind, the longest
   time without one from the fault to that bound. */
static void sc_check_liveness(sc *s) {
    static const char *const kinds[] = {"kill",        "pause",    "cut",         "cut-up",
                                        "cut-down",    "delay",    "member-kill", "member-pause",
                                        "leader-kill", "delay-cut"};
    size_t i, a, k, nk = sizeof kinds / sizeof kinds[0];
    int64_t *gaps = (int64_t *)calloc(s->nfaults + 1, sizeof *gaps);
    if (s->nacts) qsort(s->acts, s->nacts, sizeof *s->acts, sc_cmp_act);
    for (i = 0; i < s->nfaults; i++) {
        sc_fault *f = &s->faults[i];
        int64_t bound = f->heal + (int64_t)(s->ttl + 2) * 1000000, prev = f->start, gap = 0;
        int found = 0;
        if (!f->heal) continue;
        for (a = 0; a < s->nacts; a++) {
            if (s->acts[a].group != 0 || s->acts[a].t < f->start) continue;
            if (s->acts[a].t > bound) break;
            if (s->acts[a].t >= f->heal) found = 1;
            if (s->acts[a].t - prev > gap) gap = s->acts[a].t - prev;
            prev = s->acts[a].t;
        }
        if (bound - prev > gap && !found) gap = bound - prev;
        gaps[i] = gap;
        if (!found)
            sc_violation(s, SC_LIVENESS, "no election leader from the heal of %s at %lld to %lld",
                         f->kind, (long long)f->heal / 1000, (long long)bound / 1000);
    }
    printf("time without an election leader, from a fault to TTL + 2 s after its heal:\n");
    for (k = 0; k < nk; k++) {
        int64_t v[4096];
        int n = 0;
        for (i = 0; i < s->nfaults && n < 4096; i++)
            if (!strcmp(s->faults[i].kind, kinds[k]) && s->faults[i].heal) v[n++] = gaps[i];
        if (!n) continue;
        qsort(v, (size_t)n, sizeof *v, sc_cmp_i64);
        printf("  %-13s n=%-4d p50 %6lld ms  p99 %6lld ms\n", kinds[k], n,
               (long long)v[n / 2] / 1000,
               (long long)v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000);
    }
    free(gaps);
}

ETCDT_FN int soak_check(const char *dir, int ttl, int complete) {
    sc s;
    int c, k, total = 0, passed = 0;
    memset(&s, 0, sizeof s);
    s.ttl = ttl;
    sc_read_nemesis(&s, dir);
    for (c = 0; c < SC_CLIENTS; c++) sc_read_client(&s, dir, c);
    if (sc_read_etcd(&s, dir) != 0 || !complete)
        printf("VIOLATION: etcd's history is %s\n", complete ? "missing" : "incomplete");
    sc_check_terms(&s);
    sc_resume_windows(&s);
    sc_check_liveness(&s);
    printf("terms %lu, acts %lu; resume windows %d, the longest %lld ms\n", (unsigned long)s.nterms,
           (unsigned long)s.nacts, s.resumes, (long long)s.longest_resume / 1000);
    printf("violations:");
    for (k = 0; k < 8; k++) {
        printf("%s %s %d", k ? "," : "", sc_names[k], s.violations[k]);
        total += s.violations[k];
        passed += s.violations[k] == 0;
    }
    printf("\n%d passed, %d failed\n", passed + (complete ? 1 : 0),
           8 - passed + (complete ? 0 : 1));
    free(s.acts);
    free(s.terms);
    free(s.faults);
    return total + !complete;
}

#endif
