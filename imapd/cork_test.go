package imapd

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsuite/mailsuite/mailbox"
)

// countingListener counts the writes made to its connections.
type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// A command's many response lines go out in a few writes, not one per
// line; APPEND's continuation request still reaches the client while the
// command waits for the literal. (TestImplicitTLS shows that implicit TLS
// under the cork is still known as TLS.)
func TestCorkedResponses(t *testing.T) {
	var writes atomic.Int64
	e := startEnv(t, envConfig{wrap: func(ln net.Listener) net.Listener {
		return countingListener{ln, &writes}
	}})
	for i := 0; i < 300; i++ {
		e.deliver(simple(fmt.Sprintf("m%d", i), "x\r\n"))
	}
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	before := writes.Load()
	if u := r.ok("f", "FETCH 1:* (UID FLAGS RFC822.SIZE)"); len(u) != 300 {
		t.Fatalf("%d responses", len(u))
	}
	if n := writes.Load() - before; n > 10 {
		t.Errorf("300 FETCH responses took %d writes", n)
	}
	msg := simple("appended", "y\r\n")
	r.send(fmt.Sprintf("a APPEND INBOX {%d}", len(msg)))
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("APPEND continuation: %q", l)
	}
	r.send(msg)
	if _, tag := r.until("a"); !strings.HasPrefix(tag, "a OK") {
		t.Fatalf("APPEND: %q", tag)
	}
}

// Two sessions share the store's message list until one of them changes
// its view; neither sees the other's view change under it.
func TestSharedViewCopiedOnChange(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "x\r\n"), simple("b", "y\r\n"))
	r1, r2 := e.rawLogin(), e.rawLogin()
	r1.ok("s", "SELECT INBOX")
	r2.ok("s", "SELECT INBOX")
	r1.ok("f", `STORE 1 +FLAGS.SILENT (\Flagged)`)
	e.deliver(simple("c", "z\r\n"))
	// r2 hears of both changes; r1 only of the delivery.
	u := r2.ok("n", "NOOP")
	if strings.Join(u, "|") != `* 3 EXISTS|* 1 FETCH (UID 1 FLAGS (\Flagged))` {
		t.Fatalf("r2: %q", u)
	}
	if u := r1.ok("n", "NOOP"); strings.Join(u, "|") != "* 3 EXISTS" {
		t.Fatalf("r1: %q", u)
	}
	for _, r := range []*raw{r1, r2} {
		if u := r.ok("f", "FETCH 1:* (UID FLAGS)"); strings.Join(u, "|") !=
			`* 1 FETCH (UID 1 FLAGS (\Flagged))|* 2 FETCH (UID 2 FLAGS ())|* 3 FETCH (UID 3 FLAGS ())` {
			t.Fatalf("%q", u)
		}
	}
	// A third session selecting now gets the store's shared list.
	r3 := e.rawLogin()
	if u := r3.ok("s", "SELECT INBOX"); !strings.Contains(strings.Join(u, "|"), "* 3 EXISTS") {
		t.Fatalf("r3: %q", u)
	}
}

// A view over a shared list behaves exactly as one over its own copy,
// through flag changes, additions and expunges, and never writes into
// the shared list.
func TestViewSharedBaseSameAsOwn(t *testing.T) {
	mk := func(n int) []mailbox.MessageInfo {
		out := make([]mailbox.MessageInfo, n)
		for i := range out {
			out[i] = mailbox.MessageInfo{UID: uint32(2*i + 1), Size: int64(i)}
		}
		return out
	}
	base := mk(50)
	pristine := mk(50)
	shared := newView(base, true)
	own := newView(mk(50), false)
	rng := rand.New(rand.NewPCG(1, 2))
	nextUID := uint32(200)
	for step := 0; step < 400; step++ {
		var ch mailbox.Changes
		switch rng.IntN(4) {
		case 0: // others' flag change
			if n := own.count(); n > 0 {
				m := own.at(rng.IntN(n))
				m.Flags = []string{fmt.Sprintf("$k%d", step)}
				m.ModSeq = uint64(step)
				ch.Flags = []mailbox.MessageInfo{m}
			}
		case 1: // delivery
			nextUID += uint32(1 + rng.IntN(3))
			ch.Added = []mailbox.MessageInfo{{UID: nextUID}}
		case 2: // expunge
			if n := own.count(); n > 0 {
				ch.Expunged = []uint32{own.uid(rng.IntN(n))}
			}
		case 3: // own STORE
			if n := own.count(); n > 0 {
				m := own.at(rng.IntN(n))
				m.Flags = []string{`\Seen`}
				shared.setFlags([]mailbox.MessageInfo{m})
				own.setFlags([]mailbox.MessageInfo{m})
			}
		}
		shared.apply(ch, nil)
		own.apply(ch, nil)
		allow := rng.IntN(3) == 0
		var w1, w2 recordWriter
		if err := shared.flush(&w1, allow); err != nil {
			t.Fatal(err)
		}
		own.flush(&w2, allow)
		if strings.Join(w1.lines, "|") != strings.Join(w2.lines, "|") {
			t.Fatalf("step %d: shared view told %q, own view %q", step, w1.lines, w2.lines)
		}
		if shared.count() != own.count() {
			t.Fatalf("step %d: %d vs %d messages", step, shared.count(), own.count())
		}
		for i := range own.count() {
			a, b := shared.at(i), own.at(i)
			if a.UID != b.UID || strings.Join(a.Flags, " ") != strings.Join(b.Flags, " ") || shared.isGone(i) != own.isGone(i) {
				t.Fatalf("step %d, message %d: %+v vs %+v", step, i, a, b)
			}
		}
	}
	for i := range base {
		if base[i].UID != pristine[i].UID || len(base[i].Flags) != 0 {
			t.Fatalf("shared list written at %d: %+v", i, base[i])
		}
	}
}

// recordWriter records what a view tells the client.
type recordWriter struct{ lines []string }

func (w *recordWriter) WriteExpunge(n uint32) error {
	w.lines = append(w.lines, fmt.Sprintf("%d EXPUNGE", n))
	return nil
}
func (w *recordWriter) WriteNumMessages(n uint32) error {
	w.lines = append(w.lines, fmt.Sprintf("%d EXISTS", n))
	return nil
}
func (w *recordWriter) WriteMailboxFlags(flags []imap.Flag) error {
	w.lines = append(w.lines, fmt.Sprintf("FLAGS %v", flags))
	return nil
}
func (w *recordWriter) WriteMessageFlags(n uint32, uid imap.UID, flags []imap.Flag) error {
	w.lines = append(w.lines, fmt.Sprintf("%d FETCH UID %d %v", n, uid, flags))
	return nil
}

// A corked command's responses go out under a write deadline even when
// the library left none (it clears its own after every response): a
// client that stops reading ends the write, not the session's goroutine.
func TestCorkedWriteHasDeadline(t *testing.T) {
	defer func(d time.Duration) { corkWriteTimeout = d }(corkWriteTimeout)
	corkWriteTimeout = 50 * time.Millisecond
	server, client := net.Pipe() // nobody reads client
	defer client.Close()
	c := newCorkConn(server)
	uncork := c.cork()
	c.SetWriteDeadline(time.Now().Add(time.Hour))
	c.Write([]byte("* 1 FETCH (FLAGS ())\r\n"))
	c.SetWriteDeadline(time.Time{}) // as go-imap does after each response
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, corkMax+1)) // too large to gather: written now
		uncork()
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a write nobody read succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a corked write with no deadline of its own hung")
	}
}
