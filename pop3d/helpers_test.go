package pop3d

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/users"
)

const (
	testUser     = "alice@example.org"
	testPassword = "correct horse battery"
	testHost     = "pop.example.org"
)

// env is a server over a real Maildir store and user file in a temp dir,
// listening on 127.0.0.1.
type env struct {
	t     testing.TB
	dir   string
	store *mailbox.Maildir
	db    *users.FileDB
	srv   *Server
	addr  string
	logs  *logBuffer
	done  chan error // Serve's result

	implicit bool // the listener is TLS
}

// newEnv starts a server; edit may change its options before New.
func newEnv(t testing.TB, edit func(*Options)) *env {
	t.Helper()
	return startEnv(t, false, edit)
}

// newImplicitTLSEnv starts a server behind a TLS listener (port 995 style).
func newImplicitTLSEnv(t testing.TB, edit func(*Options)) *env {
	t.Helper()
	return startEnv(t, true, func(o *Options) {
		o.TLSConfig = selfSigned(t)
		if edit != nil {
			edit(o)
		}
	})
}

func startEnv(t testing.TB, implicitTLS bool, edit func(*Options)) *env {
	t.Helper()
	dir := t.TempDir()
	store, err := mailbox.Open(filepath.Join(dir, "mail"), mailbox.Options{
		Hostname: testHost,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("mailbox.Open: %v", err)
	}
	db, err := users.OpenFile(filepath.Join(dir, "users.db"), users.FileOptions{
		Domains:    []string{"example.org"},
		HashParams: users.HashParams{Time: 1, MemoryKiB: 64}, // fast logins in tests
	})
	if err != nil {
		t.Fatalf("users.OpenFile: %v", err)
	}
	if err := db.AddUser(testUser, testPassword); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	logs := &logBuffer{}
	opts := Options{
		Hostname:       testHost,
		Store:          store,
		Users:          db,
		AllowPlaintext: true,
		Logger:         slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&opts)
	}
	e := &env{t: t, dir: dir, store: store, db: db, logs: logs, done: make(chan error, 1), implicit: implicitTLS}
	e.srv = New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if implicitTLS {
		ln = tls.NewListener(ln, opts.TLSConfig)
	}
	e.addr = ln.Addr().String()
	go func() { e.done <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		e.srv.Close()
		store.Close()
		if n := logs.panicCount(); n != 0 {
			t.Errorf("%d sessions panicked; log:\n%s", n, logs.String())
		}
		if strings.Contains(logs.String(), testPassword) {
			t.Errorf("a password reached the log:\n%s", logs.String())
		}
	})
	return e
}

// deliver puts messages into the test user's INBOX and returns them.
func (e *env) deliver(msgs ...string) []string {
	e.t.Helper()
	for _, m := range msgs {
		if err := e.store.Deliver(context.Background(), []string{testUser}, strings.NewReader(m)); err != nil {
			e.t.Fatalf("Deliver: %v", err)
		}
	}
	return msgs
}

// inbox returns what the store says is in the INBOX, through a separate
// read-only handle: infos, UIDVALIDITY and each message's content.
func (e *env) inbox() ([]mailbox.MessageInfo, uint32, [][]byte) {
	e.t.Helper()
	return e.inboxOf(testUser)
}

