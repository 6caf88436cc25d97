package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// conn is one client connection.
//
// go-smtp has no per-connection hooks: its Server serves a listener and
// tells nobody when a connection ends, and its Shutdown waits for idle
// connections until their read timeout. To know when each connection ends
// (for MaxConnections and Shutdown), each connection gets its own go-smtp
// Server over a one-connection listener; that Server's Shutdown returns
// exactly when the connection's handler has returned.
type conn struct {
	srv    *Server
	nc     net.Conn
	in     *endConn // nc as go-smtp reads it
	ip     netip.Addr
	log    *slog.Logger
	ctx    context.Context // ends with the connection, or at abort/forceClose
	cancel context.CancelFunc

	// mu guards the fields below; drain.go describes the first ones.
	mu           sync.Mutex
	receiving    int       // Data calls reading a message (BDAT runs Data in a goroutine)
	storing      int       // Data calls storing a message received in full
	replyDue     bool      // a Data call returned; go-smtp has not yet written its reply
	staleAfter   time.Time // a refused message is read to its end under this deadline
	draining     bool      // Shutdown: close once nothing is owed
	aborted      bool      // Shutdown's grace ended, or Close
	authFailures int       // failed AUTH attempts, across STARTTLS

	bdat atomic.Bool // a Data call is receiving a BDAT message (endConn)

	nameOnce sync.Once
	name     string // see remoteName
}

// remoteIP is the client's address; invalid for non-IP connections.
func remoteIP(nc net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func newConn(s *Server, nc net.Conn, ip netip.Addr, id uint64) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		srv:    s,
		nc:     nc,
		ip:     ip,
		log:    s.log.With("conn", id, "remote", nc.RemoteAddr().String()),
		ctx:    ctx,
		cancel: cancel,
	}
}

// serve runs the SMTP dialogue and returns when the connection is closed.
func (c *conn) serve() {
	defer c.cancel()
	c.log.Debug("connection opened", "tls", c.isTLS())
	o := c.srv.opts
	gs := smtp.NewServer(smtp.BackendFunc(c.newSession))
	gs.Domain = o.Hostname
	gs.TLSConfig = o.TLSConfig
	gs.MaxMessageBytes = o.MaxMessageSize // moved per transaction: size.go
	gs.MaxRecipients = 0                  // enforced in Rcpt, so that it is logged
	gs.MaxLineLength = o.MaxLineLength
	gs.ReadTimeout = o.ReadTimeout
	gs.WriteTimeout = o.WriteTimeout
	gs.EnableSMTPUTF8 = true
	// AUTH is gated per connection by the session (loopback rule for
	// plaintext, refusal on the inbound service): see auth.go.
	gs.AllowInsecureAuth = true
	gs.ErrorLog = libLogger{c.log}

	if tc, ok := c.nc.(*tls.Conn); ok {
		// Implicit TLS: the handshake is ours, so that go-smtp reads the
		// plaintext through endConn (below) and sees its end, a
		// close_notify included. go-smtp then does not know the
		// connection is TLS: it must not offer STARTTLS on it, and our
		// session asks c.isTLS (sessionTLS).
		gs.TLSConfig = nil
		if err := c.handshake(tc); err != nil {
			c.log.Info("TLS handshake failed", "error", err.Error())
			return
		}
	}
	// go-smtp reads the client through endConn: the connection itself, the
	// plaintext over implicit TLS, and under the *tls.Conn go-smtp makes at
	// STARTTLS.
	c.in = &endConn{Conn: c.nc, bdat: &c.bdat, log: c.log}
	ln := &oneConnListener{conn: c.in, waiting: make(chan struct{}), closed: make(chan struct{})}
	go gs.Serve(ln)
	<-ln.waiting // the handler goroutine is started
	gs.Shutdown(context.Background())
	c.log.Debug("connection closed")
}

// isTLS reports whether the connection is implicit TLS (STARTTLS is
// go-smtp's: see sessionTLS).
func (c *conn) isTLS() bool {
	_, ok := c.nc.(*tls.Conn)
	return ok
}

// handshake runs the implicit-TLS handshake under the read and write
// timeouts, as go-smtp does for a *tls.Conn it is given.
func (c *conn) handshake(tc *tls.Conn) error {
	o := c.srv.opts
	if o.ReadTimeout > 0 {
		tc.SetReadDeadline(time.Now().Add(o.ReadTimeout))
	}
	if o.WriteTimeout > 0 {
		tc.SetWriteDeadline(time.Now().Add(o.WriteTimeout))
	}
	return tc.Handshake()
}

// tlsState is the TLS state of the connection go-smtp serves: implicit TLS
// (our handshake), or the *tls.Conn go-smtp made at STARTTLS.
func (c *conn) tlsState(sc *smtp.Conn) (tls.ConnectionState, bool) {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return tc.ConnectionState(), true
	}
	return sc.TLSConnectionState()
}

