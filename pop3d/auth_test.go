package pop3d

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

func plain(authz, authc, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + authc + "\x00" + pw))
}

func TestLoginUserPass(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(crlf("Subject: one\n\nfirst\n"), crlf("Subject: two\n\nsecond message\n"))
	c := e.dial()
	c.cmd("USER "+testUser, "+OK send PASS")
	c.cmd("PASS "+testPassword, e.maildropLine())
	c.cmd("QUIT", "+OK "+testHost+" POP3 server signing off (0 messages deleted)")
	c.expectClosed()
	e.waitSessionsEnded(1)

	ok := e.logs.find("pop3 login")
	if len(ok) != 1 || ok[0]["result"] != "ok" || ok[0]["user"] != testUser || ok[0]["method"] != "USER" {
		t.Errorf("login log: %v", ok)
	}
	end := e.logs.find("pop3 session end")
	if end[0]["user"] != testUser || end[0]["reason"] != "quit" {
		t.Errorf("session end log: %v", end)
	}
}

// The login name is case-insensitive: the canonical address is used.
func TestLoginCaseInsensitive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial()
	c.cmd("user ALICE@Example.ORG", "+OK send PASS")
	c.cmd("pass "+testPassword, "+OK maildrop has 0 messages (0 octets)")
	if l := e.logs.find("pop3 login"); l[0]["user"] != testUser {
		t.Errorf("logged user %v, want canonical %s", l[0]["user"], testUser)
	}
}

// Wrong password and unknown user get the same [AUTH] answer, the session
// goes on, and nothing in the store changes.
func TestLoginFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxAuthFailures = 3 })
	e.deliver(crlf("Subject: keep\n\nkeep me\n"))
	before := e.diskFiles()

	c := e.dial()
	c.cmd("USER "+testUser, "+OK send PASS")
	c.cmd("PASS wrong password", "-ERR [AUTH] authentication failed")
	c.cmd("USER nobody@example.org", "+OK send PASS")
	c.cmd("PASS "+testPassword, "-ERR [AUTH] authentication failed")
	// After a failure PASS needs a new USER (RFC 1939 §7).
	c.cmd("PASS "+testPassword, "-ERR send USER first")
	c.cmd("STAT", "-ERR not logged in")
	// The third failure closes the connection.
	c.cmd("AUTH PLAIN "+plain("", testUser, "nope"), "-ERR [AUTH] authentication failed")
	c.expectClosed()
	e.waitSessionsEnded(1)

	if after := e.diskFiles(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("store changed by failed logins:\nbefore %v\nafter  %v", sortedKeys(before), sortedKeys(after))
	}
	fails := e.logs.find("pop3 login")
	if len(fails) != 3 {
		t.Fatalf("want 3 login log lines, got %d", len(fails))
	}
	for i, want := range []string{testUser, "nobody@example.org", testUser} {
		if fails[i]["result"] != "fail" || fails[i]["user_tried"] != want || fails[i]["remote"] == nil {
			t.Errorf("fail log %d: %v", i, fails[i])
		}
	}
	if end := e.logs.find("pop3 session end"); end[0]["reason"] != "too many failed logins" {
		t.Errorf("session end: %v", end[0])
	}
}

func TestAuthPlainInitialResponse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(crlf("Subject: x\n\ny\n"))
	c := e.dial()
	c.cmd("AUTH PLAIN "+plain("", testUser, testPassword), e.maildropLine())
	c.cmd("AUTH PLAIN "+plain("", testUser, testPassword), "-ERR already logged in")
	if l := e.logs.find("pop3 login"); l[0]["method"] != "PLAIN" {
		t.Errorf("method %v", l[0]["method"])
	}
}

func TestAuthPlainContinuation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial()
	c.send("AUTH PLAIN")
	c.expect("+ ")
	c.cmd(plain(testUser, testUser, testPassword), "+OK maildrop has 0 messages (0 octets)")
}

func TestAuthPlainErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxAuthFailures = 100; o.MaxErrors = 100 })
	c := e.dial()

	// RFC 5034 §4: "*" cancels with -ERR.
	c.cmd("AUTH PLAIN", "+ ")
	c.cmd("*", "-ERR authentication cancelled")
	// Not base64.
	c.cmd("AUTH PLAIN", "+ ")
	c.cmd("!!!notbase64", "-ERR invalid base64 in authentication response")
	c.cmd("AUTH PLAIN ***", "-ERR invalid base64 in authentication response")
	// "=" is an empty initial response: not a PLAIN message.
	c.cmd("AUTH PLAIN =", "-ERR [AUTH] authentication failed")
	// Malformed PLAIN messages.
	c.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte(testUser+"\x00"+testPassword)), "-ERR [AUTH] authentication failed")
	c.cmd("AUTH PLAIN "+plain("", testUser, ""), "-ERR [AUTH] authentication failed")
	// Right password, but acting for someone else.
	c.cmd("AUTH PLAIN "+plain("bob@example.org", testUser, testPassword), "-ERR [AUTH] authentication failed")
	// Mechanisms we do not have.
	c.cmd("AUTH LOGIN", "-ERR unsupported authentication mechanism")
	c.cmd("AUTH CRAM-MD5", "-ERR unsupported authentication mechanism")
	c.cmd("AUTH PLAIN a b", "-ERR too many arguments")
	// A bare AUTH lists the mechanisms (RFC 1734 clients).
	c.send("AUTH")
	c.expect("+OK")
	if got := c.lines(); strings.Join(got, ",") != "PLAIN" {
		t.Errorf("AUTH list %q", got)
	}
	// The session is still usable.
	c.login()
	if n := len(e.logs.find("pop3 login")); n != 5 {
		t.Errorf("want 4 failed + 1 ok login lines, got %d", n)
	}
}

// A SASL line may be longer than a command line (RFC 5034 §4), up to
// MaxAuthLineLength.
func TestAuthLineLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxAuthFailures = 100 })
	c := e.dial()
	long := plain("", testUser, strings.Repeat("p", 600)) // > 255, < 2048
	c.cmd("AUTH PLAIN", "+ ")
	c.cmd(long, "-ERR [AUTH] authentication failed")
	c.cmd("AUTH PLAIN", "+ ")
	c.cmd(strings.Repeat("A", DefaultMaxAuthLineLength), "-ERR authentication line too long")
	c.cmd("AUTH PLAIN "+long, "-ERR line too long")
	c.login()
}

// APOP is not offered.
func TestAPOPNotOffered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial()
	c.cmd("APOP "+testUser+" c4c9334bac560ecc979e58001b3e22fb", "-ERR APOP not supported")
	c.login()
}

func TestExclusiveLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.ExclusiveLogin = true })
	e.deliver(crlf("Subject: x\n\ny\n"))
	a := e.dial()
	a.login()
	b := e.dial()
	b.cmd("USER "+testUser, "+OK send PASS")
	b.cmd("PASS "+testPassword, "-ERR [IN-USE] maildrop already in use")
	a.cmd("QUIT", "+OK "+testHost+" POP3 server signing off (0 messages deleted)")
	a.expectClosed()
	e.waitSessionsEnded(1)
	b.login()
}

// Without ExclusiveLogin two sessions of one user may run together.
func TestConcurrentSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(crlf("Subject: x\n\ny\n"))
	a := e.dial()
	a.login()
	b := e.dial()
	b.login()
	count, size := e.totals()
	a.cmd("STAT", fmt.Sprintf("+OK %d %d", count, size))
	b.cmd("STAT", fmt.Sprintf("+OK %d %d", count, size))
}
