/* etcd_elect.h - v0.3.0 - leader election on etcd v3, in one C header.
   Licensing: MIT, see the end of this file.

   A program that includes this header can campaign for leadership, know at every moment
   whether it still leads, hand leadership over in about a millisecond, and observe who
   leads -- with nothing but libc, POSIX sockets and pthreads. Keys and ordering are those
   of etcd's Go recipe (client/v3/concurrency), so C candidates, `etcdctl elect` and Go
   programs queue in one line on the same election name.

   DO THIS
       #define ETCD_ELECT_IMPLEMENTATION
       #include "etcd_elect.h"
   in *one* C or C++ file; everywhere else include it plainly. Link with -pthread.
   The implementation needs POSIX.1-2008 declarations: under a strict `-std=c99`,
   include this header *first* in that file (it defines _POSIX_C_SOURCE), or compile it
   with -D_POSIX_C_SOURCE=200809L; otherwise an #error says so. gnu99 needs nothing.

   CONFIGURATION (define before including; implementation file only unless noted)
       ETCD_ELECT_STATIC      every function `static` (all files that use it)
       ETCDE_MAX_LINE         longest HTTP status/header/chunk-size line   (default 8192)
       ETCDE_MAX_HEADERS      most response header lines accepted         (default 64)
       ETCDE_MAX_JSON_DEPTH   deepest JSON nesting accepted               (default 64)
       ETCDE_WATCH_REFRESH_MS longest a wait trusts an HTTP watch stream before
                              re-reading the state from etcd, and the shared
                              stream's member before checking its leader  (default 30000)
       ETCDE_WATCH_STREAM     0: every wait on an HTTP watch of its own, not on the
                              client's shared WebSocket watch stream      (default 1)

   QUICK START
       #define ETCD_ELECT_IMPLEMENTATION
       #include "etcd_elect.h"
       #include <stdio.h>
       int main(void) {
           etcde_options o = {0};            // endpoints: $ETCDCTL_ENDPOINTS or 127.0.0.1:2379
           etcde_session_options so = {0};   // TTL 60 s
           etcde_client *c; etcde_session *s; etcde_election *e;
           if (etcde_client_create(&o, &c) || etcde_session_create(c, &so, &s) ||
               etcde_election_create(c, s, "my-election", &e)) {
               fprintf(stderr, "%s\n", etcde_client_errmsg(NULL)); return 1;
           }
           if (etcde_campaign(e, "A", 1, -1)) {                // blocks until elected
               fprintf(stderr, "%s\n", etcde_election_errmsg(e)); return 1;
           }
           printf("leading as %s, fencing token %lld\n", etcde_election_key(e),
                  (long long)etcde_election_rev(e));
           // the work goes here; before each step that needs leadership, check
           // etcde_is_leader(e), or write through etcde_election_put (fenced)
           etcde_resign(e);
           etcde_election_destroy(e); etcde_session_destroy(s); etcde_client_destroy(c);
           return 0;
       }

   OBJECTS
       etcde_client    endpoints, auth, timeouts, HTTP connections, and one watch stream
                       for all its waits (read by a thread of its own while waits use it);
                       the runner thread of its async calls, once one is made.
                       Shared between threads.
       etcde_session   one lease; tells when it is lost. One keepalive thread per client
                       renews the leases of all its sessions.
       etcde_election  one candidate (or observer) in one named election -- or one waiter
                       or holder of one named lock (etcde_lock; excludes `etcdctl lock`)
                       or semaphore (etcde_lock_n: up to n holders).
       Fenced writes (etcde_election_put/_delete) change a key only while the writer still
       holds its election or lock key, in one transaction.

   THE SAFETY CORE (the argument: README.md, "The safety core")
     * A session is lost at  send time of the last acknowledged keepalive + TTL - guard:
       before etcd can delete its keys. Loss is pushed then (flag, fd, callback).
     * Victory needs the own key verified at a revision with no key ahead of it: an expired
       or deleted candidate is never reported as leader. Waiters watch their predecessor
       (a semaphore's: the n keys just ahead).
     * The key's create revision is the fencing token; proclaim, resign, unlock and the
       fenced writes are transactions fenced on it.

   ASYNC
       etcde_campaign_async and etcde_lock_async start a campaign or lock and return at
       once; done(e, result, user_data) runs once when it ends, with the result and the
       message the blocking call would have given. Both kinds are one machine: a blocking
       call steps it on the caller's thread; an async one is stepped by the client's
       runner thread (started by the first async call) when its watch has news, a retry
       is due, or it must end. A waiting async call holds no thread and no descriptor:
       a client's calls share its watch stream and its runner, and its sessions share
       one keepalive thread, so a thousand waits cost three threads (runner, stream
       reader, keepalive), on one session or on many.
       Callbacks run on the runner, one at a time, in the order the calls end -- or, with
       etcde_options.callbacks_in_process, inside etcde_client_process on the thread that
       calls it: poll etcde_client_fd for POLLIN in the program's event loop (poll, epoll,
       libuv's uv_poll) and call it when readable (examples/shards.c).
         * A callback may call anything but etcde_client_destroy -- another async call on
           its own handle included. A blocking call in it delays every other step and
           callback of the client: keep callbacks short.
         * Until its callback runs, a handle refuses other calls with ETCDE_ERR_STATE
           (the message is the calling thread's etcde_client_errmsg); its own message and
           key belong to the call, while etcde_is_leader and etcde_election_rev stay
           readable from any thread.
         * etcde_election_destroy ends the handle's call without its callback (a key the
           call made is deleted, as after any failed campaign) and waits for a callback
           of that handle running on another thread; it may be called from the callback.
         * A step blocks the runner for one request try at most (request_timeout_ms):
           retries wait without blocking it.
         * Where the WebSocket watch stream cannot be used (a user is configured, the
           endpoint refused the upgrade, ETCDE_WATCH_STREAM 0) a call waits on an HTTP
           watch, on a thread of its own; its callback runs there unless in process.
         * Destroy elections before their client: etcde_client_destroy stops the runner.

   THREAD SAFETY
       etcde_client_*            safe from any thread; etcde_client_cancel is also
                                 async-signal-safe; etcde_client_errmsg is per thread.
       etcde_session_remaining_ms, etcde_session_fd, etcde_session_lease,
       etcde_is_leader
                                 safe from any thread and from signal handlers.
       etcde_election_rev        safe from any thread.
       everything else on one etcde_session / etcde_election: one thread at a time.
       Callbacks (on_lost, observe, log) must not destroy the object that called them;
       on_lost may call etcde_session_close; an observe callback's calls on its own
       election return ETCDE_ERR_STATE (use another handle). Destroy elections and locks
       before their session, and a session only once no thread uses its elections.
       Handles on one session and one name share one key (as in Go): they hold it
       together, and a resign, unlock or loss through one releases all of them.

   MEMORY
       Objects are allocated by the library and freed by their _destroy function (NULL is a
       no-op). Strings passed in are copied. Views returned (etcde_kv, etcde_*_errmsg,
       etcde_election_key) point into the object and stay valid until the next call on
       that object. Nothing returned needs freeing.

   ERRORS
       Every call returns etcde_result: ETCDE_OK (0) or a negative code; etcde_strerror()
       names it, and the object keeps one message saying what happened and what stands
       in etcd, e.g. "connect 127.0.0.1:2379: Connection refused" or "campaign timed out
       after 500 ms". Print the message alone: it never just repeats the code's name.
       Creation failures: etcde_client_errmsg (the calling thread's last one).
       Any call: INVALID_ARGS, STATE, NOMEM; CANCELLED for the calls etcde_client_cancel
       names; IO, TIMEOUT, HTTP, JSON, TOO_BIG, ETCD, UNAVAILABLE, AUTH for network calls.
       Besides those:
         campaign, lock   SESSION_LOST (never elected). On any failure the key this call
                          made is deleted (fenced); a key that stood before it is left.
                          If the delete cannot be confirmed, the session is ended (its
                          lease revoked, or left to expire unrenewed) and the message
                          says so: a failed call never leaves a leader being renewed.
         trylock          LOCKED (the holder is named; nothing left behind); as lock.
         proclaim, etcde_election_put/_delete
                          NOT_LEADER: nothing written (refused locally or by etcd).
                          TOO_BIG from the size check: nothing sent. Errors after the
                          request went out (TIMEOUT, CANCELLED, SESSION_LOST, IO, HTTP,
                          JSON, UNAVAILABLE) are ambiguous: the write may have been
                          applied, and the message says so; read the key back to tell.
         resign, unlock   never cancellable; ambiguous as above if the delete failed
                          (the claim is withdrawn either way).
         leader           NO_LEADER.
         observe          TIMEOUT at its timeout; OK when the callback stopped it.
         session_create   SESSION_LOST (a lease_id that does not exist).

   LIMITS
       Keys and values follow etcd's own request limit (max_request_bytes = etcd's
       --max-request-bytes, default 1.5 MiB): a write is checked before it is sent (value
       + every copy of a key in the txn + 512 bytes) and refused with TOO_BIG, naming the
       limit and the overage. Responses are capped at max_response_bytes, by default
       3 x max_request_bytes + 64 KiB: the largest reply a call can legitimately get is a
       range of two such values, base64-grown by 4/3. Header count, line length, JSON
       depth and JSON tokens are capped too (max_json_tokens, default 65536, and never
       more than one per 4 body bytes), so one response costs at most about 7 x its size.
       Every network wait has a deadline; a hostile or broken server yields an error,
       never a crash, a hang or unbounded memory.

   PROTOCOL NOTES
       HTTP/1.1 with keep-alive to etcd's JSON gateway; every request but the WebSocket
       upgrades is POST with a complete JSON body. Endpoints used: /v3/kv/txn, /v3/kv/range,
       /v3/watch, /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke,
       /v3/auth/authenticate. A client with two sessions or more renews them over one
       WebSocket stream (GET /v3/lease/keepalive with Upgrade: websocket; one masked text
       frame per renewal, one reply frame each, naming its lease); one session renews by
       POST, holding nothing at etcd between renewals. At most one renewal per lease is
       on its way, so a reply tells which send it answers; a stream that misses a reply's
       deadline is dropped, so a late reply never acknowledges a later renewal. All waits of a
   client share one WebSocket to /v3/watch: each watch has a client-assigned watch_id, is created
   and cancelled in-band, and its events keep etcd's order. etcd's WebSocket proxy drops the headers
       of the upgrade, so the stream is pinged when quiet for 2 s and its member is checked
       for a leader every ETCDE_WATCH_REFRESH_MS (a range with Grpc-Metadata-Hasleader:
       true); a ping unanswered, a failed check, or its endpoint failing another call ends
       the stream, and every wait reads again. An endpoint that refuses the upgrade, and a
       client with a user (the proxy drops Authorization too), use one POST per renewal and
       one HTTP watch stream per wait (header Grpc-Metadata-Hasleader: true).
       Keys, values and range ends are base64; int64 fields are sent as JSON strings. Key
       layout: NAME "/" lower-case unpadded hex of the lease id, value = the proposal; the
       leader is the key of NAME/ with the smallest create revision. Keepalive every TTL/3;
       after a failure, retry every 500 ms on the next endpoint until the deadline; each
       renewal waits at most TTL/6 for its reply (plain renewals, one at a time, at most
       the shortest TTL/6 of those due). A renewal etcd refuses for want of
       credentials, with no user configured, ends the session at once.
       etcd 3.6+'s gateway shapes are read too: errors without "error", spaced bodies,
       and its own 404/501 for an unknown path or method (HTTP, not an etcd error).

   DOES NOT
       speak TLS by itself (plug one in with etcde_options.transport), gRPC, or etcd v2.

   REVISION HISTORY
       next   async calls: etcde_campaign_async, etcde_lock_async, callbacks on a runner
              thread or in an event loop (etcde_client_fd/_process); blocking and async
              calls are one machine. All waits of a client share one WebSocket watch
              stream, and all its sessions one keepalive thread (and, from two sessions on,
              one WebSocket stream of renewals; HTTP where the upgrade is refused); a
              bounded WebSocket client inside.
       0.3.0  locks are elections: etcde_lock/_trylock/_unlock take an etcde_election
              (etcde_mutex and its eight functions are gone); etcde_lock_n: a semaphore of
              n holders; etcde_session_alive(s) is etcde_session_remaining_ms(s) > 0;
              etcde_version_string is ETCDE_VERSION_STRING; observe reads at the event's
              revision and misses no state; etcd 3.6/3.7 routing errors and cancelled calls
              are read as such. Tested on etcd 3.4.23, 3.5.33, 3.6.14 and 3.7.1.
       0.2.0  held means held: a failed campaign/lock deletes its key or ends its session;
              a lost or released key withdraws the claim on every handle first. Limits
              follow etcd (max_request_bytes); creation errors carry a message per thread;
              session close publishes the loss first and works from on_lost; hostile
              chunk sizes, TTLs and revisions are refused; cancel cannot be lost.
       0.1.1  faster handover: a waiter watches its predecessor and own key with one watcher
              and wins without another read when the predecessor was the last key ahead;
              a contended campaign learns its predecessor from its own txn.
       0.1.0  first release: sessions, elections, locks, fenced writes, auth, transport hook.
*/
#ifndef ETCD_ELECT_H
#define ETCD_ELECT_H

#if defined(ETCD_ELECT_IMPLEMENTATION) && !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE) && \
    !defined(_XOPEN_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#define ETCDE_VERSION_MAJOR 0
#define ETCDE_VERSION_MINOR 3
#define ETCDE_VERSION_PATCH 0
#define ETCDE_VERSION_STRING "0.3.0"

#include <stddef.h>
#include <stdint.h>

#if defined(ETCD_ELECT_STATIC) && (defined(__GNUC__) || defined(__clang__))
#define ETCDE_API static __attribute__((unused))
#elif defined(ETCD_ELECT_STATIC)
#define ETCDE_API static
#else
#define ETCDE_API extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, text): the result codes and the text etcde_strerror gives for each. */
#define ETCDE__RESULTS(X)                                                             \
    X(ETCDE_OK, 0, "ok")                                                              \
    X(ETCDE_ERR_INVALID_ARGS, -1, "invalid arguments")                                \
    X(ETCDE_ERR_NOMEM, -2, "out of memory")                                           \
    X(ETCDE_ERR_IO, -3, "network error")                                              \
    X(ETCDE_ERR_TIMEOUT, -4, "timed out")                                             \
    X(ETCDE_ERR_HTTP, -5, "malformed HTTP response")                                  \
    X(ETCDE_ERR_JSON, -6, "malformed JSON response")                                  \
    X(ETCDE_ERR_TOO_BIG, -7, "response exceeds a configured limit")                   \
    X(ETCDE_ERR_ETCD, -8, "etcd reported an error")                                   \
    X(ETCDE_ERR_UNAVAILABLE, -9, "no etcd endpoint could serve the request")          \
    X(ETCDE_ERR_AUTH, -10, "authentication failed")                                   \
    X(ETCDE_ERR_CANCELLED, -11, "cancelled")                                          \
    X(ETCDE_ERR_SESSION_LOST, -12, "session lost: lease expired, revoked or unknown") \
    X(ETCDE_ERR_NOT_LEADER, -13, "not the leader")                                    \
    X(ETCDE_ERR_NO_LEADER, -14, "election has no leader")                             \
    X(ETCDE_ERR_LOCKED, -15, "locked by another session")                             \
    X(ETCDE_ERR_STATE, -16, "call not valid in this state")

#define ETCDE__ENUM_ITEM(name, value, text) name = value,
#define ETCDE__COUNT_ITEM(name, value, text) +1
/* codes run 0, -1, -2, ...: RESULT_MIN, one below the last, makes every code a valid value */
typedef enum etcde_result {
    ETCDE__RESULTS(ETCDE__ENUM_ITEM) ETCDE__RESULT_MIN = -(0 ETCDE__RESULTS(ETCDE__COUNT_ITEM))
} etcde_result;
#undef ETCDE__COUNT_ITEM
#undef ETCDE__ENUM_ITEM

typedef struct etcde_client etcde_client;
typedef struct etcde_session etcde_session;
typedef struct etcde_election etcde_election;

/* Optional allocator: both functions or neither. Called from the creating/destroying
   thread and from the client's keepalive thread, so it must be thread-safe. */
typedef struct etcde_allocator {
    void *(*alloc_fn)(size_t size, void *user_data);
    void (*free_fn)(void *ptr, void *user_data);
    void *user_data;
} etcde_allocator;

enum { ETCDE_LOG_ERROR = 1, ETCDE_LOG_WARN = 2, ETCDE_LOG_INFO = 3, ETCDE_LOG_DEBUG = 4 };

/* Optional logger; called from any thread, including the keepalive thread. Messages never
   contain passwords or tokens. */
typedef void (*etcde_log_fn)(int level, const char *msg, void *user_data);

/* Transport hook: wraps each TCP connection, e.g. in TLS (see examples/tls_openssl.c), or
   injects faults in tests. The library dials TCP itself and does all waiting with poll()
   on the socket, so cancellation and deadlines keep working; the hook only moves bytes.
   read/write are called on a non-blocking socket and return a byte count (> 0), 0 for
   an orderly end of stream (read only), or one of the ETCDE_IO_* codes; the library
   calls read before it polls, so bytes buffered inside the transport (TLS records) are
   never stranded. All functions
   may be called from several threads at once, for different connections. */
enum { ETCDE_IO_WANT_READ = -1, ETCDE_IO_WANT_WRITE = -2, ETCDE_IO_ERROR = -3 };
typedef struct etcde_transport {
    /* After TCP connect to host: set *conn (may stay NULL) and return 0, or return -1 and
       write a reason into err. May block, for at most timeout_ms (e.g. a TLS handshake). */
    int (*open)(void *user_data, int fd, const char *host, int timeout_ms, void **conn, char *err,
                size_t errcap);
    long (*read)(void *conn, int fd, void *buf, size_t cap);
    long (*write)(void *conn, int fd, const void *buf, size_t len);
    /* Frees conn; the library closes fd afterwards. */
    void (*close)(void *conn, int fd);
    void *user_data;
} etcde_transport;

/* Client options. Zero-initialise, then set what you need: `etcde_options o = {0};`. */
typedef struct etcde_options {
    const char *endpoints;     /* "host:port,host:port" ("http://" accepted; "https://" with a
                                  transport hook that speaks TLS).
                                  default: $ETCDCTL_ENDPOINTS, else "127.0.0.1:2379" */
    int dial_timeout_ms;       /* TCP connect, per endpoint            (default 2000) */
    int request_timeout_ms;    /* one unary request, all endpoints     (default 5000) */
    const char *user;          /* optional: "name" or "name:password"                 */
    const char *password;      /* optional: password when not in `user`               */
    size_t max_request_bytes;  /* largest request etcd accepts: etcd's --max-request-bytes
                                  (default 1.5 MiB, etcd's default). Keys and values that
                                  cannot fit fail with ETCDE_ERR_TOO_BIG before sending. */
    size_t max_response_bytes; /* largest response body or stream line (default
                                  3 x max_request_bytes + 64 KiB: two values, base64) */
    int max_json_tokens;       /* most JSON tokens in one response     (default 65536) */
    etcde_allocator allocator; /* default: malloc/free */
    const etcde_transport *transport; /* optional; copied at create. default: plain TCP */
    etcde_log_fn log;                 /* default: silent */
    void *log_user_data;
    int log_level;            /* most verbose level passed to log  (default WARN) */
    int callbacks_in_process; /* 1: async callbacks run inside etcde_client_process, on
                                 the caller's thread (an event loop's), when
                                 etcde_client_fd is readable; 0: on the client's runner
                                 thread                                (default 0) */
} etcde_options;

/* Why a session was lost; passed to the on_lost callback. */
typedef void (*etcde_lost_fn)(etcde_session *s, etcde_result reason, const char *detail,
                              void *user_data);

/* Session options. Zero-initialise: `etcde_session_options so = {0};`. */
typedef struct etcde_session_options {
    int ttl_s;             /* lease TTL in seconds (default 60; etcd raises it to its minimum, 2) */
    int64_t lease_id;      /* 0: grant a new lease; else re-attach to this existing lease */
    int guard_ms;          /* the session counts as lost this long before the lease can expire
                              at etcd (default TTL/10, between 100 and 1000 ms) */
    etcde_lost_fn on_lost; /* optional; runs once at loss: on the client's keepalive
                              thread (keep it short: the thread renews every session of
                              the client), or on the thread of a failed campaign that had
                              to end the session. Not run for etcde_session_close. */
    void *user_data;
} etcde_session_options;

/* A key-value view. Pointers are borrowed (see MEMORY); key and value are also
   NUL-terminated for convenience, but may contain NUL bytes themselves. */
typedef struct etcde_kv {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    int64_t create_rev; /* the leader's fencing token */
    int64_t mod_rev;
    int64_t lease;
} etcde_kv;

typedef enum etcde_event_type {
    ETCDE_EVENT_LEADER = 1,   /* a (new) leader, or the leader proclaimed a new value */
    ETCDE_EVENT_NO_LEADER = 2 /* nobody leads */
} etcde_event_type;

/* Observe callback: `leader` is NULL for NO_LEADER. `revision` is etcd's store revision at
   which this state was seen. Return 0 to go on observing, non-zero to stop (observe then
   returns ETCDE_OK). */
typedef int (*etcde_observe_fn)(etcde_event_type type, const etcde_kv *leader, int64_t revision,
                                void *user_data);

/* ---- errors ------------------------------------------------------------------------- */

/* Static text naming a result code; never NULL. Thread-safe. */
ETCDE_API const char *etcde_strerror(etcde_result r);

/* ---- client -------------------------------------------------------------------------- */

/* Creates a client; no connection is made until the first request. `opts` may be NULL.
   Returns ETCDE_ERR_INVALID_ARGS for a bad endpoint list or half an allocator; then
   etcde_client_errmsg(NULL) says which part is bad and where the list came from. */
ETCDE_API etcde_result etcde_client_create(const etcde_options *opts, etcde_client **out);
/* Closes connections and frees the client. Destroy its sessions and elections first. */
ETCDE_API void etcde_client_destroy(etcde_client *c);
/* Makes every blocking call on `c` (campaign, lock, observe, proclaim, leader, fenced
   writes, session create) return ETCDE_ERR_CANCELLED promptly, now and until
   etcde_client_uncancel. A cancelled campaign first deletes the key it made (at most
   1 s; see ERRORS). Cleanup calls (resign, unlock, session close/destroy) still run,
   bounded by request_timeout_ms, and keepalives go on. Async-signal-safe: meant to be
   called from a SIGINT handler. Cancel and uncancel may race from any threads and
   signal handlers: the later one wins, and no wakeup is lost. */
ETCDE_API void etcde_client_cancel(etcde_client *c);
/* Clears the cancellation. Not async-signal-safe. */
ETCDE_API void etcde_client_uncancel(etcde_client *c);
/* The message of the calling thread's last failed etcde_client_create,
   etcde_session_create or etcde_election_create (`c` may be NULL).
   Thread-local: threads never see each other's. Never NULL. */
ETCDE_API const char *etcde_client_errmsg(const etcde_client *c);

/* ---- session ------------------------------------------------------------------------- */

/* Grants a lease (or re-attaches to opts->lease_id, which must still exist) and hands it
   to the client's keepalive thread, started if need be. `opts` may be NULL. On failure *out is NULL
   and etcde_client_errmsg(c) says why. */
ETCDE_API etcde_result etcde_session_create(etcde_client *c, const etcde_session_options *opts,
                                            etcde_session **out);
/* Ends the session now: first it counts as lost (etcde_is_leader turns 0
   before anything is sent), then the lease is revoked, which deletes every key on it in
   one request (resigns all its elections and unlocks all its locks at one revision:
   the quickest hand-over); the keepalive thread no longer renews it (and ends with the
   client's last session). Bounded by request_timeout_ms. etcde_session_errmsg: "session closed", or
   why the revoke failed. May be called from on_lost (a destroy on another thread then waits for
   on_lost to return). Destroy/orphan afterwards only free it. */
ETCDE_API etcde_result etcde_session_close(etcde_session *s);
/* Closes the session (as etcde_session_close, if not done yet) and frees it. NULL is a
   no-op. */
ETCDE_API void etcde_session_destroy(etcde_session *s);
/* Like destroy, but leaves the lease to expire at etcd after its TTL (for a process that
   hands its lease id over, or a test that simulates a crash). */
ETCDE_API void etcde_session_orphan(etcde_session *s);
/* The lease id. */
ETCDE_API int64_t etcde_session_lease(const etcde_session *s);
/* The granted TTL in seconds. */
ETCDE_API int etcde_session_ttl(const etcde_session *s);
/* Milliseconds the session is still good for: until its local deadline, 0 once lost --
   so non-zero means alive. Checks the clock itself, so it is right even before the
   keepalive thread runs after a pause. */
ETCDE_API int64_t etcde_session_remaining_ms(const etcde_session *s);
/* A file descriptor that becomes readable (and stays so) once the session is lost. For
   poll/select/epoll; do not read from it or close it. */
ETCDE_API int etcde_session_fd(const etcde_session *s);
/* Why the session was lost ("" while alive). */
ETCDE_API const char *etcde_session_errmsg(const etcde_session *s);

/* ---- election ------------------------------------------------------------------------ */

/* Creates a candidate in election `name`. `s` may be NULL for an observer that only calls
   etcde_leader / etcde_observe. On failure etcde_client_errmsg(c) says why. */
ETCDE_API etcde_result etcde_election_create(etcde_client *c, etcde_session *s, const char *name,
                                             etcde_election **out);
/* Frees the election. Does not resign: destroying the session (lease revoke) or
   etcde_resign does. NULL is a no-op. */
ETCDE_API void etcde_election_destroy(etcde_election *e);

/* Puts `value` up as a candidate and blocks until this candidate leads.
   timeout_ms: -1 waits until cancelled; the first transaction always runs to its reply
   (bounded by request_timeout_ms), so even 0 knows whether it made a key. Returns
   ETCDE_OK once elected (own key verified at the revision where no predecessor remained,
   session alive); ETCDE_ERR_TIMEOUT or ETCDE_ERR_CANCELLED; ETCDE_ERR_SESSION_LOST (the
   session died while waiting: never reported as leader); ETCDE_ERR_TOO_BIG before
   sending when value and key exceed max_request_bytes; or another error. On failure the
   key this call made is deleted, fenced, or the session is ended (see ERRORS). Transient
   network errors while waiting are retried until the timeout or session loss.
   Campaigning again on the same session keeps the queue position (same key), as in Go;
   a leader campaigning again sets the new value and stays leader (if that fails, it
   still leads, and the message says so). */
ETCDE_API etcde_result etcde_campaign(etcde_election *e, const void *value, size_t len,
                                      int timeout_ms);
/* Sets a new value on the leader key, fenced on its create revision. ETCDE_ERR_NOT_LEADER
   (and nothing written) if this candidate no longer holds its key; other errors after
   the request went out are ambiguous (see ERRORS). */
ETCDE_API etcde_result etcde_proclaim(etcde_election *e, const void *value, size_t len);
/* Deletes the own key, fenced on its create revision (never a newer key), so the next
   candidate takes over at once. ETCDE_OK when there is nothing to resign. Not cancellable. */
ETCDE_API etcde_result etcde_resign(etcde_election *e);
/* The current leader (smallest create revision), or ETCDE_ERR_NO_LEADER. */
ETCDE_API etcde_result etcde_leader(etcde_election *e, etcde_kv *out);
/* Calls fn with the current state (LEADER or NO_LEADER), then at every change of leader or
   of the leader's value, until fn returns non-zero (-> ETCDE_OK), the timeout passes
   (-> ETCDE_ERR_TIMEOUT; -1 = none) or the client is cancelled. Survives compaction,
   dropped watches and etcd restarts by re-reading the leader. */
ETCDE_API etcde_result etcde_observe(etcde_election *e, etcde_observe_fn fn, void *user_data,
                                     int timeout_ms);
/* 1 if this candidate won, has not resigned, no fenced call found its key gone, and its
   session is alive (clock checked). Async-signal-safe. */
ETCDE_API int etcde_is_leader(const etcde_election *e);
/* Own key, "NAME/<lease hex>" (set from the start of a campaign; "" before and after
   resign). */
ETCDE_API const char *etcde_election_key(const etcde_election *e);
/* Create revision of the own key: the fencing token (0 when none). Successors always get
   a larger one. Safe from any thread. */
ETCDE_API int64_t etcde_election_rev(const etcde_election *e);
/* Detail of the last failed call on e. */
ETCDE_API const char *etcde_election_errmsg(const etcde_election *e);

/* ---- locks --------------------------------------------------------------------------- */
/* A lock is an election whose candidates propose the empty value: Go's layout
   (NAME/<lease hex>, FIFO by create revision), so it excludes `etcdctl lock NAME` and Go's
   concurrency.Mutex on the same name. Create the handle with etcde_election_create (with a
   session); etcde_is_leader says whether it is held, etcde_election_key/_rev/_errmsg and
   the fenced writes below work as for a leader, etcde_election_destroy frees it. */

/* Blocks until the lock is held; waits on the predecessor only and re-verifies the own
   key at the revision where none remains (never granted on an expired lease).
   timeout_ms -1 waits until cancelled. On any failure the waiting key is deleted, or the
   session ended (see ERRORS). Re-entrant: on a lock this handle holds it returns OK at
   once; another handle on the same session shares the key; one unlock releases both. */
ETCDE_API etcde_result etcde_lock(etcde_election *e, int timeout_ms);
/* A semaphore: etcde_lock with up to n holders at once, FIFO -- held while fewer than n
   keys stand ahead of the own key. A waiter watches only the n keys just ahead of it, so a
   release wakes at most n waiters, however many wait. Every user of the name must pass
   the same n (etcdctl lock and Go's Mutex are n = 1). n is 1..ETCDE_MAX_HOLDERS. */
#define ETCDE_MAX_HOLDERS 1000
ETCDE_API etcde_result etcde_lock_n(etcde_election *e, int n, int timeout_ms);
/* Takes the lock if free, else ETCDE_ERR_LOCKED, leaving no key behind. */
ETCDE_API etcde_result etcde_trylock(etcde_election *e);
/* Deletes the own key, fenced on its create revision: a stale unlock never deletes a
   newer lock. ETCDE_OK when not locked. Not cancellable. The same as etcde_resign. */
ETCDE_API etcde_result etcde_unlock(etcde_election *e);

/* ---- async --------------------------------------------------------------------------- */
/* The same calls without a thread each: the call returns at once, and done(e, result,
   user_data) runs exactly once when it ends, with what the blocking call would have
   returned (etcde_election_errmsg(e) says why, as there). A waiting async call costs no
   thread and no descriptor: all of a client's share its watch stream and its runner
   thread, which steps each call when its watch has news, a retry is due or it must end
   (see ASYNC). Until done runs, e's message is the call's (read it in done), and other
   calls on e return ETCDE_ERR_STATE, saying why in etcde_client_errmsg (the calling
   thread's); inside done, any call on e may be made, another async one included. Errors returned at
   once (no callback follows): INVALID_ARGS, STATE, CANCELLED, SESSION_LOST, TOO_BIG, NOMEM. */
typedef void (*etcde_done_fn)(etcde_election *e, etcde_result result, void *user_data);

ETCDE_API etcde_result etcde_campaign_async(etcde_election *e, const void *value, size_t len,
                                            int timeout_ms, etcde_done_fn done, void *user_data);
/* etcde_lock_n as an async call (n = 1: etcde_lock). A lock already held ends at once:
   done runs with ETCDE_OK, from the runner as always, never inside this call. */
ETCDE_API etcde_result etcde_lock_async(etcde_election *e, int n, int timeout_ms,
                                        etcde_done_fn done, void *user_data);
/* etcde_observe as an async call: fn runs on the runner for each state, as in etcde_observe
   (its non-zero return stops it: done then gets ETCDE_OK). With callbacks_in_process, each
   state is copied and waits, with the callbacks, for etcde_client_process: fn runs there,
   in order, before done; a stop drops the states still waiting. */
ETCDE_API etcde_result etcde_observe_async(etcde_election *e, etcde_observe_fn fn, int timeout_ms,
                                           etcde_done_fn done, void *user_data);
/* With etcde_options.callbacks_in_process: a descriptor that is readable while callbacks
   wait for etcde_client_process (poll it for POLLIN, in epoll, in libuv's uv_poll); -1
   without that option or when it cannot be made (see etcde_client_errmsg). */
ETCDE_API int etcde_client_fd(etcde_client *c);
/* Runs the callbacks that wait, on the calling thread; returns how many ran. */
ETCDE_API int etcde_client_process(etcde_client *c);

/* ---- fenced writes ------------------------------------------------------------------- */
/* Put or delete `key` only while still the leader / lock holder: one txn comparing the
   own key's create revision. ETCDE_ERR_NOT_LEADER and nothing written otherwise (also
   when the session is locally past its deadline: nothing is sent then). */
ETCDE_API etcde_result etcde_election_put(etcde_election *e, const char *key, const void *value,
                                          size_t len);
ETCDE_API etcde_result etcde_election_delete(etcde_election *e, const char *key);

#ifdef __cplusplus
}
#endif
#endif /* ETCD_ELECT_H */

/* ---- IMPLEMENTATION ------------------------------------------------------------------ */
#ifdef ETCD_ELECT_IMPLEMENTATION
#ifndef ETCD_ELECT_IMPLEMENTATION_ONCE
#define ETCD_ELECT_IMPLEMENTATION_ONCE

#ifndef ETCDE_MAX_LINE
#define ETCDE_MAX_LINE 8192
#endif
#ifndef ETCDE_MAX_HEADERS
#define ETCDE_MAX_HEADERS 64
#endif
#ifndef ETCDE_MAX_JSON_DEPTH
#define ETCDE_MAX_JSON_DEPTH 64
#endif
#ifndef ETCDE_WATCH_REFRESH_MS
#define ETCDE_WATCH_REFRESH_MS 30000
#endif
#if ETCDE_MAX_LINE < 64 || ETCDE_MAX_JSON_DEPTH < 8
#error "ETCDE_MAX_LINE must be >= 64 and ETCDE_MAX_JSON_DEPTH >= 8"
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#define ETCDE__HAVE_EVENTFD 1
#endif

