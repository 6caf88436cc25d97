package smtpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("smtpd: server closed")

// busyReplyTimeout bounds the write (and, on a TLS listener, the handshake)
// of the 421 sent to a connection over MaxConnections.
const busyReplyTimeout = 5 * time.Second

// Server is one SMTP service (inbound or submission). It has the shape of
// net/http's Server: Serve one or more listeners, then Shutdown or Close.
type Server struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	nextID    uint64
	wg        sync.WaitGroup // one per entry of conns
}

// New returns a server for opts (zero fields take their defaults). Options
// that cannot work (no Store, no Users, no Mode, no Hostname) make Serve
// fail.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	return &Server{
		opts:      opts,
		log:       opts.Logger.With("proto", opts.Mode.String()),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
}

// Serve accepts connections on ln until Shutdown or Close, then returns
// ErrServerClosed. A *tls.Conn from ln (tls.NewListener) is a connection with
// implicit TLS (RFC 8314 §3.3).
func (s *Server) Serve(ln net.Listener) error {
	if err := s.opts.check(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closing {
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
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			// As net/http does: back off on temporary errors (EMFILE...).
			if ne, ok := err.(interface{ Temporary() bool }); ok && ne.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed, retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.accept(nc)
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// accept registers nc and starts serving it, or turns it away.
func (s *Server) accept(nc net.Conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	ip := remoteIP(nc)
	if len(s.conns) >= s.opts.MaxConnections {
		s.mu.Unlock()
		s.log.Warn("connection refused: too many connections", "remote", nc.RemoteAddr().String(),
			"max", s.opts.MaxConnections)
		go s.turnAway(nc, "Too many connections")
		return
	}
	if s.connsFromLocked(ip) >= s.opts.MaxConnectionsPerIP {
		s.mu.Unlock()
		s.log.Warn("connection refused: too many connections from one address", "remote", nc.RemoteAddr().String(),
			"ip", ip.String(), "max", s.opts.MaxConnectionsPerIP)
		go s.turnAway(nc, "Too many connections from your address")
		return
	}
	s.nextID++
	c := newConn(s, nc, ip, s.nextID)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// connsFromLocked counts the open connections from ip; s.mu is held.
func (s *Server) connsFromLocked(ip netip.Addr) int {
	n := 0
	for c := range s.conns {
		if c.ip == ip {
			n++
		}
	}
	return n
}

// turnAway answers a connection over a limit and closes it.
// RFC 5321 §3.1: a server may open with 421 instead of 220 and close.
func (s *Server) turnAway(nc net.Conn, why string) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(busyReplyTimeout))
	fmt.Fprintf(nc, "421 4.7.0 %s %s, try again later\r\n", s.opts.Hostname, why)
}

// Shutdown stops accepting connections, closes idle ones, lets a message
// being received finish (its reply is written, then the connection closes),
// and waits for all connections to end. If ctx ends first, a message still
// being received is cut (nothing of it is stored), one received in full is
// let be stored and answered for up to finishTimeout more, then whatever
// remains is closed as by Close and ctx's error is returned. See drain.go.
func (s *Server) Shutdown(ctx context.Context) error {
	conns, lerr := s.stop()
	for _, c := range conns {
		c.drain()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return lerr
	case <-ctx.Done():
	}
	s.each((*conn).abort)
	t := time.NewTimer(finishTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.each((*conn).forceClose)
	}
	return ctx.Err()
}

// Close closes the listeners and every connection at once. A message being
// received is abandoned and nothing of it is stored; one whose end was
// already received may be stored without its reply reaching the client
// (Shutdown avoids that). It does not wait for the connections' goroutines
// to end.
func (s *Server) Close() error {
	conns, lerr := s.stop()
	for _, c := range conns {
		c.forceClose()
	}
	return lerr
}

// each calls f for every open connection, without holding s.mu.
func (s *Server) each(f func(*conn)) {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		f(c)
	}
}

// stop marks the server closing, closes its listeners and returns the
// connections open at that moment. No connection is added afterwards.
func (s *Server) stop() ([]*conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	var lerr error
	for ln := range s.listeners {
		if err := ln.Close(); err != nil && lerr == nil && !errors.Is(err, net.ErrClosed) {
			lerr = err
		}
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns, lerr
}

// busyConns counts connections inside Data (for tests).
func (s *Server) busyConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		c.mu.Lock()
		if c.receiving+c.storing > 0 {
			n++
		}
		c.mu.Unlock()
	}
	return n
}
