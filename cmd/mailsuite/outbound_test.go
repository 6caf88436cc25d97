package main

// Two mailsuite instances in one process, a.test and b.test, on loopback,
// with a fake DNS resolver: the whole outbound path from alice's mail
// client to bob's IMAP client, and its failures.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailsuite/mailsuite/config"
)

// node is one in-process mailsuite.
type node struct {
	t      *testing.T
	name   string // its domain
	host   string // its hostname
	path   string // config file
	cfg    *config.Config
	addr   map[string]string
	logs   *syncBuffer
	r      *running
	hooks  outboundHooks
	stopMu sync.Mutex
}

// newNode writes a config for one domain with smtp, submission and imap
// on free loopback ports; extra TOML goes at the end.
func newNode(t *testing.T, domain, host, extra string) *node {
	t.Helper()
	t.Setenv(config.EnvVar, "")
	dir := t.TempDir()
	n := &node{t: t, name: domain, host: host, addr: map[string]string{}, logs: &syncBuffer{}}
	var b strings.Builder
	fmt.Fprintf(&b, "hostname = %q\ndomains = [%q]\ndata_dir = \"data\"\n[listen]\n", host, domain)
	for _, k := range []string{"smtp", "submission", "imap"} {
		n.addr[k] = freePort(t)
		fmt.Fprintf(&b, "%s = %q\n", k, n.addr[k])
	}
	b.WriteString(extra)
	n.path = filepath.Join(dir, "mailsuite.toml")
	if err := os.WriteFile(n.path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

// cli runs a sub-command against the node's config.
func (n *node) cli(stdin string, args ...string) string {
	n.t.Helper()
	out, errOut, code := cli(n.t, stdin, append([]string{"--config", n.path}, args...)...)
	if code != 0 {
		n.t.Fatalf("mailsuite %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// start runs the node as `serve` would, with the given network hooks.
func (n *node) start() {
	n.t.Helper()
	cfg, _, err := loadConfig(invocation{configPath: n.path})
	if err != nil {
		n.t.Fatal(err)
	}
	n.cfg = cfg
	logger := slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", n.name)
	r, err := start(cfg, logger, n.hooks)
	if err != nil {
		n.t.Fatal(err)
	}
	n.stopMu.Lock()
	n.r = r
	n.stopMu.Unlock()
	n.t.Cleanup(n.stop)
}

func (n *node) stop() {
	n.stopMu.Lock()
	r := n.r
	n.r = nil
	n.stopMu.Unlock()
	if r != nil {
		r.shutdown()
	}
}

// tlsConfig trusts the node's self-signed certificate.
func (n *node) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: n.pool(), ServerName: n.host}
}

func (n *node) pool() *x509.CertPool {
	n.t.Helper()
	pem, err := os.ReadFile(filepath.Join(n.cfg.DataDir, "tls", "cert.pem"))
	if err != nil {
		n.t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pem)
	return p
}

// waitLog waits for a log line holding every part.
func (n *node) waitLog(parts ...string) string {
	n.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, line := range strings.Split(n.logs.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return line
			}
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s: no log line with %q:\n%s", n.name, parts, n.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// submitTo sends msg as user over the node's submission service and
// returns the queue id of the 250, or the error.
func (n *node) submitTo(user, pass, from string, to []string, msg string) (string, error) {
	n.t.Helper()
	c, err := smtp.DialStartTLS(n.addr["submission"], n.tlsConfig())
	if err != nil {
		n.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		n.t.Fatalf("AUTH: %v", err)
	}
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return "", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	io.WriteString(w, msg)
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	c.Quit()
	return strings.TrimPrefix(resp.StatusText, "2.0.0 OK: queued as "), nil
}

// inbox reads user's INBOX over IMAP (STARTTLS), every message whole.
func (n *node) inbox(user, pass string) []string {
	n.t.Helper()
	c, err := imapclient.DialStartTLS(n.addr["imap"], &imapclient.Options{TLSConfig: n.tlsConfig()})
	if err != nil {
		n.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		n.t.Fatalf("IMAP LOGIN %s: %v", user, err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		n.t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	all := imap.SeqSet{imap.SeqRange{Start: 1, Stop: sel.NumMessages}}
	msgs, err := c.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		n.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.FindBodySection(section)))
	}
	c.Logout().Wait()
	return out
}

// waitInbox waits until user has want messages and returns them.
func (n *node) waitInbox(user, pass string, want int) []string {
	n.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := n.inbox(user, pass)
		if len(got) >= want {
			return got
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s has %d messages, want %d\n%s", user, len(got), want, n.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dnsFor is the fake DNS of the test: b.test's MX is mx.b.test at
// 127.0.0.1; nothing else exists.
type dnsFor struct{}

func (dnsFor) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if name == "b.test" {
		return []*net.MX{{Host: "mx.b.test.", Pref: 10}}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (dnsFor) LookupIPAddr(_ context.Context, name string) ([]net.IPAddr, error) {
	if name == "mx.b.test" {
		return []net.IPAddr{{IP: net.IPv4(127, 0, 0, 1)}}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// zoneTXT reads the records `dkim keygen` printed into a TXT lookup.
func zoneTXT(out string) func(string) ([]string, error) {
	zone := map[string]string{}
	str := regexp.MustCompile(`"([^"]*)"`)
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, " IN TXT ") {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		var v strings.Builder
		for _, m := range str.FindAllStringSubmatch(line, -1) {
			v.WriteString(m[1])
		}
		zone[strings.TrimSuffix(name, ".")] = v.String()
	}
	return func(d string) ([]string, error) {
		if v, ok := zone[d]; ok {
			return []string{v}, nil
		}
		return nil, errors.New("no TXT for " + d)
	}
}

// dsnStatus parses a DSN and returns the human text and the fields of
// its (first) recipient.
func dsnStatus(t *testing.T, raw string) (string, textproto.Header) {
	t.Helper()
	e, err := message.Read(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if mt, p, _ := e.Header.ContentType(); mt != "multipart/report" || p["report-type"] != "delivery-status" {
		t.Fatalf("not a DSN: %s %v\n%s", mt, p, raw)
	}
	mr := e.MultipartReader()
	var human string
	var rcpt textproto.Header
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err != nil {
			if i != 3 {
				t.Fatalf("%d parts", i)
			}
			break
		}
		body, _ := io.ReadAll(p.Body)
		switch i {
		case 0:
			human = strings.Join(strings.Fields(string(body)), " ")
		case 1:
			blocks := strings.Split(strings.TrimSpace(string(body)), "\r\n\r\n")
			rcpt, err = textproto.ReadHeader(bufio.NewReader(strings.NewReader(blocks[1] + "\r\n\r\n")))
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return human, rcpt
}

const (
	alicePw = "alice pw"
	bobPw   = "bob password"
)

func TestTwoInstances(t *testing.T) {
	b := newNode(t, "b.test", "mx.b.test", "[limits]\nmax_connections_per_ip = 3\n")
	b.cli(bobPw+"\n", "user", "add", "bob@b.test")
	b.start()

	a := newNode(t, "a.test", "mx.a.test", "[outbound]\ndelay_warning = \"0s\"\n")
	a.cli(alicePw+"\n", "user", "add", "alice@a.test")
	keys := a.cli("", "dkim", "keygen", "a.test")
	a.hooks = outboundHooks{resolver: dnsFor{}, mxPort: portNum(b.addr["smtp"]), rootCAs: b.pool(),
		retryMin: 100 * time.Millisecond, retryMax: 300 * time.Millisecond}
	a.start()
	a.waitLog(`msg="dkim signing on"`, "domain=a.test")

	t.Run("delivered, signed, over verified TLS", func(t *testing.T) {
		msg := "From: Alice <alice@a.test>\r\nTo: Bob <bob@b.test>\r\nSubject: hello from a.test\r\n" +
			"Date: Thu, 03 Dec 2026 12:00:00 +0000\r\nMessage-ID: <first@a.test>\r\n\r\nHi Bob,\r\n.a dot line\r\n"
		id, err := a.submitTo("alice@a.test", alicePw, "alice@a.test", []string{"bob@b.test"}, msg)
		if err != nil {
			t.Fatal(err)
		}
		got := b.waitInbox("bob@b.test", bobPw, 1)
		if !strings.HasSuffix(got[0], "\r\n"+msg) {
			t.Fatalf("bob got:\n%s", got[0])
		}
		vs, err := dkim.VerifyWithOptions(strings.NewReader(got[0]), &dkim.VerifyOptions{LookupTXT: zoneTXT(keys)})
		if err != nil || len(vs) != 2 {
			t.Fatalf("DKIM: %v, %d signatures", err, len(vs))
		}
		for _, v := range vs {
			if v.Err != nil || v.Domain != "a.test" {
				t.Errorf("DKIM signature of %s: %v", v.Domain, v.Err)
			}
		}
		a.waitLog(`msg="delivery attempt"`, "id="+id, "dest=b.test", "sent=1", "host=mx.b.test", "tls=verified")
		b.waitLog("msg=delivered", "from=alice@a.test", "tls=true")
	})

	t.Run("unknown recipient bounces to alice", func(t *testing.T) {
		if _, err := a.submitTo("alice@a.test", alicePw, "alice@a.test", []string{"nobody@b.test"},
			"From: alice@a.test\r\nSubject: to nobody\r\n\r\nx\r\n"); err != nil {
			t.Fatal(err)
		}
		in := a.waitInbox("alice@a.test", alicePw, 1)
		human, f := dsnStatus(t, in[0])
		if f.Get("Status") != "5.1.1" || f.Get("Action") != "failed" || f.Get("Diagnostic-Code") != "smtp; 550 5.1.1 No such user here" {
			t.Errorf("fields %v", f)
		}
		if !strings.Contains(human, "<nobody@b.test>: host mx.b.test said: 550 5.1.1 No such user here (in reply to RCPT TO)") {
			t.Errorf("explanation: %s", human)
		}
	})

	t.Run("no MX and no A bounces with the reason", func(t *testing.T) {
		if _, err := a.submitTo("alice@a.test", alicePw, "alice@a.test", []string{"x@nowhere.test"},
			"From: alice@a.test\r\nSubject: to nowhere\r\n\r\nx\r\n"); err != nil {
			t.Fatal(err)
		}
		in := a.waitInbox("alice@a.test", alicePw, 2)
		human, f := dsnStatus(t, in[1])
		if f.Get("Final-Recipient") != "rfc822; x@nowhere.test" || f.Get("Status") != "5.1.2" {
			t.Errorf("fields %v", f)
		}
		if !strings.Contains(human, "nowhere.test has no mail server: it has no MX record and no A or AAAA record") {
			t.Errorf("explanation: %s", human)
		}
	})

	t.Run("sending as someone else", func(t *testing.T) {
		_, err := a.submitTo("alice@a.test", alicePw, "bob@b.test", []string{"bob@b.test"}, "From: bob@b.test\r\n\r\nx\r\n")
		wantReply(t, err, "553 5.7.1 Sender address rejected: not owned by the authenticated user")
		_, err = a.submitTo("alice@a.test", alicePw, "alice@a.test", []string{"bob@b.test"}, "From: Bob <bob@b.test>\r\n\r\nx\r\n")
		wantReply(t, err, "553 5.7.1 From header address rejected: not owned by the authenticated user")
	})

	t.Run("no relay on port 25", func(t *testing.T) {
		c, err := smtp.Dial(a.addr["smtp"])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Mail("spammer@evil.test", nil); err != nil {
			t.Fatal(err)
		}
		wantReply(t, c.Rcpt("bob@b.test", nil), "554 5.7.1 Relay access denied")
	})

	t.Run("remote busy (421), then free", func(t *testing.T) {
		// b allows 3 connections per IP: hold them all.
		var held []net.Conn
		for range 3 {
			nc, err := net.Dial("tcp", b.addr["smtp"])
			if err != nil {
				t.Fatal(err)
			}
			bufio.NewReader(nc).ReadString('\n')
			held = append(held, nc)
		}
		id, err := a.submitTo("alice@a.test", alicePw, "alice@a.test", []string{"bob@b.test"}, "From: alice@a.test\r\nSubject: busy\r\n\r\nx\r\n")
		if err != nil {
			t.Fatal(err)
		}
		a.waitLog(`msg="delivery attempt"`, "id="+id, "deferred=1", "421 4.7.0")
		for _, nc := range held {
			nc.Close()
		}
		a.waitLog(`msg="delivery attempt"`, "id="+id, "sent=1")
		if got := b.waitInbox("bob@b.test", bobPw, 2); !strings.Contains(got[1], "Subject: busy") {
			t.Errorf("second message: %.200s", got[1])
		}
	})

	t.Run("remote down, then up", func(t *testing.T) {
		b.stop()
		id, err := a.submitTo("alice@a.test", alicePw, "alice@a.test", []string{"bob@b.test"}, "From: alice@a.test\r\nSubject: while down\r\n\r\nx\r\n")
		if err != nil {
			t.Fatal(err)
		}
		a.waitLog(`msg="delivery attempt"`, "id="+id, "deferred=1", "cannot connect to mx.b.test[127.0.0.1]")
		b.start()
		a.waitLog(`msg="delivery attempt"`, "id="+id, "sent=1")
		got := b.waitInbox("bob@b.test", bobPw, 3)
		time.Sleep(300 * time.Millisecond) // a wrong second delivery would show by now
		if got = b.inbox("bob@b.test", bobPw); len(got) != 3 || !strings.Contains(got[2], "Subject: while down") {
			t.Errorf("bob has %d messages", len(got))
		}
	})

	// Nothing is left in a's queue, and alice has exactly the two notices.
	if out := a.cli("", "queue", "list"); out != "The queue is empty.\n" {
		t.Errorf("queue list:\n%s", out)
	}
	if n := len(a.inbox("alice@a.test", alicePw)); n != 2 {
		t.Errorf("alice has %d messages, want the 2 notices", n)
	}
}

func wantReply(t *testing.T, err error, want string) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want %q", err, want)
	}
	if got := fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message); got != want {
		t.Errorf("reply %q, want %q", got, want)
	}
}

func portNum(addr string) int {
	n := 0
	fmt.Sscan(portOf(addr), &n)
	return n
}
