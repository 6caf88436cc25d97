package smtpd

import (
	"bufio"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeLog is a net.Conn that records each Write it is given.
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, string(p))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

func (w *writeLog) taken() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.writes
	w.writes = nil
	return out
}

// TestEndConnGathersReplyLines: the lines of one reply leave in one write,
// sent when the server reads, moves the write deadline, or closes; what was
// written before a deadline in the past (crypto/tls closing) still leaves.
func TestEndConnGathersReplyLines(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	wl := &writeLog{Conn: server}
	ec := &endConn{Conn: wl}
	cr := bufio.NewReader(client)
	readLines := func(n int) []string {
		t.Helper()
		var got []string
		for range n {
			client.SetReadDeadline(time.Now().Add(5 * time.Second))
			l, err := cr.ReadString('\n')
			if err != nil {
				t.Fatalf("client read: %v (got %q)", err, got)
			}
			got = append(got, l)
		}
		return got
	}

	// Three lines, then the server reads: one write of all three.
	ec.SetWriteDeadline(time.Now().Add(time.Minute))
	for _, l := range []string{"250-one\r\n", "250-two\r\n", "250 three\r\n"} {
		if n, err := ec.Write([]byte(l)); n != len(l) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", l, n, err)
		}
	}
	if w := wl.taken(); len(w) != 0 {
		t.Fatalf("sent before the server waited for the client: %q", w)
	}
	readDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 16)
		_, err := ec.Read(buf)
		readDone <- err
	}()
	if got := strings.Join(readLines(3), ""); got != "250-one\r\n250-two\r\n250 three\r\n" {
		t.Fatalf("client got %q", got)
	}
	if w := wl.taken(); len(w) != 1 {
		t.Fatalf("writes %q, want the three lines in one", w)
	}

	// A write while a read waits goes out at once.
	for i := 0; ; i++ {
		ec.wmu.Lock()
		waiting := ec.reading > 0
		ec.wmu.Unlock()
		if waiting {
			break
		}
		if i == 500 {
			t.Fatal("the server's read never started")
		}
		time.Sleep(time.Millisecond)
	}
	go ec.Write([]byte("421 bye\r\n"))
	if got := readLines(1)[0]; got != "421 bye\r\n" {
		t.Fatalf("client got %q", got)
	}
	client.Write([]byte("QUIT\r\n"))
	if err := <-readDone; err != nil {
		t.Fatalf("server read: %v", err)
	}
	wl.taken()

	// Moving the deadline sends what was written under the old one, even
	// when the new one is already past (crypto/tls's closeNotify).
	ec.Write([]byte("221 Bye\r\n"))
	got := make(chan []string, 1)
	go func() {
		tp := textproto.NewReader(cr)
		l, _ := tp.ReadLine()
		got <- []string{l}
	}()
	ec.SetWriteDeadline(time.Now().Add(-time.Second))
	if l := <-got; l[0] != "221 Bye" {
		t.Fatalf("client got %q", l)
	}
	if _, err := ec.Write([]byte("x\r\n")); err != nil {
		t.Fatalf("a write gathered under a past deadline failed at once: %v", err)
	}
	ec.Close() // its send fails: the deadline is past
	if _, err := ec.Write([]byte("y\r\n")); err == nil {
		t.Fatal("a write after a failed send succeeded")
	}
}

// TestEndConnCloseSends: what is gathered leaves before the close.
func TestEndConnCloseSends(t *testing.T) {
	server, client := net.Pipe()
	ec := &endConn{Conn: server}
	ec.Write([]byte("221 2.0.0 Bye\r\n"))
	done := make(chan string, 1)
	go func() {
		l, _ := textproto.NewReader(bufio.NewReader(client)).ReadLine()
		done <- l
	}()
	ec.Close()
	if l := <-done; l != "221 2.0.0 Bye" {
		t.Fatalf("client got %q before the close", l)
	}
}
