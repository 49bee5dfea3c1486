/* libFuzzer target: the input is a chunked body (chunk-size lines, data, CRLFs, the last
   chunk, trailers). A fixed head is put in front:
       HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n
   and the response is decoded several ways, which must all agree:
     - etcde__http_read_all with a 64 KiB cap, the input arriving at once, 1 byte at a time,
       and in 3-byte pieces: same result code, same body;
     - etcde__http_read_all with a 100-byte cap: the same body if it fits, else TOO_BIG;
     - etcde__http_next_line (stream messages, 64 KiB cap): the messages join up to the body.
   Build: clang -std=c99 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_chunked.c */
#define ETCD_ELECT_STATIC
#define ETCD_ELECT_IMPLEMENTATION
#include "../../etcd_elect.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char HEAD[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

typedef struct feed {
    const char *head;
    size_t hn;
    const char *d;
    size_t n, pos; /* pos counts over head + data */
    size_t piece;  /* 0: as much as asked for */
    int eof_reads;
} feed;

static long feed_read(etcde__conn *cn, char *buf, size_t cap, const etcde__wait *w,
                      etcde__err *err) {
    feed *f = (feed *)cn->rd_user;
    size_t k = 0;
    (void)w;
    (void)err;
    if (cap == 0) abort();
    if (f->pos >= f->hn + f->n) {
        if (++f->eof_reads > 16) abort();
        return 0;
    }
    if (f->piece && cap > f->piece) cap = f->piece;
    while (k < cap && f->pos < f->hn + f->n) {
        buf[k++] = f->pos < f->hn ? f->head[f->pos] : f->d[f->pos - f->hn];
        f->pos++;
    }
    return (long)k;
}

static const etcde_allocator al = {etcde__default_alloc, etcde__default_free, NULL};

typedef struct outcome {
    etcde_result r;
    char *p; /* the body, when r == ETCDE_OK */
    size_t len;
} outcome;

static outcome decode(const uint8_t *data, size_t size, size_t piece, size_t cap) {
    feed f;
    etcde__conn *cn = (etcde__conn *)calloc(1, sizeof *cn);
    etcde__buf b;
    etcde__err err;
    outcome o;
    if (!cn) abort();
    memset(&f, 0, sizeof f);
    memset(&err, 0, sizeof err);
    f.head = HEAD;
    f.hn = sizeof HEAD - 1;
    f.d = (const char *)data;
    f.n = size;
    f.piece = piece;
    cn->fd = -1;
    cn->rd = feed_read;
    cn->rd_user = &f;
    etcde__buf_init(&b, &al, cap);
    o.r = etcde__http_head(cn, NULL, &err);
    if (o.r != ETCDE_OK || cn->body != ETCDE__CHUNK_SIZE) abort(); /* the fixed head is fine */
    o.r = etcde__http_read_all(cn, &b, NULL, &err);
    if (o.r != ETCDE_OK && (!err.msg[0] || err.code != o.r)) abort();
    o.p = NULL;
    o.len = 0;
    if (o.r == ETCDE_OK) {
        if (b.len > cap || (b.p && b.p[b.len])) abort();
        o.len = b.len;
        o.p = (char *)malloc(b.len + 1);
        if (!o.p) abort();
        if (b.len) memcpy(o.p, b.p, b.len);
    }
    etcde__buf_free(&b);
    free(cn);
    return o;
}

static int same(const outcome *a, const outcome *b) {
    if (a->r != b->r) return 0;
    if (a->r != ETCDE_OK) return 1;
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static void differ(const char *what, const outcome *a, const outcome *b) {
    fprintf(stderr, "%s: %s (%lu bytes) vs %s (%lu bytes)\n", what, etcde_strerror(a->r),
            (unsigned long)a->len, etcde_strerror(b->r), (unsigned long)b->len);
    abort();
}

/* The stream reader over the same input, 7-byte pieces; returns 1 if it ended cleanly with
   the messages joining up to `want` (a missing final newline allowed), 0 if it failed
   (which is only allowed where `want` could not be read either). */
static int stream_matches(const uint8_t *data, size_t size, const outcome *want) {
    feed f;
    etcde__conn *cn = (etcde__conn *)calloc(1, sizeof *cn);
    etcde__buf line;
    etcde__err err;
    size_t carry = 0, jlen = 0, i;
    char *joined = (char *)malloc(size + 2);
    int ok = -1;
    if (!cn || !joined) abort();
    memset(&f, 0, sizeof f);
    memset(&err, 0, sizeof err);
    f.head = HEAD;
    f.hn = sizeof HEAD - 1;
    f.d = (const char *)data;
    f.n = size;
    f.piece = 7;
    cn->fd = -1;
    cn->rd = feed_read;
    cn->rd_user = &f;
    etcde__buf_init(&line, &al, (size_t)64 << 10);
    if (etcde__http_head(cn, NULL, &err) != ETCDE_OK) abort();
    for (i = 0; i < 100000 && ok < 0; i++) {
        int got = etcde__http_next_line(cn, &line, &carry, NULL, &err);
        if (got < 0) {
            if (!err.msg[0] || err.code != got) abort();
            ok = 0;
        } else if (got == 0) {
            ok = 1;
        } else {
            if (line.p[line.len] || memchr(line.p, '\n', line.len)) abort();
            if (jlen + line.len + 1 > size + 2) abort();
            memcpy(joined + jlen, line.p, line.len);
            jlen += line.len;
            joined[jlen++] = '\n';
        }
    }
    if (ok < 0) abort(); /* 100 000 messages from at most max_len bytes: a loop */
    if (ok == 1 && want->r == ETCDE_OK) {
        int eq = jlen == want->len && (jlen == 0 || memcmp(joined, want->p, jlen) == 0);
        int eq_nl = jlen == want->len + 1 && joined[jlen - 1] == '\n' &&
                    (want->len == 0 ||
                     (want->p[want->len - 1] != '\n' && memcmp(joined, want->p, want->len) == 0));
        if (!eq && !eq_nl) {
            fprintf(stderr, "stream messages (%lu bytes joined) differ from the body (%lu bytes)\n",
                    (unsigned long)jlen, (unsigned long)want->len);
            abort();
        }
    }
    if (ok == 0 && want->r == ETCDE_OK && want->len < ((size_t)64 << 10)) {
        fprintf(stderr, "stream reader failed (%s) on a body read_all read whole\n", err.msg);
        abort();
    }
    if (ok == 1 && want->r != ETCDE_OK && want->r != ETCDE_ERR_TOO_BIG) {
        fprintf(stderr, "stream reader ended cleanly where read_all said: %s\n",
                etcde_strerror(want->r));
        abort();
    }
    etcde__buf_free(&line);
    free(joined);
    free(cn);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t big = (size_t)64 << 10;
    outcome whole = decode(data, size, 0, big);
    outcome bytes = decode(data, size, 1, big);
    outcome threes = decode(data, size, 3, big);
    outcome small = decode(data, size, 0, 100);
    if (!same(&whole, &bytes)) differ("whole vs 1-byte reads", &whole, &bytes);
    if (!same(&whole, &threes)) differ("whole vs 3-byte reads", &whole, &threes);
    if (whole.r == ETCDE_OK) {
        if (whole.len <= 100 && !same(&whole, &small))
            differ("64 KiB cap vs 100-byte cap", &whole, &small);
        if (whole.len > 100 && small.r != ETCDE_ERR_TOO_BIG)
            differ("over a 100-byte cap", &whole, &small);
    }
    (void)stream_matches(data, size, &whole);
    free(whole.p);
    free(bytes.p);
    free(threes.p);
    free(small.p);
    return 0;
}
