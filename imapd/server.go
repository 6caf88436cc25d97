package imapd

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

	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/users"
)

// Defaults for the zero values of Options.
const (
	// RFC 9051 §5.4: an autologout timer must be at least 30 minutes.
	DefaultIdleTimeout   = 30 * time.Minute
	DefaultLoginTimeout  = time.Minute
	DefaultAppendLimit   = 32 << 20
	DefaultMaxConnsPerIP = 50
	DefaultMetaCacheSize = 4096
	DefaultIdlePoll      = time.Minute
	// DefaultAuthDelay is the delay the configuration layer should use in
	// production; the zero AuthDelay means no delay (tests).
	DefaultAuthDelay = 2 * time.Second

	// minIdleTimeout keeps a misconfiguration from logging clients out
	// within seconds; RFC 9051 §5.4 asks for at least 30 minutes, tests go lower.
	minIdleTimeout = 10 * time.Millisecond
	authTimeout    = 30 * time.Second
	// minAppendLimit: APPENDLIMIT below the 4096 octets that LITERAL-
	// lets any literal have would be refused for messages a client may
	// send without asking.
	minAppendLimit = 4096
	closeWait      = 5 * time.Second
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("imapd: server closed")

// Options configure a Server. Store and Users are required.
type Options struct {
	// Hostname names this server in logs (the "host" of every line).
	Hostname string
	Store    mailbox.Store
	Users    users.DB
	// TLSConfig enables STARTTLS; nil: no STARTTLS. Implicit TLS (port
	// 993) is the caller's tls.NewListener.
	TLSConfig *tls.Config
	// AllowPlaintext permits LOGIN and AUTHENTICATE without TLS, but only
	// from a loopback remote address.
	AllowPlaintext bool
	// IdleTimeout logs out an authenticated client silent for this long,
	// in IDLE or between commands (default 30 min). The imapserver library
	// also drops a connection silent for 35 minutes between commands, so a
	// longer value has no effect there.
	IdleTimeout time.Duration
	// LoginTimeout closes a connection that has not logged in this long
	// after connecting (default 1 min), so that a client dripping bytes
	// that never finish a command cannot hold a connection before login.
	LoginTimeout time.Duration
	// IdlePoll is how often IDLE looks for changes made outside the server
	// (another program writing the Maildir); the store's notifications
	// cover everything that goes through it. Default 1 min.
	IdlePoll time.Duration
	// AppendLimit is the largest message APPEND accepts, in octets
	// (default 32 MiB; at least 4096, at most 4 GiB - 1, the wire limit of
	// APPENDLIMIT).
	AppendLimit int64
	// AuthDelay is waited before answering a failed login (zero: none).
	AuthDelay time.Duration
	// MaxConnsPerIP caps simultaneous connections from one address
	// (default 50; negative: no cap).
	MaxConnsPerIP int
	// MetaCacheSize is how many messages' parsed structure (ENVELOPE,
	// BODYSTRUCTURE, MIME layout) are kept in memory (default 4096).
	MetaCacheSize int
	Logger        *slog.Logger
	// DebugWriter receives the raw protocol trace of every connection,
	// passwords included. Off (nil) by default.
	DebugWriter io.Writer
}

// Server is an IMAP server. Its zero value is not usable: call New.
type Server struct {
	opts  Options
	log   *slog.Logger
	cache *metaCache
	// fields is SEARCH HEADER's cache of header field values (fieldcache.go).
	fields *fieldCache
	// copyBufs lends FETCH the buffer that streams a body section
	// (source.go): one made per message was most of what a FETCH of
	// small bodies allocated.
	copyBufs sync.Pool
	// parses counts messages parsed for their structure (tests check that
	// the store's copy spares them).
	parses atomic.Uint64

	ctx    context.Context // canceled by Close; bounds store and user calls
	cancel context.CancelFunc

	// The library's options for a connection, by how it may log in:
	// strict refuses authentication without TLS, lax (loopback remotes
	// when AllowPlaintext) allows it, and implicit serves implicit-TLS
	// connections, which reach the library inside our corkConn (cork.go)
	// and so must be told apart here: it allows authentication and offers
	// no STARTTLS. Login checks TLS itself in every case. Each connection
	// gets a library server of its own (serveConn), so that its
	// DebugWriter can be the connection's literalGuard.
	strict, lax, implicit imapserver.Options
	nextID                atomic.Uint64
	shutdownStarted       atomic.Bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perIP     map[string]int
	closed    bool
}

// New makes a server from opts, filling in defaults.
func New(opts Options) *Server {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.IdleTimeout < minIdleTimeout {
		opts.IdleTimeout = minIdleTimeout
	}
	if opts.IdlePoll <= 0 {
		opts.IdlePoll = DefaultIdlePoll
	}
	if opts.LoginTimeout <= 0 {
		opts.LoginTimeout = DefaultLoginTimeout
	}
	if opts.AppendLimit <= 0 {
		opts.AppendLimit = DefaultAppendLimit
	}
	if opts.AppendLimit > 1<<32-1 {
		opts.AppendLimit = 1<<32 - 1
	}
	if opts.AppendLimit < minAppendLimit {
		opts.AppendLimit = minAppendLimit
	}
	if opts.MaxConnsPerIP == 0 {
		opts.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if opts.MetaCacheSize <= 0 {
		opts.MetaCacheSize = DefaultMetaCacheSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DebugWriter != nil {
		opts.Logger.Warn("imap protocol trace is on: it shows passwords and mail")
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger.With("proto", "imap"),
		cache:     newMetaCache(opts.MetaCacheSize),
		fields:    newFieldCache(),
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[*session]struct{}),
		perIP:     make(map[string]int),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	lib := imapserver.Options{
		NewSession: s.newSession,
		Caps:       capabilities(),
		Logger:     libLogger{s.log},
		TLSConfig:  opts.TLSConfig,
	}
	s.strict = lib
	s.strict.InsecureAuth = false
	s.lax = lib
	s.lax.InsecureAuth = true
	s.implicit = lib
	s.implicit.InsecureAuth = true
	s.implicit.TLSConfig = nil
	return s
}

// Serve accepts connections on ln until Shutdown or Close, and returns
// ErrServerClosed then. A *tls.Conn from ln is implicit TLS.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed || s.shutdownStarted.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.shutdownStarted.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed, retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.dispatch(c)
	}
}

// dispatch hands a new connection to the library server whose login
// policy fits it.
func (s *Server) dispatch(c net.Conn) {
	ip := remoteIP(c.RemoteAddr())
	if !s.admit(ip) {
		s.log.Warn("connection refused: too many from this address", "remote", c.RemoteAddr().String())
		go func() {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "* BYE Too many connections from your address\r\n")
			c.Close()
		}()
		return
	}
	o := s.strict
	switch {
	case isTLS(c):
		o = s.implicit
	case s.plaintextAllowed(c.RemoteAddr()):
		o = s.lax
	}
	s.serveConn(c, o, ip)
}

