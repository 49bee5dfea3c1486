/* Demonstrates the transport hook: etcd over TLS with OpenSSL, without the header
   depending on it. The library dials TCP and does every wait with poll(); the hook only
   runs the handshake and moves bytes through SSL_read/SSL_write.

     tls_openssl --cacert CA.pem [--cert C.pem --key K.pem] --endpoints https://H:P NAME VALUE

   Campaigns on NAME with VALUE, prints the key and the fencing token, resigns.
   Build: cc -std=c99 examples/tls_openssl.c -o build/tls_openssl -pthread -lssl -lcrypto */
#define _POSIX_C_SOURCE 200809L
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Runs one handshake step until done, waiting on the socket as OpenSSL asks. */
static int tls_open(void *ud, int fd, const char *host, int timeout_ms, void **conn, char *err,
                    size_t cap) {
    SSL *ssl = SSL_new((SSL_CTX *)ud);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!ssl || !SSL_set_fd(ssl, fd)) {
        snprintf(err, cap, "SSL_new failed");
        SSL_free(ssl);
        return -1;
    }
    { /* the certificate must name the host: an IP address or a DNS name (then also SNI) */
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
            snprintf(err, cap, "TLS handshake with %s: %s", host,
                     left <= 0 ? "timed out"
                     : code    ? ERR_reason_error_string(code)
                               : "failed");
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
    default: return ETCDE_IO_ERROR;
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

int main(int argc, char **argv) {
    const char *ca = NULL, *cert = NULL, *key = NULL, *eps = NULL, *name = NULL, *value = NULL;
    etcde_transport t;
    etcde_options o = {0};
    etcde_session_options so = {0};
    etcde_client *c;
    etcde_session *s;
    etcde_election *e;
    etcde_result r;
    SSL_CTX *ctx;
    int i;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cacert") && i + 1 < argc)
            ca = argv[++i];
        else if (!strcmp(argv[i], "--cert") && i + 1 < argc)
            cert = argv[++i];
        else if (!strcmp(argv[i], "--key") && i + 1 < argc)
            key = argv[++i];
        else if (!strcmp(argv[i], "--endpoints") && i + 1 < argc)
            eps = argv[++i];
        else if (!name)
            name = argv[i];
        else
            value = argv[i];
    }
    if (!ca || !eps || !name || !value) {
        fprintf(stderr,
                "usage: %s --cacert CA.pem [--cert C.pem --key K.pem] --endpoints https://H:P NAME "
                "VALUE\n",
                argv[0]);
        return 2;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
        (cert && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) ||
        (key && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)) {
        fprintf(stderr, "TLS setup: %s\n", ERR_reason_error_string(ERR_get_error()));
        return 1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    memset(&t, 0, sizeof t);
    t.open = tls_open;
    t.read = tls_read;
    t.write = tls_write;
    t.close = tls_close;
    t.user_data = ctx;
    o.endpoints = eps;
    o.transport = &t;
    so.ttl_s = 10;
    if ((r = etcde_client_create(&o, &c)) != ETCDE_OK) {
        fprintf(stderr, "client: %s\n", etcde_client_errmsg(NULL));
        return 1;
    }
    if ((r = etcde_session_create(c, &so, &s)) != ETCDE_OK) {
        fprintf(stderr, "session: %s\n", etcde_client_errmsg(c));
        etcde_client_destroy(c);
        SSL_CTX_free(ctx);
        return 1;
    }
    etcde_election_create(c, s, name, &e);
    r = etcde_campaign(e, value, strlen(value), 10000);
    if (r == ETCDE_OK) {
        printf("%s\n%lld\n", etcde_election_key(e), (long long)etcde_election_rev(e));
        r = etcde_resign(e);
    }
    if (r != ETCDE_OK) fprintf(stderr, "campaign: %s\n", etcde_election_errmsg(e));
    etcde_election_destroy(e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    SSL_CTX_free(ctx);
    return r == ETCDE_OK ? 0 : 1;
}
