package smtpd

import (
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// wrappingListener hands out its connections inside a struct that embeds
// net.Conn, as cmd/mailsuite's connection limiter (internal/connlimit)
// does: only net.Conn's methods show through, so a *net.TCPConn's
// CloseRead is out of reach. Tests that use it run the server as it runs
// in production.
type wrappingListener struct{ net.Listener }

type wrappedConn struct{ net.Conn }

func (l wrappingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{nc}, nil
}

// startWrapped is start with a wrappingListener (under the TLS listener
// when implicit).
func (e *env) startWrapped(opts Options, implicit bool) *running {
	e.t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	var ln net.Listener = wrappingListener{raw}
	if implicit {
		ln = tls.NewListener(ln, e.serverTLS)
	}
	r := &running{srv: New(opts), addr: raw.Addr().String(), errc: make(chan error, 1)}
	go func() { r.errc <- r.srv.Serve(ln) }()
	e.t.Cleanup(func() {
		r.srv.Close()
		select {
		case err := <-r.errc:
			if !errors.Is(err, ErrServerClosed) {
				e.t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(testTimeout):
			e.t.Error("Serve did not return after Close")
		}
	})
	return r
}
