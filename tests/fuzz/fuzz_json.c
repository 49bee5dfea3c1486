/* libFuzzer target: the JSON reader. The input is a response body.
     - etcde__json_parse count pass, then the fill pass into exactly that many tokens (must
       give the same count) and into one token fewer (must say ETCDE__J_MANY);
     - a small recursive validator written here from the JSON grammar (RFC 8259, bytes in
       strings not checked as UTF-8) must agree on valid / too deep / invalid and on the
       token count;
     - token invariants (bounds, subtree ends, sizes);
     - the lookups etcd responses go through: etcde__jpath on a set of etcd paths,
       etcde__jget/etcde__jat on every container, etcde__jint, etcde__jtrue, etcde__jstr into
       a small buffer, etcde__jb64 (in place) on every string token.
   Build: clang -std=c99 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_json.c */
#define ETCD_ELECT_STATIC
#define ETCD_ELECT_IMPLEMENTATION
#include "../../etcd_elect.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the reference validator --------------------------------------------------------- */

enum { REF_OK = 0, REF_INVALID = 1, REF_DEEP = 2 };

typedef struct ref {
    const char *s;
    int n, i, tokens;
} ref;

static void r_ws(ref *r) {
    while (r->i < r->n &&
           (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r'))
        r->i++;
}

static int r_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int r_string(ref *r) { /* at the opening quote */
    r->i++;
    while (r->i < r->n) {
        unsigned char c = (unsigned char)r->s[r->i++];
        if (c == '"') return REF_OK;
        if (c < 0x20) return REF_INVALID;
        if (c == '\\') {
            char e;
            int k;
            if (r->i >= r->n) return REF_INVALID;
            e = r->s[r->i++];
            if (e == 'u') {
                for (k = 0; k < 4; k++)
                    if (r->i >= r->n || !r_hex(r->s[r->i++])) return REF_INVALID;
            } else if (!strchr("\"\\/bfnrt", e) || e == 0) {
                return REF_INVALID;
            }
        }
    }
    return REF_INVALID;
}

static int r_digits(ref *r) {
    int d = 0;
    while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9') r->i++, d++;
    return d;
}

static int r_delim(char c) {
    return c == ',' || c == '}' || c == ']' || c == ':' || c == ' ' || c == '\t' || c == '\n' ||
           c == '\r' || c == '"' || c == '{' || c == '[';
}

static int r_value(ref *r, int depth) {
    char c;
    int e;
    r_ws(r);
    if (r->i >= r->n) return REF_INVALID;
    c = r->s[r->i];
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        if (depth >= ETCDE_MAX_JSON_DEPTH) return REF_DEEP;
        r->tokens++;
        r->i++;
        r_ws(r);
        if (r->i < r->n && r->s[r->i] == close) {
            r->i++;
            return REF_OK;
        }
        for (;;) {
            if (c == '{') {
                r_ws(r);
                if (r->i >= r->n || r->s[r->i] != '"') return REF_INVALID;
                if ((e = r_string(r)) != REF_OK) return e;
                r->tokens++;
                r_ws(r);
                if (r->i >= r->n || r->s[r->i] != ':') return REF_INVALID;
                r->i++;
            }
            if ((e = r_value(r, depth + 1)) != REF_OK) return e;
            r_ws(r);
            if (r->i >= r->n) return REF_INVALID;
            if (r->s[r->i] == ',') {
                r->i++;
                continue;
            }
            if (r->s[r->i] == close) {
                r->i++;
                return REF_OK;
            }
            return REF_INVALID;
        }
    }
    r->tokens++;
    if (c == '"') return r_string(r);
    if (r->n - r->i >= 4 && !memcmp(r->s + r->i, "true", 4))
        r->i += 4;
    else if (r->n - r->i >= 5 && !memcmp(r->s + r->i, "false", 5))
        r->i += 5;
    else if (r->n - r->i >= 4 && !memcmp(r->s + r->i, "null", 4))
        r->i += 4;
    else {
        if (r->s[r->i] == '-') r->i++;
        if (r->n - r->i >= 2 && r->s[r->i] == '0' && r->s[r->i + 1] >= '0' && r->s[r->i + 1] <= '9')
            return REF_INVALID; /* no leading zeros */
        if (!r_digits(r)) return REF_INVALID;
        if (r->i < r->n && r->s[r->i] == '.') {
            r->i++;
            if (!r_digits(r)) return REF_INVALID;
        }
        if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
            r->i++;
            if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-')) r->i++;
            if (!r_digits(r)) return REF_INVALID;
        }
    }
    /* a literal or number must end at a delimiter */
    if (r->i < r->n && !r_delim(r->s[r->i])) return REF_INVALID;
    return REF_OK;
}

/* REF_OK with *tokens, REF_DEEP or REF_INVALID. */
static int ref_parse(const char *s, int n, int *tokens) {
    ref r;
    int e;
    r.s = s;
    r.n = n;
    r.i = 0;
    r.tokens = 0;
    e = r_value(&r, 0);
    if (e != REF_OK) return e;
    r_ws(&r);
    if (r.i != n) return REF_INVALID;
    *tokens = r.tokens;
    return REF_OK;
}

/* ---- the target ---------------------------------------------------------------------- */