#if defined(__GLIBC__) && !defined(__USE_XOPEN2K8)
#error "etcd_elect.h needs POSIX.1-2008 declarations, which a strict -std=c99 hides when another \
header came first: include etcd_elect.h first in this file, or define _POSIX_C_SOURCE=200809L"
#endif

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* SO_NOSIGPIPE is set on the socket instead */
#endif

/* pipe2 makes a pipe close-on-exec atomically. Every Linux libc has it, but declares it
   only under _GNU_SOURCE. */
#if defined(__linux__) && defined(O_CLOEXEC)
#define ETCDE__HAVE_PIPE2 1
#if !defined(_GNU_SOURCE) && !defined(__cplusplus)
int pipe2(int fds[2], int flags);
#endif
#endif

#if defined(ETCD_ELECT_STATIC) && (defined(__GNUC__) || defined(__clang__))
#define ETCDE__DEF static __attribute__((unused))
#elif defined(ETCD_ELECT_STATIC)
#define ETCDE__DEF static
#else
#define ETCDE__DEF
#endif

/* ---- util ---------------------------------------------------------------------------- */

#define ETCDE__NEVER INT64_MAX /* a deadline that never comes */
#define ETCDE__MIN(a, b) ((a) < (b) ? (a) : (b))
#define ETCDE__MAX(a, b) ((a) > (b) ? (a) : (b))
#define ETCDE__LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ETCDE__STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static int64_t etcde__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadline `ms` from now; negative means never. */
static int64_t etcde__deadline(int ms) { return ms < 0 ? ETCDE__NEVER : etcde__now_ms() + ms; }

/* A failure: the code plus a detail line. Every object carries one. */
typedef struct etcde__err {
    etcde_result code;
    char msg[512];
} etcde__err;

#if defined(__GNUC__) || defined(__clang__)
#define ETCDE__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ETCDE__PRINTF(a, b)
#endif

static etcde_result etcde__fail(etcde__err *err, etcde_result code, const char *fmt, ...)
    ETCDE__PRINTF(3, 4);
static etcde_result etcde__fail(etcde__err *err, etcde_result code, const char *fmt, ...) {
    va_list ap;
    if (!err) return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

/* strerror text without the GNU/XSI strerror_r split. */
static const char *etcde__errno_text(int e, char *buf, size_t cap) {
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(e, buf, cap);
#else
    if (strerror_r(e, buf, cap) != 0) snprintf(buf, cap, "errno %d", e);
    return buf;
#endif
}

/* Copies at most n bytes of untrusted text (stopping at NUL) for an error message:
   printable ASCII as is, anything else as \xNN, so no server can put control bytes
   into a message. Returns out. */
static const char *etcde__quote(char *out, size_t cap, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;
    for (i = 0; i < n && s[i] && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    if (i < n && s[i] && o + 3 < cap) out[o++] = '.', out[o++] = '.', out[o++] = '.';
    out[o] = 0;
    return out;
}

/* Parses a decimal int64; returns 0 on success. */
static int etcde__parse_i64(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0, lim;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) neg = s[i++] == '-';
    if (i == n) return -1;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9) return -1;
        if (v > (lim - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* ---- memory -------------------------------------------------------------------------- */

static void *etcde__default_alloc(size_t n, void *ud) {
    (void)ud;
    return malloc(n);
}
static void etcde__default_free(void *p, void *ud) {
    (void)ud;
    free(p);
}

/* A growable byte buffer with a hard cap. Appends never fail loudly: the first failure
   is remembered in `failed` (TOO_BIG or NOMEM), later appends do nothing, and whoever
   sends the buffer reports it once. `wipe` zeroes every block before it is freed (for
   bodies that hold a password). */
typedef struct etcde__buf {
    char *p;
    size_t len, cap, max;
    etcde_result failed;
    int wipe;
    const etcde_allocator *al;
} etcde__buf;

static void *etcde__alloc(const etcde_allocator *al, size_t n) {
    return al->alloc_fn(n, al->user_data);
}
static void etcde__free(const etcde_allocator *al, void *p) {
    if (p) al->free_fn(p, al->user_data);
}

static char *etcde__strdup(const etcde_allocator *al, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = (char *)etcde__alloc(al, n);
    if (d) memcpy(d, s, n);
    return d;
}

static void etcde__buf_init(etcde__buf *b, const etcde_allocator *al, size_t max) {
    memset(b, 0, sizeof *b);
    b->max = max;
    b->al = al;
}

/* Empties the buffer for a new message, keeping its memory. */
static void etcde__buf_clear(etcde__buf *b) {
    b->len = 0;
    b->failed = ETCDE_OK;
}

static void etcde__buf_free(etcde__buf *b) {
    if (b->wipe && b->p) memset(b->p, 0, b->cap);
    etcde__free(b->al, b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Makes room for `extra` more bytes plus a NUL: ETCDE_OK, ETCDE_ERR_TOO_BIG past the cap,
   or ETCDE_ERR_NOMEM. */
static etcde_result etcde__buf_reserve(etcde__buf *b, size_t extra) {
    size_t need = b->len + extra + 1, ncap;
    char *np;
    if (extra > b->max || need > b->max + 1) return ETCDE_ERR_TOO_BIG;
    if (need <= b->cap) return ETCDE_OK;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need) ncap *= 2;
    if (ncap > b->max + 1) ncap = b->max + 1;
    np = (char *)etcde__alloc(b->al, ncap);
    if (!np) return ETCDE_ERR_NOMEM;
    if (b->len) memcpy(np, b->p, b->len);
    if (b->wipe && b->p) memset(b->p, 0, b->cap);
    etcde__free(b->al, b->p);
    b->p = np;
    b->cap = ncap;
    return ETCDE_OK;
}

/* Room for n more bytes, or the buffer is marked failed. */
static int etcde__buf_room(etcde__buf *b, size_t n) {
    etcde_result r;
    if (b->failed) return 0;
    r = etcde__buf_reserve(b, n);
    if (r) b->failed = r;
    return r == ETCDE_OK;
}

static void etcde__buf_add(etcde__buf *b, const void *d, size_t n) {
    if (!etcde__buf_room(b, n)) return;
    if (n) memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void etcde__buf_str(etcde__buf *b, const char *s) { etcde__buf_add(b, s, strlen(s)); }

static void etcde__buf_i64(etcde__buf *b, int64_t v) {
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)v);
    etcde__buf_str(b, t);
}

/* ---- base64 -------------------------------------------------------------------------- */

static const char etcde__b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard alphabet, padded (etcd's gateway rejects anything else). */
static size_t etcde__b64_encode(const unsigned char *in, size_t n, char *out) {
    size_t i, o = 0;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = etcde__b64chars[v >> 18 & 63];
        out[o++] = etcde__b64chars[v >> 12 & 63];
        out[o++] = etcde__b64chars[v >> 6 & 63];
        out[o++] = etcde__b64chars[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = etcde__b64chars[v >> 18 & 63];
        out[o++] = etcde__b64chars[v >> 12 & 63];
        out[o++] = i + 1 < n ? etcde__b64chars[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

static int etcde__b64_val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes padded standard base64; `out` may equal `in` (decoding in place is safe because
   output never overtakes input). Returns the decoded length or -1 if malformed. */
static long etcde__b64_decode(const char *in, size_t n, unsigned char *out) {
    size_t i, o = 0;
    if (n % 4) return -1;
    for (i = 0; i < n; i += 4) {
        int a = etcde__b64_val((unsigned char)in[i]), b = etcde__b64_val((unsigned char)in[i + 1]);
        int c = in[i + 2] == '=' ? -2 : etcde__b64_val((unsigned char)in[i + 2]);
        int d = in[i + 3] == '=' ? -2 : etcde__b64_val((unsigned char)in[i + 3]);
        uint32_t v;
        if (a < 0 || b < 0 || c == -1 || d == -1) return -1;
        if ((c == -2 || d == -2) && i + 4 != n) return -1; /* padding only at the end */
        if (c == -2 && d != -2) return -1;
        v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 |
            (uint32_t)(d < 0 ? 0 : d);
        out[o++] = (unsigned char)(v >> 16);
        if (c >= 0) out[o++] = (unsigned char)(v >> 8 & 255);
        if (d >= 0) out[o++] = (unsigned char)(v & 255);
    }
    return (long)o;
}

static void etcde__buf_b64(etcde__buf *b, const void *d, size_t n) {
    if (n > ((size_t)-1 - 2) / 4 * 3 || !etcde__buf_room(b, (n + 2) / 3 * 4)) return;
    b->len += etcde__b64_encode((const unsigned char *)d, n, b->p + b->len);
    b->p[b->len] = 0;
}

/* Appends "name":"<base64>" to a JSON object under construction. */
static void etcde__buf_jb64(etcde__buf *b, const char *name, const void *d, size_t n) {
    etcde__buf_str(b, "\"");
    etcde__buf_str(b, name);
    etcde__buf_str(b, "\":\"");
    etcde__buf_b64(b, d, n);
    etcde__buf_str(b, "\"");
}

/* Appends a JSON string literal, escaped. */
static void etcde__buf_jstr(etcde__buf *b, const char *s) {
    etcde__buf_str(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            etcde__buf_add(b, e, 2);
        } else if (ch < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", ch);
            etcde__buf_str(b, e);
        } else {
            etcde__buf_add(b, s, 1);
        }
    }
    etcde__buf_str(b, "\"");
}

/* ---- json ---------------------------------------------------------------------------- */
/* A validating, non-allocating tokenizer in the manner of jsmn: one pass counts the
   tokens, the caller sizes the array, a second pass fills it. Each token records where
   its subtree ends (`next`), so lookups skip whole values without recursion. */

enum { ETCDE__J_OBJ = 1, ETCDE__J_ARR, ETCDE__J_STR, ETCDE__J_PRIM };
enum { ETCDE__J_INVALID = -1, ETCDE__J_DEEP = -2, ETCDE__J_MANY = -3 };

typedef struct etcde__tok {
    int type;
    int start, end; /* string tokens: the contents between the quotes */
    int size;       /* objects: number of keys; arrays: number of elements */
    int decoded;    /* strings decoded in place from base64: their length + 1 (0: not yet) */
    int next;       /* index of the first token after this value's subtree */
} etcde__tok;

static int etcde__json_string_end(const char *s, int len, int i) {
    /* i is just past the opening quote; returns the index of the closing quote or -1. */
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') return i;
        if (c < 0x20) return -1;
        if (c == '\\') {
            if (++i >= len) return -1;
            switch (s[i]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't': break;
            case 'u': {
                int k;
                for (k = 1; k <= 4; k++)
                    if (i + k >= len || !isxdigit((unsigned char)s[i + k])) return -1;
                i += 4;
                break;
            }
            default: return -1;
            }
        }
        i++;
    }
    return -1;
}

static int etcde__json_prim_ok(const char *s, int n) {
    int i = 0, digits = 0;
    if ((n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5)) ||
        (n == 4 && !memcmp(s, "null", 4)))
        return 1;
    if (i < n && s[i] == '-') i++;
    if (i + 1 < n && s[i] == '0' && s[i + 1] >= '0' && s[i + 1] <= '9')
        return 0; /* no leading zeros */
    while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
    if (!digits) return 0;
    if (i < n && s[i] == '.') {
        digits = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) digits++;
        if (!digits) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        digits = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) digits++;
        if (!digits) return 0;
    }
    return i == n;
}

/* Tokenizes exactly one JSON value (surrounding whitespace allowed). With t == NULL only
   counts. Returns the token count or ETCDE__J_INVALID / _DEEP / _MANY. */
static int etcde__json_parse(const char *s, int len, etcde__tok *t, int cap) {
    enum { V, V_OR_END, K, K_OR_END, COLON, COMMA_OR_END } st = V;
    int stack[ETCDE_MAX_JSON_DEPTH];
    char stype[ETCDE_MAX_JSON_DEPTH];
    int depth = 0, n = 0, i = 0, done = 0;
    while (i < len) {
        char c = s[i];
        int start = i, tok = -1, is_key = 0, type = 0;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++;
            continue;
        }
        if (done) return ETCDE__J_INVALID;
        if (c == '{' || c == '[') {
            if (st != V && st != V_OR_END) return ETCDE__J_INVALID;
            if (depth >= ETCDE_MAX_JSON_DEPTH) return ETCDE__J_DEEP;
            if (t && n >= cap) return ETCDE__J_MANY;
            if (depth > 0 && t && stype[depth - 1] == '[') t[stack[depth - 1]].size++;
            if (t) {
                t[n].type = c == '{' ? ETCDE__J_OBJ : ETCDE__J_ARR;
                t[n].start = i;
                t[n].end = -1;
                t[n].size = 0;
                t[n].decoded = 0;
                t[n].next = -1;
            }
            stype[depth] = c;
            stack[depth++] = n++;
            st = c == '{' ? K_OR_END : V_OR_END;
            i++;
            continue;
        }
        if (c == '}' || c == ']') {
            char want = c == '}' ? '{' : '[';
            if (depth == 0 || stype[depth - 1] != want) return ETCDE__J_INVALID;
            if (st != COMMA_OR_END && st != (c == '}' ? K_OR_END : V_OR_END))
                return ETCDE__J_INVALID;
            depth--;
            if (t) {
                t[stack[depth]].end = i + 1;
                t[stack[depth]].next = n;
            }
            i++;
            goto after_value;
        }
        if (c == ',') {
            if (st != COMMA_OR_END) return ETCDE__J_INVALID;
            st = stype[depth - 1] == '{' ? K : V;
            i++;
            continue;
        }
        if (c == ':') {
            if (st != COLON) return ETCDE__J_INVALID;
            st = V;
            i++;
            continue;
        }
        if (c == '"') {
            int e = etcde__json_string_end(s, len, i + 1);
            if (e < 0) return ETCDE__J_INVALID;
            if (st == K || st == K_OR_END)
                is_key = 1;
            else if (st != V && st != V_OR_END)
                return ETCDE__J_INVALID;
            type = ETCDE__J_STR;
            start = i + 1;
            i = e + 1;
            tok = e;
        } else {
            while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ':' &&
                   s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != '"')
                i++;
            if (st != V && st != V_OR_END) return ETCDE__J_INVALID;
            if (!etcde__json_prim_ok(s + start, i - start)) return ETCDE__J_INVALID;
            type = ETCDE__J_PRIM;
            tok = i;
        }
        if (t && n >= cap) return ETCDE__J_MANY;
        if (t) {
            t[n].type = type;
            t[n].start = start;
            t[n].end = tok;
            t[n].size = 0;
            t[n].decoded = 0;
            t[n].next = n + 1;
        }
        n++;
        if (is_key) {
            if (t) t[stack[depth - 1]].size++;
            st = COLON;
            continue;
        }
        if (depth > 0 && stype[depth - 1] == '[' && t) t[stack[depth - 1]].size++;
    after_value:
        if (depth == 0)
            done = 1;
        else
            st = COMMA_OR_END;
    }
    return done ? n : ETCDE__J_INVALID;
}

/* A parsed JSON document: the text and its tokens. */
typedef struct etcde__json {
    char *s; /* not const: base64 values are decoded in place */
    etcde__tok *t;
    int n;
} etcde__json;

static int etcde__jeq(const etcde__json *j, int k, const char *lit) {
    size_t n = strlen(lit);
    return k >= 0 && k < j->n && j->t[k].type == ETCDE__J_STR &&
           (size_t)(j->t[k].end - j->t[k].start) == n && memcmp(j->s + j->t[k].start, lit, n) == 0;
}

/* Value of member `key` in object token `obj`, or -1. */
static int etcde__jget(const etcde__json *j, int obj, const char *key) {
    int i, k;
    if (obj < 0 || obj >= j->n || j->t[obj].type != ETCDE__J_OBJ) return -1;
    for (i = 0, k = obj + 1; i < j->t[obj].size; i++) {
        if (etcde__jeq(j, k, key)) return k + 1;
        k = j->t[k + 1].next;
    }
    return -1;
}

/* Element `idx` of array token `arr`, or -1. */
static int etcde__jat(const etcde__json *j, int arr, int idx) {
    int i, k;
    if (arr < 0 || arr >= j->n || j->t[arr].type != ETCDE__J_ARR || idx < 0 ||
        idx >= j->t[arr].size)
        return -1;
    for (i = 0, k = arr + 1; i < idx; i++) k = j->t[k].next;
    return k;
}

/* Follows a dotted path of object members ("header.revision"); a number component
   indexes an array ("responses.1.response_range"). */
static int etcde__jpath(const etcde__json *j, int k, const char *path) {
    char part[48];
    while (*path && k >= 0) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof part) return -1;
        memcpy(part, path, n);
        part[n] = 0;
        if (part[0] >= '0' && part[0] <= '9') /* an index: at most 9 digits, all digits */
            k = n <= 9 && strspn(part, "0123456789") == n ? etcde__jat(j, k, atoi(part)) : -1;
        else
            k = etcde__jget(j, k, part);
        path += n + (path[n] == '.');
    }
    return k;
}

/* An int64 from a string ("255", as etcd sends int64) or number token; `def` if absent. */
static int64_t etcde__jint(const etcde__json *j, int k, int64_t def) {
    int64_t v;
    if (k < 0 || (j->t[k].type != ETCDE__J_STR && j->t[k].type != ETCDE__J_PRIM)) return def;
    if (etcde__parse_i64(j->s + j->t[k].start, (size_t)(j->t[k].end - j->t[k].start), &v))
        return def;
    return v;
}

/* Revisions beyond this are not etcd's (it would take centuries to reach them): refusing
   them keeps every `rev + 1` in range. */
#define ETCDE__REV_MAX ((int64_t)1 << 62)

/* A revision in [1, ETCDE__REV_MAX], or -1 (absent, malformed or out of range). */
static int64_t etcde__jrev(const etcde__json *j, int k) {
    int64_t v = etcde__jint(j, k, -1);
    return v >= 1 && v <= ETCDE__REV_MAX ? v : -1;
}

static int etcde__jtrue(const etcde__json *j, int k) {
    return k >= 0 && j->t[k].type == ETCDE__J_PRIM && j->s[j->t[k].start] == 't';
}

/* Appends cp as UTF-8 if it fits whole (with room for a NUL); returns 0 if it did not. */
static int etcde__utf8_put(char *out, size_t cap, size_t *o, uint32_t cp) {
    unsigned char u[4];
    size_t n, i;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 63));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | (cp >> 6 & 63));
        u[2] = (unsigned char)(0x80 | (cp & 63));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | (cp >> 12 & 63));
        u[2] = (unsigned char)(0x80 | (cp >> 6 & 63));
        u[3] = (unsigned char)(0x80 | (cp & 63));
        n = 4;
    }
    if (*o + n + 1 > cap) return 0;
    for (i = 0; i < n; i++) out[(*o)++] = (char)u[i];
    return 1;
}

static uint32_t etcde__hex4(const char *p) {
    uint32_t v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        char c = p[i];
        v = v << 4 | (uint32_t)(c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
    }
    return v;
}

/* Copies string token k, unescaped to UTF-8 and truncated to fit, into out (always
   NUL-terminated). Returns the number of bytes written. Escapes were validated. */
static size_t etcde__jstr(const etcde__json *j, int k, char *out, size_t cap) {
    size_t o = 0;
    int i;
    if (cap == 0) return 0;
    if (k < 0 || j->t[k].type != ETCDE__J_STR) {
        out[0] = 0;
        return 0;
    }
    for (i = j->t[k].start; i < j->t[k].end && o + 1 < cap; i++) {
        char c = j->s[i];
        uint32_t cp;
        if (c != '\\') {
            out[o++] = c;
            continue;
        }
        c = j->s[++i];
        switch (c) {
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u':
            cp = etcde__hex4(j->s + i + 1);
            i += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < j->t[k].end && j->s[i + 1] == '\\' &&
                j->s[i + 2] == 'u') {
                uint32_t lo = etcde__hex4(j->s + i + 3);
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD; /* lone surrogate */
            if (!etcde__utf8_put(out, cap, &o, cp))
                i = j->t[k].end; /* truncate on a whole character */
            break;
        default: out[o++] = c; break;
        }
    }
    out[o] = 0;
    return o;
}

/* Decodes base64 string token k in place; sets *p and *n (NUL-terminated). -1 if malformed.
   An absent token (etcd omits empty values) gives "". */
static int etcde__jb64(etcde__json *j, int k, const char **p, size_t *n) {
    long m;
    char *s;
    if (k < 0) {
        *p = "";
        *n = 0;
        return 0;
    }
    if (j->t[k].type != ETCDE__J_STR) return -1;
    s = j->s + j->t[k].start;
    if (j->t[k].decoded == 0) {
        m = etcde__b64_decode(s, (size_t)(j->t[k].end - j->t[k].start), (unsigned char *)s);
        if (m < 0) return -1;
        s[m] = 0; /* room: decoding shrinks, and the closing quote follows */
        j->t[k].decoded = (int)m + 1;
    }
    m = j->t[k].decoded - 1;
    *p = s;
    *n = (size_t)m;
    return 0;
}

/* ---- platform ------------------------------------------------------------------------ */

/* What a blocking call may be woken by besides its socket: a deadline, and up to three
   file descriptors (client cancel, session loss, thread stop), each with the result it
   means. */
typedef struct etcde__wait {
    int64_t deadline;
    int nfd;
    int fds[3];
    etcde_result codes[3];
    int once; /* a transient failure ends etcde__call_retry at once: the async runner
                 retries by itself, so that no step blocks it for long */
} etcde__wait;

static void etcde__wait_init(etcde__wait *w, int64_t deadline) {
    memset(w, 0, sizeof *w);
    w->deadline = deadline;
}

/* A copy of w (or of an empty wait) that ends by `deadline` at the latest. */
static etcde__wait etcde__within(const etcde__wait *w, int64_t deadline) {
    etcde__wait t;
    if (w)
        t = *w;
    else
        etcde__wait_init(&t, ETCDE__NEVER);
    if (deadline < t.deadline) t.deadline = deadline;
    return t;
}

static void etcde__wait_add(etcde__wait *w, int fd, etcde_result code) {
    if (fd >= 0 && w->nfd < 3) {
        w->fds[w->nfd] = fd;
        w->codes[w->nfd++] = code;
    }
}

/* Waits until `fd` is ready for `events`, or a wake fd fires, or the wait's deadline
   passes (w NULL: no deadline). fd < 0 waits on the wake fds alone (a sleep). Returns
   ETCDE_OK when fd is ready. */
static etcde_result etcde__poll(int fd, short events, const etcde__wait *w, etcde__err *err) {
    struct pollfd p[4];
    int i, n, r;
    int64_t deadline = w ? w->deadline : ETCDE__NEVER;
    for (;;) {
        int64_t now = etcde__now_ms(), left;
        int timeout;
        n = 0;
        for (i = 0; w && i < w->nfd; i++) {
            p[n].fd = w->fds[i];
            p[n].events = POLLIN;
            p[n++].revents = 0;
        }
        if (fd >= 0) {
            p[n].fd = fd;
            p[n].events = events;
            p[n++].revents = 0;
        }
        if (deadline != ETCDE__NEVER && now >= deadline)
            return etcde__fail(err, ETCDE_ERR_TIMEOUT, "timed out");
        left = deadline == ETCDE__NEVER ? -1 : deadline - now;
        timeout = left > INT_MAX ? INT_MAX : (int)left;
        r = poll(p, (nfds_t)n, timeout);
        if (r < 0) {
            char eb[96];
            if (errno == EINTR) continue;
            return etcde__fail(err, ETCDE_ERR_IO, "poll: %s",
                               etcde__errno_text(errno, eb, sizeof eb));
        }
        for (i = 0; w && i < w->nfd; i++)
            if (p[i].revents)
                return etcde__fail(err, w->codes[i], "%s",
                                   w->codes[i] == ETCDE_ERR_CANCELLED
                                       ? "cancelled by etcde_client_cancel"
                                   : w->codes[i] == ETCDE_ERR_SESSION_LOST ? "the session was lost"
                                                                           : "stopped");
        if (fd >= 0 && p[n - 1].revents) return ETCDE_OK;
    }
}

/* Sleeps ms, waking early for the wait's fds and deadline. Returns OK after the full ms. */
static etcde_result etcde__sleep(const etcde__wait *w, int64_t ms, etcde__err *err) {
    int64_t until = etcde__now_ms() + ms;
    etcde__wait t = etcde__within(w, until);
    etcde_result r = etcde__poll(-1, 0, &t, err);
    return r == ETCDE_ERR_TIMEOUT && (!w || until < w->deadline) ? ETCDE_OK : r;
}

/* Non-blocking, close-on-exec pipe; atomically so where pipe2 is declared, so that no
   fork+exec in another thread inherits it. */
static int etcde__pipe(int fds[2]) {
    int i;
#ifdef ETCDE__HAVE_PIPE2
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) return 0;
#endif
    if (pipe(fds) != 0) return -1;
    for (i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    }
    return 0;
}

static void etcde__pipe_close(int fds[2]) {
    if (fds[0] >= 0) close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    fds[0] = fds[1] = -1;
}

/* Two pipes, or none: 0 when both are open. */
static int etcde__pipe_pair(int a[2], int b[2]) {
    a[0] = a[1] = b[0] = b[1] = -1;
    if (etcde__pipe(a) == 0 && etcde__pipe(b) == 0) return 0;
    etcde__pipe_close(a);
    etcde__pipe_close(b);
    return -1;
}

/* Async-signal-safe: write(2) only, errno preserved. */
static void etcde__pipe_poke(int fd) {
    int saved = errno;
    char b = 1;
    ssize_t r = write(fd, &b, 1);
    (void)r;
    errno = saved;
}

/* A waiter's wake-up: an eventfd where there is one (one descriptor, so that ten
   thousand waits fit a 20 000-descriptor limit), else a pipe. fds[0] is polled and
   drained, fds[1] poked. */
static int etcde__wake_open(int fds[2]) {
#ifdef ETCDE__HAVE_EVENTFD
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd >= 0) {
        fds[0] = fds[1] = fd;
        return 0;
    }
#endif
    return etcde__pipe(fds);
}

static void etcde__wake_poke(const int fds[2]) {
    if (fds[0] == fds[1]) { /* an eventfd takes 8 bytes */
        int saved = errno;
        uint64_t one = 1;
        ssize_t r = write(fds[1], &one, sizeof one);
        (void)r;
        errno = saved;
    } else {
        etcde__pipe_poke(fds[1]);
    }
}

static void etcde__wake_drain(const int fds[2]) {
    char b[64];
    while (read(fds[0], b, sizeof b) > 0) continue;
}

static void etcde__wake_close(int fds[2]) {
    if (fds[0] == fds[1] && fds[0] >= 0)
        close(fds[0]);
    else
        etcde__pipe_close(fds);
    fds[0] = fds[1] = -1;
}

/* ---- http ---------------------------------------------------------------------------- */
/* One HTTP/1.1 connection and an incremental response reader. The reader pulls bytes
   through `rd`, so tests can feed it from memory one byte at a time. */

enum {
    ETCDE__BODY_LEN = 1, /* Content-Length */
    ETCDE__BODY_CLOSE,   /* until the server closes */
    ETCDE__CHUNK_SIZE,
    ETCDE__CHUNK_DATA,
    ETCDE__CHUNK_CRLF,
    ETCDE__TRAILERS,
    ETCDE__BODY_DONE
};

typedef struct etcde__conn etcde__conn;
typedef long (*etcde__read_fn)(etcde__conn *cn, char *buf, size_t cap, const etcde__wait *w,
                               etcde__err *err);

struct etcde__conn {
    int fd;
    int ep;     /* endpoint index */
    int reused; /* came from the idle pool */
    etcde__read_fn rd;
    void *rd_user;             /* for test readers */
    const etcde_transport *tr; /* NULL: plain socket I/O */
    void *tr_conn;
    char rbuf[ETCDE_MAX_LINE + 2];
    size_t rpos, rlen;
    /* the response being read */
    int status, minor, keep_alive, body, got_bytes;
    int64_t left; /* bytes left in the body (BODY_LEN) or current chunk */
    /* a WebSocket upgrade: asked for (101 ends the head), and what the server answered */
    int upgrade, ws_upgrade_hdr, ws_conn_hdr;
    char ws_accept[32];
    uint64_t ws_rng; /* the masking keys' generator */
    int ws_pong_ret; /* etcde__ws_next returns 2 after a pong, instead of reading on */
    int64_t idle_at; /* when it went into the pool */
    etcde__conn *next;
};

static void etcde__conn_reset(etcde__conn *cn) {
    cn->status = cn->minor = cn->keep_alive = cn->body = cn->got_bytes = 0;
    cn->ws_upgrade_hdr = cn->ws_conn_hdr = 0;
    cn->ws_accept[0] = 0;
    cn->left = 0;
}

static long etcde__sock_read(etcde__conn *cn, char *buf, size_t cap, const etcde__wait *w,
                             etcde__err *err) {
    for (;;) {
        char eb[96];
        short ev = POLLIN;
        etcde_result r;
        if (cn->tr) {
            long n = cn->tr->read(cn->tr_conn, cn->fd, buf, cap);
            if (n >= 0) return n;
            if (n == ETCDE_IO_ERROR) return etcde__fail(err, ETCDE_ERR_IO, "read: transport error");
            if (n == ETCDE_IO_WANT_WRITE) ev = POLLOUT;
        } else {
            ssize_t n = recv(cn->fd, buf, cap, 0);
            if (n >= 0) return (long)n;
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return etcde__fail(err, ETCDE_ERR_IO, "read: %s",
                                   etcde__errno_text(errno, eb, sizeof eb));
        }
        r = etcde__poll(cn->fd, ev, w, err);
        if (r) return r;
    }
}

/* Reads more bytes into rbuf. >0: bytes added, 0: EOF, <0: error. */
static long etcde__conn_fill(etcde__conn *cn, const etcde__wait *w, etcde__err *err) {
    long n;
    if (cn->rpos == cn->rlen) cn->rpos = cn->rlen = 0;
    if (cn->rlen == sizeof cn->rbuf && cn->rpos > 0) {
        memmove(cn->rbuf, cn->rbuf + cn->rpos, cn->rlen - cn->rpos);
        cn->rlen -= cn->rpos;
        cn->rpos = 0;
    }
    if (cn->rlen == sizeof cn->rbuf)
        return etcde__fail(err, ETCDE_ERR_TOO_BIG, "HTTP line longer than %d bytes",
                           ETCDE_MAX_LINE);
    n = cn->rd(cn, cn->rbuf + cn->rlen, sizeof cn->rbuf - cn->rlen, w, err);
    if (n > 0) {
        cn->rlen += (size_t)n;
        cn->got_bytes = 1;
    }
    return n;
}

/* Next CRLF- (or LF-) terminated line, without the terminator, as a view into rbuf. */
static etcde_result etcde__conn_line(etcde__conn *cn, const etcde__wait *w, char **line,
                                     size_t *len, etcde__err *err) {
    for (;;) {
        char *s = cn->rbuf + cn->rpos;
        char *nl = (char *)memchr(s, '\n', cn->rlen - cn->rpos);
        long n;
        if (nl) {
            size_t l = (size_t)(nl - s);
            if (l > 0 && s[l - 1] == '\r') l--;
            if (l > ETCDE_MAX_LINE)
                return etcde__fail(err, ETCDE_ERR_TOO_BIG, "HTTP line longer than %d bytes",
                                   ETCDE_MAX_LINE);
            s[l] = 0;
            *line = s;
            *len = l;
            cn->rpos += (size_t)(nl - s) + 1;
            return ETCDE_OK;
        }
        n = etcde__conn_fill(cn, w, err);
        if (n < 0) return (etcde_result)n;
        if (n == 0)
            return etcde__fail(err, cn->got_bytes ? ETCDE_ERR_HTTP : ETCDE_ERR_IO,
                               "connection closed %s",
                               cn->got_bytes ? "mid-response" : "before any response");
    }
}

