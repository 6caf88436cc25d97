package imapd

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
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/users"
)

const (
	testUser     = "alice@example.org"
	testPassword = "correct horse battery"
	otherUser    = "bob@example.org"
	otherPass    = "bob's own secret"
)

// env is a server over a real Maildir store and user file in a temp dir,
// listening on 127.0.0.1.
type env struct {
	t        testing.TB
	dir      string
	store    *mailbox.Maildir
	db       *users.FileDB
	srv      *Server
	opts     Options
	addr     string
	logs     *logBuffer
	done     chan error
	implicit bool
	wrap     func(net.Listener) net.Listener
	storeOpt func(*mailbox.Options)
	wrapSt   func(mailbox.Store) mailbox.Store
}

type envConfig struct {
	implicitTLS bool
	edit        func(*Options)
	// wrap changes the listener (tests that fake a remote address).
	wrap func(net.Listener) net.Listener
	// store changes the store's options.
	store func(*mailbox.Options)
	// wrapStore puts a fault injector in front of the store.
	wrapStore func(mailbox.Store) mailbox.Store
}

func newEnv(t testing.TB, edit func(*Options)) *env {
	t.Helper()
	return startEnv(t, envConfig{edit: edit})
}

func startEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := users.OpenFile(filepath.Join(dir, "users.db"), users.FileOptions{
		Domains:    []string{"example.org"},
		HashParams: users.HashParams{Time: 1, MemoryKiB: 64}, // fast logins in tests
	})
	if err != nil {
		t.Fatalf("users.OpenFile: %v", err)
	}
	for u, p := range map[string]string{testUser: testPassword, otherUser: otherPass} {
		if err := db.AddUser(u, p); err != nil {
			t.Fatalf("AddUser: %v", err)
		}
	}
	logs := &logBuffer{}
	opts := Options{
		Hostname:       "imap.example.org",
		Users:          db,
		AllowPlaintext: true,
		Logger:         slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if cfg.implicitTLS {
		opts.TLSConfig = selfSigned(t)
	}
	if cfg.edit != nil {
		cfg.edit(&opts)
	}
	e := &env{t: t, dir: dir, db: db, logs: logs, opts: opts, implicit: cfg.implicitTLS, wrap: cfg.wrap, storeOpt: cfg.store, wrapSt: cfg.wrapStore}
	e.start()
	t.Cleanup(func() {
		e.stop()
		if strings.Contains(logs.String(), testPassword) || strings.Contains(logs.String(), otherPass) {
			t.Errorf("a password reached the log:\n%s", logs.String())
		}
	})
	return e
}

// start opens the store and starts a server on a new port.
func (e *env) start() {
	e.t.Helper()
	so := mailbox.Options{
		Hostname:     "imap.example.org",
		Logger:       slog.New(slog.DiscardHandler),
		PollInterval: 50 * time.Millisecond,
	}
	if e.storeOpt != nil {
		e.storeOpt(&so)
	}
	store, err := mailbox.Open(filepath.Join(e.dir, "mail"), so)
	if err != nil {
		e.t.Fatalf("mailbox.Open: %v", err)
	}
	e.store = store
	opts := e.opts
	opts.Store = store
	if e.wrapSt != nil {
		opts.Store = e.wrapSt(store)
	}
	e.srv = New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatalf("listen: %v", err)
	}
	if e.implicit {
		ln = tls.NewListener(ln, opts.TLSConfig)
	}
	if e.wrap != nil {
		ln = e.wrap(ln)
	}
	e.addr = ln.Addr().String()
	e.done = make(chan error, 1)
	go func() { e.done <- e.srv.Serve(ln) }()
}

