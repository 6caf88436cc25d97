package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailsuite/mailsuite/internal/certs"
	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/users"
)

const (
	testHost    = "mx.example.org"
	alicePass   = "alice-secret-pw"
	bobPass     = "bob-secret-pw"
	testTimeout = 10 * time.Second // generous bound for waits, never asserted
)

// env is one test's world: a real Maildir store, a real users file, a
// self-signed certificate, and the servers started on loopback.
type env struct {
	t        testing.TB
	mailRoot string
	store    *mailbox.Maildir
	db       *users.FileDB
	logs     *logBuf
	log      *slog.Logger

	serverTLS *tls.Config
	clientTLS *tls.Config
}

func newEnv(t testing.TB) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{t: t, mailRoot: filepath.Join(root, "mail"), logs: &logBuf{}}
	e.log = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	store, err := mailbox.Open(e.mailRoot, mailbox.Options{
		Hostname: "test", PollInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e.store = store

	db, err := users.OpenFile(filepath.Join(root, "users.db"), users.FileOptions{
		Domains:    []string{"example.org", "example.net"},
		HashParams: users.HashParams{Time: 1, MemoryKiB: 64, Threads: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	for _, u := range []struct{ addr, pw string }{
		{"alice@example.org", alicePass},
		{"bob@example.org", bobPass},
		{"carol@example.net", "carol-secret-pw"},
	} {
		if err := db.AddUser(u.addr, u.pw); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []struct {
		addr    string
		targets []string
	}{
		{"team@example.org", []string{"alice@example.org", "bob@example.org"}},
		{"postmaster@example.org", []string{"alice@example.org"}},
		{"boss@example.org", []string{"alice@example.org"}},
	} {
		if err := db.AddAlias(a.addr, a.targets); err != nil {
			t.Fatal(err)
		}
	}

	h, err := certs.New(certs.Source{Dir: filepath.Join(root, "tls"), Hostname: testHost})
	if err != nil {
		t.Fatal(err)
	}
	e.serverTLS = h.Config()
	certFile, _ := h.Paths()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("cannot load test certificate")
	}
	e.clientTLS = &tls.Config{RootCAs: pool, ServerName: testHost}
	return e
}

// options returns the options tests start from: real store and users, a
// fake resolver that knows 127.0.0.1 as client.example, no delays.
func (e *env) options(mode Mode) Options {
	return Options{
		Mode:      mode,
		Hostname:  testHost,
		Store:     e.store,
		Users:     e.db,
		TLSConfig: e.serverTLS,
		Logger:    e.log,
		Resolver: fakeResolver{
			ptr:  map[string][]string{"127.0.0.1": {"client.example."}},
			host: map[string][]string{"client.example.": {"127.0.0.1"}},
		},
	}
}

// running is a started server.
type running struct {
	srv  *Server
	addr string
	errc chan error
}

// start serves opts on a new loopback listener; implicit wraps it in TLS.
func (e *env) start(opts Options, implicit bool) *running {
	e.t.Helper()
	return e.startOn("127.0.0.1:0", opts, implicit)
}

func (e *env) startOn(hostport string, opts Options, implicit bool) *running {
	e.t.Helper()
	ln, err := net.Listen("tcp", hostport)
	if err != nil {
		e.t.Fatal(err)
	}
	r := &running{srv: New(opts), addr: ln.Addr().String(), errc: make(chan error, 1)}
	if implicit {
		ln = tls.NewListener(ln, e.serverTLS)
	}
	go func() { r.errc <- r.srv.Serve(ln) }()
	e.t.Cleanup(func() {
		r.srv.Close()
		select {
		case err := <-r.errc:
			if !errors.Is(err, ErrServerClosed) {
				e.t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(testTimeout):
			e.t.Error("Serve did not return after Close")
		}
	})
	return r
}

// stored is one message found in an INBOX.
type stored struct {
	uid  uint32
	data string
}

// inbox reads every message of user's INBOX through the store (CRLF).
func (e *env) inbox(user string) []stored {
	e.t.Helper()
	acct, err := e.store.Account(user)
	if err != nil {
		e.t.Fatal(err)
	}
	defer acct.Close()
	f, err := acct.Open("INBOX", true)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	infos, err := f.Messages()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []stored
	for _, m := range infos {
		rc, size, err := f.Open(m.UID)
		if err != nil {
			e.t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		if int64(len(b)) != size {
			e.t.Errorf("message %d: read %d octets, store says %d", m.UID, len(b), size)
		}
		out = append(out, stored{m.UID, string(b)})
	}
	return out
}

// mailFiles lists every file in a new/, tmp/ or cur/ directory anywhere
// under the mail root: the messages on disk, delivered or half-written.
func (e *env) mailFiles() []string {
	e.t.Helper()
	var files []string
	err := filepath.WalkDir(e.mailRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch filepath.Base(filepath.Dir(path)) {
		case "new", "tmp", "cur":
			if !d.IsDir() {
				files = append(files, path)
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return files
}

func (e *env) wantNoMail() {
	e.t.Helper()
	if files := e.mailFiles(); len(files) != 0 {
		e.t.Errorf("mail on disk, want none: %q", files)
	}
}

// wantLog fails unless some log line contains every fragment.
func (e *env) wantLog(fragments ...string) {
	e.t.Helper()
	for _, line := range strings.Split(e.logs.String(), "\n") {
		ok := true
		for _, f := range fragments {
			if !strings.Contains(line, f) {
				ok = false
				break
			}
		}
		if ok {
			return
		}
	}
	e.t.Errorf("no log line with %q in:\n%s", fragments, e.logs.String())
}

// logBuf is a goroutine-safe log sink.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fakeResolver struct {
	ptr, host map[string][]string
}

func (r fakeResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	if n, ok := r.ptr[addr]; ok {
		return n, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

func (r fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := r.host[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// raw is a client that speaks SMTP line by line, for exact replies.
type raw struct {
	t  *testing.T
	nc net.Conn
	tp *textproto.Conn
}

// dialRaw connects and reads the greeting; tlsConf non-nil: implicit TLS.
func dialRaw(t *testing.T, addr string, tlsConf *tls.Config) *raw {
	t.Helper()
	var nc net.Conn
	var err error
	if tlsConf != nil {
		nc, err = tls.Dial("tcp", addr, tlsConf)
	} else {
		nc, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(testTimeout))
	r := &raw{t: t, nc: nc, tp: textproto.NewConn(nc)}
	t.Cleanup(func() { nc.Close() })
	if got := r.read(); !strings.HasPrefix(got, "220 ") {
		t.Fatalf("greeting %q", got)
	}
	return r
}

// read returns the next reply as "code text" (multi-line replies joined
// with "\n", each line's code removed).
func (r *raw) read() string {
	r.t.Helper()
	code, msg, err := r.tp.ReadResponse(0)
	if err != nil {
		r.t.Fatalf("reading reply: %v", err)
	}
	return fmt.Sprintf("%d %s", code, msg)
}

func (r *raw) send(line string) {
	r.t.Helper()
	if err := r.tp.PrintfLine("%s", line); err != nil {
		r.t.Fatalf("sending %q: %v", line, err)
	}
}

// cmd sends one line and returns the reply.
func (r *raw) cmd(line string) string {
	r.t.Helper()
	r.send(line)
	return r.read()
}

// expect sends line and fails unless the reply is exactly want.
func (r *raw) expect(line, want string) {
	r.t.Helper()
	if got := r.cmd(line); got != want {
		r.t.Errorf("%s\n got: %s\nwant: %s", line, got, want)
	}
}

// expectPrefix is expect for replies with a variable tail.
func (r *raw) expectPrefix(line, want string) string {
	r.t.Helper()
	got := r.cmd(line)
	if !strings.HasPrefix(got, want) {
		r.t.Errorf("%s\n got: %s\nwant: %s...", line, got, want)
	}
	return got
}

// startTLS upgrades the connection after a 220 to STARTTLS.
func (r *raw) startTLS(conf *tls.Config) {
	r.t.Helper()
	r.expect("STARTTLS", "220 2.0.0 Ready to start TLS")
	tc := tls.Client(r.nc, conf)
	if err := tc.Handshake(); err != nil {
		r.t.Fatal(err)
	}
	r.nc = tc
	r.tp = textproto.NewConn(tc)
}

// wantClosed fails unless the server has closed the connection.
func (r *raw) wantClosed() {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(testTimeout))
	line, err := r.tp.ReadLine()
	if err == nil {
		r.t.Errorf("connection open, read %q", line)
	}
}

// dial returns a go-smtp client on plain TCP, greeted with EHLO.
func dial(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	return c
}

// dialStartTLS returns a go-smtp client that has done STARTTLS and EHLO.
func dialStartTLS(t *testing.T, addr string, conf *tls.Config) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialTLS returns a go-smtp client on implicit TLS.
func dialTLS(t *testing.T, addr string, conf *tls.Config) *smtp.Client {
	t.Helper()
	c, err := smtp.DialTLS(addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantErr fails unless err is an SMTP reply with exactly this text,
// written as the wire shows it: "550 5.1.1 No such user here".
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Errorf("got error %v, want reply %q", err, want)
		return
	}
	got := fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	if got != want {
		t.Errorf("got reply %q, want %q", got, want)
	}
}

// send transmits one message on c and returns the queue id from the reply.
func send(t *testing.T, c *smtp.Client, from string, to []string, msg string) string {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatalf("RCPT %s: %v", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatalf("end of DATA: %v", err)
	}
	return queueID(t, resp.StatusText)
}

var queuedRE = regexp.MustCompile(`^2\.0\.0 OK: queued as ([A-Z2-7]{16})$`)

func queueID(t *testing.T, text string) string {
	t.Helper()
	m := queuedRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("DATA reply %q has no queue id", text)
	}
	return m[1]
}

// traceRE matches the two header fields we prepend; the date is checked
// separately.
func wantTrace(t *testing.T, got, returnPath, from, proto, id, forRcpt string) (body string) {
	t.Helper()
	head := "Return-Path: " + returnPath + "\r\n" +
		"Received: from " + from + "\r\n" +
		"\tby " + testHost + " with " + proto + " id " + id
	if forRcpt != "" {
		head += "\r\n\tfor <" + forRcpt + ">"
	}
	head += "; "
	if !strings.HasPrefix(got, head) {
		t.Fatalf("stored message starts\n%q\nwant\n%q", firstLines(got, 4), head)
	}
	rest := got[len(head):]
	date, after, ok := strings.Cut(rest, "\r\n")
	if !ok {
		t.Fatalf("no end to the Received field: %q", firstLines(rest, 1))
	}
	when, err := time.Parse(time.RFC1123Z, date)
	if err != nil {
		t.Errorf("Received date %q: %v", date, err)
	} else if d := time.Since(when); d < -time.Minute || d > time.Hour {
		t.Errorf("Received date %q is not today's", date)
	}
	return after
}

func firstLines(s string, n int) string {
	lines := strings.SplitAfterN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "")
}

// waitFor polls cond until it holds (synchronisation, not a timing test).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func dialPlain(addr string) (net.Conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err == nil {
		nc.SetDeadline(time.Now().Add(testTimeout))
	}
	return nc, err
}

func newText(nc net.Conn) *textproto.Conn { return textproto.NewConn(nc) }
