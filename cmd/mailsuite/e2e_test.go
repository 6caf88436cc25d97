package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testMessage builds a message with the hard parts of issue 2: lines that
// begin with ".", an 8-bit UTF-8 body and, when big, a 5 MiB attachment.
func testMessage(t *testing.T, from, to, subject string, big bool) []byte {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%d@test>\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\n",
		from, to, subject, time.Now().UnixNano())
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n")
	b.WriteString("--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString("Grüße aus Köln — ünïcödé ✉\r\n.a line that begins with a dot\r\n..two dots\r\n.\r\n. \r\nlast line\r\n")
	if big {
		raw := make([]byte, 5<<20)
		rand.Read(raw)
		b.WriteString("--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\n\r\n")
		enc := base64.StdEncoding.EncodeToString(raw)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--b1--\r\n")
	return b.Bytes()
}

// traceRE matches what the server prepends: Return-Path then Received.
var traceRE = regexp.MustCompile(`^Return-Path: <[^>]*>\r\nReceived: [^\r]*\r\n(?:[ \t][^\r]*\r\n)*`)

// checkDelivered asserts that got is sent with exactly our trace header
// fields before it.
func checkDelivered(t *testing.T, what string, got, sent []byte) {
	t.Helper()
	m := traceRE.Find(got)
	if m == nil {
		t.Fatalf("%s: no Return-Path/Received at the top:\n%.300s", what, got)
	}
	if rest := got[len(m):]; !bytes.Equal(rest, sent) {
		t.Fatalf("%s: message not byte-identical after the trace fields (got %d octets, sent %d)\nfirst difference at %d",
			what, len(rest), len(sent), firstDiff(rest, sent))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// inboundSend delivers as an outside server would: port 25, STARTTLS.
func inboundSend(in *instance, from string, to []string, msg io.Reader) error {
	c, err := smtp.DialStartTLS(in.addr["smtp"], in.tlsConfig())
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, to, msg); err != nil {
		return err
	}
	return c.Quit()
}

// submit sends msg over submission with STARTTLS and AUTH PLAIN.
func submit(t *testing.T, in *instance, user, pass, from string, to []string, msg []byte) {
	t.Helper()
	c, err := smtp.DialStartTLS(in.addr["submission"], in.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if err := c.SendMail(from, to, bytes.NewReader(msg)); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

// imapFetchAll logs in over STARTTLS and returns every INBOX message's
// BODY.PEEK[] in order.
func imapFetchAll(t *testing.T, in *instance, user, pass string) [][]byte {
	t.Helper()
	c, err := imapclient.DialStartTLS(in.addr["imap"], &imapclient.Options{TLSConfig: in.tlsConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN %s: %v", user, err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: sel.NumMessages}}, &imap.FetchOptions{
		UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		body := m.FindBodySection(section)
		if int64(len(body)) != m.RFC822Size {
			t.Errorf("RFC822.SIZE %d but BODY[] has %d octets", m.RFC822Size, len(body))
		}
		out = append(out, body)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Error(err)
	}
	return out
}

// pop3 is a small POP3 client over net/textproto.
type pop3 struct {
	t *testing.T
	c *textproto.Conn
}

func dialPOP3STLS(t *testing.T, in *instance) *pop3 {
	t.Helper()
	nc, err := net.Dial("tcp", in.addr["pop3"])
	if err != nil {
		t.Fatal(err)
	}
	p := &pop3{t: t, c: textproto.NewConn(nc)}
	p.ok("")
	p.ok("STLS")
	tc := tls.Client(nc, in.tlsConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	p.c = textproto.NewConn(tc)
	return p
}

// ok sends cmd (none when empty) and returns the +OK line's text.
func (p *pop3) ok(cmd string) string {
	p.t.Helper()
	line := p.cmd(cmd)
	if !strings.HasPrefix(line, "+OK") {
		p.t.Fatalf("POP3 %q: %s", cmd, line)
	}
	return line
}

func (p *pop3) cmd(cmd string) string {
	p.t.Helper()
	if cmd != "" {
		if err := p.c.PrintfLine("%s", cmd); err != nil {
			p.t.Fatal(err)
		}
	}
	line, err := p.c.ReadLine()
	if err != nil {
		p.t.Fatal(err)
	}
	return line
}

// multi reads a dot-terminated block, undoing the dot-stuffing, with CRLF
// line ends as sent.
func (p *pop3) multi() []byte {
	p.t.Helper()
	var b bytes.Buffer
	for {
		line, err := p.c.R.ReadString('\n')
		if err != nil {
			p.t.Fatal(err)
		}
		if line == ".\r\n" {
			return b.Bytes()
		}
		b.WriteString(strings.TrimPrefix(line, "."))
	}
}

func TestEndToEndSendAndRetrieve(t *testing.T) {
	in := newInstance(t, "")
	in.addUser("alice@example.org", "alice secret 1")
	// --config before the sub-command works as well as after it.
	in.mustRun("bob secret 2\n", "--config", in.config, "user", "add", "Bob@Example.ORG")
	in.start()
	in.waitLog("mailsuite ready")

	// 1. alice submits to bob (and to herself with a subaddress): the
	// 5 MiB message travels once per mailbox.
	sent := testMessage(t, "alice@example.org", "bob@example.org", "Hello Bob", true)
	submit(t, in, "alice@example.org", "alice secret 1", "alice@example.org",
		[]string{"bob@example.org", "ALICE+copy@example.org", "alice@Example.org"}, sent)

	// 2. an outside server delivers to bob over port 25.
	inbound := testMessage(t, "carol@elsewhere.test", "bob@example.org", "From outside", false)
	if err := inboundSend(in, "carol@elsewhere.test", []string{"bob@example.org"}, bytes.NewReader(inbound)); err != nil {
		t.Fatalf("inbound: %v", err)
	}

	// Durable before 250: the files are in new/ now.
	if n := len(in.maildirFiles("bob@example.org", "")); n != 2 {
		t.Fatalf("bob's Maildir has %d files, want 2", n)
	}
	if n := len(in.maildirFiles("alice@example.org", "")); n != 1 {
		t.Fatalf("alice's Maildir has %d files, want 1 (two addresses of hers, one copy)", n)
	}

	// 3. bob reads both over IMAP, byte-identical after the trace fields.
	got := imapFetchAll(t, in, "bob@example.org", "bob secret 2")
	if len(got) != 2 {
		t.Fatalf("IMAP: %d messages, want 2", len(got))
	}
	checkDelivered(t, "IMAP submitted", got[0], sent)
	checkDelivered(t, "IMAP inbound", got[1], inbound)

	// 4. and over POP3 with STLS: the same bytes, stable UIDLs.
	p := dialPOP3STLS(t, in)
	p.ok("USER bob@example.org")
	p.ok("PASS bob secret 2")
	stat := p.ok("STAT")
	if want := fmt.Sprintf("+OK 2 %d", len(got[0])+len(got[1])); stat != want {
		t.Errorf("STAT = %q, want %q", stat, want)
	}
	p.ok("RETR 1")
	checkDelivered(t, "POP3 RETR 1", p.multi(), sent)
	p.ok("RETR 2")
	checkDelivered(t, "POP3 RETR 2", p.multi(), inbound)
	p.ok("UIDL")
	uidl1 := p.multi()
	p.ok("QUIT")

	p = dialPOP3STLS(t, in)
	p.ok("USER bob@example.org")
	p.ok("PASS bob secret 2")
	p.ok("UIDL")
	if uidl2 := p.multi(); !bytes.Equal(uidl1, uidl2) {
		t.Errorf("UIDL changed between sessions:\n%s\n%s", uidl1, uidl2)
	}
	p.ok("DELE 2")
	p.ok("QUIT")
	if n := len(in.maildirFiles("bob@example.org", "")); n != 1 {
		t.Errorf("after DELE 2 + QUIT bob has %d files, want 1", n)
	}
	// IMAP sees the POP3 deletion.
	if got := imapFetchAll(t, in, "bob@example.org", "bob secret 2"); len(got) != 1 {
		t.Errorf("IMAP after POP3 DELE: %d messages, want 1", len(got))
	}

	// 5. alice reads her copy over implicit-TLS IMAP.
	c, err := imapclient.DialTLS(in.addr["imaps"], &imapclient.Options{TLSConfig: in.tlsConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice@example.org", "alice secret 1").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 1 {
		t.Fatalf("alice INBOX: %v, %+v", err, sel)
	}
	c.Close()

	// 6. SIGTERM: a clean stop with exit status 0.
	if err := in.stop(); err != nil {
		t.Fatalf("server exit: %v\n%s", err, in.log.String())
	}
	if !strings.Contains(in.log.String(), "stopped") {
		t.Errorf("no 'stopped' line in the log:\n%s", in.log.String())
	}
}

// Users and aliases added while the server runs work without a restart;
// SIGHUP reloads the config's domains.
func TestChangesWhileRunning(t *testing.T) {
	in := newInstance(t, "")
	in.addUser("alice@example.org", "pw-alice")
	in.start()
	in.waitLog("mailsuite ready")

	// A user added by another process can log in at once.
	in.addUser("dave@example.net", "pw-dave-1")
	c, err := imapclient.DialStartTLS(in.addr["imap"], &imapclient.Options{TLSConfig: in.tlsConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("dave@example.net", "pw-dave-1").Wait(); err != nil {
		t.Fatalf("new user cannot log in without a restart: %v", err)
	}
	c.Close()

	// An alias to two users receives mail.
	in.mustRun("", "alias", "add", "team@example.org", "alice@example.org", "dave@example.net", "--config", in.config)
	msg := testMessage(t, "x@elsewhere.test", "team@example.org", "to the team", false)
	if err := inboundSend(in, "x@elsewhere.test", []string{"team@example.org"}, bytes.NewReader(msg)); err != nil {
		t.Fatalf("alias delivery: %v", err)
	}
	for _, u := range []string{"alice@example.org", "dave@example.net"} {
		if n := len(in.maildirFiles(u, "")); n != 1 {
			t.Errorf("%s has %d messages, want 1", u, n)
		}
	}

	// A password change takes effect at once; the old one stops working.
	in.mustRun("pw-new-12\n", "user", "passwd", "dave@example.net", "--config", in.config)
	if err := smtpAuth(in, "dave@example.net", "pw-dave-1"); err == nil {
		t.Error("old password still accepted after user passwd")
	}
	if err := smtpAuth(in, "dave@example.net", "pw-new-12"); err != nil {
		t.Errorf("new password refused: %v", err)
	}

	// A domain added to the config is local after SIGHUP.
	if err := inboundSend(in, "x@elsewhere.test", []string{"erin@example.com"}, bytes.NewReader(msg)); err == nil {
		t.Fatal("mail for a foreign domain accepted: open relay")
	}
	cfg, _ := os.ReadFile(in.config)
	os.WriteFile(in.config, bytes.Replace(cfg, []byte(`"Example.NET"]`), []byte(`"Example.NET", "example.com"]`), 1), 0o600)
	in.signal(syscall.SIGHUP)
	in.waitLog("reloaded")
	in.addUser("erin@example.com", "pw-erin-1")
	if err := inboundSend(in, "x@elsewhere.test", []string{"erin@example.com"}, bytes.NewReader(msg)); err != nil {
		t.Fatalf("after SIGHUP, delivery to the new domain: %v", err)
	}

	// A broken config on SIGHUP is refused; the server runs on with the
	// config it had, and the log says the reload was incomplete.
	good, _ := os.ReadFile(in.config)
	os.WriteFile(in.config, []byte("hostname = \"x\"\nbogus = 1\n"), 0o600)
	in.signal(syscall.SIGHUP)
	in.waitLog("reload incomplete")
	os.WriteFile(in.config, good, 0o600)
	if err := inboundSend(in, "x@elsewhere.test", []string{"erin@example.com"}, bytes.NewReader(msg)); err != nil {
		t.Fatalf("after a refused reload, delivery: %v", err)
	}

	// A user deleted while running can no longer log in.
	in.mustRun("", "user", "del", "dave@example.net", "--config", in.config)
	if err := smtpAuth(in, "dave@example.net", "pw-new-12"); err == nil {
		t.Error("deleted user can still authenticate")
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
}

func smtpAuth(in *instance, user, pass string) error {
	c, err := smtp.DialStartTLS(in.addr["submission"], in.tlsConfig())
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Auth(sasl.NewPlainClient("", user, pass))
}

// The bad-input paths of the main issue, against the real binary: wrong
// passwords on every protocol, unknown recipient, relay, oversized message.
func TestEndToEndRefusals(t *testing.T) {
	in := newInstance(t, "[limits]\nmax_message_size = 100000\n")
	in.addUser("alice@example.org", "right password")
	in.start()
	in.waitLog("mailsuite ready")

	// SMTP AUTH, wrong password: 535 5.7.8.
	err := smtpAuth(in, "alice@example.org", "wrong")
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 535 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 8}) {
		t.Errorf("SMTP wrong password: %v, want 535 5.7.8", err)
	}
	// IMAP: NO [AUTHENTICATIONFAILED].
	c, err := imapclient.DialStartTLS(in.addr["imap"], &imapclient.Options{TLSConfig: in.tlsConfig()})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Login("alice@example.org", "wrong").Wait()
	if ie, ok := err.(*imap.Error); !ok || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeAuthenticationFailed {
		t.Errorf("IMAP wrong password: %v, want NO [AUTHENTICATIONFAILED]", err)
	}
	c.Close()
	// POP3: -ERR [AUTH].
	p := dialPOP3STLS(t, in)
	p.ok("USER alice@example.org")
	if line := p.cmd("PASS wrong"); !strings.HasPrefix(line, "-ERR [AUTH]") {
		t.Errorf("POP3 wrong password: %q, want -ERR [AUTH] ...", line)
	}

	send := func(rcpt string, size int) error {
		// Lines of 100 octets with CRLF, about size octets in all.
		body := "Subject: x\r\n\r\n" + strings.Repeat(strings.Repeat("y", 98)+"\r\n", size/100)
		return inboundSend(in, "x@elsewhere.test", []string{rcpt}, strings.NewReader(body))
	}
	code := func(err error) int {
		if se, ok := err.(*smtp.SMTPError); ok {
			return se.Code
		}
		return -1
	}
	if err := send("nobody@example.org", 10); code(err) != 550 || err.(*smtp.SMTPError).EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
		t.Errorf("unknown recipient: %v, want 550 5.1.1", err)
	}
	if err := send("victim@relay.test", 10); code(err)/100 != 5 {
		t.Errorf("relay attempt: %v, want a 5xx refusal", err)
	}
	if err := send("alice@example.org", 200000); code(err) != 552 {
		t.Errorf("oversized message: %v, want 552", err)
	}
	if n := len(in.maildirFiles("alice@example.org", "")); n != 0 {
		t.Errorf("refused mail left %d files in alice's INBOX", n)
	}
	tmp, _ := os.ReadDir(in.dataDir + "/mail/example.org/alice/tmp")
	if len(tmp) != 0 {
		t.Errorf("refused mail left %d files in tmp/", len(tmp))
	}
	// And the limit is not off by one the other way: a message just under
	// it is delivered.
	if err := send("alice@example.org", 90000); err != nil {
		t.Errorf("message under the limit refused: %v", err)
	}
}

// A second server on the same data_dir is refused with a clear message.
func TestSecondServerRefused(t *testing.T) {
	in := newInstance(t, "")
	in.start()
	in.waitLog("mailsuite ready")
	out, errOut, code := in.run("", "serve", "--config", in.config)
	if code == 0 || !strings.Contains(out+errOut, "in use by another mailsuite serve") {
		t.Errorf("second serve on one data_dir: exit %d, %q", code, out+errOut)
	}
}

// An invalid config stops start-up naming the key.
func TestServeRefusesBadConfig(t *testing.T) {
	in := newInstance(t, "bogus_key = 1\n")
	out, errOut, code := in.run("", "serve", "--config", in.config)
	if code == 0 || !strings.Contains(out+errOut, "bogus_key") {
		t.Errorf("serve with an unknown key: exit %d, %q", code, out+errOut)
	}
}
