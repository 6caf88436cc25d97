package imapd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
)

// connQueue is a net.Listener fed by our accept loops: it lets one
// imapserver.Server serve connections from several real listeners, and
// lets us choose, per connection, which library server gets it.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the library server; false if the queue is closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case <-q.done:
		return false
	default:
	}
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return queueAddr{} }

type queueAddr struct{}

func (queueAddr) Network() string { return "imapd" }
func (queueAddr) String() string  { return "imapd-queue" }

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// isLoopback reports whether a is a TCP address on the loopback network.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// libLogger gives imapserver's Printf-style messages to slog. They are
// connection-level failures (read errors, timeouts) at debug level, except
// recovered panics, which are errors.
type libLogger struct{ log *slog.Logger }

func (l libLogger) Printf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	level := slog.LevelDebug
	if strings.HasPrefix(msg, "panic") {
		level = slog.LevelError
	}
	l.log.Log(context.Background(), level, "imap library", "detail", msg)
}
