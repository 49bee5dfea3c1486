// The etcdctl of the version pinned by the module file in use (see build.sh).
package main

import "go.etcd.io/etcd/etcdctl/v3/ctlv3"

func main() { ctlv3.MustStart() }
