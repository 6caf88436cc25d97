package imapd

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func TestLoginOK(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login()
	caps := c.Caps()
	for _, want := range []imap.Cap{imap.CapIMAP4rev2, imap.CapIMAP4rev1, imap.CapIdle, imap.CapMove,
		imap.CapUIDPlus, imap.CapESearch, imap.CapSearchRes, imap.CapSpecialUse, imap.CapListExtended,
		imap.CapListStatus, imap.CapStatusSize, imap.CapBinary, imap.CapNamespace, imap.CapChildren,
		imap.CapCreateSpecialUse, imap.CapUnselect, imap.CapEnable, imap.CapUTF8Accept, imap.CapLiteralMinus, imap.CapLiteralPlus,
		"APPENDLIMIT=33554432"} {
		if !caps.Has(want) {
			t.Errorf("after login, capability %s missing from %v", want, caps)
		}
	}
	for _, not := range []imap.Cap{imap.CapStartTLS, imap.CapQuota, imap.CapCondStore} {
		if caps.Has(not) {
			t.Errorf("capability %s advertised but not implemented", not)
		}
	}
	recs := e.waitLog("login", 1)
	if recs[0]["user"] != testUser || recs[0]["remote"] == nil {
		t.Errorf("login log record %v", recs[0])
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatalf("logout: %v", err)
	}
	e.waitLog("session end", 1)
}

