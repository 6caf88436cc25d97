package smtpd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/users"
)

// shutdownReply is what a connection reads after its last reply when the
// server shuts down (RFC 5321 §3.8).
const shutdownReply = "421 4.3.2 Service shutting down, closing connection"

// modes is the two ways a test below reaches the server.
var modes = []struct {
	name     string
	implicit bool
}{{"plain", false}, {"implicit TLS", true}}

func (e *env) dialMode(r *running, implicit bool) *raw {
	e.t.Helper()
	t := e.t.(*testing.T)
	if implicit {
		return dialRaw(t, r.addr, e.clientTLS)
	}
	return dialRaw(t, r.addr, nil)
}

// countConns counts the server's open connections for which f holds.
func countConns(s *Server, f func(*conn) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if f(c) {
			n++
		}
	}
	return n
}

// openData greets, names sender@remote.example and rcpt, and sends DATA
// up to its 354.
func openData(t *testing.T, c *raw, rcpt string) {
	t.Helper()
	openTx(t, c, rcpt)
	c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
}

// openTx greets and gives the envelope, up to DATA.
func openTx(t *testing.T, c *raw, rcpt string) {
	t.Helper()
	c.cmd("EHLO client.example")
	c.expectPrefix("MAIL FROM:<sender@remote.example>", "250 ")
	c.expectPrefix("RCPT TO:<"+rcpt+">", "250 ")
}

// startMessage opens a transaction to alice and sends the first part of
// a message.
func startMessage(t *testing.T, r *running, c *raw, first string) {
	t.Helper()
	openData(t, c, "alice@example.org")
	c.send(first)
	waitFor(t, "DATA to start", func() bool { return r.srv.busyConns() == 1 })
}

// A message in flight when Shutdown starts is received to its end, stored
// once, and answered before the connection closes; Shutdown returns after
// that, so the process cannot exit before the reply is out. The listener
// wraps its connections as in production, so that the server cannot lean
// on a half-close.
func TestShutdownAnswersMessageInFlight(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.startWrapped(e.options(Inbound), m.implicit)
			c := e.dialMode(r, m.implicit)
			startMessage(t, r, c, "Subject: in flight\r\n\r\nfirst half")

			// serve.go's grace, shortened: it is not reached.
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- r.srv.Shutdown(ctx) }()
			select {
			case err := <-r.errc:
				if !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve returned %v", err)
				}
				r.errc <- err // for the cleanup
			case <-time.After(testTimeout):
				t.Fatal("Serve did not return")
			}

			// The client goes on sending after Shutdown began.
			for range 20 {
				c.send(strings.Repeat("q", 98))
			}
			got := c.cmd(".")
			if !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
				t.Fatalf("end of DATA during Shutdown: %q", got)
			}
			if got := c.read(); got != shutdownReply {
				t.Errorf("after the reply: %q, want %q", got, shutdownReply)
			}
			c.wantClosed()
			if err := <-done; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if files := e.mailFiles(); len(files) != 1 {
				t.Errorf("files on disk: %q, want one", files)
			}
			msgs := e.inbox("alice@example.org")
			want := "\r\n\r\nfirst half\r\n" + strings.Repeat(strings.Repeat("q", 98)+"\r\n", 20)
			if len(msgs) != 1 || !strings.HasSuffix(msgs[0].data, want) {
				t.Errorf("stored %d messages", len(msgs))
			}
		})
	}
}

// When the grace ends while the message is still coming in, the transfer
// is cut: the client gets no reply and nothing is stored.
func TestShutdownGraceEndsWhileReceiving(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.startWrapped(e.options(Inbound), m.implicit)
			c := e.dialMode(r, m.implicit)
			startMessage(t, r, c, "Subject: cut\r\n\r\n"+strings.Repeat(strings.Repeat("x", 98)+"\r\n", 100))

			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if err := r.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
			}
			r.srv.Close() // as serve.go does next
			c.wantClosed()
			waitFor(t, "the cut delivery to end", func() bool { return r.srv.busyConns() == 0 })
			e.wantNoMail()
		})
	}
}

// holdingStore reads each message in full, then waits for release before
// storing it, whatever its context says: a store that had passed its last
// look at the context when Shutdown's grace ended, and commits.
type holdingStore struct {
	mailbox.Store
	received chan struct{}
	release  chan struct{}
}

