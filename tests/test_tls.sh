#!/usr/bin/env bash
# examples/tls_openssl.c against an etcd that serves TLS with certificates made here by the
# openssl CLI: a campaign over TLS works and interoperates with etcdctl over TLS; a server
# certificate from another CA is refused with a clear error.
set -u
cd "$(dirname "$0")/.."
. tests/private-etcd.sh
pass=0; fail=0
ok() { echo "ok   tls.$1"; pass=$((pass+1)); }
bad() { echo "FAIL tls.$1: $2"; fail=$((fail+1)); }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }
timeout_wait() { # pid, seconds: wait for a background job, at most that long
  local i
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null; return 1
}

if [ ! -f /usr/include/openssl/ssl.h ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev >/dev/null 2>&1; }
fi
if [ ! -f /usr/include/openssl/ssl.h ] || ! command -v openssl >/dev/null; then
  bad setup "needs OpenSSL headers and the openssl CLI: apt-get install libssl-dev openssl"
  finish
fi

tmp=$(mktemp -d)
trap 'stop_private_etcd; rm -rf "$tmp"' EXIT
mkdir -p build
if ! cc -std=c99 -Wall -Wextra -Werror -pedantic -O2 examples/tls_openssl.c -o build/tls_openssl -pthread -lssl -lcrypto \
    2>"$tmp/cc.log"; then
  bad build "$(head -5 "$tmp/cc.log")"
  finish
fi
ok build

# a CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA
(
  cd "$tmp" || exit 1
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=etcd-elect-test-ca
  openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1
  printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
  openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile san.ext
  openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj /CN=some-other-ca
) >"$tmp/openssl.log" 2>&1 || { bad certificates "$(tail -5 "$tmp/openssl.log")"; finish; }
ok certificates

ETCD_SCHEME=https ETCD_ARGS="--cert-file=$tmp/srv.pem --key-file=$tmp/srv.key" ETCDCTL_ARGS="--cacert=$tmp/ca.pem"
export ETCD_SCHEME ETCD_ARGS ETCDCTL_ARGS
start_private_etcd || { bad etcd "etcd with TLS did not start"; finish; }
ep="https://$ETCD_EP"

# campaign over TLS; the key is our layout and etcdctl (over TLS) saw the value while we led
out=$(build/tls_openssl --cacert "$tmp/ca.pem" --endpoints "$ep" tls-el V 2>"$tmp/err")
key=$(printf '%s\n' "$out" | sed -n 1p); rev=$(printf '%s\n' "$out" | sed -n 2p)
if printf '%s' "$key" | grep -Eq '^tls-el/[0-9a-f]+$' && [ "${rev:-0}" -gt 0 ] 2>/dev/null; then ok campaign-over-tls
else bad campaign-over-tls "printed '$out', stderr: $(cat "$tmp/err")"; fi

# queued behind etcdctl elect over TLS: elected only after etcdctl resigns
etcdctl --endpoints="$ep" --cacert="$tmp/ca.pem" elect tls-q X > "$tmp/x.out" 2>&1 &
xpid=$! # etcdctl itself (background jobs ignore SIGINT: it is stopped with SIGTERM)
for _ in $(seq 50); do grep -q '^X$' "$tmp/x.out" && break; sleep 0.1; done
build/tls_openssl --cacert "$tmp/ca.pem" --endpoints "$ep" tls-q Y > "$tmp/y.out" 2>&1 &
ypid=$!
sleep 1
if [ -s "$tmp/y.out" ]; then bad queued-behind-etcdctl "elected while etcdctl led: $(cat "$tmp/y.out")"
else
  kill -TERM "$xpid"; wait "$xpid" 2>/dev/null
  if timeout_wait "$ypid" 15 && grep -Eq '^tls-q/[0-9a-f]+$' "$tmp/y.out"; then ok queued-behind-etcdctl
  else bad queued-behind-etcdctl "$(cat "$tmp/y.out")"; fi
fi
kill -KILL "$xpid" "$ypid" 2>/dev/null

# a server certificate this CA did not sign is refused, clearly and quickly
start=$(date +%s)
if build/tls_openssl --cacert "$tmp/other.pem" --endpoints "$ep" tls-bad V >/dev/null 2>"$tmp/err"; then
  bad wrong-ca-refused "succeeded with the wrong CA"
elif grep -qi 'certificate verify failed\|TLS handshake' "$tmp/err" && [ $(( $(date +%s) - start )) -lt 15 ]; then
  ok wrong-ca-refused
else bad wrong-ca-refused "stderr: $(cat "$tmp/err")"; fi

# plain HTTP to the TLS port: a clear error, not a hang
if timeout 20 build/etcd-elect --endpoints="$ETCD_EP" --dial-timeout=1s --command-timeout=2s elect tls-plain V \
    >/dev/null 2>"$tmp/err"; then
  bad plain-http-refused "plain HTTP succeeded against a TLS port"
elif [ -s "$tmp/err" ]; then ok plain-http-refused
else bad plain-http-refused "no message"; fi

finish
