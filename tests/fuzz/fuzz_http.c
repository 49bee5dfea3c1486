/* libFuzzer target: the input is what a server sends back. It goes through the response
   reader twice, from memory, in pieces whose sizes come from the first input bytes:
     1. etcde__http_head + etcde__http_read_all (a unary call)
     2. etcde__http_head + etcde__http_next_line until the end (a stream)
   Checks: no memory error (ASan/UBSan), no spinning at end of input, results within the
   caps, and both modes agree on the body when both read it completely.

   Input layout: byte 0 = (cap selector << 4) | piece count (0-15); then `piece count`
   bytes of piece sizes, used in turn (0 = the read times out); then the response.
   Build: clang -std=c99 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_http.c */
#define ETCD_ELECT_STATIC
#define ETCD_ELECT_IMPLEMENTATION
#include "../../etcd_elect.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"

static const etcde_allocator al = {etcde__default_alloc, etcde__default_free, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    feed f1, f2;
    etcde__conn *cn;
    etcde__buf body, line;
    etcde__err err;
    etcde_result r1, r2 = ETCDE_OK;
    size_t np, cap, carry = 0, i;
    char *joined = NULL;
    size_t jlen = 0;
    int lines = 0, end_clean = 0;

    if (size < 1) return 0;
    np = data[0] & 15;
    cap = (size_t)1 << (4 + (data[0] >> 4) % 13); /* 16 .. 64 KiB */
    if (size < 1 + np) return 0;
    memset(&f1, 0, sizeof f1);
    f1.sizes = data + 1;
    f1.nsizes = np;
    f1.d = (const char *)data + 1 + np;
    f1.n = size - 1 - np;
    f2 = f1;

    /* 1. unary: head, then the whole body */
    memset(&err, 0, sizeof err);
    cn = conn_new(&f1);
    etcde__buf_init(&body, &al, cap);
    r1 = etcde__http_head(cn, NULL, &err);
    if (r1 == ETCDE_OK) {
        if (cn->status < 200 || cn->status > 999) abort();
        r1 = etcde__http_read_all(cn, &body, NULL, &err);
        if (r1 == ETCDE_OK) {
            if (body.len > cap) abort();
            if (body.p && body.p[body.len] != 0) abort();
            if (cn->body != ETCDE__BODY_DONE) abort();
        }
    }
    if (r1 != ETCDE_OK && (r1 < ETCDE__RESULT_MIN || !err.msg[0] || err.code != r1))
        abort(); /* a reason */
    free(cn);

    /* 2. stream: head, then newline-separated messages */
    memset(&err, 0, sizeof err);
    cn = conn_new(&f2);
    etcde__buf_init(&line, &al, cap);
    if (etcde__http_head(cn, NULL, &err) == ETCDE_OK) {
        joined = (char *)malloc(f2.n + 2);
        if (!joined) abort();
        for (i = 0; i < 100000; i++) {
            int got = etcde__http_next_line(cn, &line, &carry, NULL, &err);
            if (got < 0) {
                r2 = (etcde_result)got;
                if (!err.msg[0] || err.code != r2) abort();
                break;
            }
            if (got == 0) {
                end_clean = 1;
                break;
            }
            lines++;
            if (line.len > cap) abort();
            if (line.p[line.len] != 0) abort();
            if (memchr(line.p, '\n', line.len)) abort();
            if (jlen + line.len + 1 > f2.n + 2) abort(); /* more bytes out than came in */
            memcpy(joined + jlen, line.p, line.len);
            jlen += line.len;
            joined[jlen++] = '\n';
            (void)etcde__json_parse(line.p, (int)line.len, NULL, 0);
        }
        if (i == 100000) abort();
    }
    free(cn);

    /* both modes read the same body completely: the messages must join up to it */
    if (r1 == ETCDE_OK && end_clean && !f1.timeouts && !f2.timeouts && r2 == ETCDE_OK) {
        int same = jlen == body.len && (jlen == 0 || memcmp(joined, body.p, jlen) == 0);
        int same_but_last_nl = jlen == body.len + 1 && joined[jlen - 1] == '\n' &&
                               (body.len == 0 || body.p[body.len - 1] != '\n') &&
                               (body.len == 0 || memcmp(joined, body.p, body.len) == 0);
        if (!same && !same_but_last_nl) {
            fprintf(stderr, "stream lines (%lu bytes joined) differ from the body (%lu bytes)\n",
                    (unsigned long)jlen, (unsigned long)body.len);
            abort();
        }
    }
    (void)lines;
    free(joined);
    etcde__buf_free(&body);
    etcde__buf_free(&line);
    return 0;
}
