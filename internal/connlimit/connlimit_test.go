package connlimit

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// echoServer accepts on ln and holds every connection until the client
// closes it.
func echoServer(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			io.Copy(io.Discard, c)
			c.Close()
		}()
	}
}

func TestPerIPAndTotalCaps(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := New(3, 2, slog.New(slog.DiscardHandler))
	ln := lim.Wrap(raw, "smtp", "421 4.7.0 too many connections")
	defer ln.Close()
	go echoServer(ln)

	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := dial(), dial()
	waitOpen(t, lim, 2)
	// The third from the same IP is turned away with the busy line.
	c := dial()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "421 4.7.0 too many connections\r\n" {
		t.Fatalf("over the per-IP cap: %q, %v", line, err)
	}
	c.Close()
	// Closing one frees a slot.
	a.Close()
	waitOpen(t, lim, 1)
	d := dial()
	waitOpen(t, lim, 2)
	b.Close()
	d.Close()
	waitOpen(t, lim, 0)
}

func TestTotalCap(t *testing.T) {
	raw, _ := net.Listen("tcp", "127.0.0.1:0")
	lim := New(1, 0, slog.New(slog.DiscardHandler))
	ln := lim.Wrap(raw, "imap", "* BYE too many connections")
	defer ln.Close()
	go echoServer(ln)
	a, _ := net.Dial("tcp", raw.Addr().String())
	defer a.Close()
	waitOpen(t, lim, 1)
	b, _ := net.Dial("tcp", raw.Addr().String())
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(b).ReadString('\n')
	if line != "* BYE too many connections\r\n" {
		t.Fatalf("over the total cap: %q", line)
	}
}

func waitOpen(t *testing.T, l *Limiter, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.Open() != n {
		if time.Now().After(deadline) {
			t.Fatalf("open connections %d, want %d", l.Open(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