// inboxOf is inbox for any user.
func (e *env) inboxOf(user string) ([]mailbox.MessageInfo, uint32, [][]byte) {
	e.t.Helper()
	acct, err := e.store.Account(user)
	if err != nil {
		e.t.Fatalf("Account: %v", err)
	}
	defer acct.Close()
	f, err := acct.Open("INBOX", true)
	if err != nil {
		e.t.Fatalf("Open INBOX: %v", err)
	}
	defer f.Close()
	infos, err := f.Messages()
	if err != nil {
		e.t.Fatalf("Messages: %v", err)
	}
	var bodies [][]byte
	for _, info := range infos {
		rc, _, err := f.Open(info.UID)
		if err != nil {
			e.t.Fatalf("Open %d: %v", info.UID, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			e.t.Fatalf("read %d: %v", info.UID, err)
		}
		bodies = append(bodies, b)
	}
	return infos, f.UIDValidity(), bodies
}

// totals is the store's count and size of the INBOX.
func (e *env) totals() (int, int64) {
	e.t.Helper()
	infos, _, _ := e.inbox()
	var size int64
	for _, in := range infos {
		size += in.Size
	}
	return len(infos), size
}

// maildropLine is the expected answer to a successful login now.
func (e *env) maildropLine() string {
	e.t.Helper()
	count, size := e.totals()
	messages := "messages"
	if count == 1 {
		messages = "message"
	}
	return fmt.Sprintf("+OK maildrop has %d %s (%d octets)", count, messages, size)
}

// diskFiles lists the message files of every INBOX on disk (files in a
// cur/ or new/ directory whose parent is not a Maildir++ sub-folder), by
// path relative to the store, with their content.
func (e *env) diskFiles() map[string]string {
	e.t.Helper()
	root := filepath.Join(e.dir, "mail")
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		parent := filepath.Base(filepath.Dir(p))
		folder := filepath.Base(filepath.Dir(filepath.Dir(p)))
		if (parent == "cur" || parent == "new") && !strings.HasPrefix(folder, ".") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			files[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("walk store: %v", err)
	}
	return files
}

// waitSessionsEnded waits until the server logged n session ends.
func (e *env) waitSessionsEnded(n int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.logs.find("pop3 session end")) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("only %d of %d sessions ended; log:\n%s",
				len(e.logs.find("pop3 session end")), n, e.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is the test's side of one connection.
type client struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
}

// dial connects and checks the greeting.
func (e *env) dial() *client {
	e.t.Helper()
	var c net.Conn
	var err error
	if e.implicit {
		c, err = tls.Dial("tcp", e.addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.Dial("tcp", e.addr)
	}
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	cl := newClient(e.t, c)
	e.t.Cleanup(func() { c.Close() })
	cl.expect("+OK " + testHost + " POP3 server ready")
	return cl
}

func newClient(t testing.TB, c net.Conn) *client {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &client{t: t, conn: c, tp: textproto.NewConn(c)}
}

// send writes one command line.
func (c *client) send(line string) {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// line reads one response line (without CRLF).
func (c *client) line() string {
	c.t.Helper()
	l, err := c.tp.ReadLine()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return l
}

// expect reads one line and compares it exactly.
func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.line(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

// cmd sends a command and expects an exact one-line answer.
func (c *client) cmd(line, want string) {
	c.t.Helper()
	c.send(line)
	c.expect(want)
}

// lines reads the lines of a multi-line response up to the "." line,
// undoing dot-stuffing.
func (c *client) lines() []string {
	c.t.Helper()
	lines, err := c.tp.ReadDotLines()
	if err != nil {
		c.t.Fatalf("read multi-line: %v", err)
	}
	return lines
}

// body reads a multi-line response body byte for byte: CRLF kept, one
// leading dot of each stuffed line removed, terminator dropped (RFC 1939
// §3, what a client does).
func (c *client) body() []byte {
	c.t.Helper()
	b, err := readDotBody(c.tp.R)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	return b
}

func readDotBody(r *bufio.Reader) ([]byte, error) {
	var out bytes.Buffer
	for {
		l, err := r.ReadBytes('\n')
		if err != nil {
			return out.Bytes(), err
		}
		if string(l) == ".\r\n" {
			return out.Bytes(), nil
		}
		if !bytes.HasSuffix(l, []byte("\r\n")) {
			return out.Bytes(), errors.New("line without CRLF in multi-line response")
		}
		out.Write(bytes.TrimPrefix(l, []byte(".")))
	}
}

// expectClosed checks that the server closed the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	l, err := c.tp.ReadLine()
	if err == nil {
		c.t.Fatalf("connection still open, got %q", l)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		c.t.Fatalf("want EOF, got %v", err)
	}
}

// login logs in with USER/PASS and returns the +OK line.
func (c *client) login() string {
	c.t.Helper()
	c.cmd("USER "+testUser, "+OK send PASS")
	c.send("PASS " + testPassword)
	l := c.line()
	if !strings.HasPrefix(l, "+OK maildrop has ") {
		c.t.Fatalf("login: %q", l)
	}
	return l
}

// startTLS runs STLS and the client handshake.
func (c *client) startTLS() {
	c.t.Helper()
	c.cmd("STLS", "+OK begin TLS negotiation")
	c.startTLSAfterOK()
}

// startTLSAfterOK runs the client handshake after "+OK" to STLS was read.
func (c *client) startTLSAfterOK() {
	c.t.Helper()
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.conn = tc
	c.tp = textproto.NewConn(tc)
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	panics int // session panics logged, kept across reset
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if bytes.Contains(p, []byte(`"msg":"pop3 session panic"`)) {
		l.panics++
	}
	return l.buf.Write(p)
}

// reset forgets the lines (not the panic count).
func (l *logBuffer) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}

func (l *logBuffer) panicCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.panics
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// find returns the records whose msg is msg.
func (l *logBuffer) find(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// selfSigned makes a TLS config with a fresh certificate for testHost.
func selfSigned(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: testHost},
		DNSNames:     []string{testHost},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// crlf turns LF line ends into CRLF (test messages are written with LF).
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