// serveConn starts a library server of its own for c, with a literalGuard
// (literalguard.go) that sees the connection's plain text after any TLS,
// STARTTLS included, as the library's DebugWriter. Serve returns once it
// has started the connection's goroutine.
func (s *Server) serveConn(c net.Conn, o imapserver.Options, ip string) {
	guard := newLiteralGuard(s.opts.DebugWriter)
	o.DebugWriter = guard
	cc := newCorkConn(c)
	cc.guard = guard
	guard.conn = c
	imapserver.New(&o).Serve(&oneConn{c: cc})
}

// plaintextAllowed says whether a client at remote may authenticate
// without TLS (DESIGN.md invariant 5).
func (s *Server) plaintextAllowed(remote net.Addr) bool {
	return s.opts.AllowPlaintext && isLoopback(remote)
}

func (s *Server) admit(ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.MaxConnsPerIP > 0 && s.perIP[ip] >= s.opts.MaxConnsPerIP {
		return false
	}
	s.perIP[ip]++
	return true
}

func (s *Server) release(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip] <= 1 {
		delete(s.perIP, ip)
	} else {
		s.perIP[ip]--
	}
}

// Shutdown stops accepting connections, says BYE to every client as soon
// as it is between commands (or idling), and waits for the sessions to end
// or ctx to expire; then it closes whatever is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownStarted.Store(true)
	s.closeListeners()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		live := s.liveSessions()
		if len(live) == 0 {
			break
		}
		for _, ss := range live {
			ss.shutdownTick()
		}
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
	return s.Close()
}

// Close closes every listener and connection at once and waits (a few
// seconds at most) for the sessions to release their store handles.
func (s *Server) Close() error {
	s.shutdownStarted.Store(true)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.closeListeners()
	s.cancel()
	// Every connection has its session from its start (a session made
	// after s.closed refuses itself): closing their connections ends them.
	for _, ss := range s.liveSessions() {
		ss.conn.NetConn().Close()
	}
	deadline := time.Now().Add(closeWait)
	for len(s.liveSessions()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(s.liveSessions()); n > 0 {
		s.log.Warn("sessions still closing after server close", "count", n)
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		ln.Close()
	}
}

func (s *Server) liveSessions() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		out = append(out, ss)
	}
	return out
}

func (s *Server) addSession(ss *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sessions[ss] = struct{}{}
	return true
}

func (s *Server) removeSession(ss *session) {
	s.mu.Lock()
	_, ok := s.sessions[ss]
	delete(s.sessions, ss)
	s.mu.Unlock()
	if ok {
		s.release(ss.ip)
	}
}