static int etcde__ieq(const char *a, size_t an, const char *b) {
    size_t i;
    if (an != strlen(b)) return 0;
    for (i = 0; i < an; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return 0;
    return 1;
}

static int etcde__has_token(const char *v, const char *tok) {
    /* comma-separated header value contains tok (case-insensitive) */
    while (*v) {
        size_t n;
        while (*v == ' ' || *v == '\t' || *v == ',') v++;
        n = strcspn(v, ", \t");
        if (n && etcde__ieq(v, n, tok)) return 1;
        v += n;
    }
    return 0;
}

/* The next header line (empty at the end of the headers), counted against the limit. */
static etcde_result etcde__header_line(etcde__conn *cn, const etcde__wait *w, int *nhdr,
                                       char **line, size_t *len, etcde__err *err) {
    etcde_result r = etcde__conn_line(cn, w, line, len, err);
    if (r || *len == 0) return r;
    if (++*nhdr > ETCDE_MAX_HEADERS)
        return etcde__fail(err, ETCDE_ERR_TOO_BIG, "more than %d HTTP header lines",
                           ETCDE_MAX_HEADERS);
    return ETCDE_OK;
}

/* Reads the status line and headers (skipping 1xx), and sets up body decoding. */
static etcde_result etcde__http_head(etcde__conn *cn, const etcde__wait *w, etcde__err *err) {
    int nhdr = 0, chunked = 0, has_len = 0, conn_close = 0, conn_keep = 0, interim = 0;
    int64_t clen = 0;
    char *line, q[256];
    size_t len;
    etcde_result r;
    etcde__conn_reset(cn);
    for (;;) {
        r = etcde__conn_line(cn, w, &line, &len, err);
        if (r) return r;
        if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
            line[8] != ' ' || !isdigit((unsigned char)line[9]) ||
            !isdigit((unsigned char)line[10]) || !isdigit((unsigned char)line[11]) ||
            (len > 12 && line[12] != ' '))
            return etcde__fail(err, ETCDE_ERR_HTTP, "bad HTTP status line \"%s\"",
                               etcde__quote(q, sizeof q, line, 60));
        cn->minor = line[7] - '0';
        cn->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        if (cn->status >= 200 || (cn->status == 101 && cn->upgrade)) break;
        if (++interim > 8)
            return etcde__fail(err, ETCDE_ERR_TOO_BIG, "more than 8 interim (1xx) HTTP responses");
        do { /* skip the interim response's headers */
            if ((r = etcde__header_line(cn, w, &nhdr, &line, &len, err)) != ETCDE_OK) return r;
        } while (len);
    }
    for (;;) {
        char *colon, *v;
        size_t nl;
        if ((r = etcde__header_line(cn, w, &nhdr, &line, &len, err)) != ETCDE_OK) return r;
        if (len == 0) break;
        colon = (char *)memchr(line, ':', len);
        if (!colon || colon == line)
            return etcde__fail(err, ETCDE_ERR_HTTP, "bad HTTP header line \"%s\"",
                               etcde__quote(q, sizeof q, line, 60));
        nl = (size_t)(colon - line);
        v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        if (etcde__ieq(line, nl, "content-length")) {
            size_t dn = strspn(v, "0123456789");
            if (dn == 0 || dn > 19 || v[dn + strspn(v + dn, " \t")] != 0 ||
                etcde__parse_i64(v, dn, &clen) || (has_len && clen != cn->left))
                return etcde__fail(err, ETCDE_ERR_HTTP, "bad Content-Length \"%s\"",
                                   etcde__quote(q, sizeof q, v, 40));
            has_len = 1;
            cn->left = clen;
        } else if (etcde__ieq(line, nl, "transfer-encoding")) {
            if (!etcde__has_token(v, "chunked"))
                return etcde__fail(err, ETCDE_ERR_HTTP, "unsupported Transfer-Encoding \"%s\"",
                                   etcde__quote(q, sizeof q, v, 40));
            chunked = 1;
        } else if (etcde__ieq(line, nl, "connection")) {
            conn_close |= etcde__has_token(v, "close");
            conn_keep |= etcde__has_token(v, "keep-alive");
            cn->ws_conn_hdr |= etcde__has_token(v, "upgrade");
        } else if (etcde__ieq(line, nl, "upgrade")) {
            cn->ws_upgrade_hdr |= etcde__has_token(v, "websocket");
        } else if (etcde__ieq(line, nl, "sec-websocket-accept")) {
            snprintf(cn->ws_accept, sizeof cn->ws_accept, "%.31s", v);
        }
    }
    if (cn->status == 101) { /* the connection now carries WebSocket frames */
        cn->body = ETCDE__BODY_DONE;
        return ETCDE_OK;
    }
    if (chunked)
        cn->body = ETCDE__CHUNK_SIZE;
    else if (has_len)
        cn->body = ETCDE__BODY_LEN;
    else if (cn->status == 204 || cn->status == 304)
        cn->body = ETCDE__BODY_DONE;
    else
        cn->body = ETCDE__BODY_CLOSE;
    cn->keep_alive = cn->body != ETCDE__BODY_CLOSE && !conn_close && (cn->minor == 1 || conn_keep);
    return ETCDE_OK;
}

/* Takes up to `cap` body bytes already buffered (bounded by the current length). */
static size_t etcde__conn_take(etcde__conn *cn, char *dst, size_t cap, int bounded) {
    size_t n = cn->rlen - cn->rpos;
    if (n > cap) n = cap;
    if (bounded && (int64_t)n > cn->left) n = (size_t)cn->left;
    memcpy(dst, cn->rbuf + cn->rpos, n);
    cn->rpos += n;
    if (bounded) cn->left -= (int64_t)n;
    return n;
}

/* Reads decoded body bytes: >0 bytes copied to dst, 0 at the end of the body, <0 error. */
static long etcde__http_body(etcde__conn *cn, char *dst, size_t cap, const etcde__wait *w,
                             etcde__err *err) {
    for (;;) {
        char *line, q[256];
        size_t len, n;
        long got;
        etcde_result r;
        switch (cn->body) {
        case ETCDE__BODY_DONE: return 0;
        case ETCDE__BODY_LEN:
        case ETCDE__CHUNK_DATA:
            if (cn->left == 0) {
                cn->body = cn->body == ETCDE__BODY_LEN ? ETCDE__BODY_DONE : ETCDE__CHUNK_CRLF;
                continue;
            }
            n = etcde__conn_take(cn, dst, cap, 1);
            if (n) return (long)n;
            got = etcde__conn_fill(cn, w, err);
            if (got < 0) return got;
            if (got == 0)
                return etcde__fail(err, ETCDE_ERR_HTTP,
                                   "connection closed mid-body (truncated response)");
            continue;
        case ETCDE__BODY_CLOSE:
            n = etcde__conn_take(cn, dst, cap, 0);
            if (n) return (long)n;
            got = etcde__conn_fill(cn, w, err);
            if (got < 0) return got;
            if (got == 0) cn->body = ETCDE__BODY_DONE;
            continue;
        case ETCDE__CHUNK_SIZE: {
            int64_t size = 0;
            size_t i, digits = 0;
            r = etcde__conn_line(cn, w, &line, &len, err);
            if (r) return r;
            for (i = 0; i < len && isxdigit((unsigned char)line[i]); i++, digits++) {
                int d = isdigit((unsigned char)line[i]) ? line[i] - '0' : (line[i] | 32) - 'a' + 10;
                if (size >= ((int64_t)1 << 59)) /* one more digit would pass INT64_MAX */
                    return etcde__fail(err, ETCDE_ERR_HTTP, "chunk size too large");
                size = size * 16 + d;
            }
            if (!digits || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t'))
                return etcde__fail(err, ETCDE_ERR_HTTP, "bad chunk size line \"%s\"",
                                   etcde__quote(q, sizeof q, line, 40));
            cn->left = size;
            cn->body = size ? ETCDE__CHUNK_DATA : ETCDE__TRAILERS;
            continue;
        }
        case ETCDE__CHUNK_CRLF:
            r = etcde__conn_line(cn, w, &line, &len, err);
            if (r) return r;
            if (len) return etcde__fail(err, ETCDE_ERR_HTTP, "chunk not followed by CRLF");
            cn->body = ETCDE__CHUNK_SIZE;
            continue;
        case ETCDE__TRAILERS: {
            int ntr = 0;
            for (;;) {
                r = etcde__conn_line(cn, w, &line, &len, err);
                if (r) return r;
                if (len == 0) break;
                if (++ntr > ETCDE_MAX_HEADERS)
                    return etcde__fail(err, ETCDE_ERR_TOO_BIG, "more than %d HTTP trailer lines",
                                       ETCDE_MAX_HEADERS);
            }
            cn->body = ETCDE__BODY_DONE;
            continue;
        }
        default: return etcde__fail(err, ETCDE_ERR_STATE, "no HTTP response being read");
        }
    }
}

/* Reads the whole body into b (replacing its contents), at most b->max bytes. */
static etcde_result etcde__http_read_all(etcde__conn *cn, etcde__buf *b, const etcde__wait *w,
                                         etcde__err *err) {
    b->len = 0;
    if (cn->body == ETCDE__BODY_LEN && (uint64_t)cn->left > b->max)
        return etcde__fail(err, ETCDE_ERR_TOO_BIG,
                           "response of %lld bytes exceeds the %lu-byte limit", (long long)cn->left,
                           (unsigned long)b->max);
    for (;;) {
        long n;
        if (etcde__buf_reserve(b, ETCDE__MIN(4096, b->max - b->len)) == ETCDE_ERR_NOMEM)
            return etcde__fail(err, ETCDE_ERR_NOMEM, "out of memory reading a response");
        if (b->len == b->max) { /* full: the body must end here */
            char one;
            n = etcde__http_body(cn, &one, 1, w, err);
            if (n < 0) return (etcde_result)n;
            if (n == 0) break;
            return etcde__fail(err, ETCDE_ERR_TOO_BIG, "response exceeds the %lu-byte limit",
                               (unsigned long)b->max);
        }
        n = etcde__http_body(cn, b->p + b->len, b->cap - 1 - b->len, w, err);
        if (n < 0) return (etcde_result)n;
        if (n == 0) break;
        b->len += (size_t)n;
    }
    if (b->p) b->p[b->len] = 0;
    return ETCDE_OK;
}

/* Streams: the next newline-terminated message of the body into b. Bytes after the
   newline are kept in b past b->len for the next call (b->cap holds them; `*carry`
   counts them). Returns 1 with a line (a final line without newline counts), 0 at the
   end of the body, <0 on error. Messages are split on '\n', never on chunk boundaries. */
static int etcde__http_next_line(etcde__conn *cn, etcde__buf *b, size_t *carry,
                                 const etcde__wait *w, etcde__err *err) {
    size_t have = *carry, scanned = 0;
    if (have) memmove(b->p, b->p + b->len + 1, have);
    for (;;) {
        char *nl = have > scanned ? (char *)memchr(b->p + scanned, '\n', have - scanned) : NULL;
        long n;
        if (nl) {
            b->len = (size_t)(nl - b->p);
            *carry = have - b->len - 1;
            *nl = 0;
            return 1;
        }
        scanned = have;
        if (have >= b->max) { /* full: only a newline or the end of the body may follow */
            char one;
            n = etcde__http_body(cn, &one, 1, w, err);
            if (n < 0) return (int)n;
            if (n == 1 && one != '\n')
                return etcde__fail(err, ETCDE_ERR_TOO_BIG,
                                   "stream message exceeds the %lu-byte limit",
                                   (unsigned long)b->max);
            *carry = 0;
            b->len = have;
            b->p[have] = 0;
            return 1;
        }
        b->len = have; /* so that growing the buffer keeps what was read */
        if (etcde__buf_reserve(b, ETCDE__MIN(4096, b->max - have)) == ETCDE_ERR_NOMEM)
            return etcde__fail(err, ETCDE_ERR_NOMEM, "out of memory reading a stream");
        n = etcde__http_body(cn, b->p + have, b->cap - 1 - have, w, err);
        if (n < 0) return (int)n;
        if (n == 0) {
            *carry = 0;
            b->len = have;
            if (b->p) b->p[have] = 0;
            return have ? 1 : 0;
        }
        have += (size_t)n;
    }
}

/* ---- client -------------------------------------------------------------------------- */

typedef struct etcde__ep {
    char *host;
    char port[8];
    char *hostport; /* for the Host header and messages */
    int ws_refused; /* atomic: answered a WebSocket upgrade with something else than 101 */
    int fails;      /* atomic: times a call marked it failed */
} etcde__ep;

typedef struct etcde__hub etcde__hub;
typedef struct etcde__run etcde__run;
typedef struct etcde__ka etcde__ka;

struct etcde_client {
    etcde_options o; /* with defaults patched in; strings below are our copies */
    etcde_allocator al;
    etcde__ep *eps;
    int neps, eps_cap;
    int cur_ep;         /* atomic: the endpoint to try first */
    pthread_mutex_t mu; /* guards idle, token, errmsg */
    etcde__conn *idle;
    int nidle;
    char *user, *password, *token;
    int cancel_pipe[2]; /* readable while cancelled: the one record of it, so that cancel
                           (async-signal-safe) and uncancel can never disagree */
    etcde__read_fn rd;
    etcde_transport tr; /* copy of the hook, if any (tr.read != NULL) */
    etcde__hub *hub;    /* the shared watch stream, once a wait wanted it (under mu) */
    etcde__run *run;    /* atomic: the runner of async calls, once one was made (under mu) */
    etcde__ka *ka;      /* the keepalive thread of its sessions, once one was made (under mu) */
};

static void etcde__run_nudge(etcde_client *c);

static int etcde__cancelled(etcde_client *c) {
    struct pollfd p;
    p.fd = c->cancel_pipe[0];
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, 0) > 0;
}

/* A response: its bytes, and the JSON tokens over them. */
typedef struct etcde__resp {
    etcde__buf body;
    etcde__tok *tok;
    int tokcap;
    etcde__json j;
    size_t carry; /* stream bytes read past the current line */
    int status;
} etcde__resp;

static void etcde__resp_init(etcde__resp *r, etcde_client *c) {
    memset(r, 0, sizeof *r);
    etcde__buf_init(&r->body, &c->al, c->o.max_response_bytes);
}

static void etcde__resp_free(etcde__resp *r) {
    etcde__buf_free(&r->body);
    etcde__free(r->body.al, r->tok);
    r->tok = NULL;
    r->tokcap = 0;
}

static void etcde__log(etcde_client *c, int level, const char *fmt, ...) ETCDE__PRINTF(3, 4);
static void etcde__log(etcde_client *c, int level, const char *fmt, ...) {
    char msg[320];
    va_list ap;
    if (!c->o.log || level > c->o.log_level) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->o.log(level, msg, c->o.log_user_data);
}

/* Tokenizes resp->body (the whole body, or the current stream line). */
static etcde_result etcde__resp_parse(etcde_client *c, etcde__resp *r, etcde__err *err) {
    int n = etcde__json_parse(r->body.p ? r->body.p : "", (int)r->body.len, NULL, 0);
    int budget = (int)ETCDE__MIN((size_t)c->o.max_json_tokens, r->body.len / 4 + 64);
    char q[256];
    if (n == ETCDE__J_DEEP)
        return etcde__fail(err, ETCDE_ERR_TOO_BIG, "JSON nested deeper than %d levels",
                           ETCDE_MAX_JSON_DEPTH);
    if (n < 0) {
        return etcde__fail(
            err, ETCDE_ERR_JSON, "invalid JSON in response (HTTP %d, %lu bytes): \"%s\"", r->status,
            (unsigned long)r->body.len, etcde__quote(q, sizeof q, r->body.p ? r->body.p : "", 60));
    }
    if (n > budget) /* etcd never sends more than one token per 4 bytes: this bounds memory */
        return etcde__fail(err, ETCDE_ERR_TOO_BIG,
                           "JSON response has %d tokens, over the limit of %d", n, budget);
    if (n > r->tokcap) {
        etcde__tok *t = (etcde__tok *)etcde__alloc(&c->al, sizeof(etcde__tok) * (size_t)n);
        if (!t) return etcde__fail(err, ETCDE_ERR_NOMEM, "out of memory for %d JSON tokens", n);
        etcde__free(&c->al, r->tok);
        r->tok = t;
        r->tokcap = n;
    }
    r->j.s = r->body.p;
    r->j.t = r->tok;
    r->j.n = etcde__json_parse(r->body.p, (int)r->body.len, r->tok, r->tokcap);
    if (r->j.n != n || r->tok[0].type != ETCDE__J_OBJ)
        return etcde__fail(err, ETCDE_ERR_JSON, "response is not a JSON object: \"%s\"",
                           etcde__quote(q, sizeof q, r->body.p, 60));
    return ETCDE_OK;
}

/* Maps an etcd error in a parsed response (either gateway shape, unary or in-stream) to
   a result. ETCDE_OK when the response is not an error. */
static etcde_result etcde__resp_error(etcde__resp *r, etcde__err *err) {
    etcde__json *j = &r->j;
    int e = etcde__jget(j, 0, "error"), k_code, k_msg;
    int64_t code, http = r->status;
    char msg[240];
    etcde_result rc;
    if (e >= 0 && j->t[e].type == ETCDE__J_OBJ) { /* stream error: {"error":{...}} */
        k_code = etcde__jget(j, e, "grpc_code");
        if (k_code < 0) k_code = etcde__jget(j, e, "code");
        k_msg = etcde__jget(j, e, "message");
        http = etcde__jint(j, etcde__jget(j, e, "http_code"), http);
    } else if (r->status != 200) {
        k_code = etcde__jget(j, 0, "code");
        k_msg = etcde__jget(j, 0, "message");
        if (k_msg < 0) k_msg = e;
    } else {
        return ETCDE_OK;
    }
    code = etcde__jint(j, k_code, -1);
    {
        char raw[200];
        etcde__jstr(j, k_msg, raw, sizeof raw);
        etcde__quote(msg, sizeof msg, raw, sizeof raw);
        /* etcd 3.6+'s gateway answers an unknown path or method itself, with these fixed
           texts: no etcd call ran (3.4 said the same in text/plain, an HTTP error too) */
        if (e < 0 && ((code == 5 && strcmp(raw, "Not Found") == 0) ||
                      (code == 12 && strcmp(raw, "Method Not Allowed") == 0)))
            return etcde__fail(err, ETCDE_ERR_HTTP,
                               "HTTP %d (code %d): %s: the server has no such gateway "
                               "endpoint (not etcd's v3 JSON gateway?)",
                               (int)http, (int)code, msg);
    }
    /* code 1 (cancelled, HTTP 408 or 499) never comes from this client: the member
       dropped the call, e.g. while shutting down -- another endpoint may serve it */
    if (code == 14 || code == 1 || http == 503 || strstr(msg, "deadline exceeded") ||
        strstr(msg, "request timed out") || strstr(msg, "no leader"))
        rc = ETCDE_ERR_UNAVAILABLE;
    else if (code == 16 || code == 7 || strstr(msg, "authentication failed") ||
             strstr(msg, "user name is empty"))
        rc = ETCDE_ERR_AUTH;
    else if (code == 5 && strstr(msg, "lease not found"))
        rc = ETCDE_ERR_SESSION_LOST;
    else
        rc = ETCDE_ERR_ETCD;
    return etcde__fail(err, rc, "etcd %d (code %d): %s", (int)http, (int)code,
                       msg[0] ? msg : "(no message)");
}

/* ---- client: connections ------------------------------------------------------------- */

static void etcde__conn_close(etcde_client *c, etcde__conn *cn) {
    if (!cn) return;
    if (cn->tr && cn->tr->close) cn->tr->close(cn->tr_conn, cn->fd);
    if (cn->fd >= 0) close(cn->fd);
    etcde__free(&c->al, cn);
}

static etcde__conn *etcde__conn_new(etcde_client *c, int fd, int ep) {
    etcde__conn *cn = (etcde__conn *)etcde__alloc(&c->al, sizeof *cn);
    if (!cn) return NULL;
    memset(cn, 0, sizeof *cn);
    cn->fd = fd;
    cn->ep = ep;
    cn->rd = c->rd;
    return cn;
}

/* Connects to endpoint ep within the dial timeout (and the wait). */
static etcde_result etcde__dial(etcde_client *c, int ep, const etcde__wait *w, etcde__conn **out,
                                etcde__err *err) {
    struct addrinfo hints, *res = NULL, *ai;
    etcde__ep *e = &c->eps[ep];
    int rc, fd = -1, one = 1;
    char eb[96];
    etcde_result r = ETCDE_ERR_IO;
    etcde__wait dw = etcde__within(w, etcde__now_ms() + c->o.dial_timeout_ms);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(e->host, e->port, &hints, &res);
    if (rc != 0)
        return etcde__fail(err, ETCDE_ERR_IO, "resolve %s: %s", e->hostport, gai_strerror(rc));
    if (!res) return etcde__fail(err, ETCDE_ERR_IO, "connect %s: no address", e->hostport);
    for (ai = res; ai; ai = ai->ai_next) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
#ifdef SOCK_CLOEXEC /* atomically: no fork+exec in another thread inherits it */
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0 && errno == EINVAL)
#endif
            fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            r = etcde__fail(err, ETCDE_ERR_IO, "socket: %s",
                            etcde__errno_text(errno, eb, sizeof eb));
            continue;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef SO_NOSIGPIPE
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            r = etcde__poll(fd, POLLOUT, &dw, err);
            if (r == ETCDE_OK) {
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr == 0) break;
                errno = soerr;
            } else if (r != ETCDE_ERR_TIMEOUT) {
                close(fd);
                fd = -1;
                break; /* cancelled */
            } else {
                r = etcde__fail(err, ETCDE_ERR_IO, "connect %s: timed out after %d ms", e->hostport,
                                c->o.dial_timeout_ms);
                close(fd);
                fd = -1;
                continue;
            }
        }
        r = etcde__fail(err, ETCDE_ERR_IO, "connect %s: %s", e->hostport,
                        etcde__errno_text(errno, eb, sizeof eb));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return r;
    *out = etcde__conn_new(c, fd, ep);
    if (!*out) {
        close(fd);
        return etcde__fail(err, ETCDE_ERR_NOMEM, "out of memory");
    }
    if (c->tr.read) {
        char terr[160];
        int64_t left = dw.deadline - etcde__now_ms();
        terr[0] = 0;
        if (left <= 0 || c->tr.open(c->tr.user_data, fd, e->host, (int)left, &(*out)->tr_conn, terr,
                                    sizeof terr) != 0) {
            etcde__conn_close(c, *out);
            *out = NULL;
            return etcde__fail(err, ETCDE_ERR_IO, "connect %s: transport: %s", e->hostport,
                               left <= 0 ? "no time left"
                               : terr[0] ? terr
                                         : "open failed");
        }
        (*out)->tr = &c->tr;
    }
    return ETCDE_OK;
}

/* An idle keep-alive connection to endpoint ep, if one is still usable. */
static etcde__conn *etcde__pool_get(etcde_client *c, int ep) {
    etcde__conn **pp, *cn = NULL;
    pthread_mutex_lock(&c->mu);
    for (pp = &c->idle; *pp; pp = &(*pp)->next)
        if ((*pp)->ep == ep) {
            cn = *pp;
            *pp = cn->next;
            c->nidle--;
            break;
        }
    pthread_mutex_unlock(&c->mu);
    if (cn) {
        struct pollfd p;
        p.fd = cn->fd;
        p.events = POLLIN;
        p.revents = 0;
        /* readable while idle: closed by the server, or stray bytes -- unusable. (A
           transport may legitimately receive records while idle; the stale-connection
           retry in etcde__exchange covers those.) */
        if (!cn->tr && poll(&p, 1, 0) != 0) {
            etcde__conn_close(c, cn);
            return NULL;
        }
        cn->reused = 1;
        cn->rpos = cn->rlen = 0;
        cn->got_bytes = 0;
    }
    return cn;
}

static void etcde__pool_put(etcde_client *c, etcde__conn *cn) {
    int kept = 0;
    if (cn->keep_alive && cn->body == ETCDE__BODY_DONE && cn->rpos == cn->rlen) {
        pthread_mutex_lock(&c->mu);
        if (c->nidle < 16) {
            cn->idle_at = etcde__now_ms();
            cn->next = c->idle;
            c->idle = cn;
            c->nidle++;
            kept = 1;
        }
        pthread_mutex_unlock(&c->mu);
    }
    if (!kept) etcde__conn_close(c, cn);
}

/* Closes the idle connections pooled before `before`, but the newest: what a burst of
   calls opened goes once the client is quiet. */
static void etcde__pool_trim(etcde_client *c, int64_t before) {
    etcde__conn *old = NULL, **pp;
    pthread_mutex_lock(&c->mu);
    for (pp = c->idle ? &c->idle->next : &c->idle; *pp;) {
        etcde__conn *cn = *pp;
        if (cn->idle_at < before) {
            *pp = cn->next;
            cn->next = old;
            old = cn;
            c->nidle--;
        } else {
            pp = &cn->next;
        }
    }
    pthread_mutex_unlock(&c->mu);
    while (old) {
        etcde__conn *cn = old;
        old = cn->next;
        etcde__conn_close(c, cn);
    }
}

static etcde_result etcde__send_all(etcde__conn *cn, const char *p, size_t n, const etcde__wait *w,
                                    etcde__err *err) {
    while (n) {
        char eb[96];
        short ev = POLLOUT;
        etcde_result r;
        if (cn->tr) {
            long k = cn->tr->write(cn->tr_conn, cn->fd, p, n);
            if (k > 0) {
                p += k;
                n -= (size_t)k;
                continue;
            }
            if (k != ETCDE_IO_WANT_READ && k != ETCDE_IO_WANT_WRITE)
                return etcde__fail(err, ETCDE_ERR_IO, "write: transport error");
            if (k == ETCDE_IO_WANT_READ) ev = POLLIN;
        } else {
            ssize_t k = send(cn->fd, p, n, MSG_NOSIGNAL);
            if (k > 0) {
                p += k;
                n -= (size_t)k;
                continue;
            }
            if (k < 0 && errno == EINTR) continue;
            if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                return etcde__fail(err, ETCDE_ERR_IO, "write: %s",
                                   etcde__errno_text(errno, eb, sizeof eb));
        }
        r = etcde__poll(cn->fd, ev, w, err);
        if (r) return r;
    }
    return ETCDE_OK;
}

/* One request, as the connection layer sends it. */
typedef struct etcde__req {
    const char *path;
    const etcde__buf *body;
    etcde__conn **stream; /* NULL: a unary call; else open a stream and leave its connection here */
    int anon;             /* without the token: the authentication request itself */
    int64_t deadline;     /* the request's own timeout; the caller's wait may end sooner */
    int hasleader;        /* a unary call that etcd refuses (503) from a member without leader */
} etcde__req;

/* Sends one request on endpoint ep and reads the response head. A pooled connection
   that turns out dead before any response byte is replaced by a fresh one once. A small
   body goes out in one write with the head; a large one is sent after it, not copied. */
static etcde_result etcde__exchange(etcde_client *c, int ep, const etcde__req *rq,
                                    const etcde__wait *w, etcde__conn **out, etcde__err *err) {
    enum { INLINE_BODY = 16384 };
    const etcde__buf *body = rq->body;
    etcde__buf req;
    etcde_result r = ETCDE_OK;
    int attempt, inline_body = body->len <= INLINE_BODY;
    if (body->failed == ETCDE_ERR_NOMEM)
        return etcde__fail(err, body->failed, "out of memory building a request");
    if (body->failed)
        return etcde__fail(err, body->failed, "request body exceeds its %lu-byte buffer",
                           (unsigned long)body->max);
    etcde__buf_init(&req, &c->al, 4096 + 1024 + INLINE_BODY);
    req.wipe = body->wipe;
    etcde__buf_str(&req, "POST ");
    etcde__buf_str(&req, rq->path);
    etcde__buf_str(&req, " HTTP/1.1\r\nHost: ");
    etcde__buf_str(&req, c->eps[ep].hostport);
    etcde__buf_str(&req, "\r\nContent-Type: application/json\r\nContent-Length: ");
    etcde__buf_i64(&req, (int64_t)body->len);
    etcde__buf_str(&req, "\r\n");
    if (rq->stream || rq->hasleader) etcde__buf_str(&req, "Grpc-Metadata-Hasleader: true\r\n");
    pthread_mutex_lock(&c->mu);
    if (c->token && !rq->anon) {
        etcde__buf_str(&req, "Authorization: ");
        etcde__buf_str(&req, c->token);
        etcde__buf_str(&req, "\r\n");
    }
    pthread_mutex_unlock(&c->mu);
    etcde__buf_str(&req, "\r\n");
    if (inline_body) etcde__buf_add(&req, body->p, body->len);
    if (req.failed) {
        etcde__buf_free(&req);
        return etcde__fail(err, ETCDE_ERR_NOMEM, "out of memory building a request");
    }
    for (attempt = 0; attempt < 2; attempt++) {
        etcde__conn *cn = rq->stream ? NULL : etcde__pool_get(c, ep);
        if (!cn) {
            r = etcde__dial(c, ep, w, &cn, err);
            if (r) break;
        }
        r = etcde__send_all(cn, req.p, req.len, w, err);
        if (!r && !inline_body) r = etcde__send_all(cn, body->p, body->len, w, err);
        if (!r) r = etcde__http_head(cn, w, err);
        if (!r) {
            *out = cn;
            break;
        }
        if (cn->reused && !cn->got_bytes && (r == ETCDE_ERR_IO || r == ETCDE_ERR_HTTP)) {
            etcde__conn_close(c, cn); /* the server closed it while idle: dial afresh */
            continue;
        }
        etcde__conn_close(c, cn);
        break;
    }
    etcde__buf_free(&req);
    return r;
}

/* Errors another endpoint, or the same one a little later, may not repeat. */
static int etcde__transient(etcde_result r) {
    return r == ETCDE_ERR_IO || r == ETCDE_ERR_UNAVAILABLE || r == ETCDE_ERR_TIMEOUT ||
           r == ETCDE_ERR_HTTP;
}

static void etcde__ep_failed(etcde_client *c, int ep) {
    int expected = ep;
    __atomic_add_fetch(&c->eps[ep].fails, 1, __ATOMIC_ACQ_REL);
    __atomic_compare_exchange_n(&c->cur_ep, &expected, (ep + 1) % c->neps, 0, __ATOMIC_ACQ_REL,
                                __ATOMIC_ACQUIRE);
}

/* One request, tried on each endpoint in turn: a unary call (resp gets the parsed body),
   or the opening of a stream (*rq->stream gets the connection, positioned at the start of
   a 200 body). */
static etcde_result etcde__try_endpoints(etcde_client *c, const etcde__req *rq, etcde__resp *resp,
                                         const etcde__wait *w, etcde__err *err) {
    const char *path = rq->path;
    int64_t deadline = rq->deadline;
    int start = ETCDE__LOAD(&c->cur_ep), k;
    etcde_result r = ETCDE_ERR_UNAVAILABLE;
    for (k = 0; k < c->neps; k++) {
        int ep = (start + k) % c->neps;
        etcde__conn *cn = NULL;
        int64_t t0 = etcde__now_ms(), dl = deadline;
        etcde__wait ew;
        /* a silent endpoint must not eat the time the others need: while others remain,
           one attempt gets at most half of what is left */
        if (k + 1 < c->neps && deadline != ETCDE__NEVER && deadline - t0 > 400)
            dl = t0 + (deadline - t0) / 2;
        ew = etcde__within(w, dl);
        resp->status = 0;
        r = etcde__exchange(c, ep, rq, &ew, &cn, err);
        if (r == ETCDE_OK) {
            resp->status = cn->status;
            if (rq->stream && cn->status == 200) {
                *rq->stream = cn;
                return ETCDE_OK;
            }
            r = etcde__http_read_all(cn, &resp->body, &ew, err);
            if (r == ETCDE_OK) {
                etcde__pool_put(c, cn);
                cn = NULL;
                r = etcde__resp_parse(c, resp, err);
                if (r && resp->status != 200) {
                    char snip[96];
                    const char *text = resp->body.p ? resp->body.p : "";
                    etcde__quote(snip, sizeof snip, text, ETCDE__MIN(strcspn(text, "\r\n"), 60));
                    r = etcde__fail(
                        err, resp->status == 503 ? ETCDE_ERR_UNAVAILABLE : ETCDE_ERR_HTTP,
                        "%s answered HTTP %d: %s", c->eps[ep].hostport, resp->status, snip);
                }
                if (r == ETCDE_OK) r = etcde__resp_error(resp, err);
            }
            etcde__conn_close(c, cn);
        }
        if (r == ETCDE_ERR_TIMEOUT && (!w || etcde__now_ms() < w->deadline))
            etcde__fail(err, r, "%s%s: timed out, no reply within %lld ms", c->eps[ep].hostport,
                        path, (long long)(etcde__now_ms() - t0));
        if (!etcde__transient(r) || (w && etcde__now_ms() >= w->deadline)) return r;
        /* this endpoint failed on its own (refused, reset, silent, no leader): the next
           call starts at the next one, and this call tries it if time is left */
        etcde__ep_failed(c, ep);
        if (etcde__now_ms() >= deadline) return r;
        etcde__log(c, ETCDE_LOG_INFO, "%s: %s; trying the next endpoint", c->eps[ep].hostport,
                   err->msg);
    }
    return r;
}

/* Fetches a token for the configured user, within the deadline of the request it is for. */
static etcde_result etcde__authenticate(etcde_client *c, const etcde__req *for_rq,
                                        const etcde__wait *w, etcde__err *err) {
    char qu[160];
    etcde__req rq;
    etcde__buf b;
    etcde__resp resp;
    etcde_result r;
    char tok[1024];
    /* room for every byte escaped (\u00XX); the body holds the password: wiped when freed */
    etcde__buf_init(&b, &c->al,
                    6 * (strlen(c->user) + strlen(c->password ? c->password : "")) + 64);
    b.wipe = 1;
    etcde__resp_init(&resp, c);
    etcde__buf_str(&b, "{\"name\":");
    etcde__buf_jstr(&b, c->user);
    etcde__buf_str(&b, ",\"password\":");
    etcde__buf_jstr(&b, c->password ? c->password : "");
    etcde__buf_str(&b, "}");
    rq.path = "/v3/auth/authenticate";
    rq.body = &b;
    rq.stream = NULL;
    rq.anon = 1;
    rq.hasleader = 0;
    rq.deadline = for_rq->deadline;
    r = etcde__try_endpoints(c, &rq, &resp, w, err);
    etcde__buf_free(&b);
    etcde__quote(qu, sizeof qu, c->user, strlen(c->user)); /* the caller's bytes */
    if (r == ETCDE_OK) {
        etcde__jstr(&resp.j, etcde__jget(&resp.j, 0, "token"), tok, sizeof tok);
        if (!tok[0]) {
            r = etcde__fail(err, ETCDE_ERR_AUTH,
                            "authentication of user '%s' returned no token (is auth enabled?)", qu);
        } else if (strspn(tok, "!#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`"
                               "abcdefghijklmnopqrstuvwxyz{|}~") != strlen(tok)) {
            r = etcde__fail(err, ETCDE_ERR_AUTH,
                            "authentication of user '%s' returned a token with bytes not "
                            "allowed in an HTTP header",
                            qu);
        } else {
            int stored;
            pthread_mutex_lock(&c->mu);
            etcde__free(&c->al, c->token);
            c->token = etcde__strdup(&c->al, tok);
            stored = c->token != NULL;
            pthread_mutex_unlock(&c->mu);
            if (!stored) r = etcde__fail(err, ETCDE_ERR_NOMEM, "out of memory");
        }
    } else if (r == ETCDE_ERR_AUTH || r == ETCDE_ERR_ETCD) {
        char m[sizeof err->msg];
        memcpy(m, err->msg, sizeof m);
        r = etcde__fail(err, ETCDE_ERR_AUTH, "authentication as user '%s' failed: %.300s", qu, m);
    }
    etcde__resp_free(&resp);
    return r;
}

