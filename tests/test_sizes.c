/* Values and names of every size against a private, real etcd: campaign, leader, observe,
   proclaim, fenced puts, locks and the CLI, from empty values to 4 MiB. What fits etcd's
   request limit must round-trip byte-exact; what does not must fail with
   ETCDE_ERR_TOO_BIG before anything is sent (the store revision does not move), name
   max_request_bytes, its value and the excess, leave no key under NAME/, and leave the
   name free for the next candidate. Ends with a table: size x call -> outcome. */
#include "etcdt_test.h"
#include "etcdt_proc.h"
#include "etcdt_etcd.h"
#include "etcdt_http.h"
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)
#define SIZE_1_4M ((size_t)1468006)  /* 1.4 MiB */
#define ETCD_LIMIT ((size_t)1572864) /* etcd's default --max-request-bytes */
#define RAISED_LIMIT (5 * MIB)
#define ARGV_MAX (128 * KIB - 1) /* Linux MAX_ARG_STRLEN, less the NUL: the longest CLI VALUE */

static etcdt_cluster *cl; /* default limits */
static char cli_path[PATH_MAX];
static int data_seq;
static int filtered;     /* only some tests run (a filter argument): the table is partial */
static char sample[700]; /* a refused campaign's message, shown once per kind of refusal */
static int sample_shown[3];

/* ---- the outcome table ------------------------------------------------------------------ */

enum {
    C_CAMPAIGN,
    C_LEADER,
    C_OBSERVE,
    C_PROCLAIM,
    C_EPUT,
    C_LOCKPUT,
    C_CLI_ELECT,
    C_CLI_LOCK,
    C_CLI_OBSERVE,
    NCOL
};
static const char *const col_name[NCOL] = {"campaign",  "leader",    "observe",
                                           "proclaim",  "elect_put", "lock+put",
                                           "cli_elect", "cli_lock",  "cli_observe"};
enum { O_OK = 1, O_BIG = 2, O_WRONG = 4, O_OTHER = 8 };

typedef struct row {
    const char *label;
    size_t size;
    int cell[NCOL];
    int other[NCOL]; /* the first unexpected result code */
} row;

/* One row per size swept with the default limits, then the rows marked in the legend. */
static row size_rows[] = {
    {"0", 0, {0}, {0}},
    {"1", 1, {0}, {0}},
    {"64 KiB", 64 * KIB, {0}, {0}},
    {"128 KiB-1", ARGV_MAX, {0}, {0}},
    {"512 KiB", 512 * KIB, {0}, {0}},
    {"1 MiB", MIB, {0}, {0}},
    {"1.4 MiB", SIZE_1_4M, {0}, {0}},
    {"2 MiB", 2 * MIB, {0}, {0}},
    {"4 MiB", 4 * MIB, {0}, {0}},
    {"4 MiB [a]", 4 * MIB, {0}, {0}},
    {"6 MiB [a]", 6 * MIB, {0}, {0}},
    {"2 MiB [b]", 2 * MIB, {0}, {0}},
};
#define NSWEPT 9 /* the first rows: default limits */
enum { ROW_4M_RAISED = NSWEPT, ROW_6M_RAISED, ROW_2M_CLIENT_ABOVE, NROWS };

enum { N_EMPTY, N_ONE, N_10K, N_SLASH, N_UTF8, NNAMES };
static row name_rows[NNAMES] = {
    {"\"\"", 0, {0}, {0}},         {"1 byte", 0, {0}, {0}}, {"10 KiB", 0, {0}, {0}},
    {"'/' + spaces", 0, {0}, {0}}, {"UTF-8", 0, {0}, {0}},
};
static char *names[NNAMES];

static void mark(row *rw, int col, int outcome, etcde_result r) {
    if ((outcome & (O_WRONG | O_OTHER)) && !(rw->cell[col] & (O_WRONG | O_OTHER)))
        rw->other[col] = (int)r;
    rw->cell[col] |= outcome;
}

/* ---- one case ------------------------------------------------------------------------------- */

enum { EXPECT_OK, EXPECT_TOO_BIG, EXPECT_ETCD_REFUSES };

typedef struct scase {
    etcdt_cluster *cl;
    int name_idx; /* into names[], or -1 */
    const char *name;
    size_t size;
    int row;
    size_t lim;   /* the client's max_request_bytes; 0: the default */
    size_t named; /* the limit a TOO_BIG message must name */
    int expect;
    const char *label; /* for messages */
} scase;

static void record(const scase *sc, int col, int outcome, etcde_result r) {
    mark(&size_rows[sc->row], col, outcome, r);
    if (sc->name_idx >= 0) mark(&name_rows[sc->name_idx], col, outcome, r);
}

/* The outcome of result r, with `exact` saying whether the data read back matched. */
static int outcome_of(etcde_result r, int exact) {
    if (r == ETCDE_OK) return exact ? O_OK : O_WRONG;
    return r == ETCDE_ERR_TOO_BIG ? O_BIG : O_OTHER;
}

/* ---- data ------------------------------------------------------------------------------------ */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory (%lu bytes)\n", (unsigned long)n);
        abort();
    }
    return p;
}

/* n pseudo-random bytes and a NUL: every byte value when binary (NUL, 0xff, broken UTF-8),
   else letters and digits (fit for an argv string and a line of output). Each seed gives
   other bytes, so a value swapped for another one, or shifted, is caught. */
static char *make_value(size_t n, unsigned seed, int printable) {
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint32_t x = (uint32_t)seed * 2654435761u ^ (uint32_t)n ^ 0x9e3779b9u;
    char *v = (char *)xmalloc(n + 1);
    size_t i;
    if (!x) x = 1;
    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v[i] = printable ? alnum[(x >> 8) % 62] : (char)(x >> 24);
    }
    v[n] = 0;
    return v;
}

