package imapd

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// injectedLiteral is n octets of literal data whose lines are commands
// that must never run.
func injectedLiteral(n int) string {
	cmds := "x1 CREATE Injected\r\nx2 DELETE Trash\r\nx3 LOGIN " + testUser + " " + testPassword + "\r\n"
	return cmds + strings.Repeat("y", n-len(cmds))
}

// overlong is start, padding, then tail, such that tail begins just past
// the imapserver library's 50 KiB limit on a command.
func overlong(start, tail string) string {
	return start + strings.Repeat("A", 51202-len(start)) + tail
}

// rawSTARTTLS opens a connection, upgrades it with STARTTLS and reads the
// capability line the client asks for, like a client that obeys RFC 9051.
func rawSTARTTLS(t *testing.T, e *env) *raw {
	t.Helper()
	r := e.raw()
	r.send("s STARTTLS")
	if l := r.line(); !strings.HasPrefix(l, "s OK ") {
		t.Fatalf("STARTTLS: %q", l)
	}
	tc := tls.Client(r.conn, &tls.Config{InsecureSkipVerify: true})
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return &raw{t: t, conn: tc, r: bufio.NewReader(tc)}
}

// Issue 5, the first library hazard: whatever a client puts in a literal
// the server refuses is never run as commands, before login and after, in
// the clear, after STARTTLS and under implicit TLS. The refusal is
// answered and the connection closed; the store is unchanged.
func TestLiteralInjectionRefused(t *testing.T) {
	for _, mode := range []string{"plain", "starttls", "implicit"} {
		t.Run(mode, func(t *testing.T) {
			var e *env
			edit := func(o *Options) { o.AppendLimit = 8000 }
			switch mode {
			case "plain":
				e = newEnv(t, edit)
			case "starttls":
				e = newEnv(t, func(o *Options) { edit(o); o.TLSConfig = selfSigned(t) })
			case "implicit":
				e = startEnv(t, envConfig{implicitTLS: true, edit: edit})
			}
			dial := func() *raw {
				if mode == "starttls" {
					return rawSTARTTLS(t, e)
				}
				return e.raw()
			}
			login := func() *raw {
				r := dial()
				r.ok("L1", "LOGIN "+testUser+` "`+testPassword+`"`)
				return r
			}
			login().ok("s", "SELECT INBOX") // makes the user's tree
			before := e.diskFiles()

			for _, tc := range []struct {
				name, first, want string
				loggedIn          bool
			}{
				// Over the library's 4096 octets for a non-APPEND literal.
				{"login", "a LOGIN {5000+}\r\n" + injectedLiteral(5000) + " x\r\n", "", false},
				{"select", "a SELECT {5000+}\r\n" + injectedLiteral(5000) + "\r\n", "", true},
				// Over APPENDLIMIT.
				{"append", "a APPEND INBOX {9000+}\r\n" + injectedLiteral(9000) + "\r\n", "a NO [TOOBIG] ", true},
				// A syntax error before a small literal: all of it is
				// in the library's buffer when it answers.
				{"date", "a APPEND INBOX \"31-Feb-2020 10:00:00 +0100\" {120+}\r\n" + injectedLiteral(120) + "\r\n", "a NO [SERVERBUG] ", true},
				{"syntax", "a APPEND INBOX (\\Seen {120+}\r\n" + injectedLiteral(120) + "\r\n", "a BAD ", true},
				// A synchronizing literal sent without waiting for "+".
				{"eager", "a LOGIN {5000}\r\n" + injectedLiteral(5000) + " x\r\n", "", false},
				// The library would take "Trash" from the literal as the
				// name, and a waiting client's next line for a big
				// synchronizing one.
				{"delete", "a DELETE {5000+}\r\nTrash" + injectedLiteral(4995) + "\r\n", "", true},
				{"sync", "a CREATE {5000}\r\nEvil\r\n", "", true},
				{"mailbox literal", "a APPEND {5000+}\r\n" + injectedLiteral(5000) + " {3+}\r\nabc\r\n", "", true},
				// No literal at all: a command longer than the library's
				// 50 KiB, whose text past that limit the library would
				// read as the next command (a quoted string can carry
				// text from a message's own header).
				{"long line", overlong(`a UID SEARCH HEADER Message-ID "`, "x DELETE Trash\r\n"), "", true},
				{"long login", overlong(`a LOGIN `+testUser+` "`, "x LOGIN "+testUser+" "+testPassword+"\r\n"), "", false},
				// The library takes a space before a literal header's
				// line end, so the guard must see that literal too.
				{"space before CRLF", "a DELETE {5000+} \r\n" + injectedLiteral(5000) + "\r\n", "", true},
				// A bare LF inside a quoted string (which the library
				// takes as text) must not make a long command look short.
				{"LF in a quoted string", overlong(`a UID SEARCH HEADER Message-ID "`+strings.Repeat("A", 30000)+"\n", "x DELETE Trash\r\n"), "", true},
				// Nor hide a literal header the library reads as text.
				{"literal header in a quoted string", `a UID SEARCH TEXT "x {4000}` + "\r\n" + injectedLiteral(4000) + "\"\r\n", "", true},
			} {
				r := dial()
				if tc.loggedIn {
					r.ok("L1", "LOGIN "+testUser+` "`+testPassword+`"`)
				}
				// The server may close before it has read all: a failed
				// write is fine, an answer to anything but "a" is not.
				io.WriteString(r.conn, tc.first+"z NOOP\r\n")
				var got []string
				for {
					l, err := r.r.ReadString('\n')
					if err != nil {
						break
					}
					got = append(got, strings.TrimSuffix(l, "\r\n"))
				}
				if len(got) > 1 || len(got) == 1 && (!strings.HasPrefix(got[0], "a NO ") && !strings.HasPrefix(got[0], "a BAD ")) {
					t.Errorf("%s: the server answered %.300q, want only a refusal of a, then the connection closed", tc.name, got)
				}
				if len(got) == 1 && tc.want != "" && !strings.HasPrefix(got[0], tc.want) {
					t.Errorf("%s: answer %q, want %q...", tc.name, got[0], tc.want)
				}
			}
			if after := e.diskFiles(); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("the store changed:\nbefore %v\nafter  %v", before, after)
			}
			r := login()
			if u := r.ok("l", `LIST "" "*"`); strings.Contains(strings.Join(u, "\n"), "Injected") || strings.Contains(strings.Join(u, "\n"), "Evil") ||
				!strings.Contains(strings.Join(u, "\n"), "Trash") {
				t.Errorf("folders after the attempts: %q", u)
			}
			if n := len(e.logs.find("login")); n != 2+11 {
				// setup, the final check, and one per logged-in case: the
				// LOGINs inside the literals and long lines never ran.
				t.Errorf("%d logins, want 13", n)
			}
		})
	}
}

