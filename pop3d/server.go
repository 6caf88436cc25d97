// Package pop3d is mailsuite's POP3 server: RFC 1939 with the extension
// mechanism of RFC 2449 (CAPA, response codes, PIPELINING), the SYS and
// AUTH response codes of RFC 3206, STLS (RFC 2595) and AUTH PLAIN
// (RFC 5034, RFC 4616).
//
// It owns the wire protocol and the per-session state: message numbers, the
// DELE marks and the messages retrieved. It does not own stored mail: every
// byte comes from a mailbox.Folder of the user's INBOX, and the only changes
// it makes (removing the messages marked with DELE, and setting \Seen on the
// ones retrieved with RETR) happen in the UPDATE state after a clean QUIT,
// through the same Folder methods every front end uses. Who may log in is
// asked of users.DB.
//
// Message numbers are a snapshot taken at login. A message removed by
// another session (IMAP EXPUNGE, another POP3 QUIT) after that snapshot is
// answered with "-ERR" when retrieved; it never shifts the numbers of the
// others. Several POP3 sessions of one user may run at once unless
// Options.ExclusiveLogin asks for the exclusive maildrop lock of
// RFC 1939 §4, within this server.
package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/users"
)

// Defaults applied by New to zero fields of Options.
const (
	// RFC 1939 §3: an autologout timer "MUST be of at least 10 minutes".
	DefaultTimeout = 10 * time.Minute
	// RFC 2449 §4: a command line is at most 255 octets, CRLF included.
	DefaultMaxLineLength = 255
	// RFC 5034 §4: a SASL response line is not bound by the command line
	// limit; PLAIN (RFC 4616 §2) needs at most 3×255+2 octets, 1024 in
	// base64. 2048 leaves room and stays small.
	DefaultMaxAuthLineLength = 2048
	DefaultMaxErrors         = 10
	DefaultMaxAuthFailures   = 3
	// DefaultAuthDelay is a sensible AuthDelay for production. It is not
	// applied to a zero AuthDelay: zero means no delay (tests).
	DefaultAuthDelay = 2 * time.Second
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("pop3d: server closed")

// Options configures a Server. Zero values get the defaults above.
type Options struct {
	// Hostname is named in the greeting.
	Hostname string
	// Store holds the mail; Users decides who may log in. Both required.
	Store mailbox.Store
	Users users.DB
	// TLSConfig enables STLS (RFC 2595). Nil: no STLS. Implicit TLS
	// (port 995) is the caller's tls.NewListener; the server sees *tls.Conn.
	TLSConfig *tls.Config
	// AllowPlaintext allows USER/PASS and AUTH without TLS, but only when
	// the remote address is a loopback address.
	AllowPlaintext bool
	// ExclusiveLogin refuses a second POP3 session of a user already
	// logged in on this server with -ERR [IN-USE] (RFC 2449 §8.1.2).
	// Off by default: sessions work on UIDs and changes happen only at
	// QUIT, so concurrent sessions cannot corrupt anything (as Dovecot).
	ExclusiveLogin bool
	// Timeout is the inactivity limit: the longest wait for a command
	// line, and for each write to make progress. Default 10 minutes.
	Timeout time.Duration
	// MaxLineLength bounds a command line, CRLF included (default 255).
	// A longer line is answered with -ERR and skipped; one longer than 16
	// times the limit closes the connection.
	MaxLineLength int
	// MaxAuthLineLength bounds a SASL continuation line (default 2048).
	MaxAuthLineLength int
	// MaxErrors consecutive -ERR answers close the connection (default 10).
	MaxErrors int
	// MaxAuthFailures failed logins close the connection (default 3).
	MaxAuthFailures int
	// AuthDelay is slept before answering a failed login. Zero: none.
	AuthDelay time.Duration
	// Logger receives one line per login and per session end.
	// Nil: slog.Default().
	Logger *slog.Logger
}

// Server is a POP3 server. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger

	// ctx is canceled by Close; it bounds Authenticate calls and auth
	// delays.
	ctx    context.Context
	cancel context.CancelFunc

	shuttingDown atomic.Bool
	nextID       atomic.Uint64

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*trackedConn]struct{}
	inUse     map[string]struct{} // users logged in, for ExclusiveLogin
	sessions  sync.WaitGroup
}