/* A request with the token: fetched first when there is none, and fetched again once when
   etcd rejects it as expired (401). */
static etcde_result etcde__request(etcde_client *c, const etcde__req *rq, etcde__resp *resp,
                                   const etcde__wait *w, etcde__err *err) {
    int need_token = 0, again;
    etcde_result r;
    if (c->user) {
        pthread_mutex_lock(&c->mu); /* another thread may be replacing the token */
        need_token = !c->token;
        pthread_mutex_unlock(&c->mu);
    }
    if (need_token && (r = etcde__authenticate(c, rq, w, err)) != ETCDE_OK) return r;
    for (again = 0;; again = 1) {
        r = etcde__try_endpoints(c, rq, resp, w, err);
        if (r != ETCDE_ERR_AUTH) return r;
        if (!c->user) { /* no retry can help: say what is missing */
            char m[sizeof err->msg];
            memcpy(m, err->msg, sizeof m);
            return etcde__fail(err, r,
                               "%.400s (etcd requires authentication; no user is configured)", m);
        }
        if (again || resp->status != 401) return r;
        etcde__log(c, ETCDE_LOG_INFO, "%s: auth token rejected; authenticating again", rq->path);
        pthread_mutex_lock(&c->mu);
        etcde__free(&c->al, c->token);
        c->token = NULL;
        pthread_mutex_unlock(&c->mu);
        if ((r = etcde__authenticate(c, rq, w, err)) != ETCDE_OK) return r;
    }
}

/* Unary call with the client's request timeout, capped by the wait's deadline. */
static etcde_result etcde__call(etcde_client *c, const char *path, const etcde__buf *body,
                                etcde__resp *resp, const etcde__wait *w, etcde__err *err) {
    etcde__req rq;
    rq.path = path;
    rq.body = body;
    rq.stream = NULL;
    rq.anon = 0;
    rq.hasleader = 0;
    rq.deadline = etcde__within(w, etcde__now_ms() + c->o.request_timeout_ms).deadline;
    return etcde__request(c, &rq, resp, w, err);
}

/* The pause before a retry: 500 ms, unless the wait ends first; then err says why, and
   what failed last. */
static etcde_result etcde__retry_pause(const etcde__wait *w, etcde__err *err) {
    char last[sizeof err->msg];
    etcde__err serr;
    etcde_result s = etcde__sleep(w, 500, &serr);
    if (!s) return ETCDE_OK;
    memcpy(last, err->msg, sizeof last);
    return etcde__fail(err, s, "%s, while retrying after: %.300s", serr.msg, last);
}

/* A call retried every 500 ms on transient errors until the wait ends. */
static etcde_result etcde__call_retry(etcde_client *c, const char *path, const etcde__buf *body,
                                      etcde__resp *resp, const etcde__wait *w, etcde__err *err) {
    for (;;) {
        etcde_result r = etcde__call(c, path, body, resp, w, err);
        if (!etcde__transient(r) || w->once) return r;
        if (r == ETCDE_ERR_TIMEOUT && etcde__now_ms() >= w->deadline) return r;
        etcde__log(c, ETCDE_LOG_WARN, "%s: %s; retrying", path, err->msg);
        if ((r = etcde__retry_pause(w, err)) != ETCDE_OK) return r;
    }
}

/* ---- websocket ----------------------------------------------------------------------- */
/* RFC 6455, client side, for the gateway's streaming mode: every etcd from 3.4 on answers
   an upgrade of a stream path (/v3/watch, /v3/lease/keepalive) with 101, then takes each
   text frame as one request message and sends each response message as one text frame.
   One connection carries a stream of renewals instead of one HTTP request each. Frames
   out are masked; frames in are checked and bounded (control frames, fragments, lengths,
   the message cap). A read or write that fails leaves a frame half done: the caller
   closes the connection on any error. */

enum {
    ETCDE__WS_CONT = 0,
    ETCDE__WS_TEXT = 1,
    ETCDE__WS_BINARY = 2,
    ETCDE__WS_CLOSE = 8,
    ETCDE__WS_PING = 9,
    ETCDE__WS_PONG = 10
};

