// gopeer: etcd's own Go recipe (client/v3/concurrency) as the interop peer of the C tests.
//
//	gopeer demo -name NAME [-endpoints 127.0.0.1:2379] [-ttl 60]
//	gopeer drive -endpoints E [-ttl 60]   (commands on stdin, one result line each)
//	gopeer version                        (the etcd client module version it was built with)
//
// The same source builds against client v3.5, v3.6 and v3.7: it never spells Observe's
// channel type (GetResponse before 3.7, *GetResponse since) and matches ErrLockReleased
// (3.6+) by its text, so no build tags are needed.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

const clientModule = "go.etcd.io/etcd/client/v3"

// Every line goes out in one write: os.Stdout is unbuffered, and the mutex keeps the
// lines of concurrent goroutines whole.
var outMu sync.Mutex

func say(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "demo":
		os.Exit(demo(os.Args[2:]))
	case "drive":
		os.Exit(drive(os.Args[2:]))
	case "version":
		fmt.Println(clientVersion())
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gopeer demo -name NAME [-endpoints E] [-ttl N] | drive [-endpoints E] [-ttl N] | version")
	os.Exit(2)
}

// clientVersion is the etcd client module version linked in, without the "v".
func clientVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == clientModule {
				if d.Replace != nil {
					d = d.Replace
				}
				return strings.TrimPrefix(d.Version, "v")
			}
		}
	}
	return "unknown"
}

func connect(name string, args []string, needName bool) (*clientv3.Client, *concurrency.Session, string) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	nodeName := fs.String("name", "", "candidate value")
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated etcd endpoints")
	ttl := fs.Int("ttl", 60, "session TTL in seconds")
	fs.Parse(args)
	if fs.NArg() != 0 || (needName && *nodeName == "") {
		usage()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(*endpoints, ","),
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(*ttl))
	if err != nil {
		fmt.Fprintln(os.Stderr, "session:", err)
		os.Exit(1)
	}
	return cli, s, *nodeName
}

// demo is the classic article's program, completed: it resigns on a signal, says
// "master" only while its own key leads, and stops when the session is lost.
func demo(args []string) int {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	cli, s, name := connect("demo", args, true)
	defer cli.Close()
	say("session lessId is %d", int64(s.Lease()))
	e := concurrency.NewElection(s, "my-election")

	ctx, cancel := context.WithCancel(context.Background())
	var elected atomic.Bool
	campaignDone := make(chan struct{})
	go func() {
		defer close(campaignDone)
		if err := e.Campaign(ctx, name); err != nil {
			if ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "campaign:", err)
			}
			return
		}
		elected.Store(true)
	}()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	code := 0
loop:
	for n := 1; ; n++ {
		select {
		case sig := <-sigc:
			say("Got signal: %v", sig)
			break loop
		case <-s.Done():
			say("session lost")
			code = 1
			break loop
		case <-tick.C:
		}
		leaderKey := ""
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := e.Leader(rctx)
		rcancel()
		if err == nil && len(resp.Kvs) > 0 {
			leaderKey = string(resp.Kvs[0].Key)
			say("get master with: %s", resp.Kvs[0].Value)
		}
		if n%5 == 0 {
			if elected.Load() && leaderKey == e.Key() {
				say("oh, i'm master")
			} else {
				say("slave!")
			}
		}
	}
	// A waiting Campaign deletes its own key when its context ends; a leader resigns.
	cancel()
	<-campaignDone
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	if err := e.Resign(rctx); err != nil {
		fmt.Fprintln(os.Stderr, "resign:", err)
	}
	if err := s.Close(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "close:", err)
	}
	return code
}

// errName names Go's sentinel errors so that a test can tell them apart; errors.Is
// also sees through wrapping. ErrLockReleased only exists since 3.6: matched by text.
func errName(err error) string {
	sentinels := []struct {
		err  error
		name string
	}{
		{concurrency.ErrElectionNotLeader, "ErrElectionNotLeader"},
		{concurrency.ErrElectionNoLeader, "ErrElectionNoLeader"},
		{concurrency.ErrLocked, "ErrLocked"},
		{concurrency.ErrSessionExpired, "ErrSessionExpired"},
		{context.Canceled, "Canceled"},
		{context.DeadlineExceeded, "DeadlineExceeded"},
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return "err " + s.name + ": " + err.Error()
		}
	}
	if err.Error() == "mutex: lock has already been released" {
		return "err ErrLockReleased: " + err.Error()
	}
	return "err " + err.Error()
}

func result(err error) string {
	if err != nil {
		return errName(err)
	}
	return "ok"
}

// drive runs one command per stdin line, in order, and prints one result line per
// command. Blocking commands (campaign, lock) hold up the ones after them; closing stdin
// cancels them and ends the program, revoking the lease so that no key outlives it.
// Observers print "observed VALUE" lines on their own.
func drive(args []string) int {
	cli, s, _ := connect("drive", args, false)
	defer cli.Close()
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		cancel()
		close(lines)
	}()

	var e *concurrency.Election
	var m *concurrency.Mutex
	own := func() string { return "" } // key of the last election or mutex used
	for line := range lines {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		name, value, _ := strings.Cut(arg, " ")
		switch cmd {
		case "":
			continue
		case "campaign":
			e = concurrency.NewElection(s, name)
			own = e.Key
			say("%s", result(e.Campaign(ctx, value)))
		case "proclaim", "resign":
			if e == nil {
				say("err no election")
			} else if cmd == "proclaim" {
				say("%s", result(e.Proclaim(ctx, arg)))
			} else {
				say("%s", result(e.Resign(ctx)))
			}
		case "leader":
			resp, err := concurrency.NewElection(s, name).Leader(ctx)
			if err != nil {
				say("%s", errName(err))
			} else {
				say("%s", resp.Kvs[0].Value)
			}
		case "observe":
			go observe(ctx, concurrency.NewElection(s, name))
			say("ok")
		case "lock", "trylock":
			m = concurrency.NewMutex(s, name)
			own = m.Key
			if cmd == "lock" {
				say("%s", result(m.Lock(ctx)))
			} else if err := m.TryLock(ctx); errors.Is(err, concurrency.ErrLocked) {
				say("locked")
			} else {
				say("%s", result(err))
			}
		case "unlock":
			if m == nil {
				say("err no mutex")
			} else {
				say("%s", result(m.Unlock(ctx)))
			}
		case "key":
			if k := own(); strings.ContainsRune(k, 0) {
				say("%q", k) // Go's "\x00" placeholder after unlock
			} else {
				say("%s", k)
			}
		case "lease":
			say("%d", int64(s.Lease()))
		case "close":
			say("%s", result(s.Close()))
		case "quit":
			say("ok")
			return 0
		default:
			say("err unknown command %q", cmd)
		}
	}
	return 0
}

// observe prints every leader Go's Observe reports (it skips "no leader" states).
func observe(ctx context.Context, e *concurrency.Election) {
	for resp := range e.Observe(ctx) {
		if len(resp.Kvs) > 0 {
			say("observed %s", resp.Kvs[0].Value)
		}
	}
}