// LITERAL+ (RFC 7888) works for a client that uses it well: a big APPEND
// and a LOGIN without waiting for "+", and the session goes on.
func TestLiteralPlus(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TLSConfig = selfSigned(t) })
	r := rawSTARTTLS(t, e)
	u, tagged := r.cmd("c", "CAPABILITY")
	if len(u) != 1 || !strings.Contains(u[0], " LITERAL- ") {
		t.Errorf("before login: %q %q", u, tagged)
	}
	login := fmt.Sprintf("a LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n", len(testUser), testUser, len(testPassword), testPassword)
	if _, err := io.WriteString(r.conn, login); err != nil {
		t.Fatal(err)
	}
	if _, tagged := r.until("a"); !strings.HasPrefix(tagged, "a OK [CAPABILITY ") || !strings.Contains(tagged, " LITERAL+ ") {
		t.Fatalf("LOGIN with LITERAL+: %q", tagged)
	}
	msg := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 600)
	if _, err := io.WriteString(r.conn, fmt.Sprintf("b APPEND INBOX {%d+}\r\n%s\r\n", len(msg), msg)); err != nil {
		t.Fatal(err)
	}
	if _, tagged := r.until("b"); !strings.HasPrefix(tagged, "b OK [APPENDUID ") {
		t.Fatalf("APPEND with LITERAL+: %q", tagged)
	}
	r.ok("s", "SELECT INBOX")
	u = r.ok("f", "FETCH 1 BODY.PEEK[]")
	if len(u) != 1 || !strings.HasSuffix(u[0], fmt.Sprintf("{%d}\r\n%s)", len(msg), msg)) {
		t.Errorf("FETCH of the appended message: %.80q", u)
	}
	// A refused flag after the literal was read: BAD, and the session
	// goes on (the literal was consumed, nothing is left to run).
	if _, err := io.WriteString(r.conn, "d APPEND INBOX (\\Recent) {3+}\r\nabc\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, tagged := r.until("d"); !strings.HasPrefix(tagged, "d BAD ") {
		t.Errorf("APPEND \\Recent: %q", tagged)
	}
	r.ok("n", "NOOP")
}