static uint32_t etcde__rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void etcde__sha1_block(uint32_t h[5], const unsigned char *p) {
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f, k, t;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (; i < 80; i++) w[i] = etcde__rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (i = 0; i < 80; i++) {
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5A827999u;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ED9EBA1u;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDCu;
        else
            f = b ^ c ^ d, k = 0xCA62C1D6u;
        t = etcde__rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = etcde__rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

/* SHA-1, only for the upgrade's Sec-WebSocket-Accept check (not for anything secret). */
static void etcde__sha1(const unsigned char *m, size_t n, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    unsigned char last[128];
    size_t i, full = n / 64 * 64, rest = n - full, end = rest + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (i = 0; i < full; i += 64) etcde__sha1_block(h, m + i);
    memset(last, 0, sizeof last);
    if (rest) memcpy(last, m + full, rest);
    last[rest] = 0x80;
    for (i = 0; i < 8; i++) last[end - 1 - i] = (unsigned char)(bits >> (8 * i));
    etcde__sha1_block(h, last);
    if (end == 128) etcde__sha1_block(h, last + 64);
    for (i = 0; i < 20; i++) out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static uint64_t etcde__mix64(uint64_t *x) { /* splitmix64: the masking keys */
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Unpredictable bytes for the upgrade key and the masking seed: /dev/urandom, else the
   clock, pid and an address (masking protects caching proxies, not secrets). */
static void etcde__random(unsigned char *p, size_t n) {
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    uint64_t x;
    if (fd >= 0) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        while (got < n) {
            ssize_t k = read(fd, p + got, n - got);
            if (k > 0)
                got += (size_t)k;
            else if (k == 0 || errno != EINTR)
                break;
        }
        close(fd);
    }
    x = (uint64_t)etcde__now_ms() ^ (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)p;
    for (; got < n; got++) p[got] = (unsigned char)(etcde__mix64(&x) >> 56);
}

/* One frame with FIN set, masked as a client's must be, sent through a stack buffer. */
static etcde_result etcde__ws_send(etcde__conn *cn, int op, const char *p, size_t n,
                                   const etcde__wait *w, etcde__err *err) {
    unsigned char buf[4096], mask[4];
    uint64_t m = etcde__mix64(&cn->ws_rng);
    size_t h = 2, i, off = 0;
    buf[0] = (unsigned char)(0x80 | op);
    if (n < 126) {
        buf[1] = (unsigned char)(0x80 | n);
    } else if (n <= 0xFFFF) {
        buf[1] = 0x80 | 126;
        buf[2] = (unsigned char)(n >> 8);
        buf[3] = (unsigned char)n;
        h = 4;
    } else {
        buf[1] = 0x80 | 127;
        for (i = 0; i < 8; i++) buf[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        h = 10;
    }
    for (i = 0; i < 4; i++) mask[i] = buf[h + i] = (unsigned char)(m >> (8 * i));
    h += 4;
    for (;;) {
        size_t k = ETCDE__MIN(n - off, sizeof buf - h);
        etcde_result r;
        for (i = 0; i < k; i++) buf[h + i] = (unsigned char)(p[off + i] ^ mask[(off + i) & 3]);
        r = etcde__send_all(cn, (const char *)buf, h + k, w, err);
        if (r) return r;
        off += k;
        h = 0;
        if (off == n) return ETCDE_OK;
    }
}

/* Makes n bytes (at most 14: a frame head) readable at rbuf + rpos. */
static etcde_result etcde__ws_need(etcde__conn *cn, size_t n, const etcde__wait *w,
                                   etcde__err *err) {
    while (cn->rlen - cn->rpos < n) {
        long got = etcde__conn_fill(cn, w, err);
        if (got < 0) return (etcde_result)got;
        if (got == 0)
            return etcde__fail(err, ETCDE_ERR_IO,
                               "WebSocket closed by the server %s, without a close frame",
                               cn->rlen > cn->rpos ? "mid-frame" : "between frames");
    }
    return ETCDE_OK;
}

/* Moves the next n payload bytes to dst. Server frames are never masked. */
static etcde_result etcde__ws_payload(etcde__conn *cn, char *dst, uint64_t n, const etcde__wait *w,
                                      etcde__err *err) {
    while (n) {
        size_t k = cn->rlen - cn->rpos;
        if (k == 0) {
            long got = etcde__conn_fill(cn, w, err);
            if (got < 0) return (etcde_result)got;
            if (got == 0)
                return etcde__fail(err, ETCDE_ERR_IO,
                                   "WebSocket closed by the server mid-frame, without a close "
                                   "frame");
            continue;
        }
        if ((uint64_t)k > n) k = (size_t)n;
        memcpy(dst, cn->rbuf + cn->rpos, k);
        dst += k;
        cn->rpos += k;
        n -= k;
    }
    return ETCDE_OK;
}

/* The next message into b, replacing its bytes (NUL-terminated): 1 with a message, 0 when
   the server closed the stream with a close frame (answered; err says why), <0 on error.
   Pings are answered and pongs skipped between fragments; a fragmented message is joined.
   At most b->max bytes. */
static int etcde__ws_next(etcde__conn *cn, etcde__buf *b, const etcde__wait *w, etcde__err *err) {
    int started = 0;
    b->len = 0;
    for (;;) {
        unsigned char *hd, b0;
        int op, ctl, i;
        uint64_t len;
        size_t hl = 2;
        char ctlp[128], q[160];
        etcde_result r = etcde__ws_need(cn, 2, w, err);
        if (r) return r;
        hd = (unsigned char *)cn->rbuf + cn->rpos;
        b0 = hd[0];
        op = b0 & 15;
        ctl = op >= 8;
        len = hd[1] & 127;
        if (b0 & 0x70)
            return etcde__fail(err, ETCDE_ERR_HTTP,
                               "WebSocket frame with reserved bits set (0x%02x): no extension "
                               "was negotiated",
                               b0);
        if (hd[1] & 0x80)
            return etcde__fail(err, ETCDE_ERR_HTTP, "masked WebSocket frame from the server");
        if (op != ETCDE__WS_CONT && op != ETCDE__WS_TEXT && op != ETCDE__WS_BINARY &&
            op != ETCDE__WS_CLOSE && op != ETCDE__WS_PING && op != ETCDE__WS_PONG)
            return etcde__fail(err, ETCDE_ERR_HTTP, "WebSocket frame with unknown opcode %d", op);
        if (len >= 126) {
            hl = len == 126 ? 4 : 10;
            if ((r = etcde__ws_need(cn, hl, w, err)) != ETCDE_OK) return r;
            hd = (unsigned char *)cn->rbuf + cn->rpos;
            for (len = 0, i = 2; i < (int)hl; i++) len = len << 8 | hd[i];
            if (len >> 63)
                return etcde__fail(err, ETCDE_ERR_HTTP,
                                   "WebSocket frame length has its top bit set");
        }
        if (ctl && (!(b0 & 0x80) || len > 125))
            return etcde__fail(
                err, ETCDE_ERR_HTTP, "WebSocket control frame %s (opcode %d, %llu bytes)",
                len > 125 ? "longer than 125 bytes" : "fragmented", op, (unsigned long long)len);
        if (!ctl && (op == ETCDE__WS_CONT) != started)
            return etcde__fail(err, ETCDE_ERR_HTTP, "%s",
                               started ? "WebSocket message begun inside another one"
                                       : "WebSocket continuation frame without a message");
        cn->rpos += hl;
        if (ctl) {
            etcde__err ignored;
            int code;
            if ((r = etcde__ws_payload(cn, ctlp, len, w, err)) != ETCDE_OK) return r;
            if (op == ETCDE__WS_PING) {
                if ((r = etcde__ws_send(cn, ETCDE__WS_PONG, ctlp, (size_t)len, w, err)) != ETCDE_OK)
                    return r;
                continue;
            }
            if (op == ETCDE__WS_PONG) {
                if (cn->ws_pong_ret) return 2;
                continue;
            }
            code = len >= 2 ? (unsigned char)ctlp[0] << 8 | (unsigned char)ctlp[1] : 1005;
            etcde__ws_send(cn, ETCDE__WS_CLOSE, ctlp, len >= 2 ? 2 : 0, w, &ignored);
            etcde__quote(q, sizeof q, len > 2 ? ctlp + 2 : "", len > 2 ? (size_t)len - 2 : 0);
            etcde__fail(err, ETCDE_ERR_UNAVAILABLE,
                        "the server closed the WebSocket stream (code %d%s%s)", code,
                        q[0] ? ": " : "", q);
            return 0;
        }
        if (len > b->max - b->len)
            return etcde__fail(err, ETCDE_ERR_TOO_BIG,
                               "WebSocket message exceeds the %lu-byte limit",
                               (unsigned long)b->max);
        if (etcde__buf_reserve(b, (size_t)len) != ETCDE_OK)
            return etcde__fail(err, ETCDE_ERR_NOMEM, "out of memory reading a WebSocket message");
        if ((r = etcde__ws_payload(cn, b->p + b->len, len, w, err)) != ETCDE_OK) return r;
        b->len += (size_t)len;
        b->p[b->len] = 0;
        started = 1;
        if (b0 & 0x80) return 1;
    }
}

/* Opens a WebSocket to `path` on endpoint ep. An answer other than 101 -- a proxy in
   between, a server without the mode -- marks the endpoint refused (the caller falls
   back to HTTP streams there) and returns ETCDE_ERR_HTTP. */
static etcde_result etcde__ws_open(etcde_client *c, int ep, const char *path, const etcde__wait *w,
                                   etcde__conn **out, etcde__err *err) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char rnd[24], sum[20];
    char key[32], want[32], head[512], q[64];
    etcde__conn *cn = NULL;
    etcde_result r;
    int n;
    etcde__random(rnd, sizeof rnd);
    key[etcde__b64_encode(rnd, 16, key)] = 0;
    n = snprintf(head, sizeof head,
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 path, c->eps[ep].hostport, key);
    if (n < 0 || n >= (int)sizeof head)
        return etcde__fail(err, ETCDE_ERR_INVALID_ARGS, "WebSocket upgrade request too long");
    if ((r = etcde__dial(c, ep, w, &cn, err)) != ETCDE_OK) return r;
    memcpy(&cn->ws_rng, rnd + 16, 8);
    cn->upgrade = 1;
    r = etcde__send_all(cn, head, (size_t)n, w, err);
    if (!r) r = etcde__http_head(cn, w, err);
    if (!r && cn->status != 101) {
        ETCDE__STORE(&c->eps[ep].ws_refused, 1);
        r = etcde__fail(err, ETCDE_ERR_HTTP,
                        "%s refused the WebSocket upgrade of %s (HTTP %d); using HTTP streams",
                        c->eps[ep].hostport, path, cn->status);
    }
    if (!r) {
        char both[64];
        memcpy(both, key, 24);
        memcpy(both + 24, guid, 36);
        etcde__sha1((const unsigned char *)both, 60, sum);
        want[etcde__b64_encode(sum, 20, want)] = 0;
        n = (int)strcspn(cn->ws_accept, " \t");
        if (!cn->ws_upgrade_hdr || !cn->ws_conn_hdr || strncmp(cn->ws_accept, want, 28) != 0 ||
            n != 28)
            r = etcde__fail(err, ETCDE_ERR_HTTP,
                            "bad WebSocket upgrade from %s: %s (Sec-WebSocket-Accept \"%s\")",
                            c->eps[ep].hostport,
                            !cn->ws_upgrade_hdr ? "no \"Upgrade: websocket\""
                            : !cn->ws_conn_hdr  ? "no \"Connection: Upgrade\""
                                                : "wrong accept key",
                            etcde__quote(q, sizeof q, cn->ws_accept, strlen(cn->ws_accept)));
    }
    if (r) {
        etcde__conn_close(c, cn);
        return r;
    }
    *out = cn;
    return ETCDE_OK;
}

/* Says goodbye with a close frame, if it goes out at once, then closes. */
static void etcde__ws_close(etcde_client *c, etcde__conn *cn) {
    etcde__wait now;
    etcde__err ignored;
    if (!cn) return;
    etcde__wait_init(&now, etcde__now_ms());
    etcde__ws_send(cn, ETCDE__WS_CLOSE, "\x03\xe8", 2, &now, &ignored); /* 1000: normal */
    etcde__conn_close(c, cn);
}

/* ---- watch stream -------------------------------------------------------------------- */
/* One WebSocket to /v3/watch per client, shared by the waits of all its elections, locks
   and observers. Each wait takes watch ids of its own, creates and cancels its watches
   in-band, and reads its messages -- in the order etcd sent them, which the safety proof
   needs -- from a queue that the stream's reader thread fills. A stream that breaks
   (closed, silent through a ping, or its endpoint marked failed by another call) wakes
   every wait on it, which reads the state again and watches anew, as after the end of an
   HTTP watch. Not used with a user (etcd's WebSocket proxy drops the Authorization
   header) nor where the upgrade is refused: those waits keep an HTTP stream each. */

#ifndef ETCDE_WATCH_STREAM
#define ETCDE_WATCH_STREAM 1
#endif
#define ETCDE__HUB_TICK_MS 2000 /* a ping after this long without a frame; a break after two */

typedef struct etcde__msg {
    struct etcde__msg *next;
    size_t len;
    char *p; /* allocated with the struct */
} etcde__msg;

/* One wait's view of the stream. */
typedef struct etcde__wsub {
    struct etcde__wsub *next;
    int64_t first_id; /* its watch ids: first_id .. first_id + nids - 1 */
    int nids;
    int pipe[2]; /* poked for each message and for a break (a blocking wait's) */
    void (*woke)(struct etcde__wsub *); /* or called, under the hub's mu (an async call's) */
    etcde__msg *head, *tail;
    size_t queued; /* bytes waiting: past the cap, the wait is broken off and reads again */
    int broken;
} etcde__wsub;

struct etcde__hub {
    pthread_mutex_t mu; /* guards all below */
    etcde__conn *cn;    /* NULL: no stream */
    int ep, ep_fails;   /* its endpoint, and that endpoint's failures when it opened */
    int reader_live;    /* a reader thread to join */
    pthread_t reader;
    int stop_pipe[2];
    int wake_pipe[2];        /* poked when a frame is queued to go out */
    etcde__msg *out, *otail; /* frames to send: only the reader touches the connection, as a
                                transport (TLS) may not read and write it from two threads */
    int64_t next_id;
    etcde__wsub *subs;
};

static void etcde__sub_poke(etcde__wsub *s) {
    if (s->woke)
        s->woke(s);
    else
        etcde__wake_poke(s->pipe);
}

/* A private result: the reader's wait was woken to send. */
#define ETCDE__WOKEN ETCDE__RESULT_MIN

/* Under h->mu: every wait on the stream reads again. */
static void etcde__hub_break_subs(etcde__hub *h) {
    etcde__wsub *s;
    for (s = h->subs; s; s = s->next) {
        s->broken = 1;
        etcde__sub_poke(s);
    }
}

/* A copy of n bytes as a queued message, or NULL. */
static etcde__msg *etcde__msg_new(etcde_client *c, const char *p, size_t n) {
    etcde__msg *m = (etcde__msg *)etcde__alloc(&c->al, sizeof *m + n + 1);
    if (!m) return NULL;
    m->next = NULL;
    m->len = n;
    m->p = (char *)(m + 1);
    memcpy(m->p, p, n);
    m->p[n] = 0;
    return m;
}

static void etcde__msg_free_all(etcde_client *c, etcde__msg *m) {
    while (m) {
        etcde__msg *next = m->next;
        etcde__free(&c->al, m);
        m = next;
    }
}

/* Under h->mu: queues a frame for the reader to send. */
static etcde_result etcde__hub_queue(etcde_client *c, etcde__hub *h, const char *p, size_t n,
                                     etcde__err *err) {
    etcde__msg *m = etcde__msg_new(c, p, n);
    if (!m) return etcde__fail(err, ETCDE_ERR_NOMEM, "out of memory for a watch request");
    if (h->otail)
        h->otail->next = m;
    else
        h->out = m;
    h->otail = m;
    etcde__pipe_poke(h->wake_pipe[1]);
    return ETCDE_OK;
}

/* Queues a copy of msg for the wait that owns `id`; a message without an id (a
   stream-level error) goes to every wait. Under h->mu. */
static void etcde__hub_route(etcde_client *c, etcde__hub *h, int64_t id, const etcde__buf *msg) {
    etcde__wsub *s;
    for (s = h->subs; s; s = s->next) {
        etcde__msg *m;
        if (s->broken || (id >= 0 && (id < s->first_id || id >= s->first_id + s->nids))) continue;
        if (s->queued + msg->len > 4 * c->o.max_response_bytes ||
            !(m = etcde__msg_new(c, msg->p, msg->len))) {
            s->broken = 1; /* a wait that cannot keep up reads again */
        } else {
            if (s->tail)
                s->tail->next = m;
            else
                s->head = m;
            s->tail = m;
            s->queued += msg->len;
        }
        etcde__sub_poke(s);
        if (id >= 0) return;
    }
}

/* On the reader: sends the queued frames. */
static etcde_result etcde__hub_flush(etcde_client *c, etcde__hub *h, etcde__conn *cn,
                                     const etcde__wait *w, etcde__err *err) {
    char drain[64];
    while (read(h->wake_pipe[0], drain, sizeof drain) > 0) continue;
    for (;;) {
        etcde__msg *m;
        etcde_result r;
        pthread_mutex_lock(&h->mu);
        if ((m = h->out) != NULL && !(h->out = m->next)) h->otail = NULL;
        pthread_mutex_unlock(&h->mu);
        if (!m) return ETCDE_OK;
        r = etcde__ws_send(cn, ETCDE__WS_TEXT, m->p, m->len, w, err);
        etcde__free(&c->al, m);
        if (r) return r;
    }
}

/* Whether the member behind the stream still has a raft leader: a serializable count
   with the header etcd checks, which its WebSocket proxy drops from a stream. */
static etcde_result etcde__hub_leader(etcde_client *c, int ep, const etcde__wait *w,
                                      etcde__err *err) {
    etcde__buf b;
    etcde__req rq;
    etcde__conn *cn = NULL;
    etcde_result r;
    etcde__buf_init(&b, &c->al, 4096);
    etcde__buf_str(&b, "{\"key\":\"AA==\",\"serializable\":true,\"count_only\":true}");
    memset(&rq, 0, sizeof rq);
    rq.path = "/v3/kv/range";
    rq.body = &b;
    rq.hasleader = 1;
    rq.deadline = w->deadline;
    r = etcde__exchange(c, ep, &rq, w, &cn, err);
    if (!r) r = etcde__http_read_all(cn, &b, w, err);
    if (!r && cn->status != 200)
        r = etcde__fail(err, ETCDE_ERR_UNAVAILABLE, "%s has no leader (HTTP %d)",
                        c->eps[ep].hostport, cn->status);
    if (!r)
        etcde__pool_put(c, cn);
    else if (cn)
        etcde__conn_close(c, cn);
    etcde__buf_free(&b);
    return r;
}

/* The reader, the one thread that touches the stream: sends what the waits queue and
   routes each message by its watch_id, until the stream breaks or the client is
   destroyed; then wakes every wait and closes the stream. Every tick: a ping when the
   stream was silent (and a break when it stayed silent through one), idle pooled
   connections closed, and an end once no wait uses it; every ETCDE_WATCH_REFRESH_MS, a
   leader check of its member (one request per client, where HTTP waits read again each). */
static void *etcde__hub_main(void *arg) {
    etcde_client *c = (etcde_client *)arg;
    etcde__hub *h = c->hub;
    etcde__conn *cn = h->cn;
    etcde__resp rr;
    etcde__err err;
    int64_t next_tick = etcde__now_ms() + ETCDE__HUB_TICK_MS, ping_at = 0, rx_at = etcde__now_ms();
    int64_t check_at = etcde__now_ms() + ETCDE_WATCH_REFRESH_MS;
    etcde__resp_init(&rr, c);
    cn->ws_pong_ret = 1;
    for (;;) {
        etcde__wait tick, rw;
        etcde_result r;
        int got;
        int64_t id;
        etcde__wait_init(&rw, etcde__now_ms() + c->o.request_timeout_ms);
        etcde__wait_add(&rw, h->stop_pipe[0], ETCDE_ERR_CANCELLED);
        etcde__wait_init(&tick, next_tick);
        etcde__wait_add(&tick, h->stop_pipe[0], ETCDE_ERR_CANCELLED);
        etcde__wait_add(&tick, h->wake_pipe[0], ETCDE__WOKEN);
        r = etcde__ws_need(cn, 2, &tick, &err); /* nothing consumed: a wake or tick is clean */
        if (r == ETCDE__WOKEN) {
            if ((r = etcde__hub_flush(c, h, cn, &rw, &err)) != ETCDE_OK) break;
            continue;
        }
        if (r == ETCDE_ERR_TIMEOUT) {
            int idle;
            next_tick = etcde__now_ms() + ETCDE__HUB_TICK_MS;
            pthread_mutex_lock(&h->mu);
            idle = !h->subs && !h->out;
            pthread_mutex_unlock(&h->mu);
            if (idle) { /* no wait for a tick: the next one opens a stream again */
                etcde__fail(&err, ETCDE_OK, "no wait uses it");
                break;
            }
            if (ping_at > rx_at) {
                etcde__fail(&err, ETCDE_ERR_TIMEOUT, "silent through a ping");
                break;
            }
            if (ETCDE__LOAD(&c->eps[h->ep].fails) != h->ep_fails) {
                etcde__fail(&err, ETCDE_ERR_UNAVAILABLE, "its endpoint failed");
                break;
            }
            if (etcde__now_ms() - rx_at >= ETCDE__HUB_TICK_MS) {
                if (etcde__ws_send(cn, ETCDE__WS_PING, "etcd_elect", 10, &rw, &err)) break;
                ping_at = etcde__now_ms();
            }
            if (etcde__now_ms() >= check_at) { /* as often as an HTTP wait would read again */
                check_at = etcde__now_ms() + ETCDE_WATCH_REFRESH_MS;
                if (etcde__hub_leader(c, h->ep, &rw, &err)) {
                    etcde__ep_failed(c, h->ep);
                    break;
                }
            }
            etcde__pool_trim(c, etcde__now_ms() - ETCDE__HUB_TICK_MS);
            continue;
        }
        if (r) break;
        got = etcde__ws_next(cn, &rr.body, &rw, &err);
        rx_at = etcde__now_ms();
        if (got == 2) continue; /* a pong */
        if (got <= 0) break;
        rr.status = 200;
        if (etcde__resp_parse(c, &rr, &err)) break;
        id = etcde__jint(&rr.j, etcde__jpath(&rr.j, 0, "result.watch_id"), 0);
        if (etcde__jget(&rr.j, 0, "result") >= 0 && id < 1) continue; /* progress: no one's */
        pthread_mutex_lock(&h->mu);
        etcde__hub_route(c, h, etcde__jget(&rr.j, 0, "result") >= 0 ? id : -1, &rr.body);
        pthread_mutex_unlock(&h->mu);
    }
    etcde__log(c, ETCDE_LOG_INFO, "watch stream to %s ended: %s", c->eps[h->ep].hostport, err.msg);
    pthread_mutex_lock(&h->mu);
    h->cn = NULL;
    etcde__msg_free_all(c, h->out);
    h->out = h->otail = NULL;
    etcde__hub_break_subs(h);
    pthread_mutex_unlock(&h->mu);
    etcde__ws_close(c, cn);
    etcde__resp_free(&rr);
    return NULL;
}

static void etcde__hub_free(etcde_client *c) {
    etcde__hub *h = c->hub;
    if (!h) return;
    etcde__pipe_poke(h->stop_pipe[1]);
    if (h->reader_live) pthread_join(h->reader, NULL);
    etcde__pipe_close(h->stop_pipe);
    etcde__pipe_close(h->wake_pipe);
    pthread_mutex_destroy(&h->mu);
    etcde__free(&c->al, h);
    c->hub = NULL;
}

/* The client's watch stream, opened if need be: 1 open; 0 not to be used (a user, or the
   endpoint refused the upgrade: watch over HTTP); <0 an error. */
static int etcde__hub_attach(etcde_client *c, const etcde__wait *w, etcde__err *err) {
    etcde__hub *h;
    etcde__wait ew;
    etcde__conn *cn = NULL;
    etcde_result r;
    int ep;
    if (!ETCDE_WATCH_STREAM || c->user) return 0;
    pthread_mutex_lock(&c->mu);
    if (!c->hub && (h = (etcde__hub *)etcde__alloc(&c->al, sizeof *h)) != NULL) {
        memset(h, 0, sizeof *h);
        h->next_id = 1; /* etcd leaves watch_id 0 out of its JSON */
        if (etcde__pipe_pair(h->stop_pipe, h->wake_pipe) == 0) {
            pthread_mutex_init(&h->mu, NULL);
            c->hub = h;
        } else {
            etcde__free(&c->al, h);
        }
    }
    h = c->hub;
    pthread_mutex_unlock(&c->mu);
    if (!h) return etcde__fail(err, ETCDE_ERR_NOMEM, "out of memory for the watch stream");
    pthread_mutex_lock(&h->mu);
    if (h->cn) {
        pthread_mutex_unlock(&h->mu);
        return 1;
    }
    if (h->reader_live) { /* it has left h->mu for good: it ends without it */
        pthread_join(h->reader, NULL);
        h->reader_live = 0;
    }
    ep = ETCDE__LOAD(&c->cur_ep);
    if (ETCDE__LOAD(&c->eps[ep].ws_refused)) {
        pthread_mutex_unlock(&h->mu);
        return 0;
    }
    ew = etcde__within(w, etcde__now_ms() + c->o.request_timeout_ms);
    r = etcde__ws_open(c, ep, "/v3/watch", &ew, &cn, err);
    if (r == ETCDE_OK) {
        h->cn = cn;
        h->ep = ep;
        h->ep_fails = ETCDE__LOAD(&c->eps[ep].fails);
        if (pthread_create(&h->reader, NULL, etcde__hub_main, c) == 0) {
            h->reader_live = 1;
        } else {
            h->cn = NULL;
            etcde__conn_close(c, cn);
            r = etcde__fail(err, ETCDE_ERR_NOMEM, "cannot start the watch stream's reader");
        }
    } else if (!ETCDE__LOAD(&c->eps[ep].ws_refused) && r != ETCDE_ERR_CANCELLED) {
        etcde__ep_failed(c, ep);
    }
    pthread_mutex_unlock(&h->mu);
    if (ETCDE__LOAD(&c->eps[ep].ws_refused)) return 0;
    return r ? (int)r : 1;
}

/* ---- session ------------------------------------------------------------------------- */

/* etcd's longest lease TTL, in seconds: a longer one from a server is clamped to it. */
#define ETCDE__MAX_TTL_S ((int64_t)9000000000)

struct etcde_session {
    etcde_client *c;
    int64_t lease;
    int64_t ttl, guard_ms;
    int64_t deadline; /* atomic: CLOCK_MONOTONIC ms after which the session is lost */
    int lost;         /* atomic: the loss is published */
    int lost_claim;   /* atomic: the one writer of lost_err has claimed it */
    int lost_pipe[2];
    int closing;      /* atomic: closed or being closed; its loss is not reported */
    int close_failed; /* atomic: close_err says why the revoke failed */
    etcde_lost_fn on_lost;
    void *user_data;
    etcde__err lost_err;     /* written once, before `lost` is published */
    etcde__err close_err;    /* written once, before `close_failed` is published */
    pthread_mutex_t mu;      /* guards handles */
    etcde_election *handles; /* the elections and locks on this session */
    /* the client's keepalive thread's, under its mutex */
    etcde_session *ka_next;
    int64_t ka_due;   /* when the next renewal of the lease goes out */
    int ka_end;       /* no renewal can succeed, so it is lost at once: 1 etcd knows no such
                         lease, 2 it expired or was revoked, 3 authentication is needed */
    char ka_why[260]; /* why the last renewal failed */
};

static int etcde__alive(const etcde_session *s) {
    return s && !ETCDE__LOAD(&s->lost) && etcde__now_ms() < ETCDE__LOAD(&s->deadline);
}

/* Publishes the loss once -- message, flag, pipe -- then, with `notify`, runs on_lost on
   the calling thread. Nobody can see the session alive once this returns. */
static void etcde__session_lose(etcde_session *s, const char *msg, int notify) {
    if (__atomic_exchange_n(&s->lost_claim, 1, __ATOMIC_ACQ_REL)) return;
    etcde__fail(&s->lost_err, ETCDE_ERR_SESSION_LOST, "%s", msg);
    ETCDE__STORE(&s->lost, 1);
    etcde__pipe_poke(s->lost_pipe[1]);
    etcde__run_nudge(s->c); /* async calls on it end */
    if (!notify) return;
    etcde__log(s->c, ETCDE_LOG_WARN, "%s", s->lost_err.msg);
    if (s->on_lost) s->on_lost(s, ETCDE_ERR_SESSION_LOST, s->lost_err.msg, s->user_data);
}

/* b = {"ID":"<lease>"}: the body of a renewal and of a revoke. */
static void etcde__req_lease_id(etcde__buf *b, int64_t lease) {
    etcde__buf_clear(b);
    etcde__buf_str(b, "{\"ID\":\"");
    etcde__buf_i64(b, lease);
    etcde__buf_str(b, "\"}");
}

/* The TTL a renewal's reply echoed (0: the lease is gone), clamped so that a hostile one
   cannot overflow a deadline. */
static int64_t etcde__renewed_ttl(etcde__resp *resp) {
    int64_t ttl = etcde__jint(&resp->j, etcde__jpath(&resp->j, 0, "result.TTL"), 0);
    return ETCDE__MIN(ttl, ETCDE__MAX_TTL_S);
}

/* One renewal of `lease` by a plain request, answered by `deadline`. */
static etcde_result etcde__renew_plain(etcde_client *c, int64_t lease, const etcde__wait *w,
                                       int64_t deadline, etcde__buf *req, etcde__resp *resp,
                                       int64_t *ttl, etcde__err *err) {
    etcde__req rq = {"/v3/lease/keepalive", NULL, NULL, 0, 0, 0};
    etcde_result r;
    etcde__req_lease_id(req, lease);
    rq.body = req;
    rq.deadline = deadline;
    r = etcde__request(c, &rq, resp, w, err);
    if (!r) *ttl = etcde__renewed_ttl(resp);
    return r;
}

/* A renewal due or on its way. At most one per lease is: a reply names its lease, so it
   tells which send it answers -- the send its deadline counts from. */
typedef struct etcde__kasend {
    int64_t lease;
    int64_t sent;   /* 0: due, not sent yet */
    int64_t dl;     /* no reply by then fails it */
    int64_t try_ms; /* how long a reply may take once sent */
} etcde__kasend;

/* The client's keepalive thread: it renews the leases of all its sessions and reports
   their losses. While the client has two sessions or more, renewals go over one
   WebSocket stream to /v3/lease/keepalive; one session renews by plain requests, which
   hold nothing at etcd between renewals -- as do all where a token must be sent (etcd's
   WebSocket proxy forwards no Authorization header) or the endpoint refused the upgrade.
   It runs while the client has sessions. */
struct etcde__ka {
    pthread_mutex_t mu;  /* guards list, busy, live and the sessions' ka_ fields */
    pthread_cond_t cv;   /* busy was cleared */
    etcde_session *list; /* the sessions it renews */
    etcde_session *busy; /* taken off the list, its loss being reported outside mu */
    pthread_t thread;
    int live;     /* the thread runs and will take mu again */
    int joinable; /* a thread was started and not joined */
    int wake_pipe[2], stop_pipe[2];
    /* the thread's own */
    etcde__conn *cn;  /* the stream, while open */
    etcde__buf sends; /* etcde__kasend[]: all unsent while there is no stream */
    etcde__buf req;
    etcde__resp resp;
};

static etcde__kasend *etcde__ka_sends(etcde__ka *k, size_t *n) {
    *n = k->sends.len / sizeof(etcde__kasend);
    return (etcde__kasend *)(void *)k->sends.p;
}

static etcde__kasend *etcde__ka_find(etcde__ka *k, int64_t lease) {
    size_t i, n;
    etcde__kasend *a = etcde__ka_sends(k, &n);
    for (i = 0; i < n; i++)
        if (a[i].lease == lease) return &a[i];
    return NULL;
}

static void etcde__ka_drop(etcde__ka *k, etcde__kasend *x) {
    size_t n, i;
    etcde__kasend *a = etcde__ka_sends(k, &n);
    i = (size_t)(x - a);
    memmove(x, x + 1, (n - i - 1) * sizeof *x);
    k->sends.len -= sizeof *x;
}

/* Under mu. */
static void etcde__ka_unlink(etcde__ka *k, etcde_session *s) {
    etcde_session **p;
    for (p = &k->list; *p; p = &(*p)->ka_next)
        if (*p == s) {
            *p = s->ka_next;
            s->ka_next = NULL;
            return;
        }
}

/* What the renewal of `lease` sent at `sent` came to, for every session on the lease: an
   acknowledged one moves the deadline to sent + TTL - guard; a failed one is tried again
   about 500 ms after its send, unless none can ever succeed (lost at once). */
static void etcde__ka_outcome(etcde_client *c, etcde__ka *k, int64_t lease, int64_t sent,
                              etcde_result r, int64_t ttl, const etcde__err *err) {
    int end = r == ETCDE_OK                     ? (ttl > 0 ? 0 : 2)
              : r == ETCDE_ERR_SESSION_LOST     ? 1
              : r == ETCDE_ERR_AUTH && !c->user ? 3
                                                : -1;
    int64_t now = etcde__now_ms();
    etcde_session *s;
    if (end < 0)
        etcde__log(c, ETCDE_LOG_WARN, "keepalive of lease %llx failed: %s; retrying",
                   (unsigned long long)lease, err->msg);
    pthread_mutex_lock(&k->mu);
    for (s = k->list; s; s = s->ka_next) {
        if (s->lease != lease) continue;
        if (end == 0) {
            int64_t ndl = sent + ttl * 1000 - s->guard_ms;
            if (ndl > ETCDE__LOAD(&s->deadline)) ETCDE__STORE(&s->deadline, ndl);
            s->ka_due = now + ttl * 1000 / 3;
            continue;
        }
        if (end > 0) s->ka_end = end;
        if (end != 1 && end != 2) snprintf(s->ka_why, sizeof s->ka_why, "%.250s", err->msg);
        s->ka_due = ETCDE__MAX(sent + 500, now + 50);
    }
    pthread_mutex_unlock(&k->mu);
}

/* Under mu, which it leaves while it reports: takes s off the list and publishes its
   loss. on_lost may close or create any session of the client meanwhile. */
static void etcde__ka_lose(etcde__ka *k, etcde_session *s) {
    char msg[512];
    unsigned long long id = (unsigned long long)s->lease;
    if (s->ka_end == 3)
        snprintf(msg, sizeof msg, "session lost: lease %llx cannot be renewed: %.300s", id,
                 s->ka_why);
    else if (s->ka_end)
        snprintf(msg, sizeof msg, "session lost: lease %llx %s", id,
                 s->ka_end == 1 ? "not found at etcd"
                                : "expired or was revoked (keepalive reply without TTL)");
    else
        snprintf(msg, sizeof msg,
                 "session lost: lease %llx not renewed in time (its local deadline, last "
                 "acknowledged renewal + TTL - guard, passed)%s%s",
                 id, s->ka_why[0] ? "; last renewal failure: " : "", s->ka_why);
    etcde__ka_unlink(k, s);
    k->busy = s;
    pthread_mutex_unlock(&k->mu);
    etcde__session_lose(s, msg, !ETCDE__LOAD(&s->closing));
    pthread_mutex_lock(&k->mu);
    k->busy = NULL;
    pthread_cond_broadcast(&k->cv);
}

/* Under mu: queues the renewals due, one per lease not queued or on its way already, and
   counts the sessions. Returns when the thread must look again: the next renewal due or
   deadline. */
static int64_t etcde__ka_collect(etcde__ka *k, int64_t now, int *nsess) {
    int64_t wake = ETCDE__NEVER;
    etcde_session *s;
    for (*nsess = 0, s = k->list; s; s = s->ka_next, ++*nsess) {
        etcde__kasend ns, *x = etcde__ka_find(k, s->lease);
        ns.lease = s->lease;
        ns.sent = 0;
        ns.dl = ETCDE__LOAD(&s->deadline);
        ns.try_ms = ETCDE__MAX(s->ttl * 1000 / 6, 200);
        wake = ETCDE__MIN(wake, ns.dl);
        if (x && !x->sent) { /* another session on the lease: the strictest bounds */
            x->dl = ETCDE__MIN(x->dl, ns.dl);
            x->try_ms = ETCDE__MIN(x->try_ms, ns.try_ms);
        }
        if (x) continue;
        if (s->ka_due <= now) etcde__buf_add(&k->sends, &ns, sizeof ns);
        if (k->sends.failed) { /* out of memory: try again soon */
            k->sends.failed = ETCDE_OK;
            s->ka_due = now + 50;
        }
        if (s->ka_due > now) wake = ETCDE__MIN(wake, s->ka_due);
    }
    return wake;
}

/* Ends the stream, failing every renewal on it with r: a reply to one of them could no
   longer be told from the reply to a later send. */
static void etcde__ka_break(etcde_client *c, etcde__ka *k, etcde_result r, const etcde__err *err) {
    size_t i, n;
    etcde__kasend *a = etcde__ka_sends(k, &n);
    if (k->cn) {
        if (etcde__transient(r)) etcde__ep_failed(c, k->cn->ep);
        etcde__ws_close(c, k->cn);
        k->cn = NULL;
    }
    for (i = 0; i < n; i++)
        etcde__ka_outcome(c, k, a[i].lease, a[i].sent ? a[i].sent : etcde__now_ms(), r, 0, err);
    etcde__buf_clear(&k->sends);
}

/* Opens the keepalive stream, trying each endpoint in turn. The open has until `dl`, the
   first deadline it serves (half of what is left while other endpoints remain), not a
   renewal's try: on a slow link it costs a round trip more than a pooled request. 1:
   open; 0: refused on the endpoint tried, renew by plain requests; <0: failed. */
static int etcde__ka_open(etcde_client *c, etcde__ka *k, const etcde__wait *w, int64_t dl,
                          etcde__err *err) {
    int start = ETCDE__LOAD(&c->cur_ep), i;
    etcde_result r = ETCDE_ERR_UNAVAILABLE;
    for (i = 0; !k->cn && i < c->neps; i++) {
        int ep = (start + i) % c->neps;
        int64_t now = etcde__now_ms(), until = dl;
        etcde__wait ew;
        if (ETCDE__LOAD(&c->eps[ep].ws_refused)) return 0;
        if (i + 1 < c->neps && until - now > 400) until = now + (until - now) / 2;
        ew = etcde__within(w, until);
        r = etcde__ws_open(c, ep, "/v3/lease/keepalive", &ew, &k->cn, err);
        if (ETCDE__LOAD(&c->eps[ep].ws_refused)) return 0;
        if (r == ETCDE_ERR_CANCELLED) return r;
        if (r) etcde__ep_failed(c, ep);
    }
    return k->cn ? 1 : (int)r;
}

/* Sends the renewals queued: as frames on the stream, opened if need be (`many`
   sessions), or as plain requests, one at a time, each bounded by the shortest try of
   those queued. Returns 1 when some renewal came to an outcome already (the thread must
   look again). */
static int etcde__ka_send(etcde_client *c, etcde__ka *k, const etcde__wait *stop, int many) {
    size_t i, n;
    etcde__kasend *a = etcde__ka_sends(k, &n);
    int64_t first = ETCDE__NEVER, try_ms = ETCDE__NEVER, ttl = 0;
    etcde__err err;
    etcde_result r;
    int open = 1, done = 0;
    for (i = 0; i < n; i++)
        if (!a[i].sent) {
            first = ETCDE__MIN(first, a[i].dl);
            try_ms = ETCDE__MIN(try_ms, a[i].try_ms);
        }
    if (first == ETCDE__NEVER) return 0;
    if (!k->cn) open = c->user || !many ? 0 : etcde__ka_open(c, k, stop, first, &err);
    if (open == ETCDE_ERR_CANCELLED) return 0;
    if (open < 0) {
        etcde__ka_break(c, k, (etcde_result)open, &err);
        return 1;
    }
    for (i = 0; i < n;) {
        etcde__kasend *x = &a[i];
        etcde__wait ew;
        if (x->sent) {
            i++;
            continue;
        }
        /* the try begins after the open, and a reply after the deadline counts for
           nothing: a session seen lost never comes back */
        x->sent = etcde__now_ms();
        x->dl = ETCDE__MIN(x->dl, x->sent + ETCDE__MIN(x->try_ms, try_ms));
        ew = etcde__within(stop, x->dl);
        if (!open) {
            int64_t lease = x->lease, sent = x->sent;
            r = etcde__renew_plain(c, lease, stop, x->dl, &k->req, &k->resp, &ttl, &err);
            if (r == ETCDE_ERR_CANCELLED) return 0;
            etcde__ka_drop(k, x);
            a = etcde__ka_sends(k, &n);
            etcde__ka_outcome(c, k, lease, sent, r, ttl, &err);
            done = 1;
            continue;
        }
        etcde__req_lease_id(&k->req, x->lease);
        r = etcde__ws_send(k->cn, ETCDE__WS_TEXT, k->req.p, k->req.len, &ew, &err);
        if (r == ETCDE_ERR_CANCELLED) return 0;
        if (r) {
            etcde__ka_break(c, k, r, &err);
            return 1;
        }
        i++;
    }
    return done;
}

/* One message from the stream: the reply to the renewal of the lease it names. */
static etcde_result etcde__ka_reply(etcde_client *c, etcde__ka *k, const etcde__wait *w,
                                    etcde__err *err) {
    etcde__resp *rp = &k->resp;
    etcde__kasend *x;
    int64_t id, sent, ttl;
    char q[64];
    etcde_result r;
    int got = etcde__ws_next(k->cn, &rp->body, w, err);
    if (got <= 0) return got ? (etcde_result)got : ETCDE_ERR_UNAVAILABLE; /* err says why */
    rp->status = 200;
    if ((r = etcde__resp_parse(c, rp, err)) != ETCDE_OK) return r;
    if ((r = etcde__resp_error(rp, err)) != ETCDE_OK) return r;
    id = etcde__jint(&rp->j, etcde__jpath(&rp->j, 0, "result.ID"), 0);
    x = id > 0 ? etcde__ka_find(k, id) : NULL;
    if (!x || !x->sent)
        return etcde__fail(err, ETCDE_ERR_HTTP,
                           "keepalive stream answered for a lease with no renewal on its way: %s",
                           etcde__quote(q, sizeof q, rp->body.p, rp->body.len));
    sent = x->sent;
    ttl = etcde__renewed_ttl(rp);
    etcde__ka_drop(k, x);
    etcde__ka_outcome(c, k, id, sent, ETCDE_OK, ttl, err);
    return ETCDE_OK;
}

static void *etcde__ka_main(void *arg) {
    etcde_client *c = (etcde_client *)arg;
    etcde__ka *k = c->ka;
    etcde__wait stop;
    etcde_result r = ETCDE_OK;
    etcde__wait_init(&stop, ETCDE__NEVER);
    etcde__wait_add(&stop, k->stop_pipe[0], ETCDE_ERR_CANCELLED);
    while (r != ETCDE_ERR_CANCELLED) {
        etcde__wait tick, rw;
        etcde__err err;
        etcde_session *s;
        etcde__kasend *a;
        char drain[64];
        size_t i, n;
        int nsess;
        int64_t now = etcde__now_ms(), wake, first = ETCDE__NEVER;
        pthread_mutex_lock(&k->mu);
        for (s = k->list; s && !s->ka_end && now < ETCDE__LOAD(&s->deadline); s = s->ka_next)
            continue;
        if (s) etcde__ka_lose(k, s);
        if (s || !k->list) {
            int end = !k->list;
            if (end) k->live = 0; /* it never takes mu again */
            pthread_mutex_unlock(&k->mu);
            if (end) break;
            continue;
        }
        wake = etcde__ka_collect(k, now, &nsess);
        pthread_mutex_unlock(&k->mu);
        if (etcde__ka_send(c, k, &stop, nsess > 1)) continue;
        a = etcde__ka_sends(k, &n);
        for (i = 0; i < n; i++)
            if (a[i].sent) first = ETCDE__MIN(first, a[i].dl);
        if (k->cn && nsess < 2 && first == ETCDE__NEVER) { /* one session left: plain */
            etcde__ws_close(c, k->cn);
            k->cn = NULL;
        }
        etcde__wait_init(&tick, ETCDE__MIN(wake, first));
        etcde__wait_add(&tick, k->stop_pipe[0], ETCDE_ERR_CANCELLED);
        etcde__wait_add(&tick, k->wake_pipe[0], ETCDE__WOKEN);
        /* nothing consumed: a wake or a tick leaves the stream clean */
        r = k->cn ? etcde__ws_need(k->cn, 2, &tick, &err) : etcde__poll(-1, 0, &tick, &err);
        if (r == ETCDE__WOKEN) { /* a session came or went */
            while (read(k->wake_pipe[0], drain, sizeof drain) > 0) continue;
            continue;
        }
        if (r == ETCDE_ERR_TIMEOUT && etcde__now_ms() >= first) {
            etcde__fail(&err, ETCDE_ERR_TIMEOUT, "no reply on the keepalive stream in time");
            etcde__ka_break(c, k, r, &err);
        } else if (r == ETCDE_OK && k->cn) {
            /* bounded by the renewals on their way: their deadlines do not move */
            rw = etcde__within(
                &stop, first != ETCDE__NEVER ? first : etcde__now_ms() + c->o.request_timeout_ms);
            r = etcde__ka_reply(c, k, &rw, &err);
            if (r && r != ETCDE_ERR_CANCELLED) etcde__ka_break(c, k, r, &err);
        } else if (r != ETCDE_ERR_TIMEOUT && r != ETCDE_ERR_CANCELLED) {
            etcde__ka_break(c, k, r, &err); /* the server closed or broke the stream */
        }
    }
    if (r == ETCDE_ERR_CANCELLED) {
        pthread_mutex_lock(&k->mu);
        k->live = 0;
        pthread_mutex_unlock(&k->mu);
    }
    etcde__ws_close(c, k->cn);
    k->cn = NULL;
    etcde__buf_clear(&k->sends);
    return NULL;
}

/* The client's keepalive thread takes s on, started if it is not running. */
static etcde_result etcde__ka_add(etcde_client *c, etcde_session *s, etcde__err *err) {
    etcde__ka *k;
    int on;
    pthread_mutex_lock(&c->mu);
    if (!c->ka && (k = (etcde__ka *)etcde__alloc(&c->al, sizeof *k)) != NULL) {
        memset(k, 0, sizeof *k);
        if (etcde__pipe_pair(k->wake_pipe, k->stop_pipe) == 0) {
            pthread_mutex_init(&k->mu, NULL);
            pthread_cond_init(&k->cv, NULL);
            etcde__buf_init(&k->sends, &c->al, (size_t)1 << 30);
            etcde__buf_init(&k->req, &c->al, 1024);
            etcde__resp_init(&k->resp, c);
            c->ka = k;
        } else {
            etcde__free(&c->al, k);
        }
    }
    k = c->ka;
    pthread_mutex_unlock(&c->mu);
    if (!k) return etcde__fail(err, ETCDE_ERR_NOMEM, "out of memory for the keepalive thread");
    pthread_mutex_lock(&k->mu);
    s->ka_due = etcde__now_ms() + s->ttl * 1000 / 3;
    s->ka_next = k->list;
    k->list = s;
    if (k->live) {
        etcde__pipe_poke(k->wake_pipe[1]);
    } else {
        if (k->joinable) pthread_join(k->thread, NULL); /* it has left mu for good */
        k->joinable = pthread_create(&k->thread, NULL, etcde__ka_main, c) == 0;
        k->live = k->joinable;
        if (!k->live) etcde__ka_unlink(k, s);
    }
    on = k->live;
    pthread_mutex_unlock(&k->mu);
    return on ? ETCDE_OK : etcde__fail(err, ETCDE_ERR_NOMEM, "cannot start the keepalive thread");
}

/* Takes s off the keepalive thread, waiting while the thread reports its loss, unless
   this is that thread (from on_lost). Idempotent. */
static void etcde__ka_remove(etcde_client *c, etcde_session *s) {
    etcde__ka *k = c->ka;
    if (!k) return;
    pthread_mutex_lock(&k->mu);
    etcde__ka_unlink(k, s);
    while (k->busy == s && !pthread_equal(pthread_self(), k->thread))
        pthread_cond_wait(&k->cv, &k->mu);
    if (k->live) etcde__pipe_poke(k->wake_pipe[1]); /* with no session left, it ends */
    pthread_mutex_unlock(&k->mu);
}

static void etcde__ka_free(etcde_client *c) {
    etcde__ka *k = c->ka;
    if (!k) return;
    etcde__pipe_poke(k->stop_pipe[1]);
    if (k->joinable) pthread_join(k->thread, NULL);
    etcde__pipe_close(k->wake_pipe);
    etcde__pipe_close(k->stop_pipe);
    etcde__buf_free(&k->sends);
    etcde__buf_free(&k->req);
    etcde__resp_free(&k->resp);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    etcde__free(&c->al, k);
    c->ka = NULL;
}

static void etcde__session_free(etcde_session *s) {
    etcde_client *c = s->c;
    pthread_mutex_destroy(&s->mu);
    etcde__pipe_close(s->lost_pipe);
    etcde__free(&c->al, s);
}

/* Ends the session: publishes the loss first (no holder may act from here on), takes
   it off the keepalive thread, then revokes the lease with `revoke`. Idempotent. Returns
   the revoke's result. */
static etcde_result etcde__session_stop(etcde_session *s, int revoke, etcde__err *err) {
    etcde_client *c = s->c;
    etcde_result r = ETCDE_OK;
    int first = !__atomic_exchange_n(&s->closing, 1, __ATOMIC_ACQ_REL);
    if (first) etcde__session_lose(s, "session closed", 0);
    etcde__ka_remove(c, s); /* every time: a close in on_lost leaves a destroy to wait */
    if (first && revoke) {
        etcde__buf b;
        etcde__resp resp;
        etcde__buf_init(&b, &c->al, 64);
        etcde__resp_init(&resp, c);
        etcde__req_lease_id(&b, s->lease);
        r = etcde__call(c, "/v3/lease/revoke", &b, &resp, NULL, err);
        etcde__buf_free(&b);
        etcde__resp_free(&resp);
        if (r) {
            etcde__fail(&s->close_err, ETCDE_ERR_SESSION_LOST,
                        "session closed, but the revoke of lease %llx failed (its keys go when "
                        "it expires): %s",
                        (unsigned long long)s->lease, err->msg);
            ETCDE__STORE(&s->close_failed, 1);
            etcde__log(c, ETCDE_LOG_WARN, "%s", s->close_err.msg);
        }
    }
    return r;
}

/* ---- election ------------------------------------------------------------------------ */

/* Who made the own key: a handle that stood on it before this call (a failed call leaves
   it), this call, or maybe this call (its txn went out, but no reply decided it). */
enum { ETCDE__KEY_OLD = 0, ETCDE__KEY_NEW, ETCDE__KEY_MAYBE };

struct etcde_election {
    etcde_client *c;
    etcde_session *s;
    char *prefix; /* NAME "/" */
    size_t plen;
    char *range_end; /* prefix with its last byte + 1: the end of the prefix range */
    size_t relen;
    char *key;        /* NAME/<lease hex>, "" when not campaigning */
    int64_t rev;      /* atomic: readable from any thread */
    int leader;       /* atomic */
    int fresh;        /* ETCDE__KEY_*: whether this call created the own key */
    int busy;         /* a call is running: a callback must not start another on this handle */
    int lock;         /* used as a lock (lock, trylock): messages say "lock holder" */
    int slots;        /* how many may hold at once: 1, or a semaphore's count (etcde_lock_n) */
    int64_t released; /* atomic: times another handle on the same key gave it up */
    etcde_election *next_handle; /* in the session's list, under its mu */
    struct etcde__op *op;        /* atomic: its async call in flight (set under the runner's mu) */
    etcde__err err;
    char retried[208]; /* the last watch failure this call retried: a timeout names it */
    etcde__buf req;
    etcde__resp resp;
};

/* A txn body, written in order: compares, then the ops on success, then those on failure.
   The builder writes every bracket and comma; callers only name the pieces. */
typedef struct etcde__txn {
    etcde__buf *b;
    int items; /* in the current list: the next one needs a comma */
} etcde__txn;

static void etcde__txn_start(etcde__txn *t, etcde__buf *b) {
    t->b = b;
    t->items = 0;
    etcde__buf_clear(b);
    etcde__buf_str(b, "{\"compare\":[");
}

static etcde__buf *etcde__txn_item(etcde__txn *t, const char *head) {
    etcde__buf_str(t->b, t->items++ ? "," : "");
    etcde__buf_str(t->b, head);
    return t->b;
}

/* Ends the current list, opens the next: "success" or "failure". */
static void etcde__txn_list(etcde__txn *t, const char *name) {
    etcde__buf_str(t->b, "],\"");
    etcde__buf_str(t->b, name);
    etcde__buf_str(t->b, "\":[");
    t->items = 0;
}

static void etcde__txn_end(etcde__txn *t) { etcde__buf_str(t->b, "]}"); }

/* key's create revision (target CREATE) or lease (LEASE: the fence when the create
   revision is unknown) equals v */
static void etcde__txn_cmp(etcde__txn *t, const char *key, const char *target, const char *field,
                           int64_t v) {
    etcde__buf *b = etcde__txn_item(t, "{");
    etcde__buf_jb64(b, "key", key, strlen(key));
    etcde__buf_str(b, ",\"target\":\"");
    etcde__buf_str(b, target);
    etcde__buf_str(b, "\",\"result\":\"EQUAL\",\"");
    etcde__buf_str(b, field);
    etcde__buf_str(b, "\":\"");
    etcde__buf_i64(b, v);
    etcde__buf_str(b, "\"}");
}

static void etcde__txn_cmp_create(etcde__txn *t, const char *key, int64_t rev) {
    etcde__txn_cmp(t, key, "CREATE", "create_revision", rev);
}

/* lease 0: none */
static void etcde__txn_put(etcde__txn *t, const char *key, const void *v, size_t n, int64_t lease) {
    etcde__buf *b = etcde__txn_item(t, "{\"request_put\":{");
    etcde__buf_jb64(b, "key", key, strlen(key));
    etcde__buf_str(b, ",");
    etcde__buf_jb64(b, "value", v, n);
    etcde__buf_str(b, ",\"lease\":\"");
    etcde__buf_i64(b, lease);
    etcde__buf_str(b, "\"}}");
}

/* "request_range" or "request_delete_range" of one key */
static void etcde__txn_key_op(etcde__txn *t, const char *op, const char *key) {
    etcde__buf *b = etcde__txn_item(t, "{\"");
    etcde__buf_str(b, op);
    etcde__buf_str(b, "\":{");
    etcde__buf_jb64(b, "key", key, strlen(key));
    etcde__buf_str(b, "}}");
}

/* The range body over the election prefix, first (ASCEND) or last (DESCEND; before
   max_create_revision if > 0) by create revision, `limit` keys. */
static void etcde__req_prefix_range(etcde__buf *b, const etcde_election *e, const char *order,
                                    int limit, int64_t max_create, int64_t at_rev) {
    etcde__buf_str(b, "{");
    etcde__buf_jb64(b, "key", e->prefix, e->plen);
    etcde__buf_str(b, ",");
    etcde__buf_jb64(b, "range_end", e->range_end, e->relen);
    etcde__buf_str(b, ",\"sort_order\":\"");
    etcde__buf_str(b, order);
    etcde__buf_str(b, "\",\"sort_target\":\"CREATE\",\"limit\":\"");
    etcde__buf_i64(b, limit);
    etcde__buf_str(b, "\"");
    if (max_create > 0) {
        etcde__buf_str(b, ",\"max_create_revision\":\"");
        etcde__buf_i64(b, max_create);
        etcde__buf_str(b, "\"");
    }
    if (at_rev > 0) { /* the state as of that revision, not the newest */
        etcde__buf_str(b, ",\"revision\":\"");
        etcde__buf_i64(b, at_rev);
        etcde__buf_str(b, "\"");
    }
    etcde__buf_str(b, "}");
}

static void etcde__txn_range_prefix(etcde__txn *t, const etcde_election *e, const char *order,
                                    int limit, int64_t max_create) {
    etcde__req_prefix_range(etcde__txn_item(t, "{\"request_range\":"), e, order, limit, max_create,
                            0);
    etcde__buf_str(t->b, "}");
}

/* Fills a kv view from a KeyValue token, decoding key and value in place. */
static etcde_result etcde__kv_from(etcde__json *j, int kv, etcde_kv *out, etcde__err *err) {
    memset(out, 0, sizeof *out);
    if (etcde__jb64(j, etcde__jget(j, kv, "key"), &out->key, &out->key_len) ||
        etcde__jb64(j, etcde__jget(j, kv, "value"), &out->value, &out->value_len))
        return etcde__fail(err, ETCDE_ERR_JSON, "bad base64 in a key-value from etcd");
    out->create_rev = etcde__jint(j, etcde__jget(j, kv, "create_revision"), 0);
    out->mod_rev = etcde__jint(j, etcde__jget(j, kv, "mod_revision"), 0);
    out->lease = etcde__jint(j, etcde__jget(j, kv, "lease"), 0);
    if (out->create_rev < 0 || out->create_rev > ETCDE__REV_MAX || out->mod_rev < 0 ||
        out->mod_rev > ETCDE__REV_MAX)
        return etcde__fail(err, ETCDE_ERR_JSON, "key-value from etcd with a revision out of range");
    return ETCDE_OK;
}

/* An election call's wait: its deadline, a cancel (if the call can be cancelled), and the
   loss of its session. */
static void etcde__wait_for(etcde__wait *w, etcde_election *e, int64_t deadline, int with_cancel) {
    etcde__wait_init(w, deadline);
    if (with_cancel) etcde__wait_add(w, e->c->cancel_pipe[0], ETCDE_ERR_CANCELLED);
    if (e->s) etcde__wait_add(w, e->s->lost_pipe[0], ETCDE_ERR_SESSION_LOST);
}

/* etcd refuses a request larger than its --max-request-bytes, counted on the encoded
   request: the value, every copy of a key in it, and a little framing. Checked before
   anything is sent, so an oversized call changes nothing. */
static etcde_result etcde__fits(etcde_election *e, const char *call, size_t keys, size_t vlen) {
    uint64_t lim = e->c->o.max_request_bytes, need;
    need = (uint64_t)ETCDE__MIN(vlen, (size_t)1 << 62) + ETCDE__MIN(keys, (size_t)1 << 62) + 512;
    if (need <= lim) return ETCDE_OK;
    return etcde__fail(
        &e->err, ETCDE_ERR_TOO_BIG,
        "%s: value (%llu bytes) and keys (%llu bytes) exceed the request limit of %llu bytes "
        "(max_request_bytes; etcd's --max-request-bytes) by %llu bytes; nothing was sent",
        call, (unsigned long long)vlen, (unsigned long long)keys, (unsigned long long)lim,
        (unsigned long long)(need - lim));
}

/* The own key (or, with `name`, the election name) for a message: quoted, at most 150
   bytes, since names are the caller's bytes. */
static const char *etcde__qkey(const etcde_election *e, char *buf, size_t cap, int name) {
    return etcde__quote(buf, cap, name ? e->prefix : e->key, name ? e->plen - 1 : strlen(e->key));
}

/* One session and one name share one key, as in Go: every handle standing on the same
   incarnation of it (same create revision; any, when that is unknown) loses its claim
   together, before the key is deleted or given up, so none reports holding a key that
   may be gone. */
static void etcde__release_all(etcde_election *e) {
    etcde_election *h;
    int64_t rev = ETCDE__LOAD(&e->rev);
    ETCDE__STORE(&e->leader, 0);
    if (!e->s) return;
    pthread_mutex_lock(&e->s->mu);
    for (h = e->s->handles; h; h = h->next_handle)
        if (h != e && h->plen == e->plen && memcmp(h->prefix, e->prefix, e->plen) == 0 &&
            (rev <= 0 || ETCDE__LOAD(&h->rev) == rev)) {
            ETCDE__STORE(&h->leader, 0);
            __atomic_add_fetch(&h->released, 1, __ATOMIC_ACQ_REL);
        }
    pthread_mutex_unlock(&e->s->mu);
}

/* Another handle of this session stands on the same key: a failed call must leave it. */
static int etcde__key_shared(etcde_election *e) {
    etcde_election *h;
    int shared = 0;
    pthread_mutex_lock(&e->s->mu);
    for (h = e->s->handles; h && !shared; h = h->next_handle)
        shared = h != e && h->plen == e->plen && memcmp(h->prefix, e->prefix, e->plen) == 0 &&
                 ETCDE__LOAD(&h->rev) > 0;
    pthread_mutex_unlock(&e->s->mu);
    return shared;
}

static void etcde__forget_key(etcde_election *e) {
    e->key[0] = 0;
    e->fresh = ETCDE__KEY_OLD;
    ETCDE__STORE(&e->rev, 0);
}

/* Fenced delete of the own key: a txn comparing its create revision -- or its lease, when
   a lost reply left the revision unknown -- so a stale call never deletes a newer key.
   Leadership is withdrawn before the request goes out. Not cancellable; bounded by the
   request timeout. */
static etcde_result etcde__delete_own(etcde_election *e, int budget_ms, int *deleted,
                                      etcde__err *err) {
    etcde__txn t;
    etcde__wait w;
    etcde_result r;
    int64_t rev = ETCDE__LOAD(&e->rev);
    etcde__release_all(e);
    etcde__wait_init(&w, etcde__now_ms() + budget_ms);
    etcde__txn_start(&t, &e->req);
    if (rev > 0)
        etcde__txn_cmp_create(&t, e->key, rev);
    else
        etcde__txn_cmp(&t, e->key, "LEASE", "lease", e->s->lease);
    etcde__txn_list(&t, "success");
    etcde__txn_key_op(&t, "request_delete_range", e->key);
    etcde__txn_end(&t);
    r = etcde__call_retry(e->c, "/v3/kv/txn", &e->req, &e->resp, &w, err);
    if (r == ETCDE_OK && deleted)
        *deleted = etcde__jtrue(&e->resp.j, etcde__jget(&e->resp.j, 0, "succeeded"));
    if (r == ETCDE_OK) etcde__forget_key(e);
    return r;
}

/* After a failed campaign or trylock: a failed call leaves etcd as it found it. A key this
   call created (or may have) is deleted; one that stood before it, this handle's or
   another's on the same session, is left. If the delete cannot be confirmed within
   ETCDE__CLEANUP_MS (milliseconds against a live etcd), the session is ended, so that
   nothing renews the key: it goes when the lease expires, and e->err says so. */
#define ETCDE__CLEANUP_MS 1000
static void etcde__abandon(etcde_election *e, etcde_result r) {
    etcde__err derr;
    etcde_result dr;
    char msg[sizeof e->err.msg], why[300];
    int deleted = 0, maybe = e->fresh == ETCDE__KEY_MAYBE && ETCDE__LOAD(&e->rev) <= 0, revoke;
    if (r == ETCDE_ERR_SESSION_LOST) { /* the key goes with the lease */
        etcde__release_all(e);
        etcde__forget_key(e);
        return;
    }
    if (e->fresh == ETCDE__KEY_OLD || !e->key[0]) {
        if (etcde_is_leader(e)) {
            char q[160];
            memcpy(msg, e->err.msg, sizeof msg);
            etcde__fail(&e->err, r, "%.300s; still the leader: key %s stands", msg,
                        etcde__qkey(e, q, sizeof q, 0));
        }
        return;
    }
    etcde__qkey(e, msg, 160, 0);
    dr = etcde__delete_own(e, ETCDE__MIN(e->c->o.request_timeout_ms, ETCDE__CLEANUP_MS), &deleted,
                           &derr);
    /* deleted, or known never to have been made: etcd is as it was */
    if (dr == ETCDE_OK && (deleted || !maybe)) return;
    /* a txn without a reply may still be applied after the delete: only the end of the
       lease rules that out (a revoke, when etcd answers; else the lease's expiry) */
    revoke = dr == ETCDE_OK;
    if (revoke)
        snprintf(why, sizeof why, "its create had no reply and may still be applied");
    else
        snprintf(why, sizeof why, "it could not be deleted: %.250s", derr.msg);
    {
        char lost[sizeof e->err.msg];
        snprintf(lost, sizeof lost,
                 "session lost: lease %llx ended, because key %.150s of a failed call may stand "
                 "(%.280s)",
                 (unsigned long long)e->s->lease, msg, why);
        etcde__session_lose(e->s, lost, 1);
    }
    dr = etcde__session_stop(e->s, revoke, &derr);
    memcpy(why, e->err.msg, ETCDE__MIN(sizeof why, sizeof e->err.msg));
    why[sizeof why - 1] = 0;
    etcde__fail(&e->err, r, "%.200s; key %s may stand, so session lease %llx was ended: %s", why,
                msg, (unsigned long long)e->s->lease,
                revoke && !dr ? "revoked" : "its keys go when it expires, without renewals");
    etcde__forget_key(e);
}

/* What an event handler tells its watch: keep watching; stop (the caller re-reads); or stop
   once the rest of this response's events were seen (one of them may still say STOP). A
   negative return is an etcde_result error. */
enum { ETCDE__EV_KEEP = 0, ETCDE__EV_STOP = 1, ETCDE__EV_AFTER = 2 };
typedef int (*etcde__event_fn)(etcde_election *e, etcde__json *j, int ev, int64_t hdr_rev,
                               void *ud);

/* What a watch covers, from where, and who hears its events. */
typedef struct etcde__watch_spec {
    const char *key, *range_end; /* [key, range_end); range_end NULL: the key alone */
    size_t klen, relen;
    const char *const *also; /* further keys, each watched alone on the same stream */
    int nalso;
    int noput; /* deletes only */
    int64_t start_rev;
    etcde__event_fn fn;
    void *ud;
} etcde__watch_spec;

/* Appends the create request of the spec's watch k (0: the range, 1..: ws->also[k-1]),
   with watch id `id` when it is not 0 (a shared stream). */
static void etcde__watch_create(etcde__buf *b, const etcde__watch_spec *ws, int k, int64_t id) {
    etcde__buf_str(b, "{\"create_request\":{");
    if (k == 0) {
        etcde__buf_jb64(b, "key", ws->key, ws->klen);
        if (ws->range_end) {
            etcde__buf_str(b, ",");
            etcde__buf_jb64(b, "range_end", ws->range_end, ws->relen);
        }
        if (ws->noput) etcde__buf_str(b, ",\"filters\":[\"NOPUT\"]");
    } else {
        etcde__buf_jb64(b, "key", ws->also[k - 1], strlen(ws->also[k - 1]));
    }
    if (id) {
        etcde__buf_str(b, ",\"watch_id\":\"");
        etcde__buf_i64(b, id);
        etcde__buf_str(b, "\"");
    }
    etcde__buf_str(b, ",\"start_revision\":\"");
    etcde__buf_i64(b, ws->start_rev);
    etcde__buf_str(b, "\"}}");
}

/* One message of a watch, in e->resp.body: 1 to read on; 0 when the watch ends with *r
   (ETCDE_OK: read again; *stopped: the handler stopped it). */
static int etcde__watch_msg(etcde_election *e, const etcde__watch_spec *ws, etcde_result *r,
                            int *stopped) {
    etcde_client *c = e->c;
    etcde__err *err = &e->err;
    int res, evs, i, after;
    int64_t hdr_rev;
    if (e->resp.body.len == 0) return 1;
    *r = etcde__resp_parse(c, &e->resp, err);
    if (!*r) *r = etcde__resp_error(&e->resp, err);
    if (*r) return 0;
    res = etcde__jget(&e->resp.j, 0, "result");
    hdr_rev =
        ETCDE__MAX(etcde__jrev(&e->resp.j, etcde__jpath(&e->resp.j, res, "header.revision")), 0);
    if (etcde__jtrue(&e->resp.j, etcde__jget(&e->resp.j, res, "canceled"))) {
        char why[160];
        etcde__jstr(&e->resp.j, etcde__jget(&e->resp.j, res, "cancel_reason"), why, sizeof why);
        if (strstr(why, "auth token") && c->user) { /* token expired: fetch another */
            etcde__log(c, ETCDE_LOG_INFO, "watch: auth token rejected; authenticating again");
            pthread_mutex_lock(&c->mu);
            etcde__free(&c->al, c->token);
            c->token = NULL;
            pthread_mutex_unlock(&c->mu);
        }
        return 0; /* *r is OK: read again */
    }
    evs = etcde__jget(&e->resp.j, res, "events");
    res = ETCDE__EV_KEEP;
    for (i = 0, after = 0; res == ETCDE__EV_KEEP && evs >= 0 && i < e->resp.j.t[evs].size; i++) {
        res = ws->fn(e, &e->resp.j, etcde__jat(&e->resp.j, evs, i), hdr_rev, ws->ud);
        if (res == ETCDE__EV_AFTER) after = 1, res = ETCDE__EV_KEEP;
    }
    if (res == ETCDE__EV_KEEP && after) res = ETCDE__EV_STOP;
    if (res == ETCDE__EV_KEEP) return 1;
    *r = res == ETCDE__EV_STOP ? ETCDE_OK : (etcde_result)res;
    *stopped = res == ETCDE__EV_STOP;
    return 0;
}

/* The watch on an HTTP stream of its own. */
static etcde_result etcde__watch_http(etcde_election *e, const etcde__watch_spec *ws,
                                      const etcde__wait *w, const etcde__wait *rw, int *stopped) {
    etcde_client *c = e->c;
    etcde__conn *cn = NULL;
    etcde__req rq;
    etcde_result r;
    int k, more = 1;
    etcde__buf_clear(&e->req);
    for (k = 0; k <= ws->nalso; k++) etcde__watch_create(&e->req, ws, k, 0); /* concatenated */
    rq.path = "/v3/watch";
    rq.body = &e->req;
    rq.stream = &cn;
    rq.anon = 0;
    rq.hasleader = 0;
    rq.deadline = ETCDE__MIN(w->deadline, etcde__now_ms() + c->o.request_timeout_ms);
    r = etcde__request(c, &rq, &e->resp, w, &e->err);
    if (r) return r;
    e->resp.carry = 0;
    while (more) {
        int line = etcde__http_next_line(cn, &e->resp.body, &e->resp.carry, rw, &e->err);
        if (line < 0) {
            r = (etcde_result)line;
            if (r == ETCDE_ERR_TIMEOUT && etcde__now_ms() < w->deadline) r = ETCDE_OK; /* refresh */
            break;
        }
        if (line == 0) break; /* stream ended: read again */
        more = etcde__watch_msg(e, ws, &r, stopped);
    }
    etcde__conn_close(c, cn);
    return r;
}

/* Puts a wait on the client's shared stream: ids of its own, its create requests queued
   for the reader. A stream that is gone leaves it broken: the caller reads again. */
static etcde_result etcde__sub_open(etcde_election *e, const etcde__watch_spec *ws,
                                    etcde__wsub *sub) {
    etcde__hub *h = e->c->hub;
    etcde_result r = ETCDE_OK;
    int k;
    pthread_mutex_lock(&h->mu);
    sub->nids = 1 + ws->nalso;
    sub->first_id = h->next_id;
    h->next_id += sub->nids;
    sub->broken = !h->cn;
    sub->next = h->subs;
    h->subs = sub;
    for (k = 0; h->cn && !r && k < sub->nids; k++) {
        etcde__buf_clear(&e->req);
        etcde__watch_create(&e->req, ws, k, sub->first_id + k);
        r = etcde__hub_queue(e->c, h, e->req.p, e->req.len, &e->err);
    }
    pthread_mutex_unlock(&h->mu);
    return r;
}

/* The wait's next message, moved into e->resp.body: 1; 0 none queued (*broken: none will
   come); <0 an error. */
static int etcde__sub_take(etcde_election *e, etcde__wsub *sub, int *broken) {
    etcde__hub *h = e->c->hub;
    etcde__msg *m;
    pthread_mutex_lock(&h->mu);
    if ((m = sub->head) != NULL) {
        sub->head = m->next;
        if (!sub->head) sub->tail = NULL;
        sub->queued -= m->len;
    }
    *broken = sub->broken;
    pthread_mutex_unlock(&h->mu);
    if (!m) return 0;
    etcde__buf_clear(&e->resp.body);
    etcde__buf_add(&e->resp.body, m->p, m->len);
    etcde__free(&e->c->al, m);
    if (e->resp.body.failed) /* a message lost here would be an event missed */
        return etcde__fail(&e->err, e->resp.body.failed, "out of memory for a watch message");
    e->resp.status = 200;
    return 1;
}

/* Takes the wait off the stream: what it did not read is dropped, its watches cancelled
   in-band if the stream it made them on still runs. */
static void etcde__sub_close(etcde_client *c, etcde__wsub *sub) {
    etcde__hub *h = c->hub;
    etcde__wsub **pp;
    int k;
    pthread_mutex_lock(&h->mu);
    for (pp = &h->subs; *pp != sub; pp = &(*pp)->next) continue;
    *pp = sub->next;
    etcde__msg_free_all(c, sub->head);
    sub->head = sub->tail = NULL;
    sub->queued = 0;
    for (k = 0; h->cn && !sub->broken && k < sub->nids; k++) {
        char cancel[96];
        int n = snprintf(cancel, sizeof cancel, "{\"cancel_request\":{\"watch_id\":\"%lld\"}}",
                         (long long)(sub->first_id + k));
        etcde__err ignored;
        if (etcde__hub_queue(c, h, cancel, (size_t)n, &ignored)) break;
    }
    pthread_mutex_unlock(&h->mu);
}

/* The watch on the client's shared stream, waited for in place. */
static etcde_result etcde__watch_shared(etcde_election *e, const etcde__watch_spec *ws,
                                        const etcde__wait *w, const etcde__wait *rw, int *stopped) {
    etcde__wsub sub;
    etcde_result r;
    int more = 1;
    char eb[96];
    memset(&sub, 0, sizeof sub);
    if (etcde__wake_open(sub.pipe) != 0)
        return etcde__fail(&e->err, ETCDE_ERR_IO, "watch: no descriptor to wait on: %s",
                           etcde__errno_text(errno, eb, sizeof eb));
    r = etcde__sub_open(e, ws, &sub);
    while (!r && more) {
        int broken, got = etcde__sub_take(e, &sub, &broken);
        if (got < 0) {
            r = (etcde_result)got;
        } else if (got) {
            more = etcde__watch_msg(e, ws, &r, stopped);
        } else if (broken) {
            break; /* read again */
        } else {
            r = etcde__poll(sub.pipe[0], POLLIN, rw, &e->err);
            etcde__wake_drain(sub.pipe);
            if (r == ETCDE_ERR_TIMEOUT && etcde__now_ms() < w->deadline) {
                r = ETCDE_OK; /* refresh */
                break;
            }
        }
    }
    etcde__sub_close(e->c, &sub);
    etcde__wake_close(sub.pipe);
    return r;
}

/* Watches what `ws` says, calling ws->fn per event: on the client's shared stream, or on
   an HTTP stream of its own where that cannot be. Returns ETCDE_OK when fn stopped it,
   the stream ended or was cancelled by etcd (compaction), or it was trusted for
   ETCDE_WATCH_REFRESH_MS: all mean "read again". Errors: the wait's own (cancel, session
   loss, timeout) or a failure to open. */
static etcde_result etcde__watch(etcde_election *e, const etcde__watch_spec *ws,
                                 const etcde__wait *w) {
    int64_t opened = etcde__now_ms();
    etcde__wait rw = etcde__within(w, opened + ETCDE_WATCH_REFRESH_MS); /* until a refresh */
    int stopped = 0, shared = etcde__hub_attach(e->c, w, &e->err);
    etcde_result r;
    if (shared < 0) return (etcde_result)shared;
    if (shared) rw = *w; /* the shared stream is checked every tick instead */
    r = shared ? etcde__watch_shared(e, ws, w, &rw, &stopped)
               : etcde__watch_http(e, ws, w, &rw, &stopped);
    if (r == ETCDE_OK && !stopped && etcde__now_ms() - opened < 500) {
        /* a stream that ends at once must not become a busy loop of re-reads */
        etcde__err serr;
        etcde_result s = etcde__sleep(w, opened + 500 - etcde__now_ms(), &serr);
        if (s) r = etcde__fail(&e->err, s, "%s", serr.msg);
    }
    return r;
}

static int etcde__same_bytes(const char *a, size_t an, const void *b, size_t bn) {
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* etcd's key order: bytewise, a prefix first. */
static int etcde__key_less(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, ETCDE__MIN(an, bn));
    return c < 0 || (c == 0 && an < bn);
}

/* A waiting candidate's watch: deletes in one key range that holds its own key and the keys
   just ahead of it -- one key in an election, up to the holder count in a semaphore (see
   etcde__campaign_wait). */
typedef struct etcde__queue_watch {
    char **ahead; /* the keys just ahead, NUL-terminated */
    size_t *alen;
    int n;
    int first; /* they were all the keys ahead, and events come in order */
    int lead;  /* one of them went, and the own key was seen intact until then */
    int noise; /* deletes of other keys lying in the range */
} etcde__queue_watch;

#define ETCDE__QUEUE_NOISE_MAX 8

static int etcde__on_queue_event(etcde_election *e, etcde__json *j, int ev, int64_t hdr_rev,
                                 void *ud) {
    etcde__queue_watch *q = (etcde__queue_watch *)ud;
    const char *k;
    size_t kl;
    int i;
    (void)hdr_rev;
    if (!etcde__jeq(j, etcde__jget(j, ev, "type"), "DELETE")) return ETCDE__EV_KEEP;
    if (etcde__jb64(j, etcde__jpath(j, ev, "kv.key"), &k, &kl))
        return etcde__fail(&e->err, ETCDE_ERR_JSON, "watch event with a key that is not base64");
    if (etcde__same_bytes(k, kl, e->key, strlen(e->key))) {
        q->lead = 0; /* own key gone: the next read reports it */
        return ETCDE__EV_STOP;
    }
    for (i = 0; i < q->n; i++)
        if (etcde__same_bytes(k, kl, q->ahead[i], q->alen[i])) {
            if (!q->first) return ETCDE__EV_STOP; /* others may be ahead: read again */
            q->lead = 1;
            return ETCDE__EV_AFTER; /* an own-key delete at the same revision still wins */
        }
    /* another candidate's key in the range */
    return ++q->noise >= ETCDE__QUEUE_NOISE_MAX ? ETCDE__EV_STOP : ETCDE__EV_KEEP;
}

/* Where a candidate stands in the queue, as of one read. It holds while fewer than
   e->slots keys stand ahead of it (1 in an election and a lock); else it waits on the
   e->slots keys just ahead, its window. */
enum { ETCDE__LEADS = -1, ETCDE__UNREAD = -2 };
typedef struct etcde__queue_pos {
    int kvs;     /* array token (in e->resp) holding the window, ETCDE__LEADS or ETCDE__UNREAD */
    int from;    /* the window's first (newest) element in it */
    int first;   /* the window is every key ahead */
    int64_t rev; /* the revision read */
} etcde__queue_pos;

/* Puts the candidate key (Go's txn: create if absent, else read it) and sets e->rev.
   The same txn reads the queue: a new key, the newest, comes back with the keys just ahead
   of it and the count of keys, so an uncontended candidate knows it holds after one round
   trip and a contended one knows what to watch. A key that existed (the same lease
   campaigning again) keeps its place; the txn reads the first keys to see if it holds. */
static etcde_result etcde__campaign_enter(etcde_election *e, const void *value, size_t len,
                                          const etcde__wait *w, etcde__queue_pos *pos) {
    etcde__txn t;
    etcde_session *s = e->s;
    etcde__wait tw;
    int held = ETCDE__LOAD(&e->rev) > 0, i;
    etcde__json *j = &e->resp.j;
    etcde_result r;
    etcde_kv kv;
    pos->kvs = ETCDE__UNREAD;
    pos->first = 0;
    snprintf(e->key, e->plen + 18, "%s%llx", e->prefix, (unsigned long long)s->lease);
    /* from here the key may exist because of this call, unless a handle stood on it */
    e->fresh = held || etcde__key_shared(e) ? ETCDE__KEY_OLD : ETCDE__KEY_MAYBE;
    /* the txn runs to its reply even past the campaign's timeout (cancel and session loss
       still end it): a reply says whether the key was made, and a timed-out txn may not */
    tw = *w;
    tw.deadline = ETCDE__MAX(w->deadline, etcde__now_ms() + e->c->o.request_timeout_ms);
    for (;;) {
        int kvt;
        etcde__txn_start(&t, &e->req);
        etcde__txn_cmp_create(&t, e->key, 0);
        etcde__txn_list(&t, "success");
        etcde__txn_put(&t, e->key, value, len, s->lease);
        etcde__txn_range_prefix(&t, e, "DESCEND", e->slots + 1, 0);
        etcde__txn_list(&t, "failure");
        etcde__txn_key_op(&t, "request_range", e->key);
        etcde__txn_range_prefix(&t, e, "ASCEND", e->slots, 0);
        etcde__txn_end(&t);
        r = etcde__call_retry(e->c, "/v3/kv/txn", &e->req, &e->resp, &tw, &e->err);
        if ((r == ETCDE_ERR_ETCD || r == ETCDE_ERR_AUTH) && e->fresh == ETCDE__KEY_MAYBE)
            e->fresh = ETCDE__KEY_OLD; /* etcd answered and refused it: nothing was made */
        if (r) return r;
        if (etcde__jtrue(j, etcde__jget(j, 0, "succeeded"))) {
            int rr = etcde__jpath(j, 0, "responses.1.response_range");
            int64_t rev = etcde__jrev(j, etcde__jpath(j, 0, "header.revision"));
            if (held) etcde__release_all(e); /* the key it stood on was gone: this is a new one */
            e->fresh = ETCDE__KEY_NEW;
            ETCDE__STORE(&e->rev, rev > 0 ? rev : 0);
            if (rev <= 0)
                return etcde__fail(&e->err, ETCDE_ERR_JSON, "txn reply without a valid revision");
            pos->rev = rev;
            /* kvs.0 is the own key (created at this revision: the newest), then the window;
               count covers the whole prefix */
            if (etcde__jint(j, etcde__jpath(j, rr, "kvs.0.create_revision"), 0) == rev) {
                int64_t count = etcde__jint(j, etcde__jget(j, rr, "count"), 0);
                pos->kvs = count <= e->slots ? ETCDE__LEADS : etcde__jget(j, rr, "kvs");
                pos->from = 1;
                pos->first = count == e->slots + 1;
            }
            return ETCDE_OK;
        }
        kvt = etcde__jpath(j, 0, "responses.0.response_range.kvs.0");
        if (kvt < 0) continue; /* deleted between compare and read: try again */
        r = etcde__kv_from(j, kvt, &kv, &e->err);
        if (r) return r;
        if (kv.create_rev <= 0)
            return etcde__fail(&e->err, ETCDE_ERR_JSON,
                               "own key read back without a create revision");
        ETCDE__STORE(&e->rev,
                     kv.create_rev); /* same lease campaigning again: keep the queue position */
        kvt = etcde__jpath(j, 0, "responses.1.response_range.kvs");
        for (i = 0; i < e->slots; i++)
            if (etcde__jint(j, etcde__jget(j, etcde__jat(j, kvt, i), "create_revision"), -1) ==
                e->rev)
                pos->kvs = ETCDE__LEADS;
        if (etcde__same_bytes(kv.value, kv.value_len, value, len)) return ETCDE_OK;
        etcde__txn_start(&t, &e->req);
        etcde__txn_cmp_create(&t, e->key, e->rev);
        etcde__txn_list(&t, "success");
        etcde__txn_put(&t, e->key, value, len, s->lease);
        etcde__txn_end(&t);
        r = etcde__call_retry(e->c, "/v3/kv/txn", &e->req, &e->resp, w, &e->err);
        if (r) return r;
        if (etcde__jtrue(j, etcde__jget(j, 0, "succeeded"))) return ETCDE_OK;
        pos->kvs = ETCDE__UNREAD;
    }
}

/* One read of the queue: own key (must still have create revision e->rev) and the window
   just ahead of it, in one read-only txn, i.e. at one revision. */
static etcde_result etcde__campaign_check(etcde_election *e, const etcde__wait *w,
                                          etcde__queue_pos *pos) {
    etcde__txn t;
    char q[160];
    etcde__json *j = &e->resp.j;
    etcde_result r;
    int own, kvs;
    etcde__txn_start(&t, &e->req); /* no compare: always "success" */
    etcde__txn_list(&t, "success");
    etcde__txn_key_op(&t, "request_range", e->key);
    etcde__txn_range_prefix(&t, e, "DESCEND", e->slots, e->rev - 1);
    etcde__txn_end(&t);
    r = etcde__call_retry(e->c, "/v3/kv/txn", &e->req, &e->resp, w, &e->err);
    if (r) return r;
    pos->rev = etcde__jrev(j, etcde__jpath(j, 0, "header.revision"));
    if (pos->rev < 0)
        return etcde__fail(&e->err, ETCDE_ERR_JSON, "range reply without a valid revision");
    own = etcde__jpath(j, 0, "responses.0.response_range.kvs.0");
    if (own < 0 || etcde__jint(j, etcde__jget(j, own, "create_revision"), 0) != e->rev)
        return etcde__fail(
            &e->err, ETCDE_ERR_SESSION_LOST,
            "own key %s is gone (lease expired or key deleted) while waiting: not %s",
            etcde__qkey(e, q, sizeof q, 0), e->lock ? "granted" : "elected");
    kvs = etcde__jpath(j, 0, "responses.1.response_range.kvs");
    pos->kvs = etcde__jat(j, kvs, e->slots - 1) >= 0 ? kvs : ETCDE__LEADS;
    pos->from = 0;
    pos->first = !etcde__jtrue(j, etcde__jpath(j, 0, "responses.1.response_range.more"));
    return ETCDE_OK;
}

/* Copies the window's keys out of the response (the watch reuses it) into one block, with
   room for the range end behind them (*end); q->ahead and q->alen point into it. */
static etcde_result etcde__copy_window(etcde_election *e, const etcde__queue_pos *pos,
                                       etcde__queue_watch *q, char **end) {
    etcde__json *j = &e->resp.j;
    size_t need = strlen(e->key) + 2, at;
    int i, n = 0;
    char *blk;
    etcde_kv kv;
    for (i = 0; i < e->slots && etcde__jat(j, pos->kvs, pos->from + i) >= 0; i++, n++) {
        etcde_result r = etcde__kv_from(j, etcde__jat(j, pos->kvs, pos->from + i), &kv, &e->err);
        if (r) return r;
        need += 2 * kv.key_len + 2; /* the key, and a range end at most as long + NUL */
    }
    at = (size_t)n * (sizeof(char *) + sizeof(size_t));
    blk = (char *)etcde__alloc(&e->c->al, at + need);
    if (!blk) return etcde__fail(&e->err, ETCDE_ERR_NOMEM, "out of memory");
    q->ahead = (char **)(void *)blk;
    q->alen = (size_t *)(void *)(blk + (size_t)n * sizeof(char *));
    q->n = n;
    for (i = 0; i < n; i++) {
        etcde__kv_from(j, etcde__jat(j, pos->kvs, pos->from + i), &kv, &e->err);
        q->ahead[i] = blk + at;
        q->alen[i] = kv.key_len;
        memcpy(q->ahead[i], kv.key, kv.key_len);
        q->ahead[i][kv.key_len] = 0;
        at += kv.key_len + 1;
    }
    *end = blk + at;
    return ETCDE_OK;
}

/* ---- observe ------------------------------------------------------------------------- */

typedef struct etcde__observer {
    etcde_observe_fn fn;
    void *user_data;
    int have_last;                 /* something was emitted */
    int64_t last_create, last_mod; /* what: 0/0 for NO_LEADER */
    int64_t at; /* the revision of the event that ended the watch: read the state there */
    int stop;
} etcde__observer;

/* Emits a state unless it repeats the last one. */
static void etcde__observe_emit(etcde__observer *ob, const etcde_kv *kv, int64_t rev) {
    int64_t cr = kv ? kv->create_rev : 0, mr = kv ? kv->mod_rev : 0;
    if (ob->have_last && ob->last_create == cr && ob->last_mod == mr) return;
    ob->have_last = 1;
    ob->last_create = cr;
    ob->last_mod = mr;
    if (ob->fn(kv ? ETCDE_EVENT_LEADER : ETCDE_EVENT_NO_LEADER, kv, rev, ob->user_data))
        ob->stop = 1;
}

/* Leader-key events: a PUT is a proclamation (emit), a DELETE ends the reign (re-read at
   its revision, so a successor that proclaims at once is still reported first). */
static int etcde__on_leader_event(etcde_election *e, etcde__json *j, int ev, int64_t hdr_rev,
                                  void *ud) {
    etcde__observer *ob = (etcde__observer *)ud;
    etcde_kv kv;
    if (etcde__jeq(j, etcde__jget(j, ev, "type"), "DELETE")) {
        ob->at = etcde__jrev(j, etcde__jpath(j, ev, "kv.mod_revision"));
        return ETCDE__EV_STOP;
    }
    if (etcde__kv_from(j, etcde__jget(j, ev, "kv"), &kv, &e->err)) return ETCDE_ERR_JSON;
    etcde__observe_emit(ob, &kv, hdr_rev);
    return ob->stop ? ETCDE__EV_STOP : ETCDE__EV_KEEP;
}

/* Prefix events while nobody leads: any change means read again, at its revision. */
static int etcde__on_any_event(etcde_election *e, etcde__json *j, int ev, int64_t hdr_rev,
                               void *ud) {
    (void)e;
    (void)hdr_rev;
    ((etcde__observer *)ud)->at = etcde__jrev(j, etcde__jpath(j, ev, "kv.mod_revision"));
    return ETCDE__EV_STOP;
}

/* ---- call machine -------------------------------------------------------------------- */
/* A campaign or lock as steps: enter the queue, read it, watch the window, verify the win;
   an observe: read the leader, watch it (or the election while nobody leads), report.
   One machine serves both kinds of call. A blocking call steps it on the caller's thread
   and watches in place; an async call is stepped by the client's runner thread whenever
   its watch has news, a retry is due or it must end, and waits between steps on nothing
   but its place on the shared stream.

   The wait: until fewer than e->slots keys stand ahead of the own key. The window (the
   keys just ahead) and the own key are watched through one watcher on the key range that
   holds them: etcd orders one watcher's events by revision, so when a window key's delete
   arrives with no own-key delete before it, the own key provably still stood at that
   revision. If the window was every key ahead, that is victory without another read; else
   a key further ahead joins the window and it is read again. Keys further ahead can go
   unwatched: their delete leaves the window as it was. Other candidates' keys in the range
   (etcd's lease ids mostly grow, so there are few) are ignored; too many, and the call
   falls back to one exact watcher per key and a read after each delete. */

enum {
    ETCDE__OP_READ,  /* observe: read who leads, report it, say what to watch */
    ETCDE__OP_ENTER, /* put the own key up (or find it) */
    ETCDE__OP_CHECK, /* read the queue */
    ETCDE__OP_ARM,   /* watch the window */
    ETCDE__OP_WATCH, /* async: on the shared stream, waiting for news */
    ETCDE__OP_WON,   /* no key ahead: verify and report */
    ETCDE__OP_DONE
};

typedef struct etcde__op {
    etcde_election *e;
    const char *call; /* "campaign", "lock", "observe": for messages */
    int observe;      /* an observe (else a campaign or lock) */
    int timeout_ms;
    etcde__wait w; /* the call's: deadline, cancel, session loss */
    const void *value;
    size_t len;
    int phase;
    int inplace;      /* blocking: the caller's thread steps it and waits in place */
    int exact;        /* one watcher per key (too many others in the range) */
    int stopped;      /* the watch's handler ended it (not a break nor a refresh) */
    int64_t gen;      /* e->released when the queue was entered */
    int64_t opened;   /* when the current watch was opened */
    int64_t retry_at; /* > 0: the next step is due then, not before */
    etcde_result r;   /* at ETCDE__OP_DONE */
    etcde__queue_pos pos;
    etcde__queue_watch q;
    etcde__observer ob;
    char *okey; /* observe: a copy of the leader's key, while it is watched */
    etcde__watch_spec ws;
    etcde__wsub sub; /* async: its place on the shared stream, while ETCDE__OP_WATCH */
    /* async calls: see the runner */
    etcde_done_fn done;
    void *user_data;
    struct etcde__op *prev, *next; /* in the runner's list */
    struct etcde__op *rnext;       /* in its queue of ops to step */
    int queued;                    /* on that queue */
    int handoff;                   /* needs a thread of its own: an HTTP watch */
    int abort_pipe[2];             /* on that thread: poked to end it */
    pthread_t thread;
    etcde_observe_fn ofn; /* callbacks_in_process: an observe's own fn and user data; */
    void *oud;            /* ob.fn queues each state for etcde_client_process */
    int ostop;            /* atomic: there, ofn asked to stop */
} etcde__op;

/* The window as a watch spec: the key range from the lowest window key to just past the
   highest (holding the own key), or, exact, the own key and each window key alone. */
static etcde_result etcde__op_window(etcde__op *op) {
    etcde_election *e = op->e;
    etcde__queue_watch *q = &op->q;
    etcde__watch_spec *ws = &op->ws;
    size_t ol = strlen(e->key), lol = ol, hil = ol;
    char *hi = NULL;
    const char *lo = e->key, *max = e->key;
    int i;
    etcde_result r;
    memset(q, 0, sizeof *q);
    if ((r = etcde__copy_window(e, &op->pos, q, &hi)) != ETCDE_OK) return r;
    q->first = op->pos.first && !op->exact;
    for (i = 0; i < q->n; i++) {
        if (etcde__key_less(q->ahead[i], q->alen[i], lo, lol)) lo = q->ahead[i], lol = q->alen[i];
        if (etcde__key_less(max, hil, q->ahead[i], q->alen[i])) max = q->ahead[i], hil = q->alen[i];
    }
    if (e->c->o.log && e->c->o.log_level >= ETCDE_LOG_DEBUG) {
        char q1[160], q2[160];
        etcde__log(e->c, ETCDE_LOG_DEBUG, "%s waits for %s%s to go (rev %lld)",
                   etcde__quote(q1, sizeof q1, e->key, ol),
                   etcde__quote(q2, sizeof q2, q->ahead[0], q->alen[0]),
                   q->n > 1 ? " or another key just ahead" : "", (long long)op->pos.rev);
    }
    memset(ws, 0, sizeof *ws);
    ws->start_rev = op->pos.rev + 1;
    ws->fn = etcde__on_queue_event;
    ws->ud = q;
    if (op->exact) { /* the window's keys and the own key, each exactly */
        ws->key = e->key;
        ws->klen = ol;
        ws->also = (const char *const *)q->ahead;
        ws->nalso = q->n;
    } else {
        memcpy(hi, max, hil);
        hi[hil] = 0;
        ws->key = lo; /* [lowest, highest + "\0"): deletes of all, and of any key between */
        ws->klen = lol;
        ws->range_end = hi;
        ws->relen = hil + 1;
        ws->noput = 1;
    }
    return ETCDE_OK;
}

/* A watch of the window ended with r: won, or read again -- after a pause if it failed
   (noted for a timeout's message) or ended too soon to be a reason (no busy loop). */
static etcde_result etcde__op_watched(etcde__op *op, etcde_result r) {
    etcde_election *e = op->e;
    int64_t now = etcde__now_ms();
    etcde__free(&e->c->al, op->q.ahead);
    etcde__free(&e->c->al, op->okey);
    op->q.ahead = NULL;
    op->okey = NULL;
    if (op->ob.stop || (r == ETCDE_OK && op->q.lead)) {
        op->phase = op->ob.stop ? ETCDE__OP_DONE : ETCDE__OP_WON;
        return ETCDE_OK;
    }
    if (op->q.noise >= ETCDE__QUEUE_NOISE_MAX) op->exact = 1;
    op->phase = op->observe ? ETCDE__OP_READ : ETCDE__OP_CHECK;
    op->pos.kvs = ETCDE__UNREAD;
    if (r && !etcde__transient(r)) return r;
    if (r) {
        snprintf(e->retried, sizeof e->retried, "%.200s", e->err.msg);
        op->retry_at = now + 500;
    } else if (!op->stopped && now - op->opened < 500) {
        op->retry_at = op->opened + 500;
    }
    return ETCDE_OK;
}

/* Watches the window: in place (blocking), or by taking a place on the shared stream. */
static etcde_result etcde__op_arm(etcde__op *op, const etcde__wait *sw) {
    etcde_election *e = op->e;
    etcde_result r = op->observe ? ETCDE_OK : etcde__op_window(op);
    int shared;
    if (r) return r;
    op->opened = etcde__now_ms();
    op->stopped = 0;
    if (op->inplace) {
        op->stopped = 1; /* etcde__watch paces its own re-reads */
        return etcde__op_watched(op, etcde__watch(e, &op->ws, &op->w));
    }
    shared = etcde__hub_attach(e->c, sw, &e->err);
    if (shared < 0) return etcde__op_watched(op, (etcde_result)shared);
    if (shared == 0) { /* an HTTP watch: it needs a thread to wait on it */
        etcde__free(&e->c->al, op->q.ahead);
        etcde__free(&e->c->al, op->okey); /* its thread reads and watches anew */
        op->q.ahead = NULL;
        op->okey = NULL;
        if (op->observe) op->phase = ETCDE__OP_READ;
        op->handoff = 1;
        return ETCDE_OK;
    }
    r = etcde__sub_open(e, &op->ws, &op->sub);
    op->phase = ETCDE__OP_WATCH;
    return r;
}

/* Reads what the shared stream brought the watch; the phase stays ETCDE__OP_WATCH until
   the watch ends. */
static etcde_result etcde__op_read(etcde__op *op) {
    etcde_election *e = op->e;
    etcde_result r = ETCDE_OK;
    int more = 1, got = 1, broken = 0;
    while (more && !r && (got = etcde__sub_take(e, &op->sub, &broken)) > 0)
        more = etcde__watch_msg(e, &op->ws, &r, &op->stopped);
    if (got < 0) r = (etcde_result)got;
    if (more && !r && !broken) return ETCDE_OK; /* nothing more yet */
    etcde__sub_close(e->c, &op->sub);
    return etcde__op_watched(op, r);
}

/* Ends the call with r: the message says why, and a key the call made goes (as
   etcde__abandon says). */
static void etcde__op_end(etcde__op *op, etcde_result r) {
    etcde_election *e = op->e;
    etcde_session *s = e->s;
    if (op->phase == ETCDE__OP_WATCH) etcde__sub_close(e->c, &op->sub);
    etcde__free(&e->c->al, op->q.ahead);
    etcde__free(&e->c->al, op->okey);
    op->q.ahead = NULL;
    op->okey = NULL;
    op->r = r;
    op->phase = ETCDE__OP_DONE;
    if (op->observe) {
        if (r == ETCDE_ERR_TIMEOUT && etcde__now_ms() >= op->w.deadline)
            etcde__fail(&e->err, r, "observe ended after %d ms%s%s", op->timeout_ms,
                        e->retried[0] ? "; last watch failure: " : "", e->retried);
        return;
    }
    if (r == ETCDE_ERR_SESSION_LOST && !etcde__alive(s))
        etcde__fail(&e->err, r, "%s", etcde_session_errmsg(s));
    else if (r == ETCDE_ERR_TIMEOUT && etcde__now_ms() >= op->w.deadline)
        etcde__fail(&e->err, r, "%s timed out after %d ms%s%s", op->call, op->timeout_ms,
                    e->retried[0] ? "; last watch failure: " : "", e->retried);
    else if (r == ETCDE_ERR_CANCELLED)
        etcde__fail(&e->err, r, "%s cancelled (etcde_client_cancel)", op->call);
    etcde__abandon(e, r);
}

/* What ends an async call between steps (a blocking one's wait has these as fds). */
static etcde_result etcde__op_interrupted(etcde__op *op) {
    etcde_election *e = op->e;
    if (etcde__cancelled(e->c))
        return etcde__fail(&e->err, ETCDE_ERR_CANCELLED, "cancelled by etcde_client_cancel");
    if (!op->observe && !etcde__alive(e->s))
        return etcde__fail(&e->err, ETCDE_ERR_SESSION_LOST, "the session was lost");
    if (etcde__now_ms() >= op->w.deadline)
        return etcde__fail(&e->err, ETCDE_ERR_TIMEOUT, "timed out");
    return ETCDE_OK;
}

/* An observe's read: who leads (at the revision of the event that ended the last watch,
   if any), reported unless it repeats; then what to watch from there. */
static etcde_result etcde__op_observe_read(etcde__op *op, const etcde__wait *sw) {
    etcde_election *e = op->e;
    etcde__observer *ob = &op->ob;
    etcde__json *j = &e->resp.j;
    etcde__watch_spec *ws = &op->ws;
    etcde_result r;
    int kvt;
    int64_t hdr;
    etcde_kv kv;
    etcde__buf_clear(&e->req);
    etcde__req_prefix_range(&e->req, e, "ASCEND", 1, 0, ob->at);
    r = etcde__call_retry(e->c, "/v3/kv/range", &e->req, &e->resp, sw, &e->err);
    if (r && ob->at > 0 && r != ETCDE_ERR_CANCELLED && r != ETCDE_ERR_TIMEOUT) {
        ob->at = 0; /* compacted already (or refused): the newest state will do */
        return ETCDE_OK;
    }
    if (r) return r;
    hdr = ob->at > 0 ? ob->at : etcde__jrev(j, etcde__jpath(j, 0, "header.revision"));
    ob->at = 0;
    if (hdr < 0)
        return etcde__fail(&e->err, ETCDE_ERR_JSON, "range reply without a valid revision");
    kvt = etcde__jpath(j, 0, "kvs.0");
    memset(ws, 0, sizeof *ws);
    ws->start_rev = hdr + 1;
    ws->ud = ob;
    if (kvt < 0) { /* nobody leads: any change in the election */
        etcde__observe_emit(ob, NULL, hdr);
        ws->key = e->prefix;
        ws->klen = e->plen;
        ws->range_end = e->range_end;
        ws->relen = e->relen;
        ws->fn = etcde__on_any_event;
    } else {
        if ((r = etcde__kv_from(j, kvt, &kv, &e->err)) != ETCDE_OK) return r;
        etcde__observe_emit(ob, &kv, hdr);
        if (ob->stop) { /* the callback stopped it: nothing to watch */
            op->phase = ETCDE__OP_DONE;
            return ETCDE_OK;
        }
        op->okey = (char *)etcde__alloc(&e->c->al, kv.key_len + 1);
        if (!op->okey) return etcde__fail(&e->err, ETCDE_ERR_NOMEM, "out of memory");
        memcpy(op->okey, kv.key, kv.key_len + 1);
        ws->key = op->okey; /* the leader's key alone */
        ws->klen = kv.key_len;
        ws->fn = etcde__on_leader_event;
    }
    op->phase = ob->stop ? ETCDE__OP_DONE : ETCDE__OP_ARM;
    return ETCDE_OK;
}

/* Steps the call until it ends, waits on the shared stream, has a retry due later, or
   needs a thread of its own. Requests block the stepping thread for one try at most: an
   async call retries transient failures through retry_at, a blocking one in place. */
static void etcde__op_step(etcde__op *op) {
    etcde_election *e = op->e;
    etcde__wait sw = op->w;
    etcde_result r = ETCDE_OK;
    sw.once = !op->inplace;
    op->retry_at = 0;
    if (ETCDE__LOAD(&op->ostop)) { /* its fn, in etcde_client_process, stopped it */
        etcde__op_end(op, ETCDE_OK);
        return;
    }
    while (!r && op->phase != ETCDE__OP_DONE && !op->retry_at && !op->handoff) {
        int phase = op->phase;
        if (!op->inplace && (r = etcde__op_interrupted(op)) != ETCDE_OK) break;
        switch (phase) {
        case ETCDE__OP_READ: r = etcde__op_observe_read(op, &sw); break;
        case ETCDE__OP_ENTER:
            op->gen = ETCDE__LOAD(&e->released);
            r = etcde__campaign_enter(e, op->value, op->len, &sw, &op->pos);
            if (!r)
                op->phase = op->pos.kvs == ETCDE__LEADS    ? ETCDE__OP_WON
                            : op->pos.kvs == ETCDE__UNREAD ? ETCDE__OP_CHECK
                                                           : ETCDE__OP_ARM;
            break;
        case ETCDE__OP_CHECK:
            r = etcde__campaign_check(e, &sw, &op->pos);
            if (!r) op->phase = op->pos.kvs == ETCDE__LEADS ? ETCDE__OP_WON : ETCDE__OP_ARM;
            break;
        case ETCDE__OP_ARM: r = etcde__op_arm(op, &sw); break;
        case ETCDE__OP_WATCH:
            r = etcde__op_read(op);
            if (!r && op->phase == ETCDE__OP_WATCH) { /* waits for news, */
                etcde__buf_free(&e->req);   /* its buffers given back meanwhile: a thousand */
                etcde__resp_free(&e->resp); /* waiting calls hold only what they need */
                return;
            }
            break;
        default: /* ETCDE__OP_WON */
            if (!etcde__alive(e->s)) {
                r = ETCDE_ERR_SESSION_LOST;
                break;
            }
            ETCDE__STORE(&e->leader, 1);
            e->fresh = ETCDE__KEY_OLD;
            if (ETCDE__LOAD(&e->released) == op->gen) {
                op->r = ETCDE_OK;
                op->phase = ETCDE__OP_DONE;
                return;
            }
            /* another handle on this key released it meanwhile: the key may be gone */
            ETCDE__STORE(&e->leader, 0);
            op->phase = ETCDE__OP_ENTER;
        }
        if (r && !op->inplace && etcde__transient(r) && phase != ETCDE__OP_WON &&
            etcde__now_ms() < op->w.deadline) {
            etcde__log(e->c, ETCDE_LOG_WARN, "%s: %s; retrying", op->call, e->err.msg);
            op->retry_at = etcde__now_ms() + 500;
            r = ETCDE_OK;
        }
    }
    if (r) etcde__op_end(op, r);
}

/* Runs the call on the calling thread to its end, pausing in place for its retries. */
static etcde_result etcde__op_drive(etcde__op *op) {
    while (op->phase != ETCDE__OP_DONE) {
        if (op->retry_at) {
            etcde__err serr;
            etcde_result r = etcde__sleep(&op->w, op->retry_at - etcde__now_ms(), &serr);
            op->retry_at = 0;
            if (r) {
                char last[sizeof serr.msg];
                memcpy(last, op->e->err.msg, sizeof last);
                etcde__fail(&op->e->err, r, "%s, while retrying after: %.300s", serr.msg, last);
                etcde__op_end(op, r);
                break;
            }
        }
        etcde__op_step(op);
    }
    return op->r;
}

/* A call's machine, at its start. */
static void etcde__op_init(etcde__op *op, etcde_election *e, const void *value, size_t len,
                           int timeout_ms, const char *call, int inplace) {
    memset(op, 0, sizeof *op);
    op->e = e;
    op->call = call;
    op->timeout_ms = timeout_ms;
    op->value = value;
    op->len = len;
    op->inplace = inplace;
    op->phase = ETCDE__OP_ENTER;
    op->abort_pipe[0] = op->abort_pipe[1] = -1;
    etcde__wait_for(&op->w, e, etcde__deadline(timeout_ms), 1);
    e->retried[0] = 0;
}

/* An observe's machine, at its start: its wait has no session (it needs none). */
static void etcde__op_init_observe(etcde__op *op, etcde_election *e, etcde_observe_fn fn,
                                   void *user_data, int timeout_ms, int inplace) {
    etcde__op_init(op, e, NULL, 0, timeout_ms, "observe", inplace);
    etcde__wait_init(&op->w, etcde__deadline(timeout_ms));
    etcde__wait_add(&op->w, e->c->cancel_pipe[0], ETCDE_ERR_CANCELLED);
    op->observe = 1;
    op->phase = ETCDE__OP_READ;
    op->ob.fn = fn;
    op->ob.user_data = user_data;
}

/* ---- runner ------------------------------------------------------------------------- */
/* The client's thread for async calls. It steps a call when its watch has news (the watch
   stream's reader queues it), when a retry or its deadline is due, and when the client is
   cancelled or a session lost; between steps a call holds no thread and no descriptor.
   A step blocks the runner for one request try at most. Callbacks run here, or inside
   etcde_client_process. A call whose endpoint refuses the WebSocket upgrade (or a client
   with a user) needs an HTTP watch: it goes on a thread of its own, as a blocking call.
   Lock order: the hub's mu, then the runner's. */

/* An observed state, copied for etcde_client_process (callbacks_in_process). */
typedef struct etcde__oev {
    struct etcde__oev *next;
    etcde__op *op;
    etcde_election *e;
    etcde_event_type type;
    int64_t rev;
    etcde_kv kv; /* its strings follow the struct */
} etcde__oev;

struct etcde__run {
    etcde_client *c;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a step, a callback or a call's thread ended */
    pthread_t thread;
    int live, stop;
    int wake[2];              /* news for the runner */
    int scan;                 /* atomic: look at every call now (a session was lost) */
    etcde__op *ops;           /* every call in flight, stepped here or on a thread */
    int nstepped;             /* of those, the ones stepped here */
    int nthreads;             /* calls on threads of their own */
    etcde__op *ready, *rtail; /* calls to step, in order */
    etcde__op *busy;          /* the call being stepped */
    etcde_election *calling;  /* whose callback runs now */
    pthread_t caller;         /* on which thread */
    int64_t next_due;         /* the earliest deadline or retry of the calls not queued */
    int done_wake[2];         /* callbacks_in_process: readable while callbacks wait */
    etcde__op *fin, *ftail;   /* ended calls whose callbacks wait for etcde_client_process */
    etcde__oev *evs, *etail;  /* observed states waiting for it, delivered before those */
};

static void etcde__run_nudge(etcde_client *c) {
    etcde__run *run = ETCDE__LOAD(&c->run);
    if (!run) return;
    ETCDE__STORE(&run->scan, 1);
    etcde__wake_poke(run->wake);
}

/* Under run->mu: the call is to be stepped. */
static void etcde__run_push(etcde__run *run, etcde__op *op) {
    if (op->queued) return;
    op->queued = 1;
    op->rnext = NULL;
    if (run->rtail)
        run->rtail->rnext = op;
    else
        run->ready = op;
    run->rtail = op;
    etcde__wake_poke(run->wake);
}

/* The shared stream has news for a call: called by its reader, under the hub's mu. */
static void etcde__op_woke(etcde__wsub *sub) {
    etcde__op *op = (etcde__op *)(void *)((char *)sub - offsetof(etcde__op, sub));
    etcde__run *run = ETCDE__LOAD(&op->e->c->run);
    pthread_mutex_lock(&run->mu);
    if (ETCDE__LOAD(&op->e->op) == op) etcde__run_push(run, op);
    pthread_mutex_unlock(&run->mu);
}

/* When a waiting call must be looked at, at the latest. */
static int64_t etcde__op_due(const etcde__op *op) {
    int64_t due = op->w.deadline,
            sd = op->observe ? ETCDE__NEVER : ETCDE__LOAD(&op->e->s->deadline);
    if (op->retry_at && op->retry_at < due) due = op->retry_at;
    return sd < due ? sd : due;
}

/* Under run->mu: off the queue of calls to step (the stream's reader may have queued it
   again while it was being stepped). */
static void etcde__run_unqueue(etcde__run *run, etcde__op *op) {
    etcde__op **pp;
    if (!op->queued) return;
    for (pp = &run->ready; *pp != op;) pp = &(*pp)->rnext;
    *pp = op->rnext;
    for (run->rtail = run->ready; run->rtail && run->rtail->rnext;) run->rtail = run->rtail->rnext;
    op->queued = 0;
}

/* Under run->mu: takes the call out of the runner's hands. */
static void etcde__run_unlink(etcde__run *run, etcde__op *op) {
    etcde__run_unqueue(run, op);
    if (op->prev)
        op->prev->next = op->next;
    else
        run->ops = op->next;
    if (op->next) op->next->prev = op->prev;
    if (!op->inplace) run->nstepped--;
    ETCDE__STORE(&op->e->op, (etcde__op *)NULL);
}

/* An observe's fn with callbacks_in_process, on the thread that steps it: a copy of
   the state waits for etcde_client_process. */
static int etcde__oev_queue(etcde_event_type type, const etcde_kv *kv, int64_t rev, void *ud) {
    etcde__op *op = (etcde__op *)ud;
    etcde_client *c = op->e->c;
    etcde__run *run = ETCDE__LOAD(&c->run);
    size_t kl = kv ? kv->key_len : 0, vl = kv ? kv->value_len : 0;
    etcde__oev *ev = (etcde__oev *)etcde__alloc(&c->al, sizeof *ev + kl + vl + 2);
    char *p;
    if (!ev) {
        op->r = etcde__fail(&op->e->err, ETCDE_ERR_NOMEM, "observe: out of memory for a state");
        return 1;
    }
    memset(ev, 0, sizeof *ev);
    ev->op = op;
    ev->e = op->e;
    ev->type = type;
    ev->rev = rev;
    if (kv) {
        ev->kv = *kv;
        p = (char *)(ev + 1);
        memcpy(p, kv->key, kl);
        p[kl] = 0;
        memcpy(p + kl + 1, kv->value, vl);
        p[kl + 1 + vl] = 0;
        ev->kv.key = p;
        ev->kv.value = p + kl + 1;
    }
    pthread_mutex_lock(&run->mu);
    if (run->etail)
        run->etail->next = ev;
    else
        run->evs = ev;
    run->etail = ev;
    etcde__wake_poke(run->done_wake);
    pthread_mutex_unlock(&run->mu);
    return 0;
}

/* Under run->mu: an observe's fn returned non-zero in etcde_client_process. The call
   ends with ETCDE_OK at its next step, taken now; states still queued are dropped. */
static void etcde__oev_stop(etcde__run *run, etcde__op *op) {
    ETCDE__STORE(&op->ostop, 1);
    if (ETCDE__LOAD(&op->e->op) != op) return; /* ended already */
    if (op->inplace)
        etcde__wake_poke(op->abort_pipe);
    else
        etcde__run_push(run, op);
}

/* Under run->mu: drops the queued states of e's calls. */
static void etcde__oev_forget(etcde_client *c, etcde__run *run, etcde_election *e) {
    etcde__oev **pp = &run->evs;
    run->etail = NULL;
    while (*pp) {
        etcde__oev *ev = *pp;
        if (!e || ev->e == e) {
            *pp = ev->next;
            etcde__free(&c->al, ev);
        } else {
            run->etail = ev;
            pp = &ev->next;
        }
    }
}

/* Under run->mu: takes an ended call off the runner and runs its callback (none when
   the handle is being destroyed), or leaves that to etcde_client_process. Returns with
   run->mu held; the op is freed or queued. */
static void etcde__run_deliver(etcde_client *c, etcde__run *run, etcde__op *op) {
    etcde_election *e = op->e;
    etcde__run_unlink(run, op);
    if (op->done && c->o.callbacks_in_process) {
        op->rnext = NULL;
        if (run->ftail)
            run->ftail->rnext = op;
        else
            run->fin = op;
        run->ftail = op;
        etcde__wake_poke(run->done_wake);
    } else if (op->done) {
        run->calling = e;
        run->caller = pthread_self();
        pthread_mutex_unlock(&run->mu);
        op->done(e, op->r, op->user_data);
        etcde__free(&c->al, op);
        pthread_mutex_lock(&run->mu);
        run->calling = NULL;
    } else {
        etcde__free(&c->al, op);
    }
    pthread_cond_broadcast(&run->cv);
}

/* A call that needs an HTTP watch, on a thread of its own: the rest of it runs as a
   blocking call would, ended early by a poke of its abort pipe (the handle's destroy). */
static void *etcde__op_thread(void *arg) {
    etcde__op *op = (etcde__op *)arg;
    etcde_client *c = op->e->c;
    etcde__run *run = ETCDE__LOAD(&c->run);
    etcde__wait_add(&op->w, op->abort_pipe[0], ETCDE_ERR_CANCELLED);
    etcde__op_drive(op);
    if (ETCDE__LOAD(&op->ostop) && op->done) { /* stopped by its fn, not destroyed */
        op->r = ETCDE_OK;
        etcde__fail(&op->e->err, ETCDE_OK, "%s", "");
    }
    pthread_mutex_lock(&run->mu);
    etcde__wake_close(op->abort_pipe); /* under mu: a destroy pokes it only while open */
    etcde__run_deliver(c, run, op);
    run->nthreads--;
    pthread_cond_broadcast(&run->cv);
    pthread_mutex_unlock(&run->mu);
    return NULL;
}

/* Under run->mu, after a step that asked for a thread. */
static void etcde__op_spawn(etcde_client *c, etcde__run *run, etcde__op *op) {
    pthread_attr_t at;
    int ok = etcde__wake_open(op->abort_pipe) == 0 && pthread_attr_init(&at) == 0;
    etcde__run_unqueue(run, op);
    op->handoff = 0;
    op->inplace = 1;
    run->nstepped--;
    if (ok) {
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        ok = pthread_create(&op->thread, &at, etcde__op_thread, op) == 0;
        pthread_attr_destroy(&at);
    }
    if (ok) {
        run->nthreads++;
        return;
    }
    etcde__wake_close(op->abort_pipe);
    pthread_mutex_unlock(&run->mu);
    etcde__fail(&op->e->err, ETCDE_ERR_NOMEM, "%s: no thread for an HTTP watch", op->call);
    etcde__op_end(op, ETCDE_ERR_NOMEM);
    pthread_mutex_lock(&run->mu);
    etcde__run_deliver(c, run, op);
}

/* Under run->mu: queues every call that must be looked at now, and notes when the next
   one must be. */
static void etcde__run_scan(etcde_client *c, etcde__run *run) {
    int64_t now = etcde__now_ms();
    int cancelled = etcde__cancelled(c);
    etcde__op *op;
    run->next_due = ETCDE__NEVER;
    for (op = run->ops; op; op = op->next) {
        int64_t due;
        if (op->queued || op->inplace) continue;
        due = etcde__op_due(op);
        if (cancelled || now >= due || (!op->observe && !etcde__alive(op->e->s)))
            etcde__run_push(run, op);
        else if (due < run->next_due)
            run->next_due = due;
    }
}

static void *etcde__run_main(void *arg) {
    etcde__run *run = (etcde__run *)arg;
    etcde_client *c = run->c;
    pthread_mutex_lock(&run->mu);
    while (!run->stop) {
        int64_t now = etcde__now_ms(), left;
        etcde__op *op;
        struct pollfd p[2];
        nfds_t nfds;
        if (__atomic_exchange_n(&run->scan, 0, __ATOMIC_ACQ_REL) || now >= run->next_due)
            etcde__run_scan(c, run);
        if ((op = run->ready) != NULL) {
            if (!(run->ready = op->rnext)) run->rtail = NULL;
            op->queued = 0;
            run->busy = op;
            pthread_mutex_unlock(&run->mu);
            etcde__op_step(op);
            pthread_mutex_lock(&run->mu);
            run->busy = NULL;
            pthread_cond_broadcast(&run->cv);
            if (op->phase == ETCDE__OP_DONE) {
                etcde__run_deliver(c, run, op);
            } else if (op->handoff) {
                etcde__op_spawn(c, run, op);
            } else {
                int64_t due = etcde__op_due(op);
                if (due < run->next_due) run->next_due = due;
            }
            continue;
        }
        /* the cancel pipe stays readable while cancelled: polled only while a call here
           can still end by it */
        p[0].fd = run->wake[0];
        p[1].fd = c->cancel_pipe[0];
        p[0].events = p[1].events = POLLIN;
        p[0].revents = p[1].revents = 0;
        left = run->next_due == ETCDE__NEVER ? -1 : ETCDE__MAX(run->next_due - now, 0);
        nfds = run->nstepped ? 2 : 1;
        pthread_mutex_unlock(&run->mu);
        if (poll(p, nfds, left > INT_MAX ? INT_MAX : (int)left) > 0) {
            etcde__wake_drain(run->wake);
            if (p[1].revents) ETCDE__STORE(&run->scan, 1);
        }
        pthread_mutex_lock(&run->mu);
    }
    pthread_mutex_unlock(&run->mu);
    return NULL;
}

/* The client's runner, started on first use. */
static etcde__run *etcde__run_get(etcde_client *c, etcde__err *err) {
    etcde__run *run;
    pthread_mutex_lock(&c->mu);
    if (!c->run && (run = (etcde__run *)etcde__alloc(&c->al, sizeof *run)) != NULL) {
        memset(run, 0, sizeof *run);
        run->c = c;
        run->next_due = ETCDE__NEVER;
        run->wake[0] = run->wake[1] = run->done_wake[0] = run->done_wake[1] = -1;
        if (etcde__wake_open(run->wake) == 0 &&
            (!c->o.callbacks_in_process || etcde__wake_open(run->done_wake) == 0)) {
            pthread_mutex_init(&run->mu, NULL);
            pthread_cond_init(&run->cv, NULL);
            if (pthread_create(&run->thread, NULL, etcde__run_main, run) == 0) {
                run->live = 1;
                ETCDE__STORE(&c->run, run);
            } else {
                pthread_cond_destroy(&run->cv);
                pthread_mutex_destroy(&run->mu);
            }
        }
        if (!run->live) {
            etcde__wake_close(run->wake);
            etcde__wake_close(run->done_wake);
            etcde__free(&c->al, run);
        }
    }
    run = c->run;
    pthread_mutex_unlock(&c->mu);
    if (!run) etcde__fail(err, ETCDE_ERR_NOMEM, "cannot start the runner thread of async calls");
    return run;
}

/* A handle's destroy: its async call ends without its callback (a key the call made
   goes), and a callback of it running on another thread is waited for. */
static void etcde__run_forget(etcde_election *e) {
    etcde__run *run = ETCDE__LOAD(&e->c->run);
    etcde__op *op, **pp;
    if (!run) return;
    pthread_mutex_lock(&run->mu);
    while ((run->calling == e && !pthread_equal(run->caller, pthread_self())) ||
           (run->busy && run->busy->e == e))
        pthread_cond_wait(&run->cv, &run->mu);
    if ((op = ETCDE__LOAD(&e->op)) != NULL && op->inplace) { /* on its own thread */
        op->done = NULL;
        etcde__wake_poke(op->abort_pipe);
        while (ETCDE__LOAD(&e->op) == op) pthread_cond_wait(&run->cv, &run->mu);
    } else if (op) {
        etcde__run_unlink(run, op); /* the stream's reader no longer queues it */
        pthread_mutex_unlock(&run->mu);
        etcde__fail(&e->err, ETCDE_ERR_CANCELLED, "the handle was destroyed");
        etcde__op_end(op, ETCDE_ERR_CANCELLED);
        etcde__free(&e->c->al, op);
        pthread_mutex_lock(&run->mu);
    }
    for (pp = &run->fin; *pp;) { /* ended, its callback not yet run */
        if ((*pp)->e == e) {
            etcde__op *f = *pp;
            *pp = f->rnext;
            etcde__free(&e->c->al, f);
        } else {
            pp = &(*pp)->rnext;
        }
    }
    for (run->ftail = run->fin; run->ftail && run->ftail->rnext;) run->ftail = run->ftail->rnext;
    etcde__oev_forget(e->c, run, e);
    pthread_mutex_unlock(&run->mu);
}

static void etcde__run_free(etcde_client *c) {
    etcde__run *run = c->run;
    if (!run) return;
    etcde__op *op;
    pthread_mutex_lock(&run->mu);
    run->stop = 1;
    etcde__wake_poke(run->wake);
    for (op = run->ops; op; op = op->next) /* handles left undestroyed: no callbacks */
        if ((op->done = NULL, op->inplace)) etcde__wake_poke(op->abort_pipe);
    while (run->nthreads) pthread_cond_wait(&run->cv, &run->mu);
    pthread_mutex_unlock(&run->mu);
    pthread_join(run->thread, NULL);
    etcde__oev_forget(c, run, NULL);
    while (run->fin) {
        etcde__op *f = run->fin;
        run->fin = f->rnext;
        etcde__free(&c->al, f);
    }
    etcde__wake_close(run->wake);
    etcde__wake_close(run->done_wake);
    pthread_cond_destroy(&run->cv);
    pthread_mutex_destroy(&run->mu);
    etcde__free(&c->al, run);
    c->run = NULL;
}

/* ---- public -------------------------------------------------------------------------- */

#define ETCDE__STR_ITEM(name, value, text) \
    case name: return text;
ETCDE__DEF const char *etcde_strerror(etcde_result r) {
    switch (r) {
        ETCDE__RESULTS(ETCDE__STR_ITEM)
    default: return "unknown error";
    }
}
#undef ETCDE__STR_ITEM

/* Splits "h:p,h:p" into endpoints ("http://" prefix, "[v6]:port", default port 2379).
   `from` names where the list came from, for the message. */
static etcde_result etcde__parse_endpoints(etcde_client *c, const char *list, const char *from,
                                           etcde__err *err) {
    const char *p = list;
    int n = 1;
    char q[160];
    for (; *p; p++) n += *p == ',';
    c->eps = (etcde__ep *)etcde__alloc(&c->al, sizeof(etcde__ep) * (size_t)n);
    if (!c->eps) return etcde__fail(err, ETCDE_ERR_NOMEM, "out of memory for %d endpoints", n);
    memset(c->eps, 0, sizeof(etcde__ep) * (size_t)n);
    c->eps_cap = n;
    for (p = list; *p;) {
        size_t len = strcspn(p, ","), hl;
        const char *s = p, *why = NULL;
        char tmp[256], *h = tmp, *port = NULL;
        etcde__ep *e = &c->eps[c->neps];
        p += len + (p[len] == ',');
        while (len && (*s == ' ' || *s == '\t')) s++, len--;
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '/')) len--;
        if (len == 0) continue;
        if (len > 7 && memcmp(s, "http://", 7) == 0)
            s += 7, len -= 7;
        else if (len > 8 && memcmp(s, "https://", 8) == 0 && c->tr.read)
            s += 8, len -= 8;
        else if (len >= 8 && memcmp(s, "https://", 8) == 0)
            why = "https:// needs a transport hook that speaks TLS (etcde_options.transport)";
        if (!why && (len == 0 || len >= sizeof tmp)) why = "empty or longer than 255 bytes";
        if (!why && memchr(s, '/', len)) why = "a scheme other than http:// or https://, or a path";
        if (!why && (memchr(s, ' ', len) || memchr(s, '\t', len)))
            why = "blanks inside (separate endpoints with commas)";
        if (!why) {
            memcpy(tmp, s, len);
            tmp[len] = 0;
            if (*h == '[') { /* [v6]:port */
                char *rb = strchr(h, ']');
                if (!rb || (rb[1] && rb[1] != ':'))
                    why = "an IPv6 address needs the form [addr]:port";
                else {
                    *rb = 0;
                    h++;
                    if (rb[1]) port = rb + 2;
                }
            } else {
                char *colon = strrchr(h, ':');
                if (colon && strchr(h, ':') != colon)
                    why = "an IPv6 address needs the form [addr]:port";
                else if (colon)
                    *colon = 0, port = colon + 1;
            }
        }
        if (!why && !port) port = (char *)"2379";
        if (!why &&
            (!*h || !*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) ||
             atoi(port) < 1 || atoi(port) > 65535))
            why = *h ? "the port is not a number in 1..65535" : "no host";
        if (why) {
            char ql[160];
            etcde__quote(ql, sizeof ql, list, 100);
            return etcde__fail(err, ETCDE_ERR_INVALID_ARGS,
                               "bad endpoint \"%s\" in \"%s\" (from %s): %s",
                               etcde__quote(q, sizeof q, s, ETCDE__MIN(len, 100)), ql, from, why);
        }
        hl = strlen(h);
        strcpy(e->port, port);
        e->host = etcde__strdup(&c->al, h);
        e->hostport = (char *)etcde__alloc(&c->al, hl + 16);
        if (!e->host || !e->hostport) return etcde__fail(err, ETCDE_ERR_NOMEM, "out of memory");
        snprintf(e->hostport, hl + 16, strchr(h, ':') ? "[%s]:%s" : "%s:%s", h, e->port);
        c->neps++;
    }
    if (!c->neps)
        return etcde__fail(err, ETCDE_ERR_INVALID_ARGS, "no endpoint in \"%s\" (from %s)",
                           etcde__quote(q, sizeof q, list, 100), from);
    return ETCDE_OK;
}

