package smtpd

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mailsuite/mailsuite/users"
)

// go-smtp's DialStartTLS greets as "localhost".
const fromLocalhost = "localhost (client.example [127.0.0.1])"

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestSubmissionMailBeforeAuth(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Submission), false)

	c := dial(t, r.addr)
	wantErr(t, c.Mail("alice@example.org", nil), "530 5.7.0 Authentication required")

	ct := dialStartTLS(t, r.addr, e.clientTLS)
	wantErr(t, ct.Mail("alice@example.org", nil), "530 5.7.0 Authentication required")
	e.wantNoMail()
}

func TestSubmissionAuthBeforeTLS(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Submission), false)
	c := dialRaw(t, r.addr, nil)
	if ehlo := c.cmd("EHLO client.example"); strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH advertised before TLS:\n%s", ehlo)
	}
	c.expect("AUTH PLAIN "+b64("\x00alice@example.org\x00"+alicePass), "530 5.7.0 Must issue a STARTTLS command first")
	c.expect("AUTH LOGIN", "530 5.7.0 Must issue a STARTTLS command first")
	c.expect("MAIL FROM:<alice@example.org>", "530 5.7.0 Authentication required")

	// Without STARTTLS to offer, the RFC 4954 code instead.
	opts := e.options(Submission)
	opts.TLSConfig = nil
	r2 := e.start(opts, false)
	c2 := dialRaw(t, r2.addr, nil)
	c2.cmd("EHLO client.example")
	c2.expect("AUTH PLAIN "+b64("\x00alice@example.org\x00"+alicePass), "538 5.7.11 Encryption required for requested authentication mechanism")
	// The password was never checked, so it is not a failed login.
	if strings.Contains(e.logs.String(), `msg="auth failed"`) {
		t.Error("refused AUTH logged as a failed login")
	}
}

func TestSubmissionAuthPlainStartTLS(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Submission), false)
	c := dialStartTLS(t, r.addr, e.clientTLS)
	if err := c.Auth(sasl.NewPlainClient("", "Alice@Example.org", alicePass)); err != nil {
		t.Fatal(err)
	}
	msg := "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: hi\r\n" +
		"Date: Thu, 03 Dec 2026 12:00:00 +0000\r\nMessage-ID: <hi@example.org>\r\n\r\nhello bob\r\n"
	id := send(t, c, "alice@example.org", []string{"bob@example.org"}, msg)
	got := e.inbox("bob@example.org")
	if len(got) != 1 {
		t.Fatalf("bob has %d messages, want 1", len(got))
	}
	if body := wantTrace(t, got[0].data, "<alice@example.org>", fromLocalhost, "ESMTPSA", id, "bob@example.org"); body != msg {
		t.Errorf("body %q, want %q", body, msg)
	}
	e.wantLog(`msg="auth ok"`, "user=alice@example.org", "mech=PLAIN")
	e.wantLog("msg=delivered", "id="+id, "user=alice@example.org", "tls=true")
}

func TestSubmissionAuthLogin(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Submission), false)

	t.Run("go-sasl client, user name as initial response", func(t *testing.T) {
		c := dialStartTLS(t, r.addr, e.clientTLS)
		if err := c.Auth(sasl.NewLoginClient("bob@example.org", bobPass)); err != nil {
			t.Fatal(err)
		}
		id := send(t, c, "bob@example.org", []string{"alice@example.org"}, "Subject: x\r\n\r\nx\r\n")
		got := e.inbox("alice@example.org")
		if len(got) != 1 {
			t.Fatalf("alice has %d messages", len(got))
		}
		wantTrace(t, got[0].data, "<bob@example.org>", fromLocalhost, "ESMTPSA", id, "alice@example.org")
	})

	t.Run("prompted for both", func(t *testing.T) {
		c := dialRaw(t, r.addr, nil)
		c.cmd("EHLO client.example")
		c.startTLS(e.clientTLS)
		c.cmd("EHLO client.example")
		c.expect("AUTH LOGIN", "334 "+b64("Username:"))
		c.expect(b64("bob@example.org"), "334 "+b64("Password:"))
		c.expect(b64(bobPass), "235 2.0.0 Authentication succeeded")
		c.expect("AUTH LOGIN", "503 5.5.1 Already authenticated")
		c.expectPrefix("MAIL FROM:<bob@example.org>", "250 ")
	})

	t.Run("cancelled", func(t *testing.T) {
		c := dialRaw(t, r.addr, nil)
		c.cmd("EHLO client.example")
		c.startTLS(e.clientTLS)
		c.cmd("EHLO client.example")
		c.expect("AUTH LOGIN", "334 "+b64("Username:"))
		c.expect("*", "501 5.0.0 Negotiation cancelled")
		c.expect("MAIL FROM:<bob@example.org>", "530 5.7.0 Authentication required")
	})
}

