package smtpd

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/mailsuite/mailsuite/smtpd/queue"
)

// A BDAT chunk cut off by the end of the connection is not a message
// (RFC 3030 §2: a chunk is exactly the announced number of octets): nothing
// of it is stored or queued, and nothing is logged as delivered.

// fragment is what the client sends of a chunk before it goes away.
const fragment = "Subject: cut\r\n\r\nonly part of the body"

// waitConnsGone waits until the server has finished with every connection,
// Data calls included.
func waitConnsGone(t *testing.T, r *running) {
	t.Helper()
	waitFor(t, "the connection to end", func() bool {
		return countConns(r.srv, func(*conn) bool { return true }) == 0
	})
}

// bdatTo opens a transaction for rcpts on c (EHLO done by the caller).
func bdatTo(c *raw, from string, rcpts ...string) {
	c.t.Helper()
	c.expectPrefix("MAIL FROM:<"+from+">", "250 ")
	for _, rc := range rcpts {
		c.expectPrefix("RCPT TO:<"+rc+">", "250 ")
	}
}

func TestBDATCutOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(c *raw)
	}{
		// The last chunk announces 1000 octets; fewer arrive.
		{"in the LAST chunk", func(c *raw) {
			c.nc.Write([]byte("BDAT 1000 LAST\r\n" + fragment))
		}},
		// The same in a chunk that is not the last one.
		{"in a middle chunk", func(c *raw) {
			c.nc.Write([]byte("BDAT 1000\r\n" + fragment))
		}},
		// A whole chunk, then nothing: the message never got its LAST.
		{"between chunks", func(c *raw) {
			c.nc.Write([]byte("BDAT 10\r\n" + fragment[:10]))
			if got := c.read(); got != "250 2.0.0 Continue" {
				c.t.Errorf("first chunk: %s", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.start(e.options(Inbound), false)
			c := dialRaw(t, r.addr, nil)
			c.cmd("EHLO client.example")
			bdatTo(c, "a@x.net", "alice@example.org")
			tc.send(c)
			c.nc.Close()
			waitConnsGone(t, r)
			e.wantNoMail()
			if strings.Contains(e.logs.String(), "msg=delivered") {
				t.Errorf("a delivery was logged:\n%s", e.logs.String())
			}
		})
	}
}

// Under STARTTLS, a client whose TCP connection ends in the middle of the
// last chunk (no TLS close_notify, as when the client dies).
func TestBDATCutOffStartTLS(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dialRaw(t, r.addr, nil)
	c.cmd("EHLO client.example")
	tcp := c.nc
	c.startTLS(e.clientTLS)
	c.cmd("EHLO client.example")
	bdatTo(c, "a@x.net", "alice@example.org")
	c.nc.Write([]byte("BDAT 1000 LAST\r\n" + fragment))
	tcp.Close()
	waitConnsGone(t, r)
	e.wantNoMail()
}

// Under implicit TLS (submissions, port 465), a client whose TCP
// connection ends in the middle of the last chunk, with and without a TLS
// close_notify first.
func TestBDATCutOffImplicitTLS(t *testing.T) {
	for _, notify := range []bool{false, true} {
		t.Run(fmt.Sprintf("close_notify=%v", notify), func(t *testing.T) {
			e := newEnv(t)
			opts := e.options(Submission)
			qdir := e.withQueue(&opts)
			r := e.start(opts, true)
			c := dialRaw(t, r.addr, e.clientTLS)
			c.cmd("EHLO client.example")
			c.expect("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00"+alicePass)),
				"235 2.0.0 Authentication succeeded")
			bdatTo(c, "alice@example.org", "bob@example.org", "friend@elsewhere.example")
			c.nc.Write([]byte("BDAT 1000 LAST\r\nFrom: alice@example.org\r\n" + fragment))
			if notify {
				c.nc.Close() // close_notify, then the TCP close
			} else {
				c.nc.(*tls.Conn).NetConn().Close()
			}
			waitConnsGone(t, r)
			e.wantNoMail()
			if recs, err := queue.List(qdir); err != nil || len(recs) != 0 {
				t.Errorf("queued %d messages (%v), want none", len(recs), err)
			}
		})
	}
}

// A whole BDAT message from a client that closes its side at once after
// LAST, under implicit TLS, and a DATA message followed by QUIT and a close
// before the answers are read: a whole message is delivered either way
// when the client is still there or DATA's final dot proves it whole.
func TestDataWholeThenClose(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dialRaw(t, r.addr, nil)
	c.cmd("EHLO client.example")
	c.expectPrefix("MAIL FROM:<a@x.net>", "250 ")
	c.expectPrefix("RCPT TO:<alice@example.org>", "250 ")
	c.expectPrefix("DATA", "354 ")
	c.nc.Write([]byte(fragment + "\r\n.\r\nQUIT\r\n"))
	c.nc.Close()
	waitConnsGone(t, r)
	waitFor(t, "the message to be delivered", func() bool { return strings.Contains(e.logs.String(), "msg=delivered") })
}

// On submission the cut-off message reaches neither the local recipient
// nor the outbound queue (where it would be signed and sent).
func TestBDATCutOffSubmission(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	opts.AllowPlaintext = true
	qdir := e.withQueue(&opts)
	r := e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	c.cmd("EHLO client.example")
	c.expect("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00"+alicePass)),
		"235 2.0.0 Authentication succeeded")
	bdatTo(c, "alice@example.org", "bob@example.org", "friend@elsewhere.example")
	c.nc.Write([]byte("BDAT 1000 LAST\r\nFrom: alice@example.org\r\n" + fragment))
	c.nc.Close()
	waitConnsGone(t, r)
	e.wantNoMail()
	if recs, err := queue.List(qdir); err != nil || len(recs) != 0 {
		t.Errorf("queued %d messages (%v), want none", len(recs), err)
	}
}

// A chunk that arrives whole in several reads is delivered.
func TestBDATWholeAfterSlowChunk(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dialRaw(t, r.addr, nil)
	c.cmd("EHLO client.example")
	bdatTo(c, "a@x.net", "alice@example.org")
	whole := fragment + "\r\n"
	c.nc.Write([]byte("BDAT " + itoa(len(whole)) + " LAST\r\n" + whole[:5]))
	waitFor(t, "the chunk to start", func() bool { return r.srv.busyConns() == 1 })
	c.nc.Write([]byte(whole[5:]))
	if got := c.read(); !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
		t.Fatalf("reply %q", got)
	}
	if got := e.inbox("alice@example.org"); len(got) != 1 || !strings.HasSuffix(got[0].data, "\r\n"+whole) {
		t.Errorf("alice has %d messages: %+v", len(got), got)
	}
}
