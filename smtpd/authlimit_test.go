package smtpd

import (
	"testing"
)

// The last failed AUTH allowed is answered 421 before the connection
// closes (RFC 5321 §3.8), on every way in, with the listener wrapping its
// connections as in production.
func TestAuthFailureLimitIsAnswered(t *testing.T) {
	for _, tc := range []struct {
		name string
		dial func(e *env, r *running) *raw
	}{
		{"STARTTLS", func(e *env, r *running) *raw {
			c := dialRaw(e.t.(*testing.T), r.addr, nil)
			c.cmd("EHLO client.example")
			c.startTLS(e.clientTLS)
			return c
		}},
		{"implicit TLS", func(e *env, r *running) *raw {
			return dialRaw(e.t.(*testing.T), r.addr, e.clientTLS)
		}},
		{"plaintext on loopback", func(e *env, r *running) *raw {
			return dialRaw(e.t.(*testing.T), r.addr, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			opts := e.options(Submission)
			opts.MaxAuthFailures = 2
			opts.AllowPlaintext = true
			r := e.startWrapped(opts, tc.name == "implicit TLS")
			c := tc.dial(e, r)
			c.cmd("EHLO client.example")
			c.expect("AUTH PLAIN "+b64("\x00alice@example.org\x00bad1"), "535 5.7.8 Authentication credentials invalid")
			c.expect("AUTH LOGIN "+b64("alice@example.org"), "334 "+b64("Password:"))
			c.expect(b64("bad2"), "421 4.7.0 Too many failed authentication attempts, closing connection")
			c.wantClosed()
			e.wantLog(`msg="auth failed"`, "failures=2")
		})
	}
}