// stop closes server and store; Serve must have returned ErrServerClosed.
func (e *env) stop() {
	if e.srv == nil {
		return
	}
	e.srv.Close()
	select {
	case err := <-e.done:
		if err != ErrServerClosed {
			e.t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		e.t.Errorf("Serve did not return after Close")
	}
	e.store.Close()
	e.srv = nil
}

// restart stops everything and starts again on the same data.
func (e *env) restart() {
	e.t.Helper()
	e.stop()
	e.start()
}

// dial connects an imapclient without logging in.
func (e *env) dial() *imapclient.Client {
	e.t.Helper()
	return e.dialOpts(nil)
}

func (e *env) dialOpts(o *imapclient.Options) *imapclient.Client {
	e.t.Helper()
	if o == nil {
		o = &imapclient.Options{}
	}
	o.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	var (
		c   *imapclient.Client
		err error
	)
	if e.implicit {
		c, err = imapclient.DialTLS(e.addr, o)
	} else {
		c, err = imapclient.DialInsecure(e.addr, o)
	}
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.WaitGreeting(); err != nil {
		e.t.Fatalf("greeting: %v", err)
	}
	return c
}

// login dials and logs in as the test user.
func (e *env) login() *imapclient.Client {
	e.t.Helper()
	return e.loginOpts(nil)
}

func (e *env) loginOpts(o *imapclient.Options) *imapclient.Client {
	e.t.Helper()
	c := e.dialOpts(o)
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		e.t.Fatalf("login: %v", err)
	}
	return c
}

// loginSelect logs in and selects a folder.
func (e *env) loginSelect(name string) *imapclient.Client {
	e.t.Helper()
	c := e.login()
	if _, err := c.Select(name, nil).Wait(); err != nil {
		e.t.Fatalf("select %s: %v", name, err)
	}
	return c
}

// deliver puts messages into the test user's INBOX.
func (e *env) deliver(msgs ...string) {
	e.t.Helper()
	for _, m := range msgs {
		if err := e.store.Deliver(context.Background(), []string{testUser}, strings.NewReader(m)); err != nil {
			e.t.Fatalf("Deliver: %v", err)
		}
	}
}

