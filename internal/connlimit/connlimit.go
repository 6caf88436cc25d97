// Package connlimit caps the connections that all listeners together hold:
// in total and per client IP address. A connection over a cap is answered
// with the protocol's "busy" line (when the listener is not TLS from the
// first byte) and closed before any protocol server sees it.
//
// It knows no protocol beyond the one greeting line it is given.
package connlimit

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Limiter counts open connections shared by several listeners.
type Limiter struct {
	max, perIP int
	log        *slog.Logger

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
}

// New returns a limiter; a cap of 0 or less means no cap.
func New(max, perIP int, log *slog.Logger) *Limiter {
	return &Limiter{max: max, perIP: perIP, log: log, byIP: map[netip.Addr]int{}}
}

// Wrap returns a listener whose Accept turns away connections over the caps.
// busy is written to a turned-away client before closing ("" writes nothing,
// as for implicit TLS, where plain text would only confuse the client).
func (l *Limiter) Wrap(ln net.Listener, service, busy string) net.Listener {
	return &listener{Listener: ln, l: l, service: service, busy: busy}
}

func (l *Limiter) acquire(ip netip.Addr) (ok bool, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return false, "max_connections"
	}
	if l.perIP > 0 && l.byIP[ip] >= l.perIP {
		return false, "max_connections_per_ip"
	}
	l.total++
	l.byIP[ip]++
	return true, ""
}

func (l *Limiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// Open returns the number of connections now held.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

type listener struct {
	net.Listener
	l       *Limiter
	service string
	busy    string
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if ok, why := ln.l.acquire(ip); !ok {
			ln.l.log.Warn("connection refused", "proto", ln.service, "remote", c.RemoteAddr().String(), "limit", why)
			go ln.turnAway(c)
			continue
		}
		return &conn{Conn: c, release: func() { ln.l.release(ip) }}, nil
	}
}

func (ln *listener) turnAway(c net.Conn) {
	if ln.busy != "" {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(ln.busy + "\r\n"))
	}
	c.Close()
}

func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
