package imapd

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// The scale figures of issue 3, as benchmarks (never timed tests):
//
//	go test -run '^$' -bench 'Scale100k|Idle1000' -benchtime 10x ./imapd/
//
// A 100,000-message INBOX is written straight into the Maildir (files
// with Dovecot-style names, as a long-lived server or a migration leaves
// them), then indexed once by the store.

const scaleMessages = 100000

// fillMaildir writes n messages into the test user's INBOX cur/: every
// tenth unseen, every fiftieth flagged.
func fillMaildir(tb testing.TB, e *env, n int) {
	tb.Helper()
	acct, err := e.store.Account(testUser) // makes the tree
	if err != nil {
		tb.Fatal(err)
	}
	acct.Close()
	cur := filepath.Join(e.dir, "mail", "example.org", "alice", "cur")
	for i := 0; i < n; i++ {
		lf := strings.ReplaceAll(simple(fmt.Sprintf("message %d", i), "Some body text.\r\n"), "\r\n", "\n")
		size := len(lf) + strings.Count(lf, "\n")
		flags := "S"
		switch {
		case i%10 == 9:
			flags = ""
		case i%50 == 0:
			flags = "FS"
		}
		name := fmt.Sprintf("%d.M%dP1Q%d.bench,S=%d,W=%d:2,%s", 1700000000+i/100, i, i, len(lf), size, flags)
		if err := os.WriteFile(filepath.Join(cur, name), []byte(lf), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	for _, sub := range []string{"cur", "new"} {
		os.Chtimes(filepath.Join(filepath.Dir(cur), sub), old, old)
	}
}

// lean is a minimal client, so that the figures are the server's: it
// reads lines and counts them, nothing more.
type lean struct {
	tb   testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func dialLean(tb testing.TB, addr string) *lean {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	l := &lean{tb: tb, conn: c, br: bufio.NewReaderSize(c, 64<<10)}
	if g := l.readLine(); !bytes.HasPrefix(g, []byte("* OK")) {
		tb.Fatalf("greeting %q", g)
	}
	return l
}

// readLine returns one line (valid until the next read), however long.
func (l *lean) readLine() []byte {
	line, err := l.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = l.br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err != nil {
		l.tb.Fatalf("read: %v", err)
	}
	return line
}

// cmd sends a command and returns how many untagged lines came, and the
// last of them.
func (l *lean) cmd(tag, command string) (int, string) {
	if _, err := fmt.Fprintf(l.conn, "%s %s\r\n", tag, command); err != nil {
		l.tb.Fatal(err)
	}
	n, last := 0, ""
	for {
		line := l.readLine()
		if bytes.HasPrefix(line, []byte(tag+" ")) {
			if !bytes.HasPrefix(line, []byte(tag+" OK")) {
				l.tb.Fatalf("%s: %q", command, line)
			}
			return n, last
		}
		n++
		if len(line) < 200 {
			last = string(line)
		}
	}
}

func (l *lean) login() { l.cmd("L", "LOGIN "+testUser+` "`+testPassword+`"`) }

func BenchmarkScale100k(b *testing.B) {
	e := newEnv(b, nil)
	fillMaildir(b, e, scaleMessages)
	setup := dialLean(b, e.addr)
	setup.login()
	setup.cmd("s", "SELECT INBOX") // indexes the files once
	setup.conn.Close()

	fetchAll := func(l *lean) {
		if n, _ := l.cmd("f", "UID FETCH 1:* (UID FLAGS)"); n != scaleMessages {
			b.Fatalf("%d FETCH responses", n)
		}
	}
	b.Run("LoginSelectFetchFlags", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			l := dialLean(b, e.addr)
			l.login()
			l.cmd("s", "SELECT INBOX")
			fetchAll(l)
			l.conn.Close()
		}
	})
	b.Run("Select", func(b *testing.B) {
		l := dialLean(b, e.addr)
		l.login()
		for i := 0; i < b.N; i++ {
			if _, last := l.cmd("s", "SELECT INBOX"); last == "" {
				b.Fatal("no SELECT data")
			}
		}
		l.conn.Close()
	})
	b.Run("UIDSearchUnseen", func(b *testing.B) {
		l := dialLean(b, e.addr)
		l.login()
		l.cmd("s", "SELECT INBOX")
		for i := 0; i < b.N; i++ {
			if n, _ := l.cmd("u", "UID SEARCH UNSEEN"); n != 1 {
				b.Fatal("no SEARCH response")
			}
		}
		l.conn.Close()
	})
	// After a restart: a new store and server on the same files. The
	// first SELECT loads the index; the first FETCH follows it.
	b.Run("FirstSelectAfterRestart", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			e.restart()
			l := dialLean(b, e.addr)
			l.login()
			b.StartTimer()
			l.cmd("s", "SELECT INBOX")
			b.StopTimer()
			l.conn.Close()
		}
	})
	b.Run("FirstLoginSelectFetchAfterRestart", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			e.restart()
			b.StartTimer()
			l := dialLean(b, e.addr)
			l.login()
			l.cmd("s", "SELECT INBOX")
			fetchAll(l)
			b.StopTimer()
			l.conn.Close()
		}
	})
}

