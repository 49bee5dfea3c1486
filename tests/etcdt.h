/*
 * etcdt.h - all of the test support for the etcd_elect tests, for programs
 * that use most of it.  Each part is a header of its own:
 *   etcdt_test.h   the test framework and runner, time helpers
 *   etcdt_proc.h   child processes and the safety net that kills them
 *   etcdt_etcd.h   private etcd clusters and the etcdctl runner
 *   etcdt_http.h   a raw HTTP/1.0 client
 *   etcdt_proxy.h  a loopback TCP proxy that can partition
 * Include etcdt headers first: they define _GNU_SOURCE if nobody did.
 */
#ifndef ETCDT_H
#define ETCDT_H

#include "etcdt_test.h"
#include "etcdt_proc.h"
#include "etcdt_etcd.h"
#include "etcdt_http.h"
#include "etcdt_proxy.h"

#endif /* ETCDT_H */
