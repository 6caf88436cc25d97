package main

// The login limiter shared by SMTP AUTH, IMAP and POP3 (issue 5, point 3),
// attacked through the real binary: failures on all three protocols add up
// per IP; a lockout answers even the right password exactly as a wrong
// one; other IPs and an account's known IPs are not locked out; one
// fail2ban line per failure; no stored mail changes.

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// from returns a dialer whose connections come from the loopback address
// src (127.0.0.0/8 is all loopback on Linux, so each is another client IP).
func from(src string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
}

// smtpLogin tries AUTH PLAIN on submission from src and returns the
// reply's text ("" on success).
func smtpLogin(t *testing.T, in *instance, src, user, pass string) string {
	t.Helper()
	nc, err := from(src).Dial("tcp", in.addr["submission"])
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClientStartTLS(nc, in.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Auth(sasl.NewPlainClient("", user, pass))
	if err == nil {
		return ""
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("SMTP AUTH %s: %v", user, err)
	}
	return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
}

// imapLogin tries LOGIN over STARTTLS from src and returns the NO text
// ("" on success).
func imapLogin(t *testing.T, in *instance, src, user, pass string) string {
	t.Helper()
	c, err := imapclient.DialStartTLS(in.addr["imap"], &imapclient.Options{TLSConfig: in.tlsConfig(), Dialer: from(src)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Login(user, pass).Wait()
	if err == nil {
		return ""
	}
	var ie *imap.Error
	if !errors.As(err, &ie) {
		t.Fatalf("IMAP LOGIN %s: %v", user, err)
	}
	return fmt.Sprintf("%s [%s] %s", ie.Type, ie.Code, ie.Text)
}

// pop3Login tries USER/PASS after STLS from src and returns PASS's reply
// ("" on success).
func pop3Login(t *testing.T, in *instance, src, user, pass string) string {
	t.Helper()
	nc, err := from(src).Dial("tcp", in.addr["pop3"])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p := &pop3{t: t, c: textproto.NewConn(nc)}
	p.ok("")
	p.ok("STLS")
	tc := tls.Client(nc, in.tlsConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	p.c = textproto.NewConn(tc)
	p.ok("USER " + user)
	line := p.cmd("PASS " + pass)
	if strings.HasPrefix(line, "+OK") {
		p.ok("QUIT")
		return ""
	}
	return line
}

// failureLines returns the limiter's log lines (the fail2ban ones).
// failureLines returns the server's "auth failure" log lines once there
// are want of them (or after 5 s): the child's log reaches the test
// through a pipe, a moment after the client has its answer.
func failureLines(in *instance, want int) []string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var out []string
		for _, l := range strings.Split(in.log.String(), "\n") {
			if strings.Contains(l, `msg="auth failure"`) {
				out = append(out, l)
			}
		}
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLoginLimiterAcrossProtocols(t *testing.T) {
	in := newInstance(t, `[auth]
failure_delay = "0s"
lockout_ip_failures = 7
lockout_account_failures = 0
lockout_time = "2s"
`)
	in.addUser("alice@example.org", "alice-password")
	in.start()
	in.waitLog("mailsuite ready")
	if err := inboundSend(in, "x@elsewhere.test", []string{"alice@example.org"}, strings.NewReader("Subject: kept\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	before := snapshotFiles(t, in.dataDir+"/mail")

	const attacker, other = "127.0.0.1", "127.0.0.2"
	// Wrong password and unknown user get the same answer, per protocol.
	var smtpNo, imapNo, popNo string
	for i, try := range []struct{ user, pass string }{
		{"alice@example.org", "wrong-password-1"},
		{"nobody@example.org", "wrong-password-2"},
	} {
		s := smtpLogin(t, in, attacker, try.user, try.pass)
		m := imapLogin(t, in, attacker, try.user, try.pass)
		p := pop3Login(t, in, attacker, try.user, try.pass)
		if i == 0 {
			smtpNo, imapNo, popNo = s, m, p
			if smtpNo == "" || imapNo == "" || popNo == "" {
				t.Fatalf("a wrong password was accepted: %q %q %q", s, m, p)
			}
			continue
		}
		if s != smtpNo || m != imapNo || p != popNo {
			t.Errorf("unknown user answered differently from a wrong password:\nSMTP %q / %q\nIMAP %q / %q\nPOP3 %q / %q", s, smtpNo, m, imapNo, p, popNo)
		}
	}
	if !strings.HasPrefix(smtpNo, "535 5.7.8") || !strings.HasPrefix(imapNo, "NO [AUTHENTICATIONFAILED]") || !strings.HasPrefix(popNo, "-ERR [AUTH]") {
		t.Errorf("failure replies: %q %q %q", smtpNo, imapNo, popNo)
	}
	// The seventh failure from this IP locks it out.
	if got := imapLogin(t, in, attacker, "alice@example.org", "wrong-password-3"); got != imapNo {
		t.Errorf("7th failure: %q", got)
	}
	// Locked out: the right password gets exactly the wrong-password
	// answer on every protocol.
	if got := smtpLogin(t, in, attacker, "alice@example.org", "alice-password"); got != smtpNo {
		t.Errorf("SMTP right password while locked out: %q, want %q", got, smtpNo)
	}
	if got := imapLogin(t, in, attacker, "alice@example.org", "alice-password"); got != imapNo {
		t.Errorf("IMAP right password while locked out: %q, want %q", got, imapNo)
	}
	if got := pop3Login(t, in, attacker, "alice@example.org", "alice-password"); got != popNo {
		t.Errorf("POP3 right password while locked out: %q, want %q", got, popNo)
	}
	// Another IP is not locked out.
	if got := imapLogin(t, in, other, "alice@example.org", "alice-password"); got != "" {
		t.Errorf("IMAP from another IP: %q", got)
	}

	// One line per failure (7 counted, 3 refused while locked), ip first,
	// the name tried, never the password.
	lines := failureLines(in, 10)
	if len(lines) != 10 {
		t.Fatalf("%d auth failure lines, want 10:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	re := regexp.MustCompile(`level=WARN msg="auth failure" ip=127\.0\.0\.1 service=(submission|imap|pop3) user=(\S+) `)
	var services, names []string
	for _, l := range lines {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("line does not match the documented fail2ban pattern: %s", l)
			continue
		}
		services, names = append(services, m[1]), append(names, m[2])
	}
	wantServices := []string{"submission", "imap", "pop3", "submission", "imap", "pop3", "imap", "submission", "imap", "pop3"}
	if !slices.Equal(services, wantServices) {
		t.Errorf("services %v, want %v", services, wantServices)
	}
	if names[0] != "alice@example.org" || names[3] != "nobody@example.org" {
		t.Errorf("names tried: %v", names)
	}
	if !strings.Contains(lines[6], "lockout_started=ip") || !strings.Contains(lines[9], "locked_out=ip") {
		t.Errorf("lockout not logged:\n%s\n%s", lines[6], lines[9])
	}
	if strings.Contains(in.log.String(), "wrong-password") || strings.Contains(in.log.String(), "alice-password") {
		t.Error("a password reached the log")
	}

	// The lockout ends by itself.
	deadline := time.Now().Add(15 * time.Second)
	for imapLogin(t, in, attacker, "alice@example.org", "alice-password") != "" {
		if time.Now().After(deadline) {
			t.Fatal("the lockout never ended")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if after := snapshotFiles(t, in.dataDir+"/mail"); !maps.Equal(before, after) {
		t.Errorf("stored mail changed:\nbefore %v\nafter  %v", before, after)
	}
}

// An account attacked from many IPs is locked for new IPs, not for the IP
// its owner logged in from; the owner's login does not unlock it for the
// attacker.
func TestLoginLimiterAccountLockout(t *testing.T) {
	in := newInstance(t, `[auth]
failure_delay = "0s"
lockout_ip_failures = 0
lockout_account_failures = 3
`)
	in.addUser("bob@example.org", "bob-password")
	in.start()
	in.waitLog("mailsuite ready")
	const home = "127.0.0.9"
	if got := imapLogin(t, in, home, "bob@example.org", "bob-password"); got != "" {
		t.Fatal(got)
	}
	var no string
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		no = pop3Login(t, in, ip, "Bob@Example.org", "guess")
	}
	if got := pop3Login(t, in, "127.0.0.5", "bob@example.org", "bob-password"); got != no {
		t.Errorf("right password from a new IP while bob is locked: %q, want %q", got, no)
	}
	if got := imapLogin(t, in, home, "bob@example.org", "bob-password"); got != "" {
		t.Errorf("bob from his own IP: %q", got)
	}
	if got := smtpLogin(t, in, "127.0.0.5", "bob@example.org", "bob-password"); !strings.HasPrefix(got, "535 5.7.8") {
		t.Errorf("right password from a new IP after bob's login: %q, want 535 5.7.8", got)
	}
	lines := failureLines(in, 5)
	if len(lines) != 5 || !strings.Contains(lines[2], "lockout_started=account") || !strings.Contains(lines[4], "locked_out=account") {
		t.Errorf("failure lines:\n%s", strings.Join(lines, "\n"))
	}
}

// snapshotFiles maps every message file (in a new/ or cur/ directory)
// under dir to its content.
func snapshotFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if p := filepath.Base(filepath.Dir(path)); p != "new" && p != "cur" {
			return nil
		}
		b, err := os.ReadFile(path)
		out[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