func TestLoginCaseInsensitiveAddress(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	if err := c.Login("Alice@Example.ORG", testPassword).Wait(); err != nil {
		t.Fatalf("login with mixed case: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

// Every failure gets the same answer, and the log names the attempt but
// never the password (checked for every test by the env's cleanup).
func TestLoginFailuresAreGeneric(t *testing.T) {
	e := newEnv(t, nil)
	r := e.raw()
	for i, login := range []string{
		testUser + " wrongpassword",
		"nobody@example.org " + `"` + testPassword + `"`,
		"alice@elsewhere.test x",
		"not-an-address x",
	} {
		_, tagged := r.cmd("a", "LOGIN "+login)
		if tagged != "a NO [AUTHENTICATIONFAILED] Authentication failed" {
			t.Errorf("attempt %d: %q", i, tagged)
		}
	}
	// AUTHENTICATE PLAIN with a wrong password, initial response (SASL-IR).
	// "\x00alice@example.org\x00nope"
	_, tagged := r.cmd("b", "AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAG5vcGU=")
	if tagged != "b NO [AUTHENTICATIONFAILED] Authentication failed" {
		t.Errorf("AUTHENTICATE: %q", tagged)
	}
	// The session goes on: a right login still works.
	r.ok("c", "LOGIN "+testUser+` "`+testPassword+`"`)
	fails := e.waitLog("login failed", 5)
	if fails[1]["user"] != "nobody@example.org" {
		t.Errorf("failed login record %v", fails[1])
	}
}

func TestAuthenticatePlain(t *testing.T) {
	e := newEnv(t, nil)
	r := e.raw()
	// "\x00alice@example.org\x00correct horse battery"
	_, tagged := r.cmd("a", "AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGNvcnJlY3QgaG9yc2UgYmF0dGVyeQ==")
	if !strings.HasPrefix(tagged, "a OK [CAPABILITY ") {
		t.Fatalf("AUTHENTICATE: %q", tagged)
	}
}

// Malformed AUTHENTICATE PLAIN exchanges are failed logins, not server
// bugs (RFC 9051 §6.2.2, RFC 4616 §2): "=" as the initial response and an
// empty line as the response both decode to no octets, which is no PLAIN
// message. "*" cancels (BAD), another mechanism is NO. The session goes
// on and a good AUTHENTICATE then works, without or with SASL-IR.
func TestAuthenticatePlainMalformed(t *testing.T) {
	e := newEnv(t, nil)
	r := e.raw()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	failed := "NO [AUTHENTICATIONFAILED] Authentication failed"
	for _, tc := range []struct{ cmd, want string }{
		{"AUTHENTICATE PLAIN =", failed},
		{"AUTHENTICATE PLAIN " + b64("only one part"), failed},
		{"AUTHENTICATE PLAIN " + b64("\x00\x00"), failed},                  // no user name
		{"AUTHENTICATE PLAIN " + b64("a\x00b\x00c\x00d"), failed},          // four parts
		{"AUTHENTICATE PLAIN " + b64("\x00"+testUser+"\x00wrong"), failed}, // a real failure
		{"AUTHENTICATE PLAIN " + b64(otherUser+"\x00"+testUser+"\x00"+testPassword), "NO [AUTHORIZATIONFAILED] SASL identity not supported"},
		{"AUTHENTICATE CRAM-MD5", "NO SASL mechanism not supported"},
	} {
		_, tagged := r.cmd("a", tc.cmd)
		if got := strings.TrimPrefix(tagged, "a "); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, got, tc.want)
		}
	}
	// Without an initial response: an empty challenge (the library writes
	// it "+ =") then the client's line.
	for _, tc := range []struct{ resp, want string }{
		{"", failed},
		{"*", "BAD AUTHENTICATE cancelled"},
		{b64("\x00" + testUser), failed},
	} {
		r.send("b AUTHENTICATE PLAIN")
		if l := r.line(); l != "+ =" {
			t.Fatalf("continuation: %q", l)
		}
		r.send(tc.resp)
		if _, tagged := r.until("b"); strings.TrimPrefix(tagged, "b ") != tc.want {
			t.Errorf("response %q:\n got %q\nwant %q", tc.resp, tagged, tc.want)
		}
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a client's mistake was logged as an error:\n%s", e.logs.String())
	}
	r.send("c AUTHENTICATE PLAIN")
	if l := r.line(); l != "+ =" {
		t.Fatalf("continuation: %q", l)
	}
	r.send(b64("\x00" + testUser + "\x00" + testPassword))
	if _, tagged := r.until("c"); !strings.HasPrefix(tagged, "c OK [CAPABILITY ") {
		t.Fatalf("AUTHENTICATE after failures: %q", tagged)
	}
	if u := r.ok("d", "CAPABILITY"); len(u) != 1 || strings.Contains(u[0], "AUTH=") {
		t.Errorf("capabilities after login: %q", u)
	}
}

func TestAuthDelay(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AuthDelay = 200 * time.Millisecond })
	r := e.raw()
	start := time.Now()
	_, tagged := r.cmd("a", "LOGIN "+testUser+" wrong")
	if tagged != "a NO [AUTHENTICATIONFAILED] Authentication failed" {
		t.Fatalf("%q", tagged)
	}
	// Not a speed assertion: the configured delay is a lower bound.
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("failed login answered after %v, before AuthDelay", d)
	}
}

// Without AllowPlaintext, a plaintext connection (even on loopback) may
// not log in: LOGINDISABLED, no AUTH=, and LOGIN is refused.
func TestLoginDisabledWithoutTLS(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowPlaintext = false; o.TLSConfig = selfSigned(t) })
	r := e.raw()
	u, tagged := r.cmd("a", "CAPABILITY")
	if tagged != "a OK CAPABILITY completed" || len(u) != 1 {
		t.Fatalf("CAPABILITY: %q %q", u, tagged)
	}
	if !strings.Contains(u[0], " LOGINDISABLED") || !strings.Contains(u[0], " STARTTLS") || strings.Contains(u[0], "AUTH=") {
		t.Errorf("capabilities before TLS: %q", u[0])
	}
	_, tagged = r.cmd("b", "LOGIN "+testUser+` "`+testPassword+`"`)
	if tagged != "b NO [PRIVACYREQUIRED] TLS is required to authenticate" {
		t.Errorf("LOGIN without TLS: %q", tagged)
	}
	if len(e.logs.find("login")) != 0 {
		t.Errorf("a login was logged")
	}
}