// BenchmarkIdle1000: 1,000 sessions IDLE on one INBOX of 10 messages;
// each iteration delivers a message and waits until every session has
// been told (EXISTS). Reported: the time until the last session heard,
// and the memory the process holds per idle session (heap and stacks
// after GC, before the sessions were opened and after, and again after
// the deliveries). The lean clients' own sockets are counted in, so it is
// an upper bound for the server. IDLE_HEAP_PROFILE=file writes the live
// heap with the sessions idle.
func BenchmarkIdle1000(b *testing.B) { benchIdle(b, 10) }

// BenchmarkIdle1000On100k is the same on the 100,000-message INBOX of
// BenchmarkScale100k: the sessions share the store's message list.
func BenchmarkIdle1000On100k(b *testing.B) { benchIdle(b, scaleMessages) }

func benchIdle(b *testing.B, messages int) {
	const sessions = 1000
	if os.Getenv("IDLE_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	e := newEnv(b, func(o *Options) { o.MaxConnsPerIP = -1 })
	if messages > 100 {
		fillMaildir(b, e, messages)
	} else {
		for i := 0; i < messages; i++ {
			e.deliver(simple(fmt.Sprintf("m%d", i), "x\r\n"))
		}
	}
	held := func() (heap, stack uint64) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse, ms.StackInuse
	}
	// Warm up: one session through the whole path, so that one-off
	// allocations (the folder's index, its shared list) are not counted
	// per session.
	w := dialLean(b, e.addr)
	w.login()
	w.cmd("s", "SELECT INBOX")
	w.conn.Close()
	heap0, stack0 := held()
	conns := make([]net.Conn, sessions)
	for i := range conns {
		l := dialLean(b, e.addr)
		l.login()
		l.cmd("s", "SELECT INBOX")
		fmt.Fprintf(l.conn, "i IDLE\r\n")
		if line := l.readLine(); !bytes.HasPrefix(line, []byte("+ ")) {
			b.Fatalf("IDLE: %q", line)
		}
		conns[i] = l.conn // the reader is dropped: only the socket stays
	}
	heap1, stack1 := held()
	if path := os.Getenv("IDLE_HEAP_PROFILE"); path != "" {
		if fh, err := os.Create(path); err == nil {
			pprof.Lookup("heap").WriteTo(fh, 0)
			fh.Close()
		}
	}

	// hear reads one session's socket until its EXISTS, with no buffer
	// kept (the sockets are read in turn: the last one read has heard
	// by then, so the time is an upper bound).
	var buf [512]byte
	hear := func(c net.Conn) {
		var got []byte
		for !bytes.Contains(got, []byte(" EXISTS\r\n")) {
			n, err := c.Read(buf[:])
			if err != nil {
				b.Fatalf("read: %v", err)
			}
			got = append(got, buf[:n]...)
		}
	}
	var worst time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		e.deliver(simple("new", "y\r\n"))
		for _, c := range conns {
			hear(c)
		}
		worst = max(worst, time.Since(start))
	}
	b.StopTimer()
	heap2, stack2 := held()
	for _, c := range conns {
		c.Close()
	}
	per := func(h, s uint64) float64 { return (float64(h+s) - float64(heap0+stack0)) / sessions }
	b.ReportMetric(per(heap1, stack1), "B/idle-session")
	b.ReportMetric((float64(heap1)-float64(heap0))/sessions, "heap-B/idle-session")
	b.ReportMetric((float64(stack1)-float64(stack0))/sessions, "stack-B/idle-session")
	b.ReportMetric(per(heap2, stack2), "B/session-after-deliveries")
	b.ReportMetric(float64(worst.Microseconds())/1000, "ms-worst-to-all")
}
