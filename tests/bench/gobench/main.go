// gobench: the Go recipe (client/v3/concurrency) in one process, for make bench. It runs
// the same scenarios as build/bench/inproc (tests/bench/inproc.c), with the same
// arguments and output, so tests/bench/bench.c can run the two side by side and print
// ratios.
//
//	gobench handover -endpoints E -runs R   resign -> the queued successor's campaign returns
//	gobench campaign -endpoints E -runs R   one uncontended campaign (then a resign, untimed)
//	gobench lock -endpoints E -runs R       8 contenders, R lock/unlock pairs each
//	gobench scale -endpoints E -n N -prefix P
//	    N campaigns on one session, on elections P/0 .. P/N-1, behind leaders someone
//	    else holds. Prints "launched", then "elected MED MAX FAILED" once every campaign
//	    has returned (MED, MAX: CLOCK_MONOTONIC microseconds of the returns), then waits
//	    for stdin to close and closes its session.
//
// Latency lines are "NAME MEDIAN_US P99_US". Times are CLOCK_MONOTONIC, as in C.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/sys/unix"
)

func nowUs() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		die("clock: %v", err)
	}
	return ts.Sec*1000000 + ts.Nsec/1000
}

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gobench: "+format+"\n", args...)
	os.Exit(1)
}

func quantiles(v []int64) (int64, int64) {
	if len(v) == 0 {
		return -1, -1
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return v[len(v)/2], v[int(0.99*float64(len(v)-1)+0.5)]
}

func session(cli *clientv3.Client) *concurrency.Session {
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(60))
	if err != nil {
		die("session: %v", err)
	}
	return s
}

func main() {
	if len(os.Args) < 2 {
		die("usage: gobench handover|campaign|lock|scale -endpoints E [-runs R] [-n N] [-prefix P]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated etcd endpoints")
	runs := fs.Int("runs", 30, "runs per latency figure")
	n := fs.Int("n", 100, "elections (scale)")
	prefix := fs.String("prefix", "gobench", "election names' prefix")
	fs.Parse(os.Args[2:])
	if fs.NArg() != 0 || *runs < 1 || *n < 1 {
		die("bad arguments")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(*endpoints, ","),
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		die("client: %v", err)
	}
	defer cli.Close()
	ctx := context.Background()
	switch os.Args[1] {
	case "handover":
		handover(ctx, cli, *prefix, *runs)
	case "campaign":
		campaign(ctx, cli, *prefix, *runs)
	case "lock":
		lock(ctx, cli, *prefix, *runs)
	case "scale":
		scale(ctx, cli, *prefix, *n)
	default:
		die("unknown scenario %q", os.Args[1])
	}
}

// handover: A leads, B waits; the time from A's resign to B's return from Campaign.
func handover(ctx context.Context, cli *clientv3.Client, prefix string, runs int) {
	sa, sb := session(cli), session(cli)
	defer sa.Close()
	defer sb.Close()
	name := prefix + "/handover"
	var v []int64
	for i := 0; i < runs; i++ {
		a, b := concurrency.NewElection(sa, name), concurrency.NewElection(sb, name)
		if err := a.Campaign(ctx, "A"); err != nil {
			die("handover: campaign A: %v", err)
		}
		done := make(chan int64, 1)
		go func() {
			if err := b.Campaign(ctx, "B"); err != nil {
				die("handover: campaign B: %v", err)
			}
			done <- nowUs()
		}()
		time.Sleep(400 * time.Millisecond) // B is queued behind A; the quiet the commit floor has
		t0 := nowUs()
		if err := a.Resign(ctx); err != nil {
			die("handover: resign A: %v", err)
		}
		v = append(v, <-done-t0)
		if err := b.Resign(ctx); err != nil {
			die("handover: resign B: %v", err)
		}
	}
	med, p99 := quantiles(v)
	fmt.Printf("handover %d %d\n", med, p99)
}

func campaign(ctx context.Context, cli *clientv3.Client, prefix string, runs int) {
	s := session(cli)
	defer s.Close()
	var v []int64
	for i := 0; i < runs; i++ {
		e := concurrency.NewElection(s, prefix+"/campaign")
		t0 := nowUs()
		if err := e.Campaign(ctx, "A"); err != nil {
			die("campaign: %v", err)
		}
		v = append(v, nowUs()-t0)
		if err := e.Resign(ctx); err != nil {
			die("campaign: resign: %v", err)
		}
	}
	med, p99 := quantiles(v)
	fmt.Printf("campaign %d %d\n", med, p99)
}

// lock: 8 contenders, each with a session of its own, take and release one lock runs
// times each; a figure is one contender's lock + unlock, waiting included.
func lock(ctx context.Context, cli *clientv3.Client, prefix string, runs int) {
	const contenders = 8
	var mu sync.Mutex
	var v []int64
	var wg sync.WaitGroup
	for c := 0; c < contenders; c++ {
		s := session(cli)
		defer s.Close()
		wg.Add(1)
		go func(s *concurrency.Session) {
			defer wg.Done()
			m := concurrency.NewMutex(s, prefix+"/lock")
			for i := 0; i < runs; i++ {
				t0 := nowUs()
				if err := m.Lock(ctx); err != nil {
					die("lock: %v", err)
				}
				if err := m.Unlock(ctx); err != nil {
					die("unlock: %v", err)
				}
				mu.Lock()
				v = append(v, nowUs()-t0)
				mu.Unlock()
			}
		}(s)
	}
	wg.Wait()
	med, p99 := quantiles(v)
	fmt.Printf("lock %d %d\n", med, p99)
}

func scale(ctx context.Context, cli *clientv3.Client, prefix string, n int) {
	s := session(cli)
	at := make([]int64, n)
	failed := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e := concurrency.NewElection(s, fmt.Sprintf("%s/%d", prefix, i))
			err := e.Campaign(ctx, "B")
			t := nowUs()
			mu.Lock()
			at[i] = t
			if err != nil {
				failed++
				fmt.Fprintf(os.Stderr, "gobench: scale: campaign %d: %v\n", i, err)
			}
			mu.Unlock()
		}(i)
	}
	fmt.Println("launched")
	wg.Wait()
	med, _ := quantiles(at) // sorts at
	fmt.Printf("elected %d %d %d\n", med, at[n-1], failed)
	bufio.NewReader(os.Stdin).ReadString('\n') // until stdin closes
	s.Close()
}
