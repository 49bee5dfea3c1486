/* OpenSSL for tls_openssl.h, loaded on first use: include this first, then
   tls_openssl.h, and call tls_load() before any other TLS call. A program that links
   OpenSSL pays for loading libssl and libcrypto at every start (about 1.4 ms and 1.8 MiB
   of RSS here) whether it speaks TLS or not; with this, only a run that speaks TLS does.
   Every OpenSSL function tls_openssl.h calls is named here and resolved with dlsym; no
   -lssl -lcrypto at link time. With ETCD_ELECT_TLS_LINKED (a static build, where dlopen
   cannot load a shared libssl), it is linked as usual and tls_load() does nothing. */
#ifndef ETCDE_TLS_OPENSSL_DL_H
#define ETCDE_TLS_OPENSSL_DL_H

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>

#ifdef ETCD_ELECT_TLS_LINKED
static const char *tls_load(void) { return NULL; }
#else
#include <dlfcn.h>

/* X(name): every OpenSSL function tls_openssl.h and the CLI call, macros expanded
   (SSL_CTX_set_mode is SSL_CTX_ctrl, SSL_set_tlsext_host_name is SSL_ctrl). */
#define TLS_DL_FUNCTIONS(X)                                                                    \
    X(ERR_clear_error)                                                                         \
    X(ERR_get_error)                                                                           \
    X(ERR_peek_last_error)                                                                     \
    X(ERR_reason_error_string)                                                                 \
    X(OpenSSL_version)                                                                         \
    X(SSL_CTX_check_private_key)                                                               \
    X(SSL_CTX_ctrl)                                                                            \
    X(SSL_CTX_free)                                                                            \
    X(SSL_CTX_get_verify_mode)                                                                 \
    X(SSL_CTX_load_verify_locations)                                                           \
    X(SSL_CTX_new)                                                                             \
    X(SSL_CTX_set_default_verify_paths)                                                        \
    X(SSL_CTX_set_verify)                                                                      \
    X(SSL_CTX_use_PrivateKey_file)                                                             \
    X(SSL_CTX_use_certificate_chain_file)                                                      \
    X(SSL_connect)                                                                             \
    X(SSL_ctrl)                                                                                \
    X(SSL_free)                                                                                \
    X(SSL_get0_param)                                                                          \
    X(SSL_get_error)                                                                           \
    X(SSL_get_verify_result)                                                                   \
    X(SSL_new)                                                                                 \
    X(SSL_read)                                                                                \
    X(SSL_set1_host)                                                                           \
    X(SSL_set_fd)                                                                              \
    X(SSL_write)                                                                               \
    X(TLS_client_method)                                                                       \
    X(X509_VERIFY_PARAM_set1_ip_asc)                                                           \
    X(X509_verify_cert_error_string)

/* One pointer per function, typed from OpenSSL's own declaration. */
#define TLS_DL_FIELD(name) __typeof__(&name) name;
static struct {
    TLS_DL_FUNCTIONS(TLS_DL_FIELD)
} tls_dl;
#undef TLS_DL_FIELD

/* Loads libssl (and with it libcrypto) once and resolves every function: NULL when done,
   else why not. Not thread-safe: call it before the first connection. */
static const char *tls_load(void) {
    static char why[300];
    static int state; /* 0 not tried, 1 loaded, -1 failed */
    void *h;
    if (state) return state > 0 ? NULL : why;
    state = -1;
    h = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!h) h = dlopen("libssl.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(why, sizeof why, "cannot load OpenSSL (libssl.so.3): %s", dlerror());
        return why;
    }
#define TLS_DL_RESOLVE(name)                                                                   \
    if (!(*(void **)(void *)&tls_dl.name = dlsym(h, #name))) {                                 \
        snprintf(why, sizeof why, "OpenSSL's libssl has no %s: not OpenSSL 3?", #name);         \
        return why;                                                                            \
    }
    TLS_DL_FUNCTIONS(TLS_DL_RESOLVE)
#undef TLS_DL_RESOLVE
    state = 1;
    return NULL;
}

/* From here on, each call goes through its pointer. */
#define ERR_clear_error tls_dl.ERR_clear_error
#define ERR_get_error tls_dl.ERR_get_error
#define ERR_peek_last_error tls_dl.ERR_peek_last_error
#define ERR_reason_error_string tls_dl.ERR_reason_error_string
#define OpenSSL_version tls_dl.OpenSSL_version
#define SSL_CTX_check_private_key tls_dl.SSL_CTX_check_private_key
#define SSL_CTX_ctrl tls_dl.SSL_CTX_ctrl
#define SSL_CTX_free tls_dl.SSL_CTX_free
#define SSL_CTX_get_verify_mode tls_dl.SSL_CTX_get_verify_mode
#define SSL_CTX_load_verify_locations tls_dl.SSL_CTX_load_verify_locations
#define SSL_CTX_new tls_dl.SSL_CTX_new
#define SSL_CTX_set_default_verify_paths tls_dl.SSL_CTX_set_default_verify_paths
#define SSL_CTX_set_verify tls_dl.SSL_CTX_set_verify
#define SSL_CTX_use_PrivateKey_file tls_dl.SSL_CTX_use_PrivateKey_file
#define SSL_CTX_use_certificate_chain_file tls_dl.SSL_CTX_use_certificate_chain_file
#define SSL_connect tls_dl.SSL_connect
#define SSL_ctrl tls_dl.SSL_ctrl
#define SSL_free tls_dl.SSL_free
#define SSL_get0_param tls_dl.SSL_get0_param
#define SSL_get_error tls_dl.SSL_get_error
#define SSL_get_verify_result tls_dl.SSL_get_verify_result
#define SSL_new tls_dl.SSL_new
#define SSL_read tls_dl.SSL_read
#define SSL_set1_host tls_dl.SSL_set1_host
#define SSL_set_fd tls_dl.SSL_set_fd
#define SSL_write tls_dl.SSL_write
#define TLS_client_method tls_dl.TLS_client_method
#define X509_VERIFY_PARAM_set1_ip_asc tls_dl.X509_VERIFY_PARAM_set1_ip_asc
#define X509_verify_cert_error_string tls_dl.X509_verify_cert_error_string
#endif /* ETCD_ELECT_TLS_LINKED */

#endif /* ETCDE_TLS_OPENSSL_DL_H */
