# Sourced by scripts that need a throwaway etcd: start_private_etcd sets $ETCD_EP and
# $ETCD_DIR; stop_private_etcd kills it and removes its data. Loopback only.
free_port() { # a loopback port nobody listens on
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# Optional: ETCD_SCHEME=https with ETCD_ARGS (extra etcd flags, e.g. certificates) and
# ETCDCTL_ARGS (e.g. --cacert) for the readiness check.
start_private_etcd() {
  local cport pport scheme=${ETCD_SCHEME:-http}
  cport=$(free_port); pport=$(free_port)
  while [ "$pport" = "$cport" ]; do pport=$(free_port); done
  ETCD_EP=127.0.0.1:$cport
  ETCD_DIR=$(mktemp -d /tmp/etcd-elect.XXXXXX)
  # shellcheck disable=SC2086
  etcd --name private --data-dir "$ETCD_DIR/data" ${ETCD_ARGS:-} \
    --listen-client-urls "$scheme://$ETCD_EP" --advertise-client-urls "$scheme://$ETCD_EP" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "private=http://127.0.0.1:$pport" >"$ETCD_DIR/etcd.log" 2>&1 &
  ETCD_PID=$!
  for _ in $(seq 200); do
    # shellcheck disable=SC2086
    etcdctl --endpoints="$scheme://$ETCD_EP" ${ETCDCTL_ARGS:-} endpoint health >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "etcd did not start; its log:" >&2
  tail -20 "$ETCD_DIR/etcd.log" >&2
  return 1
}

stop_private_etcd() {
  if [ -n "${ETCD_PID:-}" ]; then kill -KILL "$ETCD_PID" 2>/dev/null || true; wait "$ETCD_PID" 2>/dev/null || true; fi
  if [ -n "${ETCD_DIR:-}" ]; then rm -rf "$ETCD_DIR"; fi
  ETCD_PID= ETCD_DIR=
  return 0
}
