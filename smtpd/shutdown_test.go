package smtpd

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// Shutdown closes idle connections at once, refuses new ones, lets a
// message being received finish (and answers it), then returns.
func TestShutdownLetsDataFinish(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)

	idle := dialRaw(t, r.addr, nil)
	idle.cmd("EHLO client.example")

	busy := dialRaw(t, r.addr, nil)
	startMessage(t, r, busy, "Subject: in flight\r\n\r\nfirst half")

	done := make(chan error, 1)
	go func() { done <- r.srv.Shutdown(context.Background()) }()

	idle.wantClosed()
	select {
	case err := <-r.errc:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
		r.errc <- err // for the cleanup
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return")
	}
	if nc, err := net.Dial("tcp", r.addr); err == nil {
		nc.Close()
		t.Error("new connection accepted during shutdown")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a message was in flight", err)
	default:
	}

	busy.send("second half")
	got := busy.cmd(".")
	if !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
		t.Fatalf("end of DATA during shutdown: %q", got)
	}
	if got := busy.read(); got != shutdownReply {
		t.Errorf("after the reply: %q, want %q", got, shutdownReply)
	}
	busy.wantClosed()
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	msgs := e.inbox("alice@example.org")
	if len(msgs) != 1 || !strings.HasSuffix(msgs[0].data, "\r\n\r\nfirst half\r\nsecond half\r\n") {
		t.Errorf("stored %v", msgs)
	}
}

// When Shutdown's context ends first, the transfer is cut and nothing of
// it is stored.
func TestShutdownDeadlineAbortsData(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dialRaw(t, r.addr, nil)
	startMessage(t, r, c, "Subject: cut\r\n\r\n"+strings.Repeat(strings.Repeat("x", 98)+"\r\n", 100))

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	c.wantClosed()
	waitFor(t, "the aborted delivery to end", func() bool { return r.srv.busyConns() == 0 })
	e.wantNoMail()
}

func TestCloseAbortsData(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), true)
	c := dialRaw(t, r.addr, e.clientTLS)
	startMessage(t, r, c, "Subject: cut\r\n\r\npartial")
	if err := r.srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	c.wantClosed()
	waitFor(t, "the aborted delivery to end", func() bool { return r.srv.busyConns() == 0 })
	e.wantNoMail()
}

// Shutdown of a TLS connection that is idle closes it too.
func TestShutdownIdleTLS(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Submission), true)
	c := dialRaw(t, r.addr, e.clientTLS)
	c.cmd("EHLO client.example")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	c.wantClosed()
}

func TestServeChecksOptions(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = New(Options{Store: e.store}).Serve(ln)
	for _, want := range []string{"Mode", "Hostname", "Users"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Serve error %v does not name %s", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "Store") {
		t.Errorf("Serve error %v names Store, which is set", err)
	}

	s := New(e.options(Inbound))
	s.Close()
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v", err)
	}
}