func TestSubmissionImplicitTLS(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Submission), true)
	c := dialTLS(t, r.addr, e.clientTLS)
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.org", alicePass)); err != nil {
		t.Fatal(err)
	}
	id := send(t, c, "alice@example.org", []string{"team@example.org"}, "Subject: t\r\n\r\nt\r\n")
	for _, u := range []string{"alice@example.org", "bob@example.org"} {
		got := e.inbox(u)
		if len(got) != 1 {
			t.Fatalf("%s has %d messages", u, len(got))
		}
		wantTrace(t, got[0].data, "<alice@example.org>", fromClient, "ESMTPSA", id, "team@example.org")
	}
	// STARTTLS inside TLS is neither offered nor run.
	c2 := dialRaw(t, r.addr, e.clientTLS)
	if ehlo := c2.cmd("EHLO client.example"); strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("EHLO under implicit TLS offers STARTTLS:\n%s", ehlo)
	}
	c2.expect("STARTTLS", "502 5.5.1 TLS not supported")
	c2.expectPrefix("NOOP", "250 ")
}

func TestSubmissionWrongPassword(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Submission), false)
	c := dialStartTLS(t, r.addr, e.clientTLS)
	const wrong = "Tr0ub4dor&3-wrong"
	wantErr(t, c.Auth(sasl.NewPlainClient("", "alice@example.org", wrong)), "535 5.7.8 Authentication credentials invalid")
	// Unknown user: the very same reply.
	wantErr(t, c.Auth(sasl.NewLoginClient("mallory@example.org", wrong)), "535 5.7.8 Authentication credentials invalid")
	wantErr(t, c.Mail("alice@example.org", nil), "530 5.7.0 Authentication required")
	e.wantNoMail()

	e.wantLog(`msg="auth failed"`, "ip=127.0.0.1", "user=alice@example.org", "mech=PLAIN", "failures=1")
	e.wantLog(`msg="auth failed"`, "ip=127.0.0.1", "user=mallory@example.org", "mech=LOGIN", "failures=2")
	if strings.Contains(e.logs.String(), wrong) {
		t.Error("the password was logged")
	}

	// The right password still works on a new connection.
	c2 := dialStartTLS(t, r.addr, e.clientTLS)
	if err := c2.Auth(sasl.NewPlainClient("", "alice@example.org", alicePass)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.logs.String(), alicePass) {
		t.Error("the password was logged")
	}
}

func TestSubmissionTooManyAuthFailures(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	opts.MaxAuthFailures = 2
	r := e.start(opts, true)
	c := dialRaw(t, r.addr, e.clientTLS)
	c.cmd("EHLO client.example")
	c.expect("AUTH PLAIN "+b64("\x00alice@example.org\x00bad1"), "535 5.7.8 Authentication credentials invalid")
	c.expect("AUTH PLAIN "+b64("\x00alice@example.org\x00bad2"), "421 4.7.0 Too many failed authentication attempts, closing connection")
	c.wantClosed()
}

func TestSubmissionAuthMalformed(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Submission), true)
	c := dialRaw(t, r.addr, e.clientTLS)
	c.cmd("EHLO client.example")
	c.expect("AUTH PLAIN "+b64("alice@example.org"), "501 5.5.2 Malformed authentication response")
	c.expect("AUTH PLAIN "+b64("a\x00b\x00c\x00d"), "501 5.5.2 Malformed authentication response")
	c.expect("AUTH PLAIN "+b64("\x00\x00"+alicePass), "501 5.5.2 Malformed authentication response")
	c.expect("AUTH PLAIN !!notbase64", "454 4.7.0 Invalid base64 data")
	c.expect("AUTH CRAM-MD5", "504 5.5.4 Unrecognized authentication type")
	// Acting as another user (RFC 4616 authzid) is refused.
	c.expect("AUTH PLAIN "+b64("bob@example.org\x00alice@example.org\x00"+alicePass), "535 5.7.8 Authentication credentials invalid")
	// The same user as authzid is fine, in any case.
	c.expect("AUTH PLAIN "+b64("ALICE@example.org\x00alice@example.org\x00"+alicePass), "235 2.0.0 Authentication succeeded")
	// PLAIN without initial response: empty challenge, then the message.
	c2 := dialRaw(t, r.addr, e.clientTLS)
	c2.cmd("EHLO client.example")
	c2.expect("AUTH PLAIN", "334 ")
	c2.expect(b64("\x00bob@example.org\x00"+bobPass), "235 2.0.0 Authentication succeeded")
}

