package pop3d

import (
	"net"
	"strings"
	"testing"
)

func capa(c *client) []string {
	c.t.Helper()
	c.cmd("CAPA", "+OK capability list follows")
	return c.lines()
}

func TestCapa(t *testing.T) {
	t.Parallel()
	common := "RESP-CODES|AUTH-RESP-CODE|PIPELINING|EXPIRE NEVER|IMPLEMENTATION mailsuite"
	t.Run("plaintext allowed, no TLS config", func(t *testing.T) {
		e := newEnv(t, nil)
		c := e.dial()
		if got := strings.Join(capa(c), "|"); got != "TOP|UIDL|USER|SASL PLAIN|"+common {
			t.Errorf("CAPA %s", got)
		}
		c.login()
		if got := strings.Join(capa(c), "|"); got != "TOP|UIDL|"+common {
			t.Errorf("CAPA after login %s", got)
		}
	})
	t.Run("STLS offered, plaintext refused", func(t *testing.T) {
		e := newEnv(t, func(o *Options) {
			o.TLSConfig = selfSigned(t)
			o.AllowPlaintext = false
		})
		c := e.dial()
		if got := strings.Join(capa(c), "|"); got != "TOP|UIDL|STLS|"+common {
			t.Errorf("CAPA before TLS %s", got)
		}
		c.startTLS()
		if got := strings.Join(capa(c), "|"); got != "TOP|UIDL|USER|SASL PLAIN|"+common {
			t.Errorf("CAPA after STLS %s", got)
		}
	})
	t.Run("CAPA takes no argument", func(t *testing.T) {
		e := newEnv(t, nil)
		c := e.dial()
		c.cmd("CAPA X", "-ERR CAPA takes no arguments")
	})
}

func TestSTLSThenLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) {
		o.TLSConfig = selfSigned(t)
		o.AllowPlaintext = false
	})
	e.deliver(threeMessages...)
	c := e.dial()
	refused := "-ERR [AUTH] plaintext authentication not allowed without TLS"
	c.cmd("USER "+testUser, refused)
	c.cmd("PASS "+testPassword, refused)
	c.cmd("AUTH PLAIN "+plain("", testUser, testPassword), refused)
	c.cmd("AUTH PLAIN", refused)
	c.send("AUTH")
	c.expect("+OK")
	if l := c.lines(); len(l) != 0 {
		t.Errorf("mechanisms offered without TLS: %q", l)
	}
	c.startTLS()
	c.cmd("STLS", "-ERR already using TLS")
	c.cmd("AUTH PLAIN "+plain("", testUser, testPassword), e.maildropLine())
	c.cmd("STLS", "-ERR STLS only before login")
	c.cmd("QUIT", "+OK "+testHost+" POP3 server signing off (0 messages deleted)")
	e.waitSessionsEnded(1)
	if l := e.logs.find("pop3 login"); l[0]["tls"] != true {
		t.Errorf("login log %v", l[0])
	}
}

func TestSTLSNotConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial()
	c.cmd("STLS", "-ERR STLS not available")
	c.cmd("STLS now", "-ERR STLS takes no arguments")
	c.login()
}

// RFC 2595 §4 and the STARTTLS injection class: commands sent in the
// clear in the same packet as STLS must not run after the handshake.
func TestSTLSDiscardsPipelinedInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) {
		o.TLSConfig = selfSigned(t)
		o.AllowPlaintext = false
	})
	c := e.dial()
	// One write: STLS and an injected login.
	if _, err := c.conn.Write([]byte("STLS\r\nUSER " + testUser + "\r\nPASS " + testPassword + "\r\n")); err != nil {
		t.Fatal(err)
	}
	c.expect("+OK begin TLS negotiation")
	c.startTLSAfterOK()
	// If the injected lines ran, the first answer would be theirs.
	c.cmd("STAT", "-ERR not logged in")
	c.cmd("PASS "+testPassword, "-ERR send USER first")
	if len(e.logs.find("pop3 discarding input pipelined before TLS")) != 1 {
		t.Errorf("no discard logged:\n%s", e.logs.String())
	}
	if len(e.logs.find("pop3 login")) != 0 {
		t.Errorf("an injected login ran")
	}
}

// A failed handshake ends the session.
func TestSTLSHandshakeFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.TLSConfig = selfSigned(t) })
	c := e.dial()
	c.cmd("STLS", "+OK begin TLS negotiation")
	c.conn.Write([]byte("this is not a TLS ClientHello\r\n"))
	c.expectClosed()
	e.waitSessionsEnded(1)
	if end := e.logs.find("pop3 session end"); end[0]["reason"] != "TLS handshake failed" {
		t.Errorf("session end %v", end[0])
	}
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	e := newImplicitTLSEnv(t, func(o *Options) { o.AllowPlaintext = false })
	e.deliver(threeMessages...)
	c := e.dial()
	if got := strings.Join(capa(c), "|"); strings.Contains(got, "STLS") || !strings.Contains(got, "USER|SASL PLAIN") {
		t.Errorf("CAPA on implicit TLS: %s", got)
	}
	c.cmd("STLS", "-ERR already using TLS")
	c.login()
}

// AllowPlaintext is for loopback only: a remote client still gets refused.
// The remote address is faked over an in-memory pipe.
func TestPlaintextOnlyFromLoopback(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		remote  string
		allowed bool
	}{
		{"127.0.0.1:4000", true},
		{"[::1]:4000", true},
		{"[::ffff:127.0.0.1]:4000", true},
		{"192.0.2.7:4000", false},
		{"[2001:db8::1]:4000", false},
	} {
		t.Run(tt.remote, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.AllowPlaintext = true })
			srvSide, cliSide := net.Pipe()
			addr, err := net.ResolveTCPAddr("tcp", tt.remote)
			if err != nil {
				t.Fatal(err)
			}
			tc := &trackedConn{raw: remoteConn{srvSide, addr}}
			done := make(chan struct{})
			go func() {
				defer close(done)
				e.srv.serveConn(tc.raw, tc)
			}()
			c := newClient(t, cliSide)
			c.expect("+OK " + testHost + " POP3 server ready")
			if tt.allowed {
				c.login()
			} else {
				c.cmd("USER "+testUser, "-ERR [AUTH] plaintext authentication not allowed without TLS")
				c.cmd("AUTH PLAIN "+plain("", testUser, testPassword), "-ERR [AUTH] plaintext authentication not allowed without TLS")
			}
			c.cmd("QUIT", "+OK "+testHost+" POP3 server signing off"+map[bool]string{true: " (0 messages deleted)"}[tt.allowed])
			cliSide.Close()
			<-done
		})
	}
}

type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.remote }
