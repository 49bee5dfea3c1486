#!/usr/bin/env bash
# Makes sure etcd and etcdctl are installed: installs Debian's packages when we are root,
# otherwise says exactly what to install.
set -u
if command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing etcd-server and etcd-client with apt-get..." >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq etcd-server etcd-client; } >/tmp/etcd-elect-apt.log 2>&1 || {
    tail -20 /tmp/etcd-elect-apt.log >&2
    echo "error: apt-get install etcd-server etcd-client failed (log above)" >&2
    exit 1
  }
  # the package may start a system etcd; ours run on private ports, so leave it be
  command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1 && exit 0
fi
echo "error: etcd and etcdctl are needed. Install them with:" >&2
echo "    sudo apt-get install etcd-server etcd-client     (Debian/Ubuntu)" >&2
exit 1
