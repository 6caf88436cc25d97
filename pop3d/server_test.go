package pop3d

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// RFC 2449 §6.6: commands sent together are answered in order.
func TestPipelining(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(threeMessages...)
	infos, _, contents := e.inbox()
	c := e.dial()
	batch := "USER " + testUser + "\r\nPASS " + testPassword + "\r\nSTAT\r\nRETR 2\r\nDELE 1\r\nLIST 1\r\nNOOP\r\nQUIT\r\n"
	if _, err := c.conn.Write([]byte(batch)); err != nil {
		t.Fatal(err)
	}
	c.expect("+OK send PASS")
	c.expect(fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", sumSizes(infos)))
	c.expect(fmt.Sprintf("+OK 3 %d", sumSizes(infos)))
	c.expect(fmt.Sprintf("+OK %d octets", infos[1].Size))
	if got := c.body(); string(got) != string(contents[1]) {
		t.Errorf("RETR 2 in a pipeline: %q", got)
	}
	c.expect("+OK message 1 deleted")
	c.expect("-ERR message 1 already deleted")
	c.expect("+OK")
	c.expect("+OK " + testHost + " POP3 server signing off (1 message deleted)")
	c.expectClosed()
}

// Shutdown tells idle sessions, applies no DELE, and waits for them.
func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(threeMessages...)
	before := e.diskFiles()
	a := e.dial()
	a.login()
	a.cmd("DELE 1", "+OK message 1 deleted")
	b := e.dial() // not logged in

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range []*client{a, b} {
		c.expect("-ERR [SYS/TEMP] server shutting down")
		c.expectClosed()
	}
	if err := <-e.done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	if _, err := net.Dial("tcp", e.addr); err == nil {
		t.Errorf("still accepting after Shutdown")
	}
	if after := e.diskFiles(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("store changed: %v", sortedKeys(after))
	}
	if ends := e.logs.find("pop3 session end"); len(ends) != 2 || ends[0]["reason"] != "server shutdown" {
		t.Errorf("session ends %v", ends)
	}
}

// A session in the middle of a command finishes it before going.
func TestShutdownWaitsForBusySession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(bigMessage(8 << 20))
	infos, _, contents := e.inbox()
	c := e.dial()
	c.login()
	c.send("RETR 1")
	c.expect(fmt.Sprintf("+OK %d octets", infos[0].Size))
	// The server is blocked writing the message we are not reading.
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	// Read only once Shutdown has begun: it closes the listener first.
	for {
		d, err := net.Dial("tcp", e.addr)
		if err != nil {
			break
		}
		d.Close()
		time.Sleep(time.Millisecond)
	}
	if got := c.body(); string(got) != string(contents[0]) {
		t.Errorf("RETR cut by Shutdown (%d of %d octets)", len(got), len(contents[0]))
	}
	c.expect("-ERR [SYS/TEMP] server shutting down")
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// Shutdown's context ending closes what is left: here a session sleeping
// its AuthDelay, which Close cuts short.
func TestShutdownContextExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.AuthDelay = time.Hour })
	c := e.dial()
	c.send("USER " + testUser)
	c.expect("+OK send PASS")
	c.send("PASS wrong")
	// Wait until the failure is logged: the session is in its delay.
	for len(e.logs.find("pop3 login")) == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v", err)
	}
	c.expectClosed()
	if end := e.logs.find("pop3 session end"); len(end) != 1 || end[0]["reason"] != "server shutdown" {
		t.Errorf("session end %v", end)
	}
}

// A session waiting for a SASL response is waiting for the client: it is
// told about the shutdown like an idle one.
func TestShutdownDuringAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial()
	c.cmd("AUTH PLAIN", "+ ")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	c.expect("-ERR [SYS/TEMP] server shutting down")
	c.expectClosed()
}

func TestCloseAndServeAfterClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(threeMessages...)
	before := e.diskFiles()
	c := e.dial()
	c.login()
	c.cmd("DELE 1", "+OK message 1 deleted")
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	if err := <-e.done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
	if after := e.diskFiles(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("store changed: %v", sortedKeys(after))
	}
}

// The greeting names the host and offers no APOP timestamp.
func TestGreeting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl := newClient(t, c)
	if g := cl.line(); g != "+OK "+testHost+" POP3 server ready" || strings.Contains(g, "<") {
		t.Errorf("greeting %q", g)
	}
}