static int same(const char *a, size_t an, const char *b, size_t bn) {
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static int b64_val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes padded base64 of length n into out (room for n*3/4); returns the length or -1. */
static long b64_decode(const char *in, size_t n, char *out) {
    size_t i, o = 0;
    if (n % 4) return -1;
    for (i = 0; i < n; i += 4) {
        int a = b64_val(in[i]), b = b64_val(in[i + 1]), c = b64_val(in[i + 2]),
            d = b64_val(in[i + 3]);
        int pad = (in[i + 3] == '=') + (in[i + 2] == '=');
        if (a < 0 || b < 0 || (i + 4 < n && pad) || (pad < 2 && c < 0) || (pad < 1 && d < 0))
            return -1;
        out[o++] = (char)(a << 2 | b >> 4);
        if (pad < 2) out[o++] = (char)((b & 15) << 4 | c >> 2);
        if (pad < 1) out[o++] = (char)((c & 3) << 6 | d);
    }
    return (long)o;
}

/* ---- etcd state, seen without the library ------------------------------------------------------
 */

/* etcd's store revision, read through the gateway; -1 on error. A request refused before
   it was sent leaves it where it was (keepalives and lease grants do not move it). */
static long long etcd_rev(etcdt_cluster *c) {
    char resp[4096];
    const char *p;
    if (etcdt_http_post(etcdt_member_client_port(c, 0), "/v3/kv/range", "{\"key\":\"AA==\"}", resp,
                        sizeof resp, 5000) != 200)
        return -1;
    p = strstr(resp, "\"revision\":\"");
    return p ? strtoll(p + 12, NULL, 10) : -1;
}

/* Number of keys under NAME/ per `etcdctl get --prefix --keys-only`, or -1. The listing
   goes to out (for messages). */
static int prefix_keys(etcdt_cluster *c, const char *name, char *out, size_t cap) {
    char *pfx = (char *)xmalloc(strlen(name) + 2);
    int n = 0;
    const char *s;
    sprintf(pfx, "%s/", name);
    if (etcdt_etcdctl(c, out, cap, 10000, "get", "--prefix", "--keys-only", pfx, NULL) != 0) n = -1;
    for (s = out; n >= 0 && *s; s++)
        if (*s != '\n' && (s == out || s[-1] == '\n')) n++;
    free(pfx);
    return n;
}

#define LISTCAP (256 * KIB)

/* CHECKs that NAME/ holds `want` keys; returns 1 if so. */
static int check_keys(const scase *sc, int want, const char *when) {
    char *out = (char *)xmalloc(LISTCAP);
    int n = prefix_keys(sc->cl, sc->name, out, LISTCAP), ok = n == want;
    CHECKF(ok, "%s: %s: %d keys under NAME/, expected %d: %.300s", sc->label, when, n, want, out);
    free(out);
    return ok;
}

/* The value of KEY per `etcdctl get -w json` (base64, so every byte survives): 1 and a
   heap copy in *val, 0 if there is no such key, -1 on error. */
static int ctl_get(etcdt_cluster *c, const char *key, size_t expect_len, char **val, size_t *len) {
    size_t cap = expect_len / 3 * 4 + 64 * KIB;
    char *out = (char *)xmalloc(cap);
    const char *kvs, *v, *end;
    int rc = -1;
    long n;
    *val = NULL;
    *len = 0;
    if (etcdt_etcdctl(c, out, cap, 20000, "get", key, "-w", "json", NULL) != 0) goto done;
    kvs = strstr(out, "\"kvs\":[");
    if (!kvs) { /* no such key: etcd leaves out "kvs" */
        rc = strstr(out, "\"header\"") ? 0 : -1;
        goto done;
    }
    *val = (char *)xmalloc(1);
    v = strstr(kvs, "\"value\":\"");
    rc = 1;
    if (!v) goto done; /* an empty value is left out too */
    v += 9;
    end = strchr(v, '"');
    free(*val);
    *val = (char *)xmalloc(end ? (size_t)(end - v) / 4 * 3 + 1 : 1);
    n = end ? b64_decode(v, (size_t)(end - v), *val) : -1;
    if (n < 0) {
        rc = -1;
        free(*val);
        *val = NULL;
    } else {
        *len = (size_t)n;
    }
done:
    free(out);
    return rc;
}

/* CHECKs that etcdctl sees KEY with exactly `want`; returns 1 if so. */
static int check_ctl_value(const scase *sc, const char *key, const char *want, size_t n,
                           const char *what) {
    char *val;
    size_t len;
    int r = ctl_get(sc->cl, key, n, &val, &len), ok = r == 1 && same(val, len, want, n);
    CHECKF(ok, "%s: %s: etcdctl get: %s (%lu bytes, expected %lu)", sc->label, what,
           r < 0    ? "error"
           : r == 0 ? "no such key"
                    : "value differs",
           (unsigned long)len, (unsigned long)n);
    free(val);
    return ok;
}

/* CHECKs that key KEY does not exist. */
static void check_ctl_absent(const scase *sc, const char *key, const char *what) {
    char *val;
    size_t len;
    int r = ctl_get(sc->cl, key, 0, &val, &len);
    CHECKF(r == 0, "%s: %s: etcdctl get %s: %s", sc->label, what, key,
           r < 0 ? "error" : "the key exists");
    free(val);
}

/* ---- the TOO_BIG message ----------------------------------------------------------------------
 */

/* 1 if the decimal number `v` appears in s as a whole number. */
static int has_number(const char *s, unsigned long long v) {
    while (*s) {
        if (isdigit((unsigned char)*s)) {
            char *end;
            unsigned long long x = strtoull(s, &end, 10);
            if (x == v) return 1;
            s = end;
        } else {
            s++;
        }
    }
    return 0;
}

/* 1 if a whole number in [lo, hi] appears in s. */
static int has_number_in(const char *s, unsigned long long lo, unsigned long long hi) {
    while (*s) {
        if (isdigit((unsigned char)*s)) {
            char *end;
            unsigned long long x = strtoull(s, &end, 10);
            if (x >= lo && x <= hi) return 1;
            s = end;
        } else {
            s++;
        }
    }
    return 0;
}

/* A refused call's message: one line naming max_request_bytes, the limit, and the excess.
   The excess counts the key and the value at least, and some framing at most (a key may
   appear in a request several times: compare, put, ranges; some room may be reserved). */
static void check_big_msg(const scase *sc, const char *what, const char *msg, size_t keylen,
                          size_t vlen) {
    unsigned long long need = (unsigned long long)keylen + vlen, lim = sc->named;
    unsigned long long lo = need > lim + 64 ? need - lim - 64 : 1,
                       hi = need + 8 * (keylen + 64) + 65536 - lim;
    CHECKF(strstr(msg, "max_request_bytes") != NULL,
           "%s: %s: message does not name max_request_bytes: %s", sc->label, what, msg);
    CHECKF(has_number(msg, lim), "%s: %s: message does not name the limit %llu: %s", sc->label,
           what, lim, msg);
    CHECKF(has_number_in(msg, lo, hi),
           "%s: %s: message does not say by how much (expected a number in %llu..%llu): %s",
           sc->label, what, lo, hi, msg);
    CHECKF(!strchr(msg, '\n'), "%s: %s: message is more than one line: %s", sc->label, what, msg);
}

/* A call refused by etcd itself (the client's limit set above etcd's): etcd's reason. */
static void check_refusal_msg(const scase *sc, const char *what, const char *msg) {
    CHECKF(strstr(msg, "too large") || strstr(msg, "larger than max"),
           "%s: %s: message does not carry etcd's reason: %s", sc->label, what, msg);
}

/* ---- clients --------------------------------------------------------------------------------- */

typedef struct peer {
    etcde_client *c;
    etcde_session *s;
    etcde_election *e;
    etcde_election *m;
} peer;

/* A client (max_request_bytes = lim; 0 for the default), with a session when `session`,
   and an election on `name`; 0, or -1 with the reason CHECKed. */
static int peer_open(peer *p, const scase *sc, const char *name, int session) {
    etcde_options o = {0};
    etcde_session_options so = {0};
    etcde_result r;
    memset(p, 0, sizeof *p);
    o.endpoints = etcdt_endpoints(sc->cl);
    o.max_request_bytes = sc->lim;
    o.request_timeout_ms = 10000;
    so.ttl_s = 10;
    r = etcde_client_create(&o, &p->c);
    CHECKF(r == ETCDE_OK, "%s: client: %s", sc->label, etcde_strerror(r));
    if (r) return -1;
    if (session) {
        r = etcde_session_create(p->c, &so, &p->s);
        CHECKF(r == ETCDE_OK, "%s: session: %s", sc->label, etcde_client_errmsg(p->c));
        if (r) return -1;
    }
    r = etcde_election_create(p->c, p->s, name, &p->e);
    CHECKF(r == ETCDE_OK, "%s: election: %s: %s", sc->label, etcde_strerror(r),
           etcde_client_errmsg(p->c));
    return r ? -1 : 0;
}

static void peer_close(peer *p) {
    etcde_election_destroy(p->m);
    etcde_election_destroy(p->e);
    etcde_session_destroy(p->s); /* revokes the lease: its keys go */
    etcde_client_destroy(p->c);
    memset(p, 0, sizeof *p);
}

/* ---- an observer on a thread of its own -------------------------------------------------------
 */

#define WMAX 4

typedef struct watcher {
    peer p;
    pthread_t th;
    int started;
    int want; /* stop after this many events */
    int n;    /* atomic: events seen */
    int done; /* atomic */
    etcde_result r;
    int type[WMAX];
    char *key[WMAX], *val[WMAX];
    size_t klen[WMAX], vlen[WMAX];
} watcher;

static char *dup_bytes(const char *p, size_t n) {
    char *d = (char *)xmalloc(n + 1);
    if (n) memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static int on_event(etcde_event_type type, const etcde_kv *kv, int64_t rev, void *ud) {
    watcher *w = (watcher *)ud;
    int i = __atomic_load_n(&w->n, __ATOMIC_ACQUIRE);
    (void)rev;
    if (i < WMAX) {
        w->type[i] = (int)type;
        w->key[i] = kv ? dup_bytes(kv->key, kv->key_len) : NULL;
        w->klen[i] = kv ? kv->key_len : 0;
        w->val[i] = kv ? dup_bytes(kv->value, kv->value_len) : NULL;
        w->vlen[i] = kv ? kv->value_len : 0;
    }
    __atomic_store_n(&w->n, i + 1, __ATOMIC_RELEASE);
    return i + 1 >= w->want;
}

static void *watch_main(void *arg) {
    watcher *w = (watcher *)arg;
    w->r = etcde_observe(w->p.e, on_event, w, 30000);
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int watcher_start(watcher *w, const scase *sc, int want) {
    memset(w, 0, sizeof *w);
    w->want = want;
    if (peer_open(&w->p, sc, sc->name, 0)) return -1;
    if (pthread_create(&w->th, NULL, watch_main, w) != 0) return -1;
    w->started = 1;
    return 0;
}

/* 1 once n events were seen (within ms). */
static int watcher_wait(watcher *w, int n, int ms) {
    int64_t end = etcdt_now_ms() + ms;
    while (__atomic_load_n(&w->n, __ATOMIC_ACQUIRE) < n &&
           !__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) && etcdt_now_ms() < end)
        etcdt_sleep_ms(2);
    return __atomic_load_n(&w->n, __ATOMIC_ACQUIRE) >= n;
}

/* 1 if event i is LEADER with exactly this key and value. */
static int watcher_saw(watcher *w, int i, const char *key, const char *val, size_t vlen) {
    return __atomic_load_n(&w->n, __ATOMIC_ACQUIRE) > i && i < WMAX &&
           w->type[i] == ETCDE_EVENT_LEADER && same(w->key[i], w->klen[i], key, strlen(key)) &&
           same(w->val[i], w->vlen[i], val, vlen);
}

/* Why the observer ended, once it has: reading it earlier would race with its thread. */
static const char *watcher_why(watcher *w, char *buf, size_t cap) {
    if (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)) return "still observing";
    snprintf(buf, cap, "ended: %s: %s", etcde_strerror(w->r), etcde_election_errmsg(w->p.e));
    return buf;
}

static void watcher_stop(watcher *w) {
    int i;
    if (w->started) {
        etcde_client_cancel(w->p.c);
        pthread_join(w->th, NULL);
        w->started = 0;
    }
    for (i = 0; i < WMAX; i++) {
        free(w->key[i]);
        free(w->val[i]);
        w->key[i] = w->val[i] = NULL;
    }
    peer_close(&w->p);
}

/* ---- the CLI ------------------------------------------------------------------------------------
 */

/* build/etcd-elect --endpoints=<cluster> [--max-request-bytes=N] args... */
static etcdt_proc *cli_run(const scase *sc, size_t lim, const char *a0, const char *a1,
                           const char *a2, const char *a3) {
    char ep[256], lf[64];
    char *argv[9];
    int n = 0;
    snprintf(ep, sizeof ep, "--endpoints=%s", etcdt_endpoints(sc->cl));
    argv[n++] = cli_path;
    argv[n++] = ep;
    if (lim) {
        snprintf(lf, sizeof lf, "--max-request-bytes=%lu", (unsigned long)lim);
        argv[n++] = lf;
    }
    argv[n++] = (char *)a0;
    argv[n++] = (char *)a1;
    if (a2) argv[n++] = (char *)a2;
    if (a2 && a3) argv[n++] = (char *)a3;
    argv[n] = NULL;
    return etcdt_spawn(argv, NULL);
}

/* Reads the two lines printed for a leader or lock holder: KEY (equal to `key`; or, when
   key is NULL, NAME/ and up to 16 hex digits) and VALUE (exactly val). 1 if so, else 0
   and the reason in why. The key read goes to *got_key (heap) if got_key is not NULL. */
static int read_leader(etcdt_proc *p, const scase *sc, const char *key, const char *val,
                       size_t vlen, char **got_key, char *why, size_t wcap) {
    size_t nl = strlen(sc->name), kcap = nl + 64, kl = 0, k0;
    char *k = (char *)xmalloc(kcap), *v = (char *)xmalloc(vlen + 2);
    int ok = 0;
    k[0] = 0;
    if (etcdt_proc_readline(p, k, kcap, 15000) != 1) {
        snprintf(why, wcap, "no KEY line within 15 s");
        goto done;
    }
    kl = strlen(k);
    k0 = key ? strlen(key) : nl + 17;
    if (key ? strcmp(k, key) != 0
            : kl < nl + 2 || kl > nl + 17 || strncmp(k, sc->name, nl) != 0 || k[nl] != '/' ||
                  strspn(k + nl + 1, "0123456789abcdef") != kl - nl - 1) {
        snprintf(why, wcap, "KEY line of %lu bytes is not the key (%s%lu bytes): \"%.40s...%s\"",
                 (unsigned long)kl, key ? "" : "NAME/<lease hex>, up to ", (unsigned long)k0, k,
                 kl > 20 ? k + kl - 20 : "");
        goto done;
    }
    if (etcdt_proc_readline(p, v, vlen + 2, 15000) != 1) {
        snprintf(why, wcap, "no VALUE line within 15 s");
        goto done;
    }
    if (!same(v, strlen(v), val, vlen)) {
        snprintf(why, wcap, "VALUE line of %lu bytes differs from the %lu-byte value",
                 (unsigned long)strlen(v), (unsigned long)vlen);
        goto done;
    }
    ok = 1;
done:
    if (got_key)
        *got_key = k;
    else
        free(k);
    free(v);
    return ok;
}

/* `etcd-elect elect -l NAME` and `etcdctl elect -l NAME` both print the leader KEY and
   exactly VAL (a printable value, set in-process). */
static void cli_observe_case(const scase *sc, const char *key, const char *val, size_t vlen) {
    char ep[256], why[300] = "", xwhy[300] = "";
    char *argv[6];
    etcdt_proc *p = cli_run(sc, sc->lim, "elect", "-l", sc->name, NULL), *x;
    int ok = p && read_leader(p, sc, key, val, vlen, NULL, why, sizeof why), st = -1;
    if (p) {
        etcdt_proc_signal(p, SIGINT);
        st = etcdt_proc_wait(p, 10000);
    }
    CHECKF(ok && st == 0, "%s: etcd-elect elect -l: %s, exit %d; stderr: %.300s", sc->label,
           ok ? "printed the leader" : why, st, p ? etcdt_proc_stderr(p) : "(not started)");
    record(sc, C_CLI_OBSERVE, ok && st == 0 ? O_OK : O_WRONG, ETCDE_OK);
    etcdt_proc_free(p);
    snprintf(ep, sizeof ep, "--endpoints=%s", etcdt_endpoints(sc->cl));
    argv[0] = (char *)"etcdctl";
    argv[1] = ep;
    argv[2] = (char *)"elect";
    argv[3] = (char *)"-l";
    argv[4] = (char *)sc->name;
    argv[5] = NULL;
    x = etcdt_spawn(argv, NULL);
    CHECKF(x && read_leader(x, sc, key, val, vlen, NULL, xwhy, sizeof xwhy),
           "%s: etcdctl elect -l: %s; stderr: %.300s", sc->label, xwhy,
           x ? etcdt_proc_stderr(x) : "(not started)");
    etcdt_proc_free(x);
}

/* `etcd-elect elect NAME VAL` (or `lock NAME`, val "") leads, prints its key (the one in
   etcd) and exactly VAL, etcdctl sees the same value, and SIGINT resigns. */
static void cli_hold_case(const scase *sc, int lock, const char *val, size_t vlen) {
    const char *what = lock ? "etcd-elect lock" : "etcd-elect elect";
    etcdt_proc *p = lock ? cli_run(sc, sc->lim, "lock", sc->name, NULL, NULL)
                         : cli_run(sc, sc->lim, "elect", sc->name, val, NULL);
    char *key = NULL, why[300] = "";
    int ok = p && read_leader(p, sc, NULL, val, vlen, &key, why, sizeof why), st = -1;
    CHECKF(ok, "%s: %s: %s; stderr: %.300s", sc->label, what, why,
           p ? etcdt_proc_stderr(p) : "(not started)");
    if (ok)
        ok = check_ctl_value(sc, key, val, vlen,
                             lock ? "etcd-elect's lock key" : "etcd-elect's key");
    if (p) {
        etcdt_proc_signal(p, SIGINT);
        st = etcdt_proc_wait(p, 10000);
    }
    CHECKF(st == 0, "%s: %s: exit %d after SIGINT", sc->label, what, st);
    record(sc, lock ? C_CLI_LOCK : C_CLI_ELECT, ok && st == 0 ? O_OK : O_WRONG, ETCDE_OK);
    check_keys(sc, 0, lock ? "after etcd-elect unlocked" : "after etcd-elect resigned");
    free(key);
    etcdt_proc_free(p);
}

/* ---- the case that fits: everything round-trips byte-exact
 * --------------------------------------- */

static void case_fits(const scase *sc) {
    size_t n = sc->size;
    char *v1 = make_value(n, 1, 1), *v2 = make_value(n, 2, 0), *v3 = make_value(n, 3, 0),
         *v4 = make_value(n, 4, 0);
    char *key = NULL, dkey[64];
    char why[600];
    peer a, o;
    watcher w;
    etcde_kv kv;
    etcde_result r;
    int ok, wstarted = 0;
    memset(&a, 0, sizeof a);
    memset(&o, 0, sizeof o);
    memset(&w, 0, sizeof w);
    snprintf(dkey, sizeof dkey, "sizes-data/%d", ++data_seq);
    if (peer_open(&a, sc, sc->name, 1) || peer_open(&o, sc, sc->name, 0)) goto out;

    r = etcde_campaign(a.e, v1, n, 15000);
    CHECKF(r == ETCDE_OK, "%s: campaign: %s: %s", sc->label, etcde_strerror(r),
           etcde_election_errmsg(a.e));
    if (r) {
        record(sc, C_CAMPAIGN, outcome_of(r, 0), r);
        goto out;
    }
    key = dup_bytes(etcde_election_key(a.e), strlen(etcde_election_key(a.e)));
    {
        char *want = (char *)xmalloc(strlen(sc->name) + 32);
        sprintf(want, "%s/%llx", sc->name, (unsigned long long)etcde_session_lease(a.s));
        ok = !strcmp(key, want);
        CHECKF(ok, "%s: key is not NAME/<lease hex>", sc->label);
        free(want);
    }
    ok = check_ctl_value(sc, key, v1, n, "campaign value") && ok;
    record(sc, C_CAMPAIGN, outcome_of(r, ok), r);

    /* leader, from another client */
    r = etcde_leader(o.e, &kv);
    ok = r == ETCDE_OK && same(kv.key, kv.key_len, key, strlen(key)) &&
         same(kv.value, kv.value_len, v1, n) && kv.create_rev == etcde_election_rev(a.e);
    record(sc, C_LEADER, outcome_of(r, ok), r);
    CHECKF(ok, "%s: leader: %s (%s); value %lu bytes, expected %lu", sc->label, etcde_strerror(r),
           r ? etcde_election_errmsg(o.e) : "wrong key, value or revision",
           (unsigned long)(r ? 0 : kv.value_len), (unsigned long)n);

    /* observe: the current leader first, then the proclaimed value */
    wstarted = watcher_start(&w, sc, 2) == 0;
    ok = wstarted && watcher_wait(&w, 1, 15000) && watcher_saw(&w, 0, key, v1, n);
    CHECKF(ok, "%s: observe: first event is not the leader with its exact value (%d events; %s)",
           sc->label, __atomic_load_n(&w.n, __ATOMIC_ACQUIRE), watcher_why(&w, why, sizeof why));

    if (sc->name[0]) cli_observe_case(sc, key, v1, n); /* the CLI refuses an empty NAME */

    r = etcde_proclaim(a.e, v2, n);
    record(sc, C_PROCLAIM, outcome_of(r, 1), r);
    CHECKF(r == ETCDE_OK, "%s: proclaim: %s: %s", sc->label, etcde_strerror(r),
           etcde_election_errmsg(a.e));
    if (r == ETCDE_OK) {
        int ok2 = wstarted && watcher_wait(&w, 2, 15000) && watcher_saw(&w, 1, key, v2, n);
        CHECKF(ok2, "%s: observe: no event with the proclaimed value (%d events; %s)", sc->label,
               __atomic_load_n(&w.n, __ATOMIC_ACQUIRE), watcher_why(&w, why, sizeof why));
        ok = ok && ok2;
        r = etcde_leader(o.e, &kv);
        ok2 = r == ETCDE_OK && same(kv.value, kv.value_len, v2, n);
        record(sc, C_LEADER, outcome_of(r, ok2), r);
        CHECKF(ok2, "%s: leader after proclaim: %s: %s", sc->label, etcde_strerror(r),
               r ? etcde_election_errmsg(o.e) : "value differs");
        check_ctl_value(sc, key, v2, n, "proclaimed value");
    }
    if (ok)
        record(sc, C_OBSERVE, O_OK, ETCDE_OK);
    else if (wstarted && __atomic_load_n(&w.done, __ATOMIC_ACQUIRE) && w.r != ETCDE_OK)
        record(sc, C_OBSERVE, outcome_of(w.r, 0), w.r);
    else
        record(sc, C_OBSERVE, O_WRONG, ETCDE_OK);
    if (wstarted) watcher_stop(&w);
    wstarted = 0;

    /* fenced put, read back by etcdctl, then a fenced delete */
    r = etcde_election_put(a.e, dkey, v3, n);
    ok = r == ETCDE_OK && check_ctl_value(sc, dkey, v3, n, "election_put");
    record(sc, C_EPUT, outcome_of(r, ok), r);
    CHECKF(r == ETCDE_OK, "%s: election_put: %s: %s", sc->label, etcde_strerror(r),
           etcde_election_errmsg(a.e));
    CHECK(etcde_election_delete(a.e, dkey) == ETCDE_OK);
    check_ctl_absent(sc, dkey, "after election_delete");

    r = etcde_resign(a.e);
    CHECKF(r == ETCDE_OK, "%s: resign: %s", sc->label, etcde_election_errmsg(a.e));
    check_keys(sc, 0, "after resign");

    /* lock on the same name and session, and a fenced put while holding it */
    r = etcde_election_create(a.c, a.s, sc->name, &a.m);
    if (r == ETCDE_OK) r = etcde_lock(a.m, 15000);
    CHECKF(r == ETCDE_OK, "%s: lock: %s: %s", sc->label, etcde_strerror(r),
           a.m ? etcde_election_errmsg(a.m) : "");
    if (r == ETCDE_OK) {
        check_keys(sc, 1, "while locked");
        r = etcde_election_put(a.m, dkey, v4, n);
        ok = r == ETCDE_OK && check_ctl_value(sc, dkey, v4, n, "mutex_put");
        CHECKF(r == ETCDE_OK, "%s: mutex_put: %s: %s", sc->label, etcde_strerror(r),
               etcde_election_errmsg(a.m));
        CHECK(etcde_election_delete(a.m, dkey) == ETCDE_OK);
        CHECK(etcde_unlock(a.m) == ETCDE_OK);
        check_keys(sc, 0, "after unlock");
    }
    record(sc, C_LOCKPUT, outcome_of(r, ok), r);

    if (sc->name[0] &&
        n <= ARGV_MAX) { /* an argv string holds 128 KiB; the CLI refuses an empty NAME */
        cli_hold_case(sc, 0, v1, n);
        cli_hold_case(sc, 1, "", 0);
    }
out:
    if (wstarted) watcher_stop(&w);
    peer_close(&o);
    peer_close(&a);
    free(key);
    free(v1);
    free(v2);
    free(v3);
    free(v4);
}

/* ---- the case that does not fit: refused, nothing sent, nothing left
 * ------------------------------ */

/* CHECKs a refused call: the expected result and message, and an unmoved revision. */
static void check_refused(const scase *sc, const char *what, etcde_result r, const char *msg,
                          size_t keylen, long long rev0) {
    long long rev1 = etcd_rev(sc->cl);
    if (sc->expect == EXPECT_TOO_BIG) {
        CHECKF(r == ETCDE_ERR_TOO_BIG, "%s: %s: %s (%s), expected ETCDE_ERR_TOO_BIG", sc->label,
               what, etcde_strerror(r), msg);
        if (r == ETCDE_ERR_TOO_BIG) check_big_msg(sc, what, msg, keylen, sc->size);
    } else {
        CHECKF(r != ETCDE_OK && r != ETCDE_ERR_TOO_BIG,
               "%s: %s: %s, expected etcd to refuse it (%s)", sc->label, what, etcde_strerror(r),
               msg);
        if (r != ETCDE_OK) check_refusal_msg(sc, what, msg);
    }
    CHECKF(rev0 > 0 && rev1 == rev0, "%s: %s: etcd's revision moved from %lld to %lld", sc->label,
           what, rev0, rev1);
}

static void case_refused(const scase *sc) {
    size_t n = sc->size;
    char *v1 = make_value(n, 1, 1), *v2 = make_value(n, 2, 0), *v3 = make_value(n, 3, 0),
         *v4 = make_value(n, 4, 0);
    char dkey[64];
    peer a, b, o;
    etcde_kv kv;
    etcde_result r;
    long long rev0;
    int64_t t0;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&o, 0, sizeof o);
    snprintf(dkey, sizeof dkey, "sizes-data/%d", ++data_seq);
    if (peer_open(&a, sc, sc->name, 1) || peer_open(&o, sc, sc->name, 0)) goto out;

    rev0 = etcd_rev(sc->cl);
    r = etcde_campaign(a.e, v1, n, 15000);
    record(sc, C_CAMPAIGN, outcome_of(r, 0), r);
    check_refused(sc, "campaign", r, etcde_election_errmsg(a.e), strlen(sc->name) + 17, rev0);
    if (!sample_shown[sc->expect]) {
        sample_shown[sc->expect] = 1;
        snprintf(sample, sizeof sample, "%s", etcde_election_errmsg(a.e));
    }
    CHECKF(!etcde_is_leader(a.e), "%s: leader after a refused campaign", sc->label);
    /* refused before sending, or refused by etcd: either way no key can stand, so there
       is nothing to end the session for */
    CHECKF((etcde_session_remaining_ms(a.s) > 0),
           "%s: the session did not survive the refused campaign: %s", sc->label,
           etcde_session_errmsg(a.s));
    check_keys(sc, 0, "after the refused campaign");
    if (etcde_session_remaining_ms(a.s) ==
        0) { /* go on with a fresh candidate, to cover the rest */
        peer_close(&a);
        if (peer_open(&a, sc, sc->name, 1)) goto out;
    }

    /* the name is free: another candidate is elected at once */
    if (peer_open(&b, sc, sc->name, 1) == 0) {
        t0 = etcdt_now_ms();
        r = etcde_campaign(b.e, "second", 6, 3000);
        CHECKF(r == ETCDE_OK, "%s: second candidate: %s: %s", sc->label, etcde_strerror(r),
               etcde_election_errmsg(b.e));
        CHECKF(etcdt_now_ms() - t0 < 1000, "%s: second candidate took %lld ms", sc->label,
               (long long)(etcdt_now_ms() - t0));
    }
    peer_close(&b);
    check_keys(sc, 0, "after the second candidate left");

    /* the refused candidate still campaigns with a value that fits; what it may not do is
       proclaim or write the big one */
    r = etcde_campaign(a.e, "small", 5, 5000);
    CHECKF(r == ETCDE_OK, "%s: campaign after the refused one: %s: %s", sc->label,
           etcde_strerror(r), etcde_election_errmsg(a.e));
    if (r == ETCDE_OK) {
        char *key = dup_bytes(etcde_election_key(a.e), strlen(etcde_election_key(a.e)));
        rev0 = etcd_rev(sc->cl);
        r = etcde_proclaim(a.e, v2, n);
        record(sc, C_PROCLAIM, outcome_of(r, 0), r);
        check_refused(sc, "proclaim", r, etcde_election_errmsg(a.e), strlen(key), rev0);
        CHECKF(etcde_is_leader(a.e), "%s: a refused proclaim cost the leadership", sc->label);
        r = etcde_leader(o.e, &kv);
        CHECKF(r == ETCDE_OK && same(kv.value, kv.value_len, "small", 5) &&
                   same(kv.key, kv.key_len, key, strlen(key)),
               "%s: leader after the refused proclaim: %s", sc->label,
               r ? etcde_election_errmsg(o.e) : "changed");

        rev0 = etcd_rev(sc->cl);
        r = etcde_election_put(a.e, dkey, v3, n);
        record(sc, C_EPUT, outcome_of(r, 0), r);
        check_refused(sc, "election_put", r, etcde_election_errmsg(a.e), strlen(dkey), rev0);
        check_ctl_absent(sc, dkey, "after the refused election_put");
        CHECKF(etcde_is_leader(a.e), "%s: a refused election_put cost the leadership", sc->label);
        CHECK(etcde_resign(a.e) == ETCDE_OK);
        free(key);
    }
    check_keys(sc, 0, "after resign");

    r = etcde_election_create(a.c, a.s, sc->name, &a.m);
    if (r == ETCDE_OK) r = etcde_lock(a.m, 5000);
    CHECKF(r == ETCDE_OK, "%s: lock: %s: %s", sc->label, etcde_strerror(r),
           a.m ? etcde_election_errmsg(a.m) : "");
    if (r == ETCDE_OK) {
        rev0 = etcd_rev(sc->cl);
        r = etcde_election_put(a.m, dkey, v4, n);
        record(sc, C_LOCKPUT, outcome_of(r, 0), r);
        check_refused(sc, "mutex_put", r, etcde_election_errmsg(a.m), strlen(dkey), rev0);
        check_ctl_absent(sc, dkey, "after the refused mutex_put");
        CHECKF(etcde_is_leader(a.m), "%s: a refused mutex_put cost the lock", sc->label);
        CHECK(etcde_unlock(a.m) == ETCDE_OK);
    } else {
        record(sc, C_LOCKPUT, O_OTHER, r);
    }
out:
    peer_close(&o);
    peer_close(&a);
    check_keys(sc, 0, "at the end");
    free(v1);
    free(v2);
    free(v3);
    free(v4);
}

