package imapd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// Bad commands get BAD (or NO) with a clear text, the session goes on,
// and no stored mail changes (DESIGN.md invariant 6).
func TestMalformedCommands(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "1\r\n"), simple("b", "2\r\n"))
	before := e.snapshot("INBOX")
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"FETCH", `BAD [CLIENTBUG] Syntax error: expected SP, got "\r"`},
		{"FETCH 1 (NOSUCH)", "BAD [CLIENTBUG] Unknown FETCH data item"},
		{"FETCH 3 FLAGS", "BAD [CLIENTBUG] Message sequence number out of range"},
		{"FETCH 2:9 FLAGS", "BAD [CLIENTBUG] Message sequence number out of range"},
		{"FETCH 1 BODY[4.NOPE]", "BAD [CLIENTBUG] unknown body section specifier"},
		{`STORE 1 +FLAGZ (\Deleted)`, "BAD [CLIENTBUG] STORE can only change FLAGS"},
		{`STORE 1 +FLAGS (\Deleted`, `BAD [CLIENTBUG] Syntax error: expected SP, got "\r"`},
		{`STORE 7 +FLAGS (\Deleted)`, "BAD [CLIENTBUG] Message sequence number out of range"},
		{"COPY 5 Trash", "BAD [CLIENTBUG] Message sequence number out of range"},
		// The library answers a bad SEARCH key with a NO of its own
		// rather than BAD (its sequence-set parser's error is untyped).
		{"SEARCH FOO", "NO [SERVERBUG] Internal server error"},
		{"SEARCH SINCE yesterday", "NO [SERVERBUG] Internal server error"},
		{"UID FROB 1", "BAD Unknown command"},
		{"SELECT", `BAD [CLIENTBUG] Syntax error: expected SP, got "\r"`},
		{"EXPUNGE now", `BAD [CLIENTBUG] Syntax error: expected CRLF, got "n"`},
		{"NOOP extra", `BAD [CLIENTBUG] Syntax error: expected CRLF, got "e"`},
	} {
		_, tagged := r.cmd("m", tc.cmd)
		if got := strings.TrimPrefix(tagged, "m "); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, got, tc.want)
		}
	}
	// Still selected, still working, nothing changed.
	if u := r.ok("n", "FETCH 1:2 (UID)"); len(u) != 2 {
		t.Errorf("session broken: %q", u)
	}
	if e.snapshot("INBOX") != before {
		t.Errorf("malformed commands changed the store")
	}
}

// A command line over the library's 50 KiB limit ends the connection: the
// rest of the line cannot be told from the next command.
func TestOverlongCommand(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "1\r\n"))
	before := e.snapshot("INBOX")
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	r.send("x SEARCH " + strings.Repeat("SUBJECT aaaa ", 6000))
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l, err := r.r.ReadString('\n')
		if err != nil {
			break
		}
		if strings.HasPrefix(l, "x OK") {
			t.Fatalf("overlong command succeeded")
		}
	}
	if e.snapshot("INBOX") != before {
		t.Errorf("store changed")
	}
	// The server is fine.
	e.rawLogin().ok("a", "NOOP")
}

func TestUIDsStableAcrossRestart(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login()
	var uids []string
	msgs := []string{simple("a", "1\r\n"), simple("b", "2\r\n"), simple("c", "3\r\n")}
	for _, m := range msgs {
		uids = append(uids, fmt.Sprint(appendMsg(t, c, "Archive", m, nil)))
	}
	sel, err := c.Select("Archive", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	e.restart()

	r := e.rawLogin()
	u := r.ok("s", "SELECT Archive")
	want := fmt.Sprintf("* OK [UIDVALIDITY %d] UIDs valid", sel.UIDValidity)
	found := false
	for _, l := range u {
		found = found || l == want
	}
	if !found {
		t.Errorf("after restart SELECT gave %q, want %q", u, want)
	}
	if !strings.Contains(strings.Join(u, "\n"), fmt.Sprintf("[UIDNEXT %d]", sel.UIDNext)) {
		t.Errorf("UIDNEXT changed: %q, was %d", u, sel.UIDNext)
	}
	u = r.ok("f", "FETCH 1:* (UID BODY.PEEK[])")
	for i, m := range msgs {
		want := fmt.Sprintf("* %d FETCH (UID %s BODY[] %s)", i+1, uids[i], lit(m))
		if i >= len(u) || u[i] != want {
			t.Errorf("message %d after restart: %q, want %q", i+1, u, want)
		}
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, nil)
	idler := e.rawLogin()
	idler.ok("s", "SELECT INBOX")
	idler.send("i IDLE")
	if l := idler.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	waiting := e.rawLogin()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, r := range []*raw{idler, waiting} {
		if l := r.line(); l != "* BYE Server shutting down" {
			t.Errorf("got %q", l)
		}
		r.expectClosed()
	}
	select {
	case err := <-e.done:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		e.done <- err // for the cleanup's check
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if c, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		c.Close()
		t.Errorf("still accepting after Shutdown")
	}
	if err := e.srv.Serve(nil); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	e.waitLog("session end", 2)
}
