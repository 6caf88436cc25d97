package smtpd

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/mailbox"
)

// RFC 5321 §4.5.3.2.5: the timeout is per read of message data, not per
// message. A client that sends a few octets at a time, never idle for the
// timeout but slower in total than three of them, is not cut off.
func TestDataShortLinesSlowerThanTimeout(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t)
			opts := e.options(Inbound)
			opts.ReadTimeout = 500 * time.Millisecond
			r := e.start(opts, m.implicit)
			c := e.dialMode(r, m.implicit)
			startMessage(t, r, c, "Subject: trickle")
			c.send("")
			var want strings.Builder
			want.WriteString("Subject: trickle\r\n\r\n")
			for i := range 15 { // 1.5 s
				time.Sleep(100 * time.Millisecond)
				line := string(rune('a'+i)) + "z"
				c.send(line)
				want.WriteString(line + "\r\n")
			}
			id := queueID(t, strings.TrimPrefix(c.cmd("."), "250 "))
			got := e.inbox("alice@example.org")
			if len(got) != 1 {
				t.Fatalf("alice has %d messages", len(got))
			}
			proto := "ESMTP"
			if m.implicit {
				proto = "ESMTPS" // RFC 3848
			}
			if body := wantTrace(t, got[0].data, "<sender@remote.example>", fromClient, proto, id, "alice@example.org"); body != want.String() {
				t.Errorf("body %q, want %q", body, want.String())
			}
		})
	}
}

// A client that stops sending in the middle of the message is cut after
// the timeout, told so, and the connection is closed: it must not go on
// with the rest of the message read as commands. Nothing is stored.
func TestDataStallIsCut(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t)
			opts := e.options(Inbound)
			opts.ReadTimeout = 200 * time.Millisecond
			r := e.start(opts, m.implicit)
			c := e.dialMode(r, m.implicit)
			startMessage(t, r, c, "Subject: stalled\r\n\r\npart of it")
			if got := c.read(); got != "421 4.4.2 Timeout waiting for message data, closing connection" {
				t.Errorf("after the stall: %q", got)
			}
			c.wantClosed()
			waitFor(t, "the cut delivery to end", func() bool { return r.srv.busyConns() == 0 })
			e.wantNoMail()
			e.wantLog(`msg="message not accepted"`, "code=421", "reason=")
		})
	}
}

// refusingStore fails every delivery at once, without reading the message.
type refusingStore struct{ mailbox.Store }

func (refusingStore) Deliver(context.Context, []string, io.Reader) error { return mailbox.ErrNoSpace }

// A message refused before its end is still read to its end with a
// deadline per read: a client sending the rest at a steady pace, slower in
// total than the timeout, gets the refusal at the end of its data, and the
// connection stays in step.
func TestRefusedMessageRestReadPerRead(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.ReadTimeout = 500 * time.Millisecond
	opts.Store = refusingStore{e.store}
	r := e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	openData(t, c, "alice@example.org")
	c.send("Subject: refused")
	c.send("")
	for i := range 15 { // 1.5 s
		time.Sleep(100 * time.Millisecond)
		c.send("MAIL FROM:<line" + itoa(i) + "@example.net>")
	}
	c.expect(".", "452 4.3.1 Insufficient system storage")
	c.expect("NOOP", "250 2.0.0 I have successfully done nothing")
	e.wantNoMail()
}

// A BDAT chunk cut by the read timeout is answered, and the connection
// closed: the rest of the chunk, arriving late, is never read as commands
// (go-smtp alone would run them). Nothing is stored.
func TestBDATStallIsCut(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t)
			opts := e.options(Inbound)
			opts.ReadTimeout = 200 * time.Millisecond
			r := e.start(opts, m.implicit)
			c := e.dialMode(r, m.implicit)
			c.cmd("EHLO client.example")
			bdatTo(c, "a@x.net", "alice@example.org")
			rest := "\r\nMAIL FROM:<x@evil.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: injected\r\n\r\nx\r\n.\r\n"
			head := "Subject: stalled\r\n\r\npart"
			c.nc.Write([]byte("BDAT " + itoa(len(head)+len(rest)) + " LAST\r\n" + head))
			if got := c.read(); !strings.HasPrefix(got, "554 ") {
				t.Errorf("after the stall: %q", got)
			}
			c.nc.Write([]byte(rest)) // may fail: the server is closing
			// go-smtp may say 421 before it closes; nothing else.
			c.nc.SetReadDeadline(time.Now().Add(testTimeout))
			for {
				line, err := c.tp.ReadLine()
				if err != nil {
					break
				}
				if line != "421 4.4.0 Connection error, sorry" {
					t.Errorf("after the cut chunk: %q", line)
				}
			}
			waitFor(t, "the connection to end", func() bool { return r.srv.busyConns() == 0 })
			e.wantNoMail()
			e.wantLog("BDAT chunk cut by the read timeout")
		})
	}
}