/* Runs one (name, size) case and prints one line about it. */
static void run_case(etcdt_cluster *c, int name_idx, const char *name, const char *name_label,
                     int rowi, size_t lim, int expect) {
    scase sc;
    char label[128];
    int failed_before = etcdt_failed();
    int64_t t0 = etcdt_now_ms();
    memset(&sc, 0, sizeof sc);
    sc.cl = c;
    sc.name_idx = name_idx;
    sc.name = name;
    sc.size = size_rows[rowi].size;
    sc.row = rowi;
    sc.lim = lim;
    sc.named = lim ? lim : ETCD_LIMIT;
    sc.expect = expect;
    snprintf(label, sizeof label, "name %s, value %s", name_label, size_rows[rowi].label);
    sc.label = label;
    etcdt__case_failed = 0; /* per case, for the line below; restored after */
    if (!check_keys(&sc, 0, "before the case")) {
        etcdt__case_failed = 1;
        return;
    }
    if (expect == EXPECT_OK)
        case_fits(&sc);
    else
        case_refused(&sc);
    printf("    %-36s %-20s %5lld ms\n", label,
           etcdt_failed()             ? "FAILED"
           : expect == EXPECT_OK      ? "ok, byte-exact"
           : expect == EXPECT_TOO_BIG ? "TOO_BIG, as it must"
                                      : "refused by etcd",
           (long long)(etcdt_now_ms() - t0));
    if (sample[0]) printf("      the message: %s\n", sample);
    sample[0] = 0;
    fflush(stdout);
    if (failed_before) etcdt__case_failed = 1;
}

