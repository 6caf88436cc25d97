package queue

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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailsuite/mailsuite/mailbox"
)

const (
	ourHost     = "mx.a.test"
	testTimeout = 10 * time.Second // bound for waits, never asserted
)

// logBuf is a goroutine-safe log sink for assertions on log lines.
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

// testCert makes a self-signed certificate for names (and 127.0.0.1) and
// returns it with a pool that trusts it.
func testCert(t testing.TB, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// received is one message a remote accepted.
type received struct {
	from  string
	rcpts []string
	data  string
	tls   bool
	auth  string
}

// remote is a scriptable SMTP server on loopback, standing for another
// domain's MX (or a smarthost).
type remote struct {
	t    testing.TB
	addr string
	ln   net.Listener
	srv  *smtp.Server

	mu        sync.Mutex
	msgs      []received
	conns     int // connections accepted
	active    int
	maxActive int
	mails     int // MAIL commands

	// Hooks, set before use; nil: accept.
	onMail func(from string) error
	onRcpt func(to string) error
	onData func(rcpts []string) error
	onAuth func(user, pass string) error
	// dataDelay holds the reply to the end of data.
	dataDelay time.Duration
}

type remoteOpts struct {
	tls  *tls.Config // STARTTLS offered when set
	addr string      // "" for a new port
}

func newRemote(t testing.TB, o remoteOpts) *remote {
	t.Helper()
	r := &remote{t: t}
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.ln = &countingListener{Listener: ln, r: r}
	s := smtp.NewServer(r)
	s.Domain = "mx.remote.test"
	s.TLSConfig = o.tls
	s.AllowInsecureAuth = o.tls == nil
	s.ReadTimeout = testTimeout
	s.WriteTimeout = testTimeout
	s.EnableSMTPUTF8 = true
	s.ErrorLog = discardLog{}
	r.srv = s
	go s.Serve(r.ln)
	t.Cleanup(r.close)
	return r
}

func (r *remote) close() { r.srv.Close() }

func (r *remote) port() int {
	_, p, _ := net.SplitHostPort(r.addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

func (r *remote) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.msgs...)
}

func (r *remote) stats() (conns, maxActive, mails int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns, r.maxActive, r.mails
}

// waitReceived waits until the remote holds n messages.
func (r *remote) waitReceived(n int) []received {
	r.t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		got := r.received()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("remote received %d messages, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

type countingListener struct {
	net.Listener
	r *remote
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.r.mu.Lock()
	l.r.conns++
	l.r.active++
	l.r.maxActive = max(l.r.maxActive, l.r.active)
	l.r.mu.Unlock()
	return &countingConn{Conn: c, r: l.r}, nil
}

type countingConn struct {
	net.Conn
	r    *remote
	once sync.Once
}

// Close ends the connection for the count; so does the client's QUIT,
// after which the connection is over for the client even if the server
// has not closed it yet.
func (c *countingConn) Close() error {
	c.done()
	return c.Conn.Close()
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if bytes.Contains(p[:n], []byte("QUIT\r\n")) {
		c.done()
	}
	return n, err
}

func (c *countingConn) done() {
	c.once.Do(func() {
		c.r.mu.Lock()
		c.r.active--
		c.r.mu.Unlock()
	})
}

func (r *remote) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &remoteSession{r: r, c: c}, nil
}

type remoteSession struct {
	r     *remote
	c     *smtp.Conn
	from  string
	rcpts []string
	auth  string
}

func (s *remoteSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *remoteSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if s.r.onAuth != nil {
			if err := s.r.onAuth(user, pass); err != nil {
				return err
			}
		}
		s.auth = user
		return nil
	}), nil
}

func (s *remoteSession) Mail(from string, _ *smtp.MailOptions) error {
	s.r.mu.Lock()
	s.r.mails++
	hook := s.r.onMail
	s.r.mu.Unlock()
	if hook != nil {
		if err := hook(from); err != nil {
			if _, ok := err.(*hangup); ok {
				s.c.Close()
			}
			return err
		}
	}
	s.from = from
	return nil
}

func (s *remoteSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	hook := s.r.onRcpt
	s.r.mu.Unlock()
	if hook != nil {
		if err := hook(to); err != nil {
			return err
		}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *remoteSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	hook, delay := s.r.onData, s.r.dataDelay
	s.r.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if hook != nil {
		if err := hook(s.rcpts); err != nil {
			return err
		}
	}
	_, isTLS := s.c.TLSConnectionState()
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, received{from: s.from, rcpts: s.rcpts, data: string(b), tls: isTLS, auth: s.auth})
	s.r.mu.Unlock()
	return nil
}

func (s *remoteSession) Reset() { s.from, s.rcpts = "", nil }

func (s *remoteSession) Logout() error { return nil }

// smtpErr makes a remote reply.
func smtpErr(code int, enh string, msg string) *smtp.SMTPError {
	var e smtp.EnhancedCode
	fmt.Sscanf(enh, "%d.%d.%d", &e[0], &e[1], &e[2])
	return &smtp.SMTPError{Code: code, EnhancedCode: e, Message: msg}
}

// fakeDNS answers from maps; anything else does not exist.
type fakeDNS struct {
	mu    sync.Mutex
	mx    map[string][]*net.MX
	hosts map[string][]string
	fail  map[string]error // by name, for either lookup
	asked []string
}

func newDNS() *fakeDNS {
	return &fakeDNS{mx: map[string][]*net.MX{}, hosts: map[string][]string{}, fail: map[string]error{}}
}

func (d *fakeDNS) setMX(domain string, hosts ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var mxs []*net.MX
	for i, h := range hosts {
		mxs = append(mxs, &net.MX{Host: h + ".", Pref: uint16(10 * (i + 1))})
	}
	d.mx[domain] = mxs
}

