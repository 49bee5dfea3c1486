#!/usr/bin/env bash
# examples/tls_openssl.c and the etcd-elect CLI against an etcd that serves TLS with
# certificates made here by the openssl CLI: a campaign over TLS works and interoperates with
# etcdctl over TLS; a server certificate from another CA is refused with a clear error; then
# an etcd that wants client certificates (--client-cert-auth): ours is accepted, a missing or
# foreign one refused; a plain run of the CLI does not load OpenSSL; and a NO_TLS=1 build of
# the CLI says it has no TLS.
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

if ! make -s build/etcd-elect >"$tmp/make.log" 2>&1 || ! build/etcd-elect --version | grep -q '^TLS: OpenSSL'; then
  bad cli-build "build/etcd-elect has no TLS: $(head -5 "$tmp/make.log")"
  finish
fi
ok cli-build

# OpenSSL is loaded by a run that speaks TLS, not by every run: LD_DEBUG lists what loads
plain=$(LD_DEBUG=files build/etcd-elect --endpoints=127.0.0.1:1 --dial-timeout=200ms leader n 2>&1 | grep -c 'file=libssl')
tls=$(LD_DEBUG=files build/etcd-elect --version 2>&1 | grep -c 'file=libssl')
if [ "$plain" = 0 ] && [ "$tls" -ge 1 ]; then ok cli-loads-openssl-only-for-tls
else bad cli-loads-openssl-only-for-tls "libssl loaded $plain time(s) by a plain run, $tls by --version"; fi

# a CA, a server certificate for 127.0.0.1 signed by it, a client certificate signed by it,
# an unrelated CA, and a client certificate that one signed
(
  cd "$tmp" || exit 1
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=etcd-elect-test-ca
  openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1
  printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
  openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile san.ext
  openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj /CN=some-other-ca
  printf 'extendedKeyUsage=clientAuth\n' > cli.ext
  openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj /CN=root
  openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cli.pem -days 2 -extfile cli.ext
  openssl req -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.csr -subj /CN=root
  openssl x509 -req -in rogue.csr -CA other.pem -CAkey other.key -CAcreateserial -out rogue.pem -days 2 -extfile cli.ext
) >"$tmp/openssl.log" 2>&1 || { bad certificates "$(tail -5 "$tmp/openssl.log")"; finish; }
ok certificates

ETCD_SCHEME=https ETCD_ARGS="--cert-file=$tmp/srv.pem --key-file=$tmp/srv.key" ETCDCTL_ARGS="--cacert=$tmp/ca.pem"
export ETCD_SCHEME ETCD_ARGS
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

