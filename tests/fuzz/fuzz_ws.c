/* libFuzzer target: the input is what a server sends after a WebSocket upgrade. It is
   read message by message with etcde__ws_next, from memory, in pieces whose sizes come
   from the first input bytes; pings and closes are answered into a sink. Checks: no
   memory error (ASan/UBSan), no spinning at the end of input, every message within the
   cap and NUL-terminated, every error with its code and a reason, and no more message
   bytes out than came in.

   Input layout: byte 0 = (cap selector << 4) | piece count (0-15); then `piece count`
   bytes of piece sizes, used in turn (0 = the read times out); then the frames.
   Build: clang -std=c99 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_ws.c */
#define ETCD_ELECT_STATIC
#define ETCD_ELECT_IMPLEMENTATION
#include "../../etcd_elect.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"

static feed *sink_feed;

static long sink_write(void *conn, int fd, const void *buf, size_t len) {
    (void)conn, (void)fd, (void)buf;
    if (len > 4096) abort(); /* pongs and closes are small frames */
    sink_feed->written += len;
    return (long)len;
}

static const etcde_allocator al = {etcde__default_alloc, etcde__default_free, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    etcde_transport tr;
    etcde__conn *cn;
    etcde__buf b;
    etcde__err err;
    feed f;
    size_t np, cap, out = 0, i;
    if (size < 1) return 0;
    np = data[0] & 15;
    cap = (size_t)1 << (4 + (data[0] >> 4) % 13); /* 16 .. 64 KiB */
    if (size < 1 + np) return 0;
    memset(&f, 0, sizeof f);
    f.sizes = data + 1;
    f.nsizes = np;
    f.d = (const char *)data + 1 + np;
    f.n = size - 1 - np;
    sink_feed = &f;
    memset(&tr, 0, sizeof tr);
    tr.write = sink_write;
    cn = conn_new(&f);
    cn->tr = &tr;
    etcde__buf_init(&b, &al, cap);
    for (i = 0; i < 100000; i++) {
        int got;
        memset(&err, 0, sizeof err);
        got = etcde__ws_next(cn, &b, NULL, &err);
        if (got < 0) {
            if (got < ETCDE__RESULT_MIN || !err.msg[0] || err.code != got) abort();
            break; /* a timeout may leave a frame half read: the stream is dropped */
        }
        if (got == 0) {
            if (!err.msg[0]) abort(); /* a close says why */
            break;
        }
        if (b.len > cap || b.p[b.len] != 0) abort();
        out += b.len;
        if (out > f.n) abort(); /* more message bytes out than came in */
    }
    if (i == 100000) abort();
    free(cn);
    etcde__buf_free(&b);
    return 0;
}