func (d *fakeDNS) setHost(name string, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hosts[name] = ips
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (d *fakeDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, "MX "+name)
	if err := d.fail[name]; err != nil {
		return nil, err
	}
	if mx, ok := d.mx[name]; ok {
		return mx, nil
	}
	return nil, notFound(name)
}

func (d *fakeDNS) LookupIPAddr(_ context.Context, name string) ([]net.IPAddr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, "A "+name)
	if err := d.fail[name]; err != nil {
		return nil, err
	}
	ips, ok := d.hosts[name]
	if !ok {
		return nil, notFound(name)
	}
	var out []net.IPAddr
	for _, ip := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(ip)})
	}
	return out, nil
}

// fakeDialer dials loopback for real and refuses the addresses listed in
// down (documentation addresses that must never be dialed for real),
// recording every address asked for.
type fakeDialer struct {
	mu    sync.Mutex
	down  map[string]bool // "ip:port" or "ip"
	dials []string
}

func (d *fakeDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.dials = append(d.dials, addr)
	host, _, _ := net.SplitHostPort(addr)
	refused := d.down[addr] || d.down[host]
	d.mu.Unlock()
	if refused {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("test dialer: %s is not loopback", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *fakeDialer) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.dials...)
}

// world is one test's sending side: a store for DSNs, a fake DNS, a
// dialer, and the queue options pointing at them.
type world struct {
	t      testing.TB
	dir    string
	store  *mailbox.Maildir
	dns    *fakeDNS
	dialer *fakeDialer
	logs   *logBuf
	opts   Options
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir(), dns: newDNS(), dialer: &fakeDialer{down: map[string]bool{}}, logs: &logBuf{}}
	st, err := mailbox.Open(filepath.Join(w.dir, "mail"), mailbox.Options{
		Hostname: ourHost, PollInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.store = st
	w.opts = Options{
		Hostname:        ourHost,
		Store:           st,
		Logger:          slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Resolver:        w.dns,
		Dialer:          w.dialer,
		RetryMin:        20 * time.Millisecond,
		RetryMax:        80 * time.Millisecond,
		ConnectTimeout:  2 * time.Second,
		GreetingTimeout: 5 * time.Second,
		ControlInterval: 10 * time.Millisecond,
		DelayWarning:    -1,
	}
	return w
}

// to points domain's MX at the remote.
func (w *world) to(domain string, r *remote) {
	w.dns.setMX(domain, "mx."+domain)
	w.dns.setHost("mx."+domain, "127.0.0.1")
	w.opts.MXPort = r.port()
}

// open opens the queue in the world's directory; start also starts it.
func (w *world) open(start bool) *Queue {
	w.t.Helper()
	q, err := Open(filepath.Join(w.dir, "queue"), w.opts)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { q.Close() })
	if start {
		q.Start()
	}
	return q
}

// submit queues a small message from alice@a.test.
func (w *world) submit(q *Queue, rcpts ...string) string {
	w.t.Helper()
	return w.submitFrom(q, "alice@a.test", rcpts...)
}

func (w *world) submitFrom(q *Queue, from string, rcpts ...string) string {
	w.t.Helper()
	id, err := q.Submit(context.Background(), Message{From: from, User: "alice@a.test", Rcpts: rcpts},
		strings.NewReader(testMsg(from, rcpts)), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

func testMsg(from string, rcpts []string) string {
	return "From: <" + from + ">\r\nTo: " + strings.Join(rcpts, ", ") +
		"\r\nSubject: test\r\nMessage-ID: <" + randomID(10) + "@a.test>\r\n\r\nhello\r\n.dot line\r\n"
}

// waitEmpty waits until the queue holds nothing.
func waitEmpty(t testing.TB, q *Queue) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for q.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("queue still holds %d messages", q.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inbox reads every message of user's INBOX (CRLF).
func (w *world) inbox(user string) []string {
	w.t.Helper()
	acct, err := w.store.Account(user)
	if err != nil {
		w.t.Fatal(err)
	}
	defer acct.Close()
	f, err := acct.Open("INBOX", true)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	infos, err := f.Messages()
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, m := range infos {
		rc, _, err := f.Open(m.UID)
		if err != nil {
			w.t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		out = append(out, string(b))
	}
	return out
}

// waitInbox waits until user's INBOX holds n messages.
func (w *world) waitInbox(user string, n int) []string {
	w.t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		got := w.inbox(user)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s has %d messages, want %d", user, len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantLog waits until a log line holds all of parts.
func (w *world) wantLog(parts ...string) string {
	w.t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		for _, line := range strings.Split(w.logs.String(), "\n") {
			ok := true
			for _, p := range parts {
				if !strings.Contains(line, p) {
					ok = false
					break
				}
			}
			if ok {
				return line
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no log line with %q in:\n%s", parts, w.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// oneLine joins wrapped text back into one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func itoa(n int) string { return fmt.Sprint(n) }

// newImplicitTLSRemote serves a remote with TLS from the first byte.
func newImplicitTLSRemote(t testing.TB, cfg *tls.Config) *remote {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &remote{t: t, addr: ln.Addr().String()}
	r.ln = tls.NewListener(&countingListener{Listener: ln, r: r}, cfg)
	s := smtp.NewServer(r)
	s.Domain = "relay.isp.test"
	s.AllowInsecureAuth = true
	s.ReadTimeout, s.WriteTimeout = testTimeout, testTimeout
	s.ErrorLog = discardLog{}
	r.srv = s
	go s.Serve(r.ln)
	t.Cleanup(r.close)
	return r
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// hangup makes the remote drop the connection without a reply.
type hangup struct{}

func (*hangup) Error() string { return "hang up" }
