package queue

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeMTA is a hand-written SMTP server on loopback for what go-smtp's
// server cannot be made to do: leave out 8BITMIME (it always advertises
// it) or limit the recipients of a transaction with 452 4.5.3. It keeps
// every MAIL command line and each transaction that got a 250 after DATA.
type fakeMTA struct {
	t        testing.TB
	ln       net.Listener
	addr     string
	exts     []string // EHLO keywords after the greeting line
	maxRcpts int      // 0: no limit; else 452 4.5.3 beyond it

	mu    sync.Mutex
	mails []string // MAIL command lines
	txs   []fakeTx
	conns int
}

type fakeTx struct {
	conn  int // which connection (1, 2, ...)
	mail  string
	rcpts []string
	data  string
}

func newFakeMTA(t testing.TB, exts []string, maxRcpts int) *fakeMTA {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeMTA{t: t, ln: ln, addr: ln.Addr().String(), exts: exts, maxRcpts: maxRcpts}
	t.Cleanup(func() { ln.Close() })
	go f.serve()
	return f
}

func (f *fakeMTA) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns++
		n := f.conns
		f.mu.Unlock()
		go f.session(c, n)
	}
}

func (f *fakeMTA) session(c net.Conn, n int) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	br := bufio.NewReader(c)
	say := func(s string) { c.Write([]byte(s + "\r\n")) }
	say("220 fake.test ESMTP")
	var tx *fakeTx
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(verb, "EHLO"):
			lines := append([]string{"fake.test"}, f.exts...)
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				say("250" + sep + l)
			}
		case strings.HasPrefix(verb, "MAIL FROM:"):
			f.mu.Lock()
			f.mails = append(f.mails, line)
			f.mu.Unlock()
			tx = &fakeTx{conn: n, mail: line}
			say("250 2.1.0 ok")
		case strings.HasPrefix(verb, "RCPT TO:"):
			if tx == nil {
				say("503 5.5.1 MAIL first")
				continue
			}
			if f.maxRcpts > 0 && len(tx.rcpts) >= f.maxRcpts {
				// RFC 5321 §4.5.3.1.10.
				say("452 4.5.3 Too many recipients")
				continue
			}
			tx.rcpts = append(tx.rcpts, strings.TrimSuffix(strings.TrimPrefix(line[len("RCPT TO:"):], "<"), ">"))
			say("250 2.1.5 ok")
		case verb == "DATA":
			if tx == nil || len(tx.rcpts) == 0 {
				say("503 5.5.1 no valid recipients")
				continue
			}
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			tx.data = b.String()
			f.mu.Lock()
			f.txs = append(f.txs, *tx)
			f.mu.Unlock()
			tx = nil
			say("250 2.0.0 queued")
		case verb == "RSET":
			tx = nil
			say("250 2.0.0 ok")
		case verb == "QUIT":
			say("221 2.0.0 bye")
			return
		case verb == "NOOP":
			say("250 2.0.0 ok")
		default:
			say("502 5.5.2 not implemented")
		}
	}
}

func (f *fakeMTA) transactions() []fakeTx {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeTx(nil), f.txs...)
}

func (f *fakeMTA) mailLines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.mails...)
}

// waitRcpts waits until transactions holding n recipients in all were
// received.
func (f *fakeMTA) waitRcpts(n int) []fakeTx {
	f.t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		txs := f.transactions()
		got := 0
		for _, tx := range txs {
			got += len(tx.rcpts)
		}
		if got >= n {
			return txs
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("fake MTA received %d recipients, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
