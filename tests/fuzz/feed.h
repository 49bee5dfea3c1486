/* tests/fuzz/feed.h - what the reader targets share: a server's bytes fed from memory, in
   pieces whose sizes come from the input, a piece of 0 timing the read out. */
#ifndef ETCDE_FUZZ_FEED_H
#define ETCDE_FUZZ_FEED_H

typedef struct feed {
    const char *d;
    size_t n, pos;
    const unsigned char *sizes;
    size_t nsizes, k;
    int eof_reads, timeouts;
    size_t written; /* bytes the code under test sent back */
} feed;

static long feed_read(etcde__conn *cn, char *buf, size_t cap, const etcde__wait *w,
                      etcde__err *err) {
    feed *f = (feed *)cn->rd_user;
    size_t piece = cap;
    (void)w;
    if (cap == 0) abort(); /* the reader never asks for nothing */
    if (f->pos >= f->n) {
        if (++f->eof_reads > 16) abort(); /* reading on and on after the end: a spin */
        return 0;
    }
    if (f->nsizes) {
        piece = f->sizes[f->k++ % f->nsizes];
        if (piece == 0) {
            f->timeouts++;
            return etcde__fail(err, ETCDE_ERR_TIMEOUT, "fuzz: read timed out");
        }
    }
    if (piece > cap) piece = cap;
    if (piece > f->n - f->pos) piece = f->n - f->pos;
    memcpy(buf, f->d + f->pos, piece);
    f->pos += piece;
    return (long)piece;
}

static etcde__conn *conn_new(feed *f) {
    etcde__conn *cn = (etcde__conn *)calloc(1, sizeof *cn);
    if (!cn) abort();
    cn->fd = -1;
    cn->rd = feed_read;
    cn->rd_user = f;
    return cn;
}

#endif
