/* An etcde_transport that speaks TLS through OpenSSL, for examples/tls_openssl.c and the
   etcd-elect CLI. Include it after etcd_elect.h; link with -lssl -lcrypto.

     char err[512];
     SSL_CTX *ctx = tls_ctx_new(cacert, cert, key, verify, err, sizeof err);
     etcde_transport t;
     tls_transport(&t, ctx);            then etcde_options.transport = &t

   The library dials TCP and does every wait with poll(); the hook only runs the handshake
   and moves bytes through SSL_read/SSL_write. With verify, the server's certificate must
   chain to cacert (or, without cacert, to the system's trusted CAs) and name the host the
   endpoint names: an IP address or a DNS name (then also sent as SNI). */
#ifndef ETCDE_TLS_OPENSSL_H
#define ETCDE_TLS_OPENSSL_H

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The reason of the last TLS failure seen on a connection after its handshake (e.g. an
   alert from a server that refused our client certificate), or NULL. OpenSSL's reason
   strings are static, so a pointer is all there is to share between threads. */
static const char *tls_failure;

static const char *tls_last_error(void) { return __atomic_load_n(&tls_failure, __ATOMIC_ACQUIRE); }

static void tls_note_error(unsigned long code) {
    const char *why = code ? ERR_reason_error_string(code) : NULL;
    if (why) __atomic_store_n(&tls_failure, why, __ATOMIC_RELEASE);
}

/* Runs one handshake step until done, waiting on the socket as OpenSSL asks. */
static int tls_open(void *ud, int fd, const char *host, int timeout_ms, void **conn, char *err,
                    size_t cap) {
    SSL_CTX *ctx = (SSL_CTX *)ud;
    SSL *ssl = SSL_new(ctx);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!ssl || !SSL_set_fd(ssl, fd)) {
        snprintf(err, cap, "SSL_new failed");
        SSL_free(ssl);
        return -1;
    }
    if (SSL_CTX_get_verify_mode(ctx) != SSL_VERIFY_NONE) {
        unsigned char ip[16];
        if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
        } else {
            SSL_set_tlsext_host_name(ssl, host);
            SSL_set1_host(ssl, host);
        }
    }
    for (;;) {
        int r = SSL_connect(ssl), e, left;
        struct pollfd p;
        if (r == 1) break;
        e = SSL_get_error(ssl, r);
        clock_gettime(CLOCK_MONOTONIC, &t);
        left =
            timeout_ms - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || left <= 0) {
            unsigned long code = ERR_get_error();
            long vr = SSL_get_verify_result(ssl);
            if (left <= 0)
                snprintf(err, cap, "TLS handshake with %s: timed out", host);
            else if (vr != X509_V_OK)
                snprintf(err, cap,
                         "TLS handshake with %s: certificate verify failed: %s (is the CA "
                         "that signed the server's certificate trusted?)",
                         host, X509_verify_cert_error_string(vr));
            else
                snprintf(err, cap, "TLS handshake with %s: %s", host,
                         code ? ERR_reason_error_string(code) : "failed");
            ERR_clear_error();
            SSL_free(ssl);
            return -1;
        }
        p.fd = fd;
        p.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        poll(&p, 1, left);
    }
    *conn = ssl;
    return 0;
}

static long tls_io_result(SSL *ssl, int r) {
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ: return ETCDE_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return ETCDE_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return 0; /* close_notify: end of stream */
    default:
        tls_note_error(ERR_peek_last_error());
        ERR_clear_error();
        return ETCDE_IO_ERROR;
    }
}

static long tls_read(void *conn, int fd, void *buf, size_t cap) {
    int r = SSL_read((SSL *)conn, buf, cap > 1 << 30 ? 1 << 30 : (int)cap);
    (void)fd;
    return r > 0 ? r : tls_io_result((SSL *)conn, r);
}

static long tls_write(void *conn, int fd, const void *buf, size_t len) {
    int r = SSL_write((SSL *)conn, buf, len > 1 << 30 ? 1 << 30 : (int)len);
    (void)fd;
    return r > 0 ? r : tls_io_result((SSL *)conn, r);
}

static void tls_close(void *conn, int fd) {
    (void)fd;
    if (conn) SSL_free((SSL *)conn); /* no close_notify wait: the socket closes next */
}

/* A client context: trusts cacert (NULL: the system's CAs), presents cert/key if given,
   verifies the server unless verify is 0. NULL on failure, with the reason in err. */
static SSL_CTX *tls_ctx_new(const char *cacert, const char *cert, const char *key, int verify,
                            char *err, size_t cap) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    const char *what = "SSL_CTX_new", *file = "";
    if (ctx) {
        if (cacert && SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1)
            what = "cannot load the CA certificates from ", file = cacert;
        else if (!cacert && verify && SSL_CTX_set_default_verify_paths(ctx) != 1)
            what = "cannot load the system's CA certificates", file = "";
        else if (cert && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
            what = "cannot load the client certificate from ", file = cert;
        else if (key && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
            what = "cannot load the client key from ", file = key;
        else if (cert && key && SSL_CTX_check_private_key(ctx) != 1)
            what = "the client key does not match the certificate in ", file = cert;
        else
            what = NULL;
    }
    if (what) {
        unsigned long code = ERR_peek_last_error();
        const char *why = code ? ERR_reason_error_string(code) : NULL;
        snprintf(err, cap, "%s%s%s%s", what, file, why ? ": " : "", why ? why : "");
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

/* Fills t with the TLS hooks over ctx (which must outlive every client using t). */
static void tls_transport(etcde_transport *t, SSL_CTX *ctx) {
    memset(t, 0, sizeof *t);
    t->open = tls_open;
    t->read = tls_read;
    t->write = tls_write;
    t->close = tls_close;
    t->user_data = ctx;
}

#endif