// New returns a server with opts, zero fields set to their defaults.
func New(opts Options) *Server {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxLineLength <= 0 {
		opts.MaxLineLength = DefaultMaxLineLength
	}
	if opts.MaxAuthLineLength <= 0 {
		opts.MaxAuthLineLength = DefaultMaxAuthLineLength
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = DefaultMaxErrors
	}
	if opts.MaxAuthFailures <= 0 {
		opts.MaxAuthFailures = DefaultMaxAuthFailures
	}
	if opts.AuthDelay < 0 {
		opts.AuthDelay = 0
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts:      opts,
		log:       log,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*trackedConn]struct{}),
		inUse:     make(map[string]struct{}),
	}
}

// Serve accepts connections on ln and serves each in its own goroutine
// until Shutdown or Close, when it returns ErrServerClosed. ln is closed
// when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Transient (for example out of file descriptors
				// surfacing as a timeout): back off as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("pop3 accept failed, retrying", "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		tc := &trackedConn{raw: underlying(c)}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		s.conns[tc] = struct{}{}
		s.sessions.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.sessions.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, tc)
				s.mu.Unlock()
			}()
			s.serveConn(c, tc)
		}()
	}
}

// Shutdown stops accepting, tells idle sessions the server is going away
// (they end without the UPDATE state, so nothing is removed), lets sessions
// busy with a command finish it, and waits for all to end. When ctx ends
// first it closes what is left and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.shuttingDown.Store(true)
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*trackedConn, 0, len(s.conns))
	for tc := range s.conns {
		conns = append(conns, tc)
	}
	s.mu.Unlock()
	for _, tc := range conns {
		tc.interrupt()
	}

	done := make(chan struct{})
	go func() {
		s.sessions.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once (sessions end
// without the UPDATE state) and waits for the session goroutines to return.
func (s *Server) Close() error {
	s.shuttingDown.Store(true)
	s.cancel()
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for tc := range s.conns {
		tc.raw.Close()
	}
	s.mu.Unlock()
	s.sessions.Wait()
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// lockUser takes the ExclusiveLogin lock of user; false if it is taken.
func (s *Server) lockUser(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.inUse[user]; ok {
		return false
	}
	s.inUse[user] = struct{}{}
	return true
}

func (s *Server) unlockUser(user string) {
	s.mu.Lock()
	delete(s.inUse, user)
	s.mu.Unlock()
}

// sleep waits d, or less if the server closes. It reports whether the
// full delay passed.
func (s *Server) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// trackedConn is the server's view of one connection: the raw socket (under
// any TLS) so Close can always cut it, and whether the session is waiting
// for the client, so Shutdown can wake it.
type trackedConn struct {
	raw net.Conn

	mu   sync.Mutex
	idle bool
}

// beginRead marks the session idle and arms the read deadline, unless the
// server is shutting down. Taking mu orders it against interrupt: either
// the session sees the flag, or interrupt's past deadline overrides ours.
func (tc *trackedConn) beginRead(s *Server, deadline time.Time) bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if s.shuttingDown.Load() {
		return false
	}
	tc.idle = true
	tc.raw.SetReadDeadline(deadline)
	return true
}

func (tc *trackedConn) endRead() {
	tc.mu.Lock()
	tc.idle = false
	tc.mu.Unlock()
}

// interrupt wakes an idle session's read with a past deadline.
func (tc *trackedConn) interrupt() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.idle {
		tc.raw.SetReadDeadline(time.Unix(1, 0))
	}
}

// underlying returns the socket under an implicit-TLS connection.
func underlying(c net.Conn) net.Conn {
	if t, ok := c.(*tls.Conn); ok {
		return t.NetConn()
	}
	return c
}

// deadlineWriter arms the write deadline before each write, so that a
// long RETR fails only when the client stops reading for Timeout. It
// counts the octets that reached the connection.
type deadlineWriter struct {
	c       net.Conn
	timeout time.Duration
	written int64
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.c.SetWriteDeadline(time.Now().Add(w.timeout))
	n, err := w.c.Write(p)
	w.written += int64(n)
	return n, err
}

var _ io.Writer = (*deadlineWriter)(nil)
