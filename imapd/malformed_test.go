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

// TestLibraryLimits pins the answers the imapserver library gives by
// itself, before the session is called (doc.go, "Known library limits").
// None of them is what this package would answer; if one changes after a
// library upgrade, the limit may be gone: update doc.go and this test.
// Each leaves the session working and the store unchanged.
func TestLibraryLimits(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("s", strings.Repeat("x", 10)+"\r\n"), simple("m", strings.Repeat("x", 150)+"\r\n"),
		simple("l", strings.Repeat("x", 600)+"\r\n"))
	before := e.snapshot("INBOX")
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	serverBug := "NO [SERVERBUG] Internal server error"
	for _, tc := range []struct{ cmd, want string }{
		// Mailbox names that are not modified UTF-7 (RFC 3501 §5.1.3).
		{"CREATE \"tab\tname\"", serverBug},
		{`CREATE "&AC8-slash"`, serverBug},
		{`SELECT "&Jjo"`, serverBug},
		{`LIST "" "&Jjo"`, serverBug},
		// Sequence numbers out of nz-number's range (RFC 9051 §9).
		{"FETCH 0 FLAGS", serverBug},
		{"UID FETCH 0 FLAGS", serverBug},
		{"FETCH 4294967296 FLAGS", serverBug},
		// SEARCH keys nested past the decoder's depth limit (1000).
		{"SEARCH " + strings.Repeat("(", 1000) + "ALL" + strings.Repeat(")", 1000), serverBug},
		// SAVE alone should suppress the ESEARCH response (RFC 5182 §1).
		{"SEARCH RETURN (SAVE) ALL", `* ESEARCH (TAG "a") ALL 1:3|OK SEARCH completed`},
		// SMALLER is lost when LARGER follows it; the other order works.
		{"SEARCH SMALLER 300 LARGER 200", "* SEARCH 2 3|OK SEARCH completed"},
		{"SEARCH LARGER 200 SMALLER 300", "* SEARCH 2|OK SEARCH completed"},
	} {
		u, tagged := r.cmd("a", tc.cmd)
		got := strings.Join(append(u, strings.TrimPrefix(tagged, "a ")), "|")
		if got != tc.want {
			t.Errorf("%.50q:\n got %q\nwant %q", tc.cmd, got, tc.want)
		}
	}
	// HEADER.FIELDS () is read as HEADER.
	u := r.ok("h", "FETCH 1 (BODY.PEEK[HEADER.FIELDS ()])")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* 1 FETCH (BODY[HEADER] {") {
		t.Errorf("HEADER.FIELDS (): %q", u)
	}
	r.ok("d", "NOOP")
	// After the parse error of an APPEND date, the library would read the
	// literal as a command; the literal guard closes the connection
	// instead (literalguard.go).
	r.send(`b APPEND INBOX "31-Feb-2020 10:00:00 +0100" {8+}` + "\r\nc NOOP")
	if l := r.line(); l != "b "+serverBug {
		t.Errorf("APPEND with a bad date: %q", l)
	}
	r.expectClosed()
	if e.snapshot("INBOX") != before {
		t.Errorf("the store changed")
	}

	// Not base64 as AUTHENTICATE's initial response.
	r2 := e.raw()
	if _, tagged := r2.cmd("a", "AUTHENTICATE PLAIN !!!notbase64"); tagged != "a "+serverBug {
		t.Errorf("AUTHENTICATE with a bad initial response: %q", tagged)
	}
	r2.ok("b", "NOOP")
	// An empty line, or a tag that is not an atom, ends the connection.
	for _, line := range []string{"", `"quoted tag" NOOP`, "\x00\x01 NOOP"} {
		r3 := e.rawLogin()
		r3.send(line)
		r3.expectClosed()
	}
}
