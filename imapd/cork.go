package imapd

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// corkConn gathers a command's responses into one buffer and writes them
// in large chunks. The imapserver library flushes its writer at the end of
// every response line, so "UID FETCH 1:* (FLAGS)" on 100,000 messages
// would otherwise cost 100,000 write system calls, which dominated the
// time of that command (profiled in BenchmarkScale100k).
//
// A session corks only around commands that never wait for the client
// while they run (FETCH, SEARCH, STORE, SELECT, LIST, ...), and uncorks
// when the command returns, before the library writes the tagged
// response; APPEND, AUTHENTICATE and IDLE, which need their continuation
// requests to reach the client at once, are never corked.
//
// mu orders writes: it is held across the network write, as the library's
// own writer lock is; it is a per-connection lock, never a store lock.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
	err    error // a failed write: every later one fails too
	// deadline is the write deadline last set while corked, applied
	// when the gathered writes go out: the library sets one per
	// response, which costs a timer update each time.
	deadline    time.Time
	deadlineSet bool
	// applied is the write deadline the connection has now (as far as
	// the library set it through us).
	applied time.Time

	guard *literalGuard // the connection's (literalguard.go)
}

// corkMax is the buffer a corked command fills before it is written.
const corkMax = 64 << 10

func newCorkConn(c net.Conn) *corkConn { return &corkConn{Conn: c} }

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if !c.corked {
		return c.Conn.Write(p)
	}
	if len(c.buf)+len(p) > corkMax {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= corkMax {
			return c.sendLocked(p)
		}
	}
	if c.buf == nil {
		c.buf = make([]byte, 0, corkMax)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// SetWriteDeadline applies at once unless corked; then it applies to the
// next actual write.
func (c *corkConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.deadline, c.deadlineSet = t, true
		return nil
	}
	c.applied = t
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline is SetReadDeadline and SetWriteDeadline.
func (c *corkConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *corkConn) applyDeadlineLocked() {
	if c.deadlineSet {
		c.Conn.SetWriteDeadline(c.deadline)
		c.applied = c.deadline
		c.deadlineSet = false
	}
}

// corkWriteTimeout bounds a gathered write that has no deadline of its own
// (go-imap's own for a response; a variable for tests).
var corkWriteTimeout = 30 * time.Second

// sendLocked writes p, gathered responses or a piece too large to gather,
// under the write deadline last asked for. go-imap clears its deadline
// after every response, before a corked command's responses have left, so
// that is often none; then corkWriteTimeout bounds the write, so that a
// client that stops reading cannot hold the session forever.
func (c *corkConn) sendLocked(p []byte) (int, error) {
	c.applyDeadlineLocked()
	if c.applied.IsZero() {
		c.Conn.SetWriteDeadline(time.Now().Add(corkWriteTimeout))
		defer c.Conn.SetWriteDeadline(time.Time{})
	}
	return c.Conn.Write(p)
}

func (c *corkConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.sendLocked(c.buf)
	c.buf = c.buf[:0]
	if err != nil {
		c.err = err
	}
	return err
}

// cork starts gathering writes; the function it returns writes them out
// and stops (defer ss.cork()()).
func (c *corkConn) cork() func() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
	return c.uncork
}

func (c *corkConn) uncork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	c.flushLocked()
	c.applyDeadlineLocked()
	// An idle session holds no buffer (BenchmarkIdle1000 counts memory).
	c.buf = nil
}

// cork gathers the responses of the current command (see corkConn).
func (ss *session) cork() func() {
	if ss.corker == nil {
		return func() {}
	}
	return ss.corker.cork()
}

// isTLS reports whether a connection is TLS: implicit TLS (a *tls.Conn
// from the listener, maybe under our corkConn) or after STARTTLS (the
// library's *tls.Conn over our corkConn).
func isTLS(c net.Conn) bool {
	switch c := c.(type) {
	case *tls.Conn:
		return true
	case *corkConn:
		_, ok := c.Conn.(*tls.Conn)
		return ok
	}
	return false
}