// The guard tells the library's two directions apart by its caller: the
// library's TeeReader (client octets) and MultiWriter (server octets).
func TestLiteralGuardDirections(t *testing.T) {
	g := newLiteralGuard(nil)
	rd := io.TeeReader(strings.NewReader("a SELECT {9+}\r\n"), g)
	if _, err := io.ReadAll(rd); err != nil {
		t.Fatal(err)
	}
	w := io.MultiWriter(io.Discard, g)
	if _, err := io.WriteString(w, "* OK still reading\r\n"); err != nil {
		t.Fatalf("an untagged line failed: %v", err)
	}
	if _, err := io.WriteString(w, "a NO [TOOBIG] too big\r\n"); err != errLiteralLeft {
		t.Fatalf("the refusal of a command with unread literal octets: %v", err)
	}
	// A command read whole and answered is no reason to close.
	g = newLiteralGuard(nil)
	io.ReadAll(io.TeeReader(strings.NewReader("a LOGIN {1+}\r\nx y\r\n"), g))
	if _, err := io.WriteString(io.MultiWriter(io.Discard, g), "a NO [AUTHENTICATIONFAILED] no\r\n"); err != nil {
		t.Fatalf("a login failure: %v", err)
	}
	// Server literals are skipped: a tagged-looking line inside one is data.
	g = newLiteralGuard(nil)
	io.ReadAll(io.TeeReader(strings.NewReader("f FETCH 1 BODY[]\r\nb APPEND INBOX {3+}\r\n"), g))
	w = io.MultiWriter(io.Discard, g)
	if _, err := io.WriteString(w, "* 1 FETCH (BODY[] {12}\r\nb BAD fake\r\n)\r\nf OK done\r\n"); err != nil {
		t.Fatalf("a FETCH whose body looks like a response: %v", err)
	}
}

// A literal header split across reads is seen; a literal under a tag too
// long to follow is refused at the read.
func TestLiteralGuardSplitsAndLongTags(t *testing.T) {
	g := newLiteralGuard(nil)
	for _, part := range []string{"a APPEND INBOX {1", "0+}", "\r\nabc"} {
		if _, err := io.ReadAll(io.TeeReader(strings.NewReader(part), g)); err != nil {
			t.Fatal(err)
		}
	}
	w := io.MultiWriter(io.Discard, g)
	for _, part := range []string{"a NO [TO", "OBIG] too big\r\n"} {
		if _, err := io.WriteString(w, part); err != nil && part == "a NO [TO" {
			t.Fatalf("first half: %v", err)
		} else if err != errLiteralLeft && part != "a NO [TO" {
			t.Fatalf("the refusal split across writes: %v", err)
		}
	}
	// Literals the library would refuse for their size are refused at
	// the read: anything over 4096 octets but an APPEND message.
	for in, want := range map[string]error{
		"a APPEND INBOX (\\Seen) {10000+}\r\n":      nil,
		"a append INBOX {10000}\r\n":                nil,
		"a APPEND {4096}\r\n":                       nil,
		"a APPEND {4097}\r\n":                       errBigLiteral,
		"a LOGIN {4097+}\r\n":                       errBigLiteral,
		"a UID SEARCH TEXT {5000}\r\n":              errBigLiteral,
		strings.Repeat("t", 33) + " LOGIN {1+}\r\n": errLongTag,
	} {
		g := newLiteralGuard(nil)
		if _, err := io.ReadAll(io.TeeReader(strings.NewReader(in), g)); err != want {
			t.Errorf("%.40q: %v, want %v", in, err, want)
		}
	}
	// After an APPEND message only the line's end may come (")" first
	// after RFC 6855's UTF8 form).
	for in, want := range map[string]error{
		"a APPEND INBOX {3+}\r\nabc\r\n":               nil,
		"a APPEND INBOX UTF8 (~{3+}\r\nabc)\r\n":       nil,
		"a APPEND {5+}\r\nINBOX {3+}\r\nabc\r\n":       nil,
		"a APPEND INBOX {3+}\r\nabc extra garbage\r\n": errAfterMessage,
		"a APPEND INBOX {3+}\r\nabc {5+}\r\nhello\r\n": errAfterMessage,
	} {
		g := newLiteralGuard(nil)
		if _, err := io.ReadAll(io.TeeReader(strings.NewReader(in), g)); err != want {
			t.Errorf("%q: %v, want %v", in, err, want)
		}
	}
	long := strings.Repeat("t", 100)
	g = newLiteralGuard(nil)
	if _, err := io.ReadAll(io.TeeReader(strings.NewReader(long+" NOOP\r\n"), g)); err != nil {
		t.Fatalf("a long tag without a literal: %v", err)
	}
	if _, err := io.ReadAll(io.TeeReader(strings.NewReader(long+" LOGIN {5+}\r\n"), g)); err != errLongTag {
		t.Fatalf("a long tag with a literal: %v", err)
	}
}