// folder returns what the store holds in a folder, through its own
// read-only handle: infos and contents.
func (e *env) folder(name string) ([]mailbox.MessageInfo, []string) {
	e.t.Helper()
	acct, err := e.store.Account(testUser)
	if err != nil {
		e.t.Fatalf("Account: %v", err)
	}
	defer acct.Close()
	f, err := acct.Open(name, true)
	if err != nil {
		e.t.Fatalf("Open %s: %v", name, err)
	}
	defer f.Close()
	infos, err := f.Messages()
	if err != nil {
		e.t.Fatalf("Messages: %v", err)
	}
	var bodies []string
	for _, in := range infos {
		rc, _, err := f.Open(in.UID)
		if err != nil {
			e.t.Fatalf("Open %d: %v", in.UID, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			e.t.Fatalf("read %d: %v", in.UID, err)
		}
		bodies = append(bodies, string(b))
	}
	return infos, bodies
}

// snapshot is a folder's state, to show that a failed command changed
// nothing.
func (e *env) snapshot(name string) string {
	e.t.Helper()
	infos, bodies := e.folder(name)
	var b strings.Builder
	for i, in := range infos {
		fmt.Fprintf(&b, "%d %v %d %x\n", in.UID, in.Flags, in.Size, bodies[i])
	}
	return b.String()
}

// diskFiles maps each message file of the user's tree (relative path) to
// its content as stored.
func (e *env) diskFiles() map[string]string {
	e.t.Helper()
	root := filepath.Join(e.dir, "mail")
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if sub := filepath.Base(filepath.Dir(p)); sub == "cur" || sub == "new" {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("walk: %v", err)
	}
	return out
}

// diskContents lists the stored files' contents, sorted.
func (e *env) diskContents() []string {
	var out []string
	for _, c := range e.diskFiles() {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// raw is a plain-text connection for exact transcripts.
type raw struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func (e *env) raw() *raw {
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
	c.SetDeadline(time.Now().Add(30 * time.Second))
	e.t.Cleanup(func() { c.Close() })
	r := &raw{t: e.t, conn: c, r: bufio.NewReader(c)}
	if g := r.line(); !strings.HasPrefix(g, "* OK [CAPABILITY ") {
		e.t.Fatalf("greeting %q", g)
	}
	return r
}

// rawLogin logs in over a raw connection.
func (e *env) rawLogin() *raw {
	e.t.Helper()
	r := e.raw()
	r.ok("L1", "LOGIN "+testUser+` "`+testPassword+`"`)
	return r
}

func (r *raw) send(line string) {
	r.t.Helper()
	if _, err := io.WriteString(r.conn, line+"\r\n"); err != nil {
		r.t.Fatalf("send %q: %v", line, err)
	}
}

func (r *raw) line() string {
	r.t.Helper()
	l, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// cmd sends "tag command" and returns the untagged lines and the tagged one.
func (r *raw) cmd(tag, command string) ([]string, string) {
	r.t.Helper()
	r.send(tag + " " + command)
	return r.until(tag)
}

func (r *raw) until(tag string) ([]string, string) {
	r.t.Helper()
	var untagged []string
	for {
		l := r.response()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l
		}
		untagged = append(untagged, l)
	}
}

// response reads one response line with its literals inline: a line
// ending in {n} (or ~{n}) goes on with "\r\n", the n octets and the rest.
func (r *raw) response() string {
	r.t.Helper()
	var b strings.Builder
	for {
		l := r.line()
		b.WriteString(l)
		m := literalAtEnd.FindStringSubmatch(l)
		if m == nil {
			return b.String()
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.r, buf); err != nil {
			r.t.Fatalf("read literal: %v", err)
		}
		b.WriteString("\r\n")
		b.Write(buf)
	}
}

var literalAtEnd = regexp.MustCompile(`\{(\d+)\}$`)

// ok runs a command that must succeed.
func (r *raw) ok(tag, command string) []string {
	r.t.Helper()
	u, t := r.cmd(tag, command)
	if !strings.HasPrefix(t, tag+" OK") {
		r.t.Fatalf("%s %s: %q", tag, command, t)
	}
	return u
}

// expectClosed checks that the server closed the connection.
func (r *raw) expectClosed() {
	r.t.Helper()
	l, err := r.r.ReadString('\n')
	if err == nil {
		r.t.Fatalf("connection still open, got %q", l)
	}
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
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

// waitLog waits until msg has been logged n times.
func (e *env) waitLog(msg string, n int) []map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := e.logs.find(msg)
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%q logged %d times, want %d; log:\n%s", msg, len(recs), n, e.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func selfSigned(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "imap.example.org"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"imap.example.org"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// appendMsg appends a message with the client and returns its UID.
func appendMsg(t testing.TB, c *imapclient.Client, folder, msg string, opts *imap.AppendOptions) imap.UID {
	t.Helper()
	cmd := c.Append(folder, int64(len(msg)), opts)
	if _, err := io.WriteString(cmd, msg); err != nil {
		t.Fatalf("append write: %v", err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("append close: %v", err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return data.UID
}

// fetchOne fetches one message by UID.
func fetchOne(t testing.TB, c *imapclient.Client, uid imap.UID, o *imap.FetchOptions) *imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(imap.UIDSetNum(uid), o).Collect()
	if err != nil {
		t.Fatalf("fetch %d: %v", uid, err)
	}
	if len(msgs) != 1 {
		t.Fatalf("fetch %d: %d messages", uid, len(msgs))
	}
	return msgs[0]
}

// imapCode extracts the response code of a command error.
func imapCode(err error) imap.ResponseCode {
	if ie, ok := err.(*imap.Error); ok {
		return ie.Code
	}
	return ""
}

// simple is a small message with a given subject and body.
func simple(subject, body string) string {
	return "From: Carol <carol@example.net>\r\nTo: alice@example.org\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Jan 2006 15:04:05 -0700\r\nMessage-ID: <" + subject + "@example.net>\r\n\r\n" + body
}