static int expect_for(size_t size) { return size <= SIZE_1_4M ? EXPECT_OK : EXPECT_TOO_BIG; }

/* ---- the tests ---------------------------------------------------------------------------------
 */

ETCDT_TEST(every_size_ascii_name) {
    int i;
    for (i = 0; i < NSWEPT; i++)
        run_case(cl, N_ONE, names[N_ONE], name_rows[N_ONE].label, i, 0,
                 expect_for(size_rows[i].size));
}

ETCDT_TEST(every_size_utf8_name) {
    int i;
    for (i = 0; i < NSWEPT; i++)
        run_case(cl, N_UTF8, names[N_UTF8], name_rows[N_UTF8].label, i, 0,
                 expect_for(size_rows[i].size));
}

ETCDT_TEST(every_name_three_sizes) {
    /* 1 byte, 1.4 MiB (with the 10 KiB name the key appears several times in the
       campaign's txn, and it still fits etcd's limit), 4 MiB */
    static const int rows[] = {1, 6, 8};
    static const int which[] = {N_EMPTY, N_10K, N_SLASH};
    size_t i, k;
    for (k = 0; k < sizeof which / sizeof which[0]; k++)
        for (i = 0; i < sizeof rows / sizeof rows[0]; i++)
            run_case(cl, which[k], names[which[k]], name_rows[which[k]].label, rows[i], 0,
                     expect_for(size_rows[rows[i]].size));
}