func TestParseLiteralHeader(t *testing.T) {
	for in, want := range map[string]literalHeader{
		"a LOGIN {5}\r\n":                {ok: true, size: 5},
		"a APPEND x {12+}\r\n":           {ok: true, nonSync: true, size: 12},
		"a APPEND x ~{0}\r\n":            {ok: true},
		"a NOOP\r\n":                     {},
		"a LOGIN \"{5}\"\r\n":            {},
		"a X {}\r\n":                     {},
		"a X {+}\r\n":                    {},
		"a X {-1}\r\n":                   {},
		"a X {99999999999999999999}\r\n": {},
	} {
		if got := parseLiteralHeader([]byte(in)); got != want {
			t.Errorf("%q: %+v, want %+v", in, got, want)
		}
	}
}

// FuzzLiteralGuard: the guard's judgement does not depend on how the two
// streams are cut into reads and writes, and it never panics.
func FuzzLiteralGuard(f *testing.F) {
	f.Add([]byte("a APPEND INBOX {5+}\r\nhello\r\nb NOOP\r\n"), []byte("* 1 EXISTS\r\na OK done\r\n"), uint8(3))
	f.Add([]byte("a LOGIN {5000+}\r\nx"), []byte("a NO [TOOBIG] x\r\n"), uint8(1))
	f.Add([]byte("a LOGIN {5}\r\nb NOOP\r\n"), []byte("a NO [TOOBIG] x\r\nb OK\r\n"), uint8(2))
	f.Add([]byte("f FETCH 1 BODY[]\r\nb APPEND x {3+}\r\n"), []byte("* 1 FETCH (BODY[] {9}\r\nb BAD x\r\n)\r\nb BAD y\r\n"), uint8(5))
	f.Fuzz(func(t *testing.T, client, server []byte, step uint8) {
		run := func(n int) (readErr, writeErr error) {
			g := newLiteralGuard(nil)
			for i := 0; i < len(client) && readErr == nil; i += n {
				_, readErr = io.ReadAll(io.TeeReader(strings.NewReader(string(client[i:min(i+n, len(client))])), g))
			}
			w := io.MultiWriter(io.Discard, g)
			for i := 0; i < len(server) && writeErr == nil; i += n {
				_, writeErr = w.Write(server[i:min(i+n, len(server))])
			}
			return readErr, writeErr
		}
		r1, w1 := run(max(len(client), len(server), 1))
		r2, w2 := run(int(step%16) + 1)
		if r1 != r2 || (r1 == nil && w1 != w2) {
			t.Fatalf("whole: read %v write %v; in pieces of %d: read %v write %v", r1, w1, step%16+1, r2, w2)
		}
	})
}

// Text after an APPEND message literal (the library would store the
// message, drop the text and never answer): the connection is closed and,
// when the text comes with the message, nothing is stored.
func TestAppendTextAfterLiteral(t *testing.T) {
	e := newEnv(t, nil)
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	before := e.diskContents()
	msg := "Subject: x\r\n\r\nbody\r\n"
	r.send(fmt.Sprintf("c APPEND INBOX {%d}", len(msg)))
	if l := r.line(); l != "+ Ready for literal data" {
		t.Fatalf("continuation: %q", l)
	}
	io.WriteString(r.conn, msg+" extra garbage\r\nd NOOP\r\n")
	r.expectClosed()
	if got := e.diskContents(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("the APPEND with text after its literal was stored")
	}
}

// A long command under the limit is served: a client's sparse UID set of
// 45 KiB, then the session goes on.
func TestLongCommandUnderLimit(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "1\r\n"))
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	var set strings.Builder
	set.WriteString("1")
	for uid := 3; set.Len() < 45<<10; uid += 2 {
		fmt.Fprintf(&set, ",%d", uid)
	}
	if u := r.ok("f", "UID FETCH "+set.String()+" (FLAGS)"); len(u) != 1 || !strings.HasPrefix(u[0], "* 1 FETCH ") {
		t.Errorf("long UID FETCH: %q", u)
	}
	r.ok("n", "NOOP")
}

// A refused long command is logged at WARN, so that the admin can see it.
func TestLongCommandLogged(t *testing.T) {
	e := newEnv(t, nil)
	r := e.rawLogin()
	io.WriteString(r.conn, overlong(`a UID SEARCH HEADER Message-ID "`, "x DELETE Trash\r\n"))
	r.expectClosed()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, rec := range e.logs.find("imap library") {
			if d, _ := rec["detail"].(string); strings.Contains(d, "more than 48 KiB") {
				if rec["level"] != "WARN" {
					t.Errorf("logged as %v", rec)
				}
				return
			}
		}
	}
	t.Errorf("no log line for the refusal:\n%s", e.logs.String())
}
