package main

// Real outside clients against the real binary: swaks sends, curl reads over
// IMAP and POP3, python3's smtplib, imaplib and poplib talk STARTTLS/STLS.
// .ci/run installs them and sets MAILSUITE_REQUIRE_CLIENTS=1, so that a
// missing client fails CI instead of skipping silently.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// needTool returns the path of a client program, or skips (fails in CI).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("MAILSUITE_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("%s is not installed but MAILSUITE_REQUIRE_CLIENTS=1", name)
		}
		t.Skipf("%s is not installed; apt-get install it (or run .ci/run) to test with it", name)
	}
	return p
}

// tool runs a client and returns its combined output; a non-zero exit fails.
func tool(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func hostPort(addr string) (string, string) {
	i := strings.LastIndex(addr, ":")
	return addr[:i], addr[i+1:]
}

func TestRealClients(t *testing.T) {
	swaks := needTool(t, "swaks")
	curl := needTool(t, "curl")
	python := needTool(t, "python3")

	in := newInstance(t, "")
	in.addUser("alice@example.org", "alice-pw")
	in.addUser("bob@example.org", "bob-pw-secret")
	in.start()
	in.waitLog("mailsuite ready")

	body := "Subject: swaks test\r\nFrom: <alice@example.org>\r\nTo: <bob@example.org>\r\n\r\nfirst line\r\n.starts with a dot\r\nUTF-8: Grüße ✉\r\n"
	msgFile := filepath.Join(in.dir, "msg.eml")
	os.WriteFile(msgFile, []byte(body), 0o600)

	// swaks: inbound (port 25 style), then submission with STARTTLS and
	// both AUTH mechanisms, then implicit TLS.
	host, port := hostPort(in.addr["smtp"])
	tool(t, nil, swaks, "--server", host, "--port", port, "--from", "x@elsewhere.test", "--to", "bob@example.org", "--data", msgFile, "--helo", "client.test")
	host, port = hostPort(in.addr["submission"])
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		tool(t, nil, swaks, "--server", host, "--port", port, "--tls", "--auth", mech,
			"--auth-user", "alice@example.org", "--auth-password", "alice-pw",
			"--from", "alice@example.org", "--to", "bob@example.org", "--data", msgFile)
	}
	host, port = hostPort(in.addr["submissions"])
	tool(t, nil, swaks, "--server", host, "--port", port, "--tlsc", "--auth", "PLAIN",
		"--auth-user", "alice@example.org", "--auth-password", "alice-pw",
		"--from", "alice@example.org", "--to", "bob@example.org", "--data", msgFile)
	// swaks with a wrong password fails and delivers nothing.
	before := len(in.maildirFiles("bob@example.org", ""))
	cmd := exec.Command(swaks, "--server", host, "--port", port, "--tlsc", "--auth", "PLAIN",
		"--auth-user", "alice@example.org", "--auth-password", "nope",
		"--from", "alice@example.org", "--to", "bob@example.org", "--data", msgFile)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "535 5.7.8") {
		t.Errorf("swaks with a wrong password: %v\n%s", err, out)
	}
	if n := len(in.maildirFiles("bob@example.org", "")); n != 4 || before != 4 {
		t.Fatalf("bob has %d messages (before the failed AUTH: %d), want 4", n, before)
	}

	// curl reads message 1 over IMAP (STARTTLS required) and IMAPS, and
	// over POP3 with STLS and POP3S, verifying our certificate.
	cert := in.certFile()
	imapURL := fmt.Sprintf("imap://%s/INBOX;UID=1", in.addr["imap"])
	got := tool(t, nil, curl, "-sS", "--ssl-reqd", "--cacert", cert, "-u", "bob@example.org:bob-pw-secret", imapURL)
	if !strings.Contains(got, "\r\n..starts with a dot\r\n") && !strings.Contains(got, "\r\n.starts with a dot\r\n") {
		t.Errorf("curl IMAP: body not found:\n%s", got)
	}
	if !strings.Contains(got, "Grüße ✉") || !strings.HasPrefix(got, "Return-Path: <x@elsewhere.test>") {
		t.Errorf("curl IMAP: unexpected message:\n%s", got)
	}
	imapsURL := fmt.Sprintf("imaps://%s/INBOX;UID=2", in.addr["imaps"])
	got = tool(t, nil, curl, "-sS", "--cacert", cert, "-u", "bob@example.org:bob-pw-secret", imapsURL)
	if !strings.Contains(got, "Return-Path: <alice@example.org>") || !strings.Contains(got, "Grüße ✉") {
		t.Errorf("curl IMAPS: unexpected message:\n%s", got)
	}
	got = tool(t, nil, curl, "-sS", "--ssl-reqd", "--cacert", cert, "-u", "bob@example.org:bob-pw-secret", fmt.Sprintf("pop3://%s/1", in.addr["pop3"]))
	if !strings.Contains(got, ".starts with a dot\r\n") || !strings.Contains(got, "Grüße ✉") {
		t.Errorf("curl POP3: unexpected message:\n%s", got)
	}
	got = tool(t, nil, curl, "-sS", "--cacert", cert, "-u", "bob@example.org:bob-pw-secret", fmt.Sprintf("pop3s://%s/", in.addr["pop3s"]))
	if lines := strings.Fields(got); len(lines) != 8 { // "n size" for 4 messages
		t.Errorf("curl POP3S LIST: %q", got)
	}
	// curl with a wrong password fails.
	if out, err := exec.Command(curl, "-sS", "--cacert", cert, "-u", "bob@example.org:wrong", imapsURL).CombinedOutput(); err == nil {
		t.Errorf("curl IMAPS with a wrong password succeeded:\n%s", out)
	}

	// python3: smtplib submits over STARTTLS, imaplib reads over STARTTLS,
	// poplib over STLS; the script prints what it saw.
	script := fmt.Sprintf(`
import imaplib, poplib, smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=%[1]q)
msg = b"Subject: from python\r\nFrom: alice@example.org\r\nTo: bob@example.org\r\n\r\n.dot line from python\r\nbye\r\n"
s = smtplib.SMTP(%[2]q, %[3]s)
s.starttls(context=ctx)
s.login("alice@example.org", "alice-pw")
s.sendmail("alice@example.org", ["bob@example.org"], msg)
s.quit()

m = imaplib.IMAP4(%[2]q, %[4]s)
m.starttls(ssl_context=ctx)
typ, caps = m.capability()
m.login("bob@example.org", "bob-pw-secret")
typ, data = m.select("INBOX")
n = int(data[0])
typ, data = m.fetch(str(n), "(BODY.PEEK[] RFC822.SIZE)")
body = data[0][1]
assert body.endswith(msg), body
typ, data = m.search(None, "SUBJECT", "python")
print("imap-search", data[0].decode())
try:
    m.login("bob@example.org", "x")
except imaplib.IMAP4.error as e:
    pass
m.logout()
print("imap-ok", n)

p = poplib.POP3(%[2]q, %[5]s)
p.stls(context=ctx)
p.user("bob@example.org")
p.pass_("bob-pw-secret")
count, size = p.stat()
resp, lines, octets = p.retr(count)
assert b"\r\n".join(lines).endswith(msg.rstrip(b"\r\n")), lines
resp, uidls, _ = p.uidl()
p.quit()
print("pop3-ok", count, len(uidls))

p = poplib.POP3(%[2]q, %[5]s)
p.stls(context=ctx)
p.user("bob@example.org")
try:
    p.pass_("wrong")
    print("pop3-wrong-password-accepted")
except poplib.error_proto as e:
    print("pop3-refused", e.args[0].decode())
`, cert, "127.0.0.1", portOf(in.addr["submission"]), portOf(in.addr["imap"]), portOf(in.addr["pop3"]))
	got = tool(t, nil, python, "-c", script)
	for _, want := range []string{"imap-search 5", "imap-ok 5", "pop3-ok 5 5", "pop3-refused -ERR [AUTH]"} {
		if !strings.Contains(got, want) {
			t.Errorf("python3 clients: %q missing in:\n%s", want, got)
		}
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
}

