/* Demonstrates the transport hook: etcd over TLS with OpenSSL (tls_openssl.h, which the
   etcd-elect CLI uses too), without the header depending on it.

     tls_openssl --cacert CA.pem [--cert C.pem --key K.pem] --endpoints https://H:P NAME VALUE

   Campaigns on NAME with VALUE, prints the key and the fencing token, resigns.
   Build: cc -std=c99 examples/tls_openssl.c -o build/tls_openssl -pthread -lssl -lcrypto */
#define _POSIX_C_SOURCE 200809L
#define ETCD_ELECT_IMPLEMENTATION
#include "../etcd_elect.h"

#include "tls_openssl.h"

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
    char err[512];
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
    if (!(ctx = tls_ctx_new(ca, cert, key, 1, err, sizeof err))) {
        fprintf(stderr, "TLS setup: %s\n", err);
        return 1;
    }
    tls_transport(&t, ctx);
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
    if (r != ETCDE_OK)
        fprintf(stderr, "campaign: %s%s%s\n", etcde_election_errmsg(e),
                tls_last_error() ? "; TLS: " : "", tls_last_error() ? tls_last_error() : "");
    etcde_election_destroy(e);
    etcde_session_destroy(s);
    etcde_client_destroy(c);
    SSL_CTX_free(ctx);
    return r == ETCDE_OK ? 0 : 1;
}