/* The calling thread's last creation failure: a thread-local buffer, so that threads
   creating objects on one client never read each other's half-written message. */
#if defined(__GNUC__) || defined(__clang__)
#define ETCDE__TLS __thread
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__STDC_NO_THREADS__)
#define ETCDE__TLS _Thread_local
#elif defined(_MSC_VER)
#define ETCDE__TLS __declspec(thread)
#else
#define ETCDE__TLS /* none: the message is shared by all threads */
#endif
static ETCDE__TLS char etcde__create_err[sizeof(((etcde__err *)0)->msg)];

static etcde_result etcde__create_fail(const etcde__err *err) {
    snprintf(etcde__create_err, sizeof etcde__create_err, "%s", err->msg);
    return err->code;
}

static etcde_result etcde__create_error(etcde_result code, const char *msg) {
    etcde__err err;
    return etcde__create_fail((etcde__fail(&err, code, "%s", msg), &err));
}

ETCDE__DEF void etcde_client_destroy(etcde_client *c) {
    int i;
    if (!c) return;
    etcde__run_free(c);
    etcde__hub_free(c);
    etcde__ka_free(c);
    while (c->idle) {
        etcde__conn *cn = c->idle;
        c->idle = cn->next;
        etcde__conn_close(c, cn);
    }
    for (i = 0; c->eps && i < c->eps_cap; i++) {
        etcde__free(&c->al, c->eps[i].host);
        etcde__free(&c->al, c->eps[i].hostport);
    }
    etcde__free(&c->al, c->eps);
    if (c->password) memset(c->password, 0, strlen(c->password));
    etcde__free(&c->al, c->user);
    etcde__free(&c->al, c->password);
    etcde__free(&c->al, c->token);
    etcde__pipe_close(c->cancel_pipe);
    pthread_mutex_destroy(&c->mu);
    etcde__free(&c->al, c);
}

