package imapd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
)

// oneConn is a net.Listener that accepts one connection, then reports
// itself closed, which ends the library's Serve loop at once.
type oneConn struct {
	c    net.Conn
	done bool
}

func (l *oneConn) Accept() (net.Conn, error) {
	if l.done {
		return nil, net.ErrClosed
	}
	l.done = true
	return l.c, nil
}

func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.c.LocalAddr() }

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
	switch {
	case strings.HasPrefix(msg, "panic"):
		level = slog.LevelError
	case strings.Contains(msg, "imapd: a "):
		level = slog.LevelWarn // the literal guard closed it (literalguard.go)
	}
	l.log.Log(context.Background(), level, "imap library", "detail", msg)
}