func TestStartTLSThenLogin(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowPlaintext = false; o.TLSConfig = selfSigned(t) })
	c, err := imapclient.DialStartTLS(e.addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c.Close()
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if caps.Has(imap.CapStartTLS) || caps.Has(imap.CapLoginDisabled) || !caps.Has("AUTH=PLAIN") {
		t.Errorf("capabilities after STARTTLS: %v", caps)
	}
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatalf("login after STARTTLS: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestImplicitTLS(t *testing.T) {
	e := startEnv(t, envConfig{implicitTLS: true, edit: func(o *Options) { o.AllowPlaintext = false }})
	c := e.dial()
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if caps.Has(imap.CapStartTLS) || caps.Has(imap.CapLoginDisabled) || !caps.Has("AUTH=PLAIN") {
		t.Errorf("capabilities on implicit TLS: %v", caps)
	}
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
}

// fakeRemote makes accepted connections report another remote address,
// to show the loopback rule of AllowPlaintext.
type fakeRemote struct {
	net.Listener
	addr net.Addr
}

func (f fakeRemote) Accept() (net.Conn, error) {
	c, err := f.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return remoteConn{c, f.addr}, nil
}

type remoteConn struct {
	net.Conn
	addr net.Addr
}

func (r remoteConn) RemoteAddr() net.Addr { return r.addr }

// AllowPlaintext is for loopback only: from another address, plaintext
// login stays disabled (RFC 9051 §6.2.3 LOGINDISABLED), and STARTTLS then
// enables it.
func TestAllowPlaintextIsLoopbackOnly(t *testing.T) {
	far := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000}
	e := startEnv(t, envConfig{
		edit: func(o *Options) { o.AllowPlaintext = true; o.TLSConfig = selfSigned(t) },
		wrap: func(ln net.Listener) net.Listener { return fakeRemote{ln, far} },
	})
	r := e.raw()
	u, _ := r.cmd("a", "CAPABILITY")
	if !strings.Contains(u[0], " LOGINDISABLED") || strings.Contains(u[0], "AUTH=PLAIN") {
		t.Errorf("capabilities for a remote plaintext client: %q", u[0])
	}
	_, tagged := r.cmd("b", "LOGIN "+testUser+` "`+testPassword+`"`)
	if tagged != "b NO [PRIVACYREQUIRED] TLS is required to authenticate" {
		t.Errorf("remote plaintext LOGIN: %q", tagged)
	}
	_, tagged = r.cmd("c", "AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGNvcnJlY3QgaG9yc2UgYmF0dGVyeQ==")
	if tagged != "c NO [PRIVACYREQUIRED] TLS is required to authenticate" {
		t.Errorf("remote plaintext AUTHENTICATE: %q", tagged)
	}
	_, tagged = r.cmd("d", "STARTTLS")
	if tagged != "d OK Begin TLS negotiation now" {
		t.Fatalf("STARTTLS: %q", tagged)
	}
	tc := tls.Client(r.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	r.conn = tc
	r.r.Reset(tc)
	r.ok("e", "LOGIN "+testUser+` "`+testPassword+`"`)
	if recs := e.waitLog("login", 1); recs[0]["remote"] != "192.0.2.7:40000" {
		t.Errorf("login record %v", recs[0])
	}
}

func TestUnknownCommandBeforeLoginIsBye(t *testing.T) {
	e := newEnv(t, nil)
	r := e.raw()
	// The library's guard against cross-protocol attacks.
	r.send("a HELO there")
	if l := r.line(); l != "a BAD Unknown command" {
		t.Errorf("got %q", l)
	}
	if l := r.line(); l != "* BYE Unknown command" {
		t.Errorf("got %q", l)
	}
	r.expectClosed()
}

func TestMaxConnsPerIP(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxConnsPerIP = 2 })
	e.raw()
	e.raw()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 100)
	n, _ := c.Read(buf)
	if got := string(buf[:n]); got != "* BYE Too many connections from your address\r\n" {
		t.Errorf("third connection got %q", got)
	}
}