ETCDE__DEF etcde_result etcde_client_create(const etcde_options *opts, etcde_client **out) {
    etcde_options o;
    etcde_allocator al;
    etcde_client *c;
    const char *eps, *from = "etcde_options.endpoints";
    etcde__err err;
    etcde_result r = ETCDE_OK;
    if (!out) return etcde__create_error(ETCDE_ERR_INVALID_ARGS, "client: out is NULL");
    *out = NULL;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (!o.allocator.alloc_fn != !o.allocator.free_fn)
        r = etcde__fail(&err, ETCDE_ERR_INVALID_ARGS,
                        "client: the allocator needs both alloc_fn and free_fn");
    else if (o.dial_timeout_ms < 0 || o.request_timeout_ms < 0 || o.max_json_tokens < 0)
        r = etcde__fail(&err, ETCDE_ERR_INVALID_ARGS,
                        "client: negative dial_timeout_ms, request_timeout_ms or "
                        "max_json_tokens");
    else if (o.transport && (!o.transport->open || !o.transport->read || !o.transport->write))
        r = etcde__fail(&err, ETCDE_ERR_INVALID_ARGS,
                        "client: the transport needs open, read and write");
    if (r) return etcde__create_fail(&err);
    al = o.allocator;
    if (!al.alloc_fn) {
        al.alloc_fn = etcde__default_alloc;
        al.free_fn = etcde__default_free;
    }
    c = (etcde_client *)etcde__alloc(&al, sizeof *c);
    if (!c) return etcde__create_error(ETCDE_ERR_NOMEM, "client: out of memory");
    memset(c, 0, sizeof *c);
    c->al = al;
    c->cancel_pipe[0] = c->cancel_pipe[1] = -1;
    c->rd = etcde__sock_read;
    pthread_mutex_init(&c->mu, NULL);
    if (!o.dial_timeout_ms) o.dial_timeout_ms = 2000;
    if (!o.request_timeout_ms) o.request_timeout_ms = 5000;
    if (!o.max_request_bytes) o.max_request_bytes = (size_t)3 << 19; /* 1.5 MiB */
    if (o.max_request_bytes > (size_t)1 << 28) o.max_request_bytes = (size_t)1 << 28;
    if (!o.max_response_bytes) o.max_response_bytes = 3 * o.max_request_bytes + ((size_t)64 << 10);
    if (o.max_response_bytes > (size_t)1 << 30) o.max_response_bytes = (size_t)1 << 30;
    if (!o.max_json_tokens) o.max_json_tokens = 65536;
    if (!o.log_level) o.log_level = ETCDE_LOG_WARN;
    if (o.transport) {
        c->tr = *o.transport;
        o.transport = NULL;
    }
    eps = o.endpoints;
    if (!eps || !*eps) eps = getenv("ETCDCTL_ENDPOINTS"), from = "$ETCDCTL_ENDPOINTS";
    if (!eps || !*eps) eps = "127.0.0.1:2379", from = "the default";
    r = etcde__parse_endpoints(c, eps, from, &err);
    if (r == ETCDE_OK && o.user && *o.user) {
        const char *colon = strchr(o.user, ':');
        c->user = etcde__strdup(&al, o.user);
        if (c->user && colon) {
            c->user[colon - o.user] = 0;
            c->password = etcde__strdup(&al, colon + 1);
        } else if (c->user) {
            c->password = etcde__strdup(&al, o.password ? o.password : "");
        }
        if (!c->user || !c->password)
            r = etcde__fail(&err, ETCDE_ERR_NOMEM, "client: out of memory");
    }
    if (r == ETCDE_OK && etcde__pipe(c->cancel_pipe) != 0)
        r = etcde__fail(&err, ETCDE_ERR_IO, "client: pipe: out of file descriptors");
    o.endpoints = NULL; /* our copies live in eps/user/password */
    o.user = o.password = NULL;
    c->o = o;
    if (r) {
        etcde_client_destroy(c);
        return etcde__create_fail(&err);
    }
    *out = c;
    return ETCDE_OK;
}