func TestSubmissionRemoteRecipient(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Submission), true)
	c := dialTLS(t, r.addr, e.clientTLS)
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.org", alicePass)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.Rcpt("friend@elsewhere.example", nil), "451 4.7.1 Relaying to other domains is not available yet, try again later")
	// Local recipients and the tricks checks still apply.
	wantErr(t, c.Rcpt("nobody@example.org", nil), "550 5.1.1 No such user here")
	wantErr(t, c.Rcpt("friend%elsewhere.example@example.org", nil), "553 5.1.3 Routed addresses ('%', '!', '@') are not accepted")
	e.wantNoMail()
	e.wantLog(`msg="recipient rejected"`, "rcpt=friend@elsewhere.example", "code=451", "user=alice@example.org")
}

func TestSubmissionPlaintextLoopback(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	opts.AllowPlaintext = true
	r := e.start(opts, false)
	c := dial(t, r.addr)
	if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
		t.Errorf("AUTH extension %v %q, want PLAIN LOGIN on loopback", ok, mechs)
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.org", alicePass)); err != nil {
		t.Fatal(err)
	}
	id := send(t, c, "alice@example.org", []string{"bob@example.org"}, "Subject: p\r\n\r\np\r\n")
	got := e.inbox("bob@example.org")
	if len(got) != 1 {
		t.Fatalf("bob has %d messages", len(got))
	}
	wantTrace(t, got[0].data, "<alice@example.org>", fromClient, "ESMTPA", id, "bob@example.org")
}

// AllowPlaintext is for loopback only: from another address AUTH still
// needs TLS. Needs a non-loopback address on this host.
func TestSubmissionPlaintextNotLoopback(t *testing.T) {
	ip := nonLoopbackIP(t)
	e := newEnv(t)
	opts := e.options(Submission)
	opts.AllowPlaintext = true
	r := e.startOn(net.JoinHostPort(ip, "0"), opts, false)
	c := dialRaw(t, r.addr, nil)
	if ehlo := c.cmd("EHLO client.example"); strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH advertised in plaintext to %s:\n%s", ip, ehlo)
	}
	c.expect("AUTH PLAIN "+b64("\x00alice@example.org\x00"+alicePass), "530 5.7.0 Must issue a STARTTLS command first")
	c.startTLS(e.clientTLS)
	c.cmd("EHLO client.example")
	c.expect("AUTH PLAIN "+b64("\x00alice@example.org\x00"+alicePass), "235 2.0.0 Authentication succeeded")
}

func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address on this host")
	return ""
}

// AuthDelay holds the 535 back: with a delay longer than the test, the
// reply never comes before the server is closed.
func TestSubmissionAuthDelay(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	opts.AuthDelay = time.Hour
	r := e.start(opts, true)
	c := dialRaw(t, r.addr, e.clientTLS)
	c.cmd("EHLO client.example")
	c.send("AUTH PLAIN " + b64("\x00alice@example.org\x00wrong"))
	waitFor(t, "the failure to be logged", func() bool { return strings.Contains(e.logs.String(), `msg="auth failed"`) })
	r.srv.Close()
	c.wantClosed() // no 535 came first
}

// brokenDB is the real users DB whose Authenticate fails (for failure
// injection).
type brokenDB struct{ users.DB }

func (brokenDB) Authenticate(context.Context, string, string) (string, error) {
	return "", errors.New("users.db: read /var/lib/mailsuite/users.db: input/output error")
}

func TestSubmissionUserDBFailure(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	opts.Users = brokenDB{e.db}
	r := e.start(opts, true)
	c := dialRaw(t, r.addr, e.clientTLS)
	c.cmd("EHLO client.example")
	c.expect("AUTH PLAIN "+b64("\x00alice@example.org\x00"+alicePass), "454 4.7.0 Temporary authentication failure")
	c.expect("MAIL FROM:<alice@example.org>", "530 5.7.0 Authentication required")
	e.wantLog(`msg="auth: user database failed"`, "user=alice@example.org", "input/output error")
	if strings.Contains(e.logs.String(), `msg="auth failed"`) {
		t.Error("a database failure counted as a failed login")
	}
}