# ---- the CLI: server-only TLS --------------------------------------------------------
ee=(build/etcd-elect --dial-timeout=2s --command-timeout=3s) # an array, not a function: "&" then gives its pid
stop_job() { kill -TERM "$1" 2>/dev/null; timeout_wait "$1" 10; }
wait_for_line() { # file, pattern: up to 30 s (etcdctl's gRPC reconnect backoff after a
  local i            # first refused dial can take it past 10 s on a loaded machine)
  for ((i = 0; i < 300; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# https:// and --cacert: elected, the key is on etcd as etcdctl (TLS) sees it, SIGTERM resigns
"${ee[@]}" --endpoints="$ep" --cacert="$tmp/ca.pem" elect tls-cli V > "$tmp/c.out" 2>"$tmp/c.err" &
cpid=$!
if wait_for_line "$tmp/c.out" '^V$' && key=$(head -1 "$tmp/c.out") &&
   [ "$(etcdctl --endpoints="$ep" --cacert="$tmp/ca.pem" get "$key" --print-value-only)" = V ] &&
   stop_job "$cpid" && [ -z "$(etcdctl --endpoints="$ep" --cacert="$tmp/ca.pem" get --prefix tls-cli/ --keys-only)" ]
then ok cli-elect-https-cacert
else bad cli-elect-https-cacert "out: $(cat "$tmp/c.out"), err: $(cat "$tmp/c.err")"; fi
kill -KILL "$cpid" 2>/dev/null

# etcdctl elect over TLS leads; the CLI (configured by ETCDCTL_* only, host:port without a
# scheme plus a CA: TLS, as etcdctl does it) sees it with `leader` and queues behind it
etcdctl --endpoints="$ep" --cacert="$tmp/ca.pem" elect tls-cq X > "$tmp/x.out" 2>&1 &
xpid=$!
wait_for_line "$tmp/x.out" '^X$'
xkey=$(head -1 "$tmp/x.out")
lead=$(ETCDCTL_ENDPOINTS="$ETCD_EP" ETCDCTL_CACERT="$tmp/ca.pem" "${ee[@]}" leader tls-cq 2>"$tmp/l.err")
if [ "$lead" = "$(printf '%s\nX' "$xkey")" ]; then ok cli-leader-sees-etcdctl
else bad cli-leader-sees-etcdctl "leader printed '$lead', want '$xkey' and X; $(cat "$tmp/l.err")"; fi
ETCDCTL_ENDPOINTS="$ETCD_EP" ETCDCTL_CACERT="$tmp/ca.pem" "${ee[@]}" elect tls-cq Y > "$tmp/y.out" 2>"$tmp/y.err" &
ypid=$!
for _ in $(seq 50); do
  [ "$(etcdctl --endpoints="$ep" --cacert="$tmp/ca.pem" get --prefix tls-cq/ --keys-only | grep -c .)" = 2 ] && break
  sleep 0.1
done
if [ -s "$tmp/y.out" ]; then bad cli-queued-behind-etcdctl "elected while etcdctl led: $(cat "$tmp/y.out")"
else
  kill -TERM "$xpid"; wait "$xpid" 2>/dev/null
  if wait_for_line "$tmp/y.out" '^Y$' && grep -q '^tls-cq/[0-9a-f]*$' "$tmp/y.out"; then ok cli-queued-behind-etcdctl
  else bad cli-queued-behind-etcdctl "out: $(cat "$tmp/y.out"), err: $(cat "$tmp/y.err")"; fi
fi
stop_job "$ypid"
kill -KILL "$xpid" "$ypid" 2>/dev/null

# a server certificate this CA did not sign: refused at once, and the message says why
start=$(date +%s)
if "${ee[@]}" --endpoints="$ep" --cacert="$tmp/other.pem" lock tls-cli-bad >/dev/null 2>"$tmp/err"; then
  bad cli-wrong-ca-refused "locked with the wrong CA"
elif grep -q 'certificate verify failed' "$tmp/err" && [ $(( $(date +%s) - start )) -lt 10 ]; then
  ok cli-wrong-ca-refused; echo "     $(head -1 "$tmp/err")"
else bad cli-wrong-ca-refused "stderr: $(cat "$tmp/err")"; fi

# no CA at all: the system's CAs do not know ours; --insecure-skip-tls-verify goes anyway
if "${ee[@]}" --endpoints="$ep" leader tls-cli-none >/dev/null 2>"$tmp/err"; then
  bad cli-skip-verify "https:// trusted a private CA without --cacert"
elif ! grep -q 'certificate verify failed' "$tmp/err"; then bad cli-skip-verify "stderr: $(cat "$tmp/err")"
else
  "${ee[@]}" --endpoints="$ep" --insecure-skip-tls-verify leader tls-cli-none >/dev/null 2>"$tmp/err"
  st=$?
  if [ "$st" = 3 ]; then ok cli-skip-verify; else bad cli-skip-verify "status $st (want 3, no leader): $(cat "$tmp/err")"; fi
fi

# TLS on, but one endpoint is plain http://: refused before anything is sent
"${ee[@]}" --endpoints="$ep,http://$ETCD_EP" --cacert="$tmp/ca.pem" leader tls-x >/dev/null 2>"$tmp/err"
st=$?
if [ "$st" = 2 ] && grep -q 'plain http://' "$tmp/err"; then ok cli-mixed-schemes-refused
else bad cli-mixed-schemes-refused "status $st: $(cat "$tmp/err")"; fi

# ---- the CLI: an etcd that requires client certificates --------------------------------
stop_private_etcd
ETCD_ARGS="--cert-file=$tmp/srv.pem --key-file=$tmp/srv.key --client-cert-auth --trusted-ca-file=$tmp/ca.pem"
ETCDCTL_ARGS="--cacert=$tmp/ca.pem --cert=$tmp/cli.pem --key=$tmp/cli.key"
if ! start_private_etcd; then bad etcd-client-cert-auth "etcd with --client-cert-auth did not start"; finish; fi
ep="https://$ETCD_EP"
etcdctl --endpoints="$ep" --cacert="$tmp/ca.pem" --cert="$tmp/cli.pem" --key="$tmp/cli.key" \
  elect tls-cc X > "$tmp/x.out" 2>&1 &
xpid=$!
wait_for_line "$tmp/x.out" '^X$'
xkey=$(head -1 "$tmp/x.out")
lead=$("${ee[@]}" --endpoints="$ep" --cacert="$tmp/ca.pem" --cert="$tmp/cli.pem" --key="$tmp/cli.key" -w json leader tls-cc 2>"$tmp/err")
if printf '%s' "$lead" | grep -q "^{\"key\":\"$xkey\",\"value\":\"X\",\"create_revision\":[1-9][0-9]*,\"lease\":[1-9][0-9]*}\$"
then ok cli-client-cert-accepted
else bad cli-client-cert-accepted "printed '$lead': $(cat "$tmp/err")"; fi
ETCDCTL_CERT="$tmp/cli.pem" ETCDCTL_KEY="$tmp/cli.key" "${ee[@]}" --endpoints="$ep" --cacert="$tmp/ca.pem" \
  lock tls-cc sh -c 'echo "held $ETCD_LOCK_KEY"' > "$tmp/k.out" 2>"$tmp/k.err" &
kpid=$!
sleep 0.5 # (only so that a lock wrongly granted has printed by now)
if [ -s "$tmp/k.out" ]; then bad cli-client-cert-lock-behind-etcdctl "granted while etcdctl led: $(cat "$tmp/k.out")"
else
  kill -TERM "$xpid"; wait "$xpid" 2>/dev/null
  if timeout_wait "$kpid" 10 && grep -q '^held tls-cc/[0-9a-f]*$' "$tmp/k.out"; then ok cli-client-cert-lock-behind-etcdctl
  else bad cli-client-cert-lock-behind-etcdctl "out: $(cat "$tmp/k.out"), err: $(cat "$tmp/k.err")"; fi
fi
kill -KILL "$xpid" "$kpid" 2>/dev/null

start=$(date +%s)
if "${ee[@]}" --endpoints="$ep" --cacert="$tmp/ca.pem" lock tls-cc >/dev/null 2>"$tmp/err"; then
  bad cli-client-cert-missing-refused "locked without a client certificate"
elif grep -qi 'certificate' "$tmp/err" && [ $(( $(date +%s) - start )) -lt 10 ]; then
  ok cli-client-cert-missing-refused; echo "     $(head -1 "$tmp/err")"
else bad cli-client-cert-missing-refused "stderr: $(cat "$tmp/err")"; fi

start=$(date +%s)
if "${ee[@]}" --endpoints="$ep" --cacert="$tmp/ca.pem" --cert="$tmp/rogue.pem" --key="$tmp/rogue.key" \
    elect tls-cc V >/dev/null 2>"$tmp/err"; then
  bad cli-client-cert-wrong-refused "elected with a client certificate etcd does not trust"
elif grep -qi 'certificate' "$tmp/err" && [ $(( $(date +%s) - start )) -lt 10 ]; then
  ok cli-client-cert-wrong-refused; echo "     $(head -1 "$tmp/err")"
else bad cli-client-cert-wrong-refused "stderr: $(cat "$tmp/err")"; fi

# a key that does not belong to the certificate: refused before dialling
if "${ee[@]}" --endpoints="$ep" --cacert="$tmp/ca.pem" --cert="$tmp/cli.pem" --key="$tmp/rogue.key" \
    leader tls-cc >/dev/null 2>"$tmp/err"; then bad cli-key-mismatch "accepted"
elif grep -q 'client key.*mismatch\|does not match' "$tmp/err"; then ok cli-key-mismatch
else bad cli-key-mismatch "stderr: $(cat "$tmp/err")"; fi

# ---- a build without TLS says so -------------------------------------------------------
if make -s NO_TLS=1 B="$tmp/nt" "$tmp/nt/etcd-elect" >"$tmp/nt.log" 2>&1; then
  msgs=""
  for args in "--cacert=$tmp/ca.pem leader n" "--endpoints=$ep leader n" "--insecure-transport=false leader n"; do
    # shellcheck disable=SC2086
    "$tmp/nt/etcd-elect" $args >/dev/null 2>"$tmp/err"
    st=$?
    { [ "$st" = 2 ] && grep -q 'built without TLS' "$tmp/err"; } || msgs="$msgs [$args: status $st, $(cat "$tmp/err")]"
  done
  ETCDCTL_ENDPOINTS="$ep" "$tmp/nt/etcd-elect" leader n >/dev/null 2>"$tmp/err"
  st=$?
  { [ "$st" = 2 ] && grep -q 'https:// endpoint in \$ETCDCTL_ENDPOINTS' "$tmp/err"; } || msgs="$msgs [env: status $st, $(cat "$tmp/err")]"
  "$tmp/nt/etcd-elect" --version | grep -q 'TLS: not built in' || msgs="$msgs [--version]"
  if [ -z "$msgs" ]; then ok no-tls-build-says-so; else bad no-tls-build-says-so "$msgs"; fi
else bad no-tls-build-says-so "make NO_TLS=1: $(tail -5 "$tmp/nt.log")"; fi

finish