func portOf(addr string) string {
	_, p := hostPort(addr)
	return p
}

// fetchmail, the POP3 and IMAP collector of many small offices, fetches
// and keeps bob's mail over POP3S and over IMAP with STARTTLS, verifying
// our certificate; with its UIDL record a second POP3 run fetches nothing
// new.
func TestFetchmail(t *testing.T) {
	fetchmail := needTool(t, "fetchmail")
	in := newInstance(t, "")
	in.addUser("bob@example.org", "bob-pw-secret")
	in.start()
	in.waitLog("mailsuite ready")
	for i := 1; i <= 3; i++ {
		c, err := smtp.Dial(in.addr["smtp"])
		if err != nil {
			t.Fatal(err)
		}
		msg := fmt.Sprintf("Subject: for fetchmail %d\r\n\r\nbody %d\r\n", i, i)
		if err := c.SendMail("x@elsewhere.test", []string{"bob@example.org"}, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}

	home := t.TempDir()
	run := func(name, poll, userOpts string) (string, int) {
		t.Helper()
		out := filepath.Join(home, name+".bsmtp")
		rc := filepath.Join(home, name+".rc")
		os.WriteFile(rc, []byte("set no syslog\n"+poll+` user "bob@example.org" password "bob-pw-secret" keep `+userOpts+` sslcertck sslcertfile "`+in.certFile()+`" bsmtp "`+out+"\"\n"), 0o600)
		cmd := exec.Command(fetchmail, "-f", rc, "--nodetach", "-v")
		cmd.Env = append(os.Environ(), "HOME="+home, "FETCHMAILHOME="+home)
		log, err := cmd.CombinedOutput()
		code := 0
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatalf("fetchmail: %v", err)
			}
			code = ee.ExitCode()
		}
		got, _ := os.ReadFile(out)
		if code != 0 && code != 1 { // 1: no new mail
			t.Fatalf("fetchmail %s: exit %d\n%s", name, code, log)
		}
		return string(got), code
	}

	_, pop3sPort := hostPort(in.addr["pop3s"])
	got, code := run("pop3s", "poll localhost protocol POP3 port "+pop3sPort+" uidl", "ssl")
	if code != 0 || strings.Count(got, "\nDATA\r\n") != 3 && strings.Count(got, "\nDATA\n") != 3 {
		t.Errorf("fetchmail POP3S: exit %d, fetched:\n%s", code, got)
	}
	for i := 1; i <= 3; i++ {
		if !strings.Contains(got, fmt.Sprintf("Subject: for fetchmail %d", i)) {
			t.Errorf("fetchmail POP3S: message %d missing", i)
		}
	}
	// Kept on the server, and known by UIDL: nothing new the second time.
	if _, code := run("pop3s-again", "poll localhost protocol POP3 port "+pop3sPort+" uidl", "ssl"); code != 1 {
		t.Errorf("second fetchmail POP3S run: exit %d, want 1 (no new mail)", code)
	}
	if n := len(in.maildirFiles("bob@example.org", "")); n != 3 {
		t.Errorf("bob has %d messages after keep, want 3", n)
	}

	// IMAP on the STARTTLS port: fetchmail upgrades before it logs in
	// (LOGINDISABLED until then), and fetches what is unseen.
	_, imapPort := hostPort(in.addr["imap"])
	got, code = run("imap", "poll localhost protocol IMAP port "+imapPort, "sslproto tls1.2+ fetchall")
	if code != 0 || strings.Count(got, "Subject: for fetchmail") != 3 {
		t.Errorf("fetchmail IMAP: exit %d, fetched:\n%s", code, got)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
}