// endConn is the client's connection (its plaintext, under implicit TLS),
// noting whether a read has found its end. go-smtp copies a BDAT chunk with io.Copy from an io.LimitReader and
// does not check the count: a connection that ends inside a chunk ends the
// chunk as if it were whole, and at LAST the message (RFC 3030 §2: a chunk
// is exactly the octets announced). go-smtp reads the connection only for
// octets it still needs, so an end found before dataReader gets the end of
// the message means the message was cut off (see ended).
//
// It also ends the connection for a BDAT chunk cut by the read timeout.
// go-smtp answers such a chunk and then reads the connection for commands
// again, so the rest of the chunk, arriving late, would run as commands:
// text from inside a message, perhaps one relayed for somebody else. Once a
// read times out while a BDAT message is being received (c.bdat), every
// later read fails, and go-smtp closes the connection after its answer.
//
// And it gathers the lines of a reply: go-smtp flushes its writer after
// every line, so an EHLO answer went out as eight writes and a message's
// whole dialogue as about fifteen (strace of mailbench smtp1), each one a
// system call here and a wake-up of the client. endConn keeps what is
// written until the connection is read or closed or its write deadline is
// moved (go-smtp moves it before each reply), and sends it as one write.
// A write made while another goroutine is blocked reading goes out at
// once, so nothing waits on a read that is already waiting.
type endConn struct {
	net.Conn
	read atomic.Int64 // octets read: what the client sent, even what go-smtp keeps to itself
	end  atomic.Bool
	bdat *atomic.Bool // a BDAT message is being received (conn.bdat)
	cut  atomic.Bool
	log  *slog.Logger

	wmu     sync.Mutex
	wbuf    []byte // replies not yet sent
	werr    error  // a failed send: every later write fails with it
	reading int    // reads in progress
}

// replyGather is the most endConn holds before it sends: replies are
// short, and a TLS record (STARTTLS writes through endConn) is at most
// about 16 KiB.
const replyGather = 32 << 10

func (c *endConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	if c.reading > 0 || len(c.wbuf)+len(p) > replyGather {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		n, err := c.Conn.Write(p)
		if err != nil {
			c.werr = err
		}
		return n, err
	}
	c.wbuf = append(c.wbuf, p...)
	return len(p), nil
}

// flushLocked sends the gathered replies under the write deadline last
// set. c.wmu is held.
func (c *endConn) flushLocked() error {
	if c.werr != nil {
		return c.werr
	}
	if len(c.wbuf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	if cap(c.wbuf) > 4<<10 {
		c.wbuf = nil // a large burst (a long TLS record): not kept
	}
	if err != nil {
		c.werr = err
	}
	return err
}

// SetWriteDeadline and SetDeadline send what is gathered under the
// deadline it was written under before they move it: go-smtp sets one
// before each reply, and crypto/tls, closing, sets one in the past right
// after its close_notify.
func (c *endConn) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.flushLocked()
	return c.Conn.SetWriteDeadline(t)
}

func (c *endConn) SetDeadline(t time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.flushLocked()
	return c.Conn.SetDeadline(t)
}

// flush sends what is gathered now.
func (c *endConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

// Close sends what is gathered, then closes.
func (c *endConn) Close() error {
	c.wmu.Lock()
	c.flushLocked()
	c.wmu.Unlock()
	return c.Conn.Close()
}

// errBDATCut fails every read after a BDAT chunk was cut by the timeout.
var errBDATCut = errors.New("smtpd: a BDAT chunk was cut by the read timeout: closing the connection")

func (c *endConn) Read(p []byte) (int, error) {
	if c.cut.Load() {
		return 0, errBDATCut
	}
	c.wmu.Lock()
	if err := c.flushLocked(); err != nil {
		c.wmu.Unlock()
		return 0, err
	}
	c.reading++
	c.wmu.Unlock()
	n, err := c.Conn.Read(p)
	c.wmu.Lock()
	c.reading--
	c.wmu.Unlock()
	c.read.Add(int64(n))
	if err == io.EOF {
		c.end.Store(true)
	}
	if err != nil && c.bdat != nil && c.bdat.Load() && isTimeout(err) {
		c.cut.Store(true)
		c.log.Info("BDAT chunk cut by the read timeout; closing the connection")
	}
	return n, err
}

// ended reports whether the client's stream has ended: go-smtp has read
// its end (endConn: a TCP close, or a close_notify or TCP close under
// implicit TLS), or, for a BDAT message (bdat), the TCP connection under
// any TLS has been closed by the client (peerClosed). The second covers
// STARTTLS, whose *tls.Conn go-smtp makes and reads itself, and a client
// that dies after go-smtp's last read. Under STARTTLS a close_notify that
// arrives before the TCP close is not seen until the close itself. It is not
// asked for DATA, whose end is proven by its final "." line (a client may
// send QUIT and close before it reads our answer).
func (c *conn) ended(bdat bool) bool {
	if c.in != nil && c.in.end.Load() {
		return true
	}
	return bdat && peerClosed(c.nc)
}

// peerClosed reports, without taking anything from the stream, whether
// the peer has closed the TCP connection under nc (and any TLS over it):
// a peek finds its end, or a reset, with no octet before it.
func peerClosed(nc net.Conn) bool {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n == 0 && err == nil || errors.Is(err, syscall.ECONNRESET)
		return true // never wait
	})
	return closed
}

// oneConnListener hands out one connection, then blocks until closed.
type oneConnListener struct {
	conn    net.Conn
	given   bool
	waiting chan struct{} // closed at the second Accept
	closed  chan struct{}
	once    sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	// go-smtp's Serve calls Accept from one goroutine only.
	if !l.given {
		l.given = true
		return l.conn, nil
	}
	select {
	case <-l.waiting:
	default:
		close(l.waiting)
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

// libLogger receives go-smtp's own error log: handshake failures, broken
// connections, recovered panics. None of it carries message content.
type libLogger struct{ log *slog.Logger }

func (l libLogger) Printf(format string, v ...any) { l.print(fmt.Sprintf(format, v...)) }
func (l libLogger) Println(v ...any)               { l.print(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }

func (l libLogger) print(msg string) {
	if strings.Contains(msg, "panic") {
		l.log.Error("smtp library", "detail", msg)
		return
	}
	l.log.Info("smtp library", "detail", msg)
}