ETCDE__DEF void etcde_client_cancel(etcde_client *c) {
    if (c) etcde__pipe_poke(c->cancel_pipe[1]);
}

ETCDE__DEF void etcde_client_uncancel(etcde_client *c) {
    char b[64];
    if (!c) return;
    while (read(c->cancel_pipe[0], b, sizeof b) > 0) {}
}

ETCDE__DEF const char *etcde_client_errmsg(const etcde_client *c) {
    (void)c;
    return etcde__create_err;
}

/* ---- public: session ----------------------------------------------------------------- */

ETCDE__DEF etcde_result etcde_session_create(etcde_client *c, const etcde_session_options *opts,
                                             etcde_session **out) {
    etcde_session_options so;
    etcde_session *s;
    etcde__wait w;
    etcde__err err;
    etcde__buf req;
    etcde__resp resp;
    etcde_result r;
    int64_t sent, ttl = 0;
    if (!c || !out)
        return etcde__create_error(ETCDE_ERR_INVALID_ARGS, "session: client or out is NULL");
    *out = NULL;
    if (opts)
        so = *opts;
    else
        memset(&so, 0, sizeof so);
    if (etcde__cancelled(c)) /* a reply already buffered would never reach the poll */
        return etcde__create_error(ETCDE_ERR_CANCELLED,
                                   "session: the client is cancelled (etcde_client_cancel; "
                                   "etcde_client_uncancel clears it)");
    if (so.ttl_s < 0 || so.guard_ms < 0 || so.lease_id < 0)
        return etcde__create_error(ETCDE_ERR_INVALID_ARGS,
                                   "session: negative ttl_s, guard_ms or lease_id");
    s = (etcde_session *)etcde__alloc(&c->al, sizeof *s);
    if (!s) return etcde__create_error(ETCDE_ERR_NOMEM, "out of memory");
    memset(s, 0, sizeof *s);
    s->c = c;
    pthread_mutex_init(&s->mu, NULL);
    s->on_lost = so.on_lost;
    s->user_data = so.user_data;
    s->lost_pipe[0] = s->lost_pipe[1] = -1;
    if (etcde__pipe(s->lost_pipe)) {
        etcde__session_free(s);
        etcde__fail(&err, ETCDE_ERR_IO, "pipe: out of file descriptors");
        return etcde__create_fail(&err);
    }
    etcde__buf_init(&req, &c->al, 1024);
    etcde__resp_init(&resp, c);
    etcde__wait_init(&w, ETCDE__NEVER);
    etcde__wait_add(&w, c->cancel_pipe[0], ETCDE_ERR_CANCELLED);
    sent = etcde__now_ms();
    if (so.lease_id) {
        s->lease = so.lease_id;
        r = etcde__renew_plain(c, s->lease, &w, sent + c->o.request_timeout_ms, &req, &resp, &ttl,
                               &err);
        if (r == ETCDE_OK && ttl <= 0)
            r = etcde__fail(&err, ETCDE_ERR_SESSION_LOST,
                            "lease %llx does not exist (expired or revoked)",
                            (unsigned long long)so.lease_id);
    } else {
        etcde__buf_str(&req, "{\"TTL\":\"");
        etcde__buf_i64(&req, so.ttl_s ? so.ttl_s : 60);
        etcde__buf_str(&req, "\"}");
        r = etcde__call(c, "/v3/lease/grant", &req, &resp, &w, &err);
        if (r == ETCDE_OK) {
            s->lease = etcde__jint(&resp.j, etcde__jget(&resp.j, 0, "ID"), 0);
            ttl = etcde__jint(&resp.j, etcde__jget(&resp.j, 0, "TTL"), 0);
            if (s->lease <= 0 || ttl <= 0)
                r = etcde__fail(&err, ETCDE_ERR_ETCD, "lease grant reply without ID or TTL");
        }
    }
    etcde__buf_free(&req);
    etcde__resp_free(&resp);
    if (r) {
        etcde__session_free(s);
        return etcde__create_fail(&err);
    }
    s->ttl = ETCDE__MIN(ttl, ETCDE__MAX_TTL_S);
    s->guard_ms = so.guard_ms ? so.guard_ms : ETCDE__MIN(ETCDE__MAX(s->ttl * 100, 100), 1000);
    if (s->guard_ms > s->ttl * 500) s->guard_ms = s->ttl * 500; /* at most half the TTL */
    s->deadline = sent + s->ttl * 1000 - s->guard_ms;
    if (etcde__ka_add(c, s, &err) != ETCDE_OK) {
        etcde__err rerr;
        etcde__session_stop(s, 1, &rerr);
        etcde__session_free(s);
        return etcde__create_fail(&err);
    }
    *out = s;
    return ETCDE_OK;
}

ETCDE__DEF etcde_result etcde_session_close(etcde_session *s) {
    etcde__err err;
    return s ? etcde__session_stop(s, 1, &err) : ETCDE_ERR_INVALID_ARGS;
}

ETCDE__DEF void etcde_session_destroy(etcde_session *s) {
    etcde__err err;
    if (!s) return;
    etcde__session_stop(s, 1, &err);
    etcde__session_free(s);
}

ETCDE__DEF void etcde_session_orphan(etcde_session *s) {
    etcde__err err;
    if (!s) return;
    etcde__session_stop(s, 0, &err);
    etcde__session_free(s);
}

ETCDE__DEF int64_t etcde_session_lease(const etcde_session *s) { return s ? s->lease : 0; }
ETCDE__DEF int etcde_session_ttl(const etcde_session *s) {
    return s ? (int)ETCDE__MIN(s->ttl, INT_MAX) : 0;
}

ETCDE__DEF int64_t etcde_session_remaining_ms(const etcde_session *s) {
    int64_t left;
    if (!s || ETCDE__LOAD(&s->lost)) return 0;
    left = ETCDE__LOAD(&s->deadline) - etcde__now_ms();
    return left > 0 ? left : 0;
}

ETCDE__DEF int etcde_session_fd(const etcde_session *s) { return s ? s->lost_pipe[0] : -1; }

ETCDE__DEF const char *etcde_session_errmsg(const etcde_session *s) {
    if (!s) return "";
    if (ETCDE__LOAD(&s->close_failed)) return s->close_err.msg;
    if (ETCDE__LOAD(&s->lost)) return s->lost_err.msg;
    if (etcde__now_ms() >= ETCDE__LOAD(&s->deadline))
        return "session lost: local lease deadline passed";
    return "";
}

/* ---- public: election ---------------------------------------------------------------- */

ETCDE__DEF etcde_result etcde_election_create(etcde_client *c, etcde_session *s, const char *name,
                                              etcde_election **out) {
    etcde_election *e;
    etcde__err err;
    size_t n;
    if (!c || !name || !out)
        return etcde__create_error(ETCDE_ERR_INVALID_ARGS, "election: client, name or out is NULL");
    *out = NULL;
    e = (etcde_election *)etcde__alloc(&c->al, sizeof *e);
    if (!e) return etcde__create_error(ETCDE_ERR_NOMEM, "out of memory");
    memset(e, 0, sizeof *e);
    e->c = c;
    e->s = s;
    n = strlen(name);
    e->plen = n + 1;
    e->prefix = (char *)etcde__alloc(&c->al, n + 2);
    e->range_end = (char *)etcde__alloc(&c->al, n + 2);
    e->key = (char *)etcde__alloc(&c->al, n + 20); /* NAME/ + 16 hex digits + NUL */
    etcde__buf_init(&e->req, &c->al, 2 * c->o.max_request_bytes + ((size_t)64 << 10));
    etcde__resp_init(&e->resp, c);
    if (!e->prefix || !e->range_end || !e->key) {
        etcde_election_destroy(e);
        etcde__fail(&err, ETCDE_ERR_NOMEM, "out of memory");
        return etcde__create_fail(&err);
    }
    memcpy(e->prefix, name, n);
    e->prefix[n] = '/';
    e->prefix[n + 1] = 0;
    memcpy(e->range_end, e->prefix, n + 2);
    e->range_end[n] = '/' + 1; /* the prefix ends in '/', so no 0xff carry is needed */
    e->relen = n + 1;
    e->key[0] = 0;
    if (s) {
        pthread_mutex_lock(&s->mu);
        e->next_handle = s->handles;
        s->handles = e;
        pthread_mutex_unlock(&s->mu);
    }
    *out = e;
    return ETCDE_OK;
}

ETCDE__DEF void etcde_election_destroy(etcde_election *e) {
    if (!e) return;
    etcde__run_forget(e);
    if (e->s) {
        etcde_election **pp;
        pthread_mutex_lock(&e->s->mu);
        for (pp = &e->s->handles; *pp; pp = &(*pp)->next_handle)
            if (*pp == e) {
                *pp = e->next_handle;
                break;
            }
        pthread_mutex_unlock(&e->s->mu);
    }
    etcde__free(&e->c->al, e->prefix);
    etcde__free(&e->c->al, e->range_end);
    etcde__free(&e->c->al, e->key);
    etcde__buf_free(&e->req);
    etcde__resp_free(&e->resp);
    etcde__free(&e->c->al, e);
}

/* Checks common to calls on a handle: not from inside its own callback (the call would
   reuse the buffers the callback's data points into), not cancelled. */
static etcde_result etcde__begin(etcde_election *e, const char *call, int cancellable) {
    if (ETCDE__LOAD(&e->op)) { /* e->err is the call's until its callback: say it per thread */
        char msg[160];
        snprintf(msg, sizeof msg,
                 "%s: an async call on this handle has not ended (its callback has not run)", call);
        return etcde__create_error(ETCDE_ERR_STATE, msg);
    }
    if (e->busy)
        return etcde__fail(&e->err, ETCDE_ERR_STATE,
                           "%s: called from inside a callback on the same handle "
                           "(use another handle for nested calls)",
                           call);
    if (cancellable && etcde__cancelled(e->c))
        return etcde__fail(&e->err, ETCDE_ERR_CANCELLED,
                           "%s: the client is cancelled (etcde_client_cancel; "
                           "etcde_client_uncancel clears it)",
                           call);
    return ETCDE_OK;
}

/* A write's failure after its request may have gone out: say that it may have been
   applied, and how to tell. */
static etcde_result etcde__ambiguous(etcde_election *e, etcde_result r, const char *what) {
    char msg[sizeof e->err.msg];
    if (r == ETCDE_ERR_ETCD || r == ETCDE_ERR_AUTH || r == ETCDE_ERR_NOT_LEADER)
        return r; /* etcd refused it */
    if (r == ETCDE_ERR_SESSION_LOST && etcde__alive(e->s))
        return r; /* etcd's "lease not found" reply */
    if (r == ETCDE_ERR_SESSION_LOST && !etcde__alive(e->s))
        snprintf(msg, sizeof msg, "%s", etcde_session_errmsg(e->s));
    else
        snprintf(msg, sizeof msg, "%s", e->err.msg);
    return etcde__fail(&e->err, r,
                       "%.300s; the %s may or may not have been applied (read it back to tell)",
                       msg, what);
}

/* Before a key is put up: the session is alive, and the campaign txn -- which names the
   own key 3 times and the prefix 4 times -- fits etcd's request limit. */
static etcde_result etcde__can_enter(etcde_election *e, const char *call, size_t len) {
    if (!etcde__alive(e->s))
        return etcde__fail(&e->err, ETCDE_ERR_SESSION_LOST, "%s", etcde_session_errmsg(e->s));
    return etcde__fits(e, call, 3 * (e->plen + 16) + 4 * e->plen, len);
}

/* The campaign proper, for campaign and lock, on the calling thread. */
static etcde_result etcde__campaign_run(etcde_election *e, const void *value, size_t len,
                                        int timeout_ms, const char *call) {
    etcde__op op;
    etcde__op_init(&op, e, value, len, timeout_ms, call, 1);
    return etcde__op_drive(&op);
}

/* What a campaign checks before it starts: its arguments, a session, the handle free,
   room in etcd's request limit. */
static etcde_result etcde__campaign_can(etcde_election *e, const void *value, size_t len) {
    etcde_result r;
    if (!value && len)
        return etcde__fail(&e->err, ETCDE_ERR_INVALID_ARGS,
                           "campaign: value is NULL but len is not 0");
    if (!e->s)
        return etcde__fail(&e->err, ETCDE_ERR_STATE,
                           "campaign needs an election created with a session");
    if ((r = etcde__begin(e, "campaign", 1)) != ETCDE_OK) return r;
    return etcde__can_enter(e, "campaign", len);
}

ETCDE__DEF etcde_result etcde_campaign(etcde_election *e, const void *value, size_t len,
                                       int timeout_ms) {
    etcde_result r;
    if (!e) return ETCDE_ERR_INVALID_ARGS;
    if ((r = etcde__campaign_can(e, value, len)) != ETCDE_OK) return r;
    e->busy = 1;
    e->lock = 0;
    e->slots = 1;
    r = etcde__campaign_run(e, value, len, timeout_ms, "campaign");
    e->busy = 0;
    return r;
}

ETCDE__DEF etcde_result etcde_proclaim(etcde_election *e, const void *value, size_t len) {
    etcde__txn t;
    char q[160];
    etcde__wait w;
    etcde_result r;
    if (!e) return ETCDE_ERR_INVALID_ARGS;
    if (!value && len)
        return etcde__fail(&e->err, ETCDE_ERR_INVALID_ARGS,
                           "proclaim: value is NULL but len is not 0");
    if ((r = etcde__begin(e, "proclaim", 1)) != ETCDE_OK) return r;
    if (!etcde_is_leader(e))
        return etcde__fail(&e->err, ETCDE_ERR_NOT_LEADER,
                           "proclaim: not the leader; nothing was sent");
    if ((r = etcde__fits(e, "proclaim", 2 * strlen(e->key), len)) != ETCDE_OK) return r;
    etcde__wait_for(&w, e, etcde__now_ms() + e->c->o.request_timeout_ms, 1);
    etcde__txn_start(&t, &e->req);
    etcde__txn_cmp_create(&t, e->key, e->rev);
    etcde__txn_list(&t, "success");
    etcde__txn_put(&t, e->key, value, len, e->s->lease);
    etcde__txn_end(&t);
    r = etcde__call(e->c, "/v3/kv/txn", &e->req, &e->resp, &w, &e->err);
    if (r) return etcde__ambiguous(e, r, "new value");
    if (!etcde__jtrue(&e->resp.j, etcde__jget(&e->resp.j, 0, "succeeded"))) {
        etcde__release_all(e);
        return etcde__fail(&e->err, ETCDE_ERR_NOT_LEADER,
                           "proclaim: key %s is gone (lease expired or key deleted); "
                           "nothing was written",
                           etcde__qkey(e, q, sizeof q, 0));
    }
    return ETCDE_OK;
}

ETCDE__DEF etcde_result etcde_resign(etcde_election *e) {
    etcde_result r;
    if (!e) return ETCDE_ERR_INVALID_ARGS;
    if ((r = etcde__begin(e, "resign", 0)) != ETCDE_OK) return r;
    etcde__release_all(e);
    if (!e->key[0]) return ETCDE_OK;
    if (e->s && !etcde__alive(e->s)) { /* the key goes (or went) with the lease */
        etcde__forget_key(e);
        return ETCDE_OK;
    }
    r = etcde__delete_own(e, e->c->o.request_timeout_ms, NULL, &e->err);
    if (r) etcde__ambiguous(e, r, "delete of the own key");
    return r;
}

ETCDE__DEF etcde_result etcde_leader(etcde_election *e, etcde_kv *out) {
    char q[160];
    etcde__wait w;
    etcde_result r;
    int kv;
    if (!e) return ETCDE_ERR_INVALID_ARGS;
    if (!out) return etcde__fail(&e->err, ETCDE_ERR_INVALID_ARGS, "leader: out is NULL");
    if ((r = etcde__begin(e, "leader", 1)) != ETCDE_OK) return r;
    etcde__wait_init(&w, etcde__now_ms() + e->c->o.request_timeout_ms);
    etcde__wait_add(&w, e->c->cancel_pipe[0], ETCDE_ERR_CANCELLED);
    etcde__buf_clear(&e->req);
    etcde__req_prefix_range(&e->req, e, "ASCEND", 1, 0, 0);
    r = etcde__call(e->c, "/v3/kv/range", &e->req, &e->resp, &w, &e->err);
    if (r == ETCDE_ERR_TIMEOUT)
        return etcde__fail(&e->err, r,
                           "leader: timed out, no reply within request_timeout_ms (%d ms)",
                           e->c->o.request_timeout_ms);
    if (r) return r;
    kv = etcde__jpath(&e->resp.j, 0, "kvs.0");
    if (kv < 0) {
        memset(out, 0, sizeof *out);
        return etcde__fail(&e->err, ETCDE_ERR_NO_LEADER, "election %s has no leader",
                           etcde__qkey(e, q, sizeof q, 1));
    }
    return etcde__kv_from(&e->resp.j, kv, out, &e->err);
}

ETCDE__DEF etcde_result etcde_observe(etcde_election *e, etcde_observe_fn fn, void *user_data,
                                      int timeout_ms) {
    etcde__op op;
    etcde_result r;
    if (!e) return ETCDE_ERR_INVALID_ARGS;
    if (!fn) return etcde__fail(&e->err, ETCDE_ERR_INVALID_ARGS, "observe: fn is NULL");
    if ((r = etcde__begin(e, "observe", 1)) != ETCDE_OK) return r;
    e->busy = 1;
    etcde__op_init_observe(&op, e, fn, user_data, timeout_ms, 1);
    r = etcde__op_drive(&op);
    e->busy = 0;
    return r;
}

ETCDE__DEF int etcde_is_leader(const etcde_election *e) {
    return e && ETCDE__LOAD(&e->leader) && etcde__alive(e->s);
}

ETCDE__DEF const char *etcde_election_key(const etcde_election *e) { return e ? e->key : ""; }
ETCDE__DEF int64_t etcde_election_rev(const etcde_election *e) {
    return e ? ETCDE__LOAD(&e->rev) : 0;
}
ETCDE__DEF const char *etcde_election_errmsg(const etcde_election *e) {
    return e ? e->err.msg : "";
}

/* ---- public: fenced writes ----------------------------------------------------------- */

/* put (value != NULL) or delete `key`, if the own key still has create revision e->rev. */
static etcde_result etcde__fenced_write(etcde_election *e, const char *key, const void *value,
                                        size_t len, int put, const char *role) {
    etcde__txn t;
    char q[160];
    etcde__wait w;
    etcde_result r;
    if (!key || (put && !value && len))
        return etcde__fail(&e->err, ETCDE_ERR_INVALID_ARGS, "fenced %s: %s", put ? "put" : "delete",
                           key ? "value is NULL but len is not 0" : "key is NULL");
    if ((r = etcde__begin(e, put ? "fenced put" : "fenced delete", 1)) != ETCDE_OK) return r;
    if (!etcde_is_leader(e))
        return etcde__fail(&e->err, ETCDE_ERR_NOT_LEADER,
                           "write refused: this %s does not hold its key; "
                           "nothing was sent",
                           role);
    if ((r = etcde__fits(e, put ? "fenced put" : "fenced delete", strlen(e->key) + strlen(key),
                         len)) != ETCDE_OK)
        return r;
    etcde__wait_for(&w, e, etcde__now_ms() + e->c->o.request_timeout_ms, 1);
    etcde__txn_start(&t, &e->req);
    etcde__txn_cmp_create(&t, e->key, e->rev);
    etcde__txn_list(&t, "success");
    if (put)
        etcde__txn_put(&t, key, value, len, 0);
    else
        etcde__txn_key_op(&t, "request_delete_range", key);
    etcde__txn_end(&t);
    r = etcde__call(e->c, "/v3/kv/txn", &e->req, &e->resp, &w, &e->err);
    if (r) return etcde__ambiguous(e, r, put ? "put" : "delete");
    if (!etcde__jtrue(&e->resp.j, etcde__jget(&e->resp.j, 0, "succeeded"))) {
        etcde__release_all(e);
        return etcde__fail(&e->err, ETCDE_ERR_NOT_LEADER,
                           "write refused by etcd: key %s is gone, this %s no "
                           "longer holds it; nothing was written",
                           etcde__qkey(e, q, sizeof q, 0), role);
    }
    return ETCDE_OK;
}

ETCDE__DEF etcde_result etcde_election_put(etcde_election *e, const char *key, const void *value,
                                           size_t len) {
    return e ? etcde__fenced_write(e, key, value, len, 1, e->lock ? "lock holder" : "leader")
             : ETCDE_ERR_INVALID_ARGS;
}

ETCDE__DEF etcde_result etcde_election_delete(etcde_election *e, const char *key) {
    return e ? etcde__fenced_write(e, key, NULL, 0, 0, e->lock ? "lock holder" : "leader")
             : ETCDE_ERR_INVALID_ARGS;
}

/* ---- public: locks ------------------------------------------------------------------- */
/* A lock is an election whose candidates propose the empty value: same queue, same
   predecessor wait, same own-key verification, same fencing. */

/* What a lock checks before it starts; *held: it is held already (a lock is re-entrant). */
static etcde_result etcde__lock_can(etcde_election *e, int n, int *held) {
    etcde_result r;
    *held = 0;
    if (n < 1 || n > ETCDE_MAX_HOLDERS)
        return etcde__fail(&e->err, ETCDE_ERR_INVALID_ARGS,
                           "lock: the holder count must be 1..%d, not %d", ETCDE_MAX_HOLDERS, n);
    if (!e->s)
        return etcde__fail(&e->err, ETCDE_ERR_STATE, "lock needs a handle created with a session");
    if ((r = etcde__begin(e, "lock", 1)) != ETCDE_OK) return r;
    if ((*held = etcde_is_leader(e)) != 0) return ETCDE_OK;
    return etcde__can_enter(e, "lock", 0);
}

ETCDE__DEF etcde_result etcde_lock_n(etcde_election *e, int n, int timeout_ms) {
    etcde_result r;
    int held;
    if (!e) return ETCDE_ERR_INVALID_ARGS;
    if ((r = etcde__lock_can(e, n, &held)) != ETCDE_OK || held) return r;
    e->busy = 1;
    e->lock = 1;
    e->slots = n;
    r = etcde__campaign_run(e, "", 0, timeout_ms, "lock");
    e->busy = 0;
    return r;
}

ETCDE__DEF etcde_result etcde_lock(etcde_election *e, int timeout_ms) {
    return etcde_lock_n(e, 1, timeout_ms);
}

ETCDE__DEF etcde_result etcde_trylock(etcde_election *e) {
    etcde__wait w;
    etcde_result r;
    etcde__queue_pos pos;
    if (!e) return ETCDE_ERR_INVALID_ARGS;
    if (!e->s)
        return etcde__fail(&e->err, ETCDE_ERR_STATE,
                           "trylock needs a handle created with a session");
    if ((r = etcde__begin(e, "trylock", 1)) != ETCDE_OK) return r;
    if (etcde_is_leader(e)) return ETCDE_OK; /* held: re-entrant */
    if ((r = etcde__can_enter(e, "trylock", 0)) != ETCDE_OK) return r;
    e->busy = 1;
    e->lock = 1;
    e->slots = 1;
    etcde__wait_for(&w, e, etcde__now_ms() + e->c->o.request_timeout_ms, 1);
    r = etcde__campaign_enter(e, "", 0, &w, &pos);
    if (r == ETCDE_OK && pos.kvs == ETCDE__UNREAD) r = etcde__campaign_check(e, &w, &pos);
    if (r == ETCDE_OK && pos.kvs == ETCDE__LEADS && etcde__alive(e->s)) {
        ETCDE__STORE(&e->leader, 1);
        e->fresh = ETCDE__KEY_OLD;
        e->busy = 0;
        return ETCDE_OK;
    }
    if (r == ETCDE_OK && pos.kvs == ETCDE__LEADS)
        r = etcde__fail(&e->err, ETCDE_ERR_SESSION_LOST, "%s", etcde_session_errmsg(e->s));
    if (r == ETCDE_OK) { /* name the holder before the delete reuses the response */
        etcde_kv kv;
        char q[256];
        if (etcde__kv_from(&e->resp.j, etcde__jat(&e->resp.j, pos.kvs, pos.from), &kv, &e->err) ==
            ETCDE_OK)
            etcde__fail(&e->err, ETCDE_ERR_LOCKED, "locked by %s",
                        etcde__quote(q, sizeof q, kv.key, ETCDE__MIN(kv.key_len, 200)));
        r = ETCDE_ERR_LOCKED;
    }
    etcde__abandon(e, r);
    e->busy = 0;
    return r;
}

ETCDE__DEF etcde_result etcde_unlock(etcde_election *e) { return etcde_resign(e); }

/* ---- public: async ------------------------------------------------------------------- */

/* Hands a campaign or lock to the runner (observe: an observe with fn); `held`: it ends at
   once with ETCDE_OK. */
static etcde_result etcde__async(etcde_election *e, const void *value, size_t len, int timeout_ms,
                                 const char *call, int held, etcde_observe_fn observe,
                                 etcde_done_fn done, void *user_data) {
    etcde__run *run = etcde__run_get(e->c, &e->err);
    etcde__op *op;
    if (!run) return ETCDE_ERR_NOMEM;
    op = (etcde__op *)etcde__alloc(&e->c->al, sizeof *op + len + 1);
    if (!op) return etcde__fail(&e->err, ETCDE_ERR_NOMEM, "out of memory");
    if (len) memcpy(op + 1, value, len);
    if (observe && e->c->o.callbacks_in_process) {
        etcde__op_init_observe(op, e, etcde__oev_queue, op, timeout_ms, 0);
        op->ofn = observe;
        op->oud = user_data;
    } else if (observe) {
        etcde__op_init_observe(op, e, observe, user_data, timeout_ms, 0);
    } else
        etcde__op_init(op, e, op + 1, len, timeout_ms, call, 0);
    op->done = done;
    op->user_data = user_data;
    if (held) {
        op->gen = ETCDE__LOAD(&e->released);
        op->phase = ETCDE__OP_WON;
    }
    op->sub.woke = etcde__op_woke;
    pthread_mutex_lock(&run->mu);
    op->next = run->ops;
    if (run->ops) run->ops->prev = op;
    run->ops = op;
    run->nstepped++;
    ETCDE__STORE(&e->op, op);
    etcde__run_push(run, op);
    pthread_mutex_unlock(&run->mu);
    return ETCDE_OK;
}

ETCDE__DEF etcde_result etcde_campaign_async(etcde_election *e, const void *value, size_t len,
                                             int timeout_ms, etcde_done_fn done, void *user_data) {
    etcde_result r;
    if (!e) return ETCDE_ERR_INVALID_ARGS;
    if (!done) return etcde__fail(&e->err, ETCDE_ERR_INVALID_ARGS, "campaign: done is NULL");
    if ((r = etcde__campaign_can(e, value, len)) != ETCDE_OK) return r;
    e->lock = 0;
    e->slots = 1;
    return etcde__async(e, value, len, timeout_ms, "campaign", 0, NULL, done, user_data);
}

ETCDE__DEF etcde_result etcde_lock_async(etcde_election *e, int n, int timeout_ms,
                                         etcde_done_fn done, void *user_data) {
    etcde_result r;
    int held;
    if (!e) return ETCDE_ERR_INVALID_ARGS;
    if (!done) return etcde__fail(&e->err, ETCDE_ERR_INVALID_ARGS, "lock: done is NULL");
    if ((r = etcde__lock_can(e, n, &held)) != ETCDE_OK) return r;
    if (!held) {
        e->lock = 1;
        e->slots = n;
    }
    return etcde__async(e, "", 0, timeout_ms, "lock", held, NULL, done, user_data);
}

ETCDE__DEF etcde_result etcde_observe_async(etcde_election *e, etcde_observe_fn fn, int timeout_ms,
                                            etcde_done_fn done, void *user_data) {
    etcde_result r;
    if (!e) return ETCDE_ERR_INVALID_ARGS;
    if (!fn || !done)
        return etcde__fail(&e->err, ETCDE_ERR_INVALID_ARGS, "observe: fn or done is NULL");
    if ((r = etcde__begin(e, "observe", 1)) != ETCDE_OK) return r;
    return etcde__async(e, NULL, 0, timeout_ms, "observe", 0, fn, done, user_data);
}

ETCDE__DEF int etcde_client_fd(etcde_client *c) {
    etcde__run *run;
    etcde__err err;
    if (!c) return -1;
    if (!c->o.callbacks_in_process) {
        etcde__create_error(ETCDE_ERR_STATE,
                            "etcde_client_fd: the client was made without callbacks_in_process");
        return -1;
    }
    if (!(run = etcde__run_get(c, &err))) {
        etcde__create_fail(&err);
        return -1;
    }
    return run->done_wake[0];
}

ETCDE__DEF int etcde_client_process(etcde_client *c) {
    etcde__run *run = c ? ETCDE__LOAD(&c->run) : NULL;
    int n = 0;
    if (!run || !c->o.callbacks_in_process) return 0;
    pthread_mutex_lock(&run->mu);
    etcde__wake_drain(run->done_wake); /* before taking: a later delivery pokes again */
    for (;;) {
        etcde__oev *ev = run->evs;
        etcde__op *op = ev ? ev->op : run->fin;
        int stop = 0;
        if (!op) break;
        if (ev && !(run->evs = ev->next)) run->etail = NULL; /* a call's states come first */
        if (!ev && !(run->fin = op->rnext)) run->ftail = NULL;
        if (ev && ETCDE__LOAD(&op->ostop)) { /* stopped: the rest is dropped */
            etcde__free(&c->al, ev);
            continue;
        }
        run->calling = op->e;
        run->caller = pthread_self();
        pthread_mutex_unlock(&run->mu);
        if (ev)
            stop = op->ofn(ev->type, ev->kv.key ? &ev->kv : NULL, ev->rev, op->oud);
        else
            op->done(op->e, op->r, op->user_data);
        etcde__free(&c->al, ev ? (void *)ev : (void *)op);
        n++;
        pthread_mutex_lock(&run->mu);
        if (stop) etcde__oev_stop(run, op);
        run->calling = NULL;
        pthread_cond_broadcast(&run->cv);
    }
    pthread_mutex_unlock(&run->mu);
    return n;
}

#endif /* ETCD_ELECT_IMPLEMENTATION_ONCE */
#endif /* ETCD_ELECT_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the etcd_elect.h authors

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
*/