func (h *holdingStore) Deliver(_ context.Context, users []string, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	h.received <- struct{}{}
	<-h.release
	return h.Store.Deliver(context.Background(), users, bytes.NewReader(b))
}

// When the grace ends while a message received in full is being stored,
// it is let finish: a message that is stored is answered 250 before
// Shutdown returns (a sender that got no reply would send it again).
func TestShutdownGraceEndsWhileStoring(t *testing.T) {
	e := newEnv(t)
	store := &holdingStore{Store: e.store, received: make(chan struct{}, 1), release: make(chan struct{})}
	opts := e.options(Inbound)
	opts.Store = store
	r := e.startWrapped(opts, false)
	c := e.dialMode(r, false)
	startMessage(t, r, c, "Subject: storing\r\n\r\nwhole")
	c.send(".")
	select {
	case <-store.received:
	case <-time.After(testTimeout):
		t.Fatal("the store did not get the message")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.srv.Shutdown(ctx) }()
	waitFor(t, "the grace to end", func() bool {
		return countConns(r.srv, func(c *conn) bool { return c.ctx.Err() != nil }) == 1
	})
	close(store.release)
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	r.srv.Close() // as serve.go does next

	if got := c.read(); !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
		t.Errorf("end of DATA: %q", got)
	}
	if got := c.read(); got != shutdownReply {
		t.Errorf("after the reply: %q, want %q", got, shutdownReply)
	}
	c.wantClosed()
	if files := e.mailFiles(); len(files) != 1 {
		t.Errorf("files on disk: %q, want one", files)
	}
}

// sendAsHook runs a function inside MaySendAs, that is while the server
// handles a MAIL command on submission.
type sendAsHook struct {
	users.DB
	hook func()
}

func (h sendAsHook) MaySendAs(user, addr string) (bool, error) {
	h.hook()
	return h.DB.MaySendAs(user, addr)
}

// The reply to a stored message is on the wire before the connection
// counts as owing nothing: Shutdown's drain, arriving while the server
// handles a command pipelined after the message's end, closes the
// connection, and the client must have had its 250 first (endConn gathers
// replies; drain closes the connection beneath it).
func TestShutdownAfterGatheredReply(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	opts.AllowPlaintext = true
	var r *running
	var mails atomic.Int32
	opts.Users = sendAsHook{DB: e.db, hook: func() {
		if mails.Add(1) == 2 { // the pipelined MAIL
			r.srv.each((*conn).drain)
		}
	}}
	r = e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	c.cmd("EHLO client.example")
	c.expect("AUTH PLAIN "+b64("\x00alice@example.org\x00"+alicePass), "235 2.0.0 Authentication succeeded")
	c.expectPrefix("MAIL FROM:<alice@example.org>", "250")
	c.expectPrefix("RCPT TO:<bob@example.org>", "250")
	c.expectPrefix("DATA", "354")
	if _, err := io.WriteString(c.nc, "Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<alice@example.org>\r\n"); err != nil {
		t.Fatal(err)
	}
	if got := c.read(); !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
		t.Fatalf("the stored message's reply: %q", got)
	}
	c.wantClosed()
	if msgs := e.inbox("bob@example.org"); len(msgs) != 1 {
		t.Fatalf("bob's INBOX holds %d messages, want 1", len(msgs))
	}
}

// slowStartStore's Deliver waits for release before it reads the message.
type slowStartStore struct {
	mailbox.Store
	entered chan struct{}
	release chan struct{}
}

func (h slowStartStore) Deliver(ctx context.Context, users []string, r io.Reader) error {
	close(h.entered)
	<-h.release
	return h.Store.Deliver(ctx, users, r)
}

// The 354 reaches the client before the store is asked for anything: a
// store that takes its time before reading (a user's first delivery makes
// the tree; a lock may be held) does not hold the go-ahead back.
func TestDataGoAheadBeforeStore(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	hs := slowStartStore{Store: e.store, entered: make(chan struct{}), release: make(chan struct{})}
	opts.Store = hs
	r := e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	openTx(t, c, "alice@example.org")
	c.send("DATA")
	select {
	case <-hs.entered:
	case <-time.After(testTimeout):
		t.Fatal("the store was never called")
	}
	// Deliver is holding; the 354 must be here already.
	got := c.read()
	close(hs.release)
	if !strings.HasPrefix(got, "354 ") {
		t.Fatalf("DATA: %q", got)
	}
	c.expectPrefix("Subject: x\r\n\r\nbody\r\n.", "250")
}