static const char *const PATHS[] = {"header.revision",
                                    "header.cluster_id",
                                    "ID",
                                    "TTL",
                                    "result.TTL",
                                    "succeeded",
                                    "kvs.0",
                                    "kvs.0.key",
                                    "kvs.0.value",
                                    "kvs.1.create_revision",
                                    "responses.0.response_range.kvs.0",
                                    "responses.1.response_range.kvs.0",
                                    "responses.0.response_put.header.revision",
                                    "result.header.revision",
                                    "result.events",
                                    "result.events.0.kv",
                                    "result.canceled",
                                    "result.cancel_reason",
                                    "error",
                                    "error.grpc_code",
                                    "error.http_code",
                                    "error.message",
                                    "code",
                                    "message",
                                    "token",
                                    "0",
                                    "0.0.0",
                                    "1.a",
                                    "a.1.b.2.c.3",
                                    "0123456789012345678901234567890123456789012345678",
                                    ""};

static void check_tokens(const etcde__json *j, int len) {
    int i;
    for (i = 0; i < j->n; i++) {
        const etcde__tok *t = &j->t[i];
        if (t->type < ETCDE__J_OBJ || t->type > ETCDE__J_PRIM) abort();
        if (t->start < 0 || t->end < t->start || t->end > len) abort();
        if (t->next <= i || t->next > j->n) abort();
        if (t->size < 0) abort();
        if (t->type == ETCDE__J_STR || t->type == ETCDE__J_PRIM) {
            if (t->next != i + 1 || t->size != 0) abort();
        }
        if (t->type == ETCDE__J_OBJ && t->next < i + 1 + 2 * t->size) abort();
        if (t->type == ETCDE__J_ARR && t->next < i + 1 + t->size) abort();
        if (t->type == ETCDE__J_STR &&
            (t->start < 1 || j->s[t->start - 1] != '"' || j->s[t->end] != '"'))
            abort();
    }
    if (j->n > 0 && j->t[0].next != j->n) abort(); /* the root spans every token */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s;
    int len, n, m, want, rtok = 0, i, p;
    etcde__tok *t;
    etcde__json j;
    char small[16];

    if (size > (1u << 20)) return 0;
    len = (int)size;
    s = (char *)malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = 0;

    n = etcde__json_parse(s, len, NULL, 0);
    want = ref_parse(s, len, &rtok);
    if ((want == REF_OK) != (n > 0) || (want == REF_DEEP) != (n == ETCDE__J_DEEP) ||
        (want == REF_INVALID) != (n == ETCDE__J_INVALID)) {
        fprintf(stderr, "library says %d, reference says %s\n", n,
                want == REF_OK     ? "valid"
                : want == REF_DEEP ? "too deep"
                                   : "invalid");
        abort();
    }
    if (n <= 0) goto out;
    if (n != rtok) {
        fprintf(stderr, "library counts %d tokens, reference %d\n", n, rtok);
        abort();
    }

    t = (etcde__tok *)malloc(sizeof *t * (size_t)n);
    if (!t) abort();
    if (n > 1 && etcde__json_parse(s, len, t, n - 1) != ETCDE__J_MANY) abort();
    m = etcde__json_parse(s, len, t, n);
    if (m != n) abort();
    j.s = s;
    j.t = t;
    j.n = n;
    check_tokens(&j, len);

    for (p = 0; p < (int)(sizeof PATHS / sizeof PATHS[0]); p++) {
        int k = etcde__jpath(&j, 0, PATHS[p]);
        size_t w;
        if (k < -1 || k >= n) abort();
        (void)etcde__jint(&j, k, -1);
        (void)etcde__jtrue(&j, k);
        w = etcde__jstr(&j, k, small, sizeof small);
        if (w >= sizeof small || small[w] != 0) abort();
    }
    for (i = 0; i < n; i++) {
        size_t w;
        if (t[i].type == ETCDE__J_OBJ) {
            int k;
            for (k = i + 1; k < t[i].next; k = t[k + 1].next) {
                int v;
                char key[64];
                if (t[k].type != ETCDE__J_STR) abort(); /* keys are strings */
                if (k + 1 >= t[i].next) abort();
                etcde__jstr(&j, k, key, sizeof key);
                v = etcde__jget(&j, i, key);
                if (v < i + 2 || v >= t[i].next) {
                    /* keys with escapes or NULs need not match themselves: etcde__jeq compares raw
                     * text */
                    if (!memchr(s + t[k].start, '\\', (size_t)(t[k].end - t[k].start)) &&
                        (size_t)(t[k].end - t[k].start) < sizeof key - 1)
                        abort();
                }
            }
        } else if (t[i].type == ETCDE__J_ARR) {
            int e, k = i + 1;
            for (e = 0; e < t[i].size; e++) {
                if (etcde__jat(&j, i, e) != k) abort();
                k = t[k].next;
            }
            if (k != t[i].next) abort();
            if (etcde__jat(&j, i, t[i].size) != -1) abort();
        }
        w = etcde__jstr(&j, i, small, sizeof small);
        if (w >= sizeof small || small[w] != 0) abort();
        (void)etcde__jint(&j, i, 0);
    }
    /* base64 last: it decodes in place */
    for (i = 0; i < n; i++) {
        const char *v1, *v2;
        size_t n1, n2;
        if (t[i].type != ETCDE__J_STR) {
            if (etcde__jb64(&j, i, &v1, &n1) != -1) abort();
            continue;
        }
        if (etcde__jb64(&j, i, &v1, &n1) == 0) {
            if (n1 > (size_t)(t[i].end - t[i].start) || v1[n1] != 0) abort();
            if (etcde__jb64(&j, i, &v2, &n2) != 0 || v2 != v1 || n2 != n1) abort(); /* cached */
        }
    }
    free(t);
out:
    free(s);
    return 0;
}