/* A campaign on a thread. */
typedef struct camp {
    peer p;
    const char *v;
    size_t n;
    pthread_t th;
    int started, done; /* done: atomic */
    etcde_result r;
} camp;

static void *camp_main(void *arg) {
    camp *k = (camp *)arg;
    k->r = etcde_campaign(k->p.e, k->v, k->n, 30000);
    __atomic_store_n(&k->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Why the campaign ended, once it has. */
static const char *camp_why(camp *k, char *buf, size_t cap) {
    if (!__atomic_load_n(&k->done, __ATOMIC_ACQUIRE)) return "still campaigning";
    snprintf(buf, cap, "%s: %s", etcde_strerror(k->r), etcde_election_errmsg(k->p.e));
    return buf;
}

static int camp_wait(camp *k, int ms) {
    int64_t end = etcdt_now_ms() + ms;
    while (!__atomic_load_n(&k->done, __ATOMIC_ACQUIRE) && etcdt_now_ms() < end) etcdt_sleep_ms(2);
    return __atomic_load_n(&k->done, __ATOMIC_ACQUIRE);
}

static void camp_close(camp *k) {
    if (k->started) {
        etcde_client_cancel(k->p.c);
        pthread_join(k->th, NULL);
    }
    peer_close(&k->p);
}

/* Polls until NAME/ holds n keys; 1 if it did within ms. */
static int wait_keys(const scase *sc, int n, int ms) {
    char *out = (char *)xmalloc(LISTCAP);
    int64_t end = etcdt_now_ms() + ms;
    int got;
    while ((got = prefix_keys(sc->cl, sc->name, out, LISTCAP)) != n && etcdt_now_ms() < end)
        etcdt_sleep_ms(50);
    free(out);
    return got == n;
}

ETCDT_TEST(three_queued_candidates_with_the_largest_values) {
    /* A leads, B and C wait, every value 1.4 MiB. C's campaign txn reads back its own key
       and B's (two such values), and each waiter reads its predecessor: the largest
       responses the default max_response_bytes must hold. Handover A -> B -> C, seen by
       an observer with the exact values. */
    scase sc;
    camp k[3];
    watcher w;
    etcde_kv kv;
    etcde_result r;
    char *v[3] = {NULL, NULL, NULL}, *key[3] = {NULL, NULL, NULL}, why[600];
    peer o;
    int i, wok = 0;
    int64_t t0;
    memset(&sc, 0, sizeof sc);
    sc.cl = cl;
    sc.name = "queue";
    sc.size = SIZE_1_4M;
    sc.name_idx = -1;
    sc.label = "three queued 1.4 MiB candidates";
    sc.named = ETCD_LIMIT;
    memset(k, 0, sizeof k);
    memset(&o, 0, sizeof o);
    memset(&w, 0, sizeof w);
    for (i = 0; i < 3; i++) {
        v[i] = make_value(SIZE_1_4M, 10 + (unsigned)i, 0);
        k[i].v = v[i];
        k[i].n = SIZE_1_4M;
        if (peer_open(&k[i].p, &sc, sc.name, 1)) goto out;
    }
    if (peer_open(&o, &sc, sc.name, 0)) goto out;
    r = etcde_campaign(k[0].p.e, v[0], SIZE_1_4M, 15000);
    CHECKF(r == ETCDE_OK, "A: %s: %s", etcde_strerror(r), etcde_election_errmsg(k[0].p.e));
    if (r) goto out;
    for (i = 1; i < 3; i++) {
        k[i].started = pthread_create(&k[i].th, NULL, camp_main, &k[i]) == 0;
        CHECKF(wait_keys(&sc, i + 1, 10000), "candidate %d did not queue", i);
        CHECKF(!__atomic_load_n(&k[i].done, __ATOMIC_ACQUIRE), "candidate %d did not wait: %s", i,
               camp_why(&k[i], why, sizeof why));
    }
    for (i = 0; i < 3; i++)
        key[i] = dup_bytes(etcde_election_key(k[i].p.e), strlen(etcde_election_key(k[i].p.e)));
    r = etcde_leader(o.e, &kv);
    CHECKF(r == ETCDE_OK && same(kv.key, kv.key_len, key[0], strlen(key[0])) &&
               same(kv.value, kv.value_len, v[0], SIZE_1_4M),
           "leader with two waiters: %s: %s", etcde_strerror(r),
           r ? etcde_election_errmsg(o.e) : "not A's exact key/value");
    wok = watcher_start(&w, &sc, 3) == 0;
    CHECKF(wok && watcher_wait(&w, 1, 15000) && watcher_saw(&w, 0, key[0], v[0], SIZE_1_4M),
           "observer: first event is not A (%s)", watcher_why(&w, why, sizeof why));
    for (i = 1; i < 3; i++) {
        t0 = etcdt_now_ms();
        CHECK(etcde_resign(k[i - 1].p.e) == ETCDE_OK);
        CHECKF(camp_wait(&k[i], 10000) && k[i].r == ETCDE_OK, "candidate %d not elected: %s", i,
               camp_why(&k[i], why, sizeof why));
        printf("    handover %c -> %c with 1.4 MiB values: %lld ms\n", 'A' + i - 1, 'A' + i,
               (long long)(etcdt_now_ms() - t0));
        CHECKF(i == 2 || !__atomic_load_n(&k[2].done, __ATOMIC_ACQUIRE),
               "C was elected with B ahead");
        CHECKF(wok && watcher_wait(&w, i + 1, 15000) && watcher_saw(&w, i, key[i], v[i], SIZE_1_4M),
               "observer: event %d is not candidate %d with its exact value (%s)", i, i,
               watcher_why(&w, why, sizeof why));
    }
    check_ctl_value(&sc, key[2], v[2], SIZE_1_4M, "C's key");
out:
    watcher_stop(&w);
    for (i = 0; i < 3; i++) {
        camp_close(&k[i]);
        free(v[i]);
        free(key[i]);
    }
    peer_close(&o);
    CHECK(wait_keys(&sc, 0, 5000));
}

ETCDT_TEST(name_too_big_for_any_request) {
    /* A 2 MiB NAME: the key alone exceeds the limit, so campaign and lock are refused
       before sending (creating the handles may already refuse it); nothing changes in
       etcd, and nothing crashes. */
    scase sc;
    size_t n = 2 * MIB;
    char *name = make_value(n, 7, 1), pfx[65], *out;
    etcde_options o = {0};
    etcde_session_options so = {0};
    etcde_client *c = NULL;
    etcde_session *s = NULL;
    etcde_election *e = NULL;
    etcde_election *m = NULL;
    etcde_kv kv;
    etcde_result r;
    long long rev0 = etcd_rev(cl);
    memset(&sc, 0, sizeof sc);
    sc.cl = cl;
    sc.name = name;
    sc.name_idx = -1;
    sc.label = "2 MiB name";
    sc.named = ETCD_LIMIT;
    sc.expect = EXPECT_TOO_BIG;
    o.endpoints = etcdt_endpoints(cl);
    so.ttl_s = 10;
    REQUIRE(etcde_client_create(&o, &c) == ETCDE_OK);
    r = etcde_session_create(c, &so, &s);
    CHECKF(r == ETCDE_OK, "session: %s", etcde_client_errmsg(c));
    if (r == ETCDE_OK) {
        r = etcde_election_create(c, s, name, &e);
        CHECKF(r == ETCDE_OK || r == ETCDE_ERR_TOO_BIG || r == ETCDE_ERR_INVALID_ARGS,
               "election_create: %s: %s", etcde_strerror(r), etcde_client_errmsg(c));
        if (e) {
            r = etcde_campaign(e, "v", 1, 5000);
            CHECKF(r == ETCDE_ERR_TOO_BIG, "campaign: %s: %s", etcde_strerror(r),
                   etcde_election_errmsg(e));
            if (r == ETCDE_ERR_TOO_BIG)
                check_big_msg(&sc, "campaign", etcde_election_errmsg(e), n + 17, 1);
            CHECK(!etcde_is_leader(e));
            r = etcde_leader(e, &kv); /* a read: refused here or by etcd, but never a leader */
            CHECKF(r != ETCDE_OK, "leader of a 2 MiB name: OK?");
        }
        r = etcde_election_create(c, s, name, &m);
        CHECKF(r == ETCDE_OK || r == ETCDE_ERR_TOO_BIG || r == ETCDE_ERR_INVALID_ARGS,
               "mutex_create: %s: %s", etcde_strerror(r), etcde_client_errmsg(c));
        if (m) {
            r = etcde_lock(m, 5000);
            CHECKF(r == ETCDE_ERR_TOO_BIG, "lock: %s: %s", etcde_strerror(r),
                   etcde_election_errmsg(m));
            if (r == ETCDE_ERR_TOO_BIG)
                check_big_msg(&sc, "lock", etcde_election_errmsg(m), n + 17, 0);
            r = etcde_trylock(m);
            CHECKF(r == ETCDE_ERR_TOO_BIG, "trylock: %s: %s", etcde_strerror(r),
                   etcde_election_errmsg(m));
            CHECK(!etcde_is_leader(m));
        }
    }
    etcde_election_destroy(m);
    etcde_election_destroy(e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    CHECKF(etcd_rev(cl) == rev0, "etcd's revision moved: %lld -> %lld", rev0, etcd_rev(cl));
    /* an argv string cannot hold the name: list by its first 64 bytes */
    memcpy(pfx, name, 64);
    pfx[64] = 0;
    out = (char *)xmalloc(LISTCAP);
    CHECKF(etcdt_etcdctl(cl, out, LISTCAP, 10000, "get", "--prefix", "--keys-only", pfx, NULL) ==
                   0 &&
               out[0] == 0,
           "keys left: %.200s", out);
    free(out);
    free(name);
}

ETCDT_TEST(client_limit_above_etcds) {
    /* A client told max_request_bytes = 8 MiB against etcd's 1.5 MiB: the 2 MiB requests
       go out and etcd refuses them. Still no key left, nothing changed, the name free. */
    run_case(cl, -1, "above", "\"above\"", ROW_2M_CLIENT_ABOVE, 8 * MIB, EXPECT_ETCD_REFUSES);
}

ETCDT_TEST(cli_max_request_bytes_flag) {
    scase sc;
    char *big = make_value(100 * KIB, 20, 1), *fits = make_value(60 * KIB, 21, 1), *out;
    etcdt_proc *p;
    long long rev0;
    int st;
    memset(&sc, 0, sizeof sc);
    sc.cl = cl;
    sc.name = "cli-limit";
    sc.name_idx = -1;
    sc.label = "CLI --max-request-bytes=65536";
    sc.named = 65536;
    sc.expect = EXPECT_TOO_BIG;
    /* 100 KiB over a 64 KiB limit: refused before sending, status 1, the library's message */
    rev0 = etcd_rev(cl);
    p = cli_run(&sc, 65536, "elect", sc.name, big, NULL);
    st = p ? etcdt_proc_wait(p, 10000) : -1;
    CHECKF(st == 1, "exit status %d, expected 1", st);
    out = dup_bytes(p ? etcdt_proc_stderr(p) : "", strlen(p ? etcdt_proc_stderr(p) : ""));
    out[strcspn(out, "\n")] = 0;
    check_big_msg(&sc, "etcd-elect elect", out, strlen(sc.name) + 17, 100 * KIB);
    CHECKF(etcd_rev(cl) == rev0, "etcd's revision moved: %lld -> %lld", rev0, etcd_rev(cl));
    check_keys(&sc, 0, "after the refused CLI campaign");
    free(out);
    etcdt_proc_free(p);
    /* 60 KiB fits under it ("--flag N" form too) */
    {
        char ep[256], *argv[8];
        char *key = NULL, why[300] = "";
        int ok;
        snprintf(ep, sizeof ep, "--endpoints=%s", etcdt_endpoints(cl));
        argv[0] = cli_path;
        argv[1] = ep;
        argv[2] = (char *)"--max-request-bytes";
        argv[3] = (char *)"65536";
        argv[4] = (char *)"elect";
        argv[5] = (char *)sc.name;
        argv[6] = fits;
        argv[7] = NULL;
        p = etcdt_spawn(argv, NULL);
        ok = p && read_leader(p, &sc, NULL, fits, 60 * KIB, &key, why, sizeof why);
        CHECKF(ok, "60 KiB under --max-request-bytes 65536: %s; stderr: %.300s", why,
               p ? etcdt_proc_stderr(p) : "");
        if (p) etcdt_proc_signal(p, SIGINT);
        CHECK(p && etcdt_proc_wait(p, 10000) == 0);
        free(key);
        etcdt_proc_free(p);
    }
    check_keys(&sc, 0, "after the CLI resigned");
    /* junk is bad usage, as for the other numeric flags */
    p = cli_run(&sc, 0, "--max-request-bytes=lots", "elect", sc.name, NULL);
    st = p ? etcdt_proc_wait(p, 10000) : -1;
    CHECKF(st == 2, "--max-request-bytes=lots: exit %d, expected 2", st);
    etcdt_proc_free(p);
    free(big);
    free(fits);
}

ETCDT_TEST(raised_limits_carry_4_mib) {
    /* etcd --max-request-bytes=5 MiB and clients (and the CLI) told the same: 4 MiB
       round-trips everywhere but argv; 6 MiB is refused, naming 5242880. Without the
       flag the CLI cannot read a 4 MiB leader (its response limit follows the request
       limit): an error, not a crash. */
    etcdt_cluster *big = etcdt_cluster_start(1, "--max-request-bytes 5242880");
    REQUIRE(big != NULL);
    run_case(big, -1, "x", "\"x\"", ROW_4M_RAISED, RAISED_LIMIT, EXPECT_OK);
    run_case(big, -1, "x", "\"x\"", ROW_6M_RAISED, RAISED_LIMIT, EXPECT_TOO_BIG);
    {
        scase sc;
        peer a;
        char *v = make_value(4 * MIB, 30, 1);
        memset(&sc, 0, sizeof sc);
        sc.cl = big;
        sc.name = "x";
        sc.name_idx = -1;
        sc.lim = RAISED_LIMIT;
        sc.label = "4 MiB leader, CLI without the flag";
        if (peer_open(&a, &sc, "x", 1) == 0 && etcde_campaign(a.e, v, 4 * MIB, 15000) == ETCDE_OK) {
            etcdt_proc *p = cli_run(&sc, 0, "elect", "-l", "x", NULL);
            int st = p ? etcdt_proc_wait(p, 15000) : -1;
            CHECKF(p && st == 1 && !strncmp(etcdt_proc_stderr(p), "etcd-elect: ", 12),
                   "etcd-elect elect -l (default limits) on a 4 MiB leader: exit %d, stderr %.300s",
                   st, p ? etcdt_proc_stderr(p) : "");
            etcdt_proc_free(p);
        } else {
            CHECKF(0, "4 MiB leader: %s", a.e ? etcde_election_errmsg(a.e) : "no client");
        }
        peer_close(&a);
        free(v);
    }
    etcdt_cluster_stop(big);
}

/* ---- the table --------------------------------------------------------------------------------
 */

static void cell_text(const row *rw, int col, char *out, size_t cap) {
    int c = rw->cell[col];
    size_t n = 0;
    out[0] = 0;
    if (!c) {
        snprintf(out, cap, "-");
        return;
    }
    if (c & O_OK) n += (size_t)snprintf(out + n, cap - n, "ok");
    if ((c & O_BIG) && n < cap) n += (size_t)snprintf(out + n, cap - n, "%sTOO_BIG", n ? "+" : "");
    if ((c & O_WRONG) && n < cap) n += (size_t)snprintf(out + n, cap - n, "%sWRONG", n ? "+" : "");
    if ((c & O_OTHER) && n < cap)
        snprintf(out + n, cap - n, "%sother(%d)", n ? "+" : "", rw->other[col]);
}

static void print_table(const char *title, const row *rows, int nrows) {
    int i, k;
    char cell[48];
    printf("\n%-13s", title);
    for (k = 0; k < NCOL; k++) printf(" %-11s", col_name[k]);
    printf("\n");
    for (i = 0; i < nrows; i++) {
        printf("%-13s", rows[i].label);
        for (k = 0; k < NCOL; k++) {
            cell_text(&rows[i], k, cell, sizeof cell);
            printf(" %-11s", cell);
        }
        printf("\n");
    }
}

ETCDT_TEST(summary_table) {
    /* Every size was swept, with the outcome its size calls for. */
    int i, k;
    char got[48], exp[48];
    print_table("size", size_rows, NROWS);
    printf(
        "  ok: byte-exact round trip; TOO_BIG: ETCDE_ERR_TOO_BIG, nothing sent; WRONG: data "
        "differed or the CLI\n"
        "  failed; other(N): etcde_result N; -: not run (a CLI VALUE over 128 KiB, an empty NAME "
        "for the CLI,\n"
        "  nothing to read when nothing could be written). lock+put: lock, then etcde_election_put "
        "of the value.\n"
        "  [a] etcd --max-request-bytes=5242880, client max_request_bytes=5242880\n"
        "  [b] client max_request_bytes=8 MiB above etcd's default 1.5 MiB: etcd itself refuses\n");
    print_table("name", name_rows, NNAMES);
    printf("\n");
    fflush(stdout);
    if (filtered) {
        etcdt_skip("only some tests ran: the table is partial");
        return;
    }
    for (i = 0; i < NROWS; i++) {
        const row *rw = &size_rows[i];
        int want = i == ROW_2M_CLIENT_ABOVE ? O_OTHER
                   : i == ROW_6M_RAISED     ? O_BIG
                   : i == ROW_4M_RAISED     ? O_OK
                                            : (rw->size <= SIZE_1_4M ? O_OK : O_BIG);
        for (k = 0; k < NCOL; k++) {
            int must =
                k == C_CAMPAIGN || k == C_PROCLAIM || k == C_EPUT || k == C_LOCKPUT ||
                (want == O_OK && (k == C_LEADER || k == C_OBSERVE || k == C_CLI_OBSERVE)) ||
                (want == O_OK && (k == C_CLI_ELECT || k == C_CLI_LOCK) && rw->size <= ARGV_MAX);
            row shown = *rw;
            if (!must) continue;
            cell_text(rw, k, got, sizeof got);
            shown.cell[k] = want;
            cell_text(&shown, k, exp, sizeof exp);
            CHECKF(rw->cell[k] == want, "size %s, %s: %s, expected %s", rw->label, col_name[k], got,
                   exp);
        }
    }
}

int main(int argc, char **argv) {
    struct etcdt_case cases[] = {
        ETCDT_CASE(every_size_ascii_name),
        ETCDT_CASE(every_size_utf8_name),
        ETCDT_CASE(every_name_three_sizes),
        ETCDT_CASE(three_queued_candidates_with_the_largest_values),
        ETCDT_CASE(name_too_big_for_any_request),
        ETCDT_CASE(client_limit_above_etcds),
        ETCDT_CASE(cli_max_request_bytes_flag),
        ETCDT_CASE(raised_limits_carry_4_mib),
        ETCDT_CASE(summary_table),
    };
    const char *self = etcdt_self_path();
    const char *slash = self ? strrchr(self, '/') : NULL;
    size_t i;
    int rc;
    signal(SIGPIPE, SIG_IGN);
    filtered = argc > 1 && argv[1][0];
    if (!slash) {
        fprintf(stderr, "cannot find the test binary's directory\n0 passed, 1 failed\n");
        return 1;
    }
    snprintf(cli_path, sizeof cli_path, "%.*s/../etcd-elect", (int)(slash - self), self);
    if (access(cli_path, X_OK) != 0) {
        fprintf(stderr, "%s not built (make build/etcd-elect)\n0 passed, 1 failed\n", cli_path);
        return 1;
    }
    names[N_EMPTY] = dup_bytes("", 0);
    names[N_ONE] = dup_bytes("x", 1);
    names[N_10K] = make_value(10 * KIB, 5, 1);
    names[N_SLASH] = dup_bytes("dir/sub dir/with spaces", 23);
    names[N_UTF8] = dup_bytes("wahl/\xc3\xa9 \xe9\x81\xb8\xe6\x8c\x99",
                              strlen("wahl/\xc3\xa9 \xe9\x81\xb8\xe6\x8c\x99"));
    cl = etcdt_cluster_start(1, NULL);
    if (!cl) {
        fprintf(stderr, "could not start etcd\n0 passed, 1 failed\n");
        return 1;
    }
    rc = etcdt_run("sizes", cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    etcdt_cluster_stop(cl);
    for (i = 0; i < NNAMES; i++) free(names[i]);
    return rc;
}
